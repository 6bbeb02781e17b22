"""Prometheus metrics: what the service does, per RPC, per stage of matching, per verdict.

One :class:`Metrics` per server, on its own registry (so several servers in
one process, as in the tests, do not collide). The interceptors count calls,
errors, refused authentications and concurrency-limit rejections; the core
reports stages, verdicts, encoder batches and quarantines through
:class:`MetricsObserver`; gauges read the index size and snapshot age when
scraped. Exposed over HTTP by :func:`serve_metrics` (``server.metrics_port``).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from service.core import Observer, PostResult

# Latency buckets from a cached exact match (~1 ms) to a 256-post batch on CPU (~10 s).
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("nigran_requests_total", "RPCs answered, by method and status code", ["method", "code"], registry=r)
        self.request_seconds = Histogram(
            "nigran_request_seconds", "RPC latency, by method", ["method"], buckets=_SECONDS, registry=r
        )
        self.stage_seconds = Histogram(
            "nigran_match_stage_seconds", "Time per stage of one match call (prepare, exact, embed, search, store, assemble, decide)",
            ["stage"], buckets=_SECONDS, registry=r,
        )
        self.posts = Counter("nigran_posts_total", "Posts matched, by verdict", ["verdict"], registry=r)
        self.matches = Counter("nigran_matches_total", "Matches returned, by verdict, bank and signal", ["verdict", "bank", "signal"], registry=r)
        self.embed_batch = Histogram("nigran_embed_batch_size", "Texts per encoder batch", buckets=_BATCH, registry=r)
        self.embed_queue = Gauge("nigran_embed_queue_depth", "Requests waiting for the encoder when a batch started", registry=r)
        self.cache_lookups = Counter(
            "nigran_embedding_cache_total", "Texts looked up in the embedding cache, by result (hit or miss)", ["result"], registry=r
        )
        self.fast_path = Counter("nigran_fast_path_posts_total", "Posts settled by their fingerprint without the model", registry=r)
        self.quarantined = Counter("nigran_quarantined_total", "Items the match-rate monitor held out", registry=r)
        self.auth_failures = Counter("nigran_auth_failures_total", "Refused authentications, by reason", ["reason"], registry=r)
        self.rejected = Counter(
            "nigran_rejected_total", "Calls refused by the concurrency budget (RESOURCE_EXHAUSTED), by kind", ["kind"], registry=r
        )
        self.index_size = Gauge("nigran_index_size", "Vectors in the live index", registry=r)
        self.snapshot_age = Gauge("nigran_snapshot_age_seconds", "Seconds since this process last wrote an index snapshot", registry=r)
        self.change_lag = Gauge(
            "nigran_change_lag_seconds", "Seconds since this replica was last caught up with the shared store's change log", registry=r
        )

    def watch_index(self, size: Callable[[], int], last_snapshot_at: Callable[[], float | None]) -> None:
        """Read the index's size and snapshot time whenever Prometheus scrapes."""
        self.index_size.set_function(lambda: float(size()))

        def age() -> float:
            at = last_snapshot_at()
            return float("nan") if at is None else time.time() - at

        self.snapshot_age.set_function(age)

    def watch_lag(self, lag: Callable[[], float]) -> None:
        self.change_lag.set_function(lag)


class MetricsObserver(Observer):
    """The core's ``Observer``, feeding :class:`Metrics`."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def stage(self, name: str, seconds: float, posts: int) -> None:
        self._m.stage_seconds.labels(name).observe(seconds)

    def matched(self, results: Sequence[PostResult]) -> None:
        for result in results:
            self._m.posts.labels(result.verdict.name).inc()
            for match in result.matches:
                self._m.matches.labels(match.kind.name, match.bank, match.signal.name).inc()

    def embedded(self, batch: int, queued: int) -> None:
        self._m.embed_batch.observe(batch)
        self._m.embed_queue.set(queued)

    def embedding_cache(self, hits: int, misses: int) -> None:
        self._m.cache_lookups.labels("hit").inc(hits)
        self._m.cache_lookups.labels("miss").inc(misses)

    def fast_path(self, posts: int) -> None:
        self._m.fast_path.inc(posts)

    def quarantined(self, ids: Sequence[str]) -> None:
        self._m.quarantined.inc(len(ids))


def serve_metrics(metrics: Metrics, host: str, port: int) -> tuple[Any, int]:
    """Start the HTTP endpoint (``/metrics``); returns the server (``shutdown()`` it) and the bound port."""
    server, _ = start_http_server(port, addr=host, registry=metrics.registry)
    return server, int(server.server_port)
