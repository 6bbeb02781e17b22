"""The live index: the one in-memory index the service searches, and everything that keeps it right.

It owns the vector index and the locks around it, the per-item rows kept
beside each vector (the reference's background neighbourhoods, which margin
scoring reads for every candidate), swapping in another index, applying the
store's delta, snapshots, and compaction.

Consistency rules:

* Writers (curation) hold :meth:`LiveIndex.writing` across their store write
  and the matching :meth:`add` / :meth:`remove`, so between writes the store's
  generation describes the index contents exactly.
* A vector becomes searchable in the same step as its row: rows are computed
  first, then set and the vector added under the index's write lock, and
  :meth:`search` reads hits and their rows under one read lock.
* The index is derived data. It is rebuilt from the stored vectors
  (:func:`fill_from_store`) when no snapshot can be used, and reconciled with
  the store (:func:`apply_delta`) whenever an index built elsewhere goes live:
  a snapshot at start, an ``index_builder`` artifact, a compaction.

Compaction exists because writes patch the index in place: many removals
leave an IVF index's lists unbalanced, and a write that crashed between the
store and the index leaves them apart until restart. A fresh index is built
from the store on a background thread while matching goes on, then
reconciled and swapped in (a pause of milliseconds).
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from numpy.typing import NDArray

from service.core.config import CompactionConfig
from service.core.domain import LoadedIndex
from service.core.errors import IndexCorrupt, InvalidInput, ModelMismatch
from service.core.index.artifact import Artifact, Manifest, check_belongs, new_version, open_artifact, snapshots, write_artifact
from service.core.index.base import NO_ID, Hit, Ids, Vectors, VectorIndex
from service.core.index.faiss_index import FaissIndex
from service.core.index.rerank import ExactRerank
from service.core.store.base import ReferenceStore, VectorRows

log = logging.getLogger(__name__)

#: Computes the per-item rows of a batch of vectors (one row per vector).
RowFunction = Callable[[Vectors], NDArray[np.float32]]

# Snapshots kept in the snapshot directory (the newest, and one to fall back on).
SNAPSHOTS_KEPT = 2
_ROW_BATCH = 10_000


class RWLock:
    """Many concurrent searches, or one index mutation (FAISS is not safe otherwise).

    A waiting writer goes first: new readers queue behind it, or steady match
    traffic would hold every curation write back indefinitely. Not re-entrant.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            self._cond.wait_for(lambda: not self._writer and self._readers == 0)
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass(frozen=True)
class IndexKind:
    """What kind of index is live: its type and parameters, as an artifact manifest records them."""

    type: str = "flat"
    params: dict[str, Any] = field(default_factory=dict)
    recall_at_10: float | None = None


@dataclass(frozen=True)
class Drift:
    """Vids the store has but the index lacks, and vids the index has but the store does not."""

    missing: int
    extra: int

    @property
    def total(self) -> int:
        return self.missing + self.extra


def fill_from_store(index: VectorIndex, vectors: VectorRows, model_id: str) -> VectorIndex:
    """Add every indexable stored vector to ``index``: the one "rebuild from the store"."""
    for vids, batch in vectors.indexable(model_id):
        index.add(vids, batch)
    return index


def apply_delta(index: VectorIndex, vectors: VectorRows, model_id: str) -> tuple[Ids, int]:
    """Bring ``index`` to the store's contents: the one "apply the store's delta".

    Removes vids the store no longer indexes and adds the ones it lacks, from
    their stored vectors. Returns (vids added, how many removed).
    """
    present = index.ids()
    wanted = vectors.indexable_vids(model_id)
    extra = np.setdiff1d(present, wanted, assume_unique=True)
    missing = np.setdiff1d(wanted, present, assume_unique=True)
    removed = index.remove(extra) if len(extra) else 0
    added: list[Ids] = []
    for start in range(0, len(missing), _ROW_BATCH):
        vids, batch = vectors.vectors_for(missing[start : start + _ROW_BATCH].tolist(), model_id)
        if len(vids):
            index.add(vids, batch)
            added.append(vids)
    return (np.concatenate(added) if added else np.zeros(0, np.int64)), removed


