"""Background rebuild of the vector index when it drifts from the store.

Writes patch the live index in place (add, ``remove_ids``), so the index
normally equals the store. It can still drift: many removals leave an IVF
index's lists unbalanced, and a write that crashed between the store and the
index leaves them apart until restart. The compactor builds a fresh index
from the vectors in the store on a background thread while matching goes on
against the old one, then reconciles the writes that happened meanwhile and
swaps it in under the engine's write lock (a pause of milliseconds).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from service.core.config import CompactionConfig
from service.core.index import FaissIndex, VectorIndex

if TYPE_CHECKING:
    from service.core.engine import Engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Drift:
    """Ids the store has but the index lacks, and ids the index has but the store does not."""

    missing: int
    extra: int

    @property
    def total(self) -> int:
        return self.missing + self.extra


class IndexCompactor:
    def __init__(self, engine: "Engine", config: CompactionConfig) -> None:
        self._engine = engine
        self.config = config
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.removed_since_build = 0
        self.rebuilds = 0

    def note_removed(self, n: int) -> None:
        with self._lock:
            self.removed_since_build += n
            due = self.removed_since_build >= self.config.after_removals
        if due:
            self.start()

    def drift(self) -> Drift:
        store_ids = self._engine.store.indexable_vids(self._engine.embedder.model_id)
        index_ids = self._engine.index_ids()
        return Drift(
            missing=int(np.setdiff1d(store_ids, index_ids, assume_unique=True).size),
            extra=int(np.setdiff1d(index_ids, store_ids, assume_unique=True).size),
        )

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> bool:
        """Start a background rebuild unless one is running; returns whether one started."""
        with self._lock:
            if self.running:
                return False
            self.removed_since_build = 0
            self._thread = threading.Thread(target=self._rebuild, name="index-compaction", daemon=True)
            self._thread.start()
            return True

    def wait(self, timeout: float | None = None) -> bool:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def _rebuild(self) -> None:
        engine = self._engine
        try:
            fresh = FaissIndex(engine.embedder.dim)
            for vids, vectors in engine.store.indexable_vectors(engine.embedder.model_id):
                fresh.add(vids, vectors)
            engine.swap_index(fresh, reconcile=self._reconcile)
            self.rebuilds += 1
            log.info("index compacted: %d vectors", len(fresh))
        except Exception:  # noqa: BLE001 - a failed rebuild leaves the live index serving
            log.exception("background index rebuild failed; the live index keeps serving")

    def _reconcile(self, fresh: VectorIndex) -> None:
        """Apply the writes made while ``fresh`` was being built (called under the write lock)."""
        extra, vids, vectors = self._engine.store.index_delta(
            fresh.ids(), self._engine.embedder.model_id  # type: ignore[attr-defined]
        )
        fresh.remove(extra)
        if len(vids):
            fresh.add(vids, vectors)
