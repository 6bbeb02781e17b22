"""The SQLite reference store: the store contract, plus what only SQLite promises.

``TestSqliteStore`` runs every test of ``tests/support/store_contract.py``
against ``SqliteStore``; the tests defined here check the database itself
through raw ``sqlite3`` connections: the append-only audit table, WAL mode,
and opening stores written by earlier or later schema versions.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from service.core.domain import DEFAULT_BANK, Bank, BankKind, FeedbackVerdict, ReferenceState
from service.core.errors import ConfigError
from service.core.store.base import ReferenceStore
from service.core.store.sqlite import SqliteStore
from service.core.store.sqlite.schema import SCHEMA_VERSION

from tests.support.store_contract import MODEL, Opener, StoreContract, add, audit, change_order, feedback, row

# The schema as the first release wrote it (version 1 by its own account):
# banks without created_by/deleted_at and a 'match' kind, refs without
# change_seq, an audit table without its append-only triggers, no feedback.
EARLY_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE banks (
    name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '', enabled INTEGER NOT NULL DEFAULT 1,
    kind TEXT NOT NULL DEFAULT 'match', thresholds TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE refs (
    vid INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, text TEXT NOT NULL, canonical TEXT NOT NULL,
    fingerprint TEXT NOT NULL, declared_lang TEXT NOT NULL DEFAULT '', detected_lang TEXT NOT NULL DEFAULT '',
    bank TEXT NOT NULL REFERENCES banks(name), labels TEXT NOT NULL DEFAULT '[]', metadata TEXT NOT NULL DEFAULT '{}',
    added_by TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT 'active', disabled_until REAL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, model_id TEXT, vector BLOB
);
CREATE INDEX refs_fingerprint ON refs(fingerprint);
CREATE INDEX refs_bank ON refs(bank);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL, old TEXT, new TEXT
);
INSERT INTO meta VALUES ('schema_version', '1'), ('generation', '2');
INSERT INTO banks(name, description, kind, created_at, updated_at) VALUES
    ('default', 'Default bank', 'match', 1.0, 1.0), ('other', 'early bank', 'match', 1.0, 1.0);
INSERT INTO refs(id, text, canonical, fingerprint, declared_lang, detected_lang, bank, labels, metadata,
                 added_by, state, created_at, updated_at, model_id, vector) VALUES
    ('early', 'Early', 'early', 'fp-early', 'en', 'en', 'other', '["org:example"]', '{"source": "early"}',
     'curator:old', 'active', 1.0, 1.0, 'model-a', X'0000803F0000803F0000803F0000803F'),
    ('early-gone', '', '', 'fp-gone', 'en', 'en', 'default', '[]', '{}',
     'curator:old', 'removed', 1.0, 2.0, 'model-a', NULL);
INSERT INTO audit(at, actor, action, target, old, new) VALUES
    (1.0, 'curator:old', 'add', 'early', NULL, '{"bank": "other"}');
"""


def raw(path: Path) -> closing[sqlite3.Connection]:
    """A connection of our own, beside the store's: what any other process could do to the file."""
    return closing(sqlite3.connect(path, isolation_level=None))


