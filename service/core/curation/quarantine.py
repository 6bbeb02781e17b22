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
decisions themselves are persisted in the store and audited). With a store
that replicas share, counts also go through the store, so every replica
judges the whole traffic (:meth:`QuarantineMonitor.exchange`).

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
from typing import Callable, Iterable, Mapping, Sequence

from service.core.config import QuarantineConfig
from service.core.curation import transitions
from service.core.domain import MatchRate, PostResult
from service.core.observe import NO_OBSERVER, Observer
from service.core.store.base import POSTS, MatchCountRows, ReferenceRows

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"


class _Counts:
    """Posts matched per bucket, and each item's matches per bucket."""

    def __init__(self) -> None:
        self.posts: dict[int, int] = defaultdict(int)
        self.matches: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    @classmethod
    def of(cls, flat: Mapping[tuple[str, int], int]) -> "_Counts":
        counts = cls()
        for (ref_id, bucket), n in flat.items():
            if ref_id == POSTS:
                counts.posts[bucket] += n
            else:
                counts.matches[ref_id][bucket] += n
        return counts

    def flat(self) -> dict[tuple[str, int], int]:
        out = {(POSTS, b): n for b, n in self.posts.items()}
        out.update({(ref_id, b): n for ref_id, counts in self.matches.items() for b, n in counts.items()})
        return out

    def merge(self, other: "_Counts") -> None:
        for b, n in other.posts.items():
            self.posts[b] += n
        for ref_id, counts in other.matches.items():
            for b, n in counts.items():
                self.matches[ref_id][b] += n

    def split(self, ref_id: str, recent_from: int) -> tuple[int, int, int, int]:
        """(recent matches, recent posts, usual matches, usual posts)."""
        counts = self.matches.get(ref_id, {})
        return (
            sum(n for b, n in counts.items() if b >= recent_from), sum(n for b, n in self.posts.items() if b >= recent_from),
            sum(n for b, n in counts.items() if b < recent_from), sum(n for b, n in self.posts.items() if b < recent_from),
        )

    def prune(self, oldest: int) -> None:
        for b in [b for b in self.posts if b < oldest]:
            del self.posts[b]
        for ref_id in list(self.matches):
            counts = self.matches[ref_id]
            for b in [b for b in counts if b < oldest]:
                del counts[b]
            if not counts:
                del self.matches[ref_id]


class QuarantineMonitor:
    """Match rates over time buckets, from this process's counts and, with a shared store, every replica's.

    With a store that replicas share, :meth:`exchange` (run by the change
    follower, about once a second) moves this process's counts into the store
    (``MatchCountRows``) and reads back everyone's, so each replica judges the
    whole traffic, not the share its balancer sends it. A decision is still
    made once: quarantining is a state change from ACTIVE only, under the
    store's one-writer-at-a-time rule, so a second replica crossing the line
    finds the item already quarantined and writes nothing.
    """

    def __init__(self, config: QuarantineConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._local = _Counts()  # not yet in the store
        self._in_flight = _Counts()  # being written to the store now
        self._shared = _Counts()  # everyone's, as the store had it at the last exchange
        self._pruned_at = -1
        # The oldest bucket the shared store was last pruned to: pruning takes the store's write
        # lock, so it runs when that bucket moves on, not at every exchange of every replica.
        self._store_pruned_to: int | None = None
        self._first_bucket: int | None = None

    def _bucket(self, now: float) -> int:
        return int(now // self.config.bucket_seconds)

    def current_bucket(self) -> int:
        return self._bucket(self._clock())

    def _oldest(self, bucket: int) -> int:
        return bucket - self.config.window_buckets - self.config.history_buckets + 1

    def observe(self, results: Sequence[PostResult]) -> list[str]:
        """Count one match call; returns ids that just crossed the quarantine line."""
        if not self.config.enabled or not results:
            return []
        bucket = self._bucket(self._clock())
        matched = {m.reference_id for r in results for m in r.matches}
        with self._lock:
            if self._first_bucket is None:
                self._first_bucket = bucket
            self._local.posts[bucket] += len(results)
            for result in results:
                for ref_id in {m.reference_id for m in result.matches}:
                    self._local.matches[ref_id][bucket] += 1
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
                for counts in (self._local, self._in_flight, self._shared):
                    counts.matches.pop(ref_id, None)

    def exchange(self, rows: MatchCountRows, replica: str) -> None:
        """Hand this process's counts to the store and take back every replica's (a shared store only)."""
        if not self.config.enabled:
            return
        bucket = self._bucket(self._clock())
        with self._lock:
            self._in_flight, self._local = self._local, _Counts()
            pending = self._in_flight.flat()
        try:
            rows.add(replica, pending)
        except BaseException:
            with self._lock:
                self._local.merge(self._in_flight)
                self._in_flight = _Counts()
            raise
        shared = _Counts.of(rows.totals(since_bucket=self._oldest(bucket), excluding=""))
        with self._lock:
            self._shared, self._in_flight = shared, _Counts()
        if self._store_pruned_to != self._oldest(bucket):
            rows.prune(before_bucket=self._oldest(bucket))
            self._store_pruned_to = self._oldest(bucket)

    def _crossed(self, rate: MatchRate) -> bool:
        cfg = self.config
        if rate.recent_matches < cfg.min_matches:
            return False
        usual = max(rate.usual_rate, cfg.min_usual_rate)
        return rate.recent_rate >= cfg.rate_ratio * usual

    def _rate(self, ref_id: str, bucket: int) -> MatchRate:
        recent_from = bucket - self.config.window_buckets + 1
        parts = [c.split(ref_id, recent_from) for c in (self._local, self._in_flight, self._shared)]
        return MatchRate(*(sum(p[i] for p in parts) for i in range(4)))

    def _prune(self, bucket: int) -> None:
        if bucket == self._pruned_at:
            return
        self._pruned_at = bucket
        for counts in (self._local, self._shared):
            counts.prune(self._oldest(bucket))


class HoldOuts:
    """Quarantine decisions: held out of matching at once, written to the store off the request path."""

    def __init__(
        self, monitor: QuarantineMonitor, references: ReferenceRows, observer: Observer = NO_OBSERVER, *, counts: MatchCountRows | None = None
    ) -> None:
        self.monitor = monitor
        self._references = references
        # With a shared store: where every replica's counts live, so a release forgets them everywhere.
        self._counts = counts
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
        if self._counts is not None:
            self._counts.forget(released, through_bucket=self.monitor.current_bucket())
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
