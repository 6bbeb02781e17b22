"""The quarantine monitor's rate arithmetic, on a controlled clock."""

from __future__ import annotations

from service.core.config import QuarantineConfig
from service.core.domain import Match, PostResult, Signal, Verdict
from service.core.quarantine import QuarantineMonitor

CONFIG = QuarantineConfig(bucket_seconds=60, window_buckets=2, history_buckets=10, warmup_buckets=3, min_matches=5, rate_ratio=10.0, min_usual_rate=0.001)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def results(n_posts: int, matching: dict[str, int]) -> list[PostResult]:
    out = []
    for i in range(n_posts):
        matches = tuple(
            Match(reference_id=ref, score=1.0, kind=Verdict.REUPLOAD, signal=Signal.EXACT, bank="b", labels=(), cosine=1.0, reference_lang="en")
            for ref, count in matching.items()
            if i < count
        )
        out.append(PostResult(post_id=str(i), verdict=Verdict.REUPLOAD if matches else Verdict.NO_MATCH, matches=matches, detected_lang="en"))
    return out


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


def test_disabled_monitor_observes_nothing() -> None:
    monitor = QuarantineMonitor(QuarantineConfig(enabled=False, min_matches=1))
    assert monitor.observe(results(10, {"x": 10})) == []
