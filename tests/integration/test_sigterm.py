"""SIGTERM at random moments: a real server process always shuts down in time, snapshotted, losing nothing.

One data directory, 30 server processes one after another
(``tests/support/serve_double.py``: the real ``serve`` with the hashing
double). Each gets SIGTERM at a random moment: while starting, idle, or while
client threads send Match and AddReferences. Every time the process must exit
within the grace period + 5 s with exit code 0 (or the SIGTERM default, only
while it was still importing, before ``serve`` could take the signal); the
newest index snapshot must carry the store's generation and, after a clean
exit, have been written at that exit; and every add the server acknowledged,
in this run or any before, must be in the store.

A last, in-process test holds ``NigranServer.stop`` (what ``serve`` runs on
SIGTERM) to its word: the engine is closed, and the snapshot taken, only once
every handler has returned, including one cut off by the grace period mid-batch.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from pathlib import Path

import grpc
import pytest

from service.api._generated.nigran.v1 import curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from service.core.index.artifact import Manifest, latest, read_manifest
from service.core.store.sqlite import SqliteStore
from tests.support.grpc_harness import start
from tests.support.server_process import CALL_TIMEOUT, ServerProcess
from tests.support.slow_embedders import SlowEmbedder

pytestmark = pytest.mark.slow

RUNS = 30
GRACE = 1.0
EXIT_WITHIN = GRACE + 5.0
LOAD_THREADS = 3


class Load:
    """Client threads adding and matching until told to stop or the server goes away."""

    def __init__(self, port: int, run: int) -> None:
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._curation = curation_pb2_grpc.CurationStub(self._channel)
        self._matcher = matcher_pb2_grpc.MatcherStub(self._channel)
        self._run = run
        self._stop = threading.Event()
        self.acked: list[str] = []
        self.first_ack = threading.Event()
        self.unexpected: list[str] = []
        self._threads = [threading.Thread(target=self._add, args=(t,)) for t in range(LOAD_THREADS)]
        self._threads.append(threading.Thread(target=self._match))

    def _add(self, thread: int) -> None:
        n = 0
        while not self._stop.is_set():
            ids = [f"r{self._run}-t{thread}-{n + j}" for j in range(1 + n % 3)]
            n += len(ids)
            refs = [curation_pb2.ReferenceInput(id=i, text=f"{i}: the convoy of {n} trucks crossed at dawn", lang="en") for i in ids]
            try:
                reply = self._curation.AddReferences(curation_pb2.AddReferencesRequest(references=refs), timeout=CALL_TIMEOUT)
            except grpc.RpcError:
                return  # the server is going away: this add was never acknowledged
            if list(reply.ids) != ids:
                self.unexpected.append(f"added {ids}, acknowledged {list(reply.ids)}")
            self.acked.extend(reply.ids)
            self.first_ack.set()

    def _match(self) -> None:
        posts = [matcher_pb2.Post(id=str(i), text=f"the convoy of {i} trucks crossed at dawn") for i in range(8)]
        request = matcher_pb2.MatchRequest(posts=posts)
        while not self._stop.is_set():
            try:
                self._matcher.Match(request, timeout=CALL_TIMEOUT)
            except grpc.RpcError:
                return

    def start(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(CALL_TIMEOUT + 5)
        self._channel.close()
        assert not any(thread.is_alive() for thread in self._threads)


def store_state(data_dir: Path, ids: list[str]) -> tuple[int, set[str]]:
    """The store's generation, and which of ``ids`` it holds (read while no server runs)."""
    store = SqliteStore(data_dir / "references.sqlite3")
    try:
        return store.generation(), store.references.existing_ids(ids)
    finally:
        store.close()


def newest_snapshot(data_dir: Path) -> Manifest:
    snapshot = latest(data_dir / "index")
    assert snapshot is not None, f"no index snapshot under {data_dir}"
    return read_manifest(snapshot)


def moments(rng: random.Random) -> list[str]:
    """When each run is signalled; the first is idle, so the data directory exists before any early signal."""
    rest = ["starting"] * 6 + ["idle"] * 8 + ["load"] * (RUNS - 15)
    rng.shuffle(rest)
    return ["idle", *rest]


def test_sigterm_at_random_moments(tmp_path: Path) -> None:
    seed = int(time.time())
    rng = random.Random(seed)
    data_dir = tmp_path / "var"
    acked: list[str] = []
    for run, moment in enumerate(moments(rng)):
        where = f"run {run} ({moment}, seed {seed})"
        server = ServerProcess(data_dir, tmp_path / f"server-{run}.log", grace=GRACE)
        load = None
        try:
            if moment == "starting":
                time.sleep(rng.uniform(0.0, 1.2))
            else:
                port = server.wait_serving()
                if moment == "load":
                    load = Load(port, run).start()
                    assert load.first_ack.wait(CALL_TIMEOUT), where
                time.sleep(rng.uniform(0.0, 0.5))
            signalled_at = time.time()
            code, took = server.terminate_and_wait(EXIT_WITHIN)
        finally:
            server.kill_if_running()
            if load is not None:
                load.stop()
        if load is not None:
            assert load.unexpected == [], where
            acked.extend(load.acked)

        log = server.log_tail()
        assert took <= EXIT_WITHIN, f"{where}: exited {took:.1f} s after SIGTERM"
        # Killed by the signal itself only before serve() installs its handler: while
        # importing, so before the server ever listened.
        killed_early = code == -signal.SIGTERM and moment == "starting" and "listening on" not in log
        assert code == 0 or killed_early, f"{where}: exit code {code}\n{log}"
        assert "Traceback" not in log, f"{where}:\n{log}"

        generation, present = store_state(data_dir, acked)
        missing = set(acked) - present
        assert not missing, f"{where}: {len(missing)} acknowledged adds not in the store, e.g. {sorted(missing)[:5]}"
        manifest = newest_snapshot(data_dir)
        assert manifest.generation == generation, f"{where}: newest snapshot is of generation {manifest.generation}, store at {generation}"
        if code == 0:
            assert manifest.created_at >= signalled_at, f"{where}: no snapshot written at exit\n{log}"
    assert len(acked) > 0


# grpc's shutdown event fires when the calls past the grace period are cancelled,
# not when their handlers return; one still embedding must not then write to a
# closed store (an ERROR traceback) or after the snapshot.
def test_stop_closes_the_engine_only_after_every_handler_returned(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    batch_seconds = 1.0
    slow = SlowEmbedder(seconds=batch_seconds)
    running = start(data_dir, slow)
    refs = [curation_pb2.ReferenceInput(id=f"s{i}", text=f"{i}: the convoy crossed the river at dawn", lang="en") for i in range(32)]
    call = running.curation.AddReferences.future(curation_pb2.AddReferencesRequest(references=refs), timeout=CALL_TIMEOUT)
    try:
        assert slow.big_batch_started.wait(CALL_TIMEOUT)
        running.nigran.stop(0.05)  # the grace period ends in the middle of the add's only batch
        batches_when_stopped = list(slow.batches)
    finally:
        running.channel.close()
        # Let the cut-off handler run its course before judging what it left in the log.
        deadline = time.monotonic() + batch_seconds + CALL_TIMEOUT
        while not slow.batches and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
    assert call.done()
    assert batches_when_stopped == [32], "stop() returned, and closed the engine, while a handler was still embedding"
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    assert newest_snapshot(data_dir).generation == store_state(data_dir, [])[0]
