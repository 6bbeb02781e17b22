"""Reference items: the one write path, and every other change an analyst makes to an item.

:meth:`References.add` is the only way an item enters the store: the API's
``AddReferences``, ``ImportReferences`` and ``index_builder build`` all call
it, with :class:`AddOptions` saying what to do where they differ (an id that
is already stored, a fingerprint that is, a bank that does not exist, an
invalid item). Each item's text is prepared once (``text/prepare.py``), the
batch is embedded in one call, and the store write and the index update
happen under the live index's write lock, so an added item is matchable when
the call returns. A hash-only item (a fingerprint and no text) is stored
without a vector and matches by its fingerprint alone.

State changes (disable, enable, release) and label edits touch only the
store: the index keeps disabled and quarantined items (so re-enabling is
instant), and matching reads item state from the store and bank settings from
the catalog, so every change is visible to the very next match.
"""

from __future__ import annotations

import time
import uuid
from typing import Callable, Mapping, Sequence

import numpy as np

from service.core.cancellation import StopCheck, never
from service.core.config import Limits
from service.core.curation import transitions
from service.core.curation.banks import Banks, check_bank_name
from service.core.curation.labels import check_labels
from service.core.curation.quarantine import HoldOuts
from service.core.domain import (
    DEFAULT_BANK, AddOptions, AddOutcome, NewReference, OnDuplicate, OnExistingId, OnInvalid, OnMissingBank,
    ReferenceItem, ReferenceQuery, ReferenceState, Rejected, StateChange
)
from service.core.embedding.embedder import Embedder
from service.core.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from service.core.index.live import LiveIndex
from service.core.matching.bank_size import BankSizer
from service.core.store.base import ReferenceFilter, ReferenceStore, StoredReference, Transition
from service.core.text.language_tags import normalise_lang
from service.core.text.prepare import PreparedText, hash_only, prepare_text
from service.core.validation import (
    check_count, check_fingerprint, check_id, check_ids, check_item_annotations, check_text, check_time, make_page_token, page_size,
    parse_page_token,
)

Progress = Callable[[int, int], None]

# Reads and writes of one label change, tried again while other writers keep changing the item first.
_UPDATE_ATTEMPTS = 20


