"""Faults with real processes: two replica processes on a real Postgres, one killed, then Postgres restarted under load.

The replicas are real ``nigran-server`` processes (``tests/support/serve_double.py``:
the real ``serve`` with the hashing double, since these tests are about processes
and the store, not verdicts) sharing a database of the session's cluster.

* ``kill -9`` of the replica a client is adding through: every add it
  acknowledged is in the store and matchable on the other replica, which
  stays SERVING throughout.
* Postgres stopped and started again while clients add and match through
  both replicas: both report NOT_SERVING (readiness) while staying alive
  (liveness), calls fail with UNAVAILABLE rather than hang, both return to
  SERVING once the server is back, and every acknowledged add is there, with
  its audit entry.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2

from service.api._generated.nigran.v1 import curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from service.core.domain import AuditQuery
from service.core.store.postgres import PostgresStore
from tests.support.postgres import Cluster
from tests.support.server_process import CALL_TIMEOUT, ServerProcess

pytestmark = pytest.mark.slow

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
MAX_LAG = 2.0
TEXT = "Convoy {n} will cross the eastern ridge at midnight with supplies for the northern camp."


def replica(root: Path, url: str, name: str) -> ServerProcess:
    return ServerProcess(root / name, root / f"{name}.log", "--store-url", url, "--poll", "0.5", "--max-lag", str(MAX_LAG))


@pytest.fixture
def two(tmp_path: Path, postgres_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    a, b = replica(tmp_path, postgres_url, "a"), replica(tmp_path, postgres_url, "b")
    try:
        a.wait_serving()
        b.wait_serving()
        yield a, b
    finally:
        a.kill_if_running()
        b.kill_if_running()


class Adder:
    """One client adding items one per call through a replica until stopped; remembers what was acknowledged."""

    def __init__(self, port: int, prefix: str) -> None:
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._curation = curation_pb2_grpc.CurationStub(self._channel)
        self._prefix = prefix
        self._stop = threading.Event()
        self.acked: list[str] = []
        self.codes: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            ref_id = f"{self._prefix}-{n}"
            n += 1
            item = curation_pb2.ReferenceInput(id=ref_id, lang="en", text=TEXT.format(n=f"{self._prefix} {n}"))
            try:
                self._curation.AddReferences(curation_pb2.AddReferencesRequest(references=[item]), timeout=CALL_TIMEOUT)
                self.acked.append(ref_id)
            except grpc.RpcError as err:
                self.codes[err.code().name] = self.codes.get(err.code().name, 0) + 1
                time.sleep(0.05)

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(CALL_TIMEOUT + 5)
        self._channel.close()
        return self.acked


def matched_on(port: int, ref_id: str, n_text: str) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="p", text=TEXT.format(n=n_text) + " Tonight.")])
        reply = matcher_pb2_grpc.MatcherStub(channel).Match(request, timeout=CALL_TIMEOUT)
        return ref_id in [m.reference_id for m in reply.results[0].matches]


def wait_for(check: Callable[[], bool], bound: float, what: str) -> None:
    deadline = time.monotonic() + bound
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def stored_ids(url: str) -> set[str]:
    store = PostgresStore(url, pool_size=2)
    try:
        return {i.id for i in store.references.changes_after(0, limit=1_000_000)}
    finally:
        store.close()


def test_kill_9_of_a_replica_during_adds_loses_no_acknowledged_write(two: tuple[ServerProcess, ServerProcess], postgres_url: str) -> None:
    a, b = two
    adder = Adder(a.wait_listening(), "k")
    wait_for(lambda: len(adder.acked) >= 20, 30, "adds through replica a were not acknowledged")
    a.proc.kill()  # SIGKILL: no shutdown, no snapshot
    a.proc.wait(10)
    acked = adder.stop()
    assert b.health() == SERVING
    assert set(acked) <= stored_ids(postgres_url)
    # The other replica matches the last acknowledged add by meaning (its index holds it), not only by fingerprint.
    last = acked[-1]
    n = int(last.split("-")[1]) + 1
    wait_for(lambda: matched_on(b.wait_listening(), last, f"k {n}"), 10, f"{last} never became matchable on replica b")
    assert b.health() == SERVING


def test_a_postgres_restart_under_load_is_not_serving_then_serving_with_nothing_lost(
    two: tuple[ServerProcess, ServerProcess], postgres_cluster: Cluster, postgres_url: str
) -> None:
    a, b = two
    adders = [Adder(a.wait_listening(), "pa"), Adder(b.wait_listening(), "pb")]
    wait_for(lambda: all(len(x.acked) >= 5 for x in adders), 30, "no adds acknowledged before the restart")
    postgres_cluster.stop("fast")
    try:
        for r in (a, b):
            wait_for(lambda: r.health() == NOT_SERVING, MAX_LAG + 15, f"replica did not report NOT_SERVING:\n{r.log_tail()}")
            assert r.health("liveness") == SERVING  # alive: an orchestrator must not restart it
        # A call while the store is down is refused, quickly, as retryable.
        with grpc.insecure_channel(f"127.0.0.1:{a.wait_listening()}") as channel:
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as err:
                curation_pb2_grpc.CurationStub(channel).GetReference(curation_pb2.GetReferenceRequest(id="pa-0"), timeout=30)
            assert err.value.code() is grpc.StatusCode.UNAVAILABLE and time.monotonic() - started < 15
    finally:
        postgres_cluster.start()
    for r in (a, b):
        wait_for(lambda: r.health() == SERVING, 30, f"replica did not return to SERVING:\n{r.log_tail()}")
    before = [len(x.acked) for x in adders]
    wait_for(lambda: all(len(x.acked) > n + 3 for x, n in zip(adders, before)), 30, "adds did not resume after the restart")
    acked = [ref_id for x in adders for ref_id in x.stop()]
    assert all(x.codes.get("UNAVAILABLE", 0) > 0 for x in adders), [x.codes for x in adders]
    assert set(acked) <= stored_ids(postgres_url)
    store = PostgresStore(postgres_url, pool_size=2)
    try:
        audited = {e.target for e in store.audit.query(AuditQuery(action="add"), before_seq=None, limit=1_000_000)}
        assert set(acked) <= audited
    finally:
        store.close()
    # Both indexes converge on the store: everything acknowledged is in both.
    for r in (a, b):
        last = acked[-1]
        prefix, n = last.split("-")
        wait_for(lambda: matched_on(r.wait_listening(), last, f"{prefix} {int(n) + 1}"), 10, f"{last} not matchable after the restart")
