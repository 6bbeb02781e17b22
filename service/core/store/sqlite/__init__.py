"""The SQLite backend: one file, WAL mode, ``synchronous=FULL``; the embedded default.

One module per table family (references, vectors, banks, audit, feedback, match log)
over one shared connection (``db.py``) and one schema with versioned
migrations (``schema.py``).
"""

from __future__ import annotations

from pathlib import Path

from service.core.store.base import ReferenceStore
from service.core.store.sqlite.audit import SqliteAudit
from service.core.store.sqlite.banks import SqliteBanks
from service.core.store.sqlite.db import Database
from service.core.store.sqlite.feedback import SqliteFeedback
from service.core.store.sqlite.match_log import SqliteMatchLog
from service.core.store.sqlite.references import SqliteReferences
from service.core.store.sqlite.vectors import SqliteVectors


class SqliteStore(ReferenceStore):
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db = Database(self.path)
        self.references = SqliteReferences(self._db)
        self.vectors = SqliteVectors(self._db)
        self.banks = SqliteBanks(self._db)
        self.audit = SqliteAudit(self._db)
        self.feedback = SqliteFeedback(self._db)
        self.match_log = SqliteMatchLog(self._db)

    def generation(self) -> int:
        return int(self._db.one("SELECT value FROM meta WHERE key = 'generation'")[0])

    def close(self) -> None:
        self._db.close()
