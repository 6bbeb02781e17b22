"""Ordered, bounded concurrency over a request stream (MatchStream).

A stream answered one message at a time gives a client that keeps many
requests in flight no more than single-call throughput: each message's posts
meet the encoder alone. Working on up to ``window`` messages at once lets
their posts share forward passes in the micro-batcher
(``service/core/embedding/batching.py``), while answers still leave in the
order the messages came.

The requests are read on a thread of their own, so a client that waits for
each answer before it sends the next message (ping-pong) is answered at once,
and one that pipelines never waits on the handler to ask for more.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _End:
    pass


class _ReadFailed:
    """Reading the next message raised; handled in the stream's order."""

    def __init__(self, exc: Exception, recoverable: bool) -> None:
        self.exc = exc
        self.recoverable = recoverable


def pipelined(
    requests: Iterator[T],
    work: Callable[[T], R | None],
    *,
    window: int,
    recoverable: Callable[[Exception], bool],
    refused: Callable[[Exception], R | None],
) -> Iterator[R]:
    """``work(request)`` for each request, up to ``window`` at once, yielded in request order.

    ``work`` returning None ends the stream quietly (the client has gone). An
    exception raised while *reading* a message for which ``recoverable`` is
    true becomes ``refused(exc)`` in that message's place (None: end quietly)
    and the stream goes on; any other ends the stream by propagating, as does
    an exception raised by ``work``, each when its turn comes. Closing the
    generator stops the reader taking more messages.
    """
    if window <= 1:
        yield from _sequential(requests, work, recoverable, refused)
        return
    inbox: queue.SimpleQueue[Future[R | None] | _ReadFailed | _End] = queue.SimpleQueue()
    slots = threading.Semaphore(window)
    closed = threading.Event()
    pool = ThreadPoolExecutor(max_workers=window, thread_name_prefix="stream-match")
    # The call's context (its CallInfo, for auth and logs) must follow each message to its worker.
    call_context = contextvars.copy_context()

    def read() -> None:
        while True:
            slots.acquire()
            if closed.is_set():
                return
            try:
                request = next(requests)
            except StopIteration:
                inbox.put(_End())
                return
            except Exception as exc:  # noqa: BLE001 - handled in order, by the consumer
                inbox.put(_ReadFailed(exc, recoverable(exc)))
                if not recoverable(exc):
                    return
                continue
            inbox.put(pool.submit(call_context.copy().run, work, request))

    threading.Thread(target=call_context.copy().run, args=(read,), name="stream-reader", daemon=True).start()
    try:
        while True:
            entry = inbox.get()
            if isinstance(entry, _End):
                return
            if isinstance(entry, _ReadFailed):
                if not entry.recoverable:
                    raise entry.exc
                result = refused(entry.exc)
            else:
                result = entry.result()
            if result is None:
                return
            slots.release()
            yield result
    finally:
        closed.set()
        # Wakes a reader waiting for a slot so that it sees ``closed``; one inside next() ends with the call.
        slots.release()
        pool.shutdown(wait=False, cancel_futures=True)


def _sequential(
    requests: Iterator[T], work: Callable[[T], R | None], recoverable: Callable[[Exception], bool], refused: Callable[[Exception], R | None]
) -> Iterator[R]:
    while True:
        try:
            request = next(requests)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - as in pipelined()
            if not recoverable(exc):
                raise
            result = refused(exc)
        else:
            result = work(request)
        if result is None:
            return
        yield result