class LiveIndex:
    def __init__(
        self,
        index: VectorIndex,
        *,
        store: ReferenceStore,
        model_id: str,
        kind: IndexKind = IndexKind(),
        rows: RowFunction | None = None,
        rows_key: str = "",
        snapshot_dir: Path | None = None,
        snapshot_every: int = 1000,
        compaction: CompactionConfig = CompactionConfig(),
    ) -> None:
        self._index = index
        # What the rows were computed from (the background's fingerprint): snapshot rows are reused only under the same key.
        self._rows_key = rows_key
        self._kind = kind
        self._store = store
        self._model_id = model_id
        self._row_fn = rows
        self._rows = np.zeros((0, 0), dtype=np.float32)
        self._has_row = np.zeros(0, dtype=bool)
        self._snapshot_dir = snapshot_dir
        self._snapshot_every = snapshot_every
        self._compaction = compaction
        self._lock = RWLock()
        # Serialises store writes with their index updates (see module docstring).
        self._write_lock = threading.Lock()
        self._counts_lock = threading.Lock()
        self._changes_since_snapshot = 0
        self._removed_since_build = 0
        self._snapshotting = threading.Lock()
        self._compactor: threading.Thread | None = None
        self.compactions = 0
        #: When the last snapshot was written (None: not by this process yet).
        self.last_snapshot_at: float | None = None
        self._ensure_rows(index.ids())

    @property
    def dim(self) -> int:
        return self._index.dim

    @property
    def kind(self) -> IndexKind:
        return self._kind

    def __len__(self) -> int:
        return len(self._index)

    def ids(self) -> Ids:
        with self._lock.read():
            return self._index.ids()

    # -- writes -------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold across a store write and the matching add/remove."""
        with self._write_lock:
            yield

    def add(self, vids: Ids, vectors: Vectors) -> None:
        rows = self._row_fn(vectors) if self._row_fn is not None and len(vids) else None
        with self._lock.write():
            if rows is not None:
                self._set_rows(vids, rows)
            self._index.add(vids, vectors)
        self._note(changes=len(vids))

    def remove(self, vids: Ids) -> int:
        with self._lock.write():
            removed = self._index.remove(vids)
        self._note(changes=len(vids), removals=len(vids))
        return removed

    # -- reads --------------------------------------------------------------------

    def search(self, queries: Vectors, k: int) -> list[list[Hit]]:
        """Per query, its k nearest stored items (best first), each with its per-item row."""
        with self._lock.read():
            scores, vids = self._index.search(queries, k)
            # Padding ids (NO_ID) read row 0, which is never used: no hit is made for them.
            rows = self._rows[np.maximum(vids, 0)] if self._row_fn is not None and len(self._rows) else None
        return [
            [
                Hit(int(vid), float(score), None if rows is None else rows[q, j])
                for j, (score, vid) in enumerate(zip(scores[q], vids[q]))
                if vid != NO_ID
            ]
            for q in range(len(queries))
        ]

    def drift(self) -> Drift:
        stored = self._store.vectors.indexable_vids(self._model_id)
        present = self.ids()
        return Drift(
            missing=int(np.setdiff1d(stored, present, assume_unique=True).size),
            extra=int(np.setdiff1d(present, stored, assume_unique=True).size),
        )

    # -- swapping in another index ------------------------------------------------

    def load_artifact(self, path: Path) -> LoadedIndex:
        """Swap in an index artifact (``index_builder build``), brought up to the store's contents.

        The artifact is read and reconciled outside the write lock (matches
        and writes go on); a last cheap pass under the lock catches writes made
        meanwhile, then the index is swapped.
        """
        found = open_artifact(path, model_id=self._model_id, dim=self.dim)
        check_belongs(found, self._store.vectors.vid_table())
        kind = IndexKind(found.manifest.index_type, dict(found.manifest.params), found.manifest.recall_at_10)
        added, removed = self._install(self._served(found.index, kind), kind)
        log.info("loaded index artifact %s (%s, %d vectors)", found.path, kind.type, len(found.index))
        manifest = found.manifest
        return LoadedIndex(
            path=str(found.path), version=manifest.version, model_id=manifest.model_id, index_type=manifest.index_type,
            generation=manifest.generation, recall_at_10=manifest.recall_at_10, added=added, removed=removed, size=len(self),
        )

    def _served(self, index: FaissIndex, kind: IndexKind) -> VectorIndex:
        """Quantised indexes are served with their candidates re-scored from the stored vectors."""
        if kind.type == "flat":
            return index
        return ExactRerank(index, lambda ids: self._store.vectors.vectors_for(ids.tolist(), self._model_id))

    def _install(self, fresh: VectorIndex, kind: IndexKind) -> tuple[int, int]:
        if fresh.dim != self.dim:
            raise InvalidInput("index", f"dimension {fresh.dim} != model dimension {self.dim}")
        added, removed = apply_delta(fresh, self._store.vectors, self._model_id)
        self._ensure_rows(fresh.ids())
        with self._write_lock:
            more_added, more_removed = apply_delta(fresh, self._store.vectors, self._model_id)
            self._ensure_rows(more_added)
            with self._lock.write():
                self._index, self._kind = fresh, kind
        return len(added) + len(more_added), removed + more_removed

    # -- compaction ---------------------------------------------------------------

    @property
    def compacting(self) -> bool:
        thread = self._compactor
        return thread is not None and thread.is_alive()

    def compact(self) -> bool:
        """Start a background rebuild unless one is running; returns whether one started."""
        with self._counts_lock:
            if self.compacting:
                return False
            self._removed_since_build = 0
            self._compactor = threading.Thread(target=self._rebuild, name="index-compaction", daemon=True)
            self._compactor.start()
            return True

    def wait_compaction(self, timeout: float | None = None) -> bool:
        thread = self._compactor
        if thread is not None:
            thread.join(timeout)
        return not self.compacting

    def _rebuild(self) -> None:
        try:
            with self._lock.read():
                fresh = self._index.empty_like()
            fill_from_store(fresh, self._store.vectors, self._model_id)
            self._install(fresh, self._kind)
            self.compactions += 1
            log.info("index compacted: %d vectors", len(fresh))
        except Exception:  # noqa: BLE001 - a failed rebuild leaves the live index serving
            log.exception("background index rebuild failed; the live index keeps serving")

    # -- snapshots ----------------------------------------------------------------

    def snapshot(self) -> Path | None:
        """Write the index as an artifact with the store generation it reflects.

        Writers wait only while the index is copied to memory (a memcpy), not
        while the copy is written and fsynced; searches never wait.
        """
        if self._snapshot_dir is None:
            return None
        # Replicas sharing a snapshot directory publish one at a time; a replica that
        # finds another publishing skips this one (the next change count brings another).
        with self._snapshotting, self._store.exclusive("index-snapshot") as publishing:
            if not publishing:
                return None
            with self._write_lock, self._lock.read():
                generation = self._store.generation()
                vids = self._index.ids()
                data = self._index.serialized()
                count, kind = len(self._index), self._kind
                rows = self._rows_of(vids)
                with self._counts_lock:
                    covered = self._changes_since_snapshot
            # Outside the lock: a vid names the same id for ever (tombstones keep theirs).
            id_of = self._store.vectors.vid_table()
            manifest = Manifest(
                version=new_version(generation), model_id=self._model_id, dim=self.dim, index_type=kind.type,
                params=dict(kind.params), count=count, created_at=time.time(), generation=generation,
                recall_at_10=kind.recall_at_10, build={"by": "service snapshot", **({"rows_key": self._rows_key} if rows is not None else {})},
            )
            path = write_artifact(self._snapshot_dir, manifest, data, vids, [id_of[int(v)] for v in vids], keep=SNAPSHOTS_KEPT, rows=rows)
            with self._counts_lock:
                # Writes made while the copy was being written count towards the next snapshot.
                self._changes_since_snapshot -= covered
                self.last_snapshot_at = time.time()
        return path

    def close(self) -> None:
        self.wait_compaction()
        self.snapshot()

    # -- bookkeeping --------------------------------------------------------------

    def _note(self, *, changes: int, removals: int = 0) -> None:
        with self._counts_lock:
            self._changes_since_snapshot += changes
            self._removed_since_build += removals
            snapshot_due = self._snapshot_dir is not None and self._changes_since_snapshot >= self._snapshot_every
            compaction_due = self._removed_since_build >= self._compaction.after_removals
        if snapshot_due and not self._snapshotting.locked():
            threading.Thread(target=self.snapshot, name="index-snapshot", daemon=True).start()
        if compaction_due:
            self.compact()

    def _set_rows(self, vids: Ids, rows: NDArray[np.float32]) -> None:
        need = int(vids.max()) + 1
        if need > len(self._rows) or self._rows.shape[1] != rows.shape[1]:
            size = max(need, 2 * len(self._rows))
            grown = np.zeros((size, rows.shape[1]), dtype=np.float32)
            grown_has = np.zeros(size, dtype=bool)
            if self._rows.shape[1] == rows.shape[1]:
                grown[: len(self._rows)] = self._rows
                grown_has[: len(self._has_row)] = self._has_row
            self._rows, self._has_row = grown, grown_has
        self._rows[vids] = rows
        self._has_row[vids] = True

    def _rows_of(self, vids: Ids) -> NDArray[np.float32] | None:
        """The rows of ``vids`` (a copy), or None when some are missing or rows are not kept."""
        if self._row_fn is None or not self._rows_key or len(vids) == 0:
            return None
        if int(vids.max()) >= len(self._has_row) or not bool(self._has_row[vids].all()):
            return None
        return self._rows[vids].copy()

    def _adopt_rows(self, artifact: Artifact) -> None:
        """Take a snapshot's rows as this index's own, if they were computed from the same background."""
        rows = artifact.rows
        if rows is None or self._row_fn is None or not self._rows_key or artifact.manifest.build.get("rows_key") != self._rows_key:
            return
        if len(artifact.vids):
            with self._lock.write():
                self._set_rows(artifact.vids, rows)

    def _ensure_rows(self, vids: Ids) -> None:
        """Compute the rows of stored vids that have none yet (rows are kept across swaps)."""
        if self._row_fn is None or len(vids) == 0:
            return
        known = vids < len(self._has_row)
        lacking = np.concatenate([vids[known][~self._has_row[vids[known]]], vids[~known]])
        for start in range(0, len(lacking), _ROW_BATCH):
            found, vectors = self._store.vectors.vectors_for(lacking[start : start + _ROW_BATCH].tolist(), self._model_id)
            if len(found):
                rows = self._row_fn(vectors)
                with self._lock.write():
                    self._set_rows(found, rows)


