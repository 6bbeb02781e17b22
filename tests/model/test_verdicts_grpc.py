"""Each verdict over a real gRPC channel, with the real model and the shipped calibration.

The sentences are written for this test (three unrelated made-up events, each
in one language in the bank). Measured recall on real corpora is `make eval`'s
job; this checks that the shipped thresholds and margin background are loaded
and drive every branch of the cascade end to end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from service.api._generated.nigran.v1 import curation_pb2, matcher_pb2
from service.core import DEFAULT_CALIBRATION_DIR, Embedder
from tests.support.grpc_harness import Running, start

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (DEFAULT_CALIBRATION_DIR / "background.npz").exists(), reason="no shipped calibration"),
]

BANK = [
    ("flood-en", "en", "The river dam near the old bridge broke last night and the water flooded three villages, forcing families onto their roofs."),
    ("bazaar-ur", "ur", "شہر کے پرانے بازار میں کل دوپہر ایک گیس سلنڈر پھٹ گیا جس سے چھ دکانیں جل گئیں اور دو دکاندار زخمی ہوئے۔"),
    ("school-ps", "ps", "د کلي ښوونځي ته نوې کتابونه راغلل او ښوونکو وویل چې نجونې به له راتلونکې اونۍ څخه بېرته درس ته راشي."),
]

TRANSLATIONS = [
    # ur -> en
    ("ur>en", "پرانے پل کے قریب دریا کا بند کل رات ٹوٹ گیا اور پانی نے تین دیہات کو ڈبو دیا، خاندان اپنی چھتوں پر چڑھنے پر مجبور ہو گئے۔", "flood-en"),
    # ps -> en
    ("ps>en", "د زاړه پل سره نږدې د سیند بند پرون شپه مات شو او اوبو درې کلي ډوب کړل، کورنۍ دې ته اړ شوې چې بامونو ته وخیژي.", "flood-en"),
    # en -> ur
    ("en>ur", "A gas cylinder exploded yesterday afternoon in the city's old bazaar, burning six shops and injuring two shopkeepers.", "bazaar-ur"),
    # ps -> ur
    ("ps>ur", "پرون غرمه د ښار په زاړه بازار کې د ګازو یو سلنډر وچاودېد چې شپږ دوکانونه یې وسوځول او دوه دوکانداران ټپيان شول.", "bazaar-ur"),
    # en -> ps
    ("en>ps", "New books arrived at the village school and the teachers said the girls will come back to class from next week.", "school-ps"),
    # ur -> ps
    ("ur>ps", "گاؤں کے اسکول میں نئی کتابیں آ گئیں اور اساتذہ نے کہا کہ لڑکیاں اگلے ہفتے سے دوبارہ کلاس میں آئیں گی۔", "school-ps"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, real_embedder: Embedder) -> Iterator[Running]:
    running = start(Path(tmp_path_factory.mktemp("verdicts")) / "var", real_embedder)
    running.curation.CreateBank(curation_pb2.CreateBankRequest(name="demo"), timeout=10)
    running.curation.AddReferences(
        curation_pb2.AddReferencesRequest(
            references=[curation_pb2.ReferenceInput(id=i, text=t, lang=lang, bank="demo") for i, lang, t in BANK]
        ),
        timeout=60,
    )
    yield running
    running.close()


def test_shipped_calibration_is_loaded(server: Running) -> None:
    engine = server.nigran.engine()
    assert engine.calibration.background is not None
    assert engine.thresholds.translation_margin_by_pair, engine.thresholds.source


def test_reupload_with_surface_variants(server: Running) -> None:
    ur = BANK[1][2]
    variants = [
        # Arabic ي/ك, tatweel, harakat, ZWNJ, RLM, emoji, hashtag, URL, "Forwarded" wrapper
        "Forwarded\n\u200f" + ur.replace("ی", "ي").replace("ک", "ك").replace("بازار", "بـــازار").replace("شہر", "شَہر") + " 🔥🔥 #خبر https://t.me/x/1",
        # ہ as ه, Extended digits, punctuation and whitespace, a mention and an RT wrapper
        "RT @khabar24: " + ur.replace("ہ", "ه").replace("۔", "!!").replace(" ", "  ") + " @someone",
        BANK[0][2].upper().replace(",", " ,") + " 😡 www.example.com",
    ]
    for result, expected in zip(server.match(*variants), ("bazaar-ur", "bazaar-ur", "flood-en")):
        assert result.verdict == matcher_pb2.REUPLOAD, (expected, result)
        assert result.matches[0].reference_id == expected
        assert result.matches[0].signal == matcher_pb2.EXACT


def test_near_duplicate_edits(server: Running) -> None:
    edits = [
        ("Share this before they delete it! " + BANK[0][2].replace(" last night", ""), "flood-en"),
        ("شہر کے پرانے بازار میں ایک گیس سلنڈر پھٹ گیا جس سے چھ دکانیں جل گئیں", "bazaar-ur"),
        (BANK[2][2] + " دا پیغام ټولو ته ورسوئ.", "school-ps"),
    ]
    for result, (_, expected) in zip(server.match(*[t for t, _ in edits]), edits):
        assert result.verdict == matcher_pb2.NEAR_DUPLICATE, (expected, result)
        assert result.matches[0].reference_id == expected
        assert result.matches[0].signal == matcher_pb2.LEXICAL


@pytest.mark.parametrize("pair,text,expected", TRANSLATIONS, ids=[t[0] for t in TRANSLATIONS])
def test_translation(server: Running, pair: str, text: str, expected: str) -> None:
    (result,) = server.match(text)
    assert result.verdict == matcher_pb2.TRANSLATION, result
    assert result.matches[0].reference_id == expected
    assert result.matches[0].signal == matcher_pb2.SEMANTIC


PARAPHRASES = [
    ("en", "After the river dam by the old bridge collapsed in the night, floodwater covered three villages and families fled to their rooftops.", "flood-en"),
    ("en", "Three villages were flooded after the dam close to the old bridge burst overnight, leaving families stranded on rooftops.", "flood-en"),
    ("ur", "کل دوپہر پرانے شہر کے بازار میں گیس کا سلنڈر پھٹنے سے چھ دکانوں کو آگ لگ گئی اور دو دکاندار زخمی ہو گئے۔", "bazaar-ur"),
]


@pytest.mark.parametrize("lang,text,expected", PARAPHRASES, ids=[f"{p[0]}-{i}" for i, p in enumerate(PARAPHRASES)])
def test_paraphrase_in_the_same_language(server: Running, lang: str, text: str, expected: str) -> None:
    (result,) = server.match(text)
    assert result.verdict == matcher_pb2.PARAPHRASE, result
    assert result.detected_lang == lang and result.matches[0].reference_id == expected
    assert result.matches[0].signal == matcher_pb2.SEMANTIC


def test_same_topic_news_and_short_posts_are_no_match(server: Running) -> None:
    posts = [
        # Same events, different news.
        "Rescue boats reached the flooded villages this morning and officials promised compensation for lost crops.",
        "بازار میں آگ لگنے کے بعد تاجروں نے حکومت سے گیس سلنڈروں کی جانچ کا مطالبہ کیا۔",
        "د ښوونځي مدیر وویل چې د زده کوونکو لپاره نوې څوکۍ هم په کار دي.",
        # Very short posts.
        "ok",
        "بہت خوب",
        "ښه",
    ]
    for text, result in zip(posts, server.match(*posts)):
        assert result.verdict == matcher_pb2.NO_MATCH, (text, result)


COMPARED = [(text, expected) for _, text, expected in TRANSLATIONS] + [(text, expected) for _, text, expected in PARAPHRASES] + [
    ("Rescue boats reached the flooded villages this morning and officials promised compensation for lost crops.", "flood-en"),
    ("بازار میں آگ لگنے کے بعد تاجروں نے حکومت سے گیس سلنڈروں کی جانچ کا مطالبہ کیا۔", "bazaar-ur"),
]


@pytest.mark.parametrize("text,reference", COMPARED, ids=[f"{i}-{r}" for i, (_, r) in enumerate(COMPARED)])
def test_compare_gives_the_verdict_match_gives_and_shows_why(server: Running, text: str, reference: str) -> None:
    reference_text = next(t for i, _, t in BANK if i == reference)
    reply = server.matcher.Compare(matcher_pb2.CompareRequest(text_a=text, text_b=reference_text), timeout=60)
    (result,) = server.match(text)
    matched = any(m.reference_id == reference for m in result.matches)
    assert reply.verdict == (result.verdict if matched else matcher_pb2.NO_MATCH), (reply, result)
    scores = {s.measure: s for s in reply.signals}
    # The shipped calibration has a background: every measure applies to a pair in two supported languages.
    assert matcher_pb2.MEASURE_MARGIN in scores and matcher_pb2.MEASURE_COSINE in scores
    decisive = scores[reply.decided_by]
    assert decisive.cleared == (reply.verdict != matcher_pb2.NO_MATCH), reply
    if matched:
        assert scores[matcher_pb2.MEASURE_COSINE].score == pytest.approx(result.matches[0].cosine, abs=1e-4)
    assert (reply.lang_a, reply.lang_b) == (result.detected_lang, next(lang for i, lang, _ in BANK if i == reference))
    assert reply.fingerprint_a == result.fingerprint != ""


def test_language_tags_are_stored_as_the_short_code(server: Running) -> None:
    refs = [
        curation_pb2.ReferenceInput(id="tag-eng", text="A made-up notice about the night market opening hours.", lang="eng", bank="demo"),
        curation_pb2.ReferenceInput(id="tag-ur-pk", text="رات کے بازار کے اوقات کے بارے میں ایک فرضی اعلان۔", lang="ur-PK", bank="demo"),
        curation_pb2.ReferenceInput(id="tag-pbt", text="د شپې بازار د وخت په اړه یو جوړ شوی خبرتیا.", lang="pbt", bank="demo"),
    ]
    server.curation.AddReferences(curation_pb2.AddReferencesRequest(references=refs), timeout=60)
    try:
        stored = [server.curation.GetReference(curation_pb2.GetReferenceRequest(id=r.id), timeout=10).declared_lang for r in refs]
        assert stored == ["en", "ur", "ps"]
    finally:
        server.curation.RemoveReferences(curation_pb2.RemoveReferencesRequest(ids=[r.id for r in refs]), timeout=10)


def test_a_request_narrows_the_verdicts_it_gets(server: Running) -> None:
    text = TRANSLATIONS[0][1]  # ur -> flood-en
    post = [matcher_pb2.Post(id="p", text=text)]

    def verdict(**fields: object) -> matcher_pb2.PostResult:
        (result,) = server.matcher.Match(matcher_pb2.MatchRequest(posts=post, **fields), timeout=60).results  # type: ignore[arg-type]
        return result

    full = verdict()
    assert full.verdict == matcher_pb2.TRANSLATION
    assert verdict(verdicts=[matcher_pb2.TRANSLATION]).matches[0].reference_id == "flood-en"
    assert verdict(verdicts=[matcher_pb2.NEAR_DUPLICATE, matcher_pb2.PARAPHRASE]).verdict == matcher_pb2.NO_MATCH
    score = full.matches[0].score
    # Match.score is a float on the wire: just under it, not at it, whatever the rounding.
    at = [matcher_pb2.ScoreFloor(kind=matcher_pb2.TRANSLATION, min_score=score - 1e-5)]
    above = [matcher_pb2.ScoreFloor(kind=matcher_pb2.TRANSLATION, min_score=score + 1e-3)]
    assert verdict(min_scores=at).verdict == matcher_pb2.TRANSLATION
    assert verdict(min_scores=above).verdict == matcher_pb2.NO_MATCH
    # The bank's items carry no metadata, so a filter leaves no candidate.
    assert verdict(metadata_filter={"source": "telegram"}).verdict == matcher_pb2.NO_MATCH
