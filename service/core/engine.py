"""The Nigran engine: store, index, embedder and matcher behind one object.

Both the gRPC service and ``index_builder`` drive this class, so a post gets
the same verdict whichever way it arrives. Writes go to the store first (the
source of truth) and then to the in-memory index, so an acknowledged change is
durable and is visible to the very next match. The index is snapshotted to
disk now and then and on close; a missing or stale snapshot is rebuilt from the
vectors kept in the store.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from service.core.artifact import LoadedIndex, open_artifact, reconcile
from service.core.banks import BankCatalog
from service.core.calibration import load_calibration
from service.core.compaction import IndexCompactor
from service.core.config import Limits, NigranConfig
from service.core.curation import Curation
from service.core.domain import NewReference, Post, PostResult, ReferenceItem, ReferenceState, Verdict
from service.core.embedder import Embedder
from service.core.errors import IndexCorrupt, InvalidInput, LimitExceeded, ModelMismatch
from service.core.index import NO_ID, ExactRerank, FaissIndex, VectorIndex
from service.core.labels import check_labels
from service.core.langid import detect_language
from service.core.margin import Background
from service.core.matcher import Candidate, Matcher, PostFeatures
from service.core.normalize import canonical_form, clean_for_embedding, fingerprint
from service.core.quarantine import QuarantineMonitor
from service.core.store import PreparedReference, ReferenceStore
from service.core.suppression import Suppression

log = logging.getLogger(__name__)

SUPPORTED_LANGS = frozenset({"en", "ur", "ps"})
# The index holds disabled and quarantined items too (re-enabling is then
# instant); fetch extra neighbours so they do not crowd out matchable ones.
CANDIDATE_HEADROOM = 4
# Cross-language candidates rank below same-language ones on raw cosine (the
# model's language bias); margin rescoring needs them in the candidate list.
MIN_CANDIDATES = 64
SNAPSHOT_INDEX = "faiss.index"
SNAPSHOT_MANIFEST = "snapshot.json"

Progress = Callable[[int, int], None]


class _RWLock:
    """Many concurrent searches, or one index mutation (FAISS is not safe otherwise)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
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
            self._cond.wait_for(lambda: not self._writer and self._readers == 0)
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass(frozen=True)
class PreparedText:
    cleaned: str
    canonical: str
    fingerprint: str
    lang: str


def prepare_text(text: str) -> PreparedText:
    """Normalisation and language identification, shared by posts and references."""
    cleaned = clean_for_embedding(text)
    canonical = canonical_form(text)
    return PreparedText(
        cleaned=cleaned,
        canonical=canonical,
        fingerprint=fingerprint(text) if canonical else "",
        lang=detect_language(cleaned).lang,
    )


