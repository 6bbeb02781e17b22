"""Reviewers' verdicts on matches, and the per-item precision they add up to."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FeedbackVerdict(enum.Enum):
    TRUE_POSITIVE = "true_positive"
    FALSE_POSITIVE = "false_positive"


@dataclass(frozen=True)
class Feedback:
    reference_id: str
    post_id: str
    verdict: FeedbackVerdict
    note: str = ""
    reporter: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class FeedbackSummary:
    true_positives: int = 0
    false_positives: int = 0

    @property
    def reviewed(self) -> int:
        return self.true_positives + self.false_positives

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP); None until someone has reviewed a match."""
        return self.true_positives / self.reviewed if self.reviewed else None
