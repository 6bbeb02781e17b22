"""The live index (``index.live``) over a real SQLite store and real FAISS indexes.

Covers the store reconciliation (``fill_from_store``, ``apply_delta``), ids and
``empty_like`` of every index kind, ``open_live_index`` (rebuild, snapshot plus
delta, fall-backs), ``load_artifact``, per-item rows (computed once per vid,
kept across swaps) and the race where a hit could be returned before its row.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
from numpy.typing import NDArray

import service.core.index.live as live_module
from service.core.errors import InvalidInput, ModelMismatch
from service.core.index.artifact import INDEX_FILE, latest, read_manifest
from service.core.index.base import Hit, VectorIndex
from service.core.index.brute import BruteForceIndex
from service.core.index.faiss_index import FaissIndex
from service.core.index.live import LiveIndex, apply_delta, fill_from_store, open_live_index
from service.core.index.rerank import ExactRerank
from service.core.index.spec import IndexType
from service.core.store.sqlite import SqliteStore
from tests.support.index_factories import (
    DIM, MODEL, NLIST, OTHER_MODEL, CountingRows, add_items, publish, remove_items, row_of, trained, unit_vectors
)

Factory = Callable[[], VectorIndex]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "refs.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def snapshots(tmp_path: Path) -> Path:
    return tmp_path / "snapshots"


def stored_vector(store: SqliteStore, vid: int) -> NDArray[np.float32]:
    _, vectors = store.vectors.vectors_for([vid], MODEL)
    vector: NDArray[np.float32] = vectors[0]
    return vector


def indexable(store: SqliteStore) -> list[int]:
    return [int(v) for v in store.vectors.indexable_vids(MODEL)]


def open_live(store: SqliteStore, snapshots: Path, rows: CountingRows | None = None) -> LiveIndex:
    return open_live_index(store, model_id=MODEL, dim=DIM, rows=rows, snapshot_dir=snapshots)


def finds_itself(index: VectorIndex | LiveIndex, store: SqliteStore, vid: int) -> bool:
    """Whether searching a stored vector returns its own vid first at cosine 1 (the stored vector was indexed)."""
    query = stored_vector(store, vid)[None, :]
    if isinstance(index, LiveIndex):
        hit = index.search(query, 1)[0][0]
        return hit.vid == vid and abs(hit.cosine - 1.0) < 1e-5
    scores, vids = index.search(query, 1)
    return int(vids[0, 0]) == vid and abs(float(scores[0, 0]) - 1.0) < 1e-5


def forbid_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> VectorIndex:
        raise AssertionError("rebuilt from the store although a usable snapshot exists")

    monkeypatch.setattr(live_module, "fill_from_store", refuse)


def count_rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def counting(index: VectorIndex, vectors: object, model_id: str) -> VectorIndex:
        calls.append(1)
        return fill_from_store(index, vectors, model_id)  # type: ignore[arg-type]

    monkeypatch.setattr(live_module, "fill_from_store", counting)
    return calls


# -- fill_from_store and apply_delta -------------------------------------------


def test_fill_from_store_adds_every_indexable_vector_and_nothing_else(store: SqliteStore) -> None:
    items = add_items(store, unit_vectors(30, seed=1))
    remove_items(store, items[:5])
    foreign = add_items(store, unit_vectors(3, seed=2), prefix="other", model_id=OTHER_MODEL)
    index = fill_from_store(FaissIndex(DIM), store.vectors, MODEL)
    assert index.ids().tolist() == [i.vid for i in items[5:]]
    assert not set(index.ids().tolist()) & {i.vid for i in [*items[:5], *foreign]}
    assert all(finds_itself(index, store, i.vid) for i in items[5:])


def test_apply_delta_adds_missing_vids_from_stored_vectors_and_removes_extras(store: SqliteStore) -> None:
    items = add_items(store, unit_vectors(20, seed=1))
    index = FaissIndex(DIM)
    index.add(np.array([i.vid for i in items[:12]]), unit_vectors(12, seed=1))
    index.add(np.array([900, 901, 902]), unit_vectors(3, seed=5))  # vids the store never had
    remove_items(store, items[:2])
    added, removed = apply_delta(index, store.vectors, MODEL)
    assert sorted(added.tolist()) == [i.vid for i in items[12:]]
    assert removed == 3 + 2
    assert index.ids().tolist() == indexable(store)
    assert all(finds_itself(index, store, i.vid) for i in items[12:])


def test_apply_delta_on_a_reconciled_index_changes_nothing(store: SqliteStore) -> None:
    add_items(store, unit_vectors(10, seed=1))
    index = fill_from_store(FaissIndex(DIM), store.vectors, MODEL)
    added, removed = apply_delta(index, store.vectors, MODEL)
    assert (added.tolist(), removed) == ([], 0)


# -- ids() and empty_like() of every kind ----------------------------------------

VECTORS = unit_vectors(60, seed=7)
VIDS = np.arange(100, 160, dtype=np.int64)
BY_VID = dict(zip(VIDS.tolist(), VECTORS))


def lookup(ids: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    found = np.array([i for i in ids.tolist() if i in BY_VID], dtype=np.int64)
    return found, np.stack([BY_VID[i] for i in found.tolist()]) if len(found) else np.zeros((0, DIM), np.float32)


KINDS: dict[str, Factory] = {
    "flat": lambda: FaissIndex(DIM),
    "ivf": lambda: trained("ivf"),
    "ivf-sq": lambda: trained("ivf-sq"),
    "ivf-pq": lambda: trained("ivf-pq"),
    "rerank-ivf-sq": lambda: ExactRerank(trained("ivf-sq"), lookup, factor=3),
}


def churned(index: VectorIndex) -> VectorIndex:
    """Adds in shuffled order, removes some (and one never added), re-adds a few: what curation does."""
    order = np.random.default_rng(3).permutation(len(VIDS))
    index.add(VIDS[order], VECTORS[order])
    index.remove(np.array([*VIDS[10:20].tolist(), 5]))
    index.add(VIDS[12:15], VECTORS[12:15])
    index.add(VIDS[30:33], VECTORS[30:33])  # a re-add replaces
    return index


@pytest.mark.parametrize("kind", KINDS)
def test_ids_agree_with_the_brute_force_index(kind: str) -> None:
    index, reference = churned(KINDS[kind]()), churned(BruteForceIndex(DIM))
    assert index.ids().tolist() == reference.ids().tolist()
    assert len(index) == len(reference) == 53


@pytest.mark.parametrize("kind", KINDS)
def test_empty_like_is_an_empty_index_of_the_same_kind_ready_to_fill(kind: str) -> None:
    index = churned(KINDS[kind]())
    fresh = index.empty_like()
    assert type(fresh) is type(index) and fresh.dim == DIM
    assert (len(fresh), fresh.ids().tolist()) == (0, [])
    assert len(index) == 53  # the original keeps its vectors
    # An IVF type comes back trained: a rebuild adds without retraining.
    fresh.add(VIDS[:5], VECTORS[:5])
    assert fresh.ids().tolist() == VIDS[:5].tolist()
    _, found = fresh.search(VECTORS[:1], 1)
    assert int(found[0, 0]) == int(VIDS[0])


@pytest.mark.parametrize("kind", ["ivf", "ivf-sq", "ivf-pq"])
def test_empty_like_keeps_an_ivf_index_s_lists_and_nprobe(kind: IndexType) -> None:
    import faiss

    fresh = faiss.extract_index_ivf(churned(trained(kind, nprobe=2)).empty_like().faiss_index)  # type: ignore[attr-defined]
    assert (fresh.is_trained, fresh.nlist, fresh.nprobe, fresh.ntotal) == (True, NLIST, 2, 0)


def test_exact_rerank_keeps_its_lookup_and_factor_when_emptied() -> None:
    fresh = KINDS["rerank-ivf-sq"]().empty_like()
    assert isinstance(fresh, ExactRerank) and isinstance(fresh.base, FaissIndex) and fresh.factor == 3
    fresh.add(VIDS, VECTORS)
    np.testing.assert_allclose(fresh.search(VECTORS[:1], 1)[0][0, 0], 1.0, atol=1e-6)


def test_exact_rerank_returns_the_brute_force_neighbours_and_exact_cosines() -> None:
    queries = unit_vectors(8, seed=11)
    scores, found = churned(KINDS["rerank-ivf-sq"]()).search(queries, 5)
    want_scores, want = churned(BruteForceIndex(DIM)).search(queries, 5)
    np.testing.assert_array_equal(found, want)
    np.testing.assert_allclose(scores, want_scores, atol=1e-6)


# -- open_live_index -------------------------------------------------------------


def test_without_a_snapshot_the_index_is_rebuilt_from_the_store_and_snapshotted(store: SqliteStore, snapshots: Path) -> None:
    add_items(store, unit_vectors(20, seed=1))
    live = open_live(store, snapshots)
    assert live.ids().tolist() == indexable(store)
    written = latest(snapshots)
    assert written is not None
    assert (read_manifest(written).generation, read_manifest(written).count) == (store.generation(), 20)


def test_a_snapshot_is_loaded_and_the_writes_made_after_it_applied(
    store: SqliteStore, snapshots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = add_items(store, unit_vectors(20, seed=1))
    open_live(store, snapshots)
    # Written to the store only, as by a process that died before it could snapshot again.
    new = add_items(store, unit_vectors(4, seed=2), prefix="late")
    remove_items(store, items[:3])
    forbid_rebuild(monkeypatch)
    live = open_live(store, snapshots)
    assert live.ids().tolist() == indexable(store)
    assert {i.vid for i in new} <= set(live.ids().tolist())
    assert not {i.vid for i in items[:3]} & set(live.ids().tolist())
    assert all(finds_itself(live, store, i.vid) for i in new)


def corrupt_snapshot(store: SqliteStore, snapshots: Path) -> None:
    open_live(store, snapshots)
    path = latest(snapshots)
    assert path is not None
    (path / INDEX_FILE).write_bytes(b"not a faiss index")


def foreign_snapshot(store: SqliteStore, snapshots: Path) -> None:
    # Same vids, other ids: the snapshot of another store's index.
    index = fill_from_store(FaissIndex(DIM), store.vectors, MODEL)
    publish(snapshots, index, {v: f"elsewhere-{v}" for v in index.ids().tolist()})


def other_models_snapshot(store: SqliteStore, snapshots: Path) -> None:
    index = fill_from_store(FaissIndex(DIM), store.vectors, MODEL)
    publish(snapshots, index, store.vectors.vid_table(), model_id=OTHER_MODEL)


@pytest.mark.parametrize("spoil", [corrupt_snapshot, foreign_snapshot, other_models_snapshot], ids=["corrupt", "other-store", "other-model"])
def test_an_unusable_snapshot_falls_back_to_a_rebuild(
    store: SqliteStore, snapshots: Path, monkeypatch: pytest.MonkeyPatch, spoil: Callable[[SqliteStore, Path], None]
) -> None:
    add_items(store, unit_vectors(15, seed=1))
    spoil(store, snapshots)
    spoiled = latest(snapshots)
    add_items(store, unit_vectors(2, seed=2), prefix="late")
    rebuilds = count_rebuilds(monkeypatch)
    live = open_live(store, snapshots)
    assert rebuilds == [1]
    assert live.ids().tolist() == indexable(store)
    # A usable snapshot replaces the spoiled one as LATEST.
    assert latest(snapshots) not in (None, spoiled)


def test_a_spoiled_newest_snapshot_falls_back_to_the_one_before_it_plus_the_delta(
    store: SqliteStore, snapshots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_items(store, unit_vectors(15, seed=1))
    open_live(store, snapshots).snapshot()  # two snapshots now: the rebuild's and this one
    add_items(store, unit_vectors(2, seed=2), prefix="late")
    newest = latest(snapshots)
    assert newest is not None
    (newest / INDEX_FILE).write_bytes(b"torn write")
    forbid_rebuild(monkeypatch)
    live = open_live(store, snapshots)
    assert live.ids().tolist() == indexable(store)


# -- load_artifact ---------------------------------------------------------------


def built_artifact(store: SqliteStore, root: Path) -> Path:
    """What ``index_builder build`` publishes: an IVF+SQ8 index of the store's vectors at its generation."""
    index = fill_from_store(trained("ivf-sq"), store.vectors, MODEL)
    return publish(
        root, index, store.vectors.vid_table(), index_type="ivf-sq", params={"nlist": NLIST, "nprobe": NLIST}, generation=store.generation()
    )


