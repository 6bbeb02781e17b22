"""A running in-process server and a small curation client for the gRPC tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import grpc

from service.api._generated.nigran.v1 import curation_pb2, matcher_pb2
from service.core.embedder import Embedder
from service.core.engine import Engine
from service.api.server import create_server
from tests.conftest import make_config
from tests.test_grpc_end_to_end import Running


def start_server(data_dir: Path, embedder: Embedder, token: str | None = None, **overrides: Any) -> "Client":
    config = make_config(data_dir, **overrides)
    nigran = create_server(config).start()
    nigran.set_engine(Engine.open(config, embedder=embedder))
    return Client(Running(nigran), token)


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
