"""TEST DOUBLES ONLY: embedders that are slow, or that hold calls in flight, on purpose.

They stand in for the real model in tests about the gRPC layer's behaviour
under load (admission budgets, deadlines, cancellation), where what matters is
how long an embedding takes and when it may stop, not the vectors.
"""

from __future__ import annotations

import threading
import time
from typing import Sequence

import numpy as np

from service.core.cancellation import StopCheck, never, stop_if_asked
from service.core.index.base import Vectors
from tests.support.doubles import HashingEmbedder


class SlowEmbedder(HashingEmbedder):
    """Takes ``seconds`` per batch of ``batch_size`` texts, and stops between batches like the real model.

    One batch runs at a time (a lock, as the real embedder serialises its
    forward passes), so work that should have stopped also delays everyone else.
    A batch of a single text (a test's probe) takes no time of its own, so how
    long a probe takes is how long it waited. ``batches`` holds the size of
    every batch embedded, in order.
    """

    def __init__(self, seconds: float = 0.25, batch_size: int = 32) -> None:
        super().__init__()
        self.seconds = seconds
        self.batch_size = batch_size
        self.batches: list[int] = []
        # Set when a batch of more than one text begins: lets a test cancel mid-work.
        self.big_batch_started = threading.Event()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.embed_until(texts, never)

    def embed_until(self, texts: Sequence[str], stop: StopCheck) -> Vectors:
        pieces = []
        for start in range(0, len(texts), self.batch_size):
            stop_if_asked(stop, "the next embedding batch")
            piece = texts[start : start + self.batch_size]
            with self._lock:
                if len(piece) > 1:
                    self.big_batch_started.set()
                    time.sleep(self.seconds)
                self.batches.append(len(piece))
                pieces.append(super().embed(piece))
        return np.concatenate(pieces) if pieces else np.zeros((0, self.dim), dtype=np.float32)

    def big_batches(self) -> int:
        """Batches of more than one text: the many-post call's, not a single-post probe's."""
        return sum(1 for size in self.batches if size > 1)


class BlockingEmbedder(HashingEmbedder):
    """Holds every call until ``release`` is set (or ``hold_seconds`` pass), counting calls in flight."""

    def __init__(self, hold_seconds: float = 30.0) -> None:
        super().__init__()
        self.release = threading.Event()
        self._hold_seconds = hold_seconds
        self._entered = 0
        self._changed = threading.Condition()

    def embed(self, texts: Sequence[str]) -> Vectors:
        with self._changed:
            self._entered += 1
            self._changed.notify_all()
        self.release.wait(self._hold_seconds)
        return super().embed(texts)

    def wait_entered(self, count: int, timeout: float) -> bool:
        """Whether ``count`` calls have reached the embedder within ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self._entered >= count, timeout)

    @property
    def entered(self) -> int:
        with self._changed:
            return self._entered
