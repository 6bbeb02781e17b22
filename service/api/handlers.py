"""gRPC servicers: translate, call the engine, translate back. Nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import grpc

from service.api import convert
from service.api._generated.nigran.v1 import admin_pb2, admin_pb2_grpc, curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from service.api.interceptors import current_actor
from service.core.banks import Bank
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

    # -- banks ------------------------------------------------------------------

    def _bank_pb(self, bank: Bank) -> Any:
        return convert.bank_to_pb(bank, self._engine().banks.thresholds_for(bank.name))

    def CreateBank(self, request: curation_pb2.CreateBankRequest, context: grpc.ServicerContext) -> Any:
        return self._bank_pb(self._engine().curation.create_bank(convert.create_bank_from_pb(request), actor=current_actor.get()))

    def ListBanks(self, request: curation_pb2.ListBanksRequest, context: grpc.ServicerContext) -> Any:
        return curation_pb2.ListBanksResponse(banks=[self._bank_pb(b) for b in self._engine().curation.list_banks()])

    def UpdateBank(self, request: curation_pb2.UpdateBankRequest, context: grpc.ServicerContext) -> Any:
        bank = self._engine().curation.update_bank(request.name, convert.bank_changes_from_pb(request), actor=current_actor.get())
        return self._bank_pb(bank)

    def DeleteBank(self, request: curation_pb2.DeleteBankRequest, context: grpc.ServicerContext) -> Any:
        removed = self._engine().curation.delete_bank(request.name, force=request.force, actor=current_actor.get())
        return curation_pb2.DeleteBankResponse(removed=removed)

    # -- items ------------------------------------------------------------------

    def UpdateReference(self, request: curation_pb2.UpdateReferenceRequest, context: grpc.ServicerContext) -> Any:
        item = self._engine().curation.update_reference(
            request.id,
            add_labels=list(request.add_labels),
            remove_labels=list(request.remove_labels),
            set_metadata=dict(request.set_metadata),
            remove_metadata=list(request.remove_metadata),
            actor=current_actor.get(),
        )
        return convert.reference_to_pb(item)

    def DisableReferences(self, request: curation_pb2.DisableReferencesRequest, context: grpc.ServicerContext) -> Any:
        until = convert.timestamp_from_pb(request.until) if request.HasField("until") else None
        changed, missing = self._engine().curation.disable(list(request.ids), until=until, actor=current_actor.get())
        return curation_pb2.StateChangeResponse(changed=changed, not_found=missing)

    def EnableReferences(self, request: curation_pb2.ReferenceIds, context: grpc.ServicerContext) -> Any:
        changed, missing = self._engine().curation.enable(list(request.ids), actor=current_actor.get())
        return curation_pb2.StateChangeResponse(changed=changed, not_found=missing)

    def ReleaseReferences(self, request: curation_pb2.ReferenceIds, context: grpc.ServicerContext) -> Any:
        changed, missing = self._engine().curation.release(list(request.ids), actor=current_actor.get())
        return curation_pb2.StateChangeResponse(changed=changed, not_found=missing)

    def ListReferences(self, request: curation_pb2.ListReferencesRequest, context: grpc.ServicerContext) -> Any:
        items, token = self._engine().curation.list_references(
            bank=request.bank,
            state=convert.state_from_pb(request.state),
            label=request.label,
            size=request.page_size,
            token=request.page_token,
        )
        return curation_pb2.ListReferencesResponse(references=[convert.reference_to_pb(i) for i in items], next_page_token=token)

    # -- feedback, stats, audit -------------------------------------------------

    def ReportMatch(self, request: curation_pb2.ReportMatchRequest, context: grpc.ServicerContext) -> Any:
        summary = self._engine().curation.report(convert.feedback_from_pb(request, reporter=current_actor.get()))
        return curation_pb2.ReportMatchResponse(feedback=convert.feedback_summary_to_pb(summary))

    def GetReferenceStats(self, request: curation_pb2.GetReferenceRequest, context: grpc.ServicerContext) -> Any:
        return convert.reference_stats_to_pb(self._engine().curation.reference_stats(request.id))

    def GetCurationStats(self, request: curation_pb2.GetCurationStatsRequest, context: grpc.ServicerContext) -> Any:
        return convert.curation_stats_to_pb(self._engine().curation.stats())

    def QueryAudit(self, request: curation_pb2.QueryAuditRequest, context: grpc.ServicerContext) -> Any:
        entries, token = self._engine().curation.query_audit(
            target=request.target,
            actor=request.actor,
            action=request.action,
            since=convert.timestamp_from_pb(request.since) if request.HasField("since") else None,
            size=request.page_size,
            token=request.page_token,
        )
        return curation_pb2.QueryAuditResponse(entries=[convert.audit_entry_to_pb(e) for e in entries], next_page_token=token)

    # -- exchange ---------------------------------------------------------------

    def ExportReferences(self, request: curation_pb2.ExportReferencesRequest, context: grpc.ServicerContext) -> Iterator[Any]:
        items, _ = self._engine().curation.export(after=request.after, limit=request.limit)
        for item in items:
            yield convert.reference_to_pb(item)

    def ImportReferences(self, requests: Iterator[curation_pb2.Reference], context: grpc.ServicerContext) -> Any:
        items = (convert.reference_from_pb(r) for r in requests)
        return convert.import_summary_to_pb(self._engine().curation.import_items(items, actor=current_actor.get()))


class AdminServicer(admin_pb2_grpc.AdminServicer):  # type: ignore[misc]
    def __init__(self, engine: EngineProvider) -> None:
        self._engine = engine

    def LoadIndex(self, request: admin_pb2.LoadIndexRequest, context: grpc.ServicerContext) -> Any:
        return convert.loaded_index_to_pb(self._engine().load_index_artifact(Path(request.path)))
