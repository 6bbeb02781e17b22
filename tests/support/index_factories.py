"""Vectors, stored items, indexes, artifacts and row functions for the index unit tests.

Everything is small (8 dimensions, a few hundred vectors) so that a real
FAISS index and a real SQLite file stay in the millisecond range.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from numpy.typing import NDArray

from service.core.domain import NewReference, ReferenceItem
from service.core.text.prepare import PreparedText
from service.core.index.artifact import Manifest, new_version, write_artifact
from service.core.index.base import VectorIndex
from service.core.index.faiss_index import FaissIndex
from service.core.index.spec import IndexSpec, IndexType, new_index
from service.core.store.base import ReferenceStore, StoredReference

DIM = 8
MODEL = "test-model@0123abcd"
OTHER_MODEL = "other-model@4567ef01"
# PQ needs 256 codebook points per sub-quantiser, so every IVF type is trained on this many.
TRAIN_SIZE = 300
NLIST = 4


def unit_vectors(n: int, *, seed: int = 0, dim: int = DIM) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    out: NDArray[np.float32] = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    return out


def stored_row(ref_id: str, vector: NDArray[np.float32], *, bank: str = "default") -> StoredReference:
    """A row for the store; text and fingerprint only need to be distinct per id."""
    return StoredReference(
        ref=NewReference(text=f"text of {ref_id}", id=ref_id, lang="en", bank=bank),
        prepared=PreparedText(cleaned=f"text of {ref_id}", canonical=f"text of {ref_id}", fingerprint=f"fp-{ref_id}", lang="en"),
        vector=vector,
    )


def add_items(
    store: ReferenceStore, vectors: NDArray[np.float32], *, prefix: str = "r", model_id: str = MODEL
) -> list[ReferenceItem]:
    """Store one item per vector, ids ``{prefix}{n}``; returns them with their vids."""
    start = len(store.vectors.vid_table())
    rows = [stored_row(f"{prefix}{start + i}", v) for i, v in enumerate(vectors)]
    return store.references.add(rows, actor="test", model_id=model_id)


def remove_items(store: ReferenceStore, items: Sequence[ReferenceItem]) -> None:
    store.references.remove([i.id for i in items], actor="test")


def trained(kind: IndexType, *, nprobe: int = NLIST, seed: int = 99) -> FaissIndex:
    """An empty, trained index of an IVF type (or a flat one), searching every list by default."""
    spec = IndexSpec(kind, nlist=0 if kind == "flat" else NLIST, nprobe=0 if kind == "flat" else nprobe, m=2 if kind == "ivf-pq" else 0)
    return new_index(spec, DIM, unit_vectors(TRAIN_SIZE, seed=seed))


def manifest_for(
    index: VectorIndex, *, model_id: str = MODEL, generation: int = 0, index_type: str = "flat",
    params: dict[str, int] | None = None, count: int | None = None,
) -> Manifest:
    return Manifest(
        version=new_version(generation), model_id=model_id, dim=index.dim, index_type=index_type, params=dict(params or {}),
        count=len(index) if count is None else count, created_at=time.time(), generation=generation, recall_at_10=None,
    )


def publish(root: Path, index: VectorIndex, id_of: dict[int, str], *, keep: int | None = None, **manifest: object) -> Path:
    """Write ``index`` as an artifact whose id map names ``id_of[vid]`` for each of its vids."""
    vids = index.ids()
    return write_artifact(root, manifest_for(index, **manifest), index, vids, [id_of[int(v)] for v in vids], keep=keep)  # type: ignore[arg-type]


def row_of(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    """A per-item row that is a pure function of the vector and never all zeros (entries in [1, 3])."""
    return (np.asarray(vectors, np.float32)[:, :3] + 2.0).astype(np.float32)


class CountingRows:
    """A row function that counts the vectors it was asked for, optionally slow (seconds per call)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.computed = 0
        self._lock = threading.Lock()

    def __call__(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        with self._lock:
            self.computed += len(vectors)
        if self.delay:
            time.sleep(self.delay)
        return row_of(vectors)
