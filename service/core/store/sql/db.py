"""What the table families need of a SQL database, whichever it is: transactions, lookups, counters, audit.

The families (``references.py``, ``vectors.py``, ...) are written once, in
the SQL that SQLite and Postgres share, with ``?`` placeholders. What the two
do differently is named in :class:`Dialect`; each backend's ``db.py``
provides a :class:`Database` and its dialect, and its ``schema.py`` the tables.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Iterable, Iterator, Protocol, Sequence, TypeVar

# Under the smallest limit SQLite builds ship with (999 before 3.32), so a
# lookup of any size is split, never refused with "too many SQL variables".
MAX_BOUND = 900

_T = TypeVar("_T")


class Cursor(Protocol):
    """The DB-API cursor subset the families use (``?`` placeholders on every backend)."""

    def execute(self, sql: str, args: Sequence[Any] = ...) -> "Cursor": ...

    def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


@dataclass(frozen=True)
class Dialect:
    name: str
    #: Raised when an insert hits a unique key (a taken id).
    integrity_error: tuple[type[BaseException], ...]
    #: ``{column}`` holds a JSON array of strings; true when it contains the one ``?`` argument.
    json_array_contains: str
    #: ``{column}`` (seconds since the epoch) as the start of its UTC day, in seconds.
    utc_day: str
    #: Appended to a SELECT that reads rows the transaction then rewrites.
    for_update: str = ""


class Database(ABC):
    dialect: Dialect

    @abstractmethod
    def tx(self) -> ContextManager[Cursor]:
        """One write transaction: committed when the block ends, rolled back if it raises.

        Write transactions run one at a time, on every backend: every
        read-then-write a family makes inside one is safe from other writers,
        and the change log's sequence numbers commit in order.
        """

    @abstractmethod
    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]: ...

    @abstractmethod
    def one(self, sql: str, args: Sequence[Any] = ()) -> Any: ...

    @abstractmethod
    def close(self) -> None: ...

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

    def counter(self, key: str) -> int:
        return int(self.one("SELECT value FROM meta WHERE key = ?", (key,))[0])


def bump_counter(cur: Cursor, key: str, n: int = 1) -> int:
    """Add ``n`` to a counter in ``meta`` (``generation``, ``change_seq``, ``bank_version``); returns the new value."""
    row = cur.execute("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + ? AS TEXT) WHERE key = ? RETURNING value", (n, key)).fetchone()
    return int(row[0])


def bump_generation(cur: Cursor) -> None:
    bump_counter(cur, "generation")


def reserve_seqs(cur: Cursor, n: int) -> int:
    """Reserve n consecutive change sequence numbers; returns the first."""
    return bump_counter(cur, "change_seq", n) - n + 1


def audit(cur: Cursor, actor: str, action: str, target: str, old: Any, new: Any) -> None:
    cur.execute(
        "INSERT INTO audit(at, actor, action, target, old, new) VALUES (?, ?, ?, ?, ?, ?)",
        (time.time(), actor, action, target, _json_or_null(old), _json_or_null(new)),
    )


def _json_or_null(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)
