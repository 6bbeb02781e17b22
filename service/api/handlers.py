"""gRPC servicers: translate, call the engine, translate back. Nothing else.

Validation is the core's (``service/core/validation.py``), so every RPC that
takes ids, texts or pages refuses the same mistakes the same way; errors are
mapped to statuses by the interceptor (``status.py``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterator

import grpc

from service.api import convert
from service.api._generated.nigran.v1 import admin_pb2, admin_pb2_grpc, curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from service.api.interceptors import call_info
from service.api.pipeline import pipelined
from service.api.status import status_proto
from service.api.visibility import redact, view_for
from service.core import (
    Bank, Curation, Engine, FailedPrecondition, IndexCorrupt, InvalidInput, ModelMismatch, NigranConfig, NigranError, StopCheck,
    within_budget
)

EngineProvider = Callable[[], Engine]


def _caller_gone(context: grpc.ServicerContext) -> StopCheck:
    """Stops the core's work once the deadline has passed or the client cancelled."""
    return lambda: not context.is_active()


class MatcherServicer(matcher_pb2_grpc.MatcherServicer):  # type: ignore[misc]
    def __init__(self, engine: EngineProvider, config: NigranConfig) -> None:
        self._engine = engine
        self._auth = config.server.auth
        self._budget = config.server.match_budget_seconds or None
        self._stream_window = config.server.match_stream_window

    def Match(self, request: matcher_pb2.MatchRequest, context: grpc.ServicerContext) -> Any:
        call_info().posts += len(request.posts)
        return self._match(request, context)

    def _match(self, request: matcher_pb2.MatchRequest, context: grpc.ServicerContext) -> Any:
        posts = convert.posts_from_pb(request)
        results = self._engine().match(
            posts, banks=tuple(request.banks), top_k=request.top_k, exhaustive=request.exhaustive,
            options=convert.match_options_from_pb(request), record=True, stop=within_budget(_caller_gone(context), self._budget),
        )
        return convert.results_to_pb(redact(results, view_for(call_info().role, self._auth)))

    def Compare(self, request: matcher_pb2.CompareRequest, context: grpc.ServicerContext) -> Any:
        call_info().posts += 1
        comparison = self._engine().compare(
            request.text_a, request.text_b, stop=within_budget(_caller_gone(context), self._budget)
        )
        return convert.comparison_to_pb(comparison)

    def MatchStream(self, requests: Iterator[matcher_pb2.MatchRequest], context: grpc.ServicerContext) -> Iterator[Any]:
        """One response per request message, in order; a refused message gets its error, and the stream goes on.

        Up to ``server.match_stream_window`` messages are matched at once, so a
        client that keeps many in flight gets batch throughput (pipeline.py).
        """
        info = call_info()

        def answer(request: matcher_pb2.MatchRequest) -> Any:
            try:
                return self._match(request, context)
            except NigranError as exc:
                return refused(exc)

        def refused(exc: Exception) -> Any:
            if not context.is_active():
                return None  # the client has gone: nobody to answer
            return matcher_pb2.MatchResponse(error=status_proto(exc)) if isinstance(exc, NigranError) else None

        for response in pipelined(
            requests, answer, window=self._stream_window, recoverable=lambda exc: isinstance(exc, NigranError), refused=refused
        ):
            # Counted here, on the call's own thread, not by the workers.
            info.posts += len(response.results)
            yield response


