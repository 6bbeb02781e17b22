"""FAISS behind the :class:`VectorIndex` interface.

The default is exact search, ``IndexIDMap2`` over ``IndexFlatIP``, which keeps
``remove_ids`` real (HNSW would not). The approximate types ``index_builder``
builds for large banks (IVF, IVF+SQ8, IVF+PQ; ``spec.py``) keep their ids in
the inverted lists and are wrapped by the same class, so everything above
searches, adds, removes and lists ids the same way whichever type it holds.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.core.errors import IndexCorrupt
from service.core.index.base import Ids, Scores, Vectors, VectorIndex, as_ids, as_vectors, padding

log = logging.getLogger(__name__)


class FaissIndex(VectorIndex):
    def __init__(self, dim: int, *, faiss_index: Any = None) -> None:
        import faiss

        self.dim = dim
        # Any: faiss's own stubs type remove_ids for IDSelector only, though it takes arrays.
        self._index: Any = faiss_index if faiss_index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def faiss_index(self) -> Any:
        return self._index

    def add(self, ids: Ids, vectors: Vectors) -> None:
        ids, vectors = as_ids(ids), as_vectors(vectors)
        self._check(ids, vectors)
        if len(ids) == 0:
            return
        self._index.remove_ids(ids)  # replace semantics: FAISS would keep both otherwise
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: Ids) -> int:
        ids = as_ids(ids)
        if len(ids) == 0:
            return 0
        return int(self._index.remove_ids(ids))

    def search(self, queries: Vectors, k: int) -> tuple[Scores, Ids]:
        queries = as_vectors(queries)
        self._check(None, queries)
        if k <= 0 or len(queries) == 0:
            return padding(len(queries), 0)
        scores, ids = self._index.search(queries, k)
        scores = np.where(ids == -1, -np.inf, scores).astype(np.float32)
        return scores, ids.astype(np.int64)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> Ids:
        import faiss

        if hasattr(self._index, "id_map"):
            return np.sort(faiss.vector_to_array(self._index.id_map).astype(np.int64))
        ivf = faiss.extract_index_ivf(self._index)
        lists: Any = ivf.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).astype(np.int64)
            for i in range(ivf.nlist)
            if lists.list_size(i)
        ]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def empty_like(self) -> "FaissIndex":
        import faiss

        if hasattr(self._index, "id_map"):
            return FaissIndex(self.dim)  # flat: nothing trained to keep, and a clone would copy every vector
        fresh = faiss.clone_index(self._index)
        fresh.reset()  # keeps an IVF's trained quantiser: a rebuild does not retrain
        return FaissIndex(self.dim, faiss_index=fresh)

    def serialize(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))

    def serialized(self) -> NDArray[np.uint8]:
        import faiss

        data: NDArray[np.uint8] = faiss.serialize_index(self._index)
        return data

    @classmethod
    def deserialize(cls, path: Path) -> "FaissIndex":
        import faiss

        try:
            raw = faiss.read_index(str(path))
        except Exception as exc:  # faiss raises RuntimeError with C++ text
            # The C++ text names FAISS's own source files; it goes to the log, not to a caller.
            log.warning("cannot read FAISS index %s: %s", path, exc)
            raise IndexCorrupt(f"{path.name} is not a FAISS index this service can read (damaged, or another format)") from exc
        return cls(raw.d, faiss_index=raw)
