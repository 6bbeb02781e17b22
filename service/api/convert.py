"""Every protobuf <-> domain conversion, in one place, both ways.

The server's handlers use the ``*_from_pb`` of requests and the ``*_to_pb`` of
replies; the ``nigran`` CLI uses the opposite pair, so client and server can
never disagree on what a field means. ``tests/api/test_convert.py`` round-trips
each pair and checks that every field of every message is converted.
"""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from service.api._generated.nigran.v1 import admin_pb2, curation_pb2, matcher_pb2
from service.core import (
    DEFAULT_BANK, AuditEntry, AuditQuery, Bank, BankChanges, BankKind, BankStats, Comparison, DailyFeedback, CurationStats, Feedback,
    FeedbackSummary, FeedbackVerdict, ImportSummary, InvalidInput, LoadedIndex, LoggedMatch, Match, MatchLogQuery, MatchOptions, MatchRate, Measure,
    NewReference, Post, PostResult, ReferenceItem, ReferenceQuery, ReferenceState, ReferenceStats, Signal,
    SignalScore, StateChange, Thresholds, Verdict, scalar_values
)

#: Trailing metadata key of ExportReferences: the cursor to pass as `after` next time.
NEXT_CURSOR_KEY = "nigran-next-cursor"

_VERDICT_TO_PB = {
    Verdict.NO_MATCH: matcher_pb2.NO_MATCH,
    Verdict.REUPLOAD: matcher_pb2.REUPLOAD,
    Verdict.NEAR_DUPLICATE: matcher_pb2.NEAR_DUPLICATE,
    Verdict.TRANSLATION: matcher_pb2.TRANSLATION,
    Verdict.PARAPHRASE: matcher_pb2.PARAPHRASE,
}
_VERDICT_FROM_PB = {v: k for k, v in _VERDICT_TO_PB.items()}

_SIGNAL_TO_PB = {
    Signal.EXACT: matcher_pb2.EXACT,
    Signal.LEXICAL: matcher_pb2.LEXICAL,
    Signal.SEMANTIC: matcher_pb2.SEMANTIC,
}
_SIGNAL_FROM_PB = {v: k for k, v in _SIGNAL_TO_PB.items()}

_MEASURE_TO_PB = {
    Measure.FINGERPRINT: matcher_pb2.MEASURE_FINGERPRINT,
    Measure.LEXICAL: matcher_pb2.MEASURE_LEXICAL,
    Measure.COSINE: matcher_pb2.MEASURE_COSINE,
    Measure.WORDS: matcher_pb2.MEASURE_WORDS,
    Measure.TRANSLATION_SCORE: matcher_pb2.MEASURE_TRANSLATION_SCORE,
    Measure.MARGIN: matcher_pb2.MEASURE_MARGIN,
}
_MEASURE_FROM_PB = {v: k for k, v in _MEASURE_TO_PB.items()}

_STATE_TO_PB = {
    ReferenceState.ACTIVE: curation_pb2.ACTIVE,
    ReferenceState.DISABLED: curation_pb2.DISABLED,
    ReferenceState.QUARANTINED: curation_pb2.QUARANTINED,
    ReferenceState.REMOVED: curation_pb2.REMOVED,
}
_STATE_FROM_PB = {v: k for k, v in _STATE_TO_PB.items()}

_KIND_TO_PB = {BankKind.NORMAL: curation_pb2.NORMAL, BankKind.SUPPRESSION: curation_pb2.SUPPRESSION}
_KIND_FROM_PB = {v: k for k, v in _KIND_TO_PB.items()}

_FEEDBACK_TO_PB = {FeedbackVerdict.TRUE_POSITIVE: curation_pb2.TRUE_POSITIVE, FeedbackVerdict.FALSE_POSITIVE: curation_pb2.FALSE_POSITIVE}
_FEEDBACK_FROM_PB = {v: k for k, v in _FEEDBACK_TO_PB.items()}


# -- scalars ----------------------------------------------------------------------


# The range protobuf's Timestamp is defined for: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799


