"""Ratio-margin scoring (Artetxe & Schwenk, 2019) against a background sample.

A raw cosine threshold treats every text alike, but some texts sit in dense
regions of the embedding space (short, generic, news-like) and score high
against everything. Dividing the cosine by the mean similarity of each side to
its k nearest *background* texts (ordinary posts, not references) cancels that
density, which is what separates translations from same-topic posts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from service.core.errors import IndexCorrupt, ModelMismatch

DEFAULT_K = 10


class Background:
    def __init__(self, vectors: NDArray[np.float32], *, model_id: str, k: int = DEFAULT_K) -> None:
        if vectors.ndim != 2 or len(vectors) < k:
            raise ValueError(f"background needs at least k={k} vectors, got shape {vectors.shape}")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.model_id = model_id
        self.k = k

    def neighbourhood(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        """Mean cosine of each vector to its k nearest background vectors."""
        if len(vectors) == 0:
            return np.zeros(0, dtype=np.float32)
        sims = vectors @ self.vectors.T
        top = np.partition(sims, -self.k, axis=1)[:, -self.k :]
        means: NDArray[np.float32] = top.mean(axis=1).astype(np.float32)
        return means

    def save(self, path: Path) -> None:
        with Path(path).open("wb") as fh:
            np.savez_compressed(
                fh, vectors=self.vectors.astype(np.float16), model_id=np.array(self.model_id), k=np.int64(self.k)
            )

    @classmethod
    def load(cls, path: Path, *, expected_model_id: str) -> "Background":
        try:
            data = np.load(path)
            model_id = str(data["model_id"])
            background = cls(data["vectors"].astype(np.float32), model_id=model_id, k=int(data["k"]))
        except (OSError, KeyError, ValueError) as exc:
            raise IndexCorrupt(f"cannot read background sample {path}: {exc}") from exc
        if model_id != expected_model_id:
            raise ModelMismatch(expected_model_id, model_id, f"background sample {path}")
        return background


def ratio_margin(cosine: float, post_neighbourhood: float, ref_neighbourhood: float) -> float:
    denominator = (post_neighbourhood + ref_neighbourhood) / 2.0
    return cosine / denominator if denominator > 1e-6 else 0.0
