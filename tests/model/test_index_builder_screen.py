"""index_builder screen with the real model: same verdicts as Match, rejects, resume, Ray = local."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pyarrow.parquet as pq
import pytest

import index_builder.screen as screen_module
from index_builder.build import BuildOptions, build
from index_builder.screen import ScreenOptions, screen
from service.core import Embedder, Engine, NigranConfig, Post
from tests.support.factories import REPO, make_config

pytestmark = pytest.mark.slow

REFS = [
    {"id": "en-1", "lang": "en", "bank": "demo", "labels": ["org:example"], "text": "Our brothers will strike the checkpoint at the northern gate when the convoy passes on Friday night."},
    {"id": "ur-1", "lang": "ur", "bank": "demo", "labels": ["org:example"], "text": "ہمارے بھائی جمعہ کی رات قافلہ گزرنے پر شمالی دروازے کی چوکی پر حملہ کریں گے۔"},
    {"id": "ps-1", "lang": "ps", "bank": "other", "labels": ["org:example", "type:call"], "text": "زموږ ورونه به د جمعې په شپه د شمالي دروازې پر پوسته برید وکړي کله چې کاروان تېرېږي."},
    {"id": "en-2", "lang": "en", "bank": "demo", "labels": ["type:financing"], "text": "Send your donations to the brothers before the end of the month; every coin buys a bullet."},
]
POSTS = [
    ("p01", "Our brothers will strike the checkpoint at the northern gate when the convoy passes on Friday night!!"),
    ("p02", "The brothers are going to attack the north gate checkpoint on Friday night as the convoy goes past."),
    ("p03", "ہمارے بھائی جمعہ کی رات شمالی دروازے کی چوکی پر حملہ کریں گے"),
    ("p04", "زموږ ورونه به د جمعې په شپه د شمالي دروازې پر پوسته برید وکړي"),
    ("p05", "The weather in Lahore will be warm and sunny this weekend."),
    ("p06", "Send donations to the brothers before month end, each coin buys a bullet"),
    ("p07", "لاہور میں اس ہفتے موسم گرم اور دھوپ والا رہے گا۔"),
    ("p08", "د کابل په بازار کې نن ورځ د مڼو بیه ټیټه شوې ده."),
    ("p09", "Please donate to the flood relief fund for families in Swat."),
    ("p10", "the brothers will strike the CHECKPOINT at the northern gate, when the convoy passes on friday night"),
    ("p11", "Friday night: convoy, northern gate, checkpoint. You know what to do."),
    ("p12", "مہینے کے آخر سے پہلے اپنے عطیات بھائیوں کو بھیجیں"),
]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, real_embedder: Embedder) -> tuple[NigranConfig, Path]:
    root = tmp_path_factory.mktemp("screen")
    source = root / "refs.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in REFS), encoding="utf-8")
    config = make_config(root / "var", model_cache=REPO / "var")
    build(config, BuildOptions(input=source, artifacts_dir=root / "artifacts", progress=False), real_embedder)
    return config, root / "artifacts"


def archive(path: Path) -> Path:
    """The posts, plus rows the service would refuse."""
    with path.open("wb") as fh:
        for post_id, text in POSTS:
            fh.write(json.dumps({"id": post_id, "text": text}, ensure_ascii=False).encode() + b"\n")
        fh.write(b'{"id": "p13", "text": "broken \xff bytes"}\n{"text": "who posted this?"}\n{"id": "p15", "text": ""}\n')
        fh.write(json.dumps({"id": "p16", "text": "x" * 40_000}).encode() + b"\n")
    return path


def read_output(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_screen_gives_the_verdicts_match_gives_and_rejects_bad_rows(
    tmp_path: Path, loaded: tuple[NigranConfig, Path], real_embedder: Embedder
) -> None:
    config, artifacts = loaded
    out = tmp_path / "out.parquet"
    summary = screen(config, ScreenOptions(input=archive(tmp_path / "posts.jsonl"), output=out, index=artifacts, batch_size=5, progress=False), real_embedder)
    rows = read_output(out)
    assert [r["post_id"] for r in rows] == [p for p, _ in POSTS]
    engine = Engine.open(config, embedder=real_embedder)
    expected = engine.match([Post(p, t) for p, t in POSTS])
    engine.close(snapshot=False)
    assert [r["verdict"] for r in rows] == [e.verdict.value for e in expected]
    assert {r["verdict"] for r in rows} >= {"reupload", "near_duplicate", "translation", "no_match"}
    for row, want in zip(rows, expected):
        assert [m["reference_id"] for m in row["matches"]] == [m.reference_id for m in want.matches]
        assert [m["score"] for m in row["matches"]] == pytest.approx([m.score for m in want.matches], abs=1e-5)
        assert row["detected_lang"] == want.detected_lang
    first = rows[0]["matches"][0]
    assert (first["bank"], first["labels"], first["signal"]) == ("demo", ["org:example"], "exact")
    rejects = [json.loads(line) for line in Path(summary.rejects_file).read_text().splitlines()]
    assert [(r["line"], r["id"]) for r in rejects] == [(13, None), (14, None), (15, "p15"), (16, "p16")]
    assert "UTF-8" in rejects[0]["reason"] and "missing id" in rejects[1]["reason"]
    assert "empty" in rejects[2]["reason"] and "exceed" in rejects[3]["reason"]
    assert (summary.screened, summary.rejects, summary.rows) == (12, 4, 16)


def test_screen_resumes_after_an_interrupt(tmp_path: Path, loaded: tuple[NigranConfig, Path], real_embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    config, artifacts = loaded
    source = archive(tmp_path / "posts.jsonl")
    calls: list[int] = []
    real_batch = screen_module.screen_batch

    def dies_on_third(engine: Engine, rows: list[Any], **kw: Any) -> dict[str, Any]:
        calls.append(len(rows))
        if len(calls) == 3:
            raise KeyboardInterrupt("simulated interrupt")
        return real_batch(engine, rows, **kw)

    monkeypatch.setattr(screen_module, "screen_batch", dies_on_third)
    opts = ScreenOptions(input=source, output=tmp_path / "out.jsonl", index=artifacts, batch_size=4, progress=False)
    with pytest.raises(KeyboardInterrupt):
        screen(config, opts, real_embedder)
    assert not (tmp_path / "out.jsonl").exists()
    calls.clear()
    monkeypatch.setattr(screen_module, "screen_batch", lambda engine, rows, **kw: calls.append(len(rows)) or real_batch(engine, rows, **kw))
    summary = screen(config, opts, real_embedder)
    assert len(calls) == 2 and summary.resumed_batches == 2  # batches 0-1 were not screened again
    resumed = read_output(tmp_path / "out.jsonl")
    fresh = tmp_path / "fresh.jsonl"
    screen(config, ScreenOptions(input=source, output=fresh, index=artifacts, batch_size=4, progress=False, restart=True), real_embedder)
    assert resumed == read_output(fresh)


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """One local Ray cluster for the module's Ray tests: starting a second in one process can time out on 2 cores."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
    yield
    ray.shutdown()


