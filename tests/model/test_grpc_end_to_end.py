"""The whole path over a real gRPC channel: real model, real FAISS, real SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.api._generated.nigran.v1 import curation_pb2, matcher_pb2, matcher_pb2_grpc
from service.api.server import create_server
from service.api.status import field_violations
from service.core import Embedder, Engine
from tests.support.factories import REFERENCES, make_config
from tests.support.grpc_harness import Running, start

pytestmark = pytest.mark.slow


@pytest.fixture
def server(data_dir: Path, real_embedder: Embedder) -> Iterator[Running]:
    running = start(data_dir, real_embedder)
    running.curation.CreateBank(curation_pb2.CreateBankRequest(name="demo"), timeout=10)
    reply = running.curation.AddReferences(
        curation_pb2.AddReferencesRequest(
            references=[
                curation_pb2.ReferenceInput(id=i, text=t, lang=lang, bank="demo", labels=["org:example", "type:call-to-violence"])
                for i, lang, t in REFERENCES
            ]
        ),
        timeout=60,
    )
    assert list(reply.ids) == [r[0] for r in REFERENCES]
    yield running
    running.close()


def test_health_is_not_serving_until_engine_loads(data_dir: Path, real_embedder: Embedder) -> None:
    config = make_config(data_dir)
    nigran = create_server(config).start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{nigran.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.NOT_SERVING
            with pytest.raises(grpc.RpcError) as err:
                matcher_pb2_grpc.MatcherStub(channel).Match(
                    matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="1", text="hello")]), timeout=5
                )
            assert err.value.code() is grpc.StatusCode.UNAVAILABLE
            nigran.set_engine(Engine.open(config, embedder=real_embedder))
            for service in ("", "nigran.v1.Matcher", "nigran.v1.Curation"):
                reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        nigran.stop(0)


@pytest.mark.parametrize("ref_id", [r[0] for r in REFERENCES])
def test_exact_copy_is_reupload(server: Running, ref_id: str) -> None:
    text = dict((r[0], r[2]) for r in REFERENCES)[ref_id]
    [result] = server.match(text)
    assert result.verdict == matcher_pb2.REUPLOAD
    top = result.matches[0]
    assert top.reference_id == ref_id and top.signal == matcher_pb2.EXACT
    assert top.bank == "demo" and list(top.labels) == ["org:example", "type:call-to-violence"]


def test_lightly_edited_copies_are_near_duplicates(server: Running) -> None:
    results = server.match(
        "BREAKING: our brothers will strike the checkpoint at the northern gate when the convoy passes on Saturday night",
        "ہمارے بھائی جمعہ کی رات قافلہ گزرنے پر شمالی دروازے کی چوکی پر زبردست حملہ کریں گے",
        "زموږ ورونه به د جمعې په شپه د شمالي دروازې پر پوسته برید وکړي",
    )
    for result, ref_id in zip(results, ["en-1", "ur-1", "ps-1"]):
        assert result.verdict == matcher_pb2.NEAR_DUPLICATE, result
        assert result.matches[0].reference_id == ref_id


def test_unrelated_posts_do_not_match(server: Running) -> None:
    results = server.match(
        "The city council approved a new budget for public libraries and parks this week.",
        "آج لاہور میں موسم خوشگوار رہا اور شام کو ہلکی بارش ہوئی۔",
        "د کابل پوهنتون زده کوونکو د کتابونو نندارتون جوړ کړ.",
    )
    assert [r.verdict for r in results] == [matcher_pb2.NO_MATCH] * 3


def test_match_stream_answers_each_request(server: Running) -> None:
    requests = [matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id=f"s{i}", text=REFERENCES[i][2])]) for i in range(3)]
    replies = list(server.matcher.MatchStream(iter(requests), timeout=60))
    assert [r.results[0].post_id for r in replies] == ["s0", "s1", "s2"]
    assert all(r.results[0].verdict == matcher_pb2.REUPLOAD for r in replies)


def test_error_statuses_name_the_field(server: Running) -> None:
    with pytest.raises(grpc.RpcError) as err:
        server.match("fine", "")
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value) == [("posts[1].text", "must not be empty")]
    limit = server.nigran.config.limits.max_posts_per_request
    with pytest.raises(grpc.RpcError) as err:
        server.match(*["x"] * (limit + 1))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "posts" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        server.curation.GetReference(curation_pb2.GetReferenceRequest(id="nope"), timeout=10)
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        server.curation.AddReferences(
            curation_pb2.AddReferencesRequest(references=[curation_pb2.ReferenceInput(id="en-1", text="again")]), timeout=10
        )
    assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS
    # The server is still healthy after all of that.
    assert server.match(REFERENCES[0][2])[0].verdict == matcher_pb2.REUPLOAD


def test_oversized_message_is_refused_not_fatal(server: Running) -> None:
    big = "x" * (server.nigran.config.limits.max_message_bytes + 10)
    with pytest.raises(grpc.RpcError) as err:
        server.match(big)
    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert server.match(REFERENCES[1][2])[0].verdict == matcher_pb2.REUPLOAD


def test_references_persist_across_restart(data_dir: Path, real_embedder: Embedder, server: Running) -> None:
    server.curation.RemoveReferences(curation_pb2.RemoveReferencesRequest(ids=["ur-1"]), timeout=10)
    server.close()
    again = start(data_dir, real_embedder)
    try:
        got = again.curation.GetReference(curation_pb2.GetReferenceRequest(id="ps-1"), timeout=10)
        assert got.text == REFERENCES[2][2] and got.bank == "demo" and got.declared_lang == "ps"
        assert again.match(REFERENCES[2][2])[0].verdict == matcher_pb2.REUPLOAD
        assert all(m.reference_id != "ur-1" for m in again.match(REFERENCES[1][2])[0].matches)
    finally:
        again.close()


def test_reflection_lists_the_services(server: Running) -> None:
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    services = set(ProtoReflectionDescriptorDatabase(server.channel).get_services())
    assert {"nigran.v1.Matcher", "nigran.v1.Curation", "grpc.health.v1.Health"} <= services
