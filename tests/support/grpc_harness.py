"""A real gRPC server in-process on 127.0.0.1:0, a channel to it, and a small client for tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2_grpc

from service.api._generated.nigran.v1 import curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from service.api.server import NigranServer, create_server
from service.core import Embedder, Engine
from tests.support.factories import make_config


class Running:
    def __init__(self, nigran: NigranServer) -> None:
        self.nigran = nigran
        self.channel = grpc.insecure_channel(f"127.0.0.1:{nigran.port}")
        self.matcher = matcher_pb2_grpc.MatcherStub(self.channel)
        self.curation = curation_pb2_grpc.CurationStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def match(self, *texts: str) -> list[matcher_pb2.PostResult]:
        request = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id=str(i), text=t) for i, t in enumerate(texts)])
        return list(self.matcher.Match(request, timeout=60).results)

    def close(self) -> None:
        self.channel.close()
        self.nigran.stop(0)


def start(data_dir: Path, embedder: Embedder, **overrides: Any) -> Running:
    """A started server whose engine is open (health SERVING)."""
    config = make_config(data_dir, **overrides)
    nigran = create_server(config).start()
    running = Running(nigran)
    nigran.set_engine(Engine.open(config, embedder=embedder))
    return running


def start_client(data_dir: Path, embedder: Embedder, token: str | None = None, **overrides: Any) -> "Client":
    return Client(start(data_dir, embedder, **overrides), token)


@dataclasses.dataclass
class Client:
    running: Running
    token: str | None = None

    @property
    def md(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token}")] if self.token else []

    @property
    def curation(self) -> Any:
        return self.running.curation

    @property
    def engine(self) -> Engine:
        return self.running.nigran.engine()

    def call(self, rpc: str, request: Any) -> Any:
        return getattr(self.running.curation, rpc)(request, metadata=self.md, timeout=60)

    def bank(self, name: str, kind: int = curation_pb2.NORMAL, **kw: Any) -> Any:
        return self.call("CreateBank", curation_pb2.CreateBankRequest(name=name, kind=kind, **kw))

    def add(self, bank: str, *items: tuple[str, str, str], labels: tuple[str, ...] = ()) -> list[str]:
        refs = [curation_pb2.ReferenceInput(id=i, lang=lang, text=t, bank=bank, labels=list(labels)) for i, lang, t in items]
        return list(self.call("AddReferences", curation_pb2.AddReferencesRequest(references=refs)).ids)

    def match(self, text: str, banks: tuple[str, ...] = ()) -> Any:
        request = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="p", text=text)], banks=list(banks))
        return self.running.matcher.Match(request, metadata=self.md, timeout=60).results[0]

    def matched_ids(self, text: str, banks: tuple[str, ...] = ()) -> list[str]:
        return [m.reference_id for m in self.match(text, banks).matches]

    def close(self) -> None:
        self.running.close()


def code_of(call: Any) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as err:
        return err.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK
