"""The reference store contract: what every ``ReferenceStore`` backend must do.

``StoreContract`` holds the tests; a backend's test module subclasses it and
overrides one fixture, ``open_store``: a callable that opens the same
(initially empty) storage on every call, so persistence can be checked by
closing a store and opening it again. The suite closes every store it opened.
Nothing here knows which backend it runs against; the rules tested are the
ones stated in ``service/core/store/base.py`` and ``domain.state_at``.
"""

from __future__ import annotations

import dataclasses
import functools
import sqlite3
import time
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np
import pytest

from service.core.domain import (
    DEFAULT_BANK, REVIEW_ORDER, AuditEntry, AuditQuery, Bank, BankChanges, BankKind, Feedback, FeedbackSummary, FeedbackVerdict, LoggedMatch,
    Match, MatchLogQuery, ReferenceItem, ReferenceState, Signal, Verdict
)
from service.core.errors import AlreadyExists, Conflict, FailedPrecondition, NigranError, NotFound
from service.core.store.base import ReferenceFilter, ReferenceStore, StoredReference, Transition
from tests.support.factories import stored

MODEL = "model-a"
OTHER_MODEL = "model-b"
ACTOR = "curator:ann"
OTHER_ACTOR = "curator:bob"
DIM = 4
LIVE = frozenset({ReferenceState.ACTIVE, ReferenceState.DISABLED, ReferenceState.QUARANTINED})
ACTIVE = frozenset({ReferenceState.ACTIVE})
EVERYTHING = 1_000_000  # a page size larger than any test's data

_T = TypeVar("_T")
_C = TypeVar("_C")


# -- helpers ----------------------------------------------------------------------


def row(
    ref_id: str, text: str | None = None, bank: str = DEFAULT_BANK, *, seed: int = 0, fingerprint: str | None = None, **changes: Any
) -> StoredReference:
    """A row whose vector is distinct per ``seed``, so vector round trips can tell items apart.

    ``changes`` replace fields of what was submitted (labels, metadata, lang).
    """
    base = stored(ref_id, text if text is not None else f"text of {ref_id}", bank, dim=DIM, fingerprint=fingerprint)
    vector = np.arange(DIM, dtype=np.float32) + np.float32(seed)
    return dataclasses.replace(base, ref=dataclasses.replace(base.ref, **changes), vector=vector)


def add(store: ReferenceStore, *rows: StoredReference, model_id: str = MODEL, actor: str = ACTOR) -> list[ReferenceItem]:
    return store.references.add(list(rows), actor=actor, model_id=model_id)


def ids(items: Iterable[ReferenceItem]) -> list[str]:
    return [i.id for i in items]


def audit(store: ReferenceStore, query: AuditQuery = AuditQuery()) -> list[AuditEntry]:
    return store.audit.query(query, before_seq=None, limit=EVERYTHING)


def actions(store: ReferenceStore, target: str) -> list[tuple[str, str]]:
    """(action, actor) of every audit entry for ``target``, newest first."""
    return [(e.action, e.actor) for e in audit(store, AuditQuery(target=target))]


def page_ids(store: ReferenceStore, **where: Any) -> list[str]:
    return ids(store.references.page(ReferenceFilter(**where), limit=EVERYTHING))


def needing(store: ReferenceStore, model_id: str, batch: int = 1000) -> list[list[str]]:
    return [ids(b) for b in store.vectors.needing_vectors(model_id, batch=batch)]


def disable(store: ReferenceStore, ref_ids: Sequence[str], *, until: float | None = None) -> tuple[list[str], list[str]]:
    changed, missing = store.references.set_state(list(ref_ids), Transition("disable", ReferenceState.DISABLED, LIVE, until), actor=ACTOR)
    return ids(changed), missing


def quarantine(store: ReferenceStore, ref_ids: Sequence[str]) -> list[str]:
    changed, _ = store.references.set_state(list(ref_ids), Transition("quarantine", ReferenceState.QUARANTINED, ACTIVE), actor="system")
    return ids(changed)


def remove(store: ReferenceStore, *ref_ids: str, actor: str = ACTOR) -> tuple[list[str], list[str]]:
    removed, missing = store.references.remove(list(ref_ids), actor=actor)
    return ids(removed), missing


def all_pages(fetch: Callable[[_C], list[_T]], cursor: Callable[[_T], _C], start: _C) -> list[list[_T]]:
    """Every page, each fetched with the cursor of the previous page's last entry."""
    pages: list[list[_T]] = []
    after = start
    while page := fetch(after):
        pages.append(page)
        # A cursor that does not move would page forever: fail instead.
        assert len(pages) <= 100, f"paging does not advance: {after!r}"
        after = cursor(page[-1])
    return pages


def feedback(ref_id: str, verdict: FeedbackVerdict, post: str = "p1") -> Feedback:
    return Feedback(reference_id=ref_id, post_id=post, verdict=verdict, note="looked at it", reporter="reviewer:cy")


def counters(store: ReferenceStore) -> tuple[int, int, int]:
    """(generation, last change seq, audit entries): all three stay put when a write is refused."""
    return store.generation(), store.references.last_change_seq(), len(audit(store))


def change_order(store: ReferenceStore) -> list[str]:
    return ids(store.references.changes_after(0, limit=EVERYTHING))


def state_views(store: ReferenceStore, ref_id: str) -> dict[str, Any]:
    """The state of one item as every read path reports it; they must all agree."""
    item = store.references.get(ref_id)
    listed = {i.id: i for i in store.references.page(ReferenceFilter(), limit=EVERYTHING)}[ref_id]
    return {
        "get": item.state,
        "get_by_vids": store.references.get_by_vids([item.vid])[item.vid].state,
        "page": listed.state,
        "changes_after": {i.id: i for i in store.references.changes_after(0, limit=EVERYTHING)}[ref_id].state,
        "filtered_as": [s for s in ReferenceState if ref_id in page_ids(store, state=s)],
    }


