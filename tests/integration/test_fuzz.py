"""Bounded fuzzing of every RPC over a real channel: no INTERNAL, no stall, a healthy server after.

Each example is one hostile call (``tests/support/fuzzing.py``): random wire
bytes or a message with hostile field values, to a random RPC, with an admin
token so every handler is reached. ``bench/bench_fuzz.py`` runs the same
calls by the thousand and prints the counts per status code.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.api._generated.nigran.v1 import curation_pb2, matcher_pb2
from service.core import AuthConfig, ServerConfig
from tests.support.doubles import HashingEmbedder
from tests.support.fuzzing import ACCEPTABLE, METHODS, Fuzzer
from tests.support.grpc_harness import Running, start

TOKEN = "fuzz-admin-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    config = ServerConfig(host="127.0.0.1", port=0, auth=AuthConfig(tokens={TOKEN: "admin:fuzz"}))
    running = start(Path(tmp_path_factory.mktemp("fuzz")) / "var", HashingEmbedder(), server=config)
    running.curation.AddReferences(
        curation_pb2.AddReferencesRequest(references=[curation_pb2.ReferenceInput(id="known", text="a reference to match against")]),
        metadata=AUTH, timeout=30,
    )
    yield running
    running.close()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(METHODS))
def test_no_hostile_call_gets_internal_or_stalls(server: Running, seed: int, method: object) -> None:
    fuzzer = Fuzzer(server.channel, AUTH)
    code = fuzzer.call(method, random.Random(seed))  # type: ignore[arg-type]
    assert code in ACCEPTABLE, fuzzer.bad


def test_unauthenticated_hostile_calls_are_refused_not_failed(tmp_path: Path) -> None:
    # A server of its own: the refusals get this address throttled, which must not leak into the other tests.
    config = ServerConfig(host="127.0.0.1", port=0, auth=AuthConfig(tokens={TOKEN: "admin:fuzz"}))
    running = start(tmp_path / "var", HashingEmbedder(), server=config)
    try:
        fuzzer = Fuzzer(running.channel)
        codes = list(fuzzer.run(60, seed=7))
        # Authentication comes before decoding: garbage from a stranger is refused as a stranger's, never parsed.
        assert set(codes) <= {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.RESOURCE_EXHAUSTED}, fuzzer.codes
        assert grpc.StatusCode.UNAUTHENTICATED in codes
    finally:
        running.close()


def test_the_server_is_healthy_and_still_matches_afterwards(server: Running) -> None:
    assert server.health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
    request = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="p", text="a reference to match against")])
    [result] = server.matcher.Match(request, metadata=AUTH, timeout=30).results
    assert result.verdict == matcher_pb2.REUPLOAD and result.matches[0].reference_id == "known"
    with pytest.raises(grpc.RpcError) as err:
        server.matcher.Match(matcher_pb2.MatchRequest(), metadata=AUTH, timeout=10)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