def timestamp_to_pb(seconds: float) -> Timestamp:
    # Clamped, not refused: a stored time is already the server's, and a reply must never fail on it.
    seconds = min(max(seconds, MIN_TIMESTAMP_SECONDS), MAX_TIMESTAMP_SECONDS)
    # Split before scaling: seconds * 1e9 loses the sub-microsecond part in a float.
    whole = math.floor(seconds)
    nanos = min(int(round((seconds - whole) * 1e9)), 999_999_999)
    return Timestamp(seconds=whole, nanos=nanos)


def timestamp_from_pb(ts: Timestamp, field: str = "timestamp") -> float:
    if not MIN_TIMESTAMP_SECONDS <= ts.seconds <= MAX_TIMESTAMP_SECONDS or not 0 <= ts.nanos <= 999_999_999:
        raise InvalidInput(field, "must be a time between the years 1 and 9999")
    return float(ts.seconds) + float(ts.nanos) / 1e9


def optional_timestamp_from_pb(message: Any, field: str) -> float | None:
    return timestamp_from_pb(getattr(message, field), field) if message.HasField(field) else None


def _known(value: Any, table: dict[Any, Any], field: str, unspecified: Any) -> Any:
    if value == unspecified:
        return None
    if value not in table:
        raise InvalidInput(field, f"unknown value {value}")
    return table[value]


def state_to_pb(state: ReferenceState | None) -> Any:
    return curation_pb2.REFERENCE_STATE_UNSPECIFIED if state is None else _STATE_TO_PB[state]


def state_from_pb(pb: Any, field: str = "state") -> ReferenceState | None:
    """None for UNSPECIFIED (a filter that matches every state); a number the API does not define is refused."""
    result: ReferenceState | None = _known(pb, _STATE_FROM_PB, field, curation_pb2.REFERENCE_STATE_UNSPECIFIED)
    return result


def bank_kind_to_pb(kind: BankKind | None) -> Any:
    return curation_pb2.BANK_KIND_UNSPECIFIED if kind is None else _KIND_TO_PB[kind]


def bank_kind_from_pb(pb: Any, field: str = "kind") -> BankKind | None:
    """None for UNSPECIFIED (leave the kind as it is, or the default); a number the API does not define is refused."""
    result: BankKind | None = _known(pb, _KIND_FROM_PB, field, curation_pb2.BANK_KIND_UNSPECIFIED)
    return result


# -- matching ---------------------------------------------------------------------


def posts_from_pb(request: matcher_pb2.MatchRequest) -> list[Post]:
    return [Post(id=p.id, text=p.text) for p in request.posts]


def match_request_to_pb(
    posts: Sequence[Post],
    *,
    banks: Sequence[str] = (),
    top_k: int = 0,
    exhaustive: bool = False,
    options: MatchOptions = MatchOptions(),
) -> matcher_pb2.MatchRequest:
    return matcher_pb2.MatchRequest(
        posts=[matcher_pb2.Post(id=p.id, text=p.text) for p in posts], banks=list(banks), top_k=top_k, exhaustive=exhaustive,
        verdicts=[_VERDICT_TO_PB[v] for v in sorted(options.verdicts, key=lambda v: _VERDICT_TO_PB[v])],
        min_scores=[matcher_pb2.ScoreFloor(kind=_VERDICT_TO_PB[k], min_score=v) for k, v in options.min_scores.items()],
        metadata_filter=dict(options.metadata),
    )


def match_options_from_pb(request: matcher_pb2.MatchRequest) -> MatchOptions:
    """The request's own narrowing of the verdicts; an unspecified or unknown kind is refused, naming its place."""

    def kind(value: int, field: str) -> Verdict:
        verdict: Verdict | None = _known(value, _VERDICT_FROM_PB, field, matcher_pb2.VERDICT_UNSPECIFIED)
        if verdict is None:
            raise InvalidInput(field, "a kind of match is required")
        return verdict

    min_scores: dict[Verdict, float] = {}
    for i, floor in enumerate(request.min_scores):
        verdict = kind(floor.kind, f"min_scores[{i}].kind")
        if verdict in min_scores:
            raise InvalidInput(f"min_scores[{i}].kind", f"{verdict.name} is given twice")
        min_scores[verdict] = floor.min_score
    return MatchOptions(
        verdicts=frozenset(kind(v, f"verdicts[{i}]") for i, v in enumerate(request.verdicts)),
        min_scores=min_scores,
        metadata=dict(request.metadata_filter),
    )


