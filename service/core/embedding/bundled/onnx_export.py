"""The bundled model as an int8 ONNX graph for onnxruntime, exported and quantised once.

On these 2-core CPUs the encoder is Nigran's bottleneck, and onnxruntime's
int8 kernels run the bundled model about twice as fast as torch in fp32
(README, "The model"). This module derives that form from the
sentence-transformers directory provision.py builds: the XLM-R encoder is
exported to ONNX with torch (inputs ``input_ids`` and ``attention_mask``,
output ``last_hidden_state``, batch and length dynamic), then its weights are
quantised to int8 with ``onnxruntime.quantization.quantize_dynamic``. Pooling
and normalisation stay outside the graph (embedding/onnx.py), so the graph is
the plain encoder and the pooling is unit-tested without a model.

Per-channel scales are part of the recipe: with one scale per tensor the
vectors' cosine to fp32 fell to a mean of 0.989 (min 0.976) on 600 corpus
sentences, against 0.997 (min 0.993) per channel, at the same speed.

The build takes about 20 s and follows build_once.py: a lock, a staging
directory, a rename, and a provenance file written last. It is rebuilt when
the source model, the recipe or the layout changes.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import shutil
import warnings
from pathlib import Path
from typing import Any, Final

from service.core.embedding.bundled.build_once import build_once, command, read_provenance, write_json
from service.core.embedding.bundled.provision import provision_bundled_model
from service.core.errors import ModelProvisionError

ONNX_FILE: Final = "model.int8.onnx"
TOKENIZER_FILE: Final = "tokenizer.json"
PROVENANCE_FILE: Final = "nigran_model.json"
INPUTS: Final = ("input_ids", "attention_mask")
OUTPUT: Final = "last_hidden_state"
# Bump whenever the files written here change meaning (names, inputs, outputs).
_LAYOUT_VERSION: Final = 1
# What decides the int8 weights. Its digest is part of the backend's model id
# (onnx.py), so a change here gives new vectors a new id and the old
# calibration is refused rather than applied to them.
RECIPE: Final[dict[str, Any]] = {
    "exporter": "torch.onnx.export (TorchScript)",
    "opset": 17,
    "quantization": {"method": "quantize_dynamic", "weight_type": "QInt8", "per_channel": True, "reduce_range": False},
}


def recipe_digest() -> str:
    return hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode("utf-8")).hexdigest()


def provision_onnx_int8(cache_root: Path, *, force: bool = False, adapter: Path | None = None) -> Path:
    """Return a ready directory holding ``model.int8.onnx`` and ``tokenizer.json``; builds it on first use.

    It sits beside the sentence-transformers directory it is made from
    (``cache_root/models/<that name>-onnx-int8``), which is provisioned first.
    """
    model_dir = provision_bundled_model(cache_root, adapter=adapter)
    source = _source_of(model_dir)
    target = model_dir.with_name(f"{model_dir.name}-onnx-int8")
    return build_once(target, lambda: _is_ready(target, source), lambda staged: _write(model_dir, source, staged), force=force)


def _source_of(model_dir: Path) -> dict[str, Any]:
    meta = read_provenance(model_dir / PROVENANCE_FILE)
    source = meta.get("source") if meta is not None else None
    if not isinstance(source, dict) or not isinstance(source.get("sha256"), str):
        raise ModelProvisionError(f"{model_dir} has no provenance of its source weights; rebuild it with `make model`")
    adapter = meta.get("adapter") if meta is not None else None
    found = {"model_dir": model_dir.name, "sha256": source["sha256"]}
    # An adapted model's weights differ from the base's with the same source.
    return found if not isinstance(adapter, dict) else {**found, "adapter_sha256": adapter.get("sha256")}


def _is_ready(target: Path, source: dict[str, Any]) -> bool:
    meta = read_provenance(target / PROVENANCE_FILE)
    return (
        meta is not None
        and meta.get("layout_version") == _LAYOUT_VERSION
        and meta.get("recipe_sha256") == recipe_digest()
        and meta.get("source") == source
        and all((target / name).is_file() for name in (ONNX_FILE, TOKENIZER_FILE))
    )


def _write(model_dir: Path, source: dict[str, Any], staged: Path) -> None:
    fp32 = staged / "model.fp32.onnx"
    _export_fp32(model_dir, fp32)
    _quantise(fp32, staged / ONNX_FILE)
    # The fp32 graph is 470 MB and only the quantiser needed it.
    fp32.unlink()
    shutil.copyfile(model_dir / TOKENIZER_FILE, staged / TOKENIZER_FILE)
    # Written last: a directory that has it is complete.
    write_json(
        staged / PROVENANCE_FILE,
        {
            "source": source,
            "layout_version": _LAYOUT_VERSION,
            "recipe": RECIPE,
            "recipe_sha256": recipe_digest(),
            "inputs": list(INPUTS),
            "output": OUTPUT,
            "built_with": {name: importlib.metadata.version(name) for name in ("torch", "transformers", "onnx", "onnxruntime")},
        },
    )


def _export_fp32(model_dir: Path, path: Path) -> None:
    import torch  # deferred: only a build needs torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        encoder = AutoModel.from_pretrained(str(model_dir))
    except Exception as exc:  # the library raises many unrelated types
        raise ModelProvisionError(f"cannot load {model_dir} to export it: {exc}") from exc
    encoder.eval()

    class Encoder(torch.nn.Module):
        # Positional inputs and one tensor out: what the exporter names and makes dynamic.
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # type: ignore[no-any-return]

    # Two texts of different lengths, so the traced graph sees real padding.
    ids = torch.tensor([[0, 6, 2, 1], [0, 6, 7, 2]], dtype=torch.long)
    mask = (ids != 1).long()
    axes = {name: {0: "batch", 1: "length"} for name in (*INPUTS, OUTPUT)}
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter's deprecation and tracer warnings: the
        # graph is checked against torch in tests/model/test_onnx_backend.py.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Encoder(), (ids, mask), str(path), dynamo=False, input_names=list(INPUTS), output_names=[OUTPUT],
            dynamic_axes=axes, opset_version=RECIPE["opset"], do_constant_folding=True,
        )


def _quantise(fp32: Path, int8: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    settings = RECIPE["quantization"]
    # The quantiser advises pre-processing on the root logger at every call.
    # Fusing the graph first (onnxruntime's transformer optimiser) was tried
    # here: the same agreement, and slower (134 against 147 sentences/s).
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(fp32), str(int8), weight_type=getattr(QuantType, settings["weight_type"]),
            per_channel=settings["per_channel"], reduce_range=settings["reduce_range"],
        )
    finally:
        root.setLevel(level)


def main(argv: list[str] | None = None) -> None:
    """``python -m service.core.embedding.bundled.onnx_export DATA_DIR``: build the int8 ONNX model ahead of time."""
    command("Export the bundled model to ONNX and quantise it to int8, once.", lambda root, force, adapter: provision_onnx_int8(root, force=force, adapter=adapter), argv)


if __name__ == "__main__":
    main()
