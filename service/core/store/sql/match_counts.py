"""The ``match_counts`` table: each replica's quarantine counts, summed by the others."""

from __future__ import annotations

from typing import Iterable

from service.core.store.base import POSTS, BucketCounts, MatchCountRows
from service.core.store.sql.db import MAX_BOUND, Database


# The replica name of reset markers (no real replica is named so: theirs are hex ids).
_RESET = "*reset*"


class SqlMatchCounts(MatchCountRows):
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, replica: str, counts: BucketCounts) -> None:
        if not counts:
            return
        with self._db.tx() as cur:
            cur.executemany(
                "INSERT INTO match_counts(replica, ref_id, bucket, n) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (replica, ref_id, bucket) DO UPDATE SET n = match_counts.n + excluded.n",
                [(replica, ref_id, bucket, n) for (ref_id, bucket), n in sorted(counts.items())],
            )

    def totals(self, *, since_bucket: int, excluding: str) -> dict[tuple[str, int], int]:
        rows = self._db.rows(
            "SELECT m.ref_id, m.bucket, SUM(m.n) FROM match_counts m WHERE m.bucket >= ? AND m.replica != ? AND m.replica != ?"
            " AND NOT EXISTS (SELECT 1 FROM match_counts r WHERE r.replica = ? AND r.ref_id = m.ref_id AND r.bucket >= m.bucket)"
            " GROUP BY m.ref_id, m.bucket",
            (since_bucket, excluding, _RESET, _RESET),
        )
        return {(str(r[0]), int(r[1])): int(r[2]) for r in rows}

    def forget(self, ref_ids: Iterable[str], *, through_bucket: int) -> None:
        wanted = sorted(set(ref_ids) - {POSTS})
        if not wanted:
            return
        with self._db.tx() as cur:
            for start in range(0, len(wanted), MAX_BOUND):
                chunk = wanted[start : start + MAX_BOUND]
                cur.execute(f"DELETE FROM match_counts WHERE ref_id IN ({','.join('?' * len(chunk))}) AND bucket <= ?", (*chunk, through_bucket))
            # A reset marker, so counts other replicas still hold in memory for those buckets are ignored when they arrive.
            cur.executemany(
                "INSERT INTO match_counts(replica, ref_id, bucket, n) VALUES (?, ?, ?, 0) ON CONFLICT (replica, ref_id, bucket) DO NOTHING",
                [(_RESET, ref_id, through_bucket) for ref_id in wanted],
            )

    def prune(self, *, before_bucket: int) -> None:
        with self._db.tx() as cur:
            cur.execute("DELETE FROM match_counts WHERE bucket < ?", (before_bucket,))
