"""Recently embedded texts, kept so a repeat costs a dictionary lookup, not a forward pass.

Viral posts repeat: the same clean text arrives from many accounts within
minutes, and an exact re-upload of a reference is settled without the model
anyway (``Engine.candidates``), but a repeat of a post that matches nothing,
or matches only by meaning, would pay the encoder every time. The cache sits
in front of the micro-batcher, so only texts it has not seen are queued.

Keys are (model id, clean text): vectors of two models never mix, even when
a hot swap replaces the model under a warm cache. Size is bounded in bytes
(``model.embedding_cache_mb``), least recently used first out. Repeats within
one call are embedded once.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np

from service.core.cancellation import StopCheck, never
from service.core.embedding.embedder import Embedder, Vectors
from service.core.observe import NO_OBSERVER, Observer

# What one entry costs beyond its vector and its text: the OrderedDict node,
# the key tuple and the array header, measured with tracemalloc on CPython 3.11.
ENTRY_OVERHEAD_BYTES = 250


class CachingEmbedder(Embedder):
    def __init__(self, inner: Embedder, *, max_bytes: int, observer: Observer = NO_OBSERVER) -> None:
        self.inner = inner
        self.dim = inner.dim
        self.model_id = inner.model_id
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._observer = observer
        self._entries: OrderedDict[tuple[str, str], Vectors] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return len(self._entries)

    @property
    def bytes_used(self) -> int:
        return self._bytes

    @property
    def hit_rate(self) -> float:
        seen = self.hits + self.misses
        return self.hits / seen if seen else 0.0

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.embed_until(texts, never)

    def embed_until(self, texts: Sequence[str], stop: StopCheck) -> Vectors:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                vector = self._entries.get((self.model_id, text))
                if vector is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._entries.move_to_end((self.model_id, text))
                    out[i] = vector
        if missing:
            unique = list(missing)
            vectors = self.inner.embed_until(unique, stop)
            for text, vector in zip(unique, vectors):
                out[missing[text]] = vector
            self._keep(unique, vectors)
        hits = len(texts) - len(missing)
        with self._lock:
            self.hits += hits
            self.misses += len(missing)
        self._observer.embedding_cache(hits, len(missing))
        return out

    def _keep(self, texts: Sequence[str], vectors: Vectors) -> None:
        with self._lock:
            for text, vector in zip(texts, vectors):
                key = (self.model_id, text)
                if key in self._entries:
                    continue  # another call embedded it meanwhile
                cost = _cost(text, vector)
                if cost > self.max_bytes:
                    continue
                kept = vector.copy()
                kept.setflags(write=False)
                self._entries[key] = kept
                self._bytes += cost
            while self._bytes > self.max_bytes:
                (_, text), vector = self._entries.popitem(last=False)
                self._bytes -= _cost(text, vector)

    def close(self) -> None:
        self.inner.close()


def _cost(text: str, vector: Vectors) -> int:
    return sys.getsizeof(text) + int(vector.nbytes) + ENTRY_OVERHEAD_BYTES
