"""The stop checks long work polls: the caller's own, and the server's time budget on top."""

from __future__ import annotations

import pytest

from service.core import Cancelled, within_budget
from service.core.cancellation import never, stop_if_asked
from tests.support.doubles import Clock


def test_a_budget_stops_work_once_its_seconds_have_passed() -> None:
    clock = Clock()
    stop = within_budget(never, 2.0, clock=clock)
    assert not stop()
    clock.now += 1.9
    assert not stop()
    clock.now += 0.1
    assert stop()
    with pytest.raises(Cancelled, match="budget"):
        stop_if_asked(stop, "the next batch")


def test_the_callers_own_stop_still_counts_inside_a_budget() -> None:
    gone = [False]
    stop = within_budget(lambda: gone[0], 60.0, clock=Clock())
    assert not stop()
    gone[0] = True
    assert stop()


def test_no_budget_is_the_callers_check_unchanged() -> None:
    assert within_budget(never, None) is never
