"""``make eval`` scores what the service answers: its scoring and ``Engine.match`` agree post for post.

The evaluation scores each query on the candidates ``Engine.candidates``
assembles and lets ``Cascade`` decide; the service's ``Engine.match`` does the
same with its own store, calibration and bank catalogue. Here both run on one
small bank with the real model and the shipped calibration, over re-uploads,
edits, translations and unrelated posts, and must give the same verdict,
the same matches in the same order, and the same scores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.scoring import CountingEmbedder, score_testset
from evaluation.testset import Query, Reference
from evaluation.testset import TestSet as EvalSet  # not "Test*": pytest would try to collect it
from service.core import (
    DEFAULT_CALIBRATION_DIR, BankPolicy, Cascade, Embedder, Engine, NewReference, Post, Verdict, load_calibration, pick_for_bank
)
from tests.support.factories import make_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (DEFAULT_CALIBRATION_DIR / "background.npz").exists(), reason="no shipped calibration"),
]

REFERENCES = [
    Reference("well-en", "en", "The new well in the lower village dried up after two weeks, and the women walk to the river again for water."),
    Reference("exam-ur", "ur", "بورڈ نے امتحانات ایک ہفتے کے لیے ملتوی کر دیے کیونکہ سیلاب کی وجہ سے کئی امتحانی مراکز بند ہیں۔"),
    Reference("road-ps", "ps", "د غره لاره د واورې له امله بنده شوه او د کلي خلک درې ورځې له ښار څخه پرې پاتې شول."),
    Reference("fuel-en", "en", "Fuel prices rose again on Monday, the third increase this month, and bus fares went up with them."),
]

QUERIES = [
    Query("q1", "the new WELL in the lower village dried up after two weeks,and the women walk to the river again for water!!", "en", Verdict.REUPLOAD, "well-en", "en"),
    Query("q2", "The new well in the lower village dried up after only two weeks, so the women walk to the river for water again.", "en", Verdict.NEAR_DUPLICATE, "well-en", "en"),
    Query("q3", "The board postponed the exams for a week because floods have closed many exam centres.", "en", Verdict.TRANSLATION, "exam-ur", "ur"),
    Query("q4", "پہاڑی راستہ برف کی وجہ سے بند ہو گیا اور گاؤں کے لوگ تین دن تک شہر سے کٹے رہے۔", "ur", Verdict.TRANSLATION, "road-ps", "ps"),
    Query("q5", "د تېلو بیې بیا د دوشنبې په ورځ لوړې شوې، دا په دې میاشت کې درېیم زیاتوالی دی او د بس کرایې هم ورسره لوړې شوې.", "ps", Verdict.TRANSLATION, "fuel-en", "en"),
    Query("q6", "The cricket team flew home on Sunday after winning the series in Colombo.", "en", Verdict.NO_MATCH),
    Query("q7", "شہر میں نئی لائبریری کا افتتاح ہوا اور بچوں کے لیے کہانیوں کی کتابیں رکھی گئیں۔", "ur", Verdict.NO_MATCH),
    Query("q8", "https://example.com 🙂", "en", Verdict.NO_MATCH),
]


def test_eval_scoring_and_engine_match_give_the_same_answers(tmp_path: Path, real_embedder: Embedder) -> None:
    calibration = load_calibration(make_config(tmp_path / "eval"), real_embedder.model_id)
    scored = score_testset(EvalSet("report", list(REFERENCES), list(QUERIES)), CountingEmbedder(real_embedder), calibration)
    # The thresholds the service picks for this bank, as evaluation/bank_sizes.py picks them.
    counts = {lang: sum(r.lang == lang for r in REFERENCES) for lang in ("en", "ur", "ps")}
    picked = pick_for_bank(calibration.thresholds, calibration.bank_curves, counts, BankPolicy(), calibration.overrides).thresholds
    cascade = Cascade(picked)
    by_eval = [s.decide(cascade) for s in scored.scored]

    engine = Engine.open(make_config(tmp_path / "var"), embedder=real_embedder)
    try:
        engine.curation.references.add([NewReference(text=r.text, id=r.id, lang=r.lang) for r in REFERENCES], actor="test")
        by_engine = engine.match([Post(q.id, q.text) for q in QUERIES])
        assert engine.thresholds == picked
    finally:
        engine.close()

    for q, mine, theirs in zip(QUERIES, by_eval, by_engine):
        assert (mine.post_id, mine.verdict, mine.detected_lang) == (theirs.post_id, theirs.verdict, theirs.detected_lang), q.id
        assert [(m.reference_id, m.kind, m.signal) for m in mine.matches] == [(m.reference_id, m.kind, m.signal) for m in theirs.matches], q.id
        assert [m.score for m in mine.matches] == pytest.approx([m.score for m in theirs.matches], abs=1e-5), q.id
    # The bank is small and the posts clear: the comparison is not between two empty answers.
    verdicts = {r.verdict for r in by_engine}
    assert {Verdict.REUPLOAD, Verdict.NEAR_DUPLICATE, Verdict.TRANSLATION, Verdict.NO_MATCH} <= verdicts, [r.verdict for r in by_engine]
