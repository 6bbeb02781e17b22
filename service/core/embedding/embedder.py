"""Text embedding: the interface and its sentence-transformers implementation."""

from __future__ import annotations

import hashlib
import json
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Sequence

import numpy as np
from numpy.typing import NDArray

from service.core.cancellation import StopCheck, never, stop_if_asked
from service.core.config import BUNDLED_MODEL, ModelConfig
from service.core.embedding.length_batches import embed_by_length
from service.core.errors import ModelError

Vectors = NDArray[np.float32]

# e5 models were trained with role prefixes. Near-duplicate and translation
# matching is symmetric (post and reference are the same kind of text), and
# e5's authors recommend "query: " on both sides for symmetric tasks.
E5_SYMMETRIC_PREFIX = "query: "


def text_prefix_for(config: ModelConfig) -> str:
    """The one place that decides which prefix a model's inputs get."""
    if config.text_prefix is not None:
        return config.text_prefix
    name = config.name.lower()
    return E5_SYMMETRIC_PREFIX if (name == BUNDLED_MODEL or "e5" in name) else ""


class Embedder(ABC):
    """Maps texts to L2-normalised float32 vectors; cosine is then a dot product."""

    #: Identifies the exact weights; vectors from different ids never mix.
    model_id: str
    dim: int

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> Vectors:
        """Return an (n, dim) float32 array of unit vectors."""

    def embed_until(self, texts: Sequence[str], stop: StopCheck) -> Vectors:
        """:meth:`embed`, stopping at a batch boundary (Cancelled) once ``stop()`` is true.

        This default checks once, before embedding; the model-backed and batching
        embedders check between batches.
        """
        stop_if_asked(stop, "embedding")
        return self.embed(texts)

    def close(self) -> None:
        """Release worker threads or devices (nothing by default)."""


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, config: ModelConfig, cache_root: Path) -> None:
        import torch  # deferred: importing torch costs seconds
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # The weight-loading bar is noise in service logs and CLI output.
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

        if config.threads:
            torch.set_num_threads(config.threads)
        model_dir = resolve_model_dir(config, cache_root)
        try:
            self._model = SentenceTransformer(str(model_dir), device="cpu")
        except Exception as exc:  # the library raises many unrelated types
            raise ModelError(f"cannot load model {config.name!r} from {model_dir}: {exc}") from exc
        self._model.max_seq_length = config.max_seq_length
        self._max_seq_length = config.max_seq_length
        self._prefix = text_prefix_for(config)
        self._batch_size = config.batch_size
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ModelError(f"model {config.name!r} does not declare its embedding dimension")
        self.dim = int(dim)
        self.model_id = model_id_for(config, model_dir)
        # torch runs one forward pass at a time well on few cores; serialising
        # calls keeps gRPC worker threads from oversubscribing them.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.embed_until(texts, never)

    def embed_until(self, texts: Sequence[str], stop: StopCheck) -> Vectors:
        prefixed = [self._prefix + t for t in texts]

        def encode(piece: list[int]) -> Vectors:
            # Exactly one batch per call, so sentence-transformers' own
            # (character-length) ordering cannot mix lengths across batches.
            with self._lock:
                return self._encode([prefixed[i] for i in piece])

        return embed_by_length(self._token_lengths(prefixed), self._batch_size, self.dim, stop, encode)

    def _token_lengths(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self._model.tokenizer(list(texts), add_special_tokens=True, truncation=True, max_length=self._max_seq_length)
        return [len(ids) for ids in encoded["input_ids"]]

    def _encode(self, texts: Sequence[str]) -> Vectors:
        out = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(out, dtype=np.float32)


def resolve_model_dir(config: ModelConfig, cache_root: Path) -> Path:
    """Where the weights are: the provisioned bundled model, a path, or a hub name."""
    if config.name == BUNDLED_MODEL:
        from service.core.embedding.bundled.provision import provision_bundled_model

        return provision_bundled_model(cache_root, adapter=config.adapter_dir)
    path = Path(config.name).expanduser()
    if path.exists():
        return path
    # A hub name: sentence-transformers resolves it where a hub is reachable.
    # HF_HUB_OFFLINE is set by default (service/__init__.py), so on an offline
    # machine this fails fast with the library's own message.
    return Path(config.name)


def model_id_for(config: ModelConfig, model_dir: Path) -> str:
    """Names the vectors a model makes: calibrations and stored vectors are refused under another id."""
    name = config.adapter_name
    adapted = "" if name is None else f"+adapter.{Path(name).name}"
    return f"{config.name}{adapted}@{model_checksum(model_dir)}"


def model_checksum(model_dir: Path) -> str:
    """A short, stable digest of the weights, used to refuse mixing vectors."""
    provenance = model_dir / "nigran_model.json"
    if provenance.exists():
        data = json.loads(provenance.read_text(encoding="utf-8"))
        digest = data.get("sha256") or data.get("source_sha256")
        if isinstance(digest, str):
            return digest[:16]
    h = hashlib.sha256()
    weights = sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin"))
    if not weights:
        return "unknown"
    for path in weights:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]
