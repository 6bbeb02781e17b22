"""Reading the append-only ``audit`` table (writes happen inside each change's transaction)."""

from __future__ import annotations

import json
from typing import Any

from service.core.domain import AuditEntry, AuditQuery
from service.core.store.base import AuditLog
from service.core.store.sql.db import Database


class SqlAudit(AuditLog):
    def __init__(self, db: Database) -> None:
        self._db = db

    def query(self, query: AuditQuery, *, before_seq: int | None, limit: int) -> list[AuditEntry]:
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (("target", query.target), ("actor", query.actor), ("action", query.action)):
            if value:
                clauses.append(f"{column} = ?")
                args.append(value)
        if query.since is not None:
            clauses.append("at >= ?")
            args.append(query.since)
        if before_seq is not None:
            clauses.append("seq < ?")
            args.append(before_seq)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.rows(f"SELECT seq, at, actor, action, target, old, new FROM audit{where} ORDER BY seq DESC LIMIT ?", [*args, limit])
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], _load(r[5]), _load(r[6])) for r in rows]


def _load(value: str | None) -> Any:
    return None if value is None else json.loads(value)
