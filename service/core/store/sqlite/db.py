"""The SQLite connection every table family shares: transactions, chunked lookups, counters, audit."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from service.core.store.sqlite.schema import migrate

# Under the smallest limit SQLite builds ship with (999 before 3.32), so a
# lookup of any size is split, never refused with "too many SQL variables".
MAX_BOUND = 900

_T = TypeVar("_T")


class Database:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared under a lock: SQLite serialises writers anyway,
        # and reads here are point lookups that take microseconds.
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged add survives power loss, not just a process crash.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            with self.tx() as cur:
                migrate(cur)
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        with self._lock:
            return self._conn.execute(sql, args).fetchone()

    def rows_in(self, sql: str, values: Iterable[_T], args: Sequence[Any] = (), key: Callable[[_T], Any] = lambda v: v) -> list[Any]:
        """``sql`` with ``{marks}`` standing for an IN list, run over ``values`` in chunks.

        Values are de-duplicated and sorted first; ``args`` follow the marks.
        """
        wanted = sorted(set(values), key=key)
        found: list[Any] = []
        for start in range(0, len(wanted), MAX_BOUND):
            chunk = wanted[start : start + MAX_BOUND]
            found += self.rows(sql.format(marks=",".join("?" * len(chunk))), (*chunk, *args))
        return found


def bump_generation(cur: sqlite3.Cursor) -> None:
    cur.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")


def reserve_seqs(cur: sqlite3.Cursor, n: int) -> int:
    """Reserve n consecutive change sequence numbers; returns the first."""
    row = cur.execute("UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'change_seq' RETURNING value", (n,)).fetchone()
    return int(row[0]) - n + 1


def audit(cur: sqlite3.Cursor, actor: str, action: str, target: str, old: Any, new: Any) -> None:
    cur.execute(
        "INSERT INTO audit(at, actor, action, target, old, new) VALUES (?, ?, ?, ?, ?, ?)",
        (time.time(), actor, action, target, _json_or_null(old), _json_or_null(new)),
    )


def _json_or_null(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)
