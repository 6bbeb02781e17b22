"""The MatchStream pipeline: concurrent work, answers in request order, errors in their place."""

from __future__ import annotations

import contextvars
import queue
import random
import threading
import time
from typing import Iterator

import pytest

from service.api.pipeline import pipelined

TIMEOUT = 10.0


class Refused(Exception):
    pass


def run(requests: Iterator[int], work, window: int = 8) -> list[object]:  # type: ignore[no-untyped-def]
    return list(pipelined(requests, work, window=window, recoverable=lambda e: isinstance(e, Refused), refused=lambda e: f"refused:{e}"))


def test_answers_come_in_request_order_whatever_order_the_work_ends_in() -> None:
    delays = [random.Random(7).uniform(0, 0.02) for _ in range(40)]

    def work(i: int) -> int:
        time.sleep(delays[i])
        return i * 10

    assert run(iter(range(40)), work) == [i * 10 for i in range(40)]


def test_up_to_window_messages_are_worked_on_at_once() -> None:
    # Four workers must be inside work() together for any of them to pass the barrier.
    barrier = threading.Barrier(4, timeout=TIMEOUT)

    def work(i: int) -> int:
        barrier.wait()
        return i

    assert run(iter(range(8)), work, window=4) == list(range(8))


def test_never_more_than_window_at_once() -> None:
    inside, most, lock = 0, 0, threading.Lock()

    def work(i: int) -> int:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.005)
        with lock:
            inside -= 1
        return i

    run(iter(range(60)), work, window=3)
    assert most == 3


def test_a_client_that_waits_for_each_answer_is_answered() -> None:
    # Ping-pong: the next message exists only once the previous answer has been taken.
    answered: queue.SimpleQueue[int] = queue.SimpleQueue()

    def requests() -> Iterator[int]:
        for i in range(5):
            yield i
            answered.get(timeout=TIMEOUT)

    out = []
    for result in pipelined(requests(), lambda i: i, window=8, recoverable=lambda e: False, refused=lambda e: None):
        out.append(result)
        answered.put(result)
    assert out == list(range(5))


def test_a_refused_message_is_answered_in_its_place_and_the_stream_goes_on() -> None:
    def requests() -> Iterator[int]:
        yield 1
        yield 2

    class Flaky:
        def __init__(self) -> None:
            self.inner = requests()
            self.n = 0

        def __iter__(self) -> "Flaky":
            return self

        def __next__(self) -> int:
            self.n += 1
            if self.n == 2:
                raise Refused("bad message")
            return next(self.inner)

    assert run(Flaky(), lambda i: i) == [1, "refused:bad message", 2]


def test_an_unrecoverable_read_error_ends_the_stream_after_the_earlier_answers() -> None:
    def requests() -> Iterator[int]:
        yield 1
        raise RuntimeError("the call was cancelled")

    got = []
    with pytest.raises(RuntimeError, match="cancelled"):
        for result in pipelined(requests(), lambda i: i, window=4, recoverable=lambda e: False, refused=lambda e: None):
            got.append(result)
    assert got == [1]


def test_work_that_raises_ends_the_stream_when_its_turn_comes() -> None:
    def work(i: int) -> int:
        if i == 3:
            raise ValueError("boom")
        return i

    got = []
    with pytest.raises(ValueError, match="boom"):
        for result in pipelined(iter(range(10)), work, window=4, recoverable=lambda e: False, refused=lambda e: None):
            got.append(result)
    assert got == [0, 1, 2]


def test_work_returning_none_ends_the_stream_quietly() -> None:
    assert run(iter(range(10)), lambda i: None if i == 2 else i) == [0, 1]


def test_closing_the_stream_stops_reading_more_messages() -> None:
    read = []

    def requests() -> Iterator[int]:
        for i in range(1000):
            read.append(i)
            yield i

    stream = pipelined(requests(), lambda i: i, window=4, recoverable=lambda e: False, refused=lambda e: None)
    assert next(stream) == 0
    stream.close()
    time.sleep(0.1)
    assert len(read) <= 4 + 2


def test_the_callers_context_follows_each_message_to_its_worker() -> None:
    who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")
    who.set("analyst-7")
    assert run(iter(range(6)), lambda i: who.get()) == ["analyst-7"] * 6


def test_a_window_of_one_is_one_message_at_a_time() -> None:
    assert run(iter(range(5)), lambda i: threading.current_thread() is threading.main_thread(), window=1) == [True] * 5