def meta(path: Path, key: str) -> str:
    with raw(path) as conn:
        return str(conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def path(self, tmp_path: Path) -> Path:
        return tmp_path / "refs.sqlite3"

    @pytest.fixture
    def open_store(self, path: Path) -> Callable[[], ReferenceStore]:
        return lambda: SqliteStore(path)

    @pytest.fixture
    def early_path(self, path: Path) -> Path:
        with raw(path) as conn:
            conn.executescript(EARLY_SCHEMA)
        return path

    # -- known defects (each overrides a contract test only to mark it for this backend) --

    # -- the database itself ---------------------------------------------------------

    def test_audit_table_is_append_only_in_the_database(self, store: ReferenceStore, path: Path) -> None:
        add(store, row("a"), actor="x")
        with raw(path) as conn:
            for sql in ("UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"):
                with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                    conn.execute(sql)
        assert [e.actor for e in audit(store)] == ["x"]

    def test_a_tombstone_keeps_no_text_or_vector_in_the_database(self, store: ReferenceStore, path: Path) -> None:
        # The interface hides a removed item's vector anyway; this checks it is really gone from disk.
        add(store, row("a", "Alpha"), row("b"))
        store.references.remove(["a"], actor="x")
        with raw(path) as conn:
            stored_rows = conn.execute("SELECT id, text, canonical, vector IS NULL, fingerprint FROM refs ORDER BY vid").fetchall()
        assert stored_rows == [("a", "", "", 1, "fp-alpha"), ("b", "text of b", "text of b", 0, "fp-text of b")]

    def test_set_vectors_puts_no_vector_back_into_a_tombstone(self, store: ReferenceStore, path: Path) -> None:
        [a] = add(store, row("a"))
        store.references.remove(["a"], actor="x")
        store.vectors.set_vectors([a.vid], np.ones((1, 4), np.float32), model_id=MODEL)
        with raw(path) as conn:
            assert conn.execute("SELECT vector IS NULL FROM refs WHERE id = 'a'").fetchone() == (1,)

    def test_the_database_is_in_wal_mode(self, store: ReferenceStore, path: Path) -> None:
        with raw(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    # -- schema versions ---------------------------------------------------------------

    def test_a_store_from_the_early_schema_opens_migrated(self, opener: Opener, early_path: Path) -> None:
        store = opener.open()
        assert meta(early_path, "schema_version") == str(SCHEMA_VERSION)
        assert store.generation() == 2
        early = store.references.get("early")
        assert (early.text, early.bank, early.added_by, early.state) == ("Early", "other", "curator:old", ReferenceState.ACTIVE)
        assert (early.labels, dict(early.metadata), early.created_at) == (("org:example",), {"source": "early"}, 1.0)
        assert store.references.get("early-gone").state is ReferenceState.REMOVED
        np.testing.assert_array_equal(store.vectors.vectors_for([early.vid], MODEL)[1], np.ones((1, 4), np.float32))
        other = store.banks.get("other")
        assert (other.kind, other.created_by, other.item_count, other.match_share) == (BankKind.NORMAL, "", 1, 1.0)
        assert [b.name for b in store.banks.all()] == [DEFAULT_BANK, "other"]
        assert [(e.action, e.target) for e in audit(store)] == [("add", "early")]

        # Everything the later columns and tables are for works on the migrated store.
        [new] = add(store, row("new", bank="other"))
        assert new.change_seq > 0 and new.vid > early.vid
        store.references.remove(["early", "new"], actor="curator:new")
        store.banks.delete("other", actor="curator:new")  # deleted_at
        assert store.banks.create(Bank(name="other"), actor="curator:new").created_by == "curator:new"
        store.feedback.add(feedback("early", FeedbackVerdict.TRUE_POSITIVE))
        assert store.feedback.summary("early").true_positives == 1
        with raw(early_path) as conn, pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM audit")

        # Migrating is idempotent: a second open finds nothing to patch.
        store = opener.reopen(store)
        assert store.references.get("new").state is ReferenceState.REMOVED
        assert meta(early_path, "schema_version") == str(SCHEMA_VERSION)

    def test_items_of_an_early_store_are_in_the_change_log(self, opener: Opener, early_path: Path) -> None:
        store = opener.open()
        assert change_order(store) == ["early", "early-gone"]
        assert store.references.last_change_seq() >= 2

    def test_a_store_at_a_newer_schema_version_is_refused(self, store: ReferenceStore, path: Path, opener: Opener) -> None:
        add(store, row("a"))
        opener.close(store)
        newer = str(SCHEMA_VERSION + 1)
        with raw(path) as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (newer,))
        with pytest.raises(ConfigError, match="schema version"):
            SqliteStore(path)
        # Refusing touches nothing: the newer Nigran that wrote it can still open it as it was.
        assert meta(path, "schema_version") == newer
        with raw(path) as conn:
            assert conn.execute("SELECT id FROM refs").fetchall() == [("a",)]
