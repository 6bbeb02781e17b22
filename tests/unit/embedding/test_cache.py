"""The embedding cache: the same vectors as the model, fewer forward passes, bounded bytes, one model per key."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest

from service.core import Cancelled, Embedder
from service.core.embedding.cache import CachingEmbedder, _cost
from service.core.index.base import Vectors
from tests.support.doubles import HashingEmbedder


class Counting(HashingEmbedder):
    """Records every text the model was asked for."""

    def __init__(self, model_id: str = "model-a") -> None:
        super().__init__()
        self.model_id = model_id
        self.asked: list[str] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.asked += list(texts)
        return super().embed(texts)


def cache_for(inner: Embedder, entries: int) -> CachingEmbedder:
    """A cache with room for about ``entries`` short texts."""
    one = _cost("text 00", np.zeros(inner.dim, np.float32))
    return CachingEmbedder(inner, max_bytes=one * entries)


def test_cached_vectors_are_the_models_and_repeats_skip_it() -> None:
    inner = Counting()
    cache = cache_for(inner, 100)
    first = cache.embed(["alpha", "beta"])
    again = cache.embed(["beta", "gamma", "alpha"])
    np.testing.assert_array_equal(first, inner.embed(["alpha", "beta"]))
    np.testing.assert_array_equal(again, inner.embed(["beta", "gamma", "alpha"]))
    assert inner.asked[:3] == ["alpha", "beta", "gamma"]
    assert (cache.hits, cache.misses) == (2, 3)
    assert cache.hit_rate == pytest.approx(0.4)


def test_repeats_within_one_call_are_embedded_once() -> None:
    inner = Counting()
    cache = cache_for(inner, 100)
    out = cache.embed(["same", "other", "same", "same"])
    assert inner.asked == ["same", "other"]
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_array_equal(out[0], out[3])


def test_least_recently_used_goes_first_and_bytes_stay_bounded() -> None:
    inner = Counting()
    cache = cache_for(inner, 3)
    cache.embed(["text 01", "text 02", "text 03"])
    cache.embed(["text 01"])  # now the most recently used
    cache.embed(["text 04"])  # evicts text 02, the least recent
    assert cache.size == 3 and cache.bytes_used <= cache.max_bytes
    inner.asked.clear()
    cache.embed(["text 01", "text 03", "text 04", "text 02"])
    assert inner.asked == ["text 02"]


def test_keys_carry_the_model_id() -> None:
    """Two caches over different models sharing nothing is trivial; one cache must not serve a vector across a model change."""
    inner = Counting("model-a")
    cache = cache_for(inner, 10)
    cache.embed(["post"])
    inner.model_id = "model-b"
    cache.model_id = inner.model_id  # as a hot swap would make it
    inner.asked.clear()
    cache.embed(["post"])
    assert inner.asked == ["post"]


def test_cancelled_work_caches_nothing() -> None:
    inner = Counting()
    cache = cache_for(inner, 10)
    with pytest.raises(Cancelled):
        cache.embed_until(["post"], lambda: True)
    assert cache.size == 0 and cache.misses == 0


def test_an_empty_call_is_an_empty_array() -> None:
    cache = cache_for(Counting(), 10)
    assert cache.embed([]).shape == (0, cache.dim)
