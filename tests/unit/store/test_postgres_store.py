"""The Postgres reference store: the store contract on a real server, plus what only Postgres promises.

``TestPostgresStore`` runs every test of ``tests/support/store_contract.py``
against ``PostgresStore`` on a fresh database of the session's throw-away
cluster (``tests/support/postgres.py``). The tests below check the database
through raw psycopg connections: the append-only audit table, NOTIFY on
changes, the store-wide lock, migrations, and one writer at a time.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterator

import psycopg
import pytest

from service.core.domain import Bank
from service.core.errors import ConfigError, Conflict, StoreUnavailable
from service.core.store.base import ReferenceStore
from service.core.store.postgres import PostgresStore
from service.core.store.postgres.schema import SCHEMA_VERSION
from tests.support.postgres import free_port
from tests.support.store_contract import StoreContract, add, audit, row


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def open_store(self, postgres_url: str) -> Callable[[], ReferenceStore]:
        return lambda: PostgresStore(postgres_url, pool_size=4)


@pytest.fixture
def pg(postgres_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(postgres_url, pool_size=4)
    yield store
    store.close()


def test_the_audit_table_refuses_update_delete_and_truncate(pg: PostgresStore, postgres_url: str) -> None:
    add(pg, row("a"))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit", "TRUNCATE audit"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
    assert [e.action for e in audit(pg)] == ["add"]


def test_a_change_notifies_a_waiting_replica_at_once(pg: PostgresStore, postgres_url: str) -> None:
    other = PostgresStore(postgres_url, pool_size=2)
    try:
        assert other.wait_for_change(0.2) is True  # just started listening: whatever came before must be read now
        assert other.wait_for_change(0.2) is False  # nothing changed: the timeout passes
        woke: list[float] = []
        waiter = threading.Thread(target=lambda: woke.append(time.monotonic()) if other.wait_for_change(10.0) else None)
        waiter.start()
        time.sleep(0.3)  # the waiter is listening
        added_at = time.monotonic()
        add(pg, row("a"))
        waiter.join(15)
        assert woke and woke[0] - added_at < 1.0
        woke.clear()
        waiter = threading.Thread(target=lambda: woke.append(time.monotonic()) if other.wait_for_change(10.0) else None)
        waiter.start()
        time.sleep(0.3)
        pg.banks.create(Bank(name="b2"), actor="curator:ann")
        waiter.join(15)
        assert woke, "a bank change notifies too"
    finally:
        other.close()


def test_the_store_wide_lock_is_held_by_one_replica_at_a_time(pg: PostgresStore, postgres_url: str) -> None:
    other = PostgresStore(postgres_url, pool_size=2)
    try:
        with pg.exclusive("snapshot") as first:
            with other.exclusive("snapshot") as second, other.exclusive("another job") as third:
                assert (first, second, third) == (True, False, True)
        with other.exclusive("snapshot") as again:
            assert again
    finally:
        other.close()


def test_concurrent_writers_lose_no_update(postgres_url: str) -> None:
    """Two stores (two replicas' pools) adding labels to one item at once, as curation does: read, then write if unchanged.

    Every label and every audit entry survives; a writer that lost the race reads again.
    """
    stores = [PostgresStore(postgres_url, pool_size=2) for _ in range(2)]
    try:
        [first] = add(stores[0], row("shared"))
        errors: list[BaseException] = []
        conflicts = [0, 0]

        def label(store: PostgresStore, who: int) -> None:
            try:
                for n in range(15):
                    while True:
                        current = store.references.get("shared")
                        try:
                            store.references.update_annotations(
                                "shared", labels=[*current.labels, f"org:w{who}-{n}"], metadata={}, actor=f"curator:{who}",
                                expected_change_seq=current.change_seq,
                            )
                            break
                        except Conflict:
                            conflicts[who] += 1
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=label, args=(s, i)) for i, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        written = sorted(f"org:w{w}-{n}" for w in range(2) for n in range(15))
        assert sorted(stores[1].references.get("shared").labels) == sorted([*first.labels, *written])
        updates = [e for e in audit(stores[0]) if e.action == "update"]
        assert len(updates) == 30
        seqs = [e.seq for e in audit(stores[0])]
        assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)
    finally:
        for s in stores:
            s.close()


def test_change_sequence_numbers_commit_in_order_under_concurrent_writers(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url, pool_size=2) for _ in range(3)]
    try:
        def writer(store: PostgresStore, who: int) -> None:
            for n in range(10):
                add(store, row(f"w{who}-{n}"))

        threads = [threading.Thread(target=writer, args=(s, i)) for i, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        changes = stores[0].references.changes_after(0, limit=1000)
        assert [c.change_seq for c in changes] == list(range(1, 31))
        # vids follow commit order too, because writers take turns
        assert [c.vid for c in changes] == sorted(c.vid for c in changes)
    finally:
        for s in stores:
            s.close()


def test_replicas_opening_together_migrate_once(postgres_url: str) -> None:
    opened: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(PostgresStore(postgres_url, pool_size=1))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors and len(opened) == 4
        version = opened[0]._pg.one("SELECT value FROM meta WHERE key = 'schema_version'")[0]
        assert int(version) == SCHEMA_VERSION
        assert [b.name for b in opened[1].banks.all()] == ["default"]
    finally:
        for s in opened:
            s.close()


def test_a_store_from_a_newer_nigran_is_refused(pg: PostgresStore, postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(ConfigError, match="upgrade Nigran"):
        PostgresStore(postgres_url)


def test_an_unreachable_server_is_store_unavailable_not_a_hang() -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="cannot reach"):
        PostgresStore(f"postgresql://nigran:secret@127.0.0.1:{free_port()}/none", connect_timeout=1.0)
    assert time.monotonic() - started < 10


def test_the_password_never_appears_in_its_repr() -> None:
    from service.core.store.postgres.db import redact

    assert "secret" not in redact("postgresql://nigran:secret@db.example:5432/nigran")
    assert "host=db.example" in redact("postgresql://nigran:secret@db.example:5432/nigran")
