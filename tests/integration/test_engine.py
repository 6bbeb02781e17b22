"""Engine bookkeeping (store <-> index, snapshots, validation).

These tests are about persistence and consistency, not matching quality, so
they use the clearly marked HashingEmbedder test double; matching quality is
tested with the real model in test_grpc_end_to_end.py and the evaluation.
"""

from __future__ import annotations

import json
import random
import shutil
import threading
from pathlib import Path

import pytest

from service.core import Engine, InvalidInput, LimitExceeded, NewReference, NotFound, Post, Verdict
from service.core.store.sqlite import SqliteStore
from tests.support.doubles import HashingEmbedder
from tests.support.factories import make_config

REFS = [
    NewReference(id="en-1", text="The fighters will gather at the old bridge before dawn on Friday.", lang="en"),
    NewReference(id="ur-1", text="جنگجو جمعہ کی صبح سے پہلے پرانے پل پر جمع ہوں گے۔", lang="ur"),
    NewReference(id="ps-1", text="جنګیالي به د جمعې په سهار له پخوا زاړه پل ته راټول شي.", lang="ps"),
]


def open_engine(data_dir: Path, embedder: HashingEmbedder | None = None, **overrides: object) -> Engine:
    return Engine.open(make_config(data_dir, **overrides), embedder=embedder or HashingEmbedder())


def add(engine: Engine, refs: list[NewReference]) -> list[str]:
    return [item.id for item in engine.curation.references.add(refs, actor="test").added]


def test_exact_copy_is_reupload_and_add_is_visible_immediately(data_dir: Path) -> None:
    engine = open_engine(data_dir)
    add(engine, REFS)
    [result] = engine.match([Post("p", "  the FIGHTERS will gather at the old bridge, before dawn on Friday!! ")])
    assert result.verdict is Verdict.REUPLOAD
    assert result.matches[0].reference_id == "en-1"


def test_removed_item_never_matches(data_dir: Path) -> None:
    engine = open_engine(data_dir)
    add(engine, REFS)
    assert engine.curation.references.remove(["ur-1", "missing"], actor="test") == (["ur-1"], ["missing"])
    [result] = engine.match([Post("p", REFS[1].text)])
    assert all(m.reference_id != "ur-1" for m in result.matches)
    assert engine.curation.references.get("ur-1").text == ""


def test_store_survives_restart_and_a_stale_snapshot_gets_the_store_delta(data_dir: Path) -> None:
    embedder = HashingEmbedder()
    engine = open_engine(data_dir, embedder)
    add(engine, REFS[:2])
    engine.close()
    # Simulate a crash after more writes: the store moves on, the snapshot does not.
    engine = open_engine(data_dir, embedder)
    add(engine, REFS[2:])
    engine.close(snapshot=False)
    snapshots = data_dir / "index"
    manifest = json.loads((snapshots / (snapshots / "LATEST").read_text().strip() / "manifest.json").read_text())
    engine = open_engine(data_dir, embedder)
    store = SqliteStore(make_config(data_dir).store_path)
    assert store.generation() != manifest["generation"] and manifest["count"] == 2
    store.close()
    assert len(engine.index) == 3
    [result] = engine.match([Post("p", REFS[2].text)])
    assert result.matches[0].reference_id == "ps-1"


def test_snapshot_of_another_model_is_not_loaded(data_dir: Path) -> None:
    engine = open_engine(data_dir, HashingEmbedder(64))
    add(engine, REFS)
    engine.close()
    other = HashingEmbedder(32)
    engine = open_engine(data_dir, other)
    # Every stored vector was re-embedded with the new model, none mixed in.
    assert len(engine.index) == 3 and engine.index.dim == 32
    engine.close()
    store = SqliteStore(make_config(data_dir).store_path)
    assert [i.id for batch in store.vectors.needing_vectors(other.model_id) for i in batch] == []
    store.close()


