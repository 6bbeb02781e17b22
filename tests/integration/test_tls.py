"""TLS, mTLS and exposure over real gRPC: the server, a plain grpc client and the ``nigran`` CLI.

Certificates are made per module with the ``openssl`` command line
(``tests/support/tls.py``). Regression tests for what an outside tester found;
before the fix (git b78e9e6) the server had no TLS setting at all (every port
was plaintext), the CLI had no ``--ca-cert``, and any host could be bound
with authentication off.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from service.api._generated.nigran.v1 import (
    curation_pb2,
    curation_pb2_grpc,
    matcher_pb2,
    matcher_pb2_grpc,
)
from service.api.server import NigranServer, create_server
from service.cli import build_parser, run
from service.core import AuthConfig, ConfigError, Engine, ServerConfig
from service.core.config import TlsConfig
from tests.support.doubles import HashingEmbedder
from tests.support.factories import make_config
from tests.support.tls import Pki, make_pki

pytestmark = pytest.mark.timeout(120)

CALL_TIMEOUT = 20.0
# A refused handshake fails at once; the deadline only bounds a hang.
REFUSED_TIMEOUT = 5.0
TEXT = "Our brothers will strike the checkpoint at the northern gate when the convoy passes on Friday night."


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_server(data_dir: Path, pki: Pki, *, mtls: bool = False, ready: bool = True) -> NigranServer:
    tls = TlsConfig(cert_file=pki.server_cert, key_file=pki.server_key, client_ca_file=pki.ca if mtls else None)
    config = make_config(data_dir, server=ServerConfig(host="127.0.0.1", port=0, tls=tls))
    nigran = create_server(config).start()
    if ready:
        nigran.set_engine(Engine.open(config, embedder=HashingEmbedder()))
    return nigran


@pytest.fixture
def server(data_dir: Path, pki: Pki) -> Iterator[NigranServer]:
    nigran = tls_server(data_dir, pki)
    yield nigran
    nigran.stop(0)


@pytest.fixture
def mtls_server(data_dir: Path, pki: Pki) -> Iterator[NigranServer]:
    nigran = tls_server(data_dir, pki, mtls=True)
    yield nigran
    nigran.stop(0)


def channel(nigran: NigranServer, ca: Path | None, cert: Path | None = None, key: Path | None = None) -> grpc.Channel:
    """Plaintext without a CA; TLS trusting ``ca``, showing ``cert`` when given. Each on a connection of its own."""
    target, options = f"127.0.0.1:{nigran.port}", [("grpc.use_local_subchannel_pool", 1)]
    if ca is None:
        return grpc.insecure_channel(target, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
    return grpc.secure_channel(target, credentials, options=options)


def round_trip(ch: grpc.Channel, timeout: float = CALL_TIMEOUT) -> grpc.StatusCode:
    """Bank an item and match it back: what a client does, on this channel."""
    ref = curation_pb2.ReferenceInput(lang="en", text=TEXT)
    post = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="p", text=TEXT)])
    try:
        with ch:
            curation_pb2_grpc.CurationStub(ch).AddReferences(curation_pb2.AddReferencesRequest(references=[ref]), timeout=timeout)
            reply = matcher_pb2_grpc.MatcherStub(ch).Match(post, timeout=timeout)
    except grpc.RpcError as err:
        return err.code()
    assert reply.results[0].verdict == matcher_pb2.REUPLOAD
    return grpc.StatusCode.OK


def test_tls_server_answers_a_client_that_trusts_its_ca_and_refuses_plaintext(server: NigranServer, pki: Pki) -> None:
    assert round_trip(channel(server, pki.ca)) is grpc.StatusCode.OK
    assert round_trip(channel(server, None), REFUSED_TIMEOUT) is grpc.StatusCode.UNAVAILABLE
    # A client that trusts another CA does not accept this server.
    assert round_trip(channel(server, pki.stranger_cert), REFUSED_TIMEOUT) is grpc.StatusCode.UNAVAILABLE


def test_mtls_refuses_a_client_without_a_certificate_and_accepts_one_with(mtls_server: NigranServer, pki: Pki) -> None:
    assert round_trip(channel(mtls_server, pki.ca), REFUSED_TIMEOUT) is grpc.StatusCode.UNAVAILABLE
    assert round_trip(channel(mtls_server, pki.ca, pki.stranger_cert, pki.stranger_key), REFUSED_TIMEOUT) is grpc.StatusCode.UNAVAILABLE
    assert round_trip(channel(mtls_server, None), REFUSED_TIMEOUT) is grpc.StatusCode.UNAVAILABLE
    assert round_trip(channel(mtls_server, pki.ca, pki.client_cert, pki.client_key)) is grpc.StatusCode.OK


# -- the nigran CLI ---------------------------------------------------------------------


def cli(nigran: NigranServer, *args: str | Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and output of ``nigran --target ... ARGS``."""
    parsed = build_parser().parse_args(["--target", f"127.0.0.1:{nigran.port}", "--timeout", str(REFUSED_TIMEOUT), *map(str, args)])
    code = run(parsed)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_cli_reaches_a_tls_server_with_its_ca(server: NigranServer, pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(server, "--ca-cert", pki.ca, "health", capsys=capsys)
    assert (code, '"SERVING"' in out) == (0, True), out
    code, out = cli(server, "--ca-cert", pki.ca, "add", "--lang", "en", TEXT, capsys=capsys)
    assert code == 0, out
    code, out = cli(server, "--ca-cert", pki.ca, "match", TEXT, capsys=capsys)
    assert code == 0 and "REUPLOAD" in out, out
    # Without --ca-cert the CLI speaks plaintext, which a TLS port refuses.
    code, out = cli(server, "health", capsys=capsys)
    assert code == 1 and "UNAVAILABLE" in out, out


def test_cli_reaches_an_mtls_server_only_with_a_client_certificate(
    mtls_server: NigranServer, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli(mtls_server, "--ca-cert", pki.ca, "--cert", pki.client_cert, "--key", pki.client_key, "health", capsys=capsys)
    assert (code, '"SERVING"' in out) == (0, True), out
    code, out = cli(mtls_server, "--ca-cert", pki.ca, "health", capsys=capsys)
    assert code == 1 and "UNAVAILABLE" in out, out


def test_cli_health_exits_0_only_when_serving(data_dir: Path, pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    # Bound and listening, but the engine is not loaded yet: NOT_SERVING.
    nigran = tls_server(data_dir, pki, ready=False)
    try:
        code, out = cli(nigran, "--ca-cert", pki.ca, "health", capsys=capsys)
        assert (code, '"NOT_SERVING"' in out) == (1, True), out
        nigran.set_engine(Engine.open(nigran.config, embedder=HashingEmbedder()))
        code, out = cli(nigran, "--ca-cert", pki.ca, "health", capsys=capsys)
        assert (code, '"SERVING"' in out) == (0, True), out
    finally:
        nigran.stop(0)
    # Stopped: no answer at all is not healthy either.
    code, out = cli(nigran, "--ca-cert", pki.ca, "health", capsys=capsys)
    assert code == 1, out


# -- exposure without authentication ------------------------------------------------------


def bind(data_dir: Path, host: str, **server: Any) -> None:
    """Build (and bind) a server on ``host``, then take it down again."""
    create_server(make_config(data_dir, server=ServerConfig(host=host, port=0, **server))).stop(0)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.10", "nigran.example.org"])
def test_binding_beyond_loopback_without_auth_is_refused(data_dir: Path, host: str) -> None:
    # Old: any host was bound, authentication or not.
    with pytest.raises(ConfigError, match="allow_unauthenticated_public"):
        bind(data_dir, host)


def test_binding_all_interfaces_is_allowed_when_meant_or_with_tokens(
    data_dir: Path, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="nigran.server")
    bind(data_dir, "0.0.0.0", allow_unauthenticated_public=True)
    bind(data_dir, "0.0.0.0", auth=AuthConfig(tokens={"secret-for-test": "admin"}))
    # Tokens in the clear across a network are worth a warning; with TLS there is none.
    assert len([r for r in caplog.records if "without TLS" in r.getMessage()]) == 2
    bind(data_dir, "0.0.0.0", auth=AuthConfig(tokens={"secret-for-test": "admin"}),
         tls=TlsConfig(cert_file=pki.server_cert, key_file=pki.server_key))
    assert len([r for r in caplog.records if "without TLS" in r.getMessage()]) == 2
    assert "secret-for-test" not in caplog.text
