"""The JSON forms of the boundary types: exchange lines, screening output rows, reference inputs.

Every JSON conversion the core, the CLI and ``index_builder`` share is here,
as every protobuf conversion is in ``service/api/convert.py``.

Exchange lines (``ExportReferences`` / ``ImportReferences`` as JSONL):

One JSON object per line, one line per item, in change order. A removed item
is a *tombstone*: ``"state": "removed"``, no text, but its id, bank and
fingerprint, so a consumer knows what to delete. ``seq`` is the item's
position in the exporter's change log: the next export ``after`` the highest
``seq`` seen returns only what changed since (like TCAP's ``after=`` cursor).

    {"id": "ur-1", "seq": 7, "state": "active", "text": "...", "lang": "ur", "detected_lang": "ur",
     "bank": "demo", "labels": ["org:example"], "metadata": {}, "fingerprint": "…",
     "added_by": "curator:ann", "created_at": 1700000000.0, "updated_at": 1700000000.0}
    {"id": "en-9", "seq": 8, "state": "removed", "bank": "demo", "fingerprint": "…", "updated_at": 1700000100.0}
"""

from __future__ import annotations

from typing import Any, Mapping

from service.core.domain import DEFAULT_BANK, Match, NewReference, PostResult, ReferenceItem, ReferenceState, Signal, Verdict
from service.core.errors import InvalidInput
from service.core.text.language_tags import normalise_lang


def reference_to_record(item: ReferenceItem) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": item.id,
        "seq": item.change_seq,
        "state": item.state.value,
        "bank": item.bank,
        "fingerprint": item.fingerprint,
        "updated_at": item.updated_at,
    }
    if item.state is ReferenceState.REMOVED:
        return record
    record.update(
        text=item.text,
        lang=item.declared_lang,
        detected_lang=item.detected_lang,
        labels=list(item.labels),
        metadata=dict(item.metadata),
        added_by=item.added_by,
        created_at=item.created_at,
    )
    if item.disabled_until is not None:
        record["disabled_until"] = item.disabled_until
    return record


def reference_from_record(record: Mapping[str, Any], where: str = "record") -> ReferenceItem:
    """Parse one exchange record; errors name the line and field."""
    if not isinstance(record, Mapping):
        raise InvalidInput(where, "must be a JSON object")
    ref_id = record.get("id")
    if not isinstance(ref_id, str) or not ref_id:
        raise InvalidInput(f"{where}.id", "must be a non-empty string")
    try:
        state = ReferenceState(record.get("state", "active"))
    except ValueError as exc:
        raise InvalidInput(f"{where}.state", f"unknown state {record.get('state')!r}") from exc
    text = record.get("text", "")
    hash_only = text == "" and bool(record.get("fingerprint"))
    if state is not ReferenceState.REMOVED and not hash_only and (not isinstance(text, str) or not text.strip()):
        raise InvalidInput(f"{where}.text", "must not be empty except in a tombstone or a hash-only item (a fingerprint)")
    labels = record.get("labels", [])
    metadata = record.get("metadata", {})
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise InvalidInput(f"{where}.labels", "must be a list of strings")
    if not isinstance(metadata, Mapping):
        raise InvalidInput(f"{where}.metadata", "must be an object")
    until = record.get("disabled_until")
    return ReferenceItem(
        vid=0,
        id=ref_id,
        text=str(text),
        canonical="",
        fingerprint=str(record.get("fingerprint", "")),
        declared_lang=normalise_lang(str(record.get("lang", "")), f"{where}.lang"),
        detected_lang=str(record.get("detected_lang", "")),
        bank=str(record.get("bank", "")) or DEFAULT_BANK,
        labels=tuple(labels),
        metadata={str(k): str(v) for k, v in metadata.items()},
        added_by=str(record.get("added_by", "")),
        created_at=_number(record, "created_at", where),
        updated_at=_number(record, "updated_at", where),
        state=state,
        disabled_until=None if until is None else _number(record, "disabled_until", where),
        change_seq=int(_number(record, "seq", where)),
    )


def _number(record: Mapping[str, Any], key: str, where: str) -> float:
    value = record.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{where}.{key}", f"must be a number, got {value!r}")
    return float(value)


def new_reference_from_record(record: Mapping[str, Any], where: str, default: NewReference) -> NewReference:
    """One line of an ``add --file`` list: text (or, for a hash-only item, fingerprint), and optionally id, lang, bank, labels, metadata."""
    if not isinstance(record, Mapping):
        raise InvalidInput(where, "must be a JSON object")
    labels = record.get("labels", default.labels)
    metadata = record.get("metadata", {})
    if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels):
        raise InvalidInput(f"{where}.labels", "must be a list of strings")
    if not isinstance(metadata, Mapping):
        raise InvalidInput(f"{where}.metadata", "must be an object")
    return NewReference(
        text=str(record.get("text", "")),
        id=str(record.get("id", "")),
        lang=normalise_lang(str(record.get("lang", default.lang)), f"{where}.lang"),
        bank=str(record.get("bank", default.bank)),
        labels=tuple(labels),
        metadata={str(k): str(v) for k, v in metadata.items()},
        fingerprint=str(record.get("fingerprint", "")),
    )


def result_to_record(result: PostResult) -> dict[str, Any]:
    """A post's result as ``index_builder screen`` writes it: everything ``Match`` returns."""
    return {
        "post_id": result.post_id,
        "verdict": result.verdict.value,
        "detected_lang": result.detected_lang,
        "fingerprint": result.fingerprint,
        "suppressed_by": result.suppressed_by,
        "matches": [
            {
                "reference_id": m.reference_id,
                "score": m.score,
                "cosine": m.cosine,
                "kind": m.kind.value,
                "signal": m.signal.value,
                "bank": m.bank,
                "labels": list(m.labels),
                "reference_lang": m.reference_lang,
                "metadata": dict(m.metadata),
            }
            for m in result.matches
        ],
    }


def result_from_record(record: Mapping[str, Any]) -> PostResult:
    """The inverse of :func:`result_to_record` (screening output read back)."""
    return PostResult(
        post_id=record["post_id"],
        verdict=Verdict(record["verdict"]),
        detected_lang=record["detected_lang"],
        # Absent from screening output written before results carried it.
        fingerprint=record.get("fingerprint", ""),
        suppressed_by=record.get("suppressed_by", ""),
        matches=tuple(
            Match(
                reference_id=m["reference_id"], score=m["score"], cosine=m["cosine"], kind=Verdict(m["kind"]),
                signal=Signal(m["signal"]), bank=m["bank"], labels=tuple(m["labels"]), reference_lang=m["reference_lang"],
                metadata=_mapping(m.get("metadata")),
            )
            for m in record["matches"]
        ),
    )


def _mapping(value: Any) -> dict[str, str]:
    """A JSON object, or the (key, value) pairs Parquet's map type reads back as."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return {str(k): str(v) for k, v in (value or [])}
