"""Gradual roll-out: which posts a bank with a share below 1 matches (matching/rollout.py)."""

from __future__ import annotations

import pytest

from service.core import InvalidInput
from service.core.matching.admission import Admission
from service.core.matching.rollout import check_share, in_share
from tests.support.factories import item

KEYS = [f"{i:064x}" for i in range(4000)]


@pytest.mark.parametrize("share", [0.05, 0.25, 0.5, 0.9])
def test_about_the_share_of_posts_is_in(share: float) -> None:
    inside = sum(in_share("trial", key, share) for key in KEYS) / len(KEYS)
    # 4,000 draws: three standard errors at p = 0.5 is 0.024.
    assert abs(inside - share) < 0.025


def test_the_same_post_always_gets_the_same_answer_and_widening_only_adds() -> None:
    at_5 = {key for key in KEYS if in_share("trial", key, 0.05)}
    assert at_5 == {key for key in KEYS if in_share("trial", key, 0.05)}
    at_50 = {key for key in KEYS if in_share("trial", key, 0.5)}
    assert at_5 < at_50


def test_banks_draw_their_shares_independently() -> None:
    a = {key for key in KEYS if in_share("a", key, 0.5)}
    b = {key for key in KEYS if in_share("b", key, 0.5)}
    assert 0.4 < len(a & b) / len(a) < 0.6


def test_the_ends_of_the_range() -> None:
    assert all(in_share("b", key, 1.0) for key in KEYS[:50])
    assert not any(in_share("b", key, 0.0) for key in KEYS[:50])


@pytest.mark.parametrize("share", [-0.01, 1.5, float("nan"), float("inf")])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(InvalidInput) as err:
        check_share(share)
    assert err.value.field == "match_share"


def test_admission_applies_the_share_per_post_and_leaves_other_banks_alone() -> None:
    admission = Admission(now=0.0, shares={"trial": 0.5})
    inside = next(key for key in KEYS if in_share("trial", key, 0.5))
    outside = next(key for key in KEYS if not in_share("trial", key, 0.5))
    assert admission.for_post(inside)(item("r1", bank="trial"))
    assert not admission.for_post(outside)(item("r1", bank="trial"))
    assert admission.for_post(outside)(item("r2", bank="other"))
    # Without rolled-out banks there is nothing per post to decide: the same admission serves every post.
    plain = Admission(now=0.0)
    assert plain.for_post(outside) is plain