class CurationServicer(curation_pb2_grpc.CurationServicer):  # type: ignore[misc]
    def __init__(self, engine: EngineProvider) -> None:
        self._engine = engine

    def _curation(self) -> Curation:
        return self._engine().curation

    def AddReferences(self, request: curation_pb2.AddReferencesRequest, context: grpc.ServicerContext) -> Any:
        refs = [convert.new_reference_from_pb(r) for r in request.references]
        outcome = self._curation().references.add(refs, actor=call_info().actor, stop=_caller_gone(context))
        return curation_pb2.AddReferencesResponse(ids=[item.id for item in outcome.added])

    def RemoveReferences(self, request: curation_pb2.RemoveReferencesRequest, context: grpc.ServicerContext) -> Any:
        removed, missing = self._curation().references.remove(list(request.ids), actor=call_info().actor)
        return curation_pb2.RemoveReferencesResponse(removed=len(removed), not_found=missing)

    def GetReference(self, request: curation_pb2.GetReferenceRequest, context: grpc.ServicerContext) -> Any:
        return convert.reference_to_pb(self._curation().references.get(request.id))

    # -- banks ------------------------------------------------------------------

    def _bank_pb(self, bank: Bank) -> Any:
        return convert.bank_to_pb(bank, self._curation().banks.catalog.thresholds_for(bank.name))

    def CreateBank(self, request: curation_pb2.CreateBankRequest, context: grpc.ServicerContext) -> Any:
        return self._bank_pb(self._curation().banks.create(convert.create_bank_from_pb(request), actor=call_info().actor))

    def ListBanks(self, request: curation_pb2.ListBanksRequest, context: grpc.ServicerContext) -> Any:
        return curation_pb2.ListBanksResponse(banks=[self._bank_pb(b) for b in self._curation().banks.all()])

    def UpdateBank(self, request: curation_pb2.UpdateBankRequest, context: grpc.ServicerContext) -> Any:
        bank = self._curation().banks.update(request.name, convert.bank_changes_from_pb(request), actor=call_info().actor)
        return self._bank_pb(bank)

    def GetBankStats(self, request: curation_pb2.GetBankStatsRequest, context: grpc.ServicerContext) -> Any:
        return convert.bank_stats_to_pb(self._curation().banks.stats(request.name, days=request.days))

    def DeleteBank(self, request: curation_pb2.DeleteBankRequest, context: grpc.ServicerContext) -> Any:
        removed = self._curation().delete_bank(request.name, force=request.force, actor=call_info().actor)
        return curation_pb2.DeleteBankResponse(removed=removed)

    # -- items ------------------------------------------------------------------

    def UpdateReference(self, request: curation_pb2.UpdateReferenceRequest, context: grpc.ServicerContext) -> Any:
        item = self._curation().references.update(
            request.id,
            add_labels=list(request.add_labels),
            remove_labels=list(request.remove_labels),
            set_metadata=dict(request.set_metadata),
            remove_metadata=list(request.remove_metadata),
            actor=call_info().actor,
        )
        return convert.reference_to_pb(item)

    def DisableReferences(self, request: curation_pb2.DisableReferencesRequest, context: grpc.ServicerContext) -> Any:
        until = convert.optional_timestamp_from_pb(request, "until")
        return convert.state_change_to_pb(self._curation().references.disable(list(request.ids), until=until, actor=call_info().actor))

    def EnableReferences(self, request: curation_pb2.ReferenceIds, context: grpc.ServicerContext) -> Any:
        return convert.state_change_to_pb(self._curation().references.enable(list(request.ids), actor=call_info().actor))

    def ReleaseReferences(self, request: curation_pb2.ReferenceIds, context: grpc.ServicerContext) -> Any:
        return convert.state_change_to_pb(self._curation().references.release(list(request.ids), actor=call_info().actor))

    def ListReferences(self, request: curation_pb2.ListReferencesRequest, context: grpc.ServicerContext) -> Any:
        items, token = self._curation().references.list(convert.reference_query_from_pb(request))
        return curation_pb2.ListReferencesResponse(references=[convert.reference_to_pb(i) for i in items], next_page_token=token)

    # -- feedback, stats, audit -------------------------------------------------

    def ReportMatch(self, request: curation_pb2.ReportMatchRequest, context: grpc.ServicerContext) -> Any:
        summary = self._curation().reviews.report(convert.feedback_from_pb(request, reporter=call_info().actor))
        return curation_pb2.ReportMatchResponse(feedback=convert.feedback_summary_to_pb(summary))

    def GetReferenceStats(self, request: curation_pb2.GetReferenceRequest, context: grpc.ServicerContext) -> Any:
        return convert.reference_stats_to_pb(self._curation().reviews.stats(request.id))

    def GetCurationStats(self, request: curation_pb2.GetCurationStatsRequest, context: grpc.ServicerContext) -> Any:
        return convert.curation_stats_to_pb(self._curation().stats())

    def QueryAudit(self, request: curation_pb2.QueryAuditRequest, context: grpc.ServicerContext) -> Any:
        entries, token = self._curation().audit(convert.audit_query_from_pb(request))
        return curation_pb2.QueryAuditResponse(entries=[convert.audit_entry_to_pb(e) for e in entries], next_page_token=token)

    def ListMatchLog(self, request: curation_pb2.ListMatchLogRequest, context: grpc.ServicerContext) -> Any:
        entries, token = self._curation().match_log.queue(convert.match_log_query_from_pb(request))
        return curation_pb2.ListMatchLogResponse(entries=[convert.logged_match_to_pb(e) for e in entries], next_page_token=token)

    # -- exchange ---------------------------------------------------------------

    def ExportReferences(self, request: curation_pb2.ExportReferencesRequest, context: grpc.ServicerContext) -> Iterator[Any]:
        page = self._curation().exchange.export(after=request.after, limit=request.limit)
        context.set_trailing_metadata(convert.next_cursor_to_metadata(page.next_cursor))
        for item in page.items:
            yield convert.reference_to_pb(item)

    def ImportReferences(self, requests: Iterator[curation_pb2.Reference], context: grpc.ServicerContext) -> Any:
        items = (convert.reference_from_pb(r) for r in requests)
        summary = self._curation().exchange.import_items(items, actor=call_info().actor, stop=_caller_gone(context))
        return convert.import_summary_to_pb(summary)


