"""The heap trimmer really hands freed memory back, and runs on its timer until stopped."""

from __future__ import annotations

import threading
import time

import pytest

from service.api.memory import HeapTrimmer, _glibc_trim


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_trim_returns_freed_fragmented_heap_to_the_os() -> None:
    trim = _glibc_trim()
    if trim is None:
        pytest.skip("no glibc malloc_trim here")
    # 200 MB of small malloc'd blocks, one in 50 kept: the heap cannot shrink
    # from its top, so without a trim glibc keeps nearly all of it.
    blocks = [bytes(2000) + bytes([i % 256]) for i in range(100_000)]
    keep = blocks[::50]
    del blocks
    before = rss_mb()
    trim()
    after = rss_mb()
    assert len(keep) == 2000
    assert before - after > 100, f"RSS {before:.0f} MB -> {after:.0f} MB"


def test_the_trimmer_runs_on_its_timer_and_stops() -> None:
    called = threading.Event()
    trimmer = HeapTrimmer(0.01, trim=called.set).start()
    try:
        assert called.wait(5)
    finally:
        trimmer.stop()
    done = trimmer.trims
    time.sleep(0.05)
    assert trimmer.trims == done


def test_zero_seconds_means_no_thread() -> None:
    trimmer = HeapTrimmer(0, trim=lambda: None).start()
    time.sleep(0.02)
    trimmer.stop()
    assert trimmer.trims == 0
