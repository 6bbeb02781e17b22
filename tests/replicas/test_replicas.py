"""Two replicas on one real Postgres: every change made through one is live on the other.

Each replica here is a real gRPC server in this process with its own data
directory (its own index), sharing a database of the session's throw-away
cluster. The test double embedder stands in for the model (these tests are
about replication, not verdicts; ``tests/model/test_replicas_grpc.py`` runs
the real model across replicas). Visibility is waited for with a bound
(``eventually``), not timed: the time it takes is a benchmark figure
(``bench/bench_replicas.py``). The follower's poll is set to 30 s here, so a
change seen within the bound was delivered by NOTIFY, except in the test of
the poll itself.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2

from service.api._generated.nigran.v1 import curation_pb2, matcher_pb2
from service.core import ReferenceState, StoreConfig
from tests.support.doubles import HashingEmbedder
from tests.support.grpc_harness import Running, start

TEXT = "The fighters will gather at the old bridge before dawn on Friday."
OTHER = "Migratory cranes return to the northern wetlands every spring."
BOUND = 10.0  # seconds: far above what NOTIFY takes, far below the 30 s poll

NOTIFY_ONLY = StoreConfig(url="", poll_seconds=30.0, max_lag_seconds=120.0)


def eventually(check: Callable[[], bool], bound: float = BOUND) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def replica(root: Path, url: str, **store: Any) -> Running:
    settings = {**NOTIFY_ONLY.__dict__, "url": url, **store}
    return start(root, HashingEmbedder(), store=StoreConfig(**settings), calibration_dir=None)


@pytest.fixture
def pair(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Running, Running]]:
    a = replica(tmp_path / "a", postgres_url)
    b = replica(tmp_path / "b", postgres_url)
    yield a, b
    b.close()
    a.close()


def add(r: Running, ref_id: str, text: str = TEXT, bank: str = "default") -> None:
    item = curation_pb2.ReferenceInput(id=ref_id, lang="en", text=text, bank=bank)
    r.curation.AddReferences(curation_pb2.AddReferencesRequest(references=[item]), timeout=30)


def matched(r: Running, text: str = TEXT, banks: tuple[str, ...] = ()) -> list[str]:
    request = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="p", text=text)], banks=list(banks))
    return [m.reference_id for m in r.matcher.Match(request, timeout=30).results[0].matches]


def test_adds_made_through_one_replica_are_matched_on_the_other(pair: tuple[Running, Running]) -> None:
    a, b = pair
    assert matched(b) == []
    add(a, "r1")
    assert eventually(lambda: matched(b) == ["r1"])
    # near-duplicates need the vector, not just the fingerprint: the index on B holds it
    assert eventually(lambda: matched(b, TEXT.replace("Friday", "Saturday")) == ["r1"])
    add(b, "r2", OTHER)
    assert eventually(lambda: len(a.nigran.engine().index) == len(b.nigran.engine().index) == 2)
    assert matched(a, OTHER.replace("spring", "autumn")) == ["r2"]


def test_a_disable_is_in_force_everywhere_at_once_and_a_removal_soon(pair: tuple[Running, Running]) -> None:
    a, b = pair
    add(a, "r1")
    assert eventually(lambda: matched(b) == ["r1"])
    a.curation.DisableReferences(curation_pb2.DisableReferencesRequest(ids=["r1"]), timeout=30)
    # No waiting: matching reads the item's state from the shared store.
    assert matched(b) == []
    a.curation.EnableReferences(curation_pb2.ReferenceIds(ids=["r1"]), timeout=30)
    assert matched(b) == ["r1"]
    a.curation.RemoveReferences(curation_pb2.RemoveReferencesRequest(ids=["r1"]), timeout=30)
    assert matched(b) == []
    assert eventually(lambda: len(b.nigran.engine().index) == 0)


def test_bank_changes_reach_the_other_replica(pair: tuple[Running, Running]) -> None:
    a, b = pair
    a.curation.CreateBank(curation_pb2.CreateBankRequest(name="threats"), timeout=30)
    add(a, "r1", bank="threats")
    assert eventually(lambda: matched(b, banks=("threats",)) == ["r1"])
    a.curation.UpdateBank(curation_pb2.UpdateBankRequest(name="threats", enabled=False), timeout=30)
    assert eventually(lambda: matched(b) == [])
    names = [x.name for x in b.curation.ListBanks(curation_pb2.ListBanksRequest(), timeout=30).banks]
    assert names == ["default", "threats"]


def test_a_lost_notification_is_made_good_by_the_poll(tmp_path: Path, postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        a = replica(tmp_path / "a", postgres_url)
        b = replica(tmp_path / "b", postgres_url, poll_seconds=0.5, max_lag_seconds=5.0)
        try:
            conn.execute("ALTER TABLE refs DISABLE TRIGGER refs_notify")
            add(a, "r1")
            assert eventually(lambda: matched(b, TEXT.replace("Friday", "Saturday")) == ["r1"])
        finally:
            conn.execute("ALTER TABLE refs ENABLE TRIGGER refs_notify")
            b.close()
            a.close()


def test_writes_through_two_replicas_at_once_lose_nothing(pair: tuple[Running, Running]) -> None:
    a, b = pair
    add(a, "shared")

    def label(r: Running, who: str) -> None:
        for n in range(10):
            r.curation.UpdateReference(curation_pb2.UpdateReferenceRequest(id="shared", add_labels=[f"org:{who}{n}"]), timeout=30)

    threads = [threading.Thread(target=label, args=(r, w)) for r, w in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    labels = set(b.curation.GetReference(curation_pb2.GetReferenceRequest(id="shared"), timeout=30).labels)
    assert labels == {f"org:{w}{n}" for w in "ab" for n in range(10)}
    audit = a.curation.QueryAudit(curation_pb2.QueryAuditRequest(target="shared", page_size=100), timeout=30).entries
    assert sorted(e.action for e in audit) == ["add"] + ["update"] * 20


def test_readiness_and_liveness_are_separate(tmp_path: Path, postgres_url: str) -> None:
    from service.api.server import LIVENESS, create_server
    from service.core import Engine
    from tests.support.factories import make_config

    config = make_config(tmp_path / "a", store=StoreConfig(url=postgres_url), calibration_dir=None)
    nigran = create_server(config).start()
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{nigran.port}")
        from grpc_health.v1 import health_pb2_grpc

        health = health_pb2_grpc.HealthStub(channel)

        def status(service: str) -> int:
            return int(health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status)

        # Loading: alive, not ready.
        assert status(LIVENESS) == health_pb2.HealthCheckResponse.SERVING
        assert status("") == health_pb2.HealthCheckResponse.NOT_SERVING
        nigran.set_engine(Engine.open(config, embedder=HashingEmbedder()))
        assert status("") == health_pb2.HealthCheckResponse.SERVING
        assert status("nigran.v1.Matcher") == health_pb2.HealthCheckResponse.SERVING
        channel.close()
    finally:
        nigran.stop(0)


def test_a_new_replica_starts_from_the_shared_snapshot_plus_the_delta(tmp_path: Path, postgres_url: str, caplog: Any) -> None:
    shared = tmp_path / "shared-index"
    a = replica(tmp_path / "a", postgres_url, shared_index_dir=shared)
    try:
        for n in range(5):
            add(a, f"r{n}", f"{TEXT} number {n}")
        a.nigran.engine().snapshot()
        add(a, "late", OTHER)  # after the snapshot: the delta
        embedder = HashingEmbedder()
        with caplog.at_level("INFO"):
            b = start(tmp_path / "b", embedder, store=StoreConfig(url=postgres_url, shared_index_dir=shared), calibration_dir=None)
        try:
            assert any("loaded index snapshot" in r.getMessage() and "1 added" in r.getMessage() for r in caplog.records)
            assert embedder.calls == 0  # nothing the store holds was embedded again
            assert len(b.nigran.engine().index) == 6 and matched(b, OTHER) == ["late"]
        finally:
            b.close()
    finally:
        a.close()


def test_two_replicas_behind_a_real_nginx_balancer_serve_as_one(pair: tuple[Running, Running]) -> None:
    """deploy/nginx/nginx.conf in front of both (tests/support/nginx.py): writes and matches through it land on both."""
    from service.api._generated.nigran.v1 import curation_pb2_grpc, matcher_pb2_grpc
    from tests.support.nginx import GrpcBalancer

    a, b = pair
    balancer = GrpcBalancer([a.nigran.port, b.nigran.port])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{balancer.port}") as channel:
            curation = curation_pb2_grpc.CurationStub(channel)
            matcher = matcher_pb2_grpc.MatcherStub(channel)
            for n in range(4):
                item = curation_pb2.ReferenceInput(id=f"r{n}", lang="en", text=f"{TEXT} Number {n}.")
                curation.AddReferences(curation_pb2.AddReferencesRequest(references=[item]), timeout=30)
            variant = f"{TEXT.replace('Friday', 'Saturday')} Number 3."

            def everywhere() -> bool:
                request = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="p", text=variant)])
                return all("r3" in [m.reference_id for m in matcher.Match(request, timeout=30).results[0].matches] for _ in range(6))

            assert eventually(everywhere)
        for r in (a, b):
            answered = r.nigran.metrics.requests.labels("/nigran.v1.Matcher/Match", "OK")._value.get()
            assert answered > 0, "the balancer sent every Match to one replica"
        assert sorted(a.nigran.engine().index.ids().tolist()) == sorted(b.nigran.engine().index.ids().tolist())
        assert len(a.nigran.engine().index) == 4
    finally:
        balancer.stop()


def test_quarantine_judges_every_replicas_traffic_and_decides_once(tmp_path: Path, postgres_url: str) -> None:
    """Each replica sees 2 of an item's 4 matches (min_matches 3): alone neither would act, together one does, once."""
    from tests.support.curation_factories import ACTOR, QUICK_QUARANTINE, TEXTS, add as add_items, audit_entries, engine_at, flood, ref

    store = StoreConfig(url=postgres_url, poll_seconds=30.0, max_lag_seconds=120.0)
    with engine_at(tmp_path / "a", quarantine=QUICK_QUARANTINE, store=store) as a, engine_at(
        tmp_path / "b", quarantine=QUICK_QUARANTINE, store=store
    ) as b:
        add_items(a.curation, ref("x"))
        assert eventually(lambda: len(b.engine.index) == 1)
        flood(a.engine, TEXTS[0], posts=2)
        assert a.engine.follower is not None and b.engine.follower is not None
        a.engine.follower.exchange_counts(force=True)
        b.engine.follower.exchange_counts(force=True)
        flood(b.engine, TEXTS[0], posts=2)
        b.curation.holdouts.flush(10)
        assert b.state("x") is ReferenceState.QUARANTINED
        assert a.state("x") is ReferenceState.QUARANTINED  # the shared store's state: no following needed
        assert [e.action for e in audit_entries(a.curation, target="x")].count("quarantine") == 1
        # a release anywhere starts the history afresh everywhere
        a.curation.references.release(["x"], actor=ACTOR)
        b.engine.follower.exchange_counts(force=True)
        flood(b.engine, TEXTS[0], posts=1)
        b.curation.holdouts.flush(10)
        assert b.state("x") is ReferenceState.ACTIVE
