"""The API conveniences over a real gRPC channel: Compare's refusals, per-request controls, roll-out shares, language tags.

A real server, SQLite store and FAISS index with the hashing test double:
these tests are about what the API does with the request, not matching
quality (the real model's answers to Compare and the controls are in
``tests/model/test_verdicts_grpc.py``).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Callable, Iterator

import grpc
import pytest

from service.api._generated.nigran.v1 import curation_pb2, matcher_pb2
from service.api.status import field_violations
from service.core import prepare_text
from service.core.config import MatchLogConfig
from service.core.matching.rollout import in_share
from tests.support.doubles import HashingEmbedder
from tests.support.grpc_harness import Client, start_client

# 48 sentences; those far apart in this list (the first and the last) share no phrase.
_SUBJECTS = ["The convoy", "A shepherd", "The council", "Two nurses", "The ferry", "A teacher"]
_VERBS = ["crossed the frozen river", "repaired the village well", "counted the spring harvest", "opened the night market"]
_TIMES = ["before dawn on Friday.", "after the long storm."]
SENTENCES = [f"{s} {v} {t}" for s, v, t in itertools.product(_SUBJECTS, _VERBS, _TIMES)]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    running = start_client(tmp_path / "var", HashingEmbedder())
    yield running
    running.close()


def refused(call: Callable[[], Any]) -> list[tuple[str, str]]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT, raised.value.details()
    return field_violations(raised.value)


def match(client: Client, *texts: str, **fields: Any) -> list[matcher_pb2.PostResult]:
    request = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id=str(i), text=t) for i, t in enumerate(texts)], **fields)
    return list(client.running.matcher.Match(request, timeout=60).results)


def test_compare_over_a_channel_and_its_refusals(client: Client) -> None:
    matcher = client.running.matcher
    reply = matcher.Compare(matcher_pb2.CompareRequest(text_a=SENTENCES[0].upper(), text_b=SENTENCES[0]), timeout=60)
    assert reply.verdict == matcher_pb2.REUPLOAD and reply.decided_by == matcher_pb2.MEASURE_FINGERPRINT
    assert [f for f, _ in refused(lambda: matcher.Compare(matcher_pb2.CompareRequest(text_b="x"), timeout=10))] == ["text_a"]


def test_per_request_controls_over_a_channel(client: Client) -> None:
    refs = [
        curation_pb2.ReferenceInput(id="tg", text=SENTENCES[0], metadata={"source": "telegram"}),
        curation_pb2.ReferenceInput(id="web", text=SENTENCES[-1], metadata={"source": "web"}),
    ]
    client.call("AddReferences", curation_pb2.AddReferencesRequest(references=refs))
    assert [r.verdict for r in match(client, SENTENCES[0], SENTENCES[-1])] == [matcher_pb2.REUPLOAD] * 2
    by_source = match(client, SENTENCES[0], SENTENCES[-1], metadata_filter={"source": "web"})
    assert [[m.reference_id for m in r.matches] for r in by_source] == [[], ["web"]]
    only_meaning = match(client, SENTENCES[0], verdicts=[matcher_pb2.TRANSLATION, matcher_pb2.PARAPHRASE])
    assert only_meaning[0].verdict == matcher_pb2.NO_MATCH
    floors = [matcher_pb2.ScoreFloor(kind=matcher_pb2.REUPLOAD, min_score=1.0)]
    assert match(client, SENTENCES[0], min_scores=floors)[0].verdict == matcher_pb2.REUPLOAD
    violations = refused(lambda: match(client, "x", verdicts=[matcher_pb2.NO_MATCH]))
    assert [f for f, _ in violations] == ["verdicts"]


def test_a_bank_rolled_out_to_a_share_of_posts(client: Client) -> None:
    bank = client.bank("trial", match_share=0.3)
    assert bank.match_share == pytest.approx(0.3)
    client.add("trial", *((f"r{i}", "en", text) for i, text in enumerate(SENTENCES)))
    results = match(client, *SENTENCES)
    matched = {r.post_id for r in results if r.verdict == matcher_pb2.REUPLOAD}
    # Exactly the posts whose fingerprint falls in the bank's share, and the same ones on every call.
    assert matched == {r.post_id for r in results if in_share("trial", r.fingerprint, 0.3)}
    assert 0 < len(matched) < len(SENTENCES)
    assert {r.post_id for r in match(client, *SENTENCES) if r.verdict == matcher_pb2.REUPLOAD} == matched
    widened = client.call("UpdateBank", curation_pb2.UpdateBankRequest(name="trial", match_share=1.0))
    assert widened.match_share == 1.0
    assert all(r.verdict == matcher_pb2.REUPLOAD for r in match(client, *SENTENCES))
    violations = refused(lambda: client.call("UpdateBank", curation_pb2.UpdateBankRequest(name="trial", match_share=2.0)))
    assert [f for f, _ in violations] == ["match_share"]


def test_language_tags_over_a_channel(client: Client) -> None:
    client.add("default", ("ps-item", "pus", SENTENCES[2]), ("en-item", "en-GB", SENTENCES[3]))
    langs = [client.call("GetReference", curation_pb2.GetReferenceRequest(id=i)).declared_lang for i in ("ps-item", "en-item")]
    assert langs == ["ps", "en"]
    french = curation_pb2.AddReferencesRequest(references=[curation_pb2.ReferenceInput(text=SENTENCES[4], lang="fra")])
    [(field, why)] = refused(lambda: client.call("AddReferences", french))
    assert field == "references[0].lang" and "ur-PK" in why


def test_hash_only_references_over_a_channel(client: Client) -> None:
    shared = prepare_text(SENTENCES[5]).fingerprint  # what a partner computes and sends instead of the text
    item = curation_pb2.ReferenceInput(id="partner-1", fingerprint=shared, bank="default", labels=["org:partner"])
    client.call("AddReferences", curation_pb2.AddReferencesRequest(references=[item]))
    stored = client.call("GetReference", curation_pb2.GetReferenceRequest(id="partner-1"))
    assert (stored.text, stored.fingerprint) == ("", shared)
    [copy] = match(client, SENTENCES[5].upper() + " 🔥 https://t.me/x/1")
    assert copy.verdict == matcher_pb2.REUPLOAD and copy.matches[0].reference_id == "partner-1"
    assert copy.fingerprint == shared
    exported = list(client.running.curation.ExportReferences(curation_pb2.ExportReferencesRequest(), timeout=60))
    assert [(r.id, r.text, r.fingerprint) for r in exported] == [("partner-1", "", shared)]
    both = curation_pb2.ReferenceInput(text=SENTENCES[6], fingerprint=shared)
    [(field, _)] = refused(lambda: client.call("AddReferences", curation_pb2.AddReferencesRequest(references=[both])))
    assert field == "references[0].fingerprint"


def test_the_review_queue_over_a_channel(tmp_path: Path) -> None:
    logging_client = start_client(tmp_path / "logged", HashingEmbedder(), match_log=MatchLogConfig(enabled=True))
    try:
        logging_client.add("default", ("flood", "en", SENTENCES[0]), ("market", "en", SENTENCES[-1]))
        match(logging_client, SENTENCES[0].upper(), SENTENCES[-1] + " #news", "nothing of the kind at all")
        curation = logging_client.running.curation
        queue = curation.ListMatchLog(curation_pb2.ListMatchLogRequest(), timeout=10)
        assert sorted((e.post_id, e.match.reference_id) for e in queue.entries) == [("0", "flood"), ("1", "market")]
        assert {e.post_text for e in queue.entries} == {SENTENCES[0].upper(), SENTENCES[-1] + " #news"}
        verdict = curation_pb2.ReportMatchRequest(reference_id="flood", post_id="0", verdict=curation_pb2.FALSE_POSITIVE)
        curation.ReportMatch(verdict, timeout=10)
        left = curation.ListMatchLog(curation_pb2.ListMatchLogRequest(), timeout=10)
        assert [e.post_id for e in left.entries] == ["1"]
        reviewed = curation.ListMatchLog(curation_pb2.ListMatchLogRequest(include_reviewed=True, verdict=matcher_pb2.REUPLOAD), timeout=10)
        assert {e.post_id: e.review for e in reviewed.entries}["0"] == curation_pb2.FALSE_POSITIVE
        [(field, _)] = refused(lambda: curation.ListMatchLog(curation_pb2.ListMatchLogRequest(verdict=matcher_pb2.NO_MATCH), timeout=10))
        assert field == "verdict"
    finally:
        logging_client.close()
