"""A real ``nigran-server`` process with the hashing double (``serve_double.py``), for tests of processes: signals, kills, replicas."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.factories import REPO

START_TIMEOUT = 30.0
CALL_TIMEOUT = 5.0


class ServerProcess:
    def __init__(self, data_dir: Path, log_path: Path, *args: str, grace: float = 1.0) -> None:
        self.log_path = log_path
        self.grace = grace
        self._log = log_path.open("wb")
        self.port: int | None = None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.serve_double", "--data-dir", str(data_dir), "--port", "0", "--grace", str(grace), *args],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def wait_listening(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while self.port is None:
            found = re.search(rb"listening on 127\.0\.0\.1:(\d+)", self.log_path.read_bytes())
            self.port = int(found.group(1)) if found else None
            assert self.proc.poll() is None, f"server exited while starting:\n{self.log_tail()}"
            assert time.monotonic() < deadline, f"server did not start listening:\n{self.log_tail()}"
            time.sleep(0.02)
        return self.port

    def health(self, service: str = "") -> int:
        with grpc.insecure_channel(f"127.0.0.1:{self.wait_listening()}") as channel:
            return int(health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=CALL_TIMEOUT).status)

    def wait_serving(self, timeout: float = START_TIMEOUT) -> int:
        """The port, once health says SERVING."""
        port = self.wait_listening()
        deadline = time.monotonic() + timeout
        while self.health() != health_pb2.HealthCheckResponse.SERVING:
            assert self.proc.poll() is None, f"server exited:\n{self.log_tail()}"
            assert time.monotonic() < deadline, f"server never became SERVING:\n{self.log_tail()}"
            time.sleep(0.02)
        return port

    def kill_if_running(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self._log.close()

    def terminate_and_wait(self, exit_within: float) -> tuple[int, float]:
        """(exit code, seconds from SIGTERM to exit); killed, and the test failed, if it overruns."""
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(exit_within)
        except subprocess.TimeoutExpired:
            self.kill_if_running()
            pytest.fail(f"no exit within {exit_within:g} s of SIGTERM:\n{self.log_tail()}")
        return code, time.monotonic() - sent
