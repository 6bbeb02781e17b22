"""TEST DOUBLES ONLY. Never used by the service.

``HashingEmbedder`` stands in for the real model in tests about something
other than embedding (store, index bookkeeping, curation semantics), where
loading the real model would only add minutes. Every test about matching
quality or the model itself uses the real bundled model.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from service.core.embedder import Embedder, Vectors


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
