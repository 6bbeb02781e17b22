"""Builds the core's parts from the config: the only place that knows how they fit together.

``Engine.open`` calls :func:`build_parts`; ``index_builder build``, which
writes the store without serving, calls :func:`open_offline`. Tests pass
their own embedder (and calibration) here and get the real parts otherwise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from service.core.change_feed import ChangeFollower
from service.core.config import ModelConfig, NigranConfig
from service.core.curation.banks import BankCatalog, Banks
from service.core.curation.feedback import Reviews
from service.core.curation.match_log import MatchLog
from service.core.curation.quarantine import HoldOuts, QuarantineMonitor
from service.core.curation.references import References, refresh_vectors
from service.core.curation.service import Curation
from service.core.embedding.embedder import Embedder
from service.core.index.live import LiveIndex, open_live_index
from service.core.matching.bank_size import BankSizer
from service.core.matching.calibration import Calibration, load_calibration
from service.core.matching.cascade import Cascade
from service.core.matching.thresholds import Thresholds
from service.core.observe import NO_OBSERVER, Observer
from service.core.store.base import ReferenceStore
from service.core.store.sqlite import SqliteStore

Progress = Callable[[int, int], None]

log = logging.getLogger(__name__)


def open_store(config: NigranConfig) -> ReferenceStore:
    """The store the config names: Postgres at ``store.url``, or SQLite at ``data_dir`` (the embedded default)."""
    if config.store.url:
        from service.core.store.postgres import PostgresStore

        store = PostgresStore(config.store.url, pool_size=config.store.pool_size, connect_timeout=config.store.connect_timeout_seconds)
        log.info("store: %r", store)
        return store
    return SqliteStore(config.store_path)


def model_embedder(model: ModelConfig, cache_root: Path) -> Embedder:
    """The configured encoder alone (no batching, no cache), of the class ``model.backend`` names."""
    if model.backend == "onnx-int8":
        from service.core.embedding.onnx import OnnxEmbedder

        return OnnxEmbedder(model, cache_root)
    from service.core.embedding.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(model, cache_root)


def default_embedder(config: NigranConfig, observer: Observer = NO_OBSERVER) -> Embedder:
    """The configured model behind cross-request micro-batching, behind the cache of recent texts."""
    from service.core.embedding.batching import BatchingEmbedder
    from service.core.embedding.cache import CachingEmbedder

    inner = model_embedder(config.model, config.model_cache_dir)
    batching = BatchingEmbedder(inner, max_batch=2 * config.model.batch_size, observer=observer)
    cache_bytes = int(config.model.embedding_cache_mb * 1024 * 1024)
    return CachingEmbedder(batching, max_bytes=cache_bytes, observer=observer) if cache_bytes > 0 else batching


@dataclass
class Parts:
    config: NigranConfig
    embedder: Embedder
    owns_embedder: bool
    store: ReferenceStore
    calibration: Calibration
    catalog: BankCatalog
    cascade: Cascade
    sizer: BankSizer
    index: LiveIndex
    curation: Curation
    observer: Observer
    # Set when other processes share the store: what keeps this one's views in step with their writes.
    follower: ChangeFollower | None = None


def build_parts(
    config: NigranConfig,
    *,
    embedder: Embedder | None = None,
    calibration: Calibration | None = None,
    progress: Progress | None = None,
    observer: Observer = NO_OBSERVER,
) -> Parts:
    owns_embedder = embedder is None
    embedder = embedder if embedder is not None else default_embedder(config, observer)
    calibration = calibration if calibration is not None else load_calibration(config, embedder.model_id)
    store = open_store(config)
    # Read before the index and catalog load: a write made meanwhile through another
    # replica is then applied by the follower (applying twice is harmless).
    cursor, bank_version = store.references.last_change_seq(), store.banks.version()
    # The index is built from stored vectors, so stale ones are re-embedded first.
    refresh_vectors(store, embedder, progress)
    background = calibration.background
    index = open_live_index(
        store,
        model_id=embedder.model_id,
        dim=embedder.dim,
        rows=background.neighbourhoods if background is not None else None,
        rows_key=background.fingerprint if background is not None else "",
        snapshot_dir=config.index_dir,
        snapshot_every=config.index_snapshot_every,
        compaction=config.compaction,
    )
    catalog = BankCatalog(calibration.thresholds, store.banks.all)
    sizer = BankSizer(calibration.thresholds, calibration.bank_curves, config.bank_size, calibration.overrides, catalog.rebase)
    log.info("%s", sizer.reset(store.references.counts_by_lang()).describe())
    banks = Banks(store, catalog)
    monitor = QuarantineMonitor(config.quarantine)
    holdouts = HoldOuts(monitor, store.references, observer, counts=store.match_counts if store.shared else None)
    references = References(store, embedder, config.limits, banks, index=index, holdouts=holdouts, sizer=sizer)
    curation = Curation(
        store, references, banks, Reviews(store, monitor), holdouts,
        index_size=lambda: len(index), quarantine_enabled=config.quarantine.enabled, operating_points=lambda: sizer.current,
        match_log=MatchLog(store, config.match_log),
    )
    follower = None
    if store.shared:
        follower = ChangeFollower(
            store, index, model_id=embedder.model_id, catalog=catalog, sizer=sizer, config=config.store, cursor=cursor,
            bank_version=bank_version, monitor=monitor,
        )
        follower.sync()
        follower.start()
    return Parts(
        config=config, embedder=embedder, owns_embedder=owns_embedder, store=store, calibration=calibration,
        catalog=catalog, cascade=Cascade(calibration.thresholds, catalog.thresholds_for), sizer=sizer, index=index, curation=curation,
        observer=observer, follower=follower,
    )


@dataclass
class OfflineCuration:
    """The store and the one write path, with no live index: what an offline build needs."""

    store: ReferenceStore
    references: References
    banks: Banks

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "OfflineCuration":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_offline(config: NigranConfig, embedder: Embedder) -> OfflineCuration:
    store = open_store(config)
    # Thresholds play no part in writing; the catalog is there for bank names.
    banks = Banks(store, BankCatalog(Thresholds(), store.banks.all))
    return OfflineCuration(store=store, references=References(store, embedder, config.limits, banks), banks=banks)
