"""The SQLite connection every table family shares: one file, WAL mode, ``synchronous=FULL``."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from service.core.store.sql.db import Cursor, Database, Dialect
from service.core.store.sqlite.schema import migrate

SQLITE = Dialect(
    name="sqlite",
    integrity_error=(sqlite3.IntegrityError,),
    json_array_contains="EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = ?)",
    utc_day="CAST({column} / 86400 AS INTEGER) * 86400",
)


class SqliteDatabase(Database):
    dialect = SQLITE

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
                migrate(cur)  # type: ignore[arg-type]
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def tx(self) -> Iterator[Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            # IMMEDIATE takes the write lock at once, which is what runs writers one at a time.
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
