"""Nothing lost: kill -9 a real server process during a stream of adds.

A separate server process (the real ``nigran-server`` entry point, the real
model, a store on disk) takes adds from this test; at a random moment it gets
SIGKILL. After a restart, every id whose add call returned OK must be present
and matchable. Then several client threads add and match at once against the
restarted server: no deadlock, and no match ever names a half-added item.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.api._generated.nigran.v1 import curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from tests.support.factories import MODEL_CACHE, REPO

pytestmark = pytest.mark.slow

START_TIMEOUT = 120.0


class ServerProcess:
    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.api.server", "--data-dir", str(data_dir), "--model-cache", str(MODEL_CACHE),
             "--host", "127.0.0.1", "--port", "0"],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.port = self._wait_for_port()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.curation = curation_pb2_grpc.CurationStub(self.channel)
        self.matcher = matcher_pb2_grpc.MatcherStub(self.channel)
        self._wait_serving()

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = re.search(rb"listening on 127\.0\.0\.1:(\d+)", self.log_path.read_bytes())
            if found:
                return int(found.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        raise TimeoutError("server did not start listening")

    def _wait_serving(self) -> None:
        health = health_pb2_grpc.HealthStub(self.channel)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING:
                return
            time.sleep(0.1)
        raise TimeoutError("server never became SERVING")

    def kill9(self) -> None:
        self.proc.kill()  # SIGKILL: no shutdown hook, no snapshot, nothing flushed by us
        self.proc.wait(30)
        self.channel.close()
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.channel.close()
        self._log.close()


def text_for(n: int) -> str:
    return f"Report {n}: the convoy of {n * 7} trucks crossed the river at dawn and the fighters followed it north."


@pytest.fixture
def data_dir_proc(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "var"


def test_acknowledged_adds_survive_kill_9_and_concurrency_is_safe(data_dir_proc: Path, tmp_path: Path) -> None:
    rng = random.Random(int(time.time()))
    server = ServerProcess(data_dir_proc, tmp_path / "server1.log")
    acked: list[tuple[str, str]] = []
    first_ack = threading.Event()
    stop = threading.Event()

    def adder() -> None:
        n = 0
        while not stop.is_set():
            batch = [(f"k{n + j}", text_for(n + j)) for j in range(rng.randint(1, 3))]
            n += len(batch)
            request = curation_pb2.AddReferencesRequest(references=[curation_pb2.ReferenceInput(id=i, text=t, lang="en") for i, t in batch])
            try:
                reply = server.curation.AddReferences(request, timeout=30)
            except grpc.RpcError:
                return  # the server died mid-call: this batch was never acknowledged
            assert list(reply.ids) == [i for i, _ in batch]
            acked.extend(batch)
            first_ack.set()

    thread = threading.Thread(target=adder)
    thread.start()
    assert first_ack.wait(60)
    time.sleep(rng.uniform(0.2, 2.5))
    server.kill9()
    stop.set()
    thread.join(60)
    assert not thread.is_alive()
    assert len(acked) >= 1

    server = ServerProcess(data_dir_proc, tmp_path / "server2.log")
    try:
        for ref_id, text in acked:
            got = server.curation.GetReference(curation_pb2.GetReferenceRequest(id=ref_id), timeout=30)
            assert got.text == text and got.state == curation_pb2.ACTIVE
        for start in range(0, len(acked), 128):
            chunk = acked[start : start + 128]
            request = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id=i, text=t) for i, t in chunk])
            for result in server.matcher.Match(request, timeout=120).results:
                assert result.verdict == matcher_pb2.REUPLOAD
                assert result.matches[0].reference_id == result.post_id

        _concurrent_adds_and_matches(server, first_new=len(acked) + 10_000)
    finally:
        server.stop()


def _concurrent_adds_and_matches(server: ServerProcess, first_new: int) -> None:
    errors: list[BaseException] = []
    added: list[str] = []

    def add(worker: int) -> None:
        try:
            for i in range(8):
                n = first_new + worker * 100 + i
                request = curation_pb2.AddReferencesRequest(references=[curation_pb2.ReferenceInput(id=f"c{n}", text=text_for(n))])
                server.curation.AddReferences(request, timeout=60)
                added.append(f"c{n}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def match(worker: int) -> None:
        try:
            for i in range(8):
                n = first_new + (i % 3) * 100 + i
                [result] = server.matcher.Match(matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="q", text=text_for(n))]), timeout=60).results
                for m in result.matches:
                    # Anything a match names is fully stored: text, fingerprint, active.
                    got = server.curation.GetReference(curation_pb2.GetReferenceRequest(id=m.reference_id), timeout=30)
                    assert got.text and got.fingerprint and got.state == curation_pb2.ACTIVE
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(w,)) for w in range(3)] + [threading.Thread(target=match, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "deadlock: client threads still waiting"
    assert errors == []
    assert len(added) == 24
    for ref_id in added:
        n = int(ref_id[1:])
        [result] = server.matcher.Match(matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="q", text=text_for(n))]), timeout=60).results
        assert result.matches[0].reference_id == ref_id