class Engine:
    def __init__(
        self,
        config: NigranConfig,
        *,
        embedder: Embedder,
        store: ReferenceStore,
        index: VectorIndex,
        background: Background | None = None,
    ) -> None:
        self.config = config
        self.embedder = embedder
        self.store = store
        self.banks = BankCatalog(config.thresholds, store.list_banks)
        self.matcher = Matcher(config.thresholds, self.banks.thresholds_for)
        self.suppression = Suppression(self.banks.suppression)
        self.quarantine_monitor = QuarantineMonitor(config.quarantine)
        self.compactor = IndexCompactor(self, config.compaction)
        self.curation = Curation(self)
        self.background = background
        self._index = index
        self._index_lock = _RWLock()
        # Serialises store writes with their index updates, so the store's
        # generation always describes the index contents between writes.
        self._write_lock = threading.Lock()
        self._changes_since_snapshot = 0
        self._snapshotting = threading.Lock()
        # Per vid, the reference's background neighbourhood in each column of
        # Background.columns (precomputed: a reference is added once, matched often).
        self._ref_neighbourhood = np.zeros((0, len(background.columns) if background else 1), dtype=np.float32)
        if background is not None:
            self._refresh_neighbourhoods()

    # -- lifecycle ------------------------------------------------------------

    @classmethod
    def open(
        cls,
        config: NigranConfig,
        *,
        embedder: Embedder | None = None,
        background: Background | None = None,
        progress: Progress | None = None,
    ) -> "Engine":
        """Open the store, load the model, and load or rebuild the index."""
        if embedder is None:
            from service.core.batching import BatchingEmbedder
            from service.core.embedder import SentenceTransformerEmbedder

            embedder = BatchingEmbedder(
                SentenceTransformerEmbedder(config.model, config.model_cache_dir), max_batch=2 * config.model.batch_size
            )
        if background is None:
            calibration = load_calibration(config, embedder.model_id)
            config, background = dataclasses.replace(config, thresholds=calibration.thresholds), calibration.background
        store = ReferenceStore(config.store_path)
        index = _load_snapshot(config.index_dir, store, embedder.model_id)
        if index is None:
            index = rebuild_index(store, embedder, progress=progress)
            _write_snapshot(config.index_dir, index, store.generation(), embedder.model_id)
        return cls(config, embedder=embedder, store=store, index=index, background=background)

    def close(self) -> None:
        self.snapshot()
        self.store.close()

    def snapshot(self) -> None:
        """Persist the index with the store generation it reflects."""
        with self._snapshotting, self._write_lock, self._index_lock.read():
            _write_snapshot(self.config.index_dir, self._index, self.store.generation(), self.embedder.model_id)
            self._changes_since_snapshot = 0

    def _note_changes(self, n: int) -> None:
        self._changes_since_snapshot += n
        if self._changes_since_snapshot >= self.config.index_snapshot_every and not self._snapshotting.locked():
            threading.Thread(target=self.snapshot, name="index-snapshot", daemon=True).start()

    @property
    def index_size(self) -> int:
        return len(self._index)

    def index_ids(self) -> NDArray[np.int64]:
        with self._index_lock.read():
            return self._index.ids()  # type: ignore[attr-defined, no-any-return]

    def _served(self, index: VectorIndex, index_type: str) -> VectorIndex:
        """Quantised indexes are served with their candidates re-scored from the stored vectors."""
        if index_type == "flat":
            return index
        model_id = self.embedder.model_id
        return ExactRerank(index, lambda ids: self.store.vectors_for(ids.tolist(), model_id))

    def swap_index(self, index: VectorIndex, *, reconcile: Callable[[VectorIndex], None] | None = None) -> None:
        """Replace the live index; searches in flight finish on the old one.

        ``reconcile`` runs with writes paused, to bring an index built in the
        background up to date with the store before it goes live.
        """
        if index.dim != self.embedder.dim:
            raise InvalidInput("index", f"dimension {index.dim} != model dimension {self.embedder.dim}")
        with self._write_lock:
            if reconcile is not None:
                reconcile(index)
            with self._index_lock.write():
                self._index = index
        if self.background is not None:
            self._refresh_neighbourhoods()

    def load_index_artifact(self, path: Path) -> LoadedIndex:
        """Swap in an index built by ``index_builder``, brought up to the store's contents.

        The artifact is read and reconciled with the store outside the write
        lock (matches and writes go on); a last cheap pass under the lock
        catches writes made meanwhile, then the index is swapped.
        """
        found = open_artifact(path, model_id=self.embedder.model_id, dim=self.embedder.dim)
        # A build may have created banks in the store behind the service's back.
        self.banks.reload()
        added, removed, present = reconcile(found, self.store, self.embedder.model_id)
        with self._write_lock:
            more_added, more_removed, _ = reconcile(found, self.store, self.embedder.model_id, present=present)
            with self._index_lock.write():
                self._index = self._served(found.index, found.manifest.index_type)
        if self.background is not None:
            self._refresh_neighbourhoods()
        log.info("loaded index artifact %s (%s, %d vectors)", found.path, found.manifest.index_type, len(found.index))
        return LoadedIndex(str(found.path), found.manifest, added + more_added, removed + more_removed, len(found.index))

    # -- curation -------------------------------------------------------------

    def add_references(self, refs: Sequence[NewReference], *, actor: str = "") -> list[ReferenceItem]:
        limits = self.config.limits
        _check_count("references", len(refs), limits.max_references_per_request)
        prepared_texts = [prepare_reference(f"references[{i}]", ref, limits) for i, ref in enumerate(refs)]
        vectors = self.embedder.embed([p.cleaned for p in prepared_texts])
        rows = [prepared_reference(ref, p, vec) for ref, p, vec in zip(refs, prepared_texts, vectors)]
        with self._write_lock:
            items = self.store.add(rows, actor=actor, model_id=self.embedder.model_id)
            vids = np.array([item.vid for item in items], dtype=np.int64)
            with self._index_lock.write():
                self._index.add(vids, vectors)
            if self.background is not None:
                self._set_neighbourhoods(vids, vectors)
        self._note_changes(len(items))
        return items

    def remove_references(self, ids: Sequence[str], *, actor: str = "") -> tuple[list[str], list[str]]:
        if not ids:
            raise InvalidInput("ids", "at least one id is required")
        with self._write_lock:
            removed, missing = self.store.remove(ids, actor=actor)
            with self._index_lock.write():
                self._index.remove(np.array([item.vid for item in removed], dtype=np.int64))
        self._note_changes(len(removed))
        self.compactor.note_removed(len(removed))
        return [item.id for item in removed], missing

    def get_reference(self, ref_id: str) -> ReferenceItem:
        if not ref_id:
            raise InvalidInput("id", "must not be empty")
        return self.store.get(ref_id)

    # -- matching -------------------------------------------------------------

    def validate_posts(self, posts: Sequence[Post]) -> None:
        limits = self.config.limits
        _check_count("posts", len(posts), limits.max_posts_per_request)
        for i, post in enumerate(posts):
            _check_text(f"posts[{i}].text", post.text, limits.max_text_bytes)

    def match(self, posts: Sequence[Post], *, banks: Sequence[str] = (), top_k: int = 0) -> list[PostResult]:
        self.validate_posts(posts)
        limits = self.config.limits
        if top_k < 0 or top_k > limits.max_top_k:
            raise InvalidInput("top_k", f"must be between 0 and {limits.max_top_k}")
        top_k = top_k or limits.default_top_k
        self.banks.check_known(banks)
        prepared = [prepare_text(p.text) for p in posts]
        live = [i for i, p in enumerate(prepared) if p.canonical]
        vectors = self.embedder.embed([prepared[i].cleaned for i in live])
        k = max(MIN_CANDIDATES, top_k * CANDIDATE_HEADROOM)
        with self._index_lock.read():
            scores, vids = self._index.search(vectors, k)
        exact = self.store.find_by_fingerprints(prepared[i].fingerprint for i in live)
        items = self.store.get_by_vids(int(v) for v in vids.reshape(-1) if v != NO_ID)
        post_nb = self.background.neighbourhoods(vectors) if self.background is not None else None

        allowed = _Admission(frozenset(banks), time.time(), self.banks)
        results = [
            PostResult(post_id=p.id, verdict=Verdict.NO_MATCH, matches=(), detected_lang=prepared[i].lang)
            for i, p in enumerate(posts)
        ]
        for row, i in enumerate(live):
            text = prepared[i]
            searched = {int(v): float(s) for s, v in zip(scores[row], vids[row]) if v != NO_ID}
            # An exact copy's real cosine is reported when the search saw it;
            # a fingerprint hit outside the top k is still an exact copy.
            candidates = [
                Candidate(item=item, cosine=searched.get(item.vid, 1.0), exact=True)
                for item in exact.get(text.fingerprint, [])
                if allowed(item)
            ]
            for score, vid in zip(scores[row], vids[row]):
                item = items.get(int(vid))
                if item is None or not allowed(item):
                    continue
                margin, nb = None, None
                if self.background is not None and post_nb is not None:
                    ref_nb = self._ref_neighbourhood[item.vid]
                    margin = self.background.margin(float(score), post_nb[row], ref_nb, text.lang, item.lang)
                    nb = self.background.neighbourhoods_of(post_nb[row], ref_nb, text.lang, item.lang)
                candidates.append(Candidate(item=item, cosine=float(score), margin=margin, neighbourhoods=nb))
            features = PostFeatures(posts[i].id, text.canonical, text.fingerprint, text.lang)
            results[i] = self.suppression.decide(self.matcher, features, candidates, top_k)
        self.curation.hold_out(self.quarantine_monitor.observe(results))
        return results

    # -- margin bookkeeping -----------------------------------------------------

    def _set_neighbourhoods(self, vids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        assert self.background is not None
        if len(vids) == 0:
            return
        need = int(vids.max()) + 1
        if need > len(self._ref_neighbourhood):
            grown = np.zeros((max(need, 2 * len(self._ref_neighbourhood)), len(self.background.columns)), dtype=np.float32)
            grown[: len(self._ref_neighbourhood)] = self._ref_neighbourhood
            self._ref_neighbourhood = grown
        self._ref_neighbourhood[vids] = self.background.neighbourhoods(vectors)

    def _refresh_neighbourhoods(self) -> None:
        for vids, vectors in self.store.indexable_vectors(self.embedder.model_id):
            self._set_neighbourhoods(vids, vectors)


class _Admission:
    """Which stored items may match right now (state, disable window, bank state and filter).

    Suppression banks apply whatever the caller's bank filter: an allow-list
    that a caller could skip by naming banks would not be one.
    """

    def __init__(self, banks: frozenset[str], now: float, catalog: BankCatalog) -> None:
        self.banks = banks
        self.now = now
        self.disabled_banks = catalog.disabled()
        self.always = catalog.suppression()

    def __call__(self, item: ReferenceItem) -> bool:
        if item.bank in self.disabled_banks:
            return False
        if self.banks and item.bank not in self.banks and item.bank not in self.always:
            return False
        if item.state is ReferenceState.ACTIVE:
            return True
        return item.state is ReferenceState.DISABLED and item.disabled_until is not None and item.disabled_until <= self.now


def _check_count(field: str, count: int, limit: int) -> None:
    if count == 0:
        raise InvalidInput(field, "at least one is required")
    if count > limit:
        raise LimitExceeded(field, f"{count} exceed the limit of {limit} per request")


def prepare_reference(field: str, ref: NewReference, limits: Limits) -> PreparedText:
    """Validate one reference (errors name ``field``) and normalise its text."""
    _check_text(f"{field}.text", ref.text, limits.max_text_bytes)
    if ref.lang and ref.lang not in SUPPORTED_LANGS:
        raise InvalidInput(f"{field}.lang", f"unsupported language {ref.lang!r}; use en, ur or ps")
    check_labels(ref.labels, f"{field}.labels")
    prepared = prepare_text(ref.text)
    if not prepared.canonical:
        raise InvalidInput(f"{field}.text", "nothing left to match after normalisation (only links, emoji or marks)")
    return prepared


def prepared_reference(ref: NewReference, prepared: PreparedText, vector: NDArray[np.float32]) -> PreparedReference:
    return PreparedReference(
        id=ref.id or uuid.uuid4().hex,
        text=ref.text,
        canonical=prepared.canonical,
        fingerprint=prepared.fingerprint,
        declared_lang=ref.lang,
        detected_lang=prepared.lang,
        bank=ref.bank or "default",
        # Validated by prepare_reference; this normalises and de-duplicates them.
        labels=check_labels(ref.labels, "labels"),
        metadata=dict(ref.metadata),
        vector=vector,
    )


def _check_text(field: str, text: str, max_bytes: int) -> None:
    if not text or not text.strip():
        raise InvalidInput(field, "must not be empty")
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise LimitExceeded(field, f"{size} bytes exceed the limit of {max_bytes}")


def rebuild_index(store: ReferenceStore, embedder: Embedder, *, progress: Progress | None = None) -> FaissIndex:
    """Rebuild the index from the store, embedding items whose vectors are missing or stale."""
    total = store.count()
    done = 0
    for items in store.items_needing_vectors(embedder.model_id):
        vectors = embedder.embed([clean_for_embedding(item.text) for item in items])
        store.set_vectors([item.vid for item in items], vectors, model_id=embedder.model_id)
        done += len(items)
        if progress is not None:
            progress(done, total)
    index = FaissIndex(embedder.dim)
    for vids, vectors in store.indexable_vectors(embedder.model_id):
        index.add(vids, vectors)
    log.info("rebuilt index from store: %d vectors (%d re-embedded)", len(index), done)
    return index


def _load_snapshot(index_dir: Path, store: ReferenceStore, model_id: str) -> FaissIndex | None:
    manifest_path = index_dir / SNAPSHOT_MANIFEST
    if not manifest_path.exists():
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("model_id") != model_id:
            log.warning("index snapshot was made with %s, not %s: rebuilding", manifest.get("model_id"), model_id)
            return None
        if manifest.get("generation") != store.generation():
            log.info("index snapshot is stale (generation %s, store %s): rebuilding", manifest.get("generation"), store.generation())
            return None
        index = FaissIndex.deserialize(index_dir / SNAPSHOT_INDEX)
    except (OSError, ValueError, IndexCorrupt, ModelMismatch) as exc:
        log.warning("cannot use index snapshot (%s): rebuilding", exc)
        return None
    log.info("loaded index snapshot: %d vectors at generation %s", len(index), manifest["generation"])
    return index


def _write_snapshot(index_dir: Path, index: VectorIndex, generation: int, model_id: str) -> None:
    index_dir.mkdir(parents=True, exist_ok=True)
    tmp_index = index_dir / f".{SNAPSHOT_INDEX}.tmp"
    tmp_manifest = index_dir / f".{SNAPSHOT_MANIFEST}.tmp"
    index.serialize(tmp_index)
    tmp_manifest.write_text(
        json.dumps({"model_id": model_id, "generation": generation, "count": len(index), "written_at": time.time()}),
        encoding="utf-8",
    )
    # Index first, manifest last: a crash in between leaves a manifest whose
    # generation no longer matches, which only costs a rebuild.
    os.replace(tmp_index, index_dir / SNAPSHOT_INDEX)
    os.replace(tmp_manifest, index_dir / SNAPSHOT_MANIFEST)
