"""The FP-per-post model behind the operating curves, on scores small enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.bank_curves import _threshold, operating_curve
from service.core import SIZE_GRID, TARGET_GRID


def ranked(found: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Scores best first, each with its rank among its post's scores (what operating_curve derives)."""
    ordered = sorted(found, key=lambda f: -f[1])
    seen: dict[int, int] = {}
    ranks = []
    for post, _ in ordered:
        ranks.append(seen.get(post, 0))
        seen[post] = seen.get(post, 0) + 1
    return np.array([s for _, s in ordered]), np.array(ranks)


def test_fp_per_post_counts_a_post_once_whatever_its_cluster_of_false_matches() -> None:
    # Two posts; post 0 falsely reaches two references, post 1 one; a bank of half the pool.
    scores, rank = ranked([(0, 0.9), (0, 0.8), (1, 0.7)])
    # Above 0.9: nothing. Down to 0.9: post 0 has one (P = 0.5), mean 0.25.
    # Down to 0.8: post 0 has two (P = 0.75), mean 0.375. Down to 0.7: + post 1 (0.5), mean 0.625.
    assert _threshold(scores, rank, 2, 0.5, 0.3) == pytest.approx(math.nextafter(0.8, math.inf))
    assert _threshold(scores, rank, 2, 0.5, 0.4) == pytest.approx(math.nextafter(0.7, math.inf))
    assert _threshold(scores, rank, 2, 0.5, 0.2) == pytest.approx(math.nextafter(0.9, math.inf))
    assert _threshold(scores, rank, 2, 0.5, 0.9) == 0.0  # the target is never reached


def test_a_bank_larger_than_the_pool_scales_each_posts_count() -> None:
    scores, rank = ranked([(0, 0.9), (1, 0.7)])
    # Twice the pool: P(any) = 1 - exp(-2 k); one post with k = 1 gives (1 - e^-2) / 2 = 0.43.
    assert _threshold(scores, rank, 2, 2.0, 0.44) == pytest.approx(math.nextafter(0.7, math.inf))
    assert _threshold(scores, rank, 2, 2.0, 0.42) == pytest.approx(math.nextafter(0.9, math.inf))


def test_curves_rise_with_the_bank_and_never_fall_beyond_the_pool() -> None:
    rng = np.random.default_rng(0)
    n_posts, pool = 400, 300
    found = [(p, float(s)) for p in range(n_posts) for s in rng.normal(0.0, 1.0, size=30)]
    curve = operating_curve(found, n_posts, pool, logit=False)
    at = {target: [curve.threshold_for(size, target) for size in SIZE_GRID] for target in TARGET_GRID}
    for row in at.values():
        assert all(b >= a for a, b in zip(row, row[1:]))
    assert curve.threshold_for(100, 0.001) > curve.threshold_for(100, 0.05)
    # Beyond the pool it keeps rising (the extrapolated trend), not flat at the pool's maximum.
    assert curve.threshold_for(100_000, 0.01) > curve.threshold_for(pool, 0.01)
    assert curve.measured_to == pool and curve.posts == n_posts
