"""Exact search in numpy: the reference implementation FAISS is tested against."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from service.core.errors import IndexCorrupt
from service.core.index.base import Ids, Scores, Vectors, VectorIndex, as_ids, as_vectors, padding


class BruteForceIndex(VectorIndex):
    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._rows: dict[int, Vectors] = {}

    def add(self, ids: Ids, vectors: Vectors) -> None:
        ids, vectors = as_ids(ids), as_vectors(vectors)
        self._check(ids, vectors)
        for i, v in zip(ids.tolist(), vectors):
            self._rows[i] = v.copy()

    def remove(self, ids: Ids) -> int:
        return sum(self._rows.pop(i, None) is not None for i in as_ids(ids).tolist())

    def search(self, queries: Vectors, k: int) -> tuple[Scores, Ids]:
        queries = as_vectors(queries)
        self._check(None, queries)
        n = len(queries)
        scores, out = padding(n, k)
        if not self._rows or k <= 0:
            return scores, out
        keys = np.fromiter(self._rows.keys(), dtype=np.int64)
        matrix = np.stack(list(self._rows.values()))
        sims = queries @ matrix.T
        top = min(k, len(keys))
        # Stable sort on (-score, id) so ties order deterministically.
        for row in range(n):
            order = np.lexsort((keys, -sims[row]))[:top]
            scores[row, :top] = sims[row, order]
            out[row, :top] = keys[order]
        return scores, out

    def ids(self) -> Ids:
        return np.sort(np.fromiter(self._rows.keys(), dtype=np.int64, count=len(self._rows)))

    def __len__(self) -> int:
        return len(self._rows)

    def empty_like(self) -> "BruteForceIndex":
        return BruteForceIndex(self.dim)

    def serialize(self, path: Path) -> None:
        self.serialized().tofile(str(path))

    def serialized(self) -> NDArray[np.uint8]:
        keys = np.fromiter(self._rows.keys(), dtype=np.int64)
        matrix = np.stack(list(self._rows.values())) if self._rows else np.zeros((0, self.dim), np.float32)
        buffer = io.BytesIO()
        np.savez(buffer, ids=keys, vectors=matrix, dim=np.int64(self.dim))
        return np.frombuffer(buffer.getvalue(), dtype=np.uint8)

    @classmethod
    def deserialize(cls, path: Path) -> "BruteForceIndex":
        try:
            data = np.load(path)
            index = cls(int(data["dim"]))
            index.add(data["ids"], data["vectors"])
        except (OSError, KeyError, ValueError) as exc:
            raise IndexCorrupt(f"cannot read index {path}: {exc}") from exc
        return index