def open_live_index(
    store: ReferenceStore,
    *,
    model_id: str,
    dim: int,
    rows: RowFunction | None = None,
    rows_key: str = "",
    snapshot_dir: Path | None = None,
    snapshot_every: int = 1000,
    compaction: CompactionConfig = CompactionConfig(),
) -> LiveIndex:
    """The live index from the latest snapshot plus the store's delta, or rebuilt from the store."""
    settings: dict[str, Any] = dict(
        store=store, model_id=model_id, rows=rows, rows_key=rows_key, snapshot_dir=snapshot_dir, snapshot_every=snapshot_every,
        compaction=compaction,
    )
    for found in snapshots(snapshot_dir) if snapshot_dir is not None else []:
        try:
            artifact = open_artifact(found, model_id=model_id, dim=dim)
            check_belongs(artifact, store.vectors.vid_table())
        except (IndexCorrupt, InvalidInput, ModelMismatch, OSError) as exc:
            log.warning("cannot use index snapshot %s (%s)", found, exc)
        else:
            manifest = artifact.manifest
            kind = IndexKind(manifest.index_type, dict(manifest.params), manifest.recall_at_10)
            live = LiveIndex(FaissIndex(dim), kind=kind, **settings)
            live._adopt_rows(artifact)
            added, removed = live._install(live._served(artifact.index, kind), kind)
            log.info(
                "loaded index snapshot %s: %d vectors at generation %d, %d added and %d removed since",
                manifest.version, len(live), manifest.generation, added, removed,
            )
            return live
    live = LiveIndex(fill_from_store(FaissIndex(dim), store.vectors, model_id), **settings)
    log.info("no usable index snapshot: rebuilt the index from the store, %d vectors", len(live))
    live.snapshot()
    return live