def test_load_artifact_swaps_in_the_artifact_and_applies_the_stores_delta(store: SqliteStore, snapshots: Path, tmp_path: Path) -> None:
    items = add_items(store, unit_vectors(60, seed=1))
    path = built_artifact(store, tmp_path / "built")
    live = open_live(store, snapshots)
    new = add_items(store, unit_vectors(4, seed=2), prefix="late")
    remove_items(store, items[:2])
    loaded = live.load_artifact(path)
    assert (loaded.added, loaded.removed, loaded.size, loaded.index_type) == (4, 2, 62, "ivf-sq")
    assert loaded.path == str(path) and loaded.model_id == MODEL
    assert live.kind.type == "ivf-sq" and live.kind.params == {"nlist": NLIST, "nprobe": NLIST}
    assert live.ids().tolist() == indexable(store)
    # Served re-ranked from the stored vectors: cosines are exact, not 8-bit approximations.
    assert all(finds_itself(live, store, i.vid) for i in [*new, *items[2:10]])


@pytest.mark.parametrize(("owner", "error"), [("other-store", InvalidInput), ("other-model", ModelMismatch)])
def test_load_artifact_refuses_a_foreign_artifact_and_keeps_serving(
    store: SqliteStore, snapshots: Path, tmp_path: Path, owner: str, error: type[Exception]
) -> None:
    add_items(store, unit_vectors(10, seed=1))
    live = open_live(store, snapshots)
    index = fill_from_store(FaissIndex(DIM), store.vectors, MODEL)
    id_of = {v: f"elsewhere-{v}" for v in index.ids().tolist()} if owner == "other-store" else store.vectors.vid_table()
    path = publish(tmp_path / "built", index, id_of, model_id=OTHER_MODEL if owner == "other-model" else MODEL)
    with pytest.raises(error):
        live.load_artifact(path)
    assert live.ids().tolist() == indexable(store) and live.kind.type == "flat"


