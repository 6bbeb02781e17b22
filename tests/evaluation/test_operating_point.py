"""Calibration picks the operating point the target FPR allows (synthetic scores)."""

from __future__ import annotations

import math

from evaluation.operating_point import lowest_threshold_for, operating_point


def test_lowest_threshold_allows_exactly_the_target_share_of_negatives() -> None:
    negatives = [i / 100 for i in range(100)]  # 0.00 .. 0.99
    t = lowest_threshold_for(negatives, 0.03)
    assert sum(n >= t for n in negatives) == 3
    assert 0.96 < t <= 0.97
    assert lowest_threshold_for(negatives, 0.0) > 0.99
    assert lowest_threshold_for(negatives, 1.0) == -math.inf


def test_threshold_moves_into_the_gap_when_positives_clear_it() -> None:
    negatives = [0.1 * (i % 5) for i in range(200)]  # at most 0.4
    positives = [0.8 + 0.001 * i for i in range(100)]
    point = operating_point(negatives, positives, 0.01)
    assert point.edge > 0.4 and point.edge < 0.41
    assert math.isclose(point.threshold, (point.edge + 0.8) / 2, rel_tol=1e-9)
    assert point.fpr == 0.0 and point.recall == 1.0


def test_overlapping_scores_keep_the_target_fpr() -> None:
    negatives = [i / 1000 for i in range(1000)]
    positives = [0.5 + i / 2000 for i in range(1000)]
    point = operating_point(negatives, positives, 0.01)
    assert point.threshold == point.edge
    assert point.fpr <= 0.01 and point.fpr > 0.009
    assert 0.0 < point.recall < 0.05
