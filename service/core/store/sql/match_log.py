"""The ``match_log`` table the review queue reads."""

from __future__ import annotations

import json
from typing import Any, Sequence

from service.core.domain import REVIEW_ORDER, FeedbackVerdict, LoggedMatch, Match, MatchLogQuery, Signal, Verdict
from service.core.store.base import MatchLogRows
from service.core.store.sql.db import Database

_COLUMNS = (
    "m.seq, m.at, m.post_id, m.post_text, m.post_lang, m.reference_id, m.bank, m.labels, m.kind, m.signal, m.score, m.cosine,"
    " m.reference_lang, m.review_rank"
)
# The latest reviewer decision on the pair, if any.
_REVIEW = "(SELECT f.verdict FROM feedback f WHERE f.reference_id = m.reference_id AND f.post_id = m.post_id ORDER BY f.seq DESC LIMIT 1)"


class SqlMatchLog(MatchLogRows):
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, entries: Sequence[LoggedMatch], *, max_entries: int, keep_after: float) -> None:
        if not entries:
            return
        with self._db.tx() as cur:
            cur.executemany(
                "INSERT INTO match_log(at, post_id, post_text, post_lang, reference_id, bank, labels, kind, signal, score, cosine,"
                " reference_lang, review_rank) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.at, e.post_id, e.post_text, e.post_lang, e.match.reference_id, e.match.bank,
                        json.dumps(list(e.match.labels), ensure_ascii=False), e.match.kind.value, e.match.signal.value,
                        e.match.score, e.match.cosine, e.match.reference_lang, REVIEW_ORDER[e.match.kind],
                    )
                    for e in entries
                ],
            )
            # Both deletes walk an index (the primary key, match_log_at), so the bound costs little per write.
            cur.execute("DELETE FROM match_log WHERE seq <= (SELECT MAX(seq) FROM match_log) - ?", (max_entries,))
            cur.execute("DELETE FROM match_log WHERE at < ?", (keep_after,))

    def query(self, query: MatchLogQuery, *, after: tuple[int, int] | None, limit: int) -> list[LoggedMatch]:
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if query.bank:
            where.append("m.bank = ?")
            args.append(query.bank)
        if query.verdict is not None:
            where.append("m.kind = ?")
            args.append(query.verdict.value)
        if query.label:
            where.append(self._db.dialect.json_array_contains.format(column="m.labels"))
            args.append(query.label)
        if not query.include_reviewed:
            where.append(f"{_REVIEW} IS NULL")
        if after is not None:
            # Review order is (rank ascending, seq descending): the next page starts past the last entry shown.
            where.append("(m.review_rank > ? OR (m.review_rank = ? AND m.seq < ?))")
            args += [after[0], after[0], after[1]]
        rows = self._db.rows(
            f"SELECT {_COLUMNS}, {_REVIEW} FROM match_log m WHERE {' AND '.join(where)} ORDER BY m.review_rank, m.seq DESC LIMIT ?",
            (*args, limit),
        )
        return [_row_to_entry(r) for r in rows]


def _row_to_entry(row: Sequence[Any]) -> LoggedMatch:
    match = Match(
        reference_id=row[5], score=float(row[10]), kind=Verdict(row[8]), signal=Signal(row[9]), bank=row[6],
        labels=tuple(json.loads(row[7])), cosine=float(row[11]), reference_lang=row[12],
    )
    review = FeedbackVerdict(row[14]) if row[14] is not None else None
    return LoggedMatch(seq=int(row[0]), at=float(row[1]), post_id=row[2], post_text=row[3], post_lang=row[4], match=match, review=review)