class Opener:
    """Opens stores through the backend's ``open_store`` and closes each exactly once."""

    def __init__(self, open_store: Callable[[], ReferenceStore]) -> None:
        self._open_store = open_store
        self._open: list[ReferenceStore] = []

    def open(self) -> ReferenceStore:
        store = self._open_store()
        self._open.append(store)
        return store

    def close(self, store: ReferenceStore) -> None:
        self._open.remove(store)
        store.close()

    def reopen(self, store: ReferenceStore) -> ReferenceStore:
        self.close(store)
        return self.open()

    def close_all(self) -> None:
        while self._open:
            self._open.pop().close()


# -- the contract -------------------------------------------------------------------


class StoreContract:
    """Subclass as ``Test<Backend>Store`` and override ``open_store``."""

    @pytest.fixture
    def open_store(self) -> Callable[[], ReferenceStore]:
        raise NotImplementedError("a backend's test class provides open_store")

    @pytest.fixture
    def opener(self, open_store: Callable[[], ReferenceStore]) -> Iterator[Opener]:
        opener = Opener(open_store)
        yield opener
        opener.close_all()

    @pytest.fixture
    def store(self, opener: Opener) -> ReferenceStore:
        return opener.open()

    # -- add, get, persistence --------------------------------------------------------

    def test_add_returns_stored_items_and_they_persist_across_reopen(self, opener: Opener, store: ReferenceStore) -> None:
        store.banks.create(Bank(name="other"), actor=ACTOR)
        added = add(store, row("a", "Alpha", seed=1), row("b", "Beta", "other", seed=2, labels=("topic:x", "org:y"), metadata={"k": "v"}))
        assert ids(added) == ["a", "b"]
        assert added[0].vid != added[1].vid
        b = added[1]
        assert (b.text, b.canonical, b.fingerprint, b.bank) == ("Beta", "beta", "fp-beta", "other")
        assert (b.labels, dict(b.metadata)) == (("topic:x", "org:y"), {"k": "v"})
        assert (b.declared_lang, b.detected_lang, b.added_by, b.state, b.disabled_until) == ("en", "en", ACTOR, ReferenceState.ACTIVE, None)
        # Seconds since the epoch; by the backend's clock, which may be another machine's.
        assert abs(b.created_at - time.time()) < 60 and b.updated_at == b.created_at
        assert store.references.get("b") == b
        generation, change_seq = store.generation(), store.references.last_change_seq()
        entries = audit(store)

        store = opener.reopen(store)
        assert store.references.get("b") == b
        assert store.references.get("a").text == "Alpha"
        assert (store.generation(), store.references.last_change_seq(), audit(store)) == (generation, change_seq, entries)
        assert [bank.name for bank in store.banks.all()] == [DEFAULT_BANK, "other"]
        [(vids, vectors)] = list(store.vectors.indexable(MODEL))
        assert vids.tolist() == [added[0].vid, b.vid]
        np.testing.assert_array_equal(vectors, np.stack([row("a", seed=1).vector, row("b", seed=2).vector]))
        assert list(store.vectors.indexable(OTHER_MODEL)) == []

    def test_get_of_an_unknown_id_is_not_found(self, store: ReferenceStore) -> None:
        with pytest.raises(NotFound) as err:
            store.references.get("nope")
        assert err.value.key == "nope"

    @pytest.mark.parametrize(
        ("batch", "error", "key"),
        [
            pytest.param(["new", "taken"], AlreadyExists, "taken", id="taken-id"),
            pytest.param(["new", "twice", "twice"], AlreadyExists, "twice", id="id-twice-in-batch"),
            pytest.param(["new", "in:nope"], NotFound, "nope", id="missing-bank"),
            pytest.param(["new", "in:gone"], NotFound, "gone", id="deleted-bank"),
        ],
    )
    def test_add_is_all_or_nothing(self, store: ReferenceStore, batch: list[str], error: type[NigranError], key: str) -> None:
        add(store, row("taken"))
        store.banks.create(Bank(name="gone"), actor=ACTOR)
        store.banks.delete("gone", actor=ACTOR)
        rows = [row(f"x-{name[3:]}", bank=name[3:]) if name.startswith("in:") else row(name) for name in batch]
        before = counters(store)
        with pytest.raises(error) as err:
            add(store, *rows)
        assert err.value.key == key  # type: ignore[attr-defined]
        # Nothing of the batch is stored, audited, logged as a change or counted as a new generation.
        assert store.references.existing_ids(r.ref.id for r in rows) == ({"taken"} & {r.ref.id for r in rows})
        assert counters(store) == before
        assert page_ids(store) == ["taken"]

    def test_an_empty_add_changes_nothing(self, store: ReferenceStore) -> None:
        # Like a remove that finds nothing: a write that changes no item is no new generation.
        add(store, row("a"))
        before = counters(store)
        assert add(store) == []
        assert counters(store) == before

    # -- remove --------------------------------------------------------------------------

    def test_remove_keeps_a_tombstone_without_text_or_vector(self, store: ReferenceStore) -> None:
        a, b = add(store, row("a", "Alpha", "default"), row("b", "Beta"), actor="x")
        generation = store.generation()
        assert remove(store, "a", "nope", actor="y") == (["a"], ["nope"])
        assert store.generation() == generation + 1
        tomb = store.references.get("a")
        assert (tomb.state, tomb.text, tomb.canonical) == (ReferenceState.REMOVED, "", "")
        assert (tomb.vid, tomb.fingerprint, tomb.bank, tomb.disabled_until) == (a.vid, "fp-alpha", "default", None)
        assert store.references.find_by_fingerprints(["fp-alpha"]) == {}
        assert store.vectors.indexable_vids(MODEL).tolist() == [b.vid]
        assert store.vectors.vectors_for([a.vid], MODEL)[0].tolist() == []
        assert store.references.existing_ids(["a"]) == {"a"}
        assert [e for e in audit(store, AuditQuery(target="a")) if e.action == "remove"][0].new == {"state": "removed"}
        assert actions(store, "a") == [("remove", "y"), ("add", "x")]

        # Removing again reports it as not found and changes nothing at all.
        before = counters(store)
        assert remove(store, "a", actor="y") == ([], ["a"])
        assert counters(store) == before

    def test_a_disabled_item_can_be_removed(self, store: ReferenceStore) -> None:
        add(store, row("a"))
        disable(store, ["a"], until=time.time() + 3600)
        assert remove(store, "a") == (["a"], [])
        tomb = store.references.get("a")
        assert (tomb.state, tomb.disabled_until) == (ReferenceState.REMOVED, None)
        entry = audit(store, AuditQuery(target="a", action="remove"))[0]
        assert (entry.old, entry.new) == ({"state": "disabled"}, {"state": "removed"})

    # -- generation and the change log ---------------------------------------------------

    def test_generation_bumps_on_add_and_remove_only(self, store: ReferenceStore) -> None:
        def bumps(write: Callable[[], object]) -> int:
            before = store.generation()
            write()
            return store.generation() - before

        [a] = add(store, row("a"))
        assert bumps(lambda: add(store, row("b"))) == 1
        assert bumps(lambda: disable(store, ["a"])) == 0
        assert bumps(lambda: quarantine(store, ["b"])) == 0
        assert bumps(lambda: store.references.update_annotations("a", labels=["topic:new"], metadata={}, actor=ACTOR)) == 0
        assert bumps(lambda: store.vectors.set_vectors([a.vid], np.ones((1, DIM), np.float32), model_id=OTHER_MODEL)) == 0
        assert bumps(lambda: store.banks.create(Bank(name="other"), actor=ACTOR)) == 0
        assert bumps(lambda: store.banks.update("other", BankChanges(description="d"), actor=ACTOR)) == 0
        assert bumps(lambda: store.banks.delete("other", actor=ACTOR)) == 0
        assert bumps(lambda: store.feedback.add(feedback("a", FeedbackVerdict.TRUE_POSITIVE))) == 0
        assert bumps(lambda: remove(store, "a")) == 1
        assert bumps(lambda: remove(store, "a", "b")) == 1  # one write, one bump, however many items

    def test_every_change_moves_the_item_to_the_end_of_the_change_log(self, store: ReferenceStore) -> None:
        assert store.references.last_change_seq() == 0 and change_order(store) == []

        def moved_to_end(ref_id: str, change: Callable[[], object]) -> None:
            last = store.references.last_change_seq()
            change()
            seq = store.references.get(ref_id).change_seq
            assert seq > last and store.references.last_change_seq() == seq

        for ref_id in ("a", "b", "c"):
            moved_to_end(ref_id, functools.partial(add, store, row(ref_id)))
        assert change_order(store) == ["a", "b", "c"]
        moved_to_end("a", lambda: disable(store, ["a"]))
        assert change_order(store) == ["b", "c", "a"]
        moved_to_end("b", lambda: store.references.update_annotations("b", labels=["topic:x"], metadata={}, actor=ACTOR))
        assert change_order(store) == ["c", "a", "b"]
        moved_to_end("c", lambda: remove(store, "c"))
        assert change_order(store) == ["a", "b", "c"]
        # Tombstones are in the change log too: an export must carry removals.
        assert store.references.changes_after(0, limit=EVERYTHING)[-1].state is ReferenceState.REMOVED

    def test_changes_after_pages_in_change_order(self, store: ReferenceStore) -> None:
        add(store, row("a"), row("b"), row("c"))
        add(store, row("d"))
        disable(store, ["b"])
        expected = ["a", "c", "d", "b"]
        pages = all_pages(lambda after: store.references.changes_after(after, limit=3), lambda i: i.change_seq, 0)
        assert [ids(p) for p in pages] == [expected[:3], expected[3:]]
        seqs = [i.change_seq for p in pages for i in p]
        assert seqs == sorted(set(seqs)) and seqs[0] > 0
        assert seqs[-1] == store.references.last_change_seq()
        assert store.references.changes_after(seqs[-1], limit=3) == []

    # -- vectors --------------------------------------------------------------------------

    def test_indexable_yields_non_removed_items_of_the_model_in_vid_order_and_batches(self, store: ReferenceStore) -> None:
        first = add(store, *(row(f"a{i}", seed=i) for i in range(3)))
        add(store, row("other-model", seed=10), model_id=OTHER_MODEL)
        second = add(store, *(row(f"b{i}", seed=20 + i) for i in range(3)))
        remove(store, "a1")
        disable(store, ["b0"])
        quarantine(store, ["b1"])
        # Disabled and quarantined items stay in the index (states are filtered at match time).
        expected = [i for i in first + second if i.id != "a1"]
        batches = list(store.vectors.indexable(MODEL, batch=2))
        assert [len(vids) for vids, _ in batches] == [2, 2, 1]
        vids = np.concatenate([v for v, _ in batches])
        assert vids.dtype == np.int64 and vids.tolist() == [i.vid for i in expected]
        vectors = np.concatenate([v for _, v in batches])
        assert vectors.dtype == np.float32
        np.testing.assert_array_equal(vectors, np.stack([row(i.id, seed=s).vector for i, s in zip(expected, (0, 2, 20, 21, 22))]))
        indexable_vids = store.vectors.indexable_vids(MODEL)
        assert indexable_vids.dtype == np.int64 and indexable_vids.tolist() == vids.tolist()
        assert store.vectors.indexable_vids(OTHER_MODEL).tolist() == [store.references.get("other-model").vid]

    def test_vectors_for_ignores_removed_items_other_models_and_unknown_vids(self, store: ReferenceStore) -> None:
        a, gone, c = add(store, row("a", seed=1), row("gone", seed=2), row("c", seed=3))
        [other] = add(store, row("other", seed=4), model_id=OTHER_MODEL)
        remove(store, "gone")
        vids, vectors = store.vectors.vectors_for([c.vid, other.vid, gone.vid, 10**9, a.vid], MODEL)
        assert vids.tolist() == [a.vid, c.vid]
        np.testing.assert_array_equal(vectors, np.stack([row("a", seed=1).vector, row("c", seed=3).vector]))
        assert store.vectors.vectors_for([other.vid], OTHER_MODEL)[0].tolist() == [other.vid]
        assert store.vectors.vectors_for([], MODEL)[0].tolist() == []

    def test_needing_vectors_lists_live_items_of_other_models_until_set_vectors(self, store: ReferenceStore) -> None:
        a, b, gone = add(store, row("a"), row("b"), row("gone"), model_id="old")
        [c] = add(store, row("c"), model_id=MODEL)
        remove(store, "gone")
        assert needing(store, MODEL) == [["a", "b"]]
        assert needing(store, MODEL, batch=1) == [["a"], ["b"]]
        assert needing(store, "old") == [["c"]]
        entries = len(audit(store))
        fresh = np.full((1, DIM), 0.25, np.float32)
        store.vectors.set_vectors([a.vid], fresh, model_id=MODEL)
        assert needing(store, MODEL) == [["b"]]
        np.testing.assert_array_equal(store.vectors.vectors_for([a.vid], MODEL)[1], fresh)
        assert store.vectors.indexable_vids(MODEL).tolist() == [a.vid, c.vid]
        assert store.vectors.indexable_vids("old").tolist() == [b.vid]
        # Vectors are derived data: re-computing them is not an audited change.
        assert len(audit(store)) == entries
        remove(store, "b")
        assert needing(store, MODEL) == []

    def test_vid_table_names_every_vid_tombstones_included(self, store: ReferenceStore) -> None:
        added = add(store, row("a"), row("b"))
        remove(store, "a")
        assert store.vectors.vid_table() == {i.vid: i.id for i in added}

    # -- lookups ----------------------------------------------------------------------------

    def test_find_by_fingerprints_returns_live_items_oldest_first(self, store: ReferenceStore) -> None:
        store.banks.create(Bank(name="other"), actor=ACTOR)
        add(store, row("old", "Same"))
        add(store, row("gone", "Same"), row("y", "Else"))
        add(store, row("new", "Same", "other"))
        remove(store, "gone")
        found = store.references.find_by_fingerprints(iter(["fp-same", "fp-else", "fp-none", "fp-same"]))
        assert {fp: ids(items) for fp, items in found.items()} == {"fp-same": ["old", "new"], "fp-else": ["y"]}
        assert found["fp-same"][1].bank == "other"
        assert store.references.find_by_fingerprints([]) == {}

    def test_existing_ids_includes_tombstones(self, store: ReferenceStore) -> None:
        add(store, row("a"), row("b"))
        remove(store, "a")
        assert store.references.existing_ids(iter(["a", "b", "c"])) == {"a", "b"}
        assert store.references.existing_ids([]) == set()

    def test_get_by_vids_returns_items_and_tombstones_by_vid(self, store: ReferenceStore) -> None:
        a, b = add(store, row("a"), row("b"))
        remove(store, "a")
        found = store.references.get_by_vids([a.vid, b.vid, 10**9])
        assert {vid: (i.id, i.state) for vid, i in found.items()} == {a.vid: ("a", ReferenceState.REMOVED), b.vid: ("b", ReferenceState.ACTIVE)}

    def test_lookups_by_more_keys_than_sqlite_binds_in_one_statement(self, store: ReferenceStore) -> None:
        # Regression: these lookups once built one IN list per call and failed
        # with "too many SQL variables"; any backend must take lookups this big.
        n = sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) + 1
        real = add(store, row("a", "Alpha", seed=1), row("b", "Beta", seed=2), row("c", "Gamma", seed=3))
        real_vids = [i.vid for i in real]
        fake_vids = range(10**9, 10**9 + n)
        fake_keys = [f"missing-{k}" for k in range(n)]
        assert sorted(store.references.get_by_vids([*fake_vids, *real_vids])) == real_vids
        found = store.references.find_by_fingerprints([*fake_keys, "fp-alpha", "fp-gamma"])
        assert {fp: ids(items) for fp, items in found.items()} == {"fp-alpha": ["a"], "fp-gamma": ["c"]}
        assert store.references.existing_ids([*fake_keys, "a", "b", "c"]) == {"a", "b", "c"}
        vids, vectors = store.vectors.vectors_for([*fake_vids, *real_vids], MODEL)
        assert vids.tolist() == real_vids and vectors.shape == (3, DIM)

    # -- states ------------------------------------------------------------------------------

    def test_set_state_moves_only_live_items_in_allowed_states(self, store: ReferenceStore) -> None:
        add(store, row("a"), row("b"), row("c"), row("gone"))
        remove(store, "gone")
        assert quarantine(store, ["b"]) == ["b"]
        changed, missing = store.references.set_state(
            ["a", "b", "nope", "c", "gone"], Transition("disable", ReferenceState.DISABLED, ACTIVE, reason={"why": "spam wave"}), actor=OTHER_ACTOR
        )
        assert (ids(changed), missing) == (["a", "c"], ["nope", "gone"])
        states = {i.id: i.state for i in store.references.page(ReferenceFilter(), limit=EVERYTHING)}
        assert states == {
            "a": ReferenceState.DISABLED, "b": ReferenceState.QUARANTINED, "c": ReferenceState.DISABLED, "gone": ReferenceState.REMOVED,
        }
        [entry] = audit(store, AuditQuery(target="a", action="disable"))
        assert (entry.actor, entry.old) == (OTHER_ACTOR, {"state": "active", "disabled_until": None})
        assert entry.new == {"state": "disabled", "disabled_until": None, "why": "spam wave"}
        # Left alone means not audited either.
        assert actions(store, "b") == [("quarantine", "system"), ("add", ACTOR)]
        assert actions(store, "gone") == [("remove", ACTOR), ("add", ACTOR)]

    def test_disable_until_is_kept_and_audited(self, store: ReferenceStore) -> None:
        add(store, row("a"))
        until = time.time() + 3600
        assert disable(store, ["a"], until=until) == (["a"], [])
        assert store.references.get("a").disabled_until == pytest.approx(until)
        enabled, _ = store.references.set_state(["a"], Transition("enable", ReferenceState.ACTIVE, frozenset({ReferenceState.DISABLED})), actor=ACTOR)
        assert ids(enabled) == ["a"]
        item = store.references.get("a")
        assert (item.state, item.disabled_until) == (ReferenceState.ACTIVE, None)
        recorded = [e.new["disabled_until"] for e in audit(store, AuditQuery(target="a")) if e.action in {"disable", "enable"}]
        assert recorded == [None, pytest.approx(until)]

    def test_an_expired_disable_is_active_again_on_every_read_path(self, store: ReferenceStore) -> None:
        add(store, row("soon"), row("never"), row("quarantined"))
        quarantine(store, ["quarantined"])
        until = time.time() + 0.3
        disable(store, ["soon"], until=until)
        disable(store, ["never"])

        def everywhere(state: ReferenceState) -> dict[str, Any]:
            return {"get": state, "get_by_vids": state, "page": state, "changes_after": state, "filtered_as": [state]}

        assert state_views(store, "soon") == everywhere(ReferenceState.DISABLED)
        assert store.references.counts_by_state()[ReferenceState.DISABLED] == 2
        assert store.references.counts_by_state()[ReferenceState.ACTIVE] == 0
        assert time.time() < until, "the checks before expiry took longer than the window; lengthen it"

        time.sleep(max(0.0, until - time.time()) + 0.05)
        assert state_views(store, "soon") == everywhere(ReferenceState.ACTIVE)
        assert state_views(store, "never") == everywhere(ReferenceState.DISABLED)
        assert store.references.get("soon").disabled_until is None
        assert store.references.counts_by_state() == {
            ReferenceState.ACTIVE: 1, ReferenceState.DISABLED: 1, ReferenceState.QUARANTINED: 1, ReferenceState.REMOVED: 0,
        }
        # State changes judge it by the same rule: it can be quarantined like any active item.
        assert quarantine(store, ["soon", "never"]) == ["soon"]

    def test_counts_by_state_counts_every_state_tombstones_included(self, store: ReferenceStore) -> None:
        assert store.references.counts_by_state() == {s: 0 for s in ReferenceState}
        add(store, row("a"), row("b"), row("c"), row("d"), row("e"))
        disable(store, ["a"])
        quarantine(store, ["b"])
        remove(store, "c", "d")
        assert store.references.counts_by_state() == {
            ReferenceState.ACTIVE: 1, ReferenceState.DISABLED: 1, ReferenceState.QUARANTINED: 1, ReferenceState.REMOVED: 2,
        }

    def test_counts_by_lang_counts_items_not_removed_by_their_language(self, store: ReferenceStore) -> None:
        assert store.references.counts_by_lang() == {}
        add(store, row("a", lang="en"), row("b", lang="ur", seed=1), row("c", lang="ur", seed=2), row("d", lang="ps", seed=3))
        disable(store, ["a"])
        quarantine(store, ["b"])
        remove(store, "d")
        assert store.references.counts_by_lang() == {"en": 1, "ur": 2}

    # -- annotations --------------------------------------------------------------------------

    def test_update_annotations_changes_labels_and_metadata_audited(self, store: ReferenceStore) -> None:
        [a] = add(store, row("a"))
        updated = store.references.update_annotations("a", labels=["topic:x", "org:y"], metadata={"k": "v"}, actor=OTHER_ACTOR)
        assert (updated.labels, dict(updated.metadata)) == (("topic:x", "org:y"), {"k": "v"})
        assert store.references.get("a") == updated
        assert updated.change_seq > a.change_seq and updated.text == a.text
        [entry] = audit(store, AuditQuery(target="a", action="update"))
        assert (entry.actor, entry.old, entry.new) == (
            OTHER_ACTOR,
            {"labels": ["org:example"], "metadata": {"source": "test"}},
            {"labels": ["topic:x", "org:y"], "metadata": {"k": "v"}},
        )

    def test_update_annotations_since_a_stale_change_is_a_conflict(self, store: ReferenceStore) -> None:
        [item] = add(store, row("a"))
        store.references.update_annotations("a", labels=["org:x"], metadata={}, actor=ACTOR, expected_change_seq=item.change_seq)
        with pytest.raises(Conflict):
            store.references.update_annotations("a", labels=["org:y"], metadata={}, actor=ACTOR, expected_change_seq=item.change_seq)
        assert store.references.get("a").labels == ("org:x",)
        assert [a for a, _ in actions(store, "a")].count("update") == 1

    def test_bank_version_moves_on_every_bank_change_only(self, store: ReferenceStore) -> None:
        versions = [store.banks.version()]
        store.banks.create(Bank(name="b1"), actor=ACTOR)
        versions.append(store.banks.version())
        store.banks.update("b1", BankChanges(description="d"), actor=ACTOR)
        versions.append(store.banks.version())
        add(store, row("a", bank="b1"))
        remove(store, "a")
        versions.append(store.banks.version())
        store.banks.delete("b1", actor=ACTOR)
        versions.append(store.banks.version())
        assert versions[1] > versions[0] and versions[2] > versions[1] and versions[3] == versions[2] and versions[4] > versions[3]

    def test_update_annotations_without_a_change_is_a_no_op(self, store: ReferenceStore) -> None:
        [a] = add(store, row("a"))
        before = counters(store)
        same = store.references.update_annotations("a", labels=list(a.labels), metadata=dict(a.metadata), actor=ACTOR)
        assert same == a == store.references.get("a")
        assert counters(store) == before

    @pytest.mark.parametrize("ref_id", ["gone", "nope"])
    def test_update_annotations_of_a_removed_or_unknown_item_is_not_found(self, store: ReferenceStore, ref_id: str) -> None:
        add(store, row("gone"))
        remove(store, "gone")
        before = counters(store)
        with pytest.raises(NotFound):
            store.references.update_annotations(ref_id, labels=["topic:x"], metadata={}, actor=ACTOR)
        assert counters(store) == before
        assert store.references.existing_ids([ref_id]) == ({"gone"} & {ref_id})

    # -- listing -------------------------------------------------------------------------------

    def test_page_filters_by_bank_state_and_label_in_vid_order(self, store: ReferenceStore) -> None:
        store.banks.create(Bank(name="other"), actor=ACTOR)
        add(store, row("a"), row("b", bank="other", labels=("topic:x",)), row("c", labels=("topic:x", "org:example")), row("d"))
        add(store, row("e", bank="other"))
        quarantine(store, ["c"])
        remove(store, "d")
        assert page_ids(store) == ["a", "b", "c", "d", "e"]
        assert page_ids(store, bank="other") == ["b", "e"]
        assert page_ids(store, state=ReferenceState.ACTIVE) == ["a", "b", "e"]
        assert page_ids(store, state=ReferenceState.QUARANTINED) == ["c"]
        assert page_ids(store, state=ReferenceState.REMOVED) == ["d"]
        assert page_ids(store, state=ReferenceState.DISABLED) == []
        assert page_ids(store, label="topic:x") == ["b", "c"]
        assert page_ids(store, label="topic") == []  # labels match whole, not by prefix
        assert page_ids(store, bank=DEFAULT_BANK, state=ReferenceState.ACTIVE, label="org:example") == ["a"]
        assert page_ids(store, bank="nope") == []

    def test_page_pages_with_after_vid(self, store: ReferenceStore) -> None:
        add(store, *(row(f"r{i}") for i in range(5)))
        remove(store, "r1")
        pages = all_pages(lambda after: store.references.page(ReferenceFilter(), after_vid=after, limit=2), lambda i: i.vid, 0)
        assert [ids(p) for p in pages] == [["r0", "r1"], ["r2", "r3"], ["r4"]]
        filtered = store.references.page(ReferenceFilter(state=ReferenceState.ACTIVE), after_vid=store.references.get("r0").vid, limit=2)
        assert ids(filtered) == ["r2", "r3"]

    def test_live_ids_in_bank(self, store: ReferenceStore) -> None:
        store.banks.create(Bank(name="other"), actor=ACTOR)
        add(store, row("a", bank="other"), row("b"), row("c", bank="other"), row("d", bank="other"))
        disable(store, ["c"])
        remove(store, "a")
        assert store.references.live_ids_in_bank("other") == ["c", "d"]
        assert store.references.live_ids_in_bank(DEFAULT_BANK) == ["b"]
        assert store.references.live_ids_in_bank("nope") == []

    # -- banks ----------------------------------------------------------------------------------

    def test_banks_create_get_and_all(self, store: ReferenceStore) -> None:
        assert [b.name for b in store.banks.all()] == [DEFAULT_BANK]
        wanted = Bank(name="zeta", description="suppressed", enabled=False, kind=BankKind.SUPPRESSION, thresholds={"near_duplicate": 0.9})
        created = store.banks.create(wanted, actor=ACTOR)
        assert (created.name, created.description, created.enabled, created.kind) == ("zeta", "suppressed", False, BankKind.SUPPRESSION)
        assert (dict(created.thresholds), created.created_by, created.item_count) == ({"near_duplicate": 0.9}, ACTOR, 0)
        assert abs(created.created_at - time.time()) < 60
        store.banks.create(Bank(name="alpha"), actor=ACTOR)
        assert store.banks.get("zeta") == created
        assert [b.name for b in store.banks.all()] == ["alpha", DEFAULT_BANK, "zeta"]
        with pytest.raises(AlreadyExists):
            store.banks.create(Bank(name="zeta"), actor=ACTOR)
        with pytest.raises(NotFound):
            store.banks.get("nope")

    def test_bank_update_sets_and_clears_threshold_overrides(self, store: ReferenceStore) -> None:
        store.banks.create(Bank(name="b", description="first", thresholds={"x": 0.1, "y": 0.2}), actor=ACTOR)
        changes = BankChanges(set_thresholds={"y": 0.5, "z": 0.3}, clear_thresholds=("x",))
        updated = store.banks.update("b", changes, actor=OTHER_ACTOR)
        assert dict(updated.thresholds) == {"y": 0.5, "z": 0.3}
        assert (updated.description, updated.enabled, updated.kind) == ("first", True, BankKind.NORMAL)
        updated = store.banks.update("b", BankChanges(description="second", enabled=False, kind=BankKind.SUPPRESSION), actor=ACTOR)
        assert (updated.description, updated.enabled, updated.kind) == ("second", False, BankKind.SUPPRESSION)
        assert dict(updated.thresholds) == {"y": 0.5, "z": 0.3}
        assert store.banks.get("b") == updated
        assert dict(store.banks.update("b", BankChanges(clear_thresholds=("y", "z")), actor=ACTOR).thresholds) == {}
        with pytest.raises(NotFound):
            store.banks.update("nope", BankChanges(description="d"), actor=ACTOR)

    def test_bank_delete_refuses_live_items_and_the_default_bank(self, store: ReferenceStore) -> None:
        store.banks.create(Bank(name="b"), actor=ACTOR)
        add(store, row("a", bank="b"))
        for name in ("b", DEFAULT_BANK):
            with pytest.raises(FailedPrecondition):
                store.banks.delete(name, actor=ACTOR)
        assert [b.name for b in store.banks.all()] == ["b", DEFAULT_BANK]
        disable(store, ["a"])
        with pytest.raises(FailedPrecondition):  # a disabled item is still live
            store.banks.delete("b", actor=ACTOR)
        remove(store, "a")
        store.banks.delete("b", actor=ACTOR)
        assert [b.name for b in store.banks.all()] == [DEFAULT_BANK]
        for call in (
            lambda: store.banks.get("b"),
            lambda: store.banks.delete("b", actor=ACTOR),
            lambda: store.banks.update("b", BankChanges(), actor=ACTOR),
            lambda: store.banks.delete("nope", actor=ACTOR),
        ):
            with pytest.raises(NotFound):
                call()

    def test_a_deleted_bank_name_can_be_created_again(self, store: ReferenceStore) -> None:
        store.banks.create(Bank(name="b", thresholds={"x": 0.1}), actor=ACTOR)
        add(store, row("a", bank="b"))
        remove(store, "a")
        store.banks.delete("b", actor=ACTOR)
        again = store.banks.create(Bank(name="b", description="again"), actor=OTHER_ACTOR)
        assert (again.description, dict(again.thresholds), again.created_by, again.item_count) == ("again", {}, OTHER_ACTOR, 0)
        assert store.references.get("a").bank == "b"  # the tombstone keeps its bank
        add(store, row("new", bank="b"))
        assert store.banks.get("b").item_count == 1

    def test_bank_item_count_counts_live_items(self, store: ReferenceStore) -> None:
        store.banks.create(Bank(name="b"), actor=ACTOR)
        add(store, row("a", bank="b"), row("c", bank="b"), row("d", bank="b"), row("e"))
        disable(store, ["c"])
        quarantine(store, ["d"])
        remove(store, "a")
        counts = {b.name: b.item_count for b in store.banks.all()}
        assert counts == {"b": 2, DEFAULT_BANK: 1}
        assert store.banks.get("b").item_count == 2

    def test_bank_changes_are_audited(self, store: ReferenceStore) -> None:
        store.banks.create(Bank(name="b", thresholds={"x": 0.1}), actor=ACTOR)
        store.banks.update("b", BankChanges(set_thresholds={"x": 0.2}), actor=OTHER_ACTOR)
        store.banks.delete("b", actor=ACTOR)
        entries = audit(store, AuditQuery(target="bank:b"))
        assert [(e.action, e.actor) for e in entries] == [("bank.delete", ACTOR), ("bank.update", OTHER_ACTOR), ("bank.create", ACTOR)]
        delete, update, create = entries
        assert create.old is None and create.new["thresholds"] == {"x": 0.1}
        assert (update.old["thresholds"], update.new["thresholds"]) == ({"x": 0.1}, {"x": 0.2})
        assert delete.old["thresholds"] == {"x": 0.2} and delete.new is None

    def test_refused_bank_changes_are_not_audited(self, store: ReferenceStore) -> None:
        store.banks.create(Bank(name="b"), actor=ACTOR)
        add(store, row("a", bank="b"))
        entries = len(audit(store))
        for refused in (
            lambda: store.banks.create(Bank(name="b"), actor=ACTOR),
            lambda: store.banks.delete("b", actor=ACTOR),
            lambda: store.banks.delete(DEFAULT_BANK, actor=ACTOR),
            lambda: store.banks.update("nope", BankChanges(), actor=ACTOR),
        ):
            with pytest.raises(NigranError):
                refused()
        assert len(audit(store)) == entries

    # -- audit ------------------------------------------------------------------------------------

    def test_audit_query_filters_newest_first(self, store: ReferenceStore) -> None:
        add(store, row("a"), actor=ACTOR)
        add(store, row("b"), actor=OTHER_ACTOR)
        remove(store, "a", actor=OTHER_ACTOR)
        disable(store, ["b"])
        everything = audit(store)
        assert [(e.action, e.target, e.actor) for e in everything] == [
            ("disable", "b", ACTOR), ("remove", "a", OTHER_ACTOR), ("add", "b", OTHER_ACTOR), ("add", "a", ACTOR),
        ]
        assert [e.seq for e in everything] == sorted((e.seq for e in everything), reverse=True)
        assert [e.at for e in everything] == sorted((e.at for e in everything), reverse=True)

        def targets(**query: Any) -> list[tuple[str, str]]:
            return [(e.action, e.target) for e in audit(store, AuditQuery(**query))]

        assert targets(target="a") == [("remove", "a"), ("add", "a")]
        assert targets(actor=OTHER_ACTOR) == [("remove", "a"), ("add", "b")]
        assert targets(action="add") == [("add", "b"), ("add", "a")]
        assert targets(target="b", actor=OTHER_ACTOR) == [("add", "b")]
        assert targets(since=everything[1].at) == [("disable", "b"), ("remove", "a")]
        assert targets(since=time.time() + 60) == []
        assert targets(target="nope") == []

    def test_audit_query_pages_with_before_seq(self, store: ReferenceStore) -> None:
        add(store, *(row(f"r{i}") for i in range(5)))
        remove(store, "r0", "r1")
        everything = audit(store)
        pages = all_pages(lambda before: store.audit.query(AuditQuery(), before_seq=before, limit=3), lambda e: e.seq, None)
        assert [len(p) for p in pages] == [3, 3, 1]
        assert [e for p in pages for e in p] == everything
        filtered = store.audit.query(AuditQuery(action="add"), before_seq=everything[3].seq, limit=EVERYTHING)
        assert [e.target for e in filtered] == ["r2", "r1", "r0"]

    # -- feedback ----------------------------------------------------------------------------------

    def test_feedback_is_summarised_per_reference_and_audited(self, store: ReferenceStore) -> None:
        add(store, row("a"), row("b"))
        assert store.feedback.summary("a").precision is None
        for verdict, post in ((FeedbackVerdict.TRUE_POSITIVE, "p1"), (FeedbackVerdict.FALSE_POSITIVE, "p2"), (FeedbackVerdict.TRUE_POSITIVE, "p3")):
            store.feedback.add(feedback("a", verdict, post))
        store.feedback.add(feedback("b", FeedbackVerdict.FALSE_POSITIVE))
        summary = store.feedback.summary("a")
        assert (summary.true_positives, summary.false_positives) == (2, 1)
        assert summary.precision == pytest.approx(2 / 3)
        other = store.feedback.summary("b")
        assert (other.true_positives, other.false_positives) == (0, 1)
        [latest, *_] = audit(store, AuditQuery(target="a", action="feedback"))
        assert latest.actor == "reviewer:cy"
        assert latest.new == {"post_id": "p3", "verdict": "true_positive", "note": "looked at it"}
        assert len(audit(store, AuditQuery(action="feedback"))) == 4

    def test_feedback_for_an_unknown_reference_is_not_found(self, store: ReferenceStore) -> None:
        before = counters(store)
        with pytest.raises(NotFound) as err:
            store.feedback.add(feedback("nope", FeedbackVerdict.TRUE_POSITIVE))
        assert err.value.key == "nope"
        assert counters(store) == before
        assert store.feedback.summary("nope").reviewed == 0

    def test_page_by_contained_canonical_form_or_exact_id(self, store: ReferenceStore) -> None:
        add(store, row("a", "the old bridge at dawn"), row("b", "a 50% share", seed=1), row("c", "bridge_work", seed=2))
        canonical = {i.id: i.canonical for i in store.references.page(ReferenceFilter(), limit=EVERYTHING)}
        assert page_ids(store, canonical=canonical["a"][4:12]) == ["a"]
        # LIKE's wildcards are literal characters: "%" alone is not "everything", "_" not "any one character".
        assert page_ids(store, canonical="%") == ["b"]
        assert page_ids(store, canonical="e_w") == ["c"] and page_ids(store, canonical="e_") == ["c"]
        assert page_ids(store, id="c") == ["c"]
        assert page_ids(store, canonical="no such words", id="b") == ["b"]

    def test_feedback_sums_per_bank_and_per_day(self, store: ReferenceStore) -> None:
        add(store, row("a", bank=DEFAULT_BANK), row("b", seed=1, bank=DEFAULT_BANK))
        store.feedback.add(feedback("a", FeedbackVerdict.TRUE_POSITIVE, post="p1"))
        store.feedback.add(feedback("b", FeedbackVerdict.FALSE_POSITIVE, post="p2"))
        store.feedback.add(feedback("b", FeedbackVerdict.TRUE_POSITIVE, post="p3"))
        assert store.feedback.by_bank() == {DEFAULT_BANK: FeedbackSummary(true_positives=2, false_positives=1)}
        [today] = store.feedback.daily(DEFAULT_BANK, since=time.time() - 86_400 * 2)
        assert today.day <= time.time() < today.day + 86_400 and today.day % 86_400 == 0
        assert today.feedback == FeedbackSummary(true_positives=2, false_positives=1)
        assert store.feedback.daily(DEFAULT_BANK, since=time.time() + 60) == []
        assert store.feedback.daily("other", since=0.0) == []

    # -- match log -----------------------------------------------------------------------------------

    def test_the_match_log_keeps_entries_in_review_order_with_their_latest_review_and_survives_reopen(
        self, opener: Opener, store: ReferenceStore
    ) -> None:
        add(store, row("a"))
        kinds = (Verdict.REUPLOAD, Verdict.TRANSLATION, Verdict.NEAR_DUPLICATE, Verdict.TRANSLATION)
        store.match_log.record([_logged(kind, f"p{i}") for i, kind in enumerate(kinds)], max_entries=100, keep_after=0.0)
        store.feedback.add(feedback("a", FeedbackVerdict.FALSE_POSITIVE, post="p1"))
        store = opener.reopen(store)
        every = store.match_log.query(MatchLogQuery(include_reviewed=True), after=None, limit=10)
        assert [(e.post_id, e.match.kind) for e in every] == [
            ("p3", Verdict.TRANSLATION), ("p1", Verdict.TRANSLATION), ("p2", Verdict.NEAR_DUPLICATE), ("p0", Verdict.REUPLOAD),
        ]
        assert [e.review for e in every] == [None, FeedbackVerdict.FALSE_POSITIVE, None, None]
        assert every[0].match == _logged(Verdict.TRANSLATION, "p3").match and every[0].post_text == "text of p3"
        unreviewed = store.match_log.query(MatchLogQuery(), after=None, limit=10)
        assert [e.post_id for e in unreviewed] == ["p3", "p2", "p0"]
        after_first = store.match_log.query(MatchLogQuery(), after=(REVIEW_ORDER[Verdict.TRANSLATION], unreviewed[0].seq), limit=10)
        assert [e.post_id for e in after_first] == ["p2", "p0"]

    def test_match_counts_add_up_per_replica_and_sum_over_the_others(self, opener: Opener, store: ReferenceStore) -> None:
        counts = store.match_counts
        counts.add("r1", {("", 10): 100, ("a", 10): 3, ("a", 11): 1})
        counts.add("r1", {("", 10): 50, ("a", 10): 2})
        counts.add("r2", {("", 10): 7, ("b", 9): 4})
        assert counts.totals(since_bucket=10, excluding="r2") == {("", 10): 150, ("a", 10): 5, ("a", 11): 1}
        assert counts.totals(since_bucket=0, excluding="") == {("", 10): 157, ("a", 10): 5, ("a", 11): 1, ("b", 9): 4}
        counts.forget(["a"], through_bucket=10)
        counts.add("r2", {("a", 10): 9, ("a", 12): 1})  # r2 held these in memory through the release: only the later bucket counts
        counts.prune(before_bucket=10)
        store = opener.reopen(store)
        assert store.match_counts.totals(since_bucket=0, excluding="") == {("", 10): 157, ("a", 11): 1, ("a", 12): 1}

    def test_the_match_log_drops_the_oldest_past_its_bounds(self, store: ReferenceStore) -> None:
        store.match_log.record([_logged(Verdict.REUPLOAD, f"old{i}", at=10.0) for i in range(3)], max_entries=100, keep_after=0.0)
        store.match_log.record([_logged(Verdict.REUPLOAD, f"new{i}", at=20.0) for i in range(2)], max_entries=4, keep_after=0.0)
        kept = {e.post_id for e in store.match_log.query(MatchLogQuery(), after=None, limit=10)}
        assert kept == {"old1", "old2", "new0", "new1"}
        store.match_log.record([_logged(Verdict.REUPLOAD, "newest", at=30.0)], max_entries=100, keep_after=15.0)
        assert {e.post_id for e in store.match_log.query(MatchLogQuery(), after=None, limit=10)} == {"new0", "new1", "newest"}


def _logged(kind: Verdict, post: str, *, at: float = 1e9) -> LoggedMatch:
    signal = {Verdict.REUPLOAD: Signal.EXACT, Verdict.NEAR_DUPLICATE: Signal.LEXICAL}.get(kind, Signal.SEMANTIC)
    match = Match(reference_id="a", score=0.75, kind=kind, signal=signal, bank=DEFAULT_BANK, labels=("org:x",), cosine=0.5, reference_lang="ur")
    return LoggedMatch(seq=0, at=at, post_id=post, post_text=f"text of {post}", post_lang="en", match=match)
