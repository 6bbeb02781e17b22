"""The ``banks`` table."""

from __future__ import annotations

import json
import time
from typing import Any, Sequence

from service.core.domain import DEFAULT_BANK, Bank, BankChanges, BankKind
from service.core.errors import AlreadyExists, FailedPrecondition, NotFound
from service.core.store.base import BankRows
from service.core.store.sql.db import Database, audit, bump_counter

_BANK_COLUMNS = "name, description, enabled, kind, thresholds, created_at, updated_at, created_by, match_share"
_LIVE_COUNT = "(SELECT COUNT(*) FROM refs WHERE refs.bank = banks.name AND refs.state != 'removed')"


class SqlBanks(BankRows):
    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self) -> list[Bank]:
        rows = self._db.rows(f"SELECT {_BANK_COLUMNS}, {_LIVE_COUNT} FROM banks WHERE deleted_at IS NULL ORDER BY name")
        return [_row_to_bank(r) for r in rows]

    def version(self) -> int:
        return self._db.counter("bank_version")

    def get(self, name: str) -> Bank:
        row = self._db.one(f"SELECT {_BANK_COLUMNS}, {_LIVE_COUNT} FROM banks WHERE name = ? AND deleted_at IS NULL", (name,))
        if row is None:
            raise NotFound("bank", name)
        return _row_to_bank(row)

    def create(self, bank: Bank, *, actor: str) -> Bank:
        now = time.time()
        with self._db.tx() as cur:
            row = cur.execute("SELECT deleted_at FROM banks WHERE name = ?", (bank.name,)).fetchone()
            if row is not None and row[0] is None:
                raise AlreadyExists("bank", bank.name)
            values = (
                bank.description, int(bank.enabled), bank.kind.value, json.dumps(dict(bank.thresholds)), now, now, actor, bank.match_share
            )
            if row is None:
                cur.execute(
                    "INSERT INTO banks(description, enabled, kind, thresholds, created_at, updated_at, created_by, match_share, name)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, bank.name),
                )
            else:  # re-creating a deleted bank: its tombstones keep pointing at the name
                cur.execute(
                    "UPDATE banks SET description = ?, enabled = ?, kind = ?, thresholds = ?, created_at = ?,"
                    " updated_at = ?, created_by = ?, match_share = ?, deleted_at = NULL WHERE name = ?",
                    (*values, bank.name),
                )
            audit(cur, actor, "bank.create", f"bank:{bank.name}", None, _bank_audit(bank))
            bump_counter(cur, "bank_version")
        return self.get(bank.name)

    def update(self, name: str, changes: BankChanges, *, actor: str) -> Bank:
        with self._db.tx() as cur:
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
                match_share=old.match_share if changes.match_share is None else changes.match_share,
            )
            cur.execute(
                "UPDATE banks SET description = ?, enabled = ?, kind = ?, thresholds = ?, match_share = ?, updated_at = ? WHERE name = ?",
                (new.description, int(new.enabled), new.kind.value, json.dumps(thresholds), new.match_share, time.time(), name),
            )
            audit(cur, actor, "bank.update", f"bank:{name}", _bank_audit(old), _bank_audit(new))
            bump_counter(cur, "bank_version")
        return self.get(name)

    def delete(self, name: str, *, actor: str) -> None:
        if name == DEFAULT_BANK:
            raise FailedPrecondition(f"bank {name!r} always exists and cannot be deleted")
        with self._db.tx() as cur:
            row = cur.execute(f"SELECT {_BANK_COLUMNS}, 0 FROM banks WHERE name = ? AND deleted_at IS NULL", (name,)).fetchone()
            if row is None:
                raise NotFound("bank", name)
            live = cur.execute("SELECT COUNT(*) FROM refs WHERE bank = ? AND state != 'removed'", (name,)).fetchone()[0]
            if live:
                raise FailedPrecondition(f"bank {name!r} still holds {live} item(s); remove them or delete with force")
            now = time.time()
            cur.execute("UPDATE banks SET deleted_at = ?, updated_at = ? WHERE name = ?", (now, now, name))
            audit(cur, actor, "bank.delete", f"bank:{name}", _bank_audit(_row_to_bank(row)), None)
            bump_counter(cur, "bank_version")


def _row_to_bank(row: Sequence[Any]) -> Bank:
    return Bank(
        name=row[0],
        description=row[1],
        enabled=bool(row[2]),
        # 'match' is what early stores called a normal bank.
        kind=BankKind.NORMAL if row[3] == "match" else BankKind(row[3]),
        thresholds=json.loads(row[4]),
        created_at=float(row[5]),
        updated_at=float(row[6]),
        created_by=row[7],
        match_share=float(row[8]),
        item_count=int(row[9]),
    )


def _bank_audit(bank: Bank) -> dict[str, Any]:
    return {
        "description": bank.description, "enabled": bank.enabled, "kind": bank.kind.value, "thresholds": dict(bank.thresholds),
        "match_share": bank.match_share,
    }