# -- per-item rows ---------------------------------------------------------------


def assert_rows_right(hits: list[list[Hit]], vectors: dict[int, NDArray[np.float32]]) -> None:
    for hit in (h for per_query in hits for h in per_query):
        assert hit.row is not None
        np.testing.assert_allclose(hit.row, row_of(vectors[hit.vid][None, :])[0], atol=1e-6)


def test_rows_are_computed_once_per_vid_and_kept_across_swaps(store: SqliteStore, snapshots: Path, tmp_path: Path) -> None:
    rows = CountingRows()
    add_items(store, unit_vectors(60, seed=1))
    live = open_live(store, snapshots, rows)
    assert rows.computed == 60
    path = built_artifact(store, tmp_path / "built")
    add_items(store, unit_vectors(2, seed=2), prefix="late")
    live.load_artifact(path)
    assert rows.computed == 62  # only the two the artifact lacked
    with live.writing():
        (one,) = add_items(store, unit_vectors(1, seed=3), prefix="curated")
        live.add(np.array([one.vid]), stored_vector(store, one.vid)[None, :])
    assert rows.computed == 63
    assert live.compact() and live.wait_compaction(timeout=10)
    assert live.compactions == 1 and rows.computed == 63
    found, vectors = store.vectors.vectors_for(indexable(store), MODEL)
    assert_rows_right(live.search(unit_vectors(5, seed=4), 10), dict(zip(found.tolist(), vectors)))


