"""The vector index interface: unit vectors searched by inner product (= cosine).

Ids are int64 and chosen by the caller (the store's dense ``vid``). Every
implementation removes for real, replaces on re-add, pads short results with
``(-inf, NO_ID)``, and lists its ids, which is what reconciling an index with
the store needs. :class:`BruteForceIndex` (``brute.py``) is the exact
reference the FAISS implementation is tested against.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.core.errors import InvalidInput

Ids = NDArray[np.int64]
Vectors = NDArray[np.float32]
Scores = NDArray[np.float32]

#: Padding id FAISS returns when fewer than k results exist.
NO_ID = -1


@dataclass(frozen=True)
class Hit:
    """One neighbour a search returned: its vid, its cosine, and the row kept beside its vector."""

    vid: int
    cosine: float
    row: NDArray[np.float32] | None = None


class VectorIndex(ABC):
    dim: int

    @abstractmethod
    def add(self, ids: Ids, vectors: Vectors) -> None:
        """Add vectors; an id already present is replaced."""

    @abstractmethod
    def remove(self, ids: Ids) -> int:
        """Remove ids; returns how many were present."""

    @abstractmethod
    def search(self, queries: Vectors, k: int) -> tuple[Scores, Ids]:
        """Top-k (scores, ids) per query, best first, padded with (-inf, NO_ID)."""

    @abstractmethod
    def ids(self) -> Ids:
        """Every id in the index, sorted."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def serialize(self, path: Path) -> None: ...

    @abstractmethod
    def serialized(self) -> NDArray[np.uint8]:
        """The bytes ``serialize`` would write, in memory: a copy taken quickly under a lock, written out after."""

    @abstractmethod
    def empty_like(self) -> "VectorIndex":
        """An empty index of the same kind (trained, for IVF types), for a rebuild."""

    def _check(self, ids: Ids | None, vectors: Vectors) -> None:
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise InvalidInput("vectors", f"expected shape (n, {self.dim}), got {vectors.shape}")
        if ids is not None and ids.shape != (vectors.shape[0],):
            raise InvalidInput("ids", f"expected {vectors.shape[0]} ids, got {ids.shape}")


def as_ids(ids: Any) -> Ids:
    return np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)


def as_vectors(vectors: Any) -> Vectors:
    return np.ascontiguousarray(vectors, dtype=np.float32)


def padding(n: int, k: int) -> tuple[Scores, Ids]:
    """Result arrays for n queries filled with the (-inf, NO_ID) padding."""
    return np.full((n, max(k, 0)), -np.inf, dtype=np.float32), np.full((n, max(k, 0)), NO_ID, dtype=np.int64)