def match_to_pb(match: Match) -> matcher_pb2.Match:
    return matcher_pb2.Match(
        reference_id=match.reference_id,
        score=match.score,
        kind=_VERDICT_TO_PB[match.kind],
        bank=match.bank,
        labels=list(match.labels),
        signal=_SIGNAL_TO_PB[match.signal],
        cosine=match.cosine,
        reference_lang=match.reference_lang,
        metadata=dict(match.metadata),
    )


def match_from_pb(pb: matcher_pb2.Match) -> Match:
    return Match(
        reference_id=pb.reference_id,
        score=pb.score,
        kind=_VERDICT_FROM_PB[pb.kind],
        signal=_SIGNAL_FROM_PB[pb.signal],
        bank=pb.bank,
        labels=tuple(pb.labels),
        cosine=pb.cosine,
        reference_lang=pb.reference_lang,
        metadata=dict(pb.metadata),
    )


def result_to_pb(result: PostResult) -> matcher_pb2.PostResult:
    return matcher_pb2.PostResult(
        post_id=result.post_id,
        verdict=_VERDICT_TO_PB[result.verdict],
        matches=[match_to_pb(m) for m in result.matches],
        detected_lang=result.detected_lang,
        suppressed_by=result.suppressed_by,
        fingerprint=result.fingerprint,
    )


def result_from_pb(pb: matcher_pb2.PostResult) -> PostResult:
    return PostResult(
        post_id=pb.post_id,
        verdict=_VERDICT_FROM_PB[pb.verdict],
        matches=tuple(match_from_pb(m) for m in pb.matches),
        detected_lang=pb.detected_lang,
        suppressed_by=pb.suppressed_by,
        fingerprint=pb.fingerprint,
    )


def results_to_pb(results: Sequence[PostResult]) -> matcher_pb2.MatchResponse:
    return matcher_pb2.MatchResponse(results=[result_to_pb(r) for r in results])


def compare_request_to_pb(text_a: str, text_b: str) -> matcher_pb2.CompareRequest:
    return matcher_pb2.CompareRequest(text_a=text_a, text_b=text_b)


def comparison_to_pb(comparison: Comparison) -> matcher_pb2.CompareResponse:
    return matcher_pb2.CompareResponse(
        verdict=_VERDICT_TO_PB[comparison.verdict],
        reason=comparison.reason,
        lang_a=comparison.lang_a,
        lang_b=comparison.lang_b,
        fingerprint_a=comparison.fingerprint_a,
        fingerprint_b=comparison.fingerprint_b,
        signals=[
            matcher_pb2.SignalScore(measure=_MEASURE_TO_PB[s.measure], score=s.score, threshold=s.threshold, cleared=s.cleared)
            for s in comparison.signals
        ],
        decided_by=matcher_pb2.MEASURE_UNSPECIFIED if comparison.decided_by is None else _MEASURE_TO_PB[comparison.decided_by],
    )


def comparison_from_pb(pb: matcher_pb2.CompareResponse) -> Comparison:
    return Comparison(
        verdict=_VERDICT_FROM_PB[pb.verdict],
        reason=pb.reason,
        lang_a=pb.lang_a,
        lang_b=pb.lang_b,
        fingerprint_a=pb.fingerprint_a,
        fingerprint_b=pb.fingerprint_b,
        signals=tuple(SignalScore(_MEASURE_FROM_PB[s.measure], s.score, s.threshold) for s in pb.signals),
        decided_by=_MEASURE_FROM_PB.get(pb.decided_by),
    )


# -- reference items ----------------------------------------------------------------


def new_reference_from_pb(pb: curation_pb2.ReferenceInput) -> NewReference:
    return NewReference(
        id=pb.id, text=pb.text, lang=pb.lang, bank=pb.bank or DEFAULT_BANK, labels=tuple(pb.labels), metadata=dict(pb.metadata),
        fingerprint=pb.fingerprint,
    )