def test_a_hit_never_comes_back_without_its_row_while_vectors_are_added(store: SqliteStore) -> None:
    # Regression: a new vector used to enter the index before its row was set, so a
    # search in that window got an IndexError (row array not grown yet) or a row of zeros.
    # A slow row function holds that window open on every add.
    rows = CountingRows(delay=0.004)
    (seed,) = add_items(store, unit_vectors(1, seed=1))
    live = LiveIndex(fill_from_store(FaissIndex(DIM), store.vectors, MODEL), store=store, model_id=MODEL, rows=rows)
    incoming = unit_vectors(30, seed=2)
    # Far-apart vids grow the row array on most adds.
    vectors = {seed.vid: stored_vector(store, seed.vid), **{1000 + 37 * i: v for i, v in enumerate(incoming)}}
    failures: list[BaseException] = []
    new_hits = [0]
    done = threading.Event()

    def write() -> None:
        try:
            for vid, vector in list(vectors.items())[1:]:
                live.add(np.array([vid]), vector[None, :])
        finally:
            done.set()

    def search(seed_: int) -> None:
        rng = np.random.default_rng(seed_)
        while not done.is_set() and not failures:
            try:
                # Query the incoming vectors themselves: each is its own top hit once added.
                hits = live.search(incoming[rng.integers(0, len(incoming), 4)], 3)
                assert_rows_right(hits, vectors)
                new_hits[0] += sum(h.vid != seed.vid for per_query in hits for h in per_query)
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                failures.append(exc)
            # The read lock prefers readers; back-to-back searches would starve the writer for seconds.
            time.sleep(0.0005)

    threads = [threading.Thread(target=write), *(threading.Thread(target=search, args=(s,)) for s in range(2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(t.is_alive() for t in threads)
    assert not failures, repr(failures[0]) if failures else ""
    assert new_hits[0] > 0  # the searches did run while vectors were arriving
    assert live.ids().tolist() == sorted(vectors)


def test_a_snapshot_reopens_to_the_same_search_results_and_rows(
    store: SqliteStore, snapshots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_items(store, unit_vectors(40, seed=1))
    before = open_live(store, snapshots, CountingRows())
    before.snapshot()
    forbid_rebuild(monkeypatch)
    after = open_live(store, snapshots, CountingRows())
    queries = unit_vectors(6, seed=9)
    for mine, theirs in zip(before.search(queries, 8), after.search(queries, 8)):
        assert [(h.vid, h.cosine) for h in mine] == [(h.vid, h.cosine) for h in theirs]
        for a, b in zip(mine, theirs):
            np.testing.assert_array_equal(a.row, b.row)


def test_writes_through_the_live_index_are_searchable_at_once_and_removals_gone(store: SqliteStore, snapshots: Path) -> None:
    items = add_items(store, unit_vectors(10, seed=1))
    live = open_live(store, snapshots)
    with live.writing():
        remove_items(store, items[:1])
        assert live.remove(np.array([items[0].vid])) == 1
    assert items[0].vid not in live.ids().tolist() and live.drift().total == 0
    # A store write the index never saw shows up as drift.
    add_items(store, unit_vectors(1, seed=2), prefix="unseen")
    assert (live.drift().missing, live.drift().extra) == (1, 0)


def test_searching_an_empty_index_with_rows_returns_no_hits(store: SqliteStore, snapshots: Path) -> None:
    # A fresh deployment: empty store, a background loaded (so a row function), first match request.
    # The FAISS padding ids (-1) must not be looked up in a still empty row array.
    live = open_live(store, snapshots, CountingRows())
    assert live.search(unit_vectors(2, seed=1), 5) == [[], []]


def test_a_snapshot_keeps_its_rows_so_a_replica_starting_from_it_computes_only_the_delta_s(store: SqliteStore, snapshots: Path) -> None:
    add_items(store, unit_vectors(40, seed=1))
    before = open_live_index(store, model_id=MODEL, dim=DIM, rows=CountingRows(), rows_key="background-1", snapshot_dir=snapshots)
    before.snapshot()
    add_items(store, unit_vectors(3, seed=2), prefix="late")
    rows = CountingRows()
    after = open_live_index(store, model_id=MODEL, dim=DIM, rows=rows, rows_key="background-1", snapshot_dir=snapshots)
    assert rows.computed == 3  # the delta's; the snapshot's 40 rows came with it
    found, vectors = store.vectors.vectors_for(indexable(store), MODEL)
    assert_rows_right(after.search(unit_vectors(5, seed=4), 10), dict(zip(found.tolist(), vectors)))
    # Rows computed from another background are not taken.
    other = CountingRows()
    open_live_index(store, model_id=MODEL, dim=DIM, rows=other, rows_key="background-2", snapshot_dir=snapshots)
    assert other.computed == 43