class References:
    def __init__(
        self,
        store: ReferenceStore,
        embedder: Embedder,
        limits: Limits,
        banks: Banks,
        *,
        index: LiveIndex | None = None,
        holdouts: HoldOuts | None = None,
        sizer: BankSizer | None = None,
    ) -> None:
        """``index``: the live index to keep in step (None for offline builds, which write the store only);
        ``sizer``: the operating points that follow the bank's size."""
        self._store = store
        self._embedder = embedder
        self._limits = limits
        self._banks = banks
        self._index = index
        self._holdouts = holdouts
        self._sizer = sizer

    # -- the write path -----------------------------------------------------------

    def add(
        self, refs: Sequence[NewReference], *, actor: str, options: AddOptions = AddOptions(), stop: StopCheck = never
    ) -> AddOutcome:
        """Store ``refs`` (matchable on return); ``stop`` ends the embedding early (Cancelled), storing nothing."""
        field = options.field
        check_count(field, len(refs), self._limits.max_references_per_request)
        stored_ids = self._store.references.existing_ids(r.id for r in refs if r.id)
        rejected: list[Rejected] = []
        existing: list[str] = []
        accepted: list[tuple[NewReference, PreparedText]] = []
        seen_ids: set[str] = set()
        for position, ref in enumerate(refs):
            where = f"{field}[{position}]"
            if ref.id and ref.id in stored_ids and options.existing_id is OnExistingId.SKIP:
                existing.append(ref.id)
                continue
            try:
                if ref.id in seen_ids:
                    raise InvalidInput(f"{where}.id", f"id {ref.id!r} appears twice in one request")
                ref, text = self._prepare(where, ref, options)
            except InvalidInput as exc:
                if options.invalid is OnInvalid.REFUSE:
                    raise
                rejected.append(Rejected(position, ref.id, exc.field.removeprefix(f"{where}."), exc.message))
                continue
            if ref.id in stored_ids:
                raise AlreadyExists("reference", ref.id)
            seen_ids.add(ref.id)
            accepted.append((ref, text))
        accepted, duplicates = self._drop_duplicates(accepted, options)
        created = self._banks_for(accepted, actor, options)
        items = self._store_and_index(accepted, actor, stop) if accepted else []
        return AddOutcome(
            added=tuple(items), existing=tuple(existing), duplicates=tuple(duplicates), rejected=tuple(rejected), banks_created=tuple(created)
        )

    def _prepare(self, where: str, ref: NewReference, options: AddOptions) -> tuple[NewReference, PreparedText]:
        """Validate one item (errors name ``where``); returns it with defaults filled in and its text prepared."""
        if ref.fingerprint:
            if ref.text:
                raise InvalidInput(f"{where}.fingerprint", "give the text or, for a hash-only item, its fingerprint: not both")
            text = hash_only(check_fingerprint(f"{where}.fingerprint", ref.fingerprint))
        else:
            check_text(f"{where}.text", ref.text, self._limits.max_text_bytes)
            text = prepare_text(ref.text)
            if not text.matchable:
                raise InvalidInput(f"{where}.text", "nothing left to match after normalisation (only links, emoji or marks)")
        if ref.id:
            check_id(f"{where}.id", ref.id, self._limits.max_id_bytes)
        lang = normalise_lang(ref.lang, f"{where}.lang")
        check_item_annotations(where, ref.labels, ref.metadata, self._limits)
        labels = check_labels(ref.labels, f"{where}.labels")
        bank = ref.bank or DEFAULT_BANK
        if bank not in self._banks.catalog.names():
            if options.missing_bank is OnMissingBank.REFUSE:
                raise NotFound("bank", bank)
            check_bank_name(bank, f"{where}.bank")
        filled = NewReference(
            text=ref.text, id=ref.id or uuid.uuid4().hex, lang=lang, bank=bank, labels=labels, metadata=dict(ref.metadata),
            fingerprint=text.fingerprint if not ref.text else "",
        )
        return filled, text

    def _drop_duplicates(
        self, accepted: list[tuple[NewReference, PreparedText]], options: AddOptions
    ) -> tuple[list[tuple[NewReference, PreparedText]], list[str]]:
        if options.duplicate is OnDuplicate.KEEP:
            return accepted, []
        seen = set(self._store.references.find_by_fingerprints(text.fingerprint for _, text in accepted))
        kept: list[tuple[NewReference, PreparedText]] = []
        dropped: list[str] = []
        for ref, text in accepted:
            if text.fingerprint in seen:
                dropped.append(ref.id)
                continue
            seen.add(text.fingerprint)
            kept.append((ref, text))
        return kept, dropped

    def _banks_for(self, accepted: list[tuple[NewReference, PreparedText]], actor: str, options: AddOptions) -> list[str]:
        if options.missing_bank is OnMissingBank.REFUSE:
            return []
        return self._banks.ensure({ref.bank for ref, _ in accepted}, actor=actor, why=f"created by {actor or 'an import'}")

    def _store_and_index(self, accepted: list[tuple[NewReference, PreparedText]], actor: str, stop: StopCheck) -> list[ReferenceItem]:
        with_text = [i for i, (ref, _) in enumerate(accepted) if ref.text]
        vectors = self._embedder.embed_until([accepted[i][1].cleaned for i in with_text], stop)
        by_position: dict[int, np.ndarray] = dict(zip(with_text, vectors))
        rows = [StoredReference(ref, text, by_position.get(i)) for i, (ref, text) in enumerate(accepted)]
        model_id = self._embedder.model_id
        if self._index is None:
            return self._store.references.add(rows, actor=actor, model_id=model_id)
        with self._index.writing():
            items = self._store.references.add(rows, actor=actor, model_id=model_id)
            # Rows come back in the order given, so the items with a text are the embedded ones, in order.
            if with_text:
                self._index.add(np.array([items[i].vid for i in with_text], dtype=np.int64), vectors)
            if self._sizer is not None:
                self._sizer.added(items)
        return items

    def remove(self, ids: Sequence[str], *, actor: str) -> tuple[list[str], list[str]]:
        """Tombstone items (text and vector dropped); returns (removed ids, ids not found)."""
        ids = check_ids(ids, self._limits)
        if self._index is None:
            removed, missing = self._store.references.remove(ids, actor=actor)
        else:
            with self._index.writing():
                removed, missing = self._store.references.remove(ids, actor=actor)
                self._index.remove(np.array([item.vid for item in removed], dtype=np.int64))
                if self._sizer is not None:
                    self._sizer.removed(removed)
        return [item.id for item in removed], missing

    # -- reads --------------------------------------------------------------------

    def get(self, ref_id: str) -> ReferenceItem:
        return self._store.references.get(check_id("id", ref_id, self._limits.max_id_bytes))

    def list(self, query: ReferenceQuery) -> tuple[list[ReferenceItem], str]:
        """One page of items, and the token of the next page ("" after the last)."""
        size = page_size(query.page_size)
        items = self._store.references.page(
            ReferenceFilter(
                bank=query.bank, state=query.state, label=query.label, canonical=prepare_text(query.text).canonical if query.text else "",
                id=query.text.strip(),
            ),
            after_vid=parse_page_token(query.page_token), limit=size,
        )
        return items, (make_page_token(items[-1].vid) if len(items) == size else "")

    # -- state and annotations ----------------------------------------------------

    def update(
        self,
        ref_id: str,
        *,
        add_labels: Sequence[str] = (),
        remove_labels: Sequence[str] = (),
        set_metadata: Mapping[str, str] | None = None,
        remove_metadata: Sequence[str] = (),
        actor: str,
    ) -> ReferenceItem:
        check_id("id", ref_id, self._limits.max_id_bytes)
        check_item_annotations("changes", [*add_labels, *remove_labels], set_metadata or {}, self._limits)
        add = check_labels(add_labels, "add_labels")
        drop = set(check_labels(remove_labels, "remove_labels"))
        gone = set(remove_metadata)
        # A change relative to what is stored: if another writer (another replica)
        # changes the item between the read and the write, read it again.
        for _ in range(_UPDATE_ATTEMPTS - 1):
            try:
                return self._update_once(ref_id, add, drop, set_metadata or {}, gone, actor)
            except Conflict:
                continue
        return self._update_once(ref_id, add, drop, set_metadata or {}, gone, actor)

    def _update_once(
        self, ref_id: str, add: Sequence[str], drop: set[str], set_metadata: Mapping[str, str], gone: set[str], actor: str
    ) -> ReferenceItem:
        item = self._store.references.get(ref_id)
        if item.state is ReferenceState.REMOVED:
            raise NotFound("reference", ref_id)
        kept = [label for label in item.labels if label not in drop]
        labels = list(dict.fromkeys([*kept, *add]))
        metadata = {k: v for k, v in item.metadata.items() if k not in gone}
        metadata.update(set_metadata)
        check_item_annotations("reference", labels, metadata, self._limits)
        return self._store.references.update_annotations(
            ref_id, labels=check_labels(labels, "reference.labels"), metadata=metadata, actor=actor, expected_change_seq=item.change_seq
        )

    def set_annotations(
        self, ref_id: str, labels: Sequence[str], metadata: Mapping[str, str], *, actor: str, field: str = "reference"
    ) -> ReferenceItem:
        """Replace an item's labels and metadata (what an import brings), within the per-item caps."""
        check_item_annotations(field, labels, metadata, self._limits)
        checked = check_labels(labels, f"{field}.labels")
        return self._store.references.update_annotations(ref_id, labels=checked, metadata=metadata, actor=actor)

    def disable(self, ids: Sequence[str], *, until: float | None, actor: str) -> StateChange:
        """Hold items out of matching, until a time or (None) indefinitely."""
        ids = check_ids(ids, self._limits)
        if until is not None and check_time("until", until) <= time.time():
            raise InvalidInput("until", "must be in the future (leave it out to disable indefinitely)")
        return self._set_state(ids, transitions.disable(until), actor)

    def enable(self, ids: Sequence[str], *, actor: str) -> StateChange:
        return self._set_state(check_ids(ids, self._limits), transitions.ENABLE, actor)

    def release(self, ids: Sequence[str], *, actor: str) -> StateChange:
        """Return quarantined items to matching, with a fresh match-rate history."""
        ids = check_ids(ids, self._limits)
        if self._holdouts is not None:
            self._holdouts.flush()  # a decision still being written must not land after the release
        change = self._set_state(ids, transitions.RELEASE, actor)
        if self._holdouts is not None:
            self._holdouts.release(ids)
        return change

    def _set_state(self, ids: Sequence[str], transition: Transition, actor: str) -> StateChange:
        changed, missing = self._store.references.set_state(ids, transition, actor=actor)
        return StateChange(changed=tuple(i.id for i in changed), not_found=tuple(missing))


def refresh_vectors(store: ReferenceStore, embedder: Embedder, progress: Progress | None = None) -> int:
    """Re-embed stored items whose vector is missing or from another model; returns how many.

    Run before an index is built from the store: vectors from two models are never mixed.
    """
    counts = store.references.counts_by_state()
    total = sum(n for state, n in counts.items() if state is not ReferenceState.REMOVED)
    done = 0
    for items in store.vectors.needing_vectors(embedder.model_id):
        vectors = embedder.embed([prepare_text(item.text).cleaned for item in items])
        store.vectors.set_vectors([item.vid for item in items], vectors, model_id=embedder.model_id)
        done += len(items)
        if progress is not None:
            progress(done, total)
    return done
