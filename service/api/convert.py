"""Every protobuf <-> domain conversion, in one place."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from service.api._generated.nigran.v1 import admin_pb2, curation_pb2, matcher_pb2
from service.core.artifact import LoadedIndex
from service.core.domain import (
    DEFAULT_BANK,
    Match,
    NewReference,
    Post,
    PostResult,
    ReferenceItem,
    ReferenceState,
    Signal,
    Verdict,
)

_VERDICT_TO_PB = {
    Verdict.NO_MATCH: matcher_pb2.NO_MATCH,
    Verdict.REUPLOAD: matcher_pb2.REUPLOAD,
    Verdict.NEAR_DUPLICATE: matcher_pb2.NEAR_DUPLICATE,
    Verdict.TRANSLATION: matcher_pb2.TRANSLATION,
}
_VERDICT_FROM_PB = {v: k for k, v in _VERDICT_TO_PB.items()}

_SIGNAL_TO_PB = {
    Signal.EXACT: matcher_pb2.EXACT,
    Signal.LEXICAL: matcher_pb2.LEXICAL,
    Signal.SEMANTIC: matcher_pb2.SEMANTIC,
}
_SIGNAL_FROM_PB = {v: k for k, v in _SIGNAL_TO_PB.items()}

_STATE_TO_PB = {
    ReferenceState.ACTIVE: curation_pb2.ACTIVE,
    ReferenceState.DISABLED: curation_pb2.DISABLED,
    ReferenceState.QUARANTINED: curation_pb2.QUARANTINED,
    ReferenceState.REMOVED: curation_pb2.REMOVED,
}
_STATE_FROM_PB = {v: k for k, v in _STATE_TO_PB.items()}


def timestamp_to_pb(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(round(seconds * 1e9)))
    return ts


def timestamp_from_pb(ts: Timestamp) -> float:
    return float(ts.ToNanoseconds()) / 1e9


def posts_from_pb(request: matcher_pb2.MatchRequest) -> list[Post]:
    return [Post(id=p.id, text=p.text) for p in request.posts]


def posts_to_pb(posts: list[Post], *, banks: tuple[str, ...] = (), top_k: int = 0) -> matcher_pb2.MatchRequest:
    return matcher_pb2.MatchRequest(
        posts=[matcher_pb2.Post(id=p.id, text=p.text) for p in posts], banks=list(banks), top_k=top_k
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
    )


def result_from_pb(pb: matcher_pb2.PostResult) -> PostResult:
    return PostResult(
        post_id=pb.post_id,
        verdict=_VERDICT_FROM_PB[pb.verdict],
        matches=tuple(match_from_pb(m) for m in pb.matches),
        detected_lang=pb.detected_lang,
        suppressed_by=pb.suppressed_by,
    )


def results_to_pb(results: list[PostResult]) -> matcher_pb2.MatchResponse:
    return matcher_pb2.MatchResponse(results=[result_to_pb(r) for r in results])


def new_reference_from_pb(pb: curation_pb2.ReferenceInput) -> NewReference:
    return NewReference(
        id=pb.id,
        text=pb.text,
        lang=pb.lang,
        bank=pb.bank or DEFAULT_BANK,
        labels=tuple(pb.labels),
        metadata=dict(pb.metadata),
    )


def new_reference_to_pb(ref: NewReference) -> curation_pb2.ReferenceInput:
    return curation_pb2.ReferenceInput(
        id=ref.id, text=ref.text, lang=ref.lang, bank=ref.bank, labels=list(ref.labels), metadata=dict(ref.metadata)
    )


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
    )


def loaded_index_to_pb(loaded: LoadedIndex) -> admin_pb2.LoadIndexResponse:
    manifest = loaded.manifest
    return admin_pb2.LoadIndexResponse(
        path=loaded.path,
        version=manifest.version,
        model_id=manifest.model_id,
        index_type=manifest.index_type,
        generation=manifest.generation,
        added=loaded.added,
        removed=loaded.removed,
        size=loaded.size,
        recall_at_10=manifest.recall_at_10 or 0.0,
    )
