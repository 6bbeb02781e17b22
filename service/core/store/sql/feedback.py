"""The ``feedback`` table of reviewers' verdicts."""

from __future__ import annotations

import time

from service.core.domain import DailyFeedback, Feedback, FeedbackSummary
from service.core.errors import NotFound
from service.core.store.base import FeedbackLog
from service.core.store.sql.db import Database, audit


_COUNTS = (
    "SUM(CASE WHEN f.verdict = 'true_positive' THEN 1 ELSE 0 END), SUM(CASE WHEN f.verdict = 'false_positive' THEN 1 ELSE 0 END)"
)


class SqlFeedback(FeedbackLog):
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, feedback: Feedback) -> None:
        with self._db.tx() as cur:
            if cur.execute("SELECT 1 FROM refs WHERE id = ?", (feedback.reference_id,)).fetchone() is None:
                raise NotFound("reference", feedback.reference_id)
            record = {"post_id": feedback.post_id, "verdict": feedback.verdict.value, "note": feedback.note}
            cur.execute(
                "INSERT INTO feedback(at, reference_id, post_id, verdict, note, reporter) VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), feedback.reference_id, feedback.post_id, feedback.verdict.value, feedback.note, feedback.reporter),
            )
            audit(cur, feedback.reporter, "feedback", feedback.reference_id, None, record)

    def by_bank(self) -> dict[str, FeedbackSummary]:
        rows = self._db.rows(
            f"SELECT r.bank, {_COUNTS}"
            " FROM feedback f JOIN refs r ON r.id = f.reference_id GROUP BY r.bank"
        )
        return {r[0]: FeedbackSummary(true_positives=int(r[1]), false_positives=int(r[2])) for r in rows}

    def daily(self, bank: str, *, since: float) -> list[DailyFeedback]:
        rows = self._db.rows(
            f"SELECT {self._db.dialect.utc_day.format(column='f.at')} AS d, {_COUNTS}"
            " FROM feedback f JOIN refs r ON r.id = f.reference_id WHERE r.bank = ? AND f.at >= ? GROUP BY d ORDER BY d",
            (bank, since),
        )
        return [DailyFeedback(day=float(r[0]), feedback=FeedbackSummary(int(r[1]), int(r[2]))) for r in rows]

    def summary(self, ref_id: str) -> FeedbackSummary:
        counts = dict(self._db.rows("SELECT verdict, COUNT(*) FROM feedback WHERE reference_id = ? GROUP BY verdict", (ref_id,)))
        return FeedbackSummary(true_positives=int(counts.get("true_positive", 0)), false_positives=int(counts.get("false_positive", 0)))
