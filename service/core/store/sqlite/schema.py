"""The SQLite schema and its versioned migrations, applied at open.

``meta.schema_version`` records the last migration applied; each migration
runs once, in order, inside the opening transaction. Version 1 is the schema
as first released; stores made by early builds that already called
themselves version 1 but lack later columns are patched by it too.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Callable

from service.core.domain import DEFAULT_BANK
from service.core.errors import ConfigError
from service.core.validation import MAX_TIME, MIN_TIME

_V1 = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS banks (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    enabled     INTEGER NOT NULL DEFAULT 1,
    kind        TEXT NOT NULL DEFAULT 'normal',
    thresholds  TEXT NOT NULL DEFAULT '{}',
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    created_by  TEXT NOT NULL DEFAULT '',
    deleted_at  REAL
);
CREATE TABLE IF NOT EXISTS refs (
    vid            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    text           TEXT NOT NULL,
    canonical      TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    declared_lang  TEXT NOT NULL DEFAULT '',
    detected_lang  TEXT NOT NULL DEFAULT '',
    bank           TEXT NOT NULL REFERENCES banks(name),
    labels         TEXT NOT NULL DEFAULT '[]',
    metadata       TEXT NOT NULL DEFAULT '{}',
    added_by       TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL DEFAULT 'active',
    disabled_until REAL,
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL,
    model_id       TEXT,
    vector         BLOB,
    change_seq     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS refs_fingerprint ON refs(fingerprint);
CREATE INDEX IF NOT EXISTS refs_bank ON refs(bank);
CREATE INDEX IF NOT EXISTS refs_change_seq ON refs(change_seq);
CREATE TABLE IF NOT EXISTS audit (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    at     REAL NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    old    TEXT,
    new    TEXT
);
CREATE INDEX IF NOT EXISTS audit_target ON audit(target);
-- The audit log is append-only: the database itself refuses to rewrite history.
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS feedback (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           REAL NOT NULL,
    reference_id TEXT NOT NULL,
    post_id      TEXT NOT NULL,
    verdict      TEXT NOT NULL,
    note         TEXT NOT NULL DEFAULT '',
    reporter     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_reference ON feedback(reference_id);
"""

# Columns early builds of version 1 lacked.
_V1_LATE_COLUMNS = (
    ("refs", "change_seq", "INTEGER NOT NULL DEFAULT 0"),
    ("banks", "created_by", "TEXT NOT NULL DEFAULT ''"),
    ("banks", "deleted_at", "REAL"),
)


def _v1(cur: sqlite3.Cursor) -> None:
    for table, column, decl in _V1_LATE_COLUMNS:
        existing = {r[1] for r in cur.execute(f"PRAGMA table_info({table})")}
        if existing and column not in existing:
            cur.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
    for statement in _V1.split(";\n"):
        if statement.strip():
            cur.execute(statement + (";" if statement.rstrip().endswith("END") else ""))
    for key in ("generation", "change_seq"):
        cur.execute("INSERT OR IGNORE INTO meta VALUES (?, '0')", (key,))
    # Items of stores made before the change log had no position in it (0); give
    # them one in insertion order, or an export from the start would never yield them.
    cur.execute(
        "UPDATE refs SET change_seq = (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'change_seq') + vid WHERE change_seq = 0"
    )
    cur.execute("UPDATE meta SET value = (SELECT COALESCE(MAX(change_seq), 0) FROM refs) WHERE key = 'change_seq'"
                " AND (SELECT COALESCE(MAX(change_seq), 0) FROM refs) > CAST(value AS INTEGER)")
    now = time.time()
    cur.execute(
        "INSERT OR IGNORE INTO banks(name, description, created_at, updated_at) VALUES (?, ?, ?, ?)",
        (DEFAULT_BANK, "Default bank", now, now),
    )


def _v2(cur: sqlite3.Cursor) -> None:
    """Repair times outside what protobuf can carry (years 1-9999), written before requests were range-checked.

    A disable "until" beyond year 9999 meant for ever: it becomes an indefinite disable.
    """
    low, high = MIN_TIME, MAX_TIME
    cur.execute("UPDATE refs SET disabled_until = NULL WHERE disabled_until < ? OR disabled_until > ?", (low, high))
    for column in ("created_at", "updated_at"):
        cur.execute(f"UPDATE refs SET {column} = MIN(MAX({column}, ?), ?) WHERE {column} < ? OR {column} > ?", (low, high, low, high))


_V3_MATCH_LOG = """
CREATE TABLE IF NOT EXISTS match_log (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           REAL NOT NULL,
    post_id      TEXT NOT NULL,
    post_text    TEXT NOT NULL,
    post_lang    TEXT NOT NULL,
    reference_id TEXT NOT NULL,
    bank         TEXT NOT NULL,
    labels       TEXT NOT NULL DEFAULT '[]',
    kind         TEXT NOT NULL,
    signal       TEXT NOT NULL,
    score        REAL NOT NULL,
    cosine       REAL NOT NULL,
    reference_lang TEXT NOT NULL,
    review_rank  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS match_log_queue ON match_log(review_rank, seq);
CREATE INDEX IF NOT EXISTS match_log_at ON match_log(at);
CREATE INDEX IF NOT EXISTS feedback_pair ON feedback(reference_id, post_id)
"""


def _v3(cur: sqlite3.Cursor) -> None:
    """Banks gain a roll-out share (matching/rollout.py); the review queue's match log (opt-in, curation/match_log.py)."""
    if "match_share" not in {r[1] for r in cur.execute("PRAGMA table_info(banks)")}:
        cur.execute("ALTER TABLE banks ADD COLUMN match_share REAL NOT NULL DEFAULT 1.0")
    for statement in _V3_MATCH_LOG.split(";\n"):
        if statement.strip():
            cur.execute(statement)


def _v4(cur: sqlite3.Cursor) -> None:
    """The bank catalog's version counter, which tells a process that banks changed (BankRows.version)."""
    cur.execute("INSERT OR IGNORE INTO meta VALUES ('bank_version', '0')")


def _v5(cur: sqlite3.Cursor) -> None:
    """Quarantine match counts per replica and bucket (MatchCountRows); one process on SQLite still keeps them the same way."""
    cur.execute(
        "CREATE TABLE IF NOT EXISTS match_counts (replica TEXT NOT NULL, ref_id TEXT NOT NULL, bucket INTEGER NOT NULL,"
        " n INTEGER NOT NULL, PRIMARY KEY (replica, ref_id, bucket))"
    )
    cur.execute("CREATE INDEX IF NOT EXISTS match_counts_bucket ON match_counts(bucket)")


#: (version, migration), in order. Append; never edit a released one.
MIGRATIONS: tuple[tuple[int, Callable[[sqlite3.Cursor], None]], ...] = ((1, _v1), (2, _v2), (3, _v3), (4, _v4), (5, _v5))
SCHEMA_VERSION = MIGRATIONS[-1][0]


def migrate(cur: sqlite3.Cursor) -> None:
    cur.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    row = cur.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    applied = int(row[0]) if row is not None else 0
    if applied > SCHEMA_VERSION:
        raise ConfigError(f"the store is at schema version {applied}; this Nigran knows up to {SCHEMA_VERSION}: upgrade Nigran")
    for version, step in MIGRATIONS:
        # Version 1 always runs: its statements are idempotent, and it repairs early version-1 stores.
        if version > applied or version == 1:
            step(cur)
    cur.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
