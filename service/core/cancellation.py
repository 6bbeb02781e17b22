"""Stopping work the caller no longer waits for.

Long calls (a 256-post Match, an add of thousands of items) take a
``StopCheck``: a callable that says whether the caller has gone (its deadline
passed, or it cancelled). Work checks it at batch boundaries and raises
:class:`Cancelled`, so an abandoned call frees the encoder for the next one
instead of running to the end.

A check can also carry the server's own time budget (:func:`within_budget`), so a
call that set no deadline still cannot hold the encoder for ever.
"""

from __future__ import annotations

import time
from typing import Callable

from service.core.errors import Cancelled

StopCheck = Callable[[], bool]


def never() -> bool:
    return False


def within_budget(stop: StopCheck, seconds: float | None, clock: Callable[[], float] = time.monotonic) -> StopCheck:
    """``stop``, and also true once ``seconds`` have passed since this call (None: no budget)."""
    if seconds is None:
        return stop
    ends = clock() + seconds
    return lambda: stop() or clock() >= ends


def stop_if_asked(stop: StopCheck, before: str) -> None:
    if stop():
        raise Cancelled(f"stopped before {before}: the deadline or the server's time budget passed, or the caller cancelled")