class AdminServicer(admin_pb2_grpc.AdminServicer):  # type: ignore[misc]
    def __init__(self, engine: EngineProvider, config: NigranConfig) -> None:
        self._engine = engine
        self._artifacts = config.artifacts_dir

    def LoadIndex(self, request: admin_pb2.LoadIndexRequest, context: grpc.ServicerContext) -> Any:
        root = self._artifacts.resolve()
        path = artifact_path(root, request.path)
        try:
            loaded = self._engine().load_index(path)
        except NigranError as exc:
            raise without_server_paths(exc, root) from None
        return convert.loaded_index_to_pb(dataclasses.replace(loaded, path=str(Path(loaded.path).relative_to(root))))


# Far above any real artifact name, well below PATH_MAX, so the filesystem never sees a name it rejects.
MAX_ARTIFACT_PATH_BYTES = 1024


def artifact_path(root: Path, requested: str) -> Path:
    """An artifact (or artifacts root) inside the configured artifacts directory, from a path relative to it."""
    if not requested.strip():
        raise InvalidInput("path", "name an artifact (or artifacts root) relative to the server's artifacts directory")
    if len(requested.encode("utf-8", "surrogatepass")) > MAX_ARTIFACT_PATH_BYTES or "\x00" in requested:
        raise InvalidInput("path", f"must be at most {MAX_ARTIFACT_PATH_BYTES} bytes with no NUL characters")
    try:
        path = (root / requested).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a name too long for the filesystem, a symlink loop
        raise InvalidInput("path", f"{requested[:80]!r} cannot be resolved ({type(exc).__name__})") from None
    if not path.is_relative_to(root):
        raise InvalidInput("path", f"{requested!r} is outside the server's artifacts directory")
    return path


def without_server_paths(exc: NigranError, root: Path) -> NigranError:
    """The same error with the server's own directories taken out of its message."""
    message = str(exc).replace(f"{root}/", "").replace(str(root), ".")
    if isinstance(exc, InvalidInput):
        return type(exc)(exc.field, message.removeprefix(f"{exc.field}: "))
    if isinstance(exc, ModelMismatch):
        return FailedPrecondition(message)
    if isinstance(exc, IndexCorrupt):
        return IndexCorrupt(message)
    return exc
