"""Candidate assembly (``matching.candidates``): order, exact hits, admission on every path, margins, search depth."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import pytest

from service.core.domain import ReferenceItem
from service.core.index.base import Hit
from service.core.matching.background import Background
from service.core.matching.candidates import CANDIDATE_HEADROOM, MIN_CANDIDATES, assemble, search_depth
from service.core.text.prepare import PreparedText
from tests.support.factories import item
from tests.support.index_factories import unit_vectors

# A Pashto post: "ps" is the column the reference side's neighbourhood is read from.
TEXT = PreparedText(cleaned="د ښار دفتر به جمعه تړلی وي", canonical="د ښار دفتر به جمعه تړلی وي", fingerprint="fp-post", lang="ps")
ITEMS = {vid: item(f"r{vid}", vid=vid, lang="en") for vid in range(1, 6)}
# Columns of a background labelled en/ps: ("*", "en", "ps").
POST_ROW = np.array([0.5, 0.6, 0.7], np.float32)
REF_ROW = np.array([0.4, 0.3, 0.2], np.float32)


def admit_all(_: ReferenceItem) -> bool:
    return True


def refusing(*ref_ids: str) -> Callable[[ReferenceItem], bool]:
    return lambda it: it.id not in ref_ids


@pytest.fixture(scope="module")
def background() -> Background:
    return Background(unit_vectors(12, seed=3), model_id="m", k=3, langs=["en"] * 6 + ["ps"] * 6)


def test_exact_hits_come_first_then_the_hits_in_the_order_searched() -> None:
    hits = [Hit(3, 0.95), Hit(1, 0.91), Hit(2, 0.88)]
    out = assemble(TEXT, hits, [ITEMS[5], ITEMS[4]], ITEMS, admit_all)
    assert [(c.item.id, c.exact) for c in out] == [("r5", True), ("r4", True), ("r3", False), ("r1", False), ("r2", False)]
    assert [c.cosine for c in out[2:]] == [pytest.approx(0.95), pytest.approx(0.91), pytest.approx(0.88)]


def test_an_exact_hit_gets_the_searched_cosine_when_the_search_saw_it_else_one() -> None:
    out = assemble(TEXT, [Hit(2, 0.97)], [ITEMS[2], ITEMS[4]], ITEMS, admit_all)
    exact = {c.item.id: c.cosine for c in out if c.exact}
    assert exact == {"r2": pytest.approx(0.97), "r4": 1.0}


@pytest.mark.parametrize("path", ["exact", "searched"])
def test_inadmissible_items_are_dropped_on_both_paths(path: str) -> None:
    exact = [ITEMS[1], ITEMS[2]] if path == "exact" else []
    hits = [Hit(1, 0.9), Hit(2, 0.8)] if path == "searched" else []
    out = assemble(TEXT, hits, exact, ITEMS, refusing("r1"))
    assert [c.item.id for c in out] == ["r2"]


def test_a_hit_the_store_no_longer_knows_is_dropped() -> None:
    out = assemble(TEXT, [Hit(99, 0.99), Hit(1, 0.9)], [], ITEMS, admit_all)
    assert [c.item.id for c in out] == ["r1"]


def test_with_a_background_and_rows_each_hit_gets_its_margin_and_neighbourhoods(background: Background) -> None:
    out = assemble(TEXT, [Hit(1, 0.9, REF_ROW)], [], ITEMS, admit_all, background=background, post_row=POST_ROW)
    (candidate,) = out
    # A ps post against an en reference: the post's en neighbourhood, the reference's ps one.
    assert candidate.margin == pytest.approx(0.9 / ((0.6 + 0.2) / 2))
    assert candidate.neighbourhoods is not None
    assert dataclasses.astuple(candidate.neighbourhoods) == pytest.approx((0.6, 0.2, 0.7, 0.3))


@pytest.mark.parametrize(
    ("with_background", "post_row", "hit_row"),
    [(False, POST_ROW, REF_ROW), (True, None, REF_ROW), (True, POST_ROW, None)],
    ids=["no-background", "no-post-row", "no-hit-row"],
)
def test_margins_are_left_empty_without_a_background_and_both_rows(
    background: Background, with_background: bool, post_row: np.ndarray | None, hit_row: np.ndarray | None
) -> None:
    out = assemble(
        TEXT, [Hit(1, 0.9, hit_row)], [ITEMS[2]], ITEMS, admit_all, background=background if with_background else None, post_row=post_row
    )
    assert [(c.margin, c.neighbourhoods) for c in out] == [(None, None), (None, None)]


def test_exact_hits_carry_no_margin_even_with_a_background(background: Background) -> None:
    out = assemble(TEXT, [Hit(2, 0.99, REF_ROW)], [ITEMS[2]], ITEMS, admit_all, background=background, post_row=POST_ROW)
    assert (out[0].exact, out[0].margin) == (True, None)
    assert (out[1].exact, out[1].margin is not None) == (False, True)


@pytest.mark.parametrize(
    ("top_k", "depth"),
    [(1, MIN_CANDIDATES), (MIN_CANDIDATES // CANDIDATE_HEADROOM, MIN_CANDIDATES), (40, 40 * CANDIDATE_HEADROOM), (100, 100 * CANDIDATE_HEADROOM)],
)
def test_search_depth_has_headroom_and_a_floor(top_k: int, depth: int) -> None:
    assert search_depth(top_k) == depth
