"""Resource exhaustion over real gRPC: idle or surplus streams and unary floods must not starve the server.

Each test runs a real in-process server (``tests/support/grpc_harness.py``)
and talks to it over a real channel. What they pin down: health and unary
Match keep answering while many streams sit idle; streams and unary calls
over their budgets are refused with RESOURCE_EXHAUSTED at once instead of
queueing; an idle request stream is ended and its slot given back; and
``Health.Watch`` streams cost nothing from the stream budget.

Every call has a deadline, every stream is cancelled on the way out and every
thread is joined, so a regression fails within seconds rather than hanging.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2

from service.api._generated.nigran.v1 import matcher_pb2
from service.core import ServerConfig
from tests.support.doubles import HashingEmbedder
from tests.support.grpc_harness import Running, start
from tests.support.slow_embedders import BlockingEmbedder

# A unary call, or waiting for the server to refuse surplus streams, ends by then.
CALL_TIMEOUT = 5.0
# Streams outlive every test's body; on a regression they end on this deadline at the latest.
STREAM_TIMEOUT = 20.0
SERVING = health_pb2.HealthCheckResponse.SERVING
ONE_POST = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="p", text="the convoy crosses the northern gate on Friday")])


def _server(**settings: Any) -> ServerConfig:
    return ServerConfig(host="127.0.0.1", port=0, **settings)


@contextmanager
def serving(data_dir: Path, embedder: Any = None, **settings: Any) -> Iterator[Running]:
    running = start(data_dir, embedder if embedder is not None else HashingEmbedder(), server=_server(**settings))
    try:
        yield running
    finally:
        # The server first, the channel after (the harness's close does the reverse): see IdleStreams.close.
        running.nigran.stop(0)
        running.channel.close()


class IdleStreams:
    """Streams opened and then left idle: their request iterators block until the test ends."""

    def __init__(self, running: Running) -> None:
        self._running = running
        self._done = threading.Event()
        self.calls: list[Any] = []

    def _requests(self, first: Any = None) -> Iterator[Any]:
        if first is not None:
            yield first
        # Bounded, so the client's sending thread ends even if a cancel is lost.
        self._done.wait(STREAM_TIMEOUT)

    def _opened(self, call: Any) -> Any:
        self.calls.append(call)
        return call

    def match_stream(self, first: matcher_pb2.MatchRequest | None = None, timeout: float = STREAM_TIMEOUT) -> Any:
        return self._opened(self._running.matcher.MatchStream(self._requests(first), timeout=timeout))

    def import_references(self, timeout: float = STREAM_TIMEOUT) -> Any:
        return self._opened(self._running.curation.ImportReferences.future(self._requests(), timeout=timeout))

    def watch(self) -> Any:
        # Not in ``calls``: a Watch is left to end with the server (see close).
        return self._running.health.Watch(health_pb2.HealthCheckRequest(), timeout=STREAM_TIMEOUT)

    def close(self) -> None:
        """Cancel the streams, except the Watch streams: those end when the server stops.

        A Watch cancelled just before the server stops can deadlock the stop (about
        one in thirteen runs here): grpc_health's ``set(NOT_SERVING)`` holds its lock
        while it waits for grpc's polling thread to send to a watcher, and that thread
        waits for the same lock in the cancelled Watch's close callback.
        """
        self._done.set()
        for call in self.calls:
            call.cancel()


@contextmanager
def idle_streams(running: Running) -> Iterator[IdleStreams]:
    streams = IdleStreams(running)
    try:
        yield streams
    finally:
        streams.close()


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def ended_codes(calls: list[Any]) -> list[grpc.StatusCode]:
    """The status of every call that has ended (``code()`` would block on one still open)."""
    return [call.code() for call in calls if call.done()]


def refused(calls: list[Any]) -> int:
    return sum(1 for code in ended_codes(calls) if code is grpc.StatusCode.RESOURCE_EXHAUSTED)


def health_status(running: Running) -> int:
    return int(running.health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT).status)


def match_answers(running: Running) -> bool:
    return len(running.matcher.Match(ONE_POST, timeout=CALL_TIMEOUT).results) == 1


class UnaryProbe:
    """A client thread sending unary Match calls back to back, recording how each went and how long it took."""

    def __init__(self, running: Running) -> None:
        self._running = running
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="unary-probe")
        self.latencies: list[float] = []
        self.failures: list[grpc.StatusCode] = []

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                match_answers(self._running)
            except grpc.RpcError as err:
                self.failures.append(err.code())
            self.latencies.append(time.monotonic() - started)
            self._stop.wait(0.02)

    def __enter__(self) -> "UnaryProbe":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(CALL_TIMEOUT + 5)
        assert not self._thread.is_alive()


def test_idle_streams_do_not_stop_health_checks_or_unary_match(data_dir: Path) -> None:
    # More of each kind than there are worker threads (32 by default): before the
    # budgets, idle streams and blocking Watch handlers each held a worker for good.
    each = 24
    with serving(data_dir) as running, idle_streams(running) as idle:
        watches = [idle.watch() for _ in range(each)]
        assert all(next(watch).status == SERVING for watch in watches)
        streams = [idle.match_stream() for _ in range(each)] + [idle.import_references() for _ in range(each)]
        budget = running.nigran.config.server.max_concurrent_streams
        # Every stream has reached the server once all but the budget's worth are refused.
        settled = wait_until(lambda: refused(streams) == len(streams) - budget, CALL_TIMEOUT)

        assert health_status(running) == SERVING
        assert match_answers(running)
        assert settled, f"{refused(streams)} of {len(streams)} idle streams refused; expected all but {budget}"
        assert not any(watch.done() for watch in watches)


def test_streams_over_budget_are_refused_promptly_while_unary_calls_keep_answering(data_dir: Path) -> None:
    opened = 200
    with serving(data_dir) as running, idle_streams(running) as idle, UnaryProbe(running) as probe:
        budget = running.nigran.config.server.max_concurrent_streams
        streams = [idle.match_stream(first=ONE_POST) for _ in range(opened)]
        # Promptly: all the surplus is refused within one unary call's deadline.
        assert wait_until(lambda: len(ended_codes(streams)) >= opened - budget, CALL_TIMEOUT), (
            f"only {len(ended_codes(streams))} of {opened - budget} surplus streams refused within {CALL_TIMEOUT:g} s"
        )
        assert ended_codes(streams) == [grpc.StatusCode.RESOURCE_EXHAUSTED] * (opened - budget)
        # The admitted ones are served, not merely left open.
        admitted = [call for call in streams if not call.done()]
        assert len(admitted) == budget
        assert all(len(next(call).results) == 1 for call in admitted)
        time.sleep(0.3)  # a few more probes while the admitted streams stay open
    assert probe.failures == []
    assert len(probe.latencies) >= 5
    assert max(probe.latencies) < 2.0, f"a unary Match took {max(probe.latencies):.2f} s while {opened} streams were opened"


def test_unary_calls_over_budget_are_refused_rather_than_queued(data_dir: Path) -> None:
    budget = 3
    embedder = BlockingEmbedder(hold_seconds=STREAM_TIMEOUT)
    with serving(data_dir, embedder, max_concurrent_unary=budget) as running:
        held = [running.matcher.Match.future(ONE_POST, timeout=STREAM_TIMEOUT) for _ in range(budget)]
        try:
            assert embedder.wait_entered(budget, CALL_TIMEOUT)
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as over:
                running.matcher.Match(ONE_POST, timeout=CALL_TIMEOUT)
            assert over.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert time.monotonic() - started < 1.0
            assert embedder.entered == budget  # the refused call never reached the embedder
            assert health_status(running) == SERVING  # health is outside the budget
        finally:
            embedder.release.set()
        assert all(len(call.result(timeout=CALL_TIMEOUT).results) == 1 for call in held)
        # The slots came back with the held calls.
        assert match_answers(running)


IDLE_SECONDS = 1.0


@pytest.mark.parametrize("rpc", ["MatchStream", "ImportReferences"])
def test_idle_request_stream_is_ended_and_its_slot_freed(data_dir: Path, rpc: str) -> None:
    # One slot: a second stream is admitted only if the idle one gave its slot back.
    with serving(data_dir, max_concurrent_streams=1, stream_idle_seconds=IDLE_SECONDS) as running, idle_streams(running) as idle:
        timeout = IDLE_SECONDS + 9
        started = time.monotonic()
        if rpc == "MatchStream":
            # One message first: the stream falls idle after it, rather than never starting.
            call = idle.match_stream(first=ONE_POST, timeout=timeout)
            assert len(next(call).results) == 1
        else:
            call = idle.import_references(timeout=timeout)
        code = call.code()  # blocks until the call ends, at ``timeout`` at the latest
        took = time.monotonic() - started
        assert code is grpc.StatusCode.DEADLINE_EXCEEDED
        # Well before the client's own deadline: the server ended it.
        assert IDLE_SECONDS * 0.9 <= took < IDLE_SECONDS + 4, f"the idle stream ended after {took:.2f} s"

        again = running.matcher.MatchStream(iter([ONE_POST]), timeout=CALL_TIMEOUT)
        assert [len(reply.results) for reply in again] == [1]


def test_health_watch_streams_do_not_count_against_the_stream_budget(data_dir: Path) -> None:
    budget = 2
    with serving(data_dir, max_concurrent_streams=budget) as running, idle_streams(running) as idle:
        watches = [idle.watch() for _ in range(10)]
        assert all(next(watch).status == SERVING for watch in watches)
        streams = [idle.match_stream(first=ONE_POST) for _ in range(budget)]
        assert all(len(next(call).results) == 1 for call in streams)
        assert not any(call.done() for call in watches + streams)
        # The budget itself still holds: one more is refused.
        surplus = idle.import_references(timeout=CALL_TIMEOUT)
        assert surplus.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
