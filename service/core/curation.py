"""Curation: what analysts do to banks and reference items, beyond adding and removing.

Every change goes through the store (one transaction, audited, durable before
it returns) and is visible to the very next match: matching reads bank
settings from the in-memory catalog (reloaded after each bank change) and item
state from the store, and the index keeps disabled and quarantined items, so
none of these changes touches the index.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping, Sequence

from service.core.banks import Bank, BankChanges, BankKind, check_bank_name, check_threshold_overrides
from service.core.domain import DEFAULT_BANK, NewReference, ReferenceItem, ReferenceState
from service.core.errors import FailedPrecondition, InvalidInput, NotFound
from service.core.feedback import Feedback, FeedbackSummary
from service.core.labels import check_labels
from service.core.quarantine import MatchRate
from service.core.store import AuditEntry

if TYPE_CHECKING:
    from service.core.engine import Engine

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
MAX_PAGE = 1000
DEFAULT_PAGE = 100
IMPORT_BATCH = 256

_LIVE = frozenset({ReferenceState.ACTIVE, ReferenceState.DISABLED, ReferenceState.QUARANTINED})


@dataclass(frozen=True)
class ReferenceStats:
    reference_id: str
    state: ReferenceState
    feedback: FeedbackSummary
    match_rate: MatchRate


@dataclass(frozen=True)
class CurationStats:
    by_state: Mapping[ReferenceState, int]
    banks: int
    index_size: int
    quarantine_enabled: bool


@dataclass(frozen=True)
class ImportSummary:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    # Ids left alone: removed here (tombstones are final) or with different text.
    skipped: tuple[str, ...] = ()


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidInput("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE, MAX_PAGE)


def parse_page_token(token: str) -> int:
    if not token:
        return 0
    if not token.isdigit():
        raise InvalidInput("page_token", f"{token!r} is not a token this service issued")
    return int(token)


class Curation:
    def __init__(self, engine: "Engine") -> None:
        self._engine = engine
        self._store = engine.store

    # -- banks ------------------------------------------------------------------

    def create_bank(self, bank: Bank, *, actor: str) -> Bank:
        check_bank_name(bank.name)
        checked = Bank(
            name=bank.name,
            description=bank.description,
            enabled=bank.enabled,
            kind=bank.kind,
            thresholds=check_threshold_overrides(bank.thresholds),
        )
        created = self._store.create_bank(checked, actor=actor)
        self._engine.banks.reload()
        return created

    def list_banks(self) -> list[Bank]:
        return self._store.list_banks()

    def get_bank(self, name: str) -> Bank:
        return self._store.get_bank(name)

    def update_bank(self, name: str, changes: BankChanges, *, actor: str) -> Bank:
        set_thresholds = check_threshold_overrides(changes.set_thresholds, "set_thresholds")
        check_threshold_overrides({k: 0.0 for k in changes.clear_thresholds}, "clear_thresholds")
        if name == DEFAULT_BANK and changes.kind is BankKind.SUPPRESSION:
            raise FailedPrecondition(f"bank {name!r} cannot be a suppression bank")
        updated = self._store.update_bank(
            name,
            BankChanges(changes.description, changes.enabled, changes.kind, set_thresholds, tuple(changes.clear_thresholds)),
            actor=actor,
        )
        self._engine.banks.reload()
        return updated

    def delete_bank(self, name: str, *, force: bool, actor: str) -> int:
        """Delete a bank. A bank holding items is refused unless ``force``, which tombstones them first.

        Returns how many items were tombstoned. Tombstones keep the bank's name,
        so exports still tell consumers to delete them.
        """
        self._store.get_bank(name)
        removed = 0
        if force and name != DEFAULT_BANK:
            ids = self._store.live_ids_in_bank(name)
            if ids:
                removed = len(self._engine.remove_references(ids, actor=actor)[0])
        self._store.delete_bank(name, actor=actor)
        self._engine.banks.reload()
        return removed

    # -- items ------------------------------------------------------------------

    def update_reference(
        self,
        ref_id: str,
        *,
        add_labels: Sequence[str] = (),
        remove_labels: Sequence[str] = (),
        set_metadata: Mapping[str, str] | None = None,
        remove_metadata: Sequence[str] = (),
        actor: str,
    ) -> ReferenceItem:
        if not ref_id:
            raise InvalidInput("id", "must not be empty")
        add = check_labels(add_labels, "add_labels")
        drop = set(check_labels(remove_labels, "remove_labels"))
        item = self._store.get(ref_id)
        if item.state is ReferenceState.REMOVED:
            raise NotFound("reference", ref_id)
        labels = [label for label in item.labels if label not in drop]
        labels += [label for label in add if label not in labels]
        metadata = {k: v for k, v in item.metadata.items() if k not in set(remove_metadata)}
        metadata.update(set_metadata or {})
        return self._store.update_annotations(ref_id, labels=labels, metadata=metadata, actor=actor)

    def disable(self, ids: Sequence[str], *, until: float | None, actor: str) -> tuple[list[str], list[str]]:
        """Hold items out of matching, until a time or (None) indefinitely."""
        _need_ids(ids)
        if until is not None and until <= time.time():
            raise InvalidInput("until", "must be in the future (leave it out to disable indefinitely)")
        changed, missing = self._store.set_state(
            ids, ReferenceState.DISABLED, allowed_from=_LIVE, until=until, actor=actor, action="disable"
        )
        return [i.id for i in changed], missing

    def enable(self, ids: Sequence[str], *, actor: str) -> tuple[list[str], list[str]]:
        _need_ids(ids)
        changed, missing = self._store.set_state(
            ids, ReferenceState.ACTIVE, allowed_from=frozenset({ReferenceState.DISABLED}), actor=actor, action="enable"
        )
        return [i.id for i in changed], missing

    def release(self, ids: Sequence[str], *, actor: str) -> tuple[list[str], list[str]]:
        """Return quarantined items to matching, with a fresh match-rate history."""
        _need_ids(ids)
        changed, missing = self._store.set_state(
            ids, ReferenceState.ACTIVE, allowed_from=frozenset({ReferenceState.QUARANTINED}), actor=actor, action="release"
        )
        self._engine.quarantine_monitor.forget(i.id for i in changed)
        return [i.id for i in changed], missing

    def hold_out(self, ids: Sequence[str]) -> None:
        """Quarantine items the monitor flagged (called from the match path)."""
        if not ids:
            return
        rates = {i: self._engine.quarantine_monitor.rate(i) for i in ids}
        for ref_id in ids:
            rate = rates[ref_id]
            reason = {"recent_rate": round(rate.recent_rate, 6), "usual_rate": round(rate.usual_rate, 6), "recent_matches": rate.recent_matches}
            changed, _ = self._store.set_state(
                [ref_id], ReferenceState.QUARANTINED, allowed_from=frozenset({ReferenceState.ACTIVE}),
                actor=SYSTEM_ACTOR, action="quarantine", reason=reason,
            )
            if changed:
                log.warning("quarantined %s: %s", ref_id, reason)

    def list_references(
        self, *, bank: str = "", state: ReferenceState | None = None, label: str = "", size: int = 0, token: str = ""
    ) -> tuple[list[ReferenceItem], str]:
        size = page_size(size)
        items = self._store.list_references(bank=bank, state=state, label=label, after_vid=parse_page_token(token), limit=size)
        return items, (str(items[-1].vid) if len(items) == size else "")

    # -- feedback and stats -------------------------------------------------------

    def report(self, feedback: Feedback) -> FeedbackSummary:
        if not feedback.reference_id:
            raise InvalidInput("reference_id", "must not be empty")
        if not feedback.post_id:
            raise InvalidInput("post_id", "must not be empty")
        self._store.add_feedback(feedback)
        return self._store.feedback_summary(feedback.reference_id)

    def reference_stats(self, ref_id: str) -> ReferenceStats:
        item = self._engine.get_reference(ref_id)
        return ReferenceStats(
            reference_id=ref_id,
            state=item.state,
            feedback=self._store.feedback_summary(ref_id),
            match_rate=self._engine.quarantine_monitor.rate(ref_id),
        )

    def stats(self) -> CurationStats:
        return CurationStats(
            by_state=self._store.counts_by_state(),
            banks=len(self._engine.banks.names()),
            index_size=self._engine.index_size,
            quarantine_enabled=self._engine.config.quarantine.enabled,
        )

    def query_audit(
        self, *, target: str = "", actor: str = "", action: str = "", since: float | None = None, size: int = 0, token: str = ""
    ) -> tuple[list[AuditEntry], str]:
        size = page_size(size)
        before = parse_page_token(token) or None
        entries = self._store.query_audit(target=target, actor=actor, action=action, since=since, before_seq=before, limit=size)
        return entries, (str(entries[-1].seq) if len(entries) == size else "")

    # -- exchange -----------------------------------------------------------------

    def export(self, *, after: int, limit: int = 0) -> tuple[list[ReferenceItem], int]:
        """Items and tombstones changed after the cursor, and the cursor to pass next time."""
        if after < 0:
            raise InvalidInput("after", "must not be negative")
        items = self._store.changes_after(after, limit=limit or self._store.last_change_seq() + 1)
        return items, (items[-1].change_seq if items else after)

    def import_items(self, items: Iterable[ReferenceItem], *, actor: str) -> ImportSummary:
        """Apply an exported list: idempotent, so importing the same list twice changes nothing."""
        counts = {"added": 0, "updated": 0, "removed": 0, "unchanged": 0}
        skipped: list[str] = []
        for batch in _batches(items, IMPORT_BATCH):
            to_add: list[ReferenceItem] = []
            for item in batch:
                outcome = self._import_existing(item, actor)
                if outcome == "new":
                    to_add.append(item)
                elif outcome == "skipped":
                    skipped.append(item.id)
                else:
                    counts[outcome] += 1
            if to_add:
                for bank in {i.bank for i in to_add} - self._engine.banks.names():
                    self.create_bank(Bank(name=bank, description="created by import"), actor=actor)
                self._engine.add_references(
                    [NewReference(text=i.text, id=i.id, lang=i.declared_lang, bank=i.bank, labels=i.labels, metadata=i.metadata) for i in to_add],
                    actor=actor,
                )
                disabled = [i for i in to_add if i.state is ReferenceState.DISABLED]
                for i in disabled:
                    self._store.set_state([i.id], ReferenceState.DISABLED, allowed_from=_LIVE, until=i.disabled_until, actor=actor, action="disable")
                counts["added"] += len(to_add)
        return ImportSummary(skipped=tuple(skipped), **counts)

    def _import_existing(self, item: ReferenceItem, actor: str) -> str:
        try:
            local = self._store.get(item.id)
        except NotFound:
            return "unchanged" if item.state is ReferenceState.REMOVED else "new"
        if local.state is ReferenceState.REMOVED:
            return "unchanged" if item.state is ReferenceState.REMOVED else "skipped"
        if item.state is ReferenceState.REMOVED:
            self._engine.remove_references([item.id], actor=actor)
            return "removed"
        if item.fingerprint and item.fingerprint != local.fingerprint:
            return "skipped"
        labels = check_labels(item.labels, f"{item.id}.labels")
        changed = False
        if labels != local.labels or dict(item.metadata) != dict(local.metadata):
            self._store.update_annotations(item.id, labels=labels, metadata=item.metadata, actor=actor)
            changed = True
        # Quarantine is a local traffic decision: it is not imported.
        wanted = ReferenceState.DISABLED if item.state is ReferenceState.DISABLED else ReferenceState.ACTIVE
        if wanted is ReferenceState.DISABLED and (local.state, local.disabled_until) != (wanted, item.disabled_until):
            self._store.set_state([item.id], wanted, allowed_from=_LIVE, until=item.disabled_until, actor=actor, action="disable")
            changed = True
        elif wanted is ReferenceState.ACTIVE and local.state is ReferenceState.DISABLED:
            self._store.set_state([item.id], wanted, allowed_from=frozenset({ReferenceState.DISABLED}), actor=actor, action="enable")
            changed = True
        return "updated" if changed else "unchanged"


def _need_ids(ids: Sequence[str]) -> None:
    if not ids:
        raise InvalidInput("ids", "at least one id is required")
    for i, ref_id in enumerate(ids):
        if not ref_id:
            raise InvalidInput(f"ids[{i}]", "must not be empty")


def _batches(items: Iterable[ReferenceItem], size: int) -> Iterator[list[ReferenceItem]]:
    batch: list[ReferenceItem] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
