"""The JSONL exchange format for reference lists (export, import).

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

from service.core.domain import ReferenceItem, ReferenceState
from service.core.errors import InvalidInput


def to_record(item: ReferenceItem) -> dict[str, Any]:
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


def from_record(record: Mapping[str, Any], where: str = "record") -> ReferenceItem:
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
    if state is not ReferenceState.REMOVED and (not isinstance(text, str) or not text.strip()):
        raise InvalidInput(f"{where}.text", "must not be empty except in a tombstone")
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
        declared_lang=str(record.get("lang", "")),
        detected_lang=str(record.get("detected_lang", "")),
        bank=str(record.get("bank", "")) or "default",
        labels=tuple(labels),
        metadata={str(k): str(v) for k, v in metadata.items()},
        added_by=str(record.get("added_by", "")),
        created_at=float(record.get("created_at", 0.0)),
        updated_at=float(record.get("updated_at", 0.0)),
        state=state,
        disabled_until=None if until is None else float(until),
        change_seq=int(record.get("seq", 0)),
    )
