"""Stopping the server while Health.Watch clients disconnect never hangs.

grpc_health's own servicer sends to watchers under its lock; a watcher that
disconnects just then deadlocks grpc's polling thread against ``stop()``
(``service/api/health.py``). Here 16 watchers read their first status, the
channel closes, and ``stop(0)`` must return within 5 s, 300 times. The
attempts run in a child process, so a hang is a failed test rather than a
wedged pytest. With grpc_health's servicer, 9 of 300 attempts hung here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.api.server import create_server
from service.core import Engine
from tests.support.doubles import HashingEmbedder
from tests.support.factories import make_config
from tests.support.grpc_harness import start

ATTEMPTS = 300
WATCHERS = 16
STOP_SECONDS = 5.0


@pytest.mark.slow
def test_stop_never_hangs_while_health_watchers_disconnect() -> None:
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "tests.integration.test_health_shutdown", str(ATTEMPTS)],
        cwd=repo, capture_output=True, text=True, timeout=ATTEMPTS * STOP_SECONDS + 120,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == f"hung 0 of {ATTEMPTS}", result.stdout


def _attempts(count: int) -> int:
    hung = 0
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(count):
            running = start(Path(tmp) / f"var{attempt}", HashingEmbedder())
            stub = health_pb2_grpc.HealthStub(running.channel)
            watchers = [stub.Watch(health_pb2.HealthCheckRequest(), timeout=30) for _ in range(WATCHERS)]
            for watcher in watchers:
                next(watcher)
            running.channel.close()  # the watchers go away just as the server stops
            stopping = threading.Thread(target=running.nigran.stop, args=(0,), daemon=True)
            stopping.start()
            stopping.join(STOP_SECONDS)
            hung += stopping.is_alive()
    return hung


if __name__ == "__main__":
    count = int(sys.argv[1])
    print(f"hung {_attempts(count)} of {count}", flush=True)
    os._exit(0)  # a hung stop() holds non-daemon grpc threads; do not wait for them


def test_a_watcher_sees_every_status_in_order(tmp_path: Path) -> None:
    config = make_config(tmp_path / "var")
    nigran = create_server(config).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{nigran.port}")
    try:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service="nigran.v1.Matcher"), timeout=30)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        nigran.set_engine(Engine.open(config, embedder=HashingEmbedder()))
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        unknown = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=30)
        assert next(unknown).status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
        unknown.cancel()
        nigran.stop(5)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        channel.close()
