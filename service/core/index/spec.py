"""Index types for large reference banks: exact flat, IVF, IVF+SQ8, IVF+PQ.

All are inner-product indexes over unit vectors that keep caller-chosen int64
ids and support real removal: flat through ``IndexIDMap2``, the IVF family
natively (ids live in the inverted lists; a hashtable direct map makes
``remove_ids`` cheap). HNSW is deliberately absent: it cannot remove.
Every type is wrapped in :class:`FaissIndex`, so the live index searches, adds
and removes through the same ``VectorIndex`` interface whichever type it holds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from service.core.errors import InvalidInput
from service.core.index.base import Vectors
from service.core.index.faiss_index import FaissIndex

IndexType = Literal["flat", "ivf", "ivf-sq", "ivf-pq"]
INDEX_TYPES: tuple[IndexType, ...] = ("flat", "ivf", "ivf-sq", "ivf-pq")

# Exact search over 200k x 384 floats is ~300 MB and a few ms per query on two
# cores; above it memory and latency grow linearly, so the choice switches to IVF+SQ8.
FLAT_MAX_ITEMS = 200_000
# FAISS warns below 39 training points per list; k-means on more adds time
# (minutes at 1M on two cores), little quality.
TRAIN_POINTS_PER_LIST = 40
MIN_TRAIN_POINTS_PER_LIST = 39
DEFAULT_NPROBE = 16
DEFAULT_PQ_M = 48  # 384 / 48 = 8 dims per sub-quantiser, 48 bytes per vector
PQ_CODEBOOK = 256  # 8-bit codes: each sub-quantiser's k-means needs this many points at least


@dataclass(frozen=True)
class IndexSpec:
    type: IndexType = "flat"
    nlist: int = 0  # IVF lists; 0 for flat
    nprobe: int = 0  # lists searched per query; 0 for flat
    m: int = 0  # PQ sub-quantisers; 0 unless ivf-pq

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "type" and v}


def default_nlist(n: int) -> int:
    """About sqrt(n) lists (1000 at 1M), capped so that every list gets enough training points."""
    return max(1, min(int(math.sqrt(max(n, 1))), n // MIN_TRAIN_POINTS_PER_LIST or 1))


def choose_spec(n: int, *, type: IndexType | None = None, nlist: int = 0, nprobe: int = 0, m: int = 0) -> IndexSpec:
    """The index for ``n`` vectors: explicit settings win, otherwise chosen by size."""
    chosen: IndexType = type or ("flat" if n <= FLAT_MAX_ITEMS else "ivf-sq")
    if chosen not in INDEX_TYPES:
        raise InvalidInput("index_type", f"unknown index type {chosen!r}; use one of {', '.join(INDEX_TYPES)}")
    if chosen == "flat":
        return IndexSpec("flat")
    nlist = nlist or default_nlist(n)
    return IndexSpec(
        chosen,
        nlist=nlist,
        nprobe=min(nprobe or DEFAULT_NPROBE, nlist),
        m=(m or DEFAULT_PQ_M) if chosen == "ivf-pq" else 0,
    )


def new_index(spec: IndexSpec, dim: int, train: Vectors | None = None) -> FaissIndex:
    """An empty index of ``spec``'s type; IVF types are trained on ``train``."""
    import faiss

    faiss_any: Any = faiss
    if spec.type == "flat":
        return FaissIndex(dim)
    quantizer = faiss.IndexFlatIP(dim)
    metric = faiss.METRIC_INNER_PRODUCT
    ivf: Any
    if spec.type == "ivf":
        ivf = faiss.IndexIVFFlat(quantizer, dim, spec.nlist, metric)
    elif spec.type == "ivf-sq":
        ivf = faiss.IndexIVFScalarQuantizer(quantizer, dim, spec.nlist, faiss.ScalarQuantizer.QT_8bit, metric)
    else:
        if dim % spec.m:
            raise InvalidInput("m", f"PQ sub-quantisers ({spec.m}) must divide the dimension {dim}")
        ivf = faiss.IndexIVFPQ(quantizer, dim, spec.nlist, spec.m, 8, metric)
    need = max(spec.nlist, PQ_CODEBOOK if spec.type == "ivf-pq" else 0)
    if train is None or len(train) < need:
        raise InvalidInput("vectors", f"{spec.type} with {spec.nlist} lists needs at least {need} training vectors")
    ivf.train(np.ascontiguousarray(train, dtype=np.float32))
    ivf.set_direct_map_type(faiss_any.DirectMap.Hashtable)
    ivf.nprobe = spec.nprobe
    return FaissIndex(dim, faiss_index=ivf)


def set_nprobe(index: FaissIndex, nprobe: int) -> None:
    import faiss

    if nprobe:
        faiss.extract_index_ivf(index.faiss_index).nprobe = nprobe


def train_sample_size(spec: IndexSpec) -> int:
    return max(spec.nlist, PQ_CODEBOOK if spec.type == "ivf-pq" else 0) * TRAIN_POINTS_PER_LIST
