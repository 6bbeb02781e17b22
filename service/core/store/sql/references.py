"""The ``refs`` table as reference items and tombstones."""

from __future__ import annotations

import json
import time
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from service.core.domain import ReferenceItem, ReferenceState, state_at
from service.core.errors import AlreadyExists, Conflict, NotFound
from service.core.store.base import ReferenceFilter, ReferenceRows, StoredReference, Transition
from service.core.store.sql.db import Cursor, Database, audit, bump_generation, reserve_seqs

REF_COLUMNS = (
    "vid, id, text, canonical, fingerprint, declared_lang, detected_lang, bank, labels, "
    "metadata, added_by, created_at, updated_at, state, disabled_until, change_seq"
)
# domain.state_at in SQL, for filters and counts (the contract suite checks they agree).
STATE_AT = "(CASE WHEN state = 'disabled' AND disabled_until IS NOT NULL AND disabled_until <= ? THEN 'active' ELSE state END)"


class SqlReferences(ReferenceRows):
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, rows: Sequence[StoredReference], *, actor: str, model_id: str) -> list[ReferenceItem]:
        if not rows:
            return []
        now = time.time()
        with self._db.tx() as cur:
            live_banks = {r[0] for r in cur.execute("SELECT name FROM banks WHERE deleted_at IS NULL")}
            for row in rows:
                if row.ref.bank not in live_banks:
                    raise NotFound("bank", row.ref.bank)
            seq = reserve_seqs(cur, len(rows))
            for i, row in enumerate(rows):
                ref, prepared = row.ref, row.prepared
                try:
                    cur.execute(
                        "INSERT INTO refs(id, text, canonical, fingerprint, declared_lang, detected_lang, bank,"
                        " labels, metadata, added_by, state, created_at, updated_at, model_id, vector, change_seq)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?)",
                        (
                            ref.id, ref.text, prepared.canonical, prepared.fingerprint, ref.lang, prepared.lang, ref.bank,
                            json.dumps(list(ref.labels), ensure_ascii=False), json.dumps(dict(ref.metadata), ensure_ascii=False),
                            actor, now, now, model_id,
                            None if row.vector is None else np.ascontiguousarray(row.vector, dtype=np.float32).tobytes(), seq + i,
                        ),
                    )
                except self._db.dialect.integrity_error as exc:
                    raise AlreadyExists("reference", ref.id) from exc
                audit(cur, actor, "add", ref.id, None, {"bank": ref.bank, "labels": list(ref.labels)})
            bump_generation(cur)
            found = cur.execute(f"SELECT {REF_COLUMNS} FROM refs WHERE change_seq >= ? AND change_seq < ? ORDER BY change_seq", (seq, seq + len(rows))).fetchall()
        return [row_to_item(r, now) for r in found]

    def remove(self, ids: Sequence[str], *, actor: str) -> tuple[list[ReferenceItem], list[str]]:
        removed: list[ReferenceItem] = []
        missing: list[str] = []
        now = time.time()
        with self._db.tx() as cur:
            for item in _live_items(cur, ids, now, missing, self._db):
                cur.execute(
                    "UPDATE refs SET state = 'removed', text = '', canonical = '', vector = NULL,"
                    " updated_at = ?, disabled_until = NULL, change_seq = ? WHERE vid = ?",
                    (now, reserve_seqs(cur, 1), item.vid),
                )
                audit(cur, actor, "remove", item.id, {"state": item.state.value}, {"state": "removed"})
                removed.append(item)
            if removed:
                bump_generation(cur)
        return removed, missing

    def get(self, ref_id: str) -> ReferenceItem:
        row = self._db.one(f"SELECT {REF_COLUMNS} FROM refs WHERE id = ?", (ref_id,))
        if row is None:
            raise NotFound("reference", ref_id)
        return row_to_item(row)

    def get_by_vids(self, vids: Iterable[int]) -> dict[int, ReferenceItem]:
        now = time.time()
        rows = self._db.rows_in(f"SELECT {REF_COLUMNS} FROM refs WHERE vid IN ({{marks}})", (int(v) for v in vids))
        return {row[0]: row_to_item(row, now) for row in rows}

    def find_by_fingerprints(self, fingerprints: Iterable[str]) -> dict[str, list[ReferenceItem]]:
        now = time.time()
        rows = self._db.rows_in(f"SELECT {REF_COLUMNS} FROM refs WHERE fingerprint IN ({{marks}}) AND state != 'removed'", fingerprints)
        found: dict[str, list[ReferenceItem]] = {}
        for row in sorted(rows, key=lambda r: r[0]):
            item = row_to_item(row, now)
            found.setdefault(item.fingerprint, []).append(item)
        return found

    def existing_ids(self, ids: Iterable[str]) -> set[str]:
        return {r[0] for r in self._db.rows_in("SELECT id FROM refs WHERE id IN ({marks})", ids)}

    def set_state(self, ids: Sequence[str], transition: Transition, *, actor: str) -> tuple[list[ReferenceItem], list[str]]:
        # A state change is not an index change (the index keeps disabled and
        # quarantined items), so the generation is not bumped.
        changed: list[ReferenceItem] = []
        missing: list[str] = []
        now = time.time()
        with self._db.tx() as cur:
            for item in _live_items(cur, ids, now, missing, self._db):
                if item.state not in transition.allowed_from:
                    continue
                cur.execute(
                    "UPDATE refs SET state = ?, disabled_until = ?, updated_at = ?, change_seq = ? WHERE vid = ?",
                    (transition.to.value, transition.until, now, reserve_seqs(cur, 1), item.vid),
                )
                old = {"state": item.state.value, "disabled_until": item.disabled_until}
                new = {"state": transition.to.value, "disabled_until": transition.until, **(transition.reason or {})}
                audit(cur, actor, transition.action, item.id, old, new)
                changed.append(item)
        return changed, missing

    def update_annotations(
        self, ref_id: str, *, labels: Sequence[str], metadata: Mapping[str, str], actor: str, expected_change_seq: int | None = None
    ) -> ReferenceItem:
        with self._db.tx() as cur:
            old = _live_item(cur, ref_id, time.time(), self._db)
            if old is None:
                raise NotFound("reference", ref_id)
            if expected_change_seq is not None and old.change_seq != expected_change_seq:
                raise Conflict(f"reference {ref_id!r} changed while it was being updated")
            if tuple(labels) == old.labels and dict(metadata) == dict(old.metadata):
                return old
            cur.execute(
                "UPDATE refs SET labels = ?, metadata = ?, updated_at = ?, change_seq = ? WHERE vid = ?",
                (
                    json.dumps(list(labels), ensure_ascii=False),
                    json.dumps(dict(metadata), ensure_ascii=False),
                    time.time(),
                    reserve_seqs(cur, 1),
                    old.vid,
                ),
            )
            audit(
                cur, actor, "update", ref_id,
                {"labels": list(old.labels), "metadata": dict(old.metadata)},
                {"labels": list(labels), "metadata": dict(metadata)},
            )
        return self.get(ref_id)

    def page(self, where: ReferenceFilter, *, after_vid: int = 0, limit: int = 100) -> list[ReferenceItem]:
        now = time.time()
        clauses: list[str] = ["vid > ?"]
        args: list[Any] = [after_vid]
        if where.bank:
            clauses.append("bank = ?")
            args.append(where.bank)
        if where.state is not None:
            clauses.append(f"{STATE_AT} = ?")
            args += [now, where.state.value]
        if where.label:
            clauses.append(self._db.dialect.json_array_contains.format(column="refs.labels"))
            args.append(where.label)
        if where.canonical or where.id:
            contained = where.canonical.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("((? != '' AND canonical LIKE '%' || ? || '%' ESCAPE '\\') OR id = ?)")
            args += [where.canonical, contained, where.id]
        rows = self._db.rows(f"SELECT {REF_COLUMNS} FROM refs WHERE {' AND '.join(clauses)} ORDER BY vid LIMIT ?", [*args, limit])
        return [row_to_item(r, now) for r in rows]

    def live_ids_in_bank(self, bank: str) -> list[str]:
        return [r[0] for r in self._db.rows("SELECT id FROM refs WHERE bank = ? AND state != 'removed' ORDER BY vid", (bank,))]

    def changes_after(self, after: int, *, limit: int) -> list[ReferenceItem]:
        now = time.time()
        rows = self._db.rows(f"SELECT {REF_COLUMNS} FROM refs WHERE change_seq > ? ORDER BY change_seq LIMIT ?", (after, limit))
        return [row_to_item(r, now) for r in rows]

    def last_change_seq(self) -> int:
        return int(self._db.one("SELECT value FROM meta WHERE key = 'change_seq'")[0])

    def counts_by_state(self) -> dict[ReferenceState, int]:
        rows = self._db.rows(f"SELECT {STATE_AT} AS s, COUNT(*) FROM refs GROUP BY s", (time.time(),))
        counts = {s: 0 for s in ReferenceState}
        counts.update({ReferenceState(r[0]): int(r[1]) for r in rows})
        return counts

    def counts_by_lang(self) -> dict[str, int]:
        # Hash-only items (no text) cannot match by meaning, so they do not make the bank larger for its semantic operating points.
        rows = self._db.rows(
            "SELECT COALESCE(NULLIF(declared_lang, ''), detected_lang) AS l, COUNT(*) FROM refs"
            " WHERE state != 'removed' AND text != '' GROUP BY l"
        )
        return {str(r[0]): int(r[1]) for r in rows}


def _live_items(cur: Cursor, ids: Iterable[str], now: float, missing: list[str], db: Database) -> Iterator[ReferenceItem]:
    """The live items among ``ids``, in order; the others are appended to ``missing``."""
    for ref_id in ids:
        item = _live_item(cur, ref_id, now, db)
        if item is None:
            missing.append(ref_id)
        else:
            yield item


def _live_item(cur: Cursor, ref_id: str, now: float, db: Database) -> ReferenceItem | None:
    """The item with this id unless it is missing or removed (a tombstone), locked for the rewrite that follows."""
    row = cur.execute(f"SELECT {REF_COLUMNS} FROM refs WHERE id = ?{db.dialect.for_update}", (ref_id,)).fetchone()
    if row is None or row[13] == ReferenceState.REMOVED.value:
        return None
    return row_to_item(row, now)


def row_to_item(row: Sequence[Any], now: float | None = None) -> ReferenceItem:
    state = state_at(ReferenceState(row[13]), row[14], time.time() if now is None else now)
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
        disabled_until=row[14] if state is ReferenceState.DISABLED else None,
        change_seq=int(row[15]),
    )
