"""The embeddings kept with each item, from which every index is built."""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from service.core.domain import ReferenceItem
from service.core.store.base import VectorRows, Vectors, Vids
from service.core.store.sql.db import Database
from service.core.store.sql.references import REF_COLUMNS, row_to_item

_INDEXABLE = "state != 'removed' AND model_id = ? AND vector IS NOT NULL"


class SqlVectors(VectorRows):
    def __init__(self, db: Database) -> None:
        self._db = db

    def indexable(self, model_id: str, *, batch: int = 10_000) -> Iterator[tuple[Vids, Vectors]]:
        last = 0
        while True:
            rows = self._db.rows(f"SELECT vid, vector FROM refs WHERE vid > ? AND {_INDEXABLE} ORDER BY vid LIMIT ?", (last, model_id, batch))
            if not rows:
                return
            vids, vectors = _unpack(rows)
            last = int(vids[-1])
            yield vids, vectors

    def indexable_vids(self, model_id: str) -> Vids:
        rows = self._db.rows(f"SELECT vid FROM refs WHERE {_INDEXABLE} ORDER BY vid", (model_id,))
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def vectors_for(self, vids: Sequence[int], model_id: str) -> tuple[Vids, Vectors]:
        rows = self._db.rows_in(f"SELECT vid, vector FROM refs WHERE vid IN ({{marks}}) AND {_INDEXABLE}", (int(v) for v in vids), (model_id,))
        return _unpack(sorted(rows))

    def needing_vectors(self, model_id: str, *, batch: int = 1000) -> Iterator[list[ReferenceItem]]:
        last = 0
        while True:
            rows = self._db.rows(
                # Hash-only items (no text) have no vector to make.
                f"SELECT {REF_COLUMNS} FROM refs WHERE vid > ? AND state != 'removed' AND text != ''"
                " AND (model_id IS NULL OR model_id != ? OR vector IS NULL) ORDER BY vid LIMIT ?",
                (last, model_id, batch),
            )
            if not rows:
                return
            items = [row_to_item(r) for r in rows]
            last = items[-1].vid
            yield items

    def set_vectors(self, vids: Sequence[int], vectors: Vectors, *, model_id: str) -> None:
        with self._db.tx() as cur:
            cur.executemany(
                # Not into a tombstone: a re-embedding can race the item's removal.
                "UPDATE refs SET vector = ?, model_id = ? WHERE vid = ? AND state != 'removed'",
                [(np.ascontiguousarray(v, dtype=np.float32).tobytes(), model_id, int(vid)) for vid, v in zip(vids, vectors)],
            )

    def vid_table(self) -> dict[int, str]:
        return {int(r[0]): r[1] for r in self._db.rows("SELECT vid, id FROM refs")}


def _unpack(rows: Sequence[tuple[int, bytes]]) -> tuple[Vids, Vectors]:
    vids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    if not rows:
        return vids, np.zeros((0, 0), dtype=np.float32)
    return vids, np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