def test_ray_engine_output_equals_single_machine(
    tmp_path: Path, loaded: tuple[NigranConfig, Path], real_embedder: Embedder, ray_session: None
) -> None:
    config, artifacts = loaded
    source = archive(tmp_path / "posts.jsonl")
    local = screen(config, ScreenOptions(input=source, output=tmp_path / "local.jsonl", index=artifacts, batch_size=4, progress=False), real_embedder)
    distributed = screen(
        config,
        ScreenOptions(input=source, output=tmp_path / "ray.jsonl", index=artifacts, batch_size=4, progress=False, engine="ray", workers=2),
    )
    a = sorted(read_output(tmp_path / "local.jsonl"), key=lambda r: r["post_id"])
    b = sorted(read_output(tmp_path / "ray.jsonl"), key=lambda r: r["post_id"])
    assert len(a) == len(b) == 12
    for x, y in zip(a, b):
        assert (x["post_id"], x["verdict"], x["detected_lang"]) == (y["post_id"], y["verdict"], y["detected_lang"])
        assert [m["reference_id"] for m in x["matches"]] == [m["reference_id"] for m in y["matches"]]
        assert [m["score"] for m in x["matches"]] == pytest.approx([m["score"] for m in y["matches"]], abs=1e-4)
    assert Path(local.rejects_file).read_text() == Path(distributed.rejects_file).read_text()


def test_ray_on_a_postgres_store_needs_no_shared_data_dir(tmp_path: Path, postgres_url: str, real_embedder: Embedder, ray_session: None) -> None:
    """Build into Postgres from one data dir; Ray actors screen from another, empty one, and agree with a local run."""
    import dataclasses

    from service.core import StoreConfig

    source = tmp_path / "refs.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in REFS), encoding="utf-8")
    builder = make_config(tmp_path / "builder", model_cache=REPO / "var", store=StoreConfig(url=postgres_url))
    build(builder, BuildOptions(input=source, artifacts_dir=tmp_path / "artifacts", progress=False), real_embedder)
    posts = archive(tmp_path / "posts.jsonl")
    local = screen(builder, ScreenOptions(input=posts, output=tmp_path / "local.jsonl", batch_size=4, progress=False), real_embedder)
    elsewhere = dataclasses.replace(builder, data_dir=tmp_path / "worker-node")
    screen(elsewhere, ScreenOptions(input=posts, output=tmp_path / "ray.jsonl", batch_size=4, progress=False, engine="ray", workers=2))
    assert not (tmp_path / "worker-node" / "references.sqlite3").exists()
    a = sorted(read_output(tmp_path / "local.jsonl"), key=lambda r: r["post_id"])
    b = sorted(read_output(tmp_path / "ray.jsonl"), key=lambda r: r["post_id"])
    assert len(a) == len(b) == 12 and local.rejects == 4
    assert [(x["post_id"], x["verdict"], [m["reference_id"] for m in x["matches"]]) for x in a] == [
        (y["post_id"], y["verdict"], [m["reference_id"] for m in y["matches"]]) for y in b
    ]
    assert any(x["matches"] for x in a)
