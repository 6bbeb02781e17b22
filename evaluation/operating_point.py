"""Choosing a threshold from scores for a target false-positive rate.

``operating_point`` is deliberately simple and conservative, because the same
figures are checked later on data this project has never seen:

1. ``t_fpr``: the lowest threshold at which at most ``target_fpr`` of the
   negatives score at or above it (the edge of what the target allows);
2. if the positives clear that edge with room to spare, the threshold moves
   to the middle of the gap between ``t_fpr`` and the score that
   ``recall_goal`` of the positives reach, trading recall the calibration
   data does not need for fewer false positives on new data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

DEFAULT_RECALL_GOAL = 0.99


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    edge: float  # t_fpr: the lowest threshold meeting the target
    fpr: float  # on the calibration negatives, at `threshold`
    recall: float  # on the calibration positives, at `threshold`
    n_negatives: int
    n_positives: int


def lowest_threshold_for(negatives: Sequence[float], target_fpr: float) -> float:
    """The lowest t such that the share of negatives scoring >= t is <= target_fpr."""
    neg = np.sort(np.asarray(negatives, dtype=np.float64))[::-1]
    allowed = math.floor(target_fpr * len(neg) + 1e-9)
    if allowed >= len(neg):
        return -math.inf
    return float(np.nextafter(neg[allowed], math.inf))


def operating_point(
    negatives: Sequence[float],
    positives: Sequence[float],
    target_fpr: float,
    *,
    recall_goal: float = DEFAULT_RECALL_GOAL,
) -> OperatingPoint:
    neg = np.asarray(negatives, dtype=np.float64)
    pos = np.asarray(positives, dtype=np.float64)
    edge = lowest_threshold_for(negatives, target_fpr)
    threshold = edge
    if len(pos):
        reached = float(np.quantile(pos, 1.0 - recall_goal, method="lower"))
        if reached > edge:
            threshold = reached if math.isinf(edge) else (edge + reached) / 2.0
    return OperatingPoint(
        threshold=threshold,
        edge=edge,
        fpr=float((neg >= threshold).mean()) if len(neg) else 0.0,
        recall=float((pos >= threshold).mean()) if len(pos) else 0.0,
        n_negatives=len(neg),
        n_positives=len(pos),
    )
