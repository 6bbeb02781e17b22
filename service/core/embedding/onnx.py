"""The onnxruntime int8 encoder backend (``model.backend = "onnx-int8"``).

It computes what SentenceTransformerEmbedder computes for the bundled model
(the same tokenizer, prefix and truncation; XLM-R; mean pooling over the
attention mask; L2 normalisation), with the encoder's weights in int8
(bundled/onnx_export.py) and no torch at run time. The vectors are close to
fp32's but not equal, so the model id carries the backend and the recipe:
stored vectors, index artifacts and calibrations of the two never mix.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from numpy.typing import NDArray

from service.core.cancellation import StopCheck, never
from service.core.config import ModelConfig
from service.core.embedding.bundled.onnx_export import INPUTS, ONNX_FILE, OUTPUT, TOKENIZER_FILE, provision_onnx_int8, recipe_digest
from service.core.embedding.embedder import Embedder, Vectors, model_id_for, resolve_model_dir, text_prefix_for
from service.core.embedding.length_batches import embed_by_length
from service.core.errors import ModelError

Ids = NDArray[np.int64]


class OnnxEmbedder(Embedder):
    def __init__(self, config: ModelConfig, cache_root: Path) -> None:
        import onnxruntime as ort  # deferred: only this backend needs it
        from tokenizers import Tokenizer

        model_dir = resolve_model_dir(config, cache_root)
        onnx_dir = provision_onnx_int8(cache_root, adapter=config.adapter_dir)
        model_config = _read_json(model_dir / "config.json")
        try:
            tokenizer = Tokenizer.from_file(str(onnx_dir / TOKENIZER_FILE))
            tokenizer.no_padding()
            # Counts special tokens, as sentence-transformers' max_seq_length does.
            tokenizer.enable_truncation(config.max_seq_length)
            options = ort.SessionOptions()
            options.intra_op_num_threads = config.threads or available_cores()
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            # Spinning intra-op threads fight the gRPC and tokenizer threads for
            # 2 cores, as torch's OpenMP threads did (service/__init__.py).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3
            session = ort.InferenceSession(str(onnx_dir / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime and tokenizers raise their own untyped errors
            raise ModelError(f"cannot load the int8 ONNX model from {onnx_dir}: {exc}") from exc
        self._tokenizer = tokenizer
        self._session: Any = session
        self._prefix = text_prefix_for(config)
        self._batch_size = config.batch_size
        # XLM-R derives position ids from input_ids, so padding must be the real pad id.
        self._pad_id = int(model_config.get("pad_token_id", 1))
        self.dim = int(model_config["hidden_size"])
        self.model_id = f"{model_id_for(config, model_dir)}+onnx-int8.{recipe_digest()[:8]}"
        # One forward pass at a time uses the cores best; concurrent runs would oversubscribe them.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.embed_until(texts, never)

    def embed_until(self, texts: Sequence[str], stop: StopCheck) -> Vectors:
        ids = [e.ids for e in self._tokenizer.encode_batch([self._prefix + t for t in texts])] if texts else []

        def encode(piece: list[int]) -> Vectors:
            batch, mask = pad_batch([ids[i] for i in piece], self._pad_id)
            with self._lock:
                hidden = self._session.run([OUTPUT], dict(zip(INPUTS, (batch, mask))))[0]
            return mean_pool(np.asarray(hidden, dtype=np.float32), mask)

        return embed_by_length([len(i) for i in ids], self._batch_size, self.dim, stop, encode)


def pad_batch(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[Ids, Ids]:
    """Token ids padded to the longest, and the attention mask (1 on real tokens)."""
    longest = max((len(row) for row in ids), default=0)
    batch = np.full((len(ids), longest), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), longest), dtype=np.int64)
    for row, tokens in enumerate(ids):
        batch[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    return batch, mask


def mean_pool(hidden: NDArray[np.float32], mask: Ids) -> Vectors:
    """Unit vectors: the mean of each text's token states over its real tokens, L2-normalised.

    The floors are sentence-transformers' own (Pooling's 1e-9 on the count,
    Normalize's 1e-12 on the norm), so an all-padding row gives zeros, not NaN.
    """
    weights = mask[..., None].astype(np.float32)
    means = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    return np.ascontiguousarray(means / np.maximum(norms, 1e-12), dtype=np.float32)


def available_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or "hidden_size" not in data:
        raise ModelError(f"{path} is not a transformer config (no hidden_size)")
    return data
