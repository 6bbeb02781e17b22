"""Low-rank (LoRA) adapters for the bundled model: trained by ``make adapt``, merged at provisioning.

An adapter is two files: ``adapter.safetensors`` (per adapted linear layer,
``<weight name>.lora_a`` [rank, in] and ``.lora_b`` [out, rank], float16) and
``adapter.json`` (its settings, among them ``scale``). Merging adds
``scale * lora_b @ lora_a`` to each weight once, so the adapted model is an
ordinary model directory: the same encoder, the same speed, the same ONNX
export, and a different checksum, hence a different model id and its own
calibration.

Training lives in ``evaluation/adapt.py`` (it needs torch and the corpora);
merging needs numpy only, like the rest of provisioning.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from service.core.config import ADAPTER_META_FILE as ADAPTER_META
from service.core.errors import ModelProvisionError

ADAPTER_WEIGHTS: Final = "adapter.safetensors"
_A: Final = ".lora_a"
_B: Final = ".lora_b"


def adapter_digest(adapter_dir: Path) -> str:
    """What names an adapter: the digest of both its files."""
    h = hashlib.sha256()
    for name in (ADAPTER_META, ADAPTER_WEIGHTS):
        try:
            h.update((adapter_dir / name).read_bytes())
        except OSError as exc:
            raise ModelProvisionError(f"adapter {adapter_dir} is incomplete: {exc}") from exc
    return h.hexdigest()


def merge_adapter(state: dict[str, npt.NDArray[np.float32]], adapter_dir: Path) -> dict[str, npt.NDArray[np.float32]]:
    """``state`` with the adapter's low-rank updates added to its weights (a new dict; ``state`` is untouched)."""
    from safetensors.numpy import load_file

    try:
        meta = json.loads((adapter_dir / ADAPTER_META).read_text(encoding="utf-8"))
        pieces = load_file(str(adapter_dir / ADAPTER_WEIGHTS))
        scale = float(meta["scale"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelProvisionError(f"cannot read adapter {adapter_dir}: {exc}") from exc
    merged = dict(state)
    names = sorted(k[: -len(_A)] for k in pieces if k.endswith(_A))
    if not names:
        raise ModelProvisionError(f"adapter {adapter_dir} holds no low-rank updates")
    for name in names:
        weight = state.get(name)
        a = pieces[name + _A].astype(np.float32)
        b = pieces.get(name + _B)
        if weight is None or b is None or b.shape[0] != weight.shape[0] or a.shape[1] != weight.shape[1]:
            raise ModelProvisionError(f"adapter {adapter_dir} does not fit the model at {name}")
        merged[name] = (weight + scale * (b.astype(np.float32) @ a)).astype(np.float32)
    return merged