def test_validation_names_the_field(data_dir: Path) -> None:
    engine = open_engine(data_dir)
    with pytest.raises(InvalidInput) as exc:
        engine.match([Post("a", "fine"), Post("b", "   ")])
    assert exc.value.field == "posts[1].text"
    limits = engine.config.limits
    with pytest.raises(LimitExceeded) as exc:
        engine.match([Post(str(i), "x") for i in range(limits.max_posts_per_request + 1)])
    assert exc.value.field == "posts"
    with pytest.raises(LimitExceeded) as exc:
        engine.match([Post("a", "x" * (limits.max_text_bytes + 1))])
    assert exc.value.field == "posts[0].text"
    with pytest.raises(InvalidInput) as exc:
        add(engine, [NewReference(text="ok", lang="fr")])
    assert exc.value.field == "references[0].lang"
    with pytest.raises(NotFound):
        engine.curation.references.get("nope")


def test_post_with_nothing_left_after_normalisation_is_no_match(data_dir: Path) -> None:
    engine = open_engine(data_dir)
    add(engine, REFS)
    [result] = engine.match([Post("p", "https://example.com 🙂")])
    assert result.verdict is Verdict.NO_MATCH and result.matches == ()


def test_concurrent_adds_and_matches(data_dir: Path) -> None:
    engine = open_engine(data_dir)
    errors: list[BaseException] = []
    added: list[str] = []

    def adder(worker: int) -> None:
        try:
            for i in range(15):
                ref_id = f"w{worker}-{i}"
                add(engine, [NewReference(id=ref_id, text=f"worker {worker} statement number {i} about the convoy")])
                added.append(ref_id)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    def matcher() -> None:
        try:
            for i in range(30):
                for result in engine.match([Post("q", f"worker 1 statement number {i % 15} about the convoy")]):
                    for m in result.matches:
                        # Any match returned refers to a fully stored item.
                        assert engine.curation.references.get(m.reference_id).text
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=adder, args=(w,)) for w in range(3)] + [threading.Thread(target=matcher) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert errors == []
    assert len(engine.index) == 45 == len(added)


def _latest_snapshot(data_dir: Path) -> Path:
    snapshots = data_dir / "index"
    return snapshots / (snapshots / "LATEST").read_text().strip()


def test_an_older_index_file_under_a_newer_manifest_is_refused_and_the_store_rebuilds_it(data_dir: Path) -> None:
    # The outsider's case: a valid faiss.index of fewer vectors under the manifest of a later snapshot.
    embedder = HashingEmbedder()
    engine = open_engine(data_dir, embedder)
    add(engine, REFS[:1])
    engine.snapshot()
    old_index = (_latest_snapshot(data_dir) / "index.faiss").read_bytes()
    add(engine, REFS[1:])
    engine.close()
    (_latest_snapshot(data_dir) / "index.faiss").write_bytes(old_index)
    for stale in (data_dir / "index").iterdir():
        if stale.is_dir() and stale != _latest_snapshot(data_dir):
            shutil.rmtree(stale)
    engine = open_engine(data_dir, embedder)
    assert len(engine.index) == 3
    for ref in REFS:
        [result] = engine.match([Post("p", ref.text)])
        assert result.matches[0].reference_id == ref.id


def test_garbage_in_the_middle_of_a_snapshot_is_refused_and_the_store_rebuilds_it(data_dir: Path) -> None:
    embedder = HashingEmbedder()
    engine = open_engine(data_dir, embedder)
    refs = [NewReference(id=f"r{i}", text=f"notice {i}: the convoy leaves from gate {i * 7} at {i % 24} hours", lang="en") for i in range(400)]
    add(engine, refs)
    engine.close()
    path = _latest_snapshot(data_dir) / "index.faiss"
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    # Inside the vector data: FAISS itself reads the file without complaint.
    data[middle:middle + 4096] = random.Random(3).randbytes(4096)
    path.write_bytes(bytes(data))
    engine = open_engine(data_dir, embedder)
    assert len(engine.index) == 400
    # Each stored vector finds itself first: none of the index's vectors is garbage.
    vectors = embedder.embed([ref.text for ref in refs])
    hits = engine.index.search(vectors, 1)
    wrong = [ref.id for ref, h in zip(refs, hits)
             if h[0].vid != engine.curation.references.get(ref.id).vid or not 0.999 < h[0].cosine < 1.001]
    assert wrong == []
