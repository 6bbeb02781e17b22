"""What the curation unit tests share: an engine over a real store (SQLite, or Postgres), items, and a gate on store writes.

Every engine here runs the ``HashingEmbedder`` test double and raw-cosine
thresholds (no calibration to load), so opening one takes milliseconds and
no model is involved.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from service.core import (
    AddOptions, AddOutcome, AuditEntry, AuditQuery, Calibration, Curation, Engine, NewReference, Post, PostResult,
    NigranConfig, QuarantineConfig, ReferenceState, StoreConfig, Thresholds
)
from service.core.store.base import ReferenceStore, Transition
from service.core.wiring import build_parts
from tests.support.doubles import HashingEmbedder
from tests.support.factories import make_config

ACTOR = "curator:ann"

# Raw-cosine thresholds and no background: the shipped calibration was made
# with the real model, so the engine would only log that it cannot use it.
RAW_COSINE = Calibration(Thresholds(), None)

# Sentences with (almost) no trigrams in common, so none matches another.
TEXTS = (
    "The fighters will gather at the old bridge before dawn on Friday.",
    "Bake the sourdough loaf for forty minutes until the crust is golden.",
    "Quarterly revenue grew by nine percent despite weaker exports.",
    "Migratory cranes return to the northern wetlands every spring.",
    "Jazz quintets improvised until midnight in the smoky cellar club.",
    "Volcanic ash grounded flights across Iceland for several days.",
    "Knitting wool socks requires patience, needles and thick yarn.",
    "Submarine cables carry most intercontinental internet traffic.",
)

# Trips on the first match call: no warm-up, one bucket for the whole test
# (an hour), and any item matching 3 or more posts out of 4 crosses the line.
QUICK_QUARANTINE = QuarantineConfig(
    bucket_seconds=3600, window_buckets=2, history_buckets=2, warmup_buckets=0, min_matches=3, rate_ratio=2.0, min_usual_rate=0.1
)


@dataclass
class Opened:
    """An open engine and the store under it (tests look at the store directly to see what landed)."""

    engine: Engine
    store: ReferenceStore

    @property
    def curation(self) -> Curation:
        return self.engine.curation

    def state(self, ref_id: str) -> ReferenceState:
        return self.store.references.get(ref_id).state

    def close(self) -> None:
        self.engine.close()


# Set by on_postgres: the Postgres database that stands for a root (one per root, the same on every open).
_postgres_for: Callable[[Path], str] | None = None


@contextmanager
def on_postgres(new_database: Callable[[], str]) -> Iterator[None]:
    """Within the block, open_engine keeps each root's store in its own Postgres database instead of SQLite."""
    global _postgres_for
    urls: dict[Path, str] = {}

    def url_for(root: Path) -> str:
        if root not in urls:
            urls[root] = new_database()
        return urls[root]

    _postgres_for = url_for
    try:
        yield
    finally:
        _postgres_for = None


def config_at(root: Path, **overrides: Any) -> NigranConfig:
    """The config of an engine with its data under ``root/var`` (its store on Postgres within on_postgres)."""
    if _postgres_for is not None and "store" not in overrides:
        overrides["store"] = StoreConfig(url=_postgres_for(root.resolve()))
    return make_config(root / "var", **overrides)


def open_engine(root: Path, **overrides: Any) -> Opened:
    """An engine with its data under ``root/var``; ``overrides`` are NigranConfig fields."""
    parts = build_parts(config_at(root, **overrides), embedder=HashingEmbedder(), calibration=RAW_COSINE)
    return Opened(Engine(parts), parts.store)


@contextmanager
def engine_at(root: Path, **overrides: Any) -> Iterator[Opened]:
    opened = open_engine(root, **overrides)
    try:
        yield opened
    finally:
        opened.close()


def ref(ref_id: str, n: int = 0, **fields: Any) -> NewReference:
    """A new item with the n-th distinct text (``text=`` overrides it)."""
    fields.setdefault("text", TEXTS[n])
    return NewReference(id=ref_id, **fields)


def add(curation: Curation, *refs: NewReference, actor: str = ACTOR, **options: Any) -> AddOutcome:
    """``References.add`` with ``options`` as AddOptions fields."""
    return curation.references.add(list(refs), actor=actor, options=AddOptions(**options))


def added_ids(outcome: AddOutcome) -> list[str]:
    return [item.id for item in outcome.added]


def matched_ids(engine: Engine, text: str) -> list[str]:
    [result] = engine.match([Post("p", text)])
    return [m.reference_id for m in result.matches]


def flood(engine: Engine, text: str, posts: int = 4) -> list[PostResult]:
    """One match call of ``posts`` copies of ``text``: enough for QUICK_QUARANTINE to trip."""
    return engine.match([Post(f"p{i}", text) for i in range(posts)])


def quarantine(opened: Opened, text: str) -> None:
    """Trip QUICK_QUARANTINE on the items matching ``text`` and wait until the decision is in the store."""
    flood(opened.engine, text)
    assert opened.curation.holdouts.flush(timeout=5)


def audit_entries(curation: Curation, **query: Any) -> list[AuditEntry]:
    entries, _ = curation.audit(AuditQuery(**query))
    return entries


class GatedWrites:
    """Holds the store's ``set_state`` calls for one action until ``open()`` (or 10 s), so a test can look while a write is pending.

    Calls for other actions go straight through, so an analyst's change can
    overtake a held quarantine write. Used as a context manager it installs
    itself and opens the gate on the way out, so a failing test never leaves a
    writer thread blocked on close.
    """

    def __init__(self, store: ReferenceStore, *, action: str = "quarantine", fail: bool = False) -> None:
        self._rows = store.references
        self._real: Callable[..., Any] = store.references.set_state
        self._action = action
        self._fail = fail
        self.entered = threading.Event()
        self.gate = threading.Event()

    def _set_state(self, ids: Any, transition: Transition, **kwargs: Any) -> Any:
        if transition.action != self._action:
            return self._real(ids, transition, **kwargs)
        self.entered.set()
        self.gate.wait(timeout=10)
        if self._fail:
            raise OSError("simulated store failure")
        return self._real(ids, transition, **kwargs)

    def open(self) -> None:
        self.gate.set()

    def __enter__(self) -> "GatedWrites":
        # An instance attribute shadows the method for every holder of this rows object.
        self._rows.set_state = self._set_state  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        self.gate.set()
        del self._rows.set_state
