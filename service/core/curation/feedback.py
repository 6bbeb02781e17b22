"""Reviewers' verdicts on matches, and what they add up to: per-item precision and match rates."""

from __future__ import annotations

from service.core.curation.quarantine import QuarantineMonitor
from service.core.domain import Feedback, FeedbackSummary, ReferenceStats
from service.core.store.base import ReferenceStore
from service.core.validation import check_id


class Reviews:
    def __init__(self, store: ReferenceStore, monitor: QuarantineMonitor) -> None:
        self._store = store
        self._monitor = monitor

    def report(self, feedback: Feedback) -> FeedbackSummary:
        """Record a true or false positive; returns the item's feedback so far."""
        check_id("reference_id", feedback.reference_id)
        check_id("post_id", feedback.post_id)
        self._store.feedback.add(feedback)
        return self._store.feedback.summary(feedback.reference_id)

    def stats(self, ref_id: str) -> ReferenceStats:
        item = self._store.references.get(check_id("id", ref_id))
        return ReferenceStats(
            reference_id=ref_id,
            state=item.state,
            feedback=self._store.feedback.summary(ref_id),
            match_rate=self._monitor.rate(ref_id),
        )
