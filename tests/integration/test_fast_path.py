"""Exact re-uploads are answered from the fingerprint without the model, under every admission rule.

A real SQLite store and FAISS index with the hashing test double, which
records every text the model is asked to embed. Each rule that can stop an
item matching (a disabled item or bank, a bank filter, a suppression bank)
must also stop its fingerprint from settling a post, and ``exhaustive``
must give the answer the model-backed path gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import pytest

from service.core import Bank, BankChanges, BankKind, Engine, NewReference, Post, Verdict
from service.core.index.base import Vectors
from service.core.wiring import build_parts
from tests.support.curation_factories import ACTOR, RAW_COSINE, TEXTS
from tests.support.doubles import HashingEmbedder
from tests.support.factories import make_config

# A near-copy of TEXTS[0] in the same bank: found by the model path only.
EDITED = TEXTS[0].replace("Friday", "Saturday")


class Recording(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.asked += list(texts)
        return super().embed(texts)


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[tuple[Engine, Recording]]:
    model = Recording()
    engine = Engine(build_parts(make_config(tmp_path / "var"), embedder=model, calibration=RAW_COSINE))
    engine.curation.banks.create(Bank(name="propaganda"), actor=ACTOR)
    engine.curation.references.add(
        [NewReference(id="r0", text=TEXTS[0], bank="propaganda"), NewReference(id="r0-edit", text=EDITED, bank="propaganda"),
         NewReference(id="r1", text=TEXTS[1], bank="propaganda")],
        actor=ACTOR,
    )
    model.asked.clear()
    try:
        yield engine, model
    finally:
        engine.close()


def one(engine: Engine, text: str, **kwargs: object) -> tuple[Verdict, list[str]]:
    [result] = engine.match([Post("p", text)], **kwargs)  # type: ignore[arg-type]
    return result.verdict, [m.reference_id for m in result.matches]


def test_an_exact_reupload_skips_the_model(opened: tuple[Engine, Recording]) -> None:
    engine, model = opened
    assert one(engine, "  THE fighters will gather at the old bridge before dawn on Friday!! ") == (Verdict.REUPLOAD, ["r0"])
    assert model.asked == []


def test_exhaustive_embeds_it_and_lists_every_match(opened: tuple[Engine, Recording]) -> None:
    engine, model = opened
    verdict, ids = one(engine, TEXTS[0], exhaustive=True)
    assert verdict is Verdict.REUPLOAD and ids[0] == "r0" and "r0-edit" in ids
    assert len(model.asked) == 1


def test_the_fast_verdict_and_best_match_are_the_exhaustive_ones(opened: tuple[Engine, Recording]) -> None:
    engine, _ = opened
    posts = [Post(str(i), t) for i, t in enumerate((TEXTS[0], TEXTS[1].upper(), EDITED, TEXTS[5], "tiny"))]
    fast = engine.match(posts)
    full = engine.match(posts, exhaustive=True)
    assert [r.verdict for r in fast] == [r.verdict for r in full]
    assert [r.matches[0].reference_id if r.matches else None for r in fast] == [
        r.matches[0].reference_id if r.matches else None for r in full
    ]


def test_a_mixed_call_embeds_only_the_posts_the_fingerprint_does_not_settle(opened: tuple[Engine, Recording]) -> None:
    engine, model = opened
    results = engine.match([Post("a", TEXTS[0]), Post("b", EDITED + " Really."), Post("c", TEXTS[1])])
    assert [r.verdict for r in results][0::2] == [Verdict.REUPLOAD, Verdict.REUPLOAD]
    assert len(model.asked) == 1 and model.asked[0].startswith("The fighters")


def test_a_disabled_item_settles_nothing(opened: tuple[Engine, Recording]) -> None:
    engine, model = opened
    engine.curation.references.disable(["r1"], until=None, actor=ACTOR)
    assert one(engine, TEXTS[1]) == (Verdict.NO_MATCH, [])
    assert len(model.asked) == 1


def test_a_disabled_bank_settles_nothing(opened: tuple[Engine, Recording]) -> None:
    engine, model = opened
    engine.curation.banks.update("propaganda", BankChanges(enabled=False), actor=ACTOR)
    assert one(engine, TEXTS[1]) == (Verdict.NO_MATCH, [])
    assert len(model.asked) == 1


def test_a_bank_filter_that_leaves_the_copy_out_settles_nothing(opened: tuple[Engine, Recording]) -> None:
    engine, model = opened
    engine.curation.banks.create(Bank(name="other"), actor=ACTOR)
    assert one(engine, TEXTS[1], banks=("other",)) == (Verdict.NO_MATCH, [])
    assert len(model.asked) == 1
    assert one(engine, TEXTS[1], banks=("propaganda",)) == (Verdict.REUPLOAD, ["r1"])
    assert len(model.asked) == 1


def test_with_a_suppression_bank_the_model_still_looks_for_what_it_allows(opened: tuple[Engine, Recording]) -> None:
    engine, model = opened
    engine.curation.banks.create(Bank(name="allow", kind=BankKind.SUPPRESSION), actor=ACTOR)
    # An allow-list entry that is a near-copy, not an exact copy, of r1.
    engine.curation.references.add([NewReference(id="ok", text=TEXTS[1] + " Enjoy.", bank="allow")], actor=ACTOR)
    model.asked.clear()
    [result] = engine.match([Post("p", TEXTS[1])])
    assert result.verdict is Verdict.NO_MATCH and result.suppressed_by == "ok"
    assert len(model.asked) == 1


def test_an_exact_copy_of_an_allowed_item_is_settled_as_suppressed(opened: tuple[Engine, Recording]) -> None:
    engine, model = opened
    engine.curation.banks.create(Bank(name="allow", kind=BankKind.SUPPRESSION), actor=ACTOR)
    engine.curation.references.add([NewReference(id="ok", text=TEXTS[1], bank="allow")], actor=ACTOR)
    model.asked.clear()
    [result] = engine.match([Post("p", TEXTS[1])])
    assert result.verdict is Verdict.NO_MATCH and result.suppressed_by == "ok"
    assert model.asked == []


def test_over_grpc_the_flag_reaches_the_engine(tmp_path: Path) -> None:
    from service.api._generated.nigran.v1 import curation_pb2, matcher_pb2
    from tests.support.grpc_harness import start

    model = Recording()
    running = start(tmp_path / "grpc", model)
    try:
        refs = [curation_pb2.ReferenceInput(id=i, text=t) for i, t in (("r0", TEXTS[0]), ("r0-edit", EDITED))]
        running.curation.AddReferences(curation_pb2.AddReferencesRequest(references=refs), timeout=30)
        model.asked.clear()
        post = [matcher_pb2.Post(id="p", text=TEXTS[0])]
        fast = running.matcher.Match(matcher_pb2.MatchRequest(posts=post), timeout=30).results[0]
        assert fast.verdict == matcher_pb2.REUPLOAD and [m.reference_id for m in fast.matches] == ["r0"]
        assert model.asked == []
        full = running.matcher.Match(matcher_pb2.MatchRequest(posts=post, exhaustive=True), timeout=30).results[0]
        assert full.verdict == matcher_pb2.REUPLOAD and {m.reference_id for m in full.matches} == {"r0", "r0-edit"}
        assert len(model.asked) == 1
    finally:
        running.close()
