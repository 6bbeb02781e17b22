"""Following the store's change log: how one replica sees what the others write.

A replica keeps views derived from the shared store in memory: the vector
index, the bank catalog and the bank-size operating points. Its own writes
update them in the same step as the store (curation holds
``LiveIndex.writing``). Writes made through other replicas reach it here: a
cursor over the change log (``ReferenceRows.changes_after``), read as soon as
the store says something changed (Postgres NOTIFY at commit), and at least
every ``store.poll_seconds`` in case a notification is lost.

What needs no following: an item's state. Matching reads the state of every
candidate and exact copy from the store (``get_by_vids``,
``find_by_fingerprints``), so a disable, quarantine or removal made anywhere
is in force on every replica from its commit; no replica serves a stale
disable. What is followed: which vectors the index holds (adds, removals),
the banks (the catalog reloads when ``BankRows.version`` moves), and the bank
size the operating points are picked for. The follower also carries the
quarantine monitor's counts to and from the store (``QuarantineMonitor.exchange``),
so match rates are judged over every replica's traffic.

Applying a change is idempotent (a vid already in the index is not added
again), so the cursor can start before the index is built and a change seen
twice, once from this replica's own write and once from the log, is harmless.

A replica that has not caught up with the log for ``store.max_lag_seconds``
(the store is unreachable, or it is far behind) is not serving; listeners
(the gRPC health service) hear of every change of that state.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Callable

import numpy as np

from service.core.config import StoreConfig
from service.core.curation.banks import BankCatalog
from service.core.curation.quarantine import QuarantineMonitor
from service.core.domain import ReferenceItem, ReferenceState
from service.core.index.live import LiveIndex
from service.core.matching.bank_size import BankSizer
from service.core.store.base import ReferenceStore

log = logging.getLogger(__name__)

# Changes read per query; a follower far behind reads page after page.
PAGE = 2_000

# The longest the follower waits on the store at a time, so that stop is prompt.
_WAIT_SLICE = 0.25

Listener = Callable[[bool], None]


class ChangeFollower:
    def __init__(
        self,
        store: ReferenceStore,
        index: LiveIndex,
        *,
        model_id: str,
        catalog: BankCatalog,
        sizer: BankSizer | None,
        config: StoreConfig,
        cursor: int,
        bank_version: int,
        monitor: QuarantineMonitor | None = None,
    ) -> None:
        self._store = store
        self._index = index
        self._model_id = model_id
        self._catalog = catalog
        self._sizer = sizer
        self._config = config
        self._cursor = cursor
        self._bank_version = bank_version
        self._monitor = monitor
        #: This process among the replicas (its rows in the store's match counts).
        self.replica = uuid.uuid4().hex[:12]
        self._exchanged_at = 0.0
        self._caught_up_at = time.monotonic()
        self._serving = True
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def lag_seconds(self) -> float:
        """Seconds since this replica was last caught up with the change log."""
        return max(0.0, time.monotonic() - self._caught_up_at)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(serving)`` now and on every change of state."""
        with self._lock:
            self._listeners.append(listener)
            serving = self._serving
        listener(serving)

    # -- the loop ----------------------------------------------------------------------

    def start(self) -> "ChangeFollower":
        self._thread = threading.Thread(target=self._run, name="change-follower", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(_WAIT_SLICE + 2 * self._config.connect_timeout_seconds + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
            except Exception as exc:  # noqa: BLE001 - the store is down or restarting: keep trying, report through health
                log.warning("cannot read the change log (%s); lagging %.1f s", exc, self.lag_seconds())
            self._judge()
            self._wait()

    def _wait(self) -> None:
        """Until the store signals a change, ``poll_seconds`` pass, or stop is asked (checked every slice)."""
        deadline = time.monotonic() + self._config.poll_seconds
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self._store.wait_for_change(min(left, _WAIT_SLICE)):
                return

    def exchange_counts(self, *, force: bool = False) -> None:
        """Share this replica's quarantine counts and read everyone's, at most once per poll interval unless forced."""
        if self._monitor is None or not (force or time.monotonic() - self._exchanged_at >= self._config.poll_seconds):
            return
        self._monitor.exchange(self._store.match_counts, self.replica)
        self._exchanged_at = time.monotonic()

    def sync(self) -> int:
        """Apply every change after the cursor; returns how many index entries changed."""
        changed = 0
        while True:
            changes = self._store.references.changes_after(self._cursor, limit=PAGE)
            if changes:
                changed += self._apply(changes)
                self._cursor = changes[-1].change_seq
            if len(changes) < PAGE:
                break
        version = self._store.banks.version()
        if version != self._bank_version:
            self._catalog.reload()
            self._bank_version = version
            log.info("banks changed elsewhere: catalog reloaded (version %d)", version)
        if changed and self._sizer is not None:
            log.info("%s", self._sizer.reset(self._store.references.counts_by_lang()).describe())
        self._caught_up_at = time.monotonic()
        self.exchange_counts()
        return changed

    def _apply(self, changes: list[ReferenceItem]) -> int:
        removed = np.array([c.vid for c in changes if c.state is ReferenceState.REMOVED], dtype=np.int64)
        # Hash-only items (no text) have no vector; every other live item should be in the index.
        live = np.array([c.vid for c in changes if c.state is not ReferenceState.REMOVED and c.text], dtype=np.int64)
        with self._index.writing():
            present = self._index.ids()
            gone = removed[np.isin(removed, present)]
            wanted = live[~np.isin(live, present)]
            if len(gone):
                self._index.remove(gone)
            added = 0
            if len(wanted):
                vids, vectors = self._store.vectors.vectors_for(wanted.tolist(), self._model_id)
                if len(vids):
                    self._index.add(vids, vectors)
                added = len(vids)
        return len(gone) + added

    def _judge(self) -> None:
        serving = self.lag_seconds() <= self._config.max_lag_seconds
        with self._lock:
            if serving == self._serving:
                return
            self._serving = serving
            listeners = list(self._listeners)
        if serving:
            log.info("caught up with the change log again: serving")
        else:
            log.warning("behind the change log for %.1f s (over %.1f s): not serving", self.lag_seconds(), self._config.max_lag_seconds)
        for listener in listeners:
            listener(serving)
