"""The SQLite backend: one file, WAL mode, ``synchronous=FULL``; the embedded default.

The table families are the shared SQL ones (``store/sql``) over this
backend's connection (``db.py``) and schema with versioned migrations
(``schema.py``).
"""

from __future__ import annotations

from pathlib import Path

from service.core.store.sql import SqlStore
from service.core.store.sqlite.db import SqliteDatabase


class SqliteStore(SqlStore):
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        super().__init__(SqliteDatabase(self.path))
