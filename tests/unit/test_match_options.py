"""A request's own narrowing of the verdicts (domain.MatchOptions) and its checks (validation)."""

from __future__ import annotations

import math

import pytest

from service.core import InvalidInput, LimitExceeded, Limits, Match, MatchOptions, Signal, Verdict
from service.core.validation import check_match_options


def match(kind: Verdict, score: float) -> Match:
    return Match(reference_id="r", score=score, kind=kind, signal=Signal.SEMANTIC, bank="b", labels=(), cosine=0.9, reference_lang="en")


def test_no_options_keep_everything() -> None:
    assert all(MatchOptions().keeps(match(kind, 0.0)) for kind in Verdict if kind is not Verdict.NO_MATCH)
    assert not MatchOptions().filters_matches and MatchOptions().takes_fingerprint_answers


def test_kinds_and_floors_combine() -> None:
    options = MatchOptions(verdicts=frozenset({Verdict.TRANSLATION, Verdict.REUPLOAD}), min_scores={Verdict.TRANSLATION: 0.9})
    assert options.keeps(match(Verdict.TRANSLATION, 0.9)) and options.keeps(match(Verdict.REUPLOAD, 1.0))
    assert not options.keeps(match(Verdict.TRANSLATION, 0.89)) and not options.keeps(match(Verdict.PARAPHRASE, 5.0))


@pytest.mark.parametrize(
    ("options", "fast"),
    [
        (MatchOptions(verdicts=frozenset({Verdict.TRANSLATION})), False),
        (MatchOptions(verdicts=frozenset({Verdict.REUPLOAD, Verdict.TRANSLATION})), True),
        (MatchOptions(min_scores={Verdict.REUPLOAD: 1.0}), True),
        (MatchOptions(min_scores={Verdict.REUPLOAD: 1.01}), False),
        (MatchOptions(metadata={"k": "v"}), True),
    ],
)
def test_exact_copies_are_answered_from_the_store_only_when_the_request_returns_exact_matches(options: MatchOptions, fast: bool) -> None:
    assert options.takes_fingerprint_answers is fast


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (MatchOptions(verdicts=frozenset({Verdict.NO_MATCH})), "verdicts"),
        (MatchOptions(min_scores={Verdict.NO_MATCH: 0.5}), "min_scores"),
        (MatchOptions(min_scores={Verdict.TRANSLATION: math.nan}), "min_scores[TRANSLATION]"),
        (MatchOptions(min_scores={Verdict.PARAPHRASE: math.inf}), "min_scores[PARAPHRASE]"),
    ],
)
def test_bad_options_are_refused_naming_the_field(options: MatchOptions, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_match_options(options, Limits())
    assert err.value.field == field


def test_a_metadata_filter_is_held_to_an_items_caps() -> None:
    limits = Limits(max_metadata_entries=2, max_metadata_bytes=16)
    check_match_options(MatchOptions(metadata={"a": "1", "b": "2"}), limits)
    with pytest.raises(LimitExceeded, match="entries"):
        check_match_options(MatchOptions(metadata={"a": "1", "b": "2", "c": "3"}), limits)
    with pytest.raises(LimitExceeded, match="bytes"):
        check_match_options(MatchOptions(metadata={"source": "x" * 20}), limits)
