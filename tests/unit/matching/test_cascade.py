"""The matching cascade (``service.core.matching.cascade``): signals, per-bank thresholds, ranking, suppression.

Candidates are built by hand (no model, no index): the cascade is pure, so
each test states exactly which cosine, margin and canonical text a
candidate has and which verdict that must give.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from service.core.domain import Candidate, Match, MatchOptions, Neighbourhoods, PostFeatures, PostResult, Signal, Verdict
from service.core.matching.cascade import Cascade, translation_score
from service.core.matching.lexical import MIN_SHARED_SHINGLES, lexical_similarity, shingles
from service.core.matching.thresholds import Thresholds
from service.core.matching.translation import features, probability
from tests.support.factories import item

REFERENCE = "the district office will stay closed on friday because of the flood warning issued this morning"
# Contained in REFERENCE: a re-upload cut down to its first half.
EXCERPT = "the district office will stay closed on friday"
UNRELATED = "volunteers are collecting blankets for families in the northern valleys"
NB = Neighbourhoods(post=0.8, reference=0.78, post_own=0.82, reference_own=0.8)
DEFAULTS = Thresholds()


def post(canonical: str = UNRELATED, *, fingerprint: str = "fp-post", lang: str = "en") -> PostFeatures:
    return PostFeatures(post_id="p1", canonical=canonical, fingerprint=fingerprint, lang=lang)


def cand(
    ref_id: str, cosine: float = 0.5, *, margin: float | None = None, exact: bool = False, bank: str = "b", lang: str = "en",
    canonical: str = "", fingerprint: str = "", nb: Neighbourhoods | None = None,
) -> Candidate:
    # Each reference gets its own unrelated text unless a test names one, so only the signal under test can fire.
    ref = item(ref_id, lang=lang, bank=bank, canonical=canonical or f"notice number {ref_id} about road repairs", fingerprint=fingerprint)
    return Candidate(item=ref, cosine=cosine, margin=margin, exact=exact, neighbourhoods=nb)


def exact(ref_id: str, cosine: float = 1.0, *, bank: str = "b") -> Candidate:
    return cand(ref_id, cosine, exact=True, bank=bank)


def semantic(ref_id: str, margin: float, cosine: float = 0.9, *, bank: str = "b") -> Candidate:
    return cand(ref_id, cosine, margin=margin, bank=bank)


def classify(candidate: Candidate, features_: PostFeatures | None = None, thresholds: Thresholds = DEFAULTS) -> Match | None:
    return Cascade(thresholds).classify(features_ or post(), candidate)


def ids(result: PostResult) -> list[str]:
    return [m.reference_id for m in result.matches]


# -- EXACT -------------------------------------------------------------------


def test_equal_fingerprints_are_a_reupload_with_score_one_whatever_the_cosine() -> None:
    match = classify(cand("r1", 0.31, fingerprint="fp-same"), post(fingerprint="fp-same"))
    assert match is not None
    assert (match.kind, match.signal, match.score) == (Verdict.REUPLOAD, Signal.EXACT, 1.0)
    # The searched cosine is reported as it was, not replaced by the score.
    assert match.cosine == pytest.approx(0.31)


def test_the_candidates_exact_flag_is_a_reupload_even_with_other_fingerprints() -> None:
    match = classify(cand("r1", 1.0, exact=True, fingerprint="fp-ref"), post(fingerprint="fp-post"))
    assert match is not None and (match.kind, match.signal, match.score) == (Verdict.REUPLOAD, Signal.EXACT, 1.0)


def test_an_empty_fingerprint_is_no_evidence_of_a_copy() -> None:
    # A post with nothing matchable has fingerprint "", and so might a tombstone; "" == "" is not a re-upload.
    blank = Candidate(item=dataclasses.replace(item("r1"), fingerprint=""), cosine=0.2)
    assert classify(blank, post(fingerprint="")) is None


def test_the_match_carries_the_references_annotations() -> None:
    match = classify(cand("r1", exact=True, bank="elections", lang="ur"))
    assert match is not None
    assert (match.reference_id, match.bank, match.reference_lang) == ("r1", "elections", "ur")
    assert match.labels == ("org:example",) and dict(match.metadata) == {"k": "v"}


# -- LEXICAL -----------------------------------------------------------------


def containment(a: str, b: str) -> float:
    return lexical_similarity(shingles(a), shingles(b)).score


def test_a_contained_excerpt_is_a_near_duplicate_scored_by_containment() -> None:
    score = containment(EXCERPT, REFERENCE)
    assert score >= DEFAULTS.near_duplicate_lexical
    match = classify(cand("r1", 0.2, canonical=REFERENCE), post(EXCERPT))
    assert match is not None
    assert (match.kind, match.signal) == (Verdict.NEAR_DUPLICATE, Signal.LEXICAL)
    assert match.score == pytest.approx(score)


def test_the_lexical_threshold_is_inclusive() -> None:
    wrapped = "breaking update from the capital " + EXCERPT
    score = containment(wrapped, REFERENCE)
    assert 0.0 < score < 1.0
    at = classify(cand("r1", 0.2, canonical=REFERENCE), post(wrapped), Thresholds(near_duplicate_lexical=score))
    above = classify(cand("r1", 0.2, canonical=REFERENCE), post(wrapped), Thresholds(near_duplicate_lexical=score + 1e-6))
    assert at is not None and at.kind is Verdict.NEAR_DUPLICATE
    # Below the floor and with a low cosine nothing else fires.
    assert above is None


def test_too_few_shared_shingles_are_no_lexical_evidence() -> None:
    short = "flood warning"
    assert len(shingles(short) & shingles(REFERENCE)) < MIN_SHARED_SHINGLES
    assert classify(cand("r1", 0.2, canonical=REFERENCE), post(short)) is None


def test_exact_wins_over_lexical() -> None:
    match = classify(cand("r1", 0.2, canonical=REFERENCE, fingerprint="fp-same"), post(EXCERPT, fingerprint="fp-same"))
    assert match is not None and match.signal is Signal.EXACT


# -- SEMANTIC ----------------------------------------------------------------


def test_below_the_cosine_floor_nothing_semantic_matches_whatever_the_margin() -> None:
    assert classify(semantic("r1", margin=5.0, cosine=DEFAULTS.translation_cosine - 0.01)) is None


def test_without_a_background_the_raw_cosine_decides_and_is_the_score() -> None:
    match = classify(cand("r1", DEFAULTS.translation_cosine))
    assert match is not None
    assert (match.kind, match.signal) == (Verdict.PARAPHRASE, Signal.SEMANTIC)  # both sides English
    assert match.score == pytest.approx(DEFAULTS.translation_cosine)


@pytest.mark.parametrize(("margin", "matches"), [(1.12, True), (1.5, True), (1.11, False)])
def test_with_a_background_the_margin_rule_decides_and_the_margin_is_the_score(margin: float, matches: bool) -> None:
    match = classify(semantic("r1", margin=margin))
    assert (match is not None) is matches
    if match is not None:
        assert match.kind is Verdict.PARAPHRASE and match.score == pytest.approx(margin)


@pytest.mark.parametrize(("post_lang", "ref_lang", "matches"), [("ps", "en", True), ("en", "ps", False), ("ur", "en", False)])
def test_the_margin_is_taken_per_language_pair_and_direction(post_lang: str, ref_lang: str, matches: bool) -> None:
    thresholds = Thresholds(translation_margin=1.3, translation_margin_by_pair={"ps>en": 1.05})
    candidate = cand("r1", 0.9, margin=1.1, lang=ref_lang)
    assert (classify(candidate, post(lang=post_lang), thresholds) is not None) is matches


SCORER = Thresholds(translation_weights={"cosine": 10.0, "bias": -8.0}, translation_score=0.5)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@pytest.mark.parametrize(
    ("post_lang", "ref_lang", "verdict"),
    [("en", "en", Verdict.PARAPHRASE), ("ur", "ur", Verdict.PARAPHRASE), ("ps", "en", Verdict.TRANSLATION),
     ("en", "ur", Verdict.TRANSLATION), ("und", "en", Verdict.TRANSLATION), ("mixed", "ur", Verdict.TRANSLATION)],
)
def test_a_semantic_match_is_a_paraphrase_within_one_language_and_a_translation_across(
    post_lang: str, ref_lang: str, verdict: Verdict
) -> None:
    match = classify(cand("r1", 0.95, lang=ref_lang), post(lang=post_lang))
    assert match is not None and (match.kind, match.signal) == (verdict, Signal.SEMANTIC)


def test_a_post_verdict_is_its_best_semantic_match_whichever_kind() -> None:
    cascade = Cascade(DEFAULTS)
    result = cascade.decide(post(lang="en"), [cand("same", 0.95, lang="en"), cand("other", 0.97, lang="ur")], 5)
    assert result.verdict is Verdict.TRANSLATION and ids(result) == ["other", "same"]
    assert [m.kind for m in result.matches] == [Verdict.TRANSLATION, Verdict.PARAPHRASE]


def test_a_cross_language_candidate_is_judged_by_the_calibrated_scorer() -> None:
    match = classify(cand("r1", 0.9, margin=1.0, lang="en", nb=NB), post(lang="ur"), SCORER)
    # sigmoid(10 * 0.9 - 8): the scorer matches although the margin (1.0) alone would not.
    assert match is not None and match.kind is Verdict.TRANSLATION
    assert match.score == pytest.approx(sigmoid(1.0))


def test_a_scorer_rejection_is_final_even_with_a_large_margin() -> None:
    thresholds = Thresholds(translation_weights={"cosine": 10.0, "bias": -9.5}, translation_score=0.5)
    assert classify(cand("r1", 0.9, margin=5.0, lang="en", nb=NB), post(lang="ur"), thresholds) is None


def test_the_scorer_threshold_is_taken_per_pair() -> None:
    thresholds = Thresholds(translation_weights=SCORER.translation_weights, translation_score=0.5, translation_score_by_pair={"ur>en": 0.8})
    assert classify(cand("r1", 0.9, margin=1.0, lang="en", nb=NB), post(lang="ur"), thresholds) is None
    assert classify(cand("r1", 0.9, margin=1.0, lang="en", nb=NB), post(lang="ps"), thresholds) is not None


@pytest.mark.parametrize(
    ("post_lang", "nb", "thresholds"),
    [("en", NB, SCORER), ("ur", None, SCORER), ("ur", NB, DEFAULTS)],
    ids=["same-language", "no-neighbourhoods", "no-weights"],
)
def test_the_margin_rule_applies_where_the_scorer_does_not(post_lang: str, nb: Neighbourhoods | None, thresholds: Thresholds) -> None:
    candidate = cand("r1", 0.9, margin=1.2, lang="en", nb=nb)
    assert translation_score(post(lang=post_lang), candidate, thresholds) is None
    match = classify(candidate, post(lang=post_lang), thresholds)
    assert match is not None and match.score == pytest.approx(1.2)


def test_translation_score_uses_the_pairs_length_offset() -> None:
    thresholds = Thresholds(
        translation_weights={"cosine": 4.0, "length_mismatch": -3.0, "bias": -2.0}, translation_length_offset_by_pair={"ur>en": 0.4}
    )
    candidate = cand("r1", 0.9, margin=1.0, lang="en", nb=NB, canonical=REFERENCE)
    features_ = post(EXCERPT, lang="ur")
    weights = {"cosine": 4.0, "length_mismatch": -3.0}
    expected = probability(features(0.9, NB, EXCERPT, REFERENCE, 0.4), weights, -2.0)
    assert translation_score(features_, candidate, thresholds) == pytest.approx(expected)
    assert expected != pytest.approx(probability(features(0.9, NB, EXCERPT, REFERENCE, 0.0), weights, -2.0))


# -- per-bank thresholds -------------------------------------------------------


def test_each_candidate_is_judged_by_its_own_banks_thresholds() -> None:
    strict = Thresholds(translation_cosine=0.95)
    cascade = Cascade(DEFAULTS, thresholds_for=lambda bank: strict if bank == "strict" else DEFAULTS)
    assert cascade.thresholds_for("strict") is strict and cascade.thresholds_for("b") is DEFAULTS
    result = cascade.decide(post(), [cand("loose-1", 0.9, bank="b"), cand("strict-1", 0.9, bank="strict")], top_k=10)
    assert ids(result) == ["loose-1"]


def test_without_a_bank_lookup_every_bank_gets_the_service_wide_thresholds() -> None:
    assert Cascade(DEFAULTS).thresholds_for("anything") is DEFAULTS


# -- ranking, top_k, verdict ---------------------------------------------------


def test_only_the_best_match_per_reference_is_kept_whatever_the_order() -> None:
    # The same reference can come back twice: as a fingerprint hit and as a searched neighbour.
    twice = [semantic("r1", margin=2.0), exact("r1", 0.9), semantic("r1", margin=1.5)]
    for candidates in (twice, list(reversed(twice))):
        result = Cascade(DEFAULTS).decide(post(), candidates, top_k=10)
        assert len(result.matches) == 1 and result.matches[0].kind is Verdict.REUPLOAD


def test_of_two_semantic_matches_of_one_reference_the_higher_score_is_kept() -> None:
    result = Cascade(DEFAULTS).decide(post(), [semantic("r1", margin=1.2), semantic("r1", margin=1.7)], top_k=10)
    assert [m.score for m in result.matches] == [pytest.approx(1.7)]


def test_matches_rank_by_verdict_strength_before_score() -> None:
    candidates = [semantic("tr", margin=2.5), cand("nd", 0.2, canonical=REFERENCE), exact("ru", 0.5)]
    result = Cascade(DEFAULTS).decide(post(EXCERPT), candidates, top_k=10)
    assert ids(result) == ["ru", "nd", "tr"]
    assert result.verdict is Verdict.REUPLOAD


def test_within_a_verdict_the_score_ranks_then_the_cosine() -> None:
    by_score = Cascade(DEFAULTS).decide(post(), [semantic("low", 1.3, cosine=0.97), semantic("high", 1.5, cosine=0.9)], top_k=10)
    assert ids(by_score) == ["high", "low"]
    # Every exact match scores 1.0; the searched cosine breaks the tie.
    by_cosine = Cascade(DEFAULTS).decide(post(), [exact("far", 0.7), exact("near", 0.99), exact("mid", 0.8)], top_k=10)
    assert ids(by_cosine) == ["near", "mid", "far"]


def test_top_k_keeps_the_best_k() -> None:
    candidates = [semantic(f"r{i}", margin=1.2 + i / 10) for i in range(5)]
    result = Cascade(DEFAULTS).decide(post(), candidates, top_k=2)
    assert ids(result) == ["r4", "r3"]


def test_the_verdict_is_the_strongest_match_even_with_top_k_one() -> None:
    result = Cascade(DEFAULTS).decide(post(EXCERPT), [semantic("tr", margin=3.0), cand("nd", 0.2, canonical=REFERENCE)], top_k=1)
    assert result.verdict is Verdict.NEAR_DUPLICATE and ids(result) == ["nd"]


def test_no_match_reports_the_post_and_its_language() -> None:
    result = Cascade(DEFAULTS).decide(post(lang="ps"), [cand("r1", 0.3)], top_k=5)
    assert (result.post_id, result.verdict, result.matches, result.detected_lang, result.suppressed_by) == (
        "p1", Verdict.NO_MATCH, (), "ps", ""
    )


# -- suppression ---------------------------------------------------------------

ALLOW = frozenset({"allow"})


def test_a_suppression_match_unflags_the_post_drops_every_match_and_names_the_item() -> None:
    candidates = [exact("bad-1"), semantic("bad-2", margin=1.5), semantic("allow-1", margin=1.3, bank="allow")]
    result = Cascade(DEFAULTS).decide(post(), candidates, top_k=10, suppression=ALLOW)
    assert (result.verdict, result.matches, result.suppressed_by) == (Verdict.NO_MATCH, (), "allow-1")
    assert result.post_id == "p1"


def test_the_strongest_suppression_match_is_named() -> None:
    candidates = [exact("bad-1"), semantic("allow-weak", margin=1.3, bank="allow"), exact("allow-copy", bank="allow")]
    result = Cascade(DEFAULTS).decide(post(), candidates, top_k=10, suppression=ALLOW)
    assert result.suppressed_by == "allow-copy"


def test_a_suppression_match_alone_does_not_flag() -> None:
    result = Cascade(DEFAULTS).decide(post(), [exact("allow-1", bank="allow")], top_k=10, suppression=ALLOW)
    assert (result.verdict, result.matches, result.suppressed_by) == (Verdict.NO_MATCH, (), "")


def test_a_suppression_item_that_does_not_match_leaves_the_post_flagged() -> None:
    result = Cascade(DEFAULTS).decide(post(), [exact("bad-1"), cand("allow-1", 0.3, bank="allow")], top_k=10, suppression=ALLOW)
    assert (result.verdict, ids(result), result.suppressed_by) == (Verdict.REUPLOAD, ["bad-1"], "")


def test_top_k_can_never_push_a_suppression_match_out() -> None:
    flagging = [exact(f"bad-{i}") for i in range(20)]
    weak_allow = semantic("allow-1", margin=1.2, bank="allow")
    # Decided as one list, the weak allow-list match is the first to be cut...
    assert "allow-1" not in ids(Cascade(DEFAULTS).decide(post(), [*flagging, weak_allow], top_k=1))
    # ...but suppression is decided apart from the flagging matches.
    result = Cascade(DEFAULTS).decide(post(), [*flagging, weak_allow], top_k=1, suppression=ALLOW)
    assert (result.verdict, result.suppressed_by) == (Verdict.NO_MATCH, "allow-1")


@pytest.mark.parametrize(("allow_floor", "suppressed"), [(0.7, True), (0.99, False)])
def test_suppression_items_use_their_own_banks_thresholds(allow_floor: float, suppressed: bool) -> None:
    # 0.8 is below the service-wide floor (0.86) and 0.9 above it: only the allow bank's own floor decides.
    allow = Thresholds(translation_cosine=allow_floor)
    cascade = Cascade(DEFAULTS, thresholds_for=lambda bank: allow if bank == "allow" else DEFAULTS)
    allow_cosine = 0.8 if suppressed else 0.9
    result = cascade.decide(post(), [exact("bad-1"), cand("allow-1", allow_cosine, bank="allow")], top_k=10, suppression=ALLOW)
    assert (result.suppressed_by == "allow-1") is suppressed
    assert (result.verdict is Verdict.NO_MATCH) is suppressed


# -- minimum content ----------------------------------------------------------


def test_too_few_words_on_either_side_get_no_semantic_verdict() -> None:
    strong = semantic("r1", margin=2.0)
    assert classify(strong) is not None
    assert classify(strong, post("long live the cause")) is not None  # four words: enough
    assert classify(strong, post("long live pakistan")) is None  # three: resemblance decides nothing
    short_ref = cand("r2", 0.9, margin=2.0, canonical="victory is near")
    assert classify(short_ref) is None
    # The exact and lexical paths do not depend on it.
    assert classify(exact("r3"), post("long live pakistan")) is not None


def test_short_posts_are_judged_by_their_own_operating_points() -> None:
    thresholds = Thresholds(translation_margin_by_pair={"en>en": 1.1}, translation_margin_short_by_pair={"en>en": 1.5})
    candidate = semantic("r1", margin=1.3)
    long_post = post("volunteers are collecting blankets and food for the families in the northern valleys this week")
    short_post = post("volunteers are collecting blankets for families")
    assert classify(candidate, long_post, thresholds) is not None
    assert classify(candidate, short_post, thresholds) is None
    assert classify(semantic("r2", margin=1.6), short_post, thresholds) is not None
    # An override of the margin applies to every pair and every length.
    from service.core.matching.thresholds import apply_overrides

    overridden = apply_overrides(thresholds, {"translation_margin": 1.2}, "test")
    assert overridden.translation_margin_for("en", "en", short=True) == 1.2


# -- the caller's own narrowing (MatchOptions) -------------------------------------


def test_a_verdict_filter_leaves_the_best_match_of_the_kinds_asked_for() -> None:
    candidates = [exact("copy"), semantic("meaning", margin=1.5)]
    options = MatchOptions(verdicts=frozenset({Verdict.TRANSLATION, Verdict.PARAPHRASE}))
    result = Cascade(DEFAULTS).decide(post(), candidates, top_k=10, keep=options.keeps)
    # Unfiltered the exact copy decides: REUPLOAD.
    assert Cascade(DEFAULTS).decide(post(), candidates, top_k=10).verdict is Verdict.REUPLOAD
    assert ids(result) == ["meaning"] and result.verdict is Verdict.PARAPHRASE


def test_the_filter_runs_before_top_k_so_it_never_starves_the_result() -> None:
    candidates = [*(exact(f"copy-{i}") for i in range(5)), semantic("meaning", margin=1.5)]
    options = MatchOptions(verdicts=frozenset({Verdict.PARAPHRASE}))
    assert ids(Cascade(DEFAULTS).decide(post(), candidates, top_k=1, keep=options.keeps)) == ["meaning"]


@pytest.mark.parametrize(("floor", "kept"), [(1.4, True), (1.5, True), (1.6, False)])
def test_a_minimum_score_per_kind_drops_weaker_matches_of_that_kind(floor: float, kept: bool) -> None:
    candidates = [semantic("meaning", margin=1.5)]
    kind = classify(candidates[0]).kind  # type: ignore[union-attr]
    options = MatchOptions(min_scores={kind: floor, Verdict.REUPLOAD: 2.0})
    result = Cascade(DEFAULTS).decide(post(), candidates, top_k=10, keep=options.keeps)
    assert (ids(result) == ["meaning"]) is kept
    assert (result.verdict is Verdict.NO_MATCH) is not kept


def test_the_callers_filter_never_switches_suppression_off() -> None:
    options = MatchOptions(verdicts=frozenset({Verdict.REUPLOAD}))
    candidates = [exact("bad-1"), semantic("allow-1", margin=1.3, bank="allow")]
    result = Cascade(DEFAULTS).decide(post(), candidates, top_k=10, suppression=ALLOW, keep=options.keeps)
    assert (result.verdict, result.suppressed_by) == (Verdict.NO_MATCH, "allow-1")
