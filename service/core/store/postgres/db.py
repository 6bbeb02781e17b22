"""The Postgres connection pool every table family shares, and the listener that wakes replicas.

Write transactions take one transaction-scoped advisory lock first, so they
run one at a time across every replica, as SQLite's ``BEGIN IMMEDIATE`` makes
them run within one process. That is what keeps the families' read-then-write
steps free of lost updates, and the change log's sequence numbers committed in
order (a follower that has read up to seq N never later finds a smaller one
appear). Curation writes are few and batched, so one writer at a time costs
little; matching only reads, from any pooled connection, in autocommit.

A connection the server dropped (a restart, a failover) is noticed when it is
taken from the pool and replaced; a call made while the server cannot be
reached raises :class:`~service.core.errors.StoreUnavailable` (UNAVAILABLE over
gRPC, which clients retry) instead of hanging.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from service.core.errors import StoreUnavailable
from service.core.store.postgres.schema import CHANGES_CHANNEL, migrate
from service.core.store.sql.db import Cursor, Database, Dialect

log = logging.getLogger(__name__)

POSTGRES = Dialect(
    name="postgres",
    integrity_error=(psycopg.IntegrityError,),
    json_array_contains="EXISTS (SELECT 1 FROM json_array_elements_text({column}::json) AS l(v) WHERE l.v = ?)",
    utc_day="FLOOR({column} / 86400) * 86400",
    for_update=" FOR UPDATE",
)

# The advisory lock every write transaction takes (an arbitrary constant: "NIGRAN" in ASCII).
WRITE_LOCK = 0x4E494752414E


@functools.lru_cache(maxsize=512)
def _pyformat(sql: str) -> str:
    """The families' ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Cursor:
    """A psycopg cursor that takes the families' ``?`` placeholders."""

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    def execute(self, sql: str, args: Sequence[Any] = ()) -> "_Cursor":
        self._cur.execute(_pyformat(sql), args)
        return self

    def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        self._cur.executemany(_pyformat(sql), args)

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cur)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a name."""
    return int.from_bytes(hashlib.sha256(f"nigran:{name}".encode()).digest()[:8], "big", signed=True)


class PostgresDatabase(Database):
    dialect = POSTGRES

    def __init__(self, url: str, *, pool_size: int = 8, connect_timeout: float = 5.0) -> None:
        self.url = url
        self._timeout = connect_timeout
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs={"autocommit": True, "connect_timeout": max(1, int(connect_timeout))},
            check=ConnectionPool.check_connection,
            timeout=connect_timeout,
            open=False,
            name="nigran-store",
        )
        self._listener: psycopg.Connection[Any] | None = None
        self._listener_lock = threading.Lock()
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
            # Under the write lock, so replicas starting together migrate once.
            with self.tx() as cur:
                migrate(cur)
        except PoolTimeout as exc:
            self._pool.close()
            raise StoreUnavailable(f"cannot reach the Postgres store within {connect_timeout:g} s ({redact(url)})") from exc
        except BaseException:
            self._pool.close()
            raise

    def close(self) -> None:
        with self._listener_lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
        self._pool.close()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreUnavailable(f"the Postgres store is unreachable: {exc}".strip()) from exc

    @contextmanager
    def tx(self) -> Iterator[Cursor]:
        with self._connection() as conn, conn.transaction():
            cur = conn.cursor()
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            yield _Cursor(cur)

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._connection() as conn:
            return conn.execute(_pyformat(sql), args).fetchall()

    def one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        with self._connection() as conn:
            return conn.execute(_pyformat(sql), args).fetchone()

    # -- replicas --------------------------------------------------------------------

    def wait_for_notify(self, timeout: float) -> bool:
        """Wait for a NOTIFY on the changes channel; False after ``timeout``, or when the server cannot be reached.

        True at once when the listener has just (re)connected: a change committed
        before LISTEN took effect sent its notification to no one, so the caller
        must read the log now rather than at its next poll.
        """
        deadline = time.monotonic() + timeout
        with self._listener_lock:
            try:
                if self._listener is None:
                    self._listener = psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self._timeout)))
                    self._listener.execute(f"LISTEN {CHANGES_CHANNEL}")
                    return True
                for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                    return True
                return False
            except psycopg.Error as exc:
                log.debug("change listener lost (%s); reconnecting", exc)
                if self._listener is not None:
                    self._listener.close()
                self._listener = None
        # Not a busy loop while the server is down: the caller polls anyway.
        time.sleep(max(0.0, min(deadline - time.monotonic(), 0.5)))
        return False

    @contextmanager
    def try_lock(self, name: str) -> Iterator[bool]:
        """A session advisory lock held on one pooled connection for the block, if free."""
        key = lock_key(name)
        with self._connection() as conn:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            held = row is not None and bool(row[0])
            try:
                yield held
            finally:
                if held:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def redact(url: str) -> str:
    """The URL without its password, for logs and errors."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable store url>"
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in sorted(info.items()))
