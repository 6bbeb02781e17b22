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

from service.core.domain import DEFAULT_BANK, ReferenceItem, ReferenceState
from service.core.errors import AlreadyExists, InvalidInput, NotFound

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
    kind        TEXT NOT NULL DEFAULT 'match',
    thresholds  TEXT NOT NULL DEFAULT '{}',
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
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
    vector         BLOB
);
CREATE INDEX IF NOT EXISTS refs_fingerprint ON refs(fingerprint);
CREATE INDEX IF NOT EXISTS refs_bank ON refs(bank);
CREATE TABLE IF NOT EXISTS audit (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    at     REAL NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    old    TEXT,
    new    TEXT
);
"""

_REF_COLUMNS = (
    "vid, id, text, canonical, fingerprint, declared_lang, detected_lang, bank, labels, "
    "metadata, added_by, created_at, updated_at, state, disabled_until"
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
            self._conn.executescript(_SCHEMA)
            with self._tx() as cur:
                cur.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                cur.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")
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
            for item in items:
                cur.execute(
                    "INSERT OR IGNORE INTO banks(name, created_at, updated_at) VALUES (?, ?, ?)",
                    (item.bank, now, now),
                )
                try:
                    cur.execute(
                        "INSERT INTO refs(id, text, canonical, fingerprint, declared_lang, detected_lang, bank,"
                        " labels, metadata, added_by, state, created_at, updated_at, model_id, vector)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?)",
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
            for ref_id in ids:
                row = cur.execute(f"SELECT {_REF_COLUMNS} FROM refs WHERE id = ?", (ref_id,)).fetchone()
                if row is None or row[13] == ReferenceState.REMOVED.value:
                    missing.append(ref_id)
                    continue
                item = _row_to_item(row)
                cur.execute(
                    "UPDATE refs SET state = 'removed', text = '', canonical = '', vector = NULL,"
                    " updated_at = ? WHERE vid = ?",
                    (now, item.vid),
                )
                self._audit(cur, actor, "remove", ref_id, {"state": item.state.value}, {"state": "removed"})
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
        sql = "SELECT seq, at, actor, action, target, old, new FROM audit"
        args: list[Any] = []
        if target is not None:
            sql += " WHERE target = ?"
            args.append(target)
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [
            AuditEntry(r[0], r[1], r[2], r[3], r[4], None if r[5] is None else json.loads(r[5]), None if r[6] is None else json.loads(r[6]))
            for r in rows
        ]


def _row_to_item(row: Sequence[Any]) -> ReferenceItem:
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
        state=ReferenceState(row[13]),
        disabled_until=row[14],
    )
