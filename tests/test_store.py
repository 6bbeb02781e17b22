from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.core.banks import Bank
from service.core.domain import ReferenceState
from service.core.errors import AlreadyExists, InvalidInput, NotFound
from service.core.store import PreparedReference, ReferenceStore


def prepared(ref_id: str, text: str = "text", bank: str = "default") -> PreparedReference:
    return PreparedReference(
        id=ref_id,
        text=text,
        canonical=text.lower(),
        fingerprint=f"fp-{text.lower()}",
        declared_lang="en",
        detected_lang="en",
        bank=bank,
        labels=("org:example",),
        metadata={"source": "test"},
        vector=np.full(4, 0.5, np.float32),
    )


def test_add_get_persist_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "refs.sqlite3"
    store = ReferenceStore(path)
    store.create_bank(Bank(name="other"), actor="curator:ann")
    store.add([prepared("a", "Alpha"), prepared("b", "Beta", bank="other")], actor="curator:ann", model_id="m1")
    gen = store.generation()
    store.close()

    store = ReferenceStore(path)
    item = store.get("b")
    assert (item.text, item.bank, item.labels, item.metadata) == ("Beta", "other", ("org:example",), {"source": "test"})
    assert item.added_by == "curator:ann" and item.state is ReferenceState.ACTIVE
    assert store.generation() == gen
    vids, vectors = next(store.indexable_vectors("m1"))
    assert len(vids) == 2 and vectors.shape == (2, 4)
    assert list(store.indexable_vectors("other-model")) == []


def test_add_is_all_or_nothing(tmp_path: Path) -> None:
    store = ReferenceStore(tmp_path / "s.sqlite3")
    store.add([prepared("a")], actor="x", model_id="m")
    with pytest.raises(AlreadyExists):
        store.add([prepared("new"), prepared("a")], actor="x", model_id="m")
    with pytest.raises(NotFound):
        store.get("new")
    with pytest.raises(InvalidInput):
        store.add([prepared("z"), prepared("z")], actor="x", model_id="m")


def test_remove_keeps_tombstone_without_text(tmp_path: Path) -> None:
    store = ReferenceStore(tmp_path / "s.sqlite3")
    store.add([prepared("a", "Alpha")], actor="x", model_id="m")
    removed, missing = store.remove(["a", "nope"], actor="y")
    assert [r.id for r in removed] == ["a"] and missing == ["nope"]
    tomb = store.get("a")
    assert tomb.state is ReferenceState.REMOVED and tomb.text == "" and tomb.fingerprint == "fp-alpha"
    assert store.find_by_fingerprints(["fp-alpha"]) == {}
    assert list(store.indexable_vectors("m")) == []
    # Removing twice reports it as not found, and does not bump the generation.
    gen = store.generation()
    assert store.remove(["a"], actor="y") == ([], ["a"])
    assert store.generation() == gen
    actions = [(e.action, e.target, e.actor) for e in store.audit_log()]
    assert actions == [("remove", "a", "y"), ("add", "a", "x")]


def test_vectors_of_another_model_are_reported_for_reembedding(tmp_path: Path) -> None:
    store = ReferenceStore(tmp_path / "s.sqlite3")
    store.add([prepared("a"), prepared("b")], actor="x", model_id="old")
    stale = [i.id for batch in store.items_needing_vectors("new") for i in batch]
    assert stale == ["a", "b"]
    item = store.get("a")
    store.set_vectors([item.vid], np.ones((1, 4), np.float32), model_id="new")
    assert [i.id for batch in store.items_needing_vectors("new") for i in batch] == ["b"]


def test_audit_log_is_append_only(tmp_path: Path) -> None:
    import sqlite3

    store = ReferenceStore(tmp_path / "s.sqlite3")
    store.add([prepared("a")], actor="x", model_id="m")
    conn = sqlite3.connect(tmp_path / "s.sqlite3")
    for sql in ("UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
    conn.close()
    assert [e.actor for e in store.audit_log()] == ["x"]


def test_unknown_bank_is_refused_and_deleted_bank_can_be_recreated(tmp_path: Path) -> None:
    store = ReferenceStore(tmp_path / "s.sqlite3")
    with pytest.raises(NotFound) as err:
        store.add([prepared("a", bank="nope")], actor="x", model_id="m")
    assert err.value.key == "nope"
    store.create_bank(Bank(name="b"), actor="x")
    store.delete_bank("b", actor="x")
    with pytest.raises(NotFound):
        store.get_bank("b")
    assert store.create_bank(Bank(name="b", description="again"), actor="y").description == "again"
