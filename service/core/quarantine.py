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
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from service.core.config import QuarantineConfig
from service.core.domain import PostResult


@dataclass(frozen=True)
class MatchRate:
    """An item's recent and usual match rates (matches per post)."""

    recent_matches: int
    recent_posts: int
    usual_matches: int
    usual_posts: int

    @property
    def recent_rate(self) -> float:
        return self.recent_matches / self.recent_posts if self.recent_posts else 0.0

    @property
    def usual_rate(self) -> float:
        return self.usual_matches / self.usual_posts if self.usual_posts else 0.0


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
