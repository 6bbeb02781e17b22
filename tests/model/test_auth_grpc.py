"""Bearer-token roles over a real gRPC channel."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from service.api._generated.nigran.v1 import curation_pb2
from service.core import AuthConfig, Embedder, ServerConfig
from tests.support.grpc_harness import code_of, start_client

pytestmark = pytest.mark.slow

TOKENS = {"cur-secret": "curator:ann", "match-secret": "matcher:pipeline", "admin-secret": "admin"}
TEXT = "ہمارے بھائی جمعہ کی رات قافلہ گزرنے پر شمالی دروازے کی چوکی پر حملہ کریں گے۔"


def test_roles_and_tokens(data_dir: Path, real_embedder: Embedder) -> None:
    server = ServerConfig(host="127.0.0.1", port=0, auth=AuthConfig(tokens=TOKENS))
    client = start_client(data_dir, real_embedder, server=server)
    try:
        def add(token: str | None, ref_id: str) -> grpc.StatusCode:
            client.token = token
            return code_of(lambda: client.add("", (ref_id, "ur", TEXT + ref_id)))

        def match(token: str | None) -> grpc.StatusCode:
            client.token = token
            return code_of(lambda: client.match(TEXT))

        assert add(None, "a") is grpc.StatusCode.UNAUTHENTICATED
        assert add("wrong", "a") is grpc.StatusCode.UNAUTHENTICATED
        assert add("match-secret", "a") is grpc.StatusCode.PERMISSION_DENIED
        assert add("cur-secret", "a") is grpc.StatusCode.OK
        assert add("admin-secret", "b") is grpc.StatusCode.OK
        assert match(None) is grpc.StatusCode.UNAUTHENTICATED
        assert match("wrong") is grpc.StatusCode.UNAUTHENTICATED
        assert match("cur-secret") is grpc.StatusCode.OK  # analysts try posts (the console)
        assert match("match-secret") is grpc.StatusCode.OK
        assert match("admin-secret") is grpc.StatusCode.OK
        client.token = "match-secret"
        assert code_of(lambda: client.call("ListBanks", curation_pb2.ListBanksRequest())) is grpc.StatusCode.PERMISSION_DENIED
        # The actor recorded is the token's role and name.
        client.token = "cur-secret"
        assert client.call("GetReference", curation_pb2.GetReferenceRequest(id="a")).added_by == "curator:ann"
        assert client.call("QueryAudit", curation_pb2.QueryAuditRequest(target="b")).entries[0].actor == "admin:admin"
        # Health stays open for load balancers.
        reply = client.running.health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        client.close()
