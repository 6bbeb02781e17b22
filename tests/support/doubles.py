"""TEST DOUBLES ONLY. Never used by the service.

``HashingEmbedder`` stands in for the real model in tests about something
other than embedding (store, index bookkeeping, curation semantics, the
gRPC layer), where loading the real model would only add minutes. Every test
about matching quality or the model itself uses the real bundled model.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Sequence

import numpy as np

from service.core import Embedder
from service.core.index.base import Vectors


class HashingEmbedder(Embedder):
    """Character-trigram feature hashing: similar strings get similar vectors."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.model_id = f"test-double-hashing-{dim}"
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.lower()}  "
            for i in range(len(padded) - 2):
                h = int.from_bytes(hashlib.blake2b(padded[i : i + 3].encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            norm = np.linalg.norm(out[row])
            if norm > 0:
                out[row] /= norm
        return out


class FailingEmbedder(HashingEmbedder):
    """Raises on the n-th call, like a process killed mid-run; counts texts embedded."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        super().__init__()
        self.fail_on_call = fail_on_call
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        if self.fail_on_call is not None and self.calls + 1 == self.fail_on_call:
            raise KeyboardInterrupt("simulated interrupt")
        self.texts += len(texts)
        return super().embed(texts)


class GatedEmbedder(Embedder):
    """Wraps the hashing double, recording batch sizes and holding each call until the gate opens (or 5 s)."""

    def __init__(self) -> None:
        self.inner = HashingEmbedder()
        self.dim = self.inner.dim
        self.model_id = self.inner.model_id
        self.batches: list[int] = []
        self.gate = threading.Event()

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.batches.append(len(texts))
        self.gate.wait(timeout=5)
        return self.inner.embed(texts)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
