"""Micro-batching: concurrent callers share forward passes and get their own rows back."""

from __future__ import annotations

import threading
from typing import Sequence

import numpy as np
import pytest

from service.core.embedding.batching import BatchingEmbedder
from service.core.index.base import Vectors
from tests.support.doubles import GatedEmbedder, HashingEmbedder


def test_concurrent_requests_are_coalesced_and_rows_routed_back() -> None:
    slow = GatedEmbedder()
    batcher = BatchingEmbedder(slow, max_batch=64)
    texts = [f"post number {i} about something" for i in range(20)]
    results: dict[int, np.ndarray] = {}

    def call(i: int) -> None:
        results[i] = batcher.embed([texts[i]])

    first = threading.Thread(target=call, args=(0,))
    first.start()
    while not slow.batches:  # the first call is now inside the encoder
        threading.Event().wait(0.001)
    rest = [threading.Thread(target=call, args=(i,)) for i in range(1, 20)]
    for t in rest:
        t.start()
    threading.Event().wait(0.2)  # let the others queue up behind it
    slow.gate.set()
    for t in [first, *rest]:
        t.join(timeout=10)
    batcher.close()
    assert slow.batches[0] == 1 and sum(slow.batches) == 20 and len(slow.batches) <= 3
    expected = HashingEmbedder().embed(texts)
    for i in range(20):
        np.testing.assert_allclose(results[i][0], expected[i], atol=1e-6)


def test_errors_reach_every_caller_and_the_worker_survives() -> None:
    class Failing(HashingEmbedder):
        def embed(self, texts: Sequence[str]) -> Vectors:
            if any("boom" in t for t in texts):
                raise RuntimeError("encoder failed")
            return super().embed(texts)

    batcher = BatchingEmbedder(Failing())
    with pytest.raises(RuntimeError, match="encoder failed"):
        batcher.embed(["boom"])
    assert batcher.embed(["fine"]).shape == (1, batcher.dim)
    batcher.close()
