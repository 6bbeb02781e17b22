"""Quarantine: the monitor's rate arithmetic on a controlled clock, and ``HoldOuts`` over a real store.

``HoldOuts`` holds a flagged item out of matching at once and writes the
audited state change on its own thread; ``GatedWrites`` holds that write so
the tests can look at the moment in between.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Iterator

import pytest

from service.core import PostResult, QuarantineConfig, ReferenceState
from service.core.curation.quarantine import SYSTEM_ACTOR, HoldOuts, QuarantineMonitor
from tests.support.curation_factories import (
    ACTOR, QUICK_QUARANTINE, TEXTS, GatedWrites, Opened, add, audit_entries, engine_at, flood, matched_ids, quarantine,
    ref
)
from tests.support.doubles import Clock
from tests.support.factories import results

CONFIG = QuarantineConfig(bucket_seconds=60, window_buckets=2, history_buckets=10, warmup_buckets=3, min_matches=5, rate_ratio=10.0, min_usual_rate=0.001)

# -- the monitor ----------------------------------------------------------------


def test_steady_high_rate_is_usual_but_a_jump_is_quarantined() -> None:
    clock = Clock()
    monitor = QuarantineMonitor(CONFIG, clock=clock)
    # History: "steady" matches 20% of posts every minute from the start (it is
    # not judged during the warm-up); "quiet" never matches.
    for _ in range(8):
        assert monitor.observe(results(100, {"steady": 20})) == []
        clock.now += 60
    # Now: steady stays at 20%, quiet jumps from 0 to 10% of posts.
    assert monitor.observe(results(100, {"steady": 20, "quiet": 10})) == ["quiet"]
    rate = monitor.rate("steady")
    assert rate.recent_rate == 0.2 and abs(rate.usual_rate - 0.2) < 1e-9


def test_too_few_matches_never_quarantine_and_release_forgets() -> None:
    clock = Clock()
    monitor = QuarantineMonitor(CONFIG, clock=clock)
    assert monitor.observe(results(50, {"x": 50})) == []  # still warming up
    clock.now += 60 * 3
    monitor.forget(["x"])
    assert monitor.observe(results(4, {"x": 4})) == []  # 100% of posts, but only 4 matches
    assert monitor.observe(results(1, {"x": 1})) == ["x"]
    monitor.forget(["x"])
    assert monitor.rate("x").recent_matches == 0


def test_old_buckets_are_pruned() -> None:
    clock = Clock()
    monitor = QuarantineMonitor(CONFIG, clock=clock)
    monitor.observe(results(10, {"x": 1}))
    clock.now += 60 * 20
    monitor.observe(results(10, {}))
    assert monitor.rate("x").usual_matches == 0 and monitor.rate("x").usual_posts == 0


def test_replicas_exchanging_counts_judge_the_whole_traffic(tmp_path: Path) -> None:
    """Two monitors (two replicas) on one store: each sees half the matches, together they cross the line."""
    from service.core.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "counts.sqlite3")
    try:
        clock = Clock()
        one, two = QuarantineMonitor(CONFIG, clock=clock), QuarantineMonitor(CONFIG, clock=clock)
        for _ in range(4):  # warm-up, 1% usual rate seen by each
            one.observe(results(100, {"x": 1}))
            two.observe(results(100, {"x": 1}))
            clock.now += 60
        clock.now += 60  # the recent window holds none of that history
        assert one.observe(results(3, {"x": 3})) == []  # 3 matches: under min_matches alone
        one.exchange(store.match_counts, "r1")
        two.exchange(store.match_counts, "r2")
        assert two.observe(results(2, {"x": 2})) == ["x"]  # 5 in the window across both
        rate = two.rate("x")
        assert (rate.recent_matches, rate.recent_posts) == (5, 5) and rate.usual_posts == 800
        two.exchange(store.match_counts, "r2")
        assert two.rate("x") == rate  # its own counts, now read back from the store, are not counted twice
        store.match_counts.forget(["x"], through_bucket=one.current_bucket())
        one.forget(["x"])
        one.exchange(store.match_counts, "r1")
        assert one.rate("x").recent_matches == 0 and one.rate("x").recent_posts == 5
    finally:
        store.close()


def test_disabled_monitor_observes_nothing() -> None:
    monitor = QuarantineMonitor(QuarantineConfig(enabled=False, min_matches=1))
    assert monitor.observe(results(10, {"x": 10})) == []


# -- HoldOuts over a real store -------------------------------------------------


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Opened]:
    with engine_at(tmp_path) as o:
        add(o.curation, ref("a"), ref("b", 1))
        yield o


@pytest.fixture
def holdouts(opened: Opened) -> Iterator[HoldOuts]:
    held = HoldOuts(QuarantineMonitor(QUICK_QUARANTINE, clock=Clock()), opened.store.references)
    yield held
    held.close()


def trips(ref_id: str = "a") -> list[PostResult]:
    """A match call in which ``ref_id`` matches every one of 4 posts: over QUICK_QUARANTINE's line."""
    return results(4, {ref_id: 4})


def test_observe_holds_out_at_once_and_writes_later(opened: Opened, holdouts: HoldOuts) -> None:
    with GatedWrites(opened.store) as gate:
        holdouts.observe(trips())
        assert holdouts.held_out() == {"a"}
        assert gate.entered.wait(timeout=5)
        assert opened.state("a") is ReferenceState.ACTIVE
        gate.open()
        assert holdouts.flush(timeout=5)
    assert opened.state("a") is ReferenceState.QUARANTINED
    assert opened.state("b") is ReferenceState.ACTIVE


