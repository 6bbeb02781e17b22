"""Exchanging reference lists with other deployments: export after a cursor, idempotent import.

An export is the change log after a cursor: items and tombstones, oldest
change first, with the cursor to pass next time (like TCAP's ``after=``).
An import applies such a list: importing the same list twice changes
nothing. New items go through the one write path (``References.add``), with
their banks created where missing; items already here get their labels,
metadata and disable state brought in line; tombstones remove. Quarantine is
a local traffic decision and is never imported; a tombstone here is final.
The JSON form of a record is in ``service/core/records.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Iterable, Iterator

from service.core.cancellation import StopCheck, never, stop_if_asked
from service.core.curation import transitions
from service.core.curation.labels import check_labels
from service.core.curation.references import References
from service.core.domain import (
    AddOptions, ExportPage, ImportSummary, NewReference, OnMissingBank, ReferenceItem, ReferenceState
)
from service.core.errors import InvalidInput, NotFound
from service.core.store.base import ReferenceStore
from service.core.text.prepare import prepare_text
from service.core.validation import check_cursor, check_text, check_time

IMPORT_BATCH = 256
# The write path checks texts against the configured limit; this only keeps a
# hostile record from costing more than that before it gets there.
MAX_TEXT_FOR_ID = 1024 * 1024


class Exchange:
    def __init__(self, store: ReferenceStore, references: References) -> None:
        self._store = store
        self._references = references

    def export(self, *, after: int, limit: int = 0) -> ExportPage:
        """Items and tombstones changed after the cursor (all of them when ``limit`` is 0)."""
        check_cursor(after)
        items = self._store.references.changes_after(after, limit=limit or self._store.references.last_change_seq() + 1)
        return ExportPage(items=tuple(items), next_cursor=items[-1].change_seq if items else after)

    def import_items(self, items: Iterable[ReferenceItem], *, actor: str, stop: StopCheck = never) -> ImportSummary:
        """Apply an exported list batch by batch; ``stop`` ends it between batches (what is done stays done)."""
        counts = {"added": 0, "updated": 0, "removed": 0, "unchanged": 0}
        skipped: list[str] = []
        for batch in _batches(items, IMPORT_BATCH):
            stop_if_asked(stop, "the next batch of the import")
            new: list[ReferenceItem] = []
            for item in map(_with_id, batch):
                outcome = self._import_existing(item, actor)
                if outcome == "new":
                    new.append(item)
                elif outcome == "skipped":
                    skipped.append(item.id)
                else:
                    counts[outcome] += 1
            if new:
                self._references.add(
                    [
                        NewReference(
                            text=i.text, id=i.id, lang=i.declared_lang, bank=i.bank, labels=i.labels, metadata=i.metadata,
                            # No text: a hash-only item, imported as one.
                            fingerprint="" if i.text else i.fingerprint,
                        )
                        for i in new
                    ],
                    actor=actor,
                    options=AddOptions(missing_bank=OnMissingBank.CREATE),
                    stop=stop,
                )
                for i in new:
                    if i.state is ReferenceState.DISABLED:
                        self._disable(i, actor)
                counts["added"] += len(new)
        return ImportSummary(skipped=tuple(skipped), **counts)

    def _import_existing(self, item: ReferenceItem, actor: str) -> str:
        try:
            local = self._store.references.get(item.id)
        except NotFound:
            return "unchanged" if item.state is ReferenceState.REMOVED else "new"
        if local.state is ReferenceState.REMOVED:
            return "unchanged" if item.state is ReferenceState.REMOVED else "skipped"
        if item.fingerprint and item.fingerprint != local.fingerprint:
            # Another text under the same id, tombstone or not: not the item the exporter means.
            return "skipped"
        if item.state is ReferenceState.REMOVED:
            self._references.remove([item.id], actor=actor)
            return "removed"
        labels = check_labels(item.labels, f"{item.id}.labels")
        changed = False
        if labels != local.labels or dict(item.metadata) != dict(local.metadata):
            self._references.set_annotations(item.id, labels, item.metadata, actor=actor, field=item.id)
            changed = True
        if item.state is ReferenceState.DISABLED and (local.state, local.disabled_until) != (item.state, item.disabled_until):
            self._disable(item, actor)
            changed = True
        elif item.state is not ReferenceState.DISABLED and local.state is ReferenceState.DISABLED:
            self._store.references.set_state([item.id], transitions.ENABLE, actor=actor)
            changed = True
        return "updated" if changed else "unchanged"

    def _disable(self, item: ReferenceItem, actor: str) -> None:
        # The exporter's window is taken as it is, even when it has run out here.
        until = None if item.disabled_until is None else check_time(f"{item.id}.disabled_until", item.disabled_until)
        self._store.references.set_state([item.id], transitions.disable(until), actor=actor)


def _with_id(item: ReferenceItem) -> ReferenceItem:
    """An item sent without an id gets one from its bank and text, so importing it twice adds it once."""
    if item.id:
        return item
    if item.state is ReferenceState.REMOVED:
        raise InvalidInput("id", "a tombstone must name the item it removes")
    check_text("text", item.text, MAX_TEXT_FOR_ID)
    digest = hashlib.sha256(f"{item.bank}\0{prepare_text(item.text).fingerprint}".encode()).hexdigest()
    return dataclasses.replace(item, id=f"fp-{digest[:32]}")


def _batches(items: Iterable[ReferenceItem], size: int) -> Iterator[list[ReferenceItem]]:
    batch: list[ReferenceItem] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