def new_reference_to_pb(ref: NewReference) -> curation_pb2.ReferenceInput:
    return curation_pb2.ReferenceInput(
        id=ref.id, text=ref.text, lang=ref.lang, bank=ref.bank, labels=list(ref.labels), metadata=dict(ref.metadata),
        fingerprint=ref.fingerprint,
    )


def add_request_to_pb(refs: Sequence[NewReference]) -> curation_pb2.AddReferencesRequest:
    return curation_pb2.AddReferencesRequest(references=[new_reference_to_pb(r) for r in refs])


def reference_to_pb(item: ReferenceItem) -> curation_pb2.Reference:
    return curation_pb2.Reference(
        id=item.id,
        text=item.text,
        declared_lang=item.declared_lang,
        detected_lang=item.detected_lang,
        bank=item.bank,
        labels=list(item.labels),
        metadata=dict(item.metadata),
        added_by=item.added_by,
        created_at=timestamp_to_pb(item.created_at),
        updated_at=timestamp_to_pb(item.updated_at),
        state=_STATE_TO_PB[item.state],
        disabled_until=timestamp_to_pb(item.disabled_until) if item.disabled_until is not None else None,
        fingerprint=item.fingerprint,
        change_seq=item.change_seq,
    )


def reference_from_pb(pb: curation_pb2.Reference) -> ReferenceItem:
    """A Reference as received (exports, imports); vid and canonical form are the server's own."""
    return ReferenceItem(
        vid=0,
        id=pb.id,
        text=pb.text,
        canonical="",
        fingerprint=pb.fingerprint,
        declared_lang=pb.declared_lang,
        detected_lang=pb.detected_lang,
        bank=pb.bank or DEFAULT_BANK,
        labels=tuple(pb.labels),
        metadata=dict(pb.metadata),
        added_by=pb.added_by,
        created_at=timestamp_from_pb(pb.created_at, "created_at"),
        updated_at=timestamp_from_pb(pb.updated_at, "updated_at"),
        state=state_from_pb(pb.state) or ReferenceState.ACTIVE,
        disabled_until=optional_timestamp_from_pb(pb, "disabled_until"),
        change_seq=pb.change_seq,
    )


def reference_query_to_pb(query: ReferenceQuery) -> curation_pb2.ListReferencesRequest:
    return curation_pb2.ListReferencesRequest(
        bank=query.bank, state=state_to_pb(query.state), label=query.label, page_size=query.page_size, page_token=query.page_token,
        text=query.text,
    )


def reference_query_from_pb(pb: curation_pb2.ListReferencesRequest) -> ReferenceQuery:
    return ReferenceQuery(
        bank=pb.bank, state=state_from_pb(pb.state), label=pb.label, page_size=pb.page_size, page_token=pb.page_token, text=pb.text
    )


def disable_to_pb(ids: Sequence[str], until: float | None) -> curation_pb2.DisableReferencesRequest:
    request = curation_pb2.DisableReferencesRequest(ids=list(ids))
    if until is not None:
        request.until.CopyFrom(timestamp_to_pb(until))
    return request


def state_change_to_pb(change: StateChange) -> curation_pb2.StateChangeResponse:
    return curation_pb2.StateChangeResponse(changed=list(change.changed), not_found=list(change.not_found))


def state_change_from_pb(pb: curation_pb2.StateChangeResponse) -> StateChange:
    return StateChange(changed=tuple(pb.changed), not_found=tuple(pb.not_found))


# -- banks --------------------------------------------------------------------------


def bank_to_pb(bank: Bank, effective: Thresholds) -> curation_pb2.Bank:
    return curation_pb2.Bank(
        name=bank.name,
        description=bank.description,
        enabled=bank.enabled,
        kind=_KIND_TO_PB[bank.kind],
        thresholds=dict(bank.thresholds),
        effective_thresholds=scalar_values(effective),
        item_count=bank.item_count,
        created_by=bank.created_by,
        created_at=timestamp_to_pb(bank.created_at),
        updated_at=timestamp_to_pb(bank.updated_at),
        match_share=bank.match_share,
        feedback=feedback_summary_to_pb(bank.feedback),
    )


