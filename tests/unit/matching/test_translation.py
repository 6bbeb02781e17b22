"""The translation scorer's features, its configuration, and how the cascade uses it."""

from __future__ import annotations

import math

import pytest

from service.core import Bank, Candidate, Cascade, ConfigError, Neighbourhoods, PostFeatures, ReferenceItem, ReferenceState, Signal, Thresholds, Verdict, canonical_form, features
from service.core.curation.banks import bank_thresholds

NB = Neighbourhoods(post=0.80, reference=0.80, post_own=0.85, reference_own=0.85)
EN = canonical_form("The market in Peshawar will reopen on 12 March.")
UR = canonical_form("پشاور کا بازار 12 مارچ کو دوبارہ کھلے گا۔")
UR_OTHER_NUMBER = canonical_form("پشاور کا بازار 14 مارچ کو دوبارہ کھلے گا۔")


def test_numbers_that_agree_and_numbers_that_differ() -> None:
    same = features(0.9, NB, UR, EN, 0.0)
    differ = features(0.9, NB, UR_OTHER_NUMBER, EN, 0.0)
    assert (same["numbers_shared"], same["numbers_differ"]) == (1.0, 0.0)
    assert (differ["numbers_shared"], differ["numbers_differ"]) == (0.0, 1.0)
    none = features(0.9, NB, canonical_form("کوئی عدد نہیں"), canonical_form("no number here"), 0.0)
    assert (none["numbers_shared"], none["numbers_differ"]) == (0.0, 0.0)


def test_length_mismatch_is_measured_from_the_pair_s_usual_ratio() -> None:
    ratio = math.log((len(UR) + 1) / (len(EN) + 1))
    assert features(0.9, NB, UR, EN, ratio)["length_mismatch"] == pytest.approx(0.0)
    assert features(0.9, NB, UR, EN * 3, ratio)["length_mismatch"] > 0.9


def test_unknown_weight_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="translation_weights"):
        Thresholds(translation_weights={"cosinus": 1.0})
    with pytest.raises(ConfigError, match="translation_score_by_pair"):
        Thresholds(translation_score_by_pair={"ur-en": 0.9})


def _item(lang: str, text: str) -> ReferenceItem:
    canonical = canonical_form(text)
    return ReferenceItem(
        vid=0, id=f"ref-{lang}", text=text, canonical=canonical, fingerprint=f"fp-{lang}", declared_lang=lang,
        detected_lang=lang, bank="b", labels=(), metadata={}, added_by="t", created_at=0.0, updated_at=0.0,
        state=ReferenceState.ACTIVE,
    )


def test_the_scorer_decides_cross_language_candidates_and_reports_its_score() -> None:
    # Weights written for this test: cosine counts, differing numbers count against.
    thresholds = Thresholds(
        translation_cosine=0.5, translation_margin=9.0,
        translation_weights={"cosine": 20.0, "numbers_differ": -10.0, "bias": -16.0},
        translation_score_by_pair={"ur>en": 0.6},
    )
    cascade = Cascade(thresholds)
    reference = _item("en", "The market in Peshawar will reopen on 12 March.")
    for text, expected in ((UR, Verdict.TRANSLATION), (UR_OTHER_NUMBER, Verdict.NO_MATCH)):
        post = PostFeatures("p", text, "fp-post", "ur")
        result = cascade.decide(post, [Candidate(reference, cosine=0.9, margin=1.0, neighbourhoods=NB)], top_k=3)
        assert result.verdict is expected
    match = cascade.classify(PostFeatures("p", UR, "fp-post", "ur"), Candidate(reference, 0.9, 1.0, neighbourhoods=NB))
    assert match is not None and match.signal is Signal.SEMANTIC
    assert match.score == pytest.approx(1 / (1 + math.exp(-(20.0 * 0.9 - 16.0)))) and match.cosine == 0.9


def test_same_language_candidates_keep_the_margin_rule() -> None:
    thresholds = Thresholds(
        translation_cosine=0.5, translation_margin=1.05,
        translation_weights={"cosine": -100.0, "bias": 0.0},
    )
    reference = _item("en", "The market in Peshawar will reopen on 12 March.")
    post = PostFeatures("p", canonical_form("Peshawar's bazaar opens again on the 12th of March."), "fp-post", "en")
    match = Cascade(thresholds).classify(post, Candidate(reference, cosine=0.9, margin=1.1, neighbourhoods=NB))
    assert match is not None and match.kind is Verdict.PARAPHRASE and match.score == 1.1


def test_a_bank_s_own_margin_or_score_replaces_the_calibrated_ones() -> None:
    defaults = Thresholds(
        translation_weights={"cosine": 1.0, "bias": 0.0}, translation_score_by_pair={"ur>en": 0.9},
        translation_margin_by_pair={"ur>en": 1.05},
    )
    by_margin = bank_thresholds(defaults, Bank(name="b", thresholds={"translation_margin": 1.2}))
    assert not by_margin.translation_weights and by_margin.translation_margin_for("ur", "en") == 1.2
    by_score = bank_thresholds(defaults, Bank(name="b", thresholds={"translation_score": 0.99}))
    assert by_score.translation_weights and by_score.translation_score_for("ur", "en") == 0.99
