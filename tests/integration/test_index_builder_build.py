"""index_builder build: input formats, rejects, dedupe, resume, artifacts, index types, refusals.

These are about artifact and pipeline mechanics, not matching quality, so they
use the HashingEmbedder test double; screening and the hot swap use the real model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from index_builder.build import BuildOptions, build, build_index
from index_builder.sources import Record, Reject, read_rows
from service.core import AuditQuery, Engine, FailedPrecondition, InvalidInput, ModelMismatch, NewReference, Post, Verdict
from service.core.index.artifact import open_artifact, read_manifest
from service.core.store.sqlite import SqliteStore
from tests.support.doubles import FailingEmbedder, HashingEmbedder
from tests.support.factories import make_config

GOOD = [
    {"id": "en-1", "text": "The fighters will gather at the old bridge before dawn on Friday.", "lang": "en", "bank": "b1", "labels": ["org:x"]},
    {"id": "ur-1", "text": "جنگجو جمعہ کی صبح سے پہلے پرانے پل پر جمع ہوں گے۔", "lang": "ur", "bank": "b1", "labels": ["org:x", "type:call"]},
    {"id": "ps-1", "text": "جنګیالي به د جمعې په سهار له پخوا زاړه پل ته راټول شي.", "lang": "ps", "bank": "b2", "labels": []},
    {"id": "en-2", "text": "Bring water and blankets to the camp near the river.", "lang": "en", "bank": "b2", "labels": ["org:y"]},
]
DUPE = {"id": "en-1-copy", "text": "the FIGHTERS will gather at the old bridge, before dawn on Friday!!", "lang": "en", "bank": "b1", "labels": []}


def write_jsonl(path: Path, rows: list[dict[str, object]], *, bad_bytes: bool = True) -> Path:
    with path.open("wb") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
        if bad_bytes:
            fh.write(b'{"id": "bad-utf8", "text": "caf\xe9 latte"}\n')
        fh.write(b'{"id": "", "text": "no id here"}\n{"id": "empty", "text": "   "}\nnot json at all\n')
    return path


def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "text", "lang", "bank", "labels"])
    for r in rows:
        writer.writerow([r["id"], r["text"], r["lang"], r["bank"], "|".join(r["labels"])])  # type: ignore[arg-type]
    writer.writerow(["", "no id here", "", "", ""])
    writer.writerow(["empty", "  ", "", "", ""])
    data = buf.getvalue().encode() + b"bad-utf8,caf\xe9 latte,en,,\n"
    path.write_bytes(data)
    return path


def write_parquet(path: Path, rows: list[dict[str, object]]) -> Path:
    texts = [str(r["text"]).encode() for r in rows] + [b"no id here", b"  ", b"caf\xe9 latte"]
    table = pa.table(
        {
            "id": [str(r["id"]) for r in rows] + ["", "empty", "bad-utf8"],
            "text": pa.array(texts, pa.binary()),
            "lang": [str(r["lang"]) for r in rows] + ["", "", "en"],
            "bank": [str(r["bank"]) for r in rows] + ["", "", ""],
            "labels": [list(r["labels"]) for r in rows] + [[], [], []],  # type: ignore[call-overload]
        }
    )
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize("writer", [write_jsonl, write_csv, write_parquet])
def test_three_formats_give_the_same_records_and_rejects(tmp_path: Path, writer: object) -> None:
    path = writer(tmp_path / f"refs.{ {write_jsonl: 'jsonl', write_csv: 'csv', write_parquet: 'parquet'}[writer] }", GOOD)  # type: ignore[operator, index]
    rows = list(read_rows(path))
    records = [r for r in rows if isinstance(r, Record)]
    assert [(r.id, r.text, r.lang, r.bank, r.labels) for r in records] == [
        (g["id"], g["text"], g["lang"], g["bank"], tuple(g["labels"])) for g in GOOD  # type: ignore[arg-type]
    ]
    reasons = sorted(r.reason.split(" ")[0] + " " + r.reason.split(" ")[1] for r in rows if isinstance(r, Reject))
    assert "invalid UTF-8" in reasons and "missing id" in reasons and "empty text" in reasons
    assert [r.seq for r in rows] == list(range(len(rows)))


def test_custom_column_names(tmp_path: Path) -> None:
    from index_builder.sources import Columns

    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"post": "a1", "body": "hello there"}) + "\n", encoding="utf-8")
    [row] = read_rows(path, Columns(id="post", text="body"))
    assert isinstance(row, Record) and (row.id, row.text) == ("a1", "hello there")


def options(tmp_path: Path, source: Path, **kw: object) -> BuildOptions:
    return BuildOptions(input=source, artifacts_dir=tmp_path / "artifacts", batch_size=2, progress=False, **kw)  # type: ignore[arg-type]


def test_build_writes_store_and_artifact_with_manifest(tmp_path: Path, data_dir: Path) -> None:
    source = write_jsonl(tmp_path / "refs.jsonl", [*GOOD, DUPE])
    embedder = HashingEmbedder()
    summary = build(make_config(data_dir), options(tmp_path, source), embedder)
    assert (summary.added, summary.dupes, summary.rejects) == (4, 1, 4)
    # The input's banks did not exist: the build creates them, audited as itself.
    assert summary.banks_created == ["b1", "b2"]
    store = SqliteStore(make_config(data_dir).store_path)
    entries = store.audit.query(AuditQuery(target="bank:b1"), before_seq=None, limit=10)
    assert [(e.action, e.actor) for e in entries] == [("bank.create", "index_builder")]
    store.close()
    rejects = [json.loads(line) for line in Path(summary.rejects_file).read_text().splitlines()]
    assert [r["reason"].split(" ")[0] for r in rejects] == ["invalid", "missing", "empty", "invalid"]
    manifest = read_manifest(tmp_path / "artifacts")  # LATEST resolves to the new version
    assert Path(summary.artifact).name == manifest.version
    assert (manifest.model_id, manifest.dim, manifest.metric, manifest.index_type) == (embedder.model_id, 64, "inner_product", "flat")
    assert manifest.count == 4 and manifest.recall_at_10 == 1.0 and manifest.generation >= 1
    artifact = open_artifact(Path(summary.artifact), model_id=embedder.model_id, dim=64)
    assert sorted(artifact.ids) == sorted(g["id"] for g in GOOD)  # type: ignore[misc]
    assert not list((tmp_path / "artifacts").glob(".tmp-*"))
    # The items are in the service's store: an engine on the same data dir matches them.
    engine = Engine.open(make_config(data_dir), embedder=embedder)
    [result] = engine.match([Post("p", GOOD[1]["text"])])  # type: ignore[arg-type]
    assert result.verdict is Verdict.REUPLOAD and result.matches[0].reference_id == "ur-1"
    engine.close()


def test_build_resumes_without_redoing_finished_batches(tmp_path: Path, data_dir: Path) -> None:
    refs = [{"id": f"r{i}", "text": f"reference number {i} about the bridge at dawn {i * 7}", "lang": "en", "bank": "b", "labels": []} for i in range(10)]
    source = write_jsonl(tmp_path / "refs.jsonl", refs, bad_bytes=False)
    config = make_config(data_dir)
    with pytest.raises(KeyboardInterrupt):
        build(config, options(tmp_path, source), FailingEmbedder(fail_on_call=3))  # dies in the third batch
    resumed = FailingEmbedder()
    summary = build(config, options(tmp_path, source), resumed)
    assert resumed.texts == 6  # batches 1-2 (4 texts) were not embedded again
    assert summary.resumed_batches == 2 and summary.added == 10 and summary.rejects == 3
    assert read_manifest(Path(summary.artifact)).count == 10


def test_recall_floor_refuses_a_poor_index() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((4000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vids = np.arange(1, 4001, dtype=np.int64)
    with pytest.raises(FailedPrecondition, match="below the floor"):
        build_index(vids, vectors, index_type="ivf", nlist=64, nprobe=1, recall_queries=200)
    # Left to choose nprobe, build raises it until the floor is met.
    built = build_index(vids, vectors, index_type="ivf", nlist=64, recall_queries=200)
    assert built.recall >= 0.98 and built.spec.nprobe > 1


@pytest.mark.parametrize("index_type", ["ivf", "ivf-sq", "ivf-pq"])
def test_approximate_index_loads_and_applies_store_delta(tmp_path: Path, data_dir: Path, index_type: str) -> None:
    refs = [{"id": f"r{i}", "text": f"reference {i}: the convoy leaves the depot at {i} o'clock", "lang": "en", "bank": "b", "labels": []} for i in range(320)]
    source = write_jsonl(tmp_path / "refs.jsonl", refs, bad_bytes=False)
    embedder = HashingEmbedder()
    config = make_config(data_dir)
    summary = build(
        config,
        options(tmp_path, source, index_type=index_type, nlist=2, m=8 if index_type == "ivf-pq" else 0, recall_floor=0.5, recall_queries=50),
        embedder,
    )
    manifest = read_manifest(Path(summary.artifact))
    assert manifest.index_type == index_type and manifest.params["nlist"] == 2 and manifest.recall_at_10 is not None
    engine = Engine.open(config, embedder=embedder)
    # Changes after the artifact's generation: one item added, one removed.
    engine.curation.references.add([NewReference(id="late", text="a reference added after the build", lang="en")], actor="test")
    engine.curation.references.remove(["r5"], actor="test")
    loaded = engine.load_index(tmp_path / "artifacts")
    assert (loaded.added, loaded.removed, loaded.size) == (1, 1, 320)
    [late] = engine.match([Post("p", "a reference added after the build")])
    assert late.matches[0].reference_id == "late"
    [gone] = engine.match([Post("p", refs[5]["text"])])  # type: ignore[arg-type]
    assert all(m.reference_id != "r5" for m in gone.matches)
    engine.close()


def test_artifact_from_another_model_is_refused(tmp_path: Path, data_dir: Path) -> None:
    source = write_jsonl(tmp_path / "refs.jsonl", GOOD, bad_bytes=False)
    build(make_config(data_dir), options(tmp_path, source), HashingEmbedder(dim=64))
    engine = Engine.open(make_config(data_dir), embedder=HashingEmbedder(dim=32))
    with pytest.raises(ModelMismatch, match="test-double-hashing-64"):
        engine.load_index(tmp_path / "artifacts")
    engine.close()


def test_artifact_from_another_store_is_refused(tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    source = write_jsonl(tmp_path / "refs.jsonl", GOOD, bad_bytes=False)
    build(make_config(tmp_path / "a"), options(tmp_path, source), embedder)
    engine = Engine.open(make_config(tmp_path / "b"), embedder=embedder)
    engine.curation.references.add([NewReference(id="other", text="something else entirely")], actor="test")
    with pytest.raises(InvalidInput, match="does not belong to this store"):
        engine.load_index(tmp_path / "artifacts")
    engine.close()