def bank_from_pb(pb: curation_pb2.Bank) -> Bank:
    return Bank(
        name=pb.name,
        description=pb.description,
        enabled=pb.enabled,
        kind=_KIND_FROM_PB.get(pb.kind, BankKind.NORMAL),
        thresholds=dict(pb.thresholds),
        created_at=timestamp_from_pb(pb.created_at),
        updated_at=timestamp_from_pb(pb.updated_at),
        created_by=pb.created_by,
        item_count=pb.item_count,
        match_share=pb.match_share,
        feedback=feedback_summary_from_pb(pb.feedback),
    )


def create_bank_from_pb(pb: curation_pb2.CreateBankRequest) -> Bank:
    return Bank(
        name=pb.name,
        description=pb.description,
        enabled=not pb.disabled,
        kind=bank_kind_from_pb(pb.kind) or BankKind.NORMAL,
        thresholds=dict(pb.thresholds),
        match_share=pb.match_share if pb.HasField("match_share") else 1.0,
    )


def create_bank_to_pb(bank: Bank) -> curation_pb2.CreateBankRequest:
    return curation_pb2.CreateBankRequest(
        name=bank.name, description=bank.description, disabled=not bank.enabled, kind=_KIND_TO_PB[bank.kind],
        thresholds=dict(bank.thresholds), match_share=bank.match_share,
    )


def bank_changes_from_pb(pb: curation_pb2.UpdateBankRequest) -> BankChanges:
    return BankChanges(
        description=pb.description if pb.HasField("description") else None,
        enabled=pb.enabled if pb.HasField("enabled") else None,
        kind=bank_kind_from_pb(pb.kind),
        set_thresholds=dict(pb.set_thresholds),
        clear_thresholds=tuple(pb.clear_thresholds),
        match_share=pb.match_share if pb.HasField("match_share") else None,
    )


def bank_changes_to_pb(name: str, changes: BankChanges) -> curation_pb2.UpdateBankRequest:
    pb = curation_pb2.UpdateBankRequest(
        name=name,
        kind=bank_kind_to_pb(changes.kind),
        set_thresholds=dict(changes.set_thresholds),
        clear_thresholds=list(changes.clear_thresholds),
    )
    if changes.description is not None:
        pb.description = changes.description
    if changes.enabled is not None:
        pb.enabled = changes.enabled
    if changes.match_share is not None:
        pb.match_share = changes.match_share
    return pb


# -- feedback, stats, audit, exchange, admin ----------------------------------------


def feedback_from_pb(pb: curation_pb2.ReportMatchRequest, *, reporter: str) -> Feedback:
    verdict = _FEEDBACK_FROM_PB.get(pb.verdict)
    if verdict is None:
        raise InvalidInput("verdict", "must be TRUE_POSITIVE or FALSE_POSITIVE")
    return Feedback(reference_id=pb.reference_id, post_id=pb.post_id, verdict=verdict, note=pb.note, reporter=reporter)


def feedback_to_pb(feedback: Feedback) -> curation_pb2.ReportMatchRequest:
    return curation_pb2.ReportMatchRequest(
        reference_id=feedback.reference_id, post_id=feedback.post_id, verdict=_FEEDBACK_TO_PB[feedback.verdict], note=feedback.note
    )


def feedback_summary_to_pb(summary: FeedbackSummary) -> curation_pb2.FeedbackSummary:
    return curation_pb2.FeedbackSummary(
        true_positives=summary.true_positives, false_positives=summary.false_positives, precision=summary.precision
    )


def feedback_summary_from_pb(pb: curation_pb2.FeedbackSummary) -> FeedbackSummary:
    return FeedbackSummary(true_positives=pb.true_positives, false_positives=pb.false_positives)


def bank_stats_to_pb(stats: BankStats) -> curation_pb2.BankStats:
    return curation_pb2.BankStats(
        name=stats.bank,
        feedback=feedback_summary_to_pb(stats.feedback),
        daily=[curation_pb2.DailyFeedback(day=timestamp_to_pb(d.day), feedback=feedback_summary_to_pb(d.feedback)) for d in stats.daily],
    )


