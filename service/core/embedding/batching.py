"""Cross-request micro-batching for the embedder.

Platforms send one post per Match call, many calls at once. The encoder does
far more work per second on a batch than on single sentences, so concurrent
calls are coalesced: a single worker takes every request waiting at that
moment and embeds them in one pass. Nothing waits on a timer, so a lone
request pays no extra latency; under load, batches form by themselves while
the previous batch is computing.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from service.core.cancellation import StopCheck, never
from service.core.embedding.embedder import Embedder, Vectors
from service.core.errors import Cancelled
from service.core.observe import NO_OBSERVER, Observer


@dataclass
class _Job:
    texts: Sequence[str]
    stop: StopCheck = never
    result: "Future[Vectors]" = field(default_factory=Future)


class BatchingEmbedder(Embedder):
    def __init__(self, inner: Embedder, *, max_batch: int = 64, observer: Observer = NO_OBSERVER) -> None:
        self.inner = inner
        self._observer = observer
        self.dim = inner.dim
        self.model_id = inner.model_id
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._run, name="embed-batcher", daemon=True)
        self._worker.start()

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.embed_until(texts, never)

    def embed_until(self, texts: Sequence[str], stop: StopCheck) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        job = _Job(texts, stop)
        self._queue.put(job)
        return job.result.result()

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=30)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            size = len(job.texts)
            stop = False
            while size < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                jobs.append(nxt)
                size += len(nxt.texts)
            self._embed(jobs)
            if stop:
                return

    def _embed(self, jobs: list[_Job]) -> None:
        # A caller that left while its job queued costs nothing; one that leaves
        # while its batch runs stops it only if everyone in the batch has left.
        waiting = []
        for job in jobs:
            if job.stop():
                job.result.set_exception(Cancelled("stopped before embedding: the caller's deadline passed or it cancelled"))
            else:
                waiting.append(job)
        if not waiting:
            return
        jobs = waiting
        self._observer.embedded(sum(len(job.texts) for job in jobs), self._queue.qsize())
        try:
            vectors = self.inner.embed_until([t for job in jobs for t in job.texts], lambda: all(job.stop() for job in jobs))
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller
            for job in jobs:
                job.result.set_exception(exc)
            return
        start = 0
        for job in jobs:
            job.result.set_result(vectors[start : start + len(job.texts)])
            start += len(job.texts)
