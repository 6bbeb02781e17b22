"""What the core reports about its own work, for whoever watches (metrics, tests).

The core stays free of any metrics library: it calls an :class:`Observer`,
which does nothing by default; the gRPC layer installs one that feeds
Prometheus (``service/api/metrics.py``).
"""

from __future__ import annotations

from typing import Sequence

from service.core.domain import PostResult

#: The stages of matching a batch of posts, in order, as ``Observer.stage`` names them.
STAGES = ("prepare", "exact", "embed", "search", "store", "assemble", "decide")


class Observer:
    def stage(self, name: str, seconds: float, posts: int) -> None:
        """One stage of one match call took ``seconds`` for ``posts`` posts."""

    def matched(self, results: Sequence[PostResult]) -> None:
        """The results a match call returned (verdicts, banks, signals)."""

    def embedded(self, batch: int, queued: int) -> None:
        """The encoder ran one batch of ``batch`` texts with ``queued`` requests still waiting."""

    def embedding_cache(self, hits: int, misses: int) -> None:
        """One embedding request: ``hits`` texts came from the cache, ``misses`` went to the model."""

    def fast_path(self, posts: int) -> None:
        """``posts`` posts of one match call were settled by their fingerprint, without the model."""

    def quarantined(self, ids: Sequence[str]) -> None:
        """The monitor held these items out of matching."""


NO_OBSERVER = Observer()
