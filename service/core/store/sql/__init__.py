"""The store over a SQL database: the table families written once, for every SQL backend.

A backend (``store/sqlite``, ``store/postgres``) supplies a connection
(:class:`~service.core.store.sql.db.Database`, with its dialect) and a schema
with versioned migrations; :class:`SqlStore` builds the families over it.
"""

from __future__ import annotations

from service.core.store.base import ReferenceStore
from service.core.store.sql.audit import SqlAudit
from service.core.store.sql.banks import SqlBanks
from service.core.store.sql.db import Database
from service.core.store.sql.feedback import SqlFeedback
from service.core.store.sql.match_counts import SqlMatchCounts
from service.core.store.sql.match_log import SqlMatchLog
from service.core.store.sql.references import SqlReferences
from service.core.store.sql.vectors import SqlVectors


class SqlStore(ReferenceStore):
    def __init__(self, db: Database) -> None:
        self._db = db
        self.references = SqlReferences(db)
        self.vectors = SqlVectors(db)
        self.banks = SqlBanks(db)
        self.audit = SqlAudit(db)
        self.feedback = SqlFeedback(db)
        self.match_log = SqlMatchLog(db)
        self.match_counts = SqlMatchCounts(db)

    def generation(self) -> int:
        return self._db.counter("generation")

    def close(self) -> None:
        self._db.close()
