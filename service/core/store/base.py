"""The reference store interface: the source of truth, whatever the backend.

Everything the service knows about reference content lives in the store,
embeddings included, so a vector index is derived data that can always be
rebuilt. The interface is split by table family, one small interface each
(references, vectors, banks, audit, feedback, match log); a backend implements all six
plus :meth:`ReferenceStore.generation`. No SQL exists outside a backend, and
``tests/support/store_contract.py`` is the suite every backend must pass.

Rules every backend keeps:

* a write is acknowledged only after its transaction commits, and is audited
  in the same transaction;
* every write that changes what an index should hold (add, remove) bumps the
  ``generation`` in the same transaction, so an index records the generation
  it reflects;
* every change to an item moves it to the end of the change log
  (``change_seq``), which is what exports page through;
* an id is never reused: removal keeps a tombstone (id, fingerprint, bank).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from service.core.domain import (
    AuditEntry, AuditQuery, Bank, BankChanges, DailyFeedback, Feedback, FeedbackSummary, LoggedMatch, MatchLogQuery, NewReference,
    ReferenceItem, ReferenceState
)
from service.core.text.prepare import PreparedText

Vids = NDArray[np.int64]
Vectors = NDArray[np.float32]


@dataclass(frozen=True)
class StoredReference:
    """A reference item ready to be stored: what was submitted (defaults filled), what was derived, its vector."""

    ref: NewReference
    prepared: PreparedText
    vector: Vectors | None  # None: a hash-only item, matched by its fingerprint alone


@dataclass(frozen=True)
class Transition:
    """A state change for live items: which states it moves from, to which, under which audit action."""

    action: str
    to: ReferenceState
    allowed_from: frozenset[ReferenceState]
    until: float | None = None
    # Recorded in the audit entry's new value (why the system acted, for instance).
    reason: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ReferenceFilter:
    bank: str = ""
    state: ReferenceState | None = None  # the state at the time of the call (domain.state_at)
    label: str = ""
    # Items whose canonical form contains ``canonical``, or whose id is ``id``; both empty: no filter.
    canonical: str = ""
    id: str = ""


class ReferenceRows(ABC):
    """Reference items and their tombstones."""

    @abstractmethod
    def add(self, rows: Sequence[StoredReference], *, actor: str, model_id: str) -> list[ReferenceItem]:
        """Insert all rows or none: AlreadyExists for a taken id, NotFound for a missing bank."""

    @abstractmethod
    def remove(self, ids: Sequence[str], *, actor: str) -> tuple[list[ReferenceItem], list[str]]:
        """Tombstone live items (text and vector dropped); returns (removed, not found)."""

    @abstractmethod
    def get(self, ref_id: str) -> ReferenceItem:
        """The item or its tombstone; NotFound otherwise."""

    @abstractmethod
    def get_by_vids(self, vids: Iterable[int]) -> dict[int, ReferenceItem]: ...

    @abstractmethod
    def find_by_fingerprints(self, fingerprints: Iterable[str]) -> dict[str, list[ReferenceItem]]:
        """Live (not removed) items per fingerprint, oldest first."""

    @abstractmethod
    def existing_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are stored, tombstones included (an id is never reused)."""

    @abstractmethod
    def set_state(self, ids: Sequence[str], transition: Transition, *, actor: str) -> tuple[list[ReferenceItem], list[str]]:
        """Move live items whose state is in ``transition.allowed_from``; returns (changed, not found)."""

    @abstractmethod
    def update_annotations(
        self, ref_id: str, *, labels: Sequence[str], metadata: Mapping[str, str], actor: str, expected_change_seq: int | None = None
    ) -> ReferenceItem:
        """Replace labels and metadata; with ``expected_change_seq``, only if the item has not changed since (Conflict otherwise)."""

    @abstractmethod
    def page(self, where: ReferenceFilter, *, after_vid: int = 0, limit: int = 100) -> list[ReferenceItem]:
        """Items in insertion order; page with ``after_vid`` = the last vid of the previous page."""

    @abstractmethod
    def live_ids_in_bank(self, bank: str) -> list[str]: ...

    @abstractmethod
    def changes_after(self, after: int, *, limit: int) -> list[ReferenceItem]:
        """Items and tombstones changed after the ``after`` cursor, oldest change first."""

    @abstractmethod
    def last_change_seq(self) -> int: ...

    @abstractmethod
    def counts_by_state(self) -> dict[ReferenceState, int]:
        """Items per state at the time of the call, tombstones included."""

    @abstractmethod
    def counts_by_lang(self) -> dict[str, int]:
        """Items that are not removed and have a text, per language (what the operating points are picked for)."""


