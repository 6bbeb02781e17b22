"""gRPC servicers: translate, call the engine, translate back. Nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import grpc

from service.api import convert
from service.api._generated.nigran.v1 import admin_pb2, admin_pb2_grpc, curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from service.api.interceptors import current_actor
from service.core.engine import Engine

EngineProvider = Callable[[], Engine]


class MatcherServicer(matcher_pb2_grpc.MatcherServicer):  # type: ignore[misc]
    def __init__(self, engine: EngineProvider) -> None:
        self._engine = engine

    def Match(self, request: matcher_pb2.MatchRequest, context: grpc.ServicerContext) -> Any:
        results = self._engine().match(
            convert.posts_from_pb(request), banks=tuple(request.banks), top_k=request.top_k
        )
        return convert.results_to_pb(results)

    def MatchStream(self, requests: Iterator[matcher_pb2.MatchRequest], context: grpc.ServicerContext) -> Iterator[Any]:
        for request in requests:
            yield self.Match(request, context)


class CurationServicer(curation_pb2_grpc.CurationServicer):  # type: ignore[misc]
    def __init__(self, engine: EngineProvider) -> None:
        self._engine = engine

    def AddReferences(self, request: curation_pb2.AddReferencesRequest, context: grpc.ServicerContext) -> Any:
        refs = [convert.new_reference_from_pb(r) for r in request.references]
        items = self._engine().add_references(refs, actor=current_actor.get())
        return curation_pb2.AddReferencesResponse(ids=[item.id for item in items])

    def RemoveReferences(self, request: curation_pb2.RemoveReferencesRequest, context: grpc.ServicerContext) -> Any:
        removed, missing = self._engine().remove_references(list(request.ids), actor=current_actor.get())
        return curation_pb2.RemoveReferencesResponse(removed=len(removed), not_found=missing)

    def GetReference(self, request: curation_pb2.GetReferenceRequest, context: grpc.ServicerContext) -> Any:
        return convert.reference_to_pb(self._engine().get_reference(request.id))


class AdminServicer(admin_pb2_grpc.AdminServicer):  # type: ignore[misc]
    def __init__(self, engine: EngineProvider) -> None:
        self._engine = engine

    def LoadIndex(self, request: admin_pb2.LoadIndexRequest, context: grpc.ServicerContext) -> Any:
        return convert.loaded_index_to_pb(self._engine().load_index_artifact(Path(request.path)))
