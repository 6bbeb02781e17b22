"""The Postgres backend: one database that many replicas share (``store.url = "postgresql://..."``).

The table families are the shared SQL ones (``store/sql``) over this
backend's pool (``db.py``) and schema (``schema.py``). Beyond SQLite it
wakes other replicas at once on every change (LISTEN/NOTIFY) and gives
store-wide locks for work that must happen once.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from service.core.store.postgres.db import PostgresDatabase, redact
from service.core.store.sql import SqlStore


class PostgresStore(SqlStore):
    shared = True

    def __init__(self, url: str, *, pool_size: int = 8, connect_timeout: float = 5.0) -> None:
        self.url = url
        self._pg = PostgresDatabase(url, pool_size=pool_size, connect_timeout=connect_timeout)
        super().__init__(self._pg)

    def wait_for_change(self, timeout: float) -> bool:
        return self._pg.wait_for_notify(timeout)

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        with self._pg.try_lock(name) as held:
            yield held

    def __repr__(self) -> str:
        return f"PostgresStore({redact(self.url)})"
