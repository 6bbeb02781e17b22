"""Admin.LoadIndex over real gRPC: a new artifact is swapped in under a stream of Match calls."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import grpc
import pytest

from index_builder.build import BuildOptions, build
from service.api._generated.nigran.v1 import admin_pb2, admin_pb2_grpc, curation_pb2, matcher_pb2
from service.core import Embedder
from tests.support.doubles import HashingEmbedder
from tests.support.factories import REFERENCES, REPO, make_config
from tests.support.grpc_harness import start

pytestmark = pytest.mark.slow

LATER = [  # references the build brings in (the running service's index does not hold them yet)
    {"id": "en-9", "lang": "en", "bank": "demo", "labels": ["type:financing"], "text": "Send your donations to the brothers before the end of the month; every coin buys a bullet."},
    {"id": "ps-9", "lang": "ps", "bank": "demo", "labels": ["type:recruitment"], "text": "ځوانان دې د ښار په لویدیځ جومات کې د ماښام له لمانځه وروسته راټول شي."},
]
PROBES = [
    "ہمارے بھائی جمعہ کی رات شمالی دروازے کی چوکی پر حملہ کریں گے",  # reupload-ish of ur-1
    "The brothers are going to attack the north gate checkpoint on Friday night as the convoy goes past.",
    "The weather in Lahore will be warm and sunny this weekend.",
]
# An Urdu translation of en-9: only the embedding index can find it.
TRANSLATION_OF_LATER = "مہینے کے آخر سے پہلے اپنے عطیات بھائیوں کو بھیجیں، ہر سکہ ایک گولی خریدتا ہے۔"


def test_load_index_swaps_under_load_without_failed_calls(tmp_path: Path, real_embedder: Embedder) -> None:
    data_dir = tmp_path / "var"
    running = start(data_dir, real_embedder)
    try:
        running.curation.CreateBank(curation_pb2.CreateBankRequest(name="demo"), timeout=10)
        running.curation.AddReferences(
            curation_pb2.AddReferencesRequest(
                references=[curation_pb2.ReferenceInput(id=i, text=t, lang=lang, bank="demo") for i, lang, t in REFERENCES]
            ),
            timeout=60,
        )
        source = tmp_path / "later.jsonl"
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in LATER), encoding="utf-8")
        # The build writes into the running service's store, then indexes all of it (ivf: an approximate type).
        summary = build(
            make_config(data_dir, model_cache=REPO / "var"),
            BuildOptions(input=source, artifacts_dir=data_dir / "artifacts", index_type="ivf", nlist=1, progress=False),
            real_embedder,
        )
        assert summary.added == 2 and summary.indexed == 5
        # A change after the artifact's checkpoint, to be applied as a delta on load.
        running.curation.RemoveReferences(curation_pb2.RemoveReferencesRequest(ids=["en-1"]), timeout=30)

        before = [(r.verdict, [m.reference_id for m in r.matches]) for r in running.match(*PROBES)]
        [missed] = running.match(TRANSLATION_OF_LATER)
        assert all(m.reference_id != "en-9" for m in missed.matches)

        stop = threading.Event()
        failures: list[str] = []
        answers: list[list[tuple[int, list[str]]]] = []

        def hammer() -> None:
            while not stop.is_set():
                try:
                    answers.append([(r.verdict, [m.reference_id for m in r.matches]) for r in running.match(*PROBES)])
                except grpc.RpcError as err:
                    failures.append(f"{err.code()}: {err.details()}")

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        admin = admin_pb2_grpc.AdminStub(running.channel)
        # The server reads artifacts from its artifacts directory only; "." is its LATEST.
        reply = admin.LoadIndex(admin_pb2.LoadIndexRequest(path="."), timeout=60)
        while len(answers) < 12 and not failures:
            threading.Event().wait(0.1)
        stop.set()
        for t in threads:
            t.join(timeout=60)

        assert failures == []
        assert (reply.index_type, reply.removed, reply.added, reply.size) == ("ivf", 1, 0, 4)
        assert reply.model_id == real_embedder.model_id and reply.path == Path(summary.artifact).name
        after = [(r.verdict, [m.reference_id for m in r.matches]) for r in running.match(*PROBES)]
        # Every answer is the old index's or the new one's, and the verdicts agree across the swap.
        assert all(answer in (before, after) for answer in answers), (before, after)
        assert [v for v, _ in before] == [v for v, _ in after]
        [found] = running.match(TRANSLATION_OF_LATER)
        assert found.verdict == matcher_pb2.TRANSLATION and found.matches[0].reference_id == "en-9"
    finally:
        running.close()


def test_load_index_from_another_model_is_failed_precondition(tmp_path: Path, real_embedder: Embedder) -> None:
    source = tmp_path / "refs.jsonl"
    source.write_text(json.dumps({"id": "x", "text": "a reference embedded by another model"}) + "\n", encoding="utf-8")
    build(make_config(tmp_path / "other"), BuildOptions(input=source, artifacts_dir=tmp_path / "var" / "artifacts", progress=False), HashingEmbedder())
    running = start(tmp_path / "var", real_embedder)
    try:
        with pytest.raises(grpc.RpcError) as err:
            admin_pb2_grpc.AdminStub(running.channel).LoadIndex(admin_pb2.LoadIndexRequest(path=str(tmp_path / "var" / "artifacts")), timeout=30)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "test-double-hashing" in (err.value.details() or "") and real_embedder.model_id in (err.value.details() or "")
        assert running.match(PROBES[2])[0].verdict == matcher_pb2.NO_MATCH  # still serving
    finally:
        running.close()