def bank_stats_from_pb(pb: curation_pb2.BankStats) -> BankStats:
    return BankStats(
        bank=pb.name,
        feedback=feedback_summary_from_pb(pb.feedback),
        daily=tuple(DailyFeedback(day=timestamp_from_pb(d.day), feedback=feedback_summary_from_pb(d.feedback)) for d in pb.daily),
    )


def reference_stats_to_pb(stats: ReferenceStats) -> curation_pb2.ReferenceStats:
    rate = stats.match_rate
    return curation_pb2.ReferenceStats(
        reference_id=stats.reference_id,
        state=_STATE_TO_PB[stats.state],
        feedback=feedback_summary_to_pb(stats.feedback),
        recent_matches=rate.recent_matches,
        recent_posts=rate.recent_posts,
        usual_matches=rate.usual_matches,
        usual_posts=rate.usual_posts,
    )


def reference_stats_from_pb(pb: curation_pb2.ReferenceStats) -> ReferenceStats:
    return ReferenceStats(
        reference_id=pb.reference_id,
        state=_STATE_FROM_PB[pb.state],
        feedback=feedback_summary_from_pb(pb.feedback),
        match_rate=MatchRate(pb.recent_matches, pb.recent_posts, pb.usual_matches, pb.usual_posts),
    )


def curation_stats_to_pb(stats: CurationStats) -> curation_pb2.CurationStats:
    return curation_pb2.CurationStats(
        by_state=[curation_pb2.StateCount(state=_STATE_TO_PB[s], count=n) for s, n in stats.by_state.items()],
        banks=stats.banks,
        index_size=stats.index_size,
        quarantine_enabled=stats.quarantine_enabled,
        thresholds_bank_size=stats.thresholds_bank_size,
        thresholds_bank_by_lang=dict(stats.thresholds_bank_by_lang),
        thresholds_sized_for=stats.thresholds_sized_for,
        expected_fp_per_post=dict(stats.expected_fp_per_post),
        target_fp_per_post=stats.target_fp_per_post,
        thresholds_follow_bank=stats.thresholds_follow_bank,
    )


def curation_stats_from_pb(pb: curation_pb2.CurationStats) -> CurationStats:
    return CurationStats(
        by_state={_STATE_FROM_PB[c.state]: c.count for c in pb.by_state},
        banks=pb.banks,
        index_size=pb.index_size,
        quarantine_enabled=pb.quarantine_enabled,
        thresholds_bank_by_lang=dict(pb.thresholds_bank_by_lang),
        thresholds_sized_for=pb.thresholds_sized_for,
        expected_fp_per_post=dict(pb.expected_fp_per_post),
        target_fp_per_post=pb.target_fp_per_post,
        thresholds_follow_bank=pb.thresholds_follow_bank,
    )


def audit_query_to_pb(query: AuditQuery) -> curation_pb2.QueryAuditRequest:
    pb = curation_pb2.QueryAuditRequest(
        target=query.target, actor=query.actor, action=query.action, page_size=query.page_size, page_token=query.page_token
    )
    if query.since is not None:
        pb.since.CopyFrom(timestamp_to_pb(query.since))
    return pb


def audit_query_from_pb(pb: curation_pb2.QueryAuditRequest) -> AuditQuery:
    return AuditQuery(
        target=pb.target, actor=pb.actor, action=pb.action, since=optional_timestamp_from_pb(pb, "since"),
        page_size=pb.page_size, page_token=pb.page_token,
    )


def match_log_query_to_pb(query: MatchLogQuery) -> curation_pb2.ListMatchLogRequest:
    return curation_pb2.ListMatchLogRequest(
        bank=query.bank, verdict=matcher_pb2.VERDICT_UNSPECIFIED if query.verdict is None else _VERDICT_TO_PB[query.verdict],
        label=query.label, include_reviewed=query.include_reviewed, page_size=query.page_size, page_token=query.page_token,
    )


