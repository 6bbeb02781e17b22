"""Automatic quarantine of items whose match rate suddenly jumps.

An item that starts matching a large share of traffic is far more likely to
be a bad reference (a greeting, a common slogan, a mis-pasted text) than a
real campaign, and every match it makes costs a reviewer time. So each item's
match rate (its matches / posts matched, per time bucket) is compared between
a short recent window and its longer usual history; when the recent rate jumps
``rate_ratio`` times above the usual one (with a floor for items that never
matched before) and enough matches back it up, the item is held out of
matching until an analyst releases it.

Counts live in memory: after a restart, history starts again (quarantine
decisions themselves are persisted in the store and audited).

Deciding happens on the match path, but the store write does not: the match
call hands the ids to :class:`HoldOuts`, which holds them out of matching at
once (``Admission.held_out``) and writes the audited state change on its own
thread; once the write has landed, the store's state governs again (so an
analyst's later disable and enable behave as for any item). ``close`` drains
what is still queued.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from typing import Callable, Iterable, Sequence

from service.core.config import QuarantineConfig
from service.core.curation import transitions
from service.core.domain import MatchRate, PostResult
from service.core.observe import NO_OBSERVER, Observer
from service.core.store.base import ReferenceRows

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"


class QuarantineMonitor:
    def __init__(self, config: QuarantineConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._posts: dict[int, int] = defaultdict(int)
        self._matches: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self._pruned_at = -1
        self._first_bucket: int | None = None

    def _bucket(self, now: float) -> int:
        return int(now // self.config.bucket_seconds)

    def observe(self, results: Sequence[PostResult]) -> list[str]:
        """Count one match call; returns ids that just crossed the quarantine line."""
        if not self.config.enabled or not results:
            return []
        bucket = self._bucket(self._clock())
        matched = {m.reference_id for r in results for m in r.matches}
        with self._lock:
            if self._first_bucket is None:
                self._first_bucket = bucket
            self._posts[bucket] += len(results)
            for result in results:
                for ref_id in {m.reference_id for m in result.matches}:
                    self._matches[ref_id][bucket] += 1
            self._prune(bucket)
            if bucket - self._first_bucket < self.config.warmup_buckets:
                return []
            return [ref_id for ref_id in sorted(matched) if self._crossed(self._rate(ref_id, bucket))]

    def rate(self, ref_id: str) -> MatchRate:
        with self._lock:
            return self._rate(ref_id, self._bucket(self._clock()))

    def forget(self, ref_ids: Iterable[str]) -> None:
        """Start an item's history afresh (on release, so it is not re-quarantined at once)."""
        with self._lock:
            for ref_id in ref_ids:
                self._matches.pop(ref_id, None)

    def _crossed(self, rate: MatchRate) -> bool:
        cfg = self.config
        if rate.recent_matches < cfg.min_matches:
            return False
        usual = max(rate.usual_rate, cfg.min_usual_rate)
        return rate.recent_rate >= cfg.rate_ratio * usual

    def _rate(self, ref_id: str, bucket: int) -> MatchRate:
        recent_from = bucket - self.config.window_buckets + 1
        counts = self._matches.get(ref_id, {})
        recent_m = sum(n for b, n in counts.items() if b >= recent_from)
        usual_m = sum(n for b, n in counts.items() if b < recent_from)
        recent_p = sum(n for b, n in self._posts.items() if b >= recent_from)
        usual_p = sum(n for b, n in self._posts.items() if b < recent_from)
        return MatchRate(recent_m, recent_p, usual_m, usual_p)

    def _prune(self, bucket: int) -> None:
        if bucket == self._pruned_at:
            return
        self._pruned_at = bucket
        oldest = bucket - self.config.window_buckets - self.config.history_buckets + 1
        for b in [b for b in self._posts if b < oldest]:
            del self._posts[b]
        for ref_id in list(self._matches):
            counts = self._matches[ref_id]
            for b in [b for b in counts if b < oldest]:
                del counts[b]
            if not counts:
                del self._matches[ref_id]


class HoldOuts:
    """Quarantine decisions: held out of matching at once, written to the store off the request path."""

    def __init__(self, monitor: QuarantineMonitor, references: ReferenceRows, observer: Observer = NO_OBSERVER) -> None:
        self.monitor = monitor
        self._references = references
        self._observer = observer
        self._held: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self._writer = threading.Thread(target=self._run, name="quarantine-writer", daemon=True)
        self._writer.start()

    def held_out(self) -> frozenset[str]:
        """Ids decided but maybe not yet written. Read it before reading items from the store:
        an id leaves this set only after its write committed, so no match can miss both."""
        return self._held

    def observe(self, results: Sequence[PostResult]) -> None:
        """Count one match call; ids that just crossed the line are held out and queued for the store."""
        crossed = [ref_id for ref_id in self.monitor.observe(results) if ref_id not in self._held]
        if not crossed:
            return
        with self._lock:
            self._held = self._held | frozenset(crossed)
            self._pending += 1
        self._queue.put(crossed)

    def release(self, ids: Iterable[str]) -> None:
        """Forget ids an analyst released: a fresh match-rate history, no longer held."""
        released = frozenset(ids)
        self.monitor.forget(released)
        with self._lock:
            self._held = self._held - released

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued decision is in the store."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self.flush(timeout=30)
        self._queue.put(None)
        self._writer.join(timeout=30)

    def _run(self) -> None:
        while (ids := self._queue.get()) is not None:
            try:
                self._write(ids)
            except Exception:  # noqa: BLE001 - the monitor flags the item again on its next match, which retries
                log.exception("could not record quarantine of %s", ids)
            finally:
                with self._idle:
                    self._held = self._held - frozenset(ids)
                    self._pending -= 1
                    self._idle.notify_all()

    def _write(self, ids: list[str]) -> None:
        for ref_id in ids:
            rate = self.monitor.rate(ref_id)
            reason = {"recent_rate": round(rate.recent_rate, 6), "usual_rate": round(rate.usual_rate, 6), "recent_matches": rate.recent_matches}
            changed, _ = self._references.set_state([ref_id], transitions.quarantine(reason), actor=SYSTEM_ACTOR)
            if changed:
                log.warning("quarantined %s: %s", ref_id, reason)
                self._observer.quarantined([ref_id])
