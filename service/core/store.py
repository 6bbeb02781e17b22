"""The reference store: SQLite in WAL mode, the source of truth.

Everything the service knows about reference content lives here, embeddings
included, so the vector index is derived data that can always be rebuilt. A
write is acknowledged only after its transaction commits, and every write bumps
a ``generation`` counter in the same transaction; an index snapshot records the
generation it reflects, which is how a stale snapshot is detected at start.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from service.core.banks import Bank, BankChanges, BankKind
from service.core.domain import DEFAULT_BANK, ReferenceItem, ReferenceState
from service.core.errors import AlreadyExists, FailedPrecondition, InvalidInput, NotFound
from service.core.feedback import Feedback, FeedbackSummary

SCHEMA_VERSION = 1

_SCHEMA = """
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

_REF_COLUMNS = (
    "vid, id, text, canonical, fingerprint, declared_lang, detected_lang, bank, labels, "
    "metadata, added_by, created_at, updated_at, state, disabled_until, change_seq"
)


@dataclass(frozen=True)
class PreparedReference:
    """A reference item with everything derived: ready to be stored."""

    id: str
    text: str
    canonical: str
    fingerprint: str
    declared_lang: str
    detected_lang: str
    bank: str
    labels: tuple[str, ...]
    metadata: Mapping[str, str]
    vector: NDArray[np.float32]


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: float
    actor: str
    action: str
    target: str
    old: Any
    new: Any


class ReferenceStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared under a lock: SQLite serialises writers anyway,
        # and reads here are point lookups that take microseconds.
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged add survives power loss, not just a process crash.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            _migrate(self._conn)
            self._conn.executescript(_SCHEMA)
            with self._tx() as cur:
                cur.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                cur.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")
                cur.execute("INSERT OR IGNORE INTO meta VALUES ('change_seq', '0')")
                now = time.time()
                cur.execute(
                    "INSERT OR IGNORE INTO banks(name, description, created_at, updated_at) VALUES (?, ?, ?, ?)",
                    (DEFAULT_BANK, "Default bank", now, now),
                )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    @staticmethod
    def _bump(cur: sqlite3.Cursor) -> None:
        cur.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    @staticmethod
    def _reserve_seqs(cur: sqlite3.Cursor, n: int) -> int:
        """Reserve n consecutive change sequence numbers; returns the first."""
        row = cur.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'change_seq' RETURNING value", (n,)
        ).fetchone()
        return int(row[0]) - n + 1

    @staticmethod
    def _audit(cur: sqlite3.Cursor, actor: str, action: str, target: str, old: Any, new: Any) -> None:
        cur.execute(
            "INSERT INTO audit(at, actor, action, target, old, new) VALUES (?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                actor,
                action,
                target,
                None if old is None else json.dumps(old, ensure_ascii=False),
                None if new is None else json.dumps(new, ensure_ascii=False),
            ),
        )

    # -- writes ---------------------------------------------------------------

    def add(self, items: Sequence[PreparedReference], *, actor: str, model_id: str) -> list[ReferenceItem]:
        """Insert items atomically: all of them are stored, or none."""
        now = time.time()
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                raise InvalidInput("references.id", f"id {item.id!r} appears twice in one request")
            seen.add(item.id)
        with self._tx() as cur:
            live_banks = {r[0] for r in cur.execute("SELECT name FROM banks WHERE deleted_at IS NULL")}
            for i, item in enumerate(items):
                if item.bank not in live_banks:
                    raise NotFound("bank", item.bank)
            seq = self._reserve_seqs(cur, len(items))
            for i, item in enumerate(items):
                try:
                    cur.execute(
                        "INSERT INTO refs(id, text, canonical, fingerprint, declared_lang, detected_lang, bank,"
                        " labels, metadata, added_by, state, created_at, updated_at, model_id, vector, change_seq)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?)",
                        (
                            item.id,
                            item.text,
                            item.canonical,
                            item.fingerprint,
                            item.declared_lang,
                            item.detected_lang,
                            item.bank,
                            json.dumps(list(item.labels), ensure_ascii=False),
                            json.dumps(dict(item.metadata), ensure_ascii=False),
                            actor,
                            now,
                            now,
                            model_id,
                            np.ascontiguousarray(item.vector, dtype=np.float32).tobytes(),
                            seq + i,
                        ),
                    )
                except sqlite3.IntegrityError as exc:
                    raise AlreadyExists("reference", item.id) from exc
                self._audit(cur, actor, "add", item.id, None, {"bank": item.bank, "labels": list(item.labels)})
            self._bump(cur)
        return [self.get(item.id) for item in items]

    def remove(self, ids: Sequence[str], *, actor: str) -> tuple[list[ReferenceItem], list[str]]:
        """Mark items removed, keeping a tombstone (id, fingerprint, bank, time).

        The text and vector are dropped: a removed item must never match again,
        while exports can still tell consumers to delete it.
        """
        removed: list[ReferenceItem] = []
        missing: list[str] = []
        now = time.time()
        with self._tx() as cur:
            for item in _live_items(cur, ids, now, missing):
                cur.execute(
                    "UPDATE refs SET state = 'removed', text = '', canonical = '', vector = NULL,"
                    " updated_at = ?, disabled_until = NULL, change_seq = ? WHERE vid = ?",
                    (now, self._reserve_seqs(cur, 1), item.vid),
                )
                self._audit(cur, actor, "remove", item.id, {"state": item.state.value}, {"state": "removed"})
                removed.append(item)
            if removed:
                self._bump(cur)
        return removed, missing

    # -- reads ----------------------------------------------------------------

    def get(self, ref_id: str) -> ReferenceItem:
        with self._lock:
            row = self._conn.execute(f"SELECT {_REF_COLUMNS} FROM refs WHERE id = ?", (ref_id,)).fetchone()
        if row is None:
            raise NotFound("reference", ref_id)
        return _row_to_item(row)

    def get_by_vids(self, vids: Iterable[int]) -> dict[int, ReferenceItem]:
        wanted = sorted(set(vids))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        with self._lock:
            rows = self._conn.execute(f"SELECT {_REF_COLUMNS} FROM refs WHERE vid IN ({marks})", wanted).fetchall()
        return {row[0]: _row_to_item(row) for row in rows}

    def find_by_fingerprints(self, fingerprints: Iterable[str]) -> dict[str, list[ReferenceItem]]:
        wanted = sorted(set(fingerprints))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_REF_COLUMNS} FROM refs WHERE fingerprint IN ({marks}) AND state != 'removed'"
                " ORDER BY vid",
                wanted,
            ).fetchall()
        found: dict[str, list[ReferenceItem]] = {}
        for row in rows:
            item = _row_to_item(row)
            found.setdefault(item.fingerprint, []).append(item)
        return found

    def generation(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0])

    def count(self, *, include_removed: bool = False) -> int:
        where = "" if include_removed else " WHERE state != 'removed'"
        with self._lock:
            return int(self._conn.execute(f"SELECT COUNT(*) FROM refs{where}").fetchone()[0])

    def indexable_vectors(self, model_id: str, batch: int = 10_000) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float32]]]:
        """Yield (vids, vectors) of every non-removed item embedded by ``model_id``."""
        last = 0
        while True:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT vid, vector FROM refs WHERE vid > ? AND state != 'removed' AND model_id = ?"
                    " AND vector IS NOT NULL ORDER BY vid LIMIT ?",
                    (last, model_id, batch),
                ).fetchall()
            if not rows:
                return
            vids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            last = int(vids[-1])
            yield vids, vectors

    def indexable_vids(self, model_id: str) -> NDArray[np.int64]:
        """Sorted vids of every item ``indexable_vectors`` would yield."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT vid FROM refs WHERE state != 'removed' AND model_id = ? AND vector IS NOT NULL ORDER BY vid",
                (model_id,),
            ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def index_delta(
        self, present: NDArray[np.int64], model_id: str
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
        """How an index holding the vids ``present`` differs from this store.

        Returns (vids to remove, vids to add, their stored vectors): the one
        reconciliation that index compaction and artifact loading both need.
        """
        live = self.indexable_vids(model_id)
        extra = np.setdiff1d(present, live)
        missing = np.setdiff1d(live, present)
        if missing.size == 0:
            return extra, missing, np.zeros((0, 0), dtype=np.float32)
        add_vids, add_vectors = self.vectors_for(missing.tolist(), model_id)
        return extra, add_vids, add_vectors

    def vid_table(self) -> tuple[NDArray[np.int64], list[str], NDArray[np.bool_]]:
        """Every stored item's (vid, id, removed?) in vid order, without texts or vectors."""
        with self._lock:
            rows = self._conn.execute("SELECT vid, id, state = 'removed' FROM refs ORDER BY vid").fetchall()
        vids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        removed = np.fromiter((bool(r[2]) for r in rows), dtype=np.bool_, count=len(rows))
        return vids, [r[1] for r in rows], removed

    def vectors_for(self, vids: Sequence[int], model_id: str) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Stored (vids, vectors) of the given non-removed items embedded by ``model_id``."""
        found: list[tuple[int, bytes]] = []
        wanted = sorted({int(v) for v in vids})
        for start in range(0, len(wanted), 900):  # under SQLite's bound-parameter limit
            chunk = wanted[start : start + 900]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                found += self._conn.execute(
                    f"SELECT vid, vector FROM refs WHERE vid IN ({marks}) AND state != 'removed'"
                    " AND model_id = ? AND vector IS NOT NULL ORDER BY vid",
                    (*chunk, model_id),
                ).fetchall()
        out_vids = np.fromiter((r[0] for r in found), dtype=np.int64, count=len(found))
        if not found:
            return out_vids, np.zeros((0, 0), dtype=np.float32)
        return out_vids, np.stack([np.frombuffer(r[1], dtype=np.float32) for r in found])

    def existing_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are stored (removed ones included: an id is never reused)."""
        wanted = sorted(set(ids))
        found: set[str] = set()
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                found.update(r[0] for r in self._conn.execute(f"SELECT id FROM refs WHERE id IN ({marks})", chunk))
        return found

    def items_needing_vectors(self, model_id: str, batch: int = 1000) -> Iterator[list[ReferenceItem]]:
        """Items whose stored vector is missing or from another model."""
        last = 0
        while True:
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT {_REF_COLUMNS} FROM refs WHERE vid > ? AND state != 'removed'"
                    " AND (model_id IS NOT ? OR vector IS NULL) ORDER BY vid LIMIT ?",
                    (last, model_id, batch),
                ).fetchall()
            if not rows:
                return
            items = [_row_to_item(r) for r in rows]
            last = items[-1].vid
            yield items

    def set_vectors(self, vids: Sequence[int], vectors: NDArray[np.float32], *, model_id: str) -> None:
        """Store re-computed vectors. Not a content change, so no generation bump."""
        with self._tx() as cur:
            cur.executemany(
                "UPDATE refs SET vector = ?, model_id = ? WHERE vid = ?",
                [(np.ascontiguousarray(v, dtype=np.float32).tobytes(), model_id, int(vid)) for vid, v in zip(vids, vectors)],
            )

    def audit_log(self, *, target: str | None = None, limit: int = 100) -> list[AuditEntry]:
        return self.query_audit(target=target, limit=limit)

    def query_audit(
        self,
        *,
        target: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: float | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Newest first; page with ``before_seq`` = the last seq of the previous page."""
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (("target", target), ("actor", actor), ("action", action)):
            if value:
                clauses.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            clauses.append("at >= ?")
            args.append(since)
        if before_seq is not None:
            clauses.append("seq < ?")
            args.append(before_seq)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT seq, at, actor, action, target, old, new FROM audit{where} ORDER BY seq DESC LIMIT ?",
                [*args, limit],
            ).fetchall()
        return [
            AuditEntry(r[0], r[1], r[2], r[3], r[4], None if r[5] is None else json.loads(r[5]), None if r[6] is None else json.loads(r[6]))
            for r in rows
        ]

    # -- banks ----------------------------------------------------------------

    def list_banks(self) -> list[Bank]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_BANK_COLUMNS}, (SELECT COUNT(*) FROM refs WHERE refs.bank = banks.name AND refs.state != 'removed')"
                " FROM banks WHERE deleted_at IS NULL ORDER BY name"
            ).fetchall()
        return [_row_to_bank(r) for r in rows]

    def get_bank(self, name: str) -> Bank:
        for bank in self.list_banks():
            if bank.name == name:
                return bank
        raise NotFound("bank", name)

    def create_bank(self, bank: Bank, *, actor: str) -> Bank:
        now = time.time()
        with self._tx() as cur:
            row = cur.execute("SELECT deleted_at FROM banks WHERE name = ?", (bank.name,)).fetchone()
            if row is not None and row[0] is None:
                raise AlreadyExists("bank", bank.name)
            values = (bank.description, int(bank.enabled), bank.kind.value, json.dumps(dict(bank.thresholds)), now, now, actor)
            if row is None:
                cur.execute(
                    "INSERT INTO banks(description, enabled, kind, thresholds, created_at, updated_at, created_by, name)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, bank.name),
                )
            else:  # re-creating a deleted bank: its tombstones keep pointing at the name
                cur.execute(
                    "UPDATE banks SET description = ?, enabled = ?, kind = ?, thresholds = ?, created_at = ?,"
                    " updated_at = ?, created_by = ?, deleted_at = NULL WHERE name = ?",
                    (*values, bank.name),
                )
            self._audit(cur, actor, "bank.create", f"bank:{bank.name}", None, _bank_audit(bank))
        return self.get_bank(bank.name)

    def update_bank(self, name: str, changes: BankChanges, *, actor: str) -> Bank:
        with self._tx() as cur:
            row = cur.execute(f"SELECT {_BANK_COLUMNS}, 0 FROM banks WHERE name = ? AND deleted_at IS NULL", (name,)).fetchone()
            if row is None:
                raise NotFound("bank", name)
            old = _row_to_bank(row)
            thresholds = {k: v for k, v in old.thresholds.items() if k not in changes.clear_thresholds}
            thresholds.update(changes.set_thresholds)
            new = Bank(
                name=name,
                description=old.description if changes.description is None else changes.description,
                enabled=old.enabled if changes.enabled is None else changes.enabled,
                kind=old.kind if changes.kind is None else changes.kind,
                thresholds=thresholds,
            )
            cur.execute(
                "UPDATE banks SET description = ?, enabled = ?, kind = ?, thresholds = ?, updated_at = ? WHERE name = ?",
                (new.description, int(new.enabled), new.kind.value, json.dumps(thresholds), time.time(), name),
            )
            self._audit(cur, actor, "bank.update", f"bank:{name}", _bank_audit(old), _bank_audit(new))
        return self.get_bank(name)

    def delete_bank(self, name: str, *, actor: str) -> None:
        """Mark a bank deleted. It must hold no live items (tombstones may remain)."""
        if name == DEFAULT_BANK:
            raise FailedPrecondition(f"bank {name!r} always exists and cannot be deleted")
        with self._tx() as cur:
            row = cur.execute(f"SELECT {_BANK_COLUMNS}, 0 FROM banks WHERE name = ? AND deleted_at IS NULL", (name,)).fetchone()
            if row is None:
                raise NotFound("bank", name)
            live = cur.execute("SELECT COUNT(*) FROM refs WHERE bank = ? AND state != 'removed'", (name,)).fetchone()[0]
            if live:
                raise FailedPrecondition(f"bank {name!r} still holds {live} item(s); remove them or delete with force")
            cur.execute("UPDATE banks SET deleted_at = ?, updated_at = ? WHERE name = ?", (time.time(), time.time(), name))
            self._audit(cur, actor, "bank.delete", f"bank:{name}", _bank_audit(_row_to_bank(row)), None)

    def live_ids_in_bank(self, name: str) -> list[str]:
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT id FROM refs WHERE bank = ? AND state != 'removed' ORDER BY vid", (name,))]

    # -- item state and annotations -------------------------------------------

    def set_state(
        self,
        ids: Sequence[str],
        state: ReferenceState,
        *,
        allowed_from: frozenset[ReferenceState],
        actor: str,
        action: str,
        until: float | None = None,
        reason: Mapping[str, Any] | None = None,
    ) -> tuple[list[ReferenceItem], list[str]]:
        """Move items to ``state``. Returns (changed, not found); items in other states are left alone.

        A state change is not an index change (the index keeps disabled and
        quarantined items), so the generation is not bumped.
        """
        changed: list[ReferenceItem] = []
        missing: list[str] = []
        now = time.time()
        with self._tx() as cur:
            for item in _live_items(cur, ids, now, missing):
                if item.state not in allowed_from:
                    continue
                cur.execute(
                    "UPDATE refs SET state = ?, disabled_until = ?, updated_at = ?, change_seq = ? WHERE vid = ?",
                    (state.value, until, now, self._reserve_seqs(cur, 1), item.vid),
                )
                old = {"state": item.state.value, "disabled_until": item.disabled_until}
                new = {"state": state.value, "disabled_until": until, **(reason or {})}
                self._audit(cur, actor, action, item.id, old, new)
                changed.append(item)
        return changed, missing

    def update_annotations(
        self, ref_id: str, *, labels: Sequence[str], metadata: Mapping[str, str], actor: str
    ) -> ReferenceItem:
        with self._tx() as cur:
            old = _live_item(cur, ref_id, time.time())
            if old is None:
                raise NotFound("reference", ref_id)
            if tuple(labels) == old.labels and dict(metadata) == dict(old.metadata):
                return old
            cur.execute(
                "UPDATE refs SET labels = ?, metadata = ?, updated_at = ?, change_seq = ? WHERE vid = ?",
                (
                    json.dumps(list(labels), ensure_ascii=False),
                    json.dumps(dict(metadata), ensure_ascii=False),
                    time.time(),
                    self._reserve_seqs(cur, 1),
                    old.vid,
                ),
            )
            self._audit(
                cur, actor, "update", ref_id,
                {"labels": list(old.labels), "metadata": dict(old.metadata)},
                {"labels": list(labels), "metadata": dict(metadata)},
            )
        return self.get(ref_id)

    def list_references(
        self,
        *,
        bank: str = "",
        state: ReferenceState | None = None,
        label: str = "",
        after_vid: int = 0,
        limit: int = 100,
    ) -> list[ReferenceItem]:
        """Items in insertion order; page with ``after_vid`` = the last vid of the previous page."""
        now = time.time()
        clauses: list[str] = ["vid > ?"]
        args: list[Any] = [after_vid]
        if bank:
            clauses.append("bank = ?")
            args.append(bank)
        if state is ReferenceState.ACTIVE:
            # A disable window that has run out is active again.
            clauses.append("(state = 'active' OR (state = 'disabled' AND disabled_until IS NOT NULL AND disabled_until <= ?))")
            args.append(now)
        elif state is ReferenceState.DISABLED:
            clauses.append("state = 'disabled' AND (disabled_until IS NULL OR disabled_until > ?)")
            args.append(now)
        elif state is not None:
            clauses.append("state = ?")
            args.append(state.value)
        if label:
            clauses.append("EXISTS (SELECT 1 FROM json_each(refs.labels) WHERE json_each.value = ?)")
            args.append(label)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_REF_COLUMNS} FROM refs WHERE {' AND '.join(clauses)} ORDER BY vid LIMIT ?", [*args, limit]
            ).fetchall()
        return [_row_to_item(r, now) for r in rows]

    def changes_after(self, after: int, *, limit: int = 1000) -> list[ReferenceItem]:
        """Items and tombstones changed after the ``after`` cursor, oldest change first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_REF_COLUMNS} FROM refs WHERE change_seq > ? ORDER BY change_seq LIMIT ?", (after, limit)
            ).fetchall()
        return [_row_to_item(r) for r in rows]

    def last_change_seq(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT value FROM meta WHERE key = 'change_seq'").fetchone()[0])

    def counts_by_state(self) -> dict[ReferenceState, int]:
        now = time.time()
        with self._lock:
            rows = self._conn.execute(
                "SELECT CASE WHEN state = 'disabled' AND disabled_until IS NOT NULL AND disabled_until <= ?"
                " THEN 'active' ELSE state END AS s, COUNT(*) FROM refs GROUP BY s",
                (now,),
            ).fetchall()
        counts = {s: 0 for s in ReferenceState}
        counts.update({ReferenceState(r[0]): int(r[1]) for r in rows})
        return counts

    # -- feedback -------------------------------------------------------------

    def add_feedback(self, feedback: Feedback) -> None:
        with self._tx() as cur:
            row = cur.execute("SELECT state FROM refs WHERE id = ?", (feedback.reference_id,)).fetchone()
            if row is None:
                raise NotFound("reference", feedback.reference_id)
            record = {"post_id": feedback.post_id, "verdict": feedback.verdict.value, "note": feedback.note}
            cur.execute(
                "INSERT INTO feedback(at, reference_id, post_id, verdict, note, reporter) VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), feedback.reference_id, feedback.post_id, feedback.verdict.value, feedback.note, feedback.reporter),
            )
            self._audit(cur, feedback.reporter, "feedback", feedback.reference_id, None, record)

    def feedback_summary(self, ref_id: str) -> FeedbackSummary:
        with self._lock:
            rows = dict(
                self._conn.execute("SELECT verdict, COUNT(*) FROM feedback WHERE reference_id = ? GROUP BY verdict", (ref_id,)).fetchall()
            )
        return FeedbackSummary(true_positives=int(rows.get("true_positive", 0)), false_positives=int(rows.get("false_positive", 0)))


_BANK_COLUMNS = "name, description, enabled, kind, thresholds, created_at, updated_at, created_by"


def _row_to_bank(row: Sequence[Any]) -> Bank:
    return Bank(
        name=row[0],
        description=row[1],
        enabled=bool(row[2]),
        # 'match' is what schema version 1 called a normal bank.
        kind=BankKind.NORMAL if row[3] == "match" else BankKind(row[3]),
        thresholds=json.loads(row[4]),
        created_at=float(row[5]),
        updated_at=float(row[6]),
        created_by=row[7],
        item_count=int(row[8]),
    )


def _bank_audit(bank: Bank) -> dict[str, Any]:
    return {"description": bank.description, "enabled": bank.enabled, "kind": bank.kind.value, "thresholds": dict(bank.thresholds)}


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns later versions introduced to a store created by an earlier one."""
    for table, column, decl in (
        ("refs", "change_seq", "INTEGER NOT NULL DEFAULT 0"),
        ("banks", "created_by", "TEXT NOT NULL DEFAULT ''"),
        ("banks", "deleted_at", "REAL"),
    ):
        existing = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if existing and column not in existing:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


def _live_items(cur: sqlite3.Cursor, ids: Iterable[str], now: float, missing: list[str]) -> Iterator[ReferenceItem]:
    """The live items among ``ids``, in order; the others are appended to ``missing``."""
    for ref_id in ids:
        item = _live_item(cur, ref_id, now)
        if item is None:
            missing.append(ref_id)
        else:
            yield item


def _live_item(cur: sqlite3.Cursor, ref_id: str, now: float) -> ReferenceItem | None:
    """The item with this id unless it is missing or removed (a tombstone)."""
    row = cur.execute(f"SELECT {_REF_COLUMNS} FROM refs WHERE id = ?", (ref_id,)).fetchone()
    if row is None or row[13] == ReferenceState.REMOVED.value:
        return None
    return _row_to_item(row, now)


def _row_to_item(row: Sequence[Any], now: float | None = None) -> ReferenceItem:
    state = ReferenceState(row[13])
    until = row[14]
    if state is ReferenceState.DISABLED and until is not None and until <= (time.time() if now is None else now):
        state = ReferenceState.ACTIVE  # the disable window has run out
    return ReferenceItem(
        vid=int(row[0]),
        id=row[1],
        text=row[2],
        canonical=row[3],
        fingerprint=row[4],
        declared_lang=row[5],
        detected_lang=row[6],
        bank=row[7],
        labels=tuple(json.loads(row[8])),
        metadata=json.loads(row[9]),
        added_by=row[10],
        created_at=float(row[11]),
        updated_at=float(row[12]),
        state=state,
        disabled_until=until if state is ReferenceState.DISABLED else None,
        change_seq=int(row[15]),
    )