def match_log_query_from_pb(pb: curation_pb2.ListMatchLogRequest) -> MatchLogQuery:
    verdict: Verdict | None = _known(pb.verdict, _VERDICT_FROM_PB, "verdict", matcher_pb2.VERDICT_UNSPECIFIED)
    if verdict is Verdict.NO_MATCH:
        raise InvalidInput("verdict", "the match log keeps flagged matches only; NO_MATCH is never logged")
    return MatchLogQuery(
        bank=pb.bank, verdict=verdict, label=pb.label, include_reviewed=pb.include_reviewed, page_size=pb.page_size,
        page_token=pb.page_token,
    )


def logged_match_to_pb(entry: LoggedMatch) -> curation_pb2.LoggedMatch:
    return curation_pb2.LoggedMatch(
        seq=entry.seq, at=timestamp_to_pb(entry.at), post_id=entry.post_id, post_text=entry.post_text, post_lang=entry.post_lang,
        match=match_to_pb(entry.match),
        review=curation_pb2.FEEDBACK_VERDICT_UNSPECIFIED if entry.review is None else _FEEDBACK_TO_PB[entry.review],
    )


def logged_match_from_pb(pb: curation_pb2.LoggedMatch) -> LoggedMatch:
    return LoggedMatch(
        seq=pb.seq, at=timestamp_from_pb(pb.at), post_id=pb.post_id, post_text=pb.post_text, post_lang=pb.post_lang,
        match=match_from_pb(pb.match), review=_FEEDBACK_FROM_PB.get(pb.review),
    )


def _json_or_empty(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def audit_entry_to_pb(entry: AuditEntry) -> curation_pb2.AuditEntry:
    return curation_pb2.AuditEntry(
        seq=entry.seq,
        at=timestamp_to_pb(entry.at),
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        old_json=_json_or_empty(entry.old),
        new_json=_json_or_empty(entry.new),
    )


def audit_entry_from_pb(pb: curation_pb2.AuditEntry) -> AuditEntry:
    return AuditEntry(
        seq=pb.seq,
        at=timestamp_from_pb(pb.at),
        actor=pb.actor,
        action=pb.action,
        target=pb.target,
        old=json.loads(pb.old_json) if pb.old_json else None,
        new=json.loads(pb.new_json) if pb.new_json else None,
    )


def next_cursor_to_metadata(cursor: int) -> tuple[tuple[str, str], ...]:
    return ((NEXT_CURSOR_KEY, str(cursor)),)


def next_cursor_from_metadata(metadata: Sequence[tuple[str, Any]] | None, default: int) -> int:
    for key, value in metadata or ():
        if key == NEXT_CURSOR_KEY:
            return int(value)
    return default


def import_summary_to_pb(summary: ImportSummary) -> curation_pb2.ImportReferencesResponse:
    return curation_pb2.ImportReferencesResponse(
        added=summary.added, updated=summary.updated, removed=summary.removed, unchanged=summary.unchanged, skipped=list(summary.skipped)
    )


def import_summary_from_pb(pb: curation_pb2.ImportReferencesResponse) -> ImportSummary:
    return ImportSummary(added=pb.added, updated=pb.updated, removed=pb.removed, unchanged=pb.unchanged, skipped=tuple(pb.skipped))


def loaded_index_to_pb(loaded: LoadedIndex) -> admin_pb2.LoadIndexResponse:
    return admin_pb2.LoadIndexResponse(
        path=loaded.path,
        version=loaded.version,
        model_id=loaded.model_id,
        index_type=loaded.index_type,
        generation=loaded.generation,
        added=loaded.added,
        removed=loaded.removed,
        size=loaded.size,
        recall_at_10=loaded.recall_at_10 or 0.0,
    )


def loaded_index_from_pb(pb: admin_pb2.LoadIndexResponse) -> LoadedIndex:
    return LoadedIndex(
        path=pb.path, version=pb.version, model_id=pb.model_id, index_type=pb.index_type, generation=pb.generation,
        recall_at_10=pb.recall_at_10 or None, added=pb.added, removed=pb.removed, size=pb.size,
    )
