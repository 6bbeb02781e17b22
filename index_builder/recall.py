"""recall@10 of an index against exact search, on a held-out sample of its own vectors."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from service.core import NO_ID, VectorIndex

K = 10


def exact_neighbours(base: NDArray[np.float32], base_ids: NDArray[np.int64], queries: NDArray[np.float32], k: int) -> NDArray[np.int64]:
    import faiss

    _, rows = faiss.knn(np.ascontiguousarray(queries), np.ascontiguousarray(base), k, metric=faiss.METRIC_INNER_PRODUCT)
    return np.where(rows >= 0, base_ids[np.maximum(rows, 0)], NO_ID)


def recall_at_10(
    index: VectorIndex,
    base: NDArray[np.float32],
    base_ids: NDArray[np.int64],
    query_rows: NDArray[np.int64],
) -> float:
    """Mean share of each query's exact 10 nearest neighbours that the index returns in its top 10.

    Queries are stored items (held out of IVF training); each query's own id is
    dropped from both lists, so finding itself does not count.
    """
    if len(query_rows) == 0 or len(base) < 2:
        return 1.0
    k = min(K, len(base) - 1)
    queries = base[query_rows]
    own = base_ids[query_rows]
    truth = exact_neighbours(base, base_ids, queries, k + 1)
    _, found = index.search(queries, k + 1)
    hits = 0
    total = 0
    for row in range(len(queries)):
        want = [i for i in truth[row] if i != own[row] and i != NO_ID][:k]
        got = [int(i) for i in found[row] if i != own[row] and i != NO_ID][:k]
        hits += len(set(want) & set(got))
        total += len(want)
    return hits / total if total else 1.0
