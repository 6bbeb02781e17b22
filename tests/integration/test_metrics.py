"""Prometheus metrics and the JSON access log, read the way an operator reads them: over HTTP, and from the log.

A real server (``create_server``) and channel, the engine opened with the
server's observer and a BatchingEmbedder around the HashingEmbedder double, as
``serve`` does with the real model. Before the fix (git b78e9e6) there was no
metrics endpoint and the access log was a plain line without request id,
actor, peer or post count.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2
from prometheus_client.parser import text_string_to_metric_families

from service.api._generated.nigran.v1 import curation_pb2, matcher_pb2
from service.api.server import create_server
from service.core import AuthConfig, Engine, ServerConfig
from service.core.embedding.batching import BatchingEmbedder
from service.core.observe import STAGES
from tests.support.doubles import HashingEmbedder
from tests.support.factories import make_config
from tests.support.grpc_harness import Running, code_of

pytestmark = pytest.mark.timeout(120)

CALL_TIMEOUT = 20.0
TOKEN = "metrics-admin-secret"
AUTH = [("authorization", f"Bearer {TOKEN}")]
MATCH = "/nigran.v1.Matcher/Match"
TEXTS = {
    "r1": "Our brothers will strike the checkpoint at the northern gate when the convoy passes on Friday night.",
    "r2": "Send money to the martyrs' fund through the usual shopkeeper in the old bazaar before Eid.",
    "r3": "Join the caravan at dawn; bring nothing that can be traced back to the village.",
}
UNRELATED = "The library opens at nine and the new reading room has a view of the harbour."

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def observed(data_dir: Path) -> Iterator[Running]:
    server = ServerConfig(
        host="127.0.0.1", port=0, metrics_port=0, json_access_log=True, max_concurrent_streams=1,
        auth=AuthConfig(tokens={TOKEN: "admin"}),
    )
    config = make_config(data_dir, server=server)
    nigran = create_server(config).start()
    running = Running(nigran)
    embedder = BatchingEmbedder(HashingEmbedder(), observer=nigran.observer)
    try:
        nigran.set_engine(Engine.open(config, embedder=embedder, observer=nigran.observer))
        yield running
    finally:
        running.close()
        embedder.close()


def scrape(running: Running) -> Samples:
    port = running.nigran.metrics_port
    assert port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=CALL_TIMEOUT) as reply:
        assert reply.status == 200
        text = reply.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def match(running: Running, *texts: str, metadata: list[tuple[str, str]] = AUTH) -> Any:
    request = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id=str(i), text=t) for i, t in enumerate(texts)])
    return running.matcher.Match(request, metadata=metadata, timeout=CALL_TIMEOUT)


def add_references(running: Running) -> None:
    refs = [curation_pb2.ReferenceInput(id=i, lang="en", text=t, bank="extra" if i == "r3" else "") for i, t in TEXTS.items()]
    running.curation.CreateBank(curation_pb2.CreateBankRequest(name="extra"), metadata=AUTH, timeout=CALL_TIMEOUT)
    running.curation.AddReferences(curation_pb2.AddReferencesRequest(references=refs), metadata=AUTH, timeout=CALL_TIMEOUT)


def hold_a_stream(running: Running, release: threading.Event) -> Iterator[Any]:
    """A MatchStream kept open (holding the one stream slot) until ``release`` is set."""

    def requests() -> Iterator[matcher_pb2.MatchRequest]:
        yield matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="s", text=UNRELATED)])
        release.wait(CALL_TIMEOUT)

    responses = running.matcher.MatchStream(requests(), metadata=AUTH, timeout=CALL_TIMEOUT)
    next(responses)
    return responses  # type: ignore[no-any-return]


def test_metrics_endpoint_shows_calls_stages_verdicts_batches_index_auth_and_rejections(observed: Running) -> None:
    add_references(observed)
    assert [r.verdict for r in match(observed, TEXTS["r1"], UNRELATED).results] == [matcher_pb2.REUPLOAD, matcher_pb2.NO_MATCH]
    assert match(observed, TEXTS["r3"]).results[0].verdict == matcher_pb2.REUPLOAD
    get_missing = observed.curation.GetReference
    assert code_of(lambda: get_missing(curation_pb2.GetReferenceRequest(id="nope"), metadata=AUTH, timeout=CALL_TIMEOUT)) is grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: match(observed, UNRELATED, metadata=[("authorization", "Bearer wrong")])) is grpc.StatusCode.UNAUTHENTICATED
    release = threading.Event()
    held = hold_a_stream(observed, release)
    try:
        second = observed.curation.ExportReferences(curation_pb2.ExportReferencesRequest(), metadata=AUTH, timeout=CALL_TIMEOUT)
        assert code_of(lambda: list(second)) is grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        release.set()
    assert list(held) == []
    observed.nigran.engine().snapshot()

    s = scrape(observed)
    # Requests by method and code, and latency histograms.
    assert value(s, "nigran_requests_total", method=MATCH, code="OK") == 2
    assert value(s, "nigran_requests_total", method=MATCH, code="UNAUTHENTICATED") == 1
    assert value(s, "nigran_requests_total", method="/nigran.v1.Curation/GetReference", code="NOT_FOUND") == 1
    assert value(s, "nigran_requests_total", method="/nigran.v1.Curation/ExportReferences", code="RESOURCE_EXHAUSTED") == 1
    assert value(s, "nigran_request_seconds_count", method=MATCH) == 3
    assert value(s, "nigran_request_seconds_bucket", method=MATCH, le="+Inf") == 3
    # Every stage of every match call (2 unary, 1 stream message).
    assert {stage: value(s, "nigran_match_stage_seconds_count", stage=stage) for stage in STAGES} == {stage: 3 for stage in STAGES}
    # Posts by verdict; matches by verdict, bank and signal.
    assert value(s, "nigran_posts_total", verdict="REUPLOAD") == 2
    assert value(s, "nigran_posts_total", verdict="NO_MATCH") == 2
    assert value(s, "nigran_matches_total", verdict="REUPLOAD", bank="default", signal="EXACT") == 1
    assert value(s, "nigran_matches_total", verdict="REUPLOAD", bank="extra", signal="EXACT") == 1
    # Encoder batches: every text embedded went through one: 3 references, then
    # the unrelated posts of the first call and of the stream. The two exact
    # re-uploads were settled by their fingerprint, without the model.
    assert (value(s, "nigran_embed_batch_size_sum"), value(s, "nigran_embed_batch_size_count")) == (5, 3)
    assert value(s, "nigran_fast_path_posts_total") == 2
    assert value(s, "nigran_index_size") == 3
    age = value(s, "nigran_snapshot_age_seconds")
    assert age is not None and 0 <= age < 60
    assert value(s, "nigran_auth_failures_total", reason="unknown token") == 1
    assert value(s, "nigran_rejected_total", kind="stream") == 1


ACCESS_FIELDS = {"request_id", "method", "status", "ms", "actor", "peer", "posts"}


def test_json_access_log_writes_one_object_per_call(observed: Running, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="nigran.access")
    add_references(observed)
    match(observed, TEXTS["r1"], UNRELATED, metadata=[*AUTH, ("x-request-id", "req-from-the-platform-42")])
    match(observed, TEXTS["r2"])
    assert code_of(lambda: match(observed, UNRELATED, metadata=[("authorization", "Bearer wrong")])) is grpc.StatusCode.UNAUTHENTICATED
    observed.health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT)

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "nigran.access"]
    # CreateBank, AddReferences, three Match calls; health checks are not logged.
    assert [(line["method"].rsplit("/", 1)[-1], line["status"]) for line in lines] == [
        ("CreateBank", "OK"), ("AddReferences", "OK"), ("Match", "OK"), ("Match", "OK"), ("Match", "UNAUTHENTICATED"),
    ]
    assert all(ACCESS_FIELDS <= set(line) for line in lines), lines
    carried = [line for line in lines if line["request_id"] == "req-from-the-platform-42"]
    assert len(carried) == 1
    assert carried[0]["actor"] == "admin:admin" and carried[0]["posts"] == 2 and "127.0.0.1" in carried[0]["peer"]
    assert isinstance(carried[0]["ms"], (int, float)) and carried[0]["ms"] >= 0
    # Calls without one get an id of their own, distinct per call.
    assert len({line["request_id"] for line in lines}) == len(lines) and all(line["request_id"] for line in lines)
    assert lines[-1]["actor"] == "anonymous" and TOKEN not in caplog.text and "wrong" not in json.dumps(lines)