def test_the_decision_is_audited_as_system(opened: Opened, holdouts: HoldOuts) -> None:
    for _ in range(2):  # the second time it is already held: not decided (nor written) again
        holdouts.observe(trips())
        assert holdouts.flush(timeout=5)
    [entry] = audit_entries(opened.curation, target="a", action="quarantine")
    assert entry.actor == SYSTEM_ACTOR == "system"
    assert entry.old["state"] == "active" and entry.new["state"] == "quarantined"
    # The evidence is recorded with the decision.
    assert (entry.new["recent_matches"], entry.new["recent_rate"], entry.new["usual_rate"]) == (4, 1.0, 0.0)


def test_below_the_line_nothing_is_held(opened: Opened, holdouts: HoldOuts) -> None:
    holdouts.observe(results(4, {"a": 2}))  # 2 matches: under min_matches
    assert holdouts.held_out() == frozenset()
    assert holdouts.flush(timeout=1)
    assert opened.state("a") is ReferenceState.ACTIVE


def test_release_clears_and_starts_a_fresh_history(opened: Opened, holdouts: HoldOuts) -> None:
    holdouts.observe(trips())
    holdouts.flush()
    holdouts.release(["a"])
    assert holdouts.held_out() == frozenset()
    assert holdouts.monitor.rate("a").recent_matches == 0
    # With the old counts one more match would cross the line again at once.
    holdouts.observe(results(1, {"a": 1}))
    assert holdouts.held_out() == frozenset()


def test_close_drains_the_queue(opened: Opened, holdouts: HoldOuts) -> None:
    with GatedWrites(opened.store) as gate:
        holdouts.observe(trips())
        assert gate.entered.wait(timeout=5)
        threading.Timer(0.1, gate.open).start()
        holdouts.close()
        assert opened.state("a") is ReferenceState.QUARANTINED


def test_a_failed_write_is_logged_and_retried_at_the_next_crossing(opened: Opened, holdouts: HoldOuts, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR), GatedWrites(opened.store, fail=True) as gate:
        gate.open()
        holdouts.observe(trips())
        assert holdouts.flush(timeout=5)
    assert "could not record quarantine" in caplog.text
    # Nothing was stored, so the store governs: the item is not held on a decision that never landed...
    assert holdouts.held_out() == frozenset() and opened.state("a") is ReferenceState.ACTIVE
    # ...and its rate is still over the line, so the next match that sees it decides again, and the write lands.
    holdouts.observe(trips())
    assert holdouts.flush(timeout=5)
    assert opened.state("a") is ReferenceState.QUARANTINED


def test_an_analysts_change_before_the_write_wins(opened: Opened, holdouts: HoldOuts) -> None:
    # Quarantine moves only active items: a disable that lands first stays.
    with GatedWrites(opened.store) as gate:
        holdouts.observe(trips())
        assert gate.entered.wait(timeout=5)
        opened.curation.references.disable(["a"], until=None, actor=ACTOR)
        gate.open()
        assert holdouts.flush(timeout=5)
    assert opened.state("a") is ReferenceState.DISABLED
    assert audit_entries(opened.curation, target="a", action="quarantine") == []


# -- through the engine ---------------------------------------------------------


def test_match_returns_before_the_quarantine_write_lands(tmp_path: Path) -> None:
    # The defect this pins: the Match path used to write hold-outs to the store inside the request.
    with engine_at(tmp_path, quarantine=QUICK_QUARANTINE) as o:
        add(o.curation, ref("a"), ref("b", 1))
        with GatedWrites(o.store) as gate:
            returned: list[list[PostResult]] = []
            worker = threading.Thread(target=lambda: returned.append(flood(o.engine, TEXTS[0])))
            worker.start()
            worker.join(timeout=5)
            assert not worker.is_alive(), "match waited for the store write"
            assert gate.entered.wait(timeout=5)
            # The call that tripped still returns its matches...
            assert [m.reference_id for m in returned[0][0].matches] == ["a"]
            # ...the store has not been told yet, and the next match already excludes the item.
            assert o.state("a") is ReferenceState.ACTIVE
            assert matched_ids(o.engine, TEXTS[0]) == []
            assert matched_ids(o.engine, TEXTS[1]) == ["b"]
            gate.open()
            assert o.curation.holdouts.flush(timeout=5)
        assert o.state("a") is ReferenceState.QUARANTINED
        assert [e.actor for e in audit_entries(o.curation, target="a", action="quarantine")] == [SYSTEM_ACTOR]


def test_release_through_curation_returns_the_item_to_matching(tmp_path: Path) -> None:
    with engine_at(tmp_path, quarantine=QUICK_QUARANTINE) as o:
        add(o.curation, ref("a"))
        flood(o.engine, TEXTS[0])
        # No flush: release itself waits for the decision being written.
        assert o.curation.references.release(["a"], actor=ACTOR).changed == ("a",)
        assert o.state("a") is ReferenceState.ACTIVE and o.curation.holdouts.held_out() == frozenset()
        assert matched_ids(o.engine, TEXTS[0]) == ["a"]


def test_quarantined_item_disabled_then_enabled_matches_again(tmp_path: Path) -> None:
    with engine_at(tmp_path, quarantine=QUICK_QUARANTINE) as o:
        refs = o.curation.references
        add(o.curation, ref("a"))
        quarantine(o, TEXTS[0])
        refs.disable(["a"], until=None, actor=ACTOR)
        refs.enable(["a"], actor=ACTOR)
        assert o.state("a") is ReferenceState.ACTIVE
        assert matched_ids(o.engine, TEXTS[0]) == ["a"]