class VectorRows(ABC):
    """The stored embeddings, from which every index is built."""

    @abstractmethod
    def indexable(self, model_id: str, *, batch: int = 10_000) -> Iterator[tuple[Vids, Vectors]]:
        """(vids, vectors) of every non-removed item embedded by ``model_id``, in vid order."""

    @abstractmethod
    def indexable_vids(self, model_id: str) -> Vids:
        """Sorted vids of every item ``indexable`` would yield."""

    @abstractmethod
    def vectors_for(self, vids: Sequence[int], model_id: str) -> tuple[Vids, Vectors]:
        """Stored (vids, vectors) of the given non-removed items embedded by ``model_id``."""

    @abstractmethod
    def needing_vectors(self, model_id: str, *, batch: int = 1000) -> Iterator[list[ReferenceItem]]:
        """Live items whose stored vector is missing or from another model."""

    @abstractmethod
    def set_vectors(self, vids: Sequence[int], vectors: Vectors, *, model_id: str) -> None:
        """Store re-computed vectors: derived data, so neither audited nor a new generation."""

    @abstractmethod
    def vid_table(self) -> dict[int, str]:
        """Every stored vid (tombstones included) and the id it names."""


class BankRows(ABC):
    @abstractmethod
    def all(self) -> list[Bank]:
        """Live banks with their item counts, by name."""

    @abstractmethod
    def version(self) -> int:
        """Bumped by every bank change (create, update, delete): what tells a process its bank catalog is stale."""

    @abstractmethod
    def get(self, name: str) -> Bank: ...

    @abstractmethod
    def create(self, bank: Bank, *, actor: str) -> Bank:
        """AlreadyExists for a live bank; a deleted bank's name can be taken again."""

    @abstractmethod
    def update(self, name: str, changes: BankChanges, *, actor: str) -> Bank: ...

    @abstractmethod
    def delete(self, name: str, *, actor: str) -> None:
        """FailedPrecondition while the bank holds live items, or for the default bank."""


class AuditLog(ABC):
    """Append-only: the backend itself refuses to rewrite history."""

    @abstractmethod
    def query(self, query: AuditQuery, *, before_seq: int | None, limit: int) -> list[AuditEntry]:
        """Newest first; page with ``before_seq`` = the last seq of the previous page."""


class FeedbackLog(ABC):
    @abstractmethod
    def add(self, feedback: Feedback) -> None:
        """Record a reviewer's verdict (audited); NotFound for an unknown reference."""

    @abstractmethod
    def summary(self, ref_id: str) -> FeedbackSummary: ...

    @abstractmethod
    def by_bank(self) -> dict[str, FeedbackSummary]:
        """Every review, summed per bank of the reviewed item (banks without reviews are absent)."""

    @abstractmethod
    def daily(self, bank: str, *, since: float) -> list[DailyFeedback]:
        """The reviews of the bank's items made at or after ``since``, per UTC day, oldest first (days without any are absent)."""


class MatchLogRows(ABC):
    """Flagged matches kept for review: bounded by count and age, oldest dropped first."""

    @abstractmethod
    def record(self, entries: Sequence[LoggedMatch], *, max_entries: int, keep_after: float) -> None:
        """Append ``entries`` (their seq is assigned here), then drop all but the newest ``max_entries`` and those older than ``keep_after``."""

    @abstractmethod
    def query(self, query: MatchLogQuery, *, after: tuple[int, int] | None, limit: int) -> list[LoggedMatch]:
        """In review order (REVIEW_ORDER rank, then newest first), each with the latest review of its pair;
        page with ``after`` = (rank, seq) of the last entry of the previous page."""


#: Per time bucket: posts matched ("" below) or one item's matches; what the quarantine monitor counts.
BucketCounts = Mapping[tuple[str, int], int]
#: The ref_id that stands for "posts matched" in BucketCounts.
POSTS = ""


class MatchCountRows(ABC):
    """Match counts per replica and time bucket, so that every replica's quarantine monitor sees the whole traffic."""

    @abstractmethod
    def add(self, replica: str, counts: BucketCounts) -> None:
        """Add ``counts`` ((ref_id or POSTS, bucket) -> n) to what ``replica`` reported before."""

    @abstractmethod
    def totals(self, *, since_bucket: int, excluding: str) -> dict[tuple[str, int], int]:
        """Every other replica's counts summed, for buckets from ``since_bucket``."""

    @abstractmethod
    def prune(self, *, before_bucket: int) -> None: ...

    @abstractmethod
    def forget(self, ref_ids: Iterable[str], *, through_bucket: int) -> None:
        """Drop every replica's counts of these items up to ``through_bucket``, including counts a replica reports later
        (an analyst released them: their history starts afresh, everywhere)."""


class ReferenceStore(ABC):
    references: ReferenceRows
    vectors: VectorRows
    banks: BankRows
    audit: AuditLog
    feedback: FeedbackLog
    match_log: MatchLogRows
    match_counts: MatchCountRows
    #: Whether other processes may write it at the same time (replicas), so each
    #: must follow the change log to keep its in-memory views right (``core/change_feed.py``).
    shared: bool = False

    @abstractmethod
    def generation(self) -> int:
        """Bumped by every write that changes what an index should hold."""

    def wait_for_change(self, timeout: float) -> bool:
        """Block until another process may have written, or ``timeout`` seconds; returns whether woken early.

        A store no other process writes has nothing to wait for: it just sleeps.
        """
        time.sleep(timeout)
        return False

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """Try to take the store-wide lock ``name`` without waiting; yields whether it is held.

        Work that must happen once across replicas (publishing a shared index
        snapshot) runs only where this yields True. Unshared stores: always True.
        """
        yield True

    @abstractmethod
    def close(self) -> None: ...
