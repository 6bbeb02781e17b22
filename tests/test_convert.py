"""Round trips through every protobuf <-> domain conversion."""

from __future__ import annotations

import pytest

from service.api import convert
from service.core.domain import Match, NewReference, Post, PostResult, ReferenceItem, ReferenceState, Signal, Verdict


def sample_match(kind: Verdict, signal: Signal) -> Match:
    return Match(
        reference_id="r1",
        score=0.75,
        kind=kind,
        signal=signal,
        bank="bank-a",
        labels=("org:x", "type:speech"),
        cosine=0.5,
        reference_lang="ps",
        metadata={"k": "v"},
    )


@pytest.mark.parametrize("verdict", list(Verdict))
@pytest.mark.parametrize("signal", list(Signal))
def test_post_result_round_trip(verdict: Verdict, signal: Signal) -> None:
    result = PostResult(
        post_id="p1",
        verdict=verdict,
        matches=(sample_match(verdict, signal),),
        detected_lang="ur",
        suppressed_by="s1",
    )
    assert convert.result_from_pb(convert.result_to_pb(result)) == result


def test_posts_round_trip() -> None:
    posts = [Post(id="1", text="ایک"), Post(id="2", text="two")]
    request = convert.posts_to_pb(posts, banks=("b",), top_k=3)
    assert convert.posts_from_pb(request) == posts
    assert list(request.banks) == ["b"] and request.top_k == 3


def test_new_reference_round_trip() -> None:
    ref = NewReference(text="متن", id="x", lang="ur", bank="b", labels=("org:y",), metadata={"a": "1"})
    assert convert.new_reference_from_pb(convert.new_reference_to_pb(ref)) == ref


def test_empty_bank_defaults() -> None:
    ref = NewReference(text="t", bank="")
    assert convert.new_reference_from_pb(convert.new_reference_to_pb(ref)).bank == "default"


@pytest.mark.parametrize("state", list(ReferenceState))
def test_reference_to_pb(state: ReferenceState) -> None:
    item = ReferenceItem(
        vid=1, id="r", text="t", canonical="t", fingerprint="f", declared_lang="ps", detected_lang="ps",
        bank="b", labels=("l",), metadata={"m": "n"}, added_by="curator:a", created_at=1700000000.25,
        updated_at=1700000001.5, state=state,
    )
    pb = convert.reference_to_pb(item)
    assert (pb.id, pb.bank, list(pb.labels), dict(pb.metadata), pb.added_by) == ("r", "b", ["l"], {"m": "n"}, "curator:a")
    assert convert.timestamp_from_pb(pb.created_at) == pytest.approx(1700000000.25)
    assert pb.state != 0


def test_generated_code_is_fresh(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The committed generated code equals what the pinned generator makes now."""
    import filecmp
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    out = tmp_path / "gen"
    subprocess.run(["bash", str(repo / "scripts/gen_proto.sh"), str(out)], check=True, cwd=repo, env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"})
    committed = repo / "service/api/_generated/nigran/v1"
    for path in sorted(committed.glob("*.py*")):
        assert filecmp.cmp(path, out / "nigran/v1" / path.name, shallow=False), f"{path.name} is stale: run make proto"


def test_reference_round_trip_with_exchange_fields() -> None:
    item = ReferenceItem(
        vid=0, id="r", text="متن", canonical="", fingerprint="f1", declared_lang="ur", detected_lang="ur",
        bank="b", labels=("org:x",), metadata={"m": "n"}, added_by="curator:a", created_at=1700000000.25,
        updated_at=1700000001.5, state=ReferenceState.DISABLED, disabled_until=1800000000.0, change_seq=42,
    )
    assert convert.reference_from_pb(convert.reference_to_pb(item)) == item


def test_bank_round_trips() -> None:
    from service.core.banks import Bank, BankChanges, BankKind
    from service.core.config import Thresholds

    bank = Bank(name="allow", description="d", enabled=False, kind=BankKind.SUPPRESSION, thresholds={"translation_cosine": 0.9},
                created_at=1700000000.0, updated_at=1700000001.0, created_by="curator:a", item_count=3)
    pb = convert.bank_to_pb(bank, Thresholds())
    assert convert.bank_from_pb(pb) == bank
    assert pb.effective_thresholds["near_duplicate_lexical"] == Thresholds().near_duplicate_lexical
    create = Bank(name="b", description="x", enabled=False, kind=BankKind.SUPPRESSION, thresholds={"translation_margin": 1.2})
    assert convert.create_bank_from_pb(convert.create_bank_to_pb(create)) == create
    for changes in (BankChanges(), BankChanges(description="", enabled=False, kind=BankKind.NORMAL, set_thresholds={"translation_cosine": 0.5}, clear_thresholds=("a",))):
        assert convert.bank_changes_from_pb(convert.bank_changes_to_pb("b", changes)) == changes


def test_feedback_stats_audit_import_round_trips() -> None:
    from service.core.curation import CurationStats, ImportSummary, ReferenceStats
    from service.core.feedback import Feedback, FeedbackSummary, FeedbackVerdict
    from service.core.quarantine import MatchRate
    from service.core.store import AuditEntry

    for verdict in FeedbackVerdict:
        fb = Feedback(reference_id="r", post_id="p", verdict=verdict, note="n", reporter="curator:a")
        assert convert.feedback_from_pb(convert.feedback_to_pb(fb), reporter="curator:a") == fb
    stats = ReferenceStats("r", ReferenceState.QUARANTINED, FeedbackSummary(2, 1), MatchRate(3, 4, 5, 600))
    pb_stats = convert.reference_stats_to_pb(stats)
    assert convert.reference_stats_from_pb(pb_stats) == stats and pb_stats.feedback.precision == pytest.approx(2 / 3)
    cstats = CurationStats(by_state={s: i for i, s in enumerate(ReferenceState)}, banks=2, index_size=9, quarantine_enabled=True)
    assert convert.curation_stats_from_pb(convert.curation_stats_to_pb(cstats)) == cstats
    for old, new in ((None, {"state": "disabled", "labels": ["org:ی"]}), ({"a": 1}, None)):
        entry = AuditEntry(seq=7, at=1700000000.5, actor="system", action="quarantine", target="r", old=old, new=new)
        assert convert.audit_entry_from_pb(convert.audit_entry_to_pb(entry)) == entry
    summary = ImportSummary(added=1, updated=2, removed=3, unchanged=4, skipped=("x",))
    assert convert.import_summary_from_pb(convert.import_summary_to_pb(summary)) == summary
    assert convert.state_from_pb(convert.state_to_pb(None)) is None
def test_loaded_index_to_pb() -> None:
    from service.core.artifact import LoadedIndex, Manifest

    manifest = Manifest(
        version="v1", model_id="m@abc", dim=384, index_type="ivf-sq", params={"nlist": 4, "nprobe": 2}, count=10,
        created_at=1.0, generation=7, recall_at_10=0.99,
    )
    pb = convert.loaded_index_to_pb(LoadedIndex(path="/a/v1", manifest=manifest, added=2, removed=1, size=11))
    assert (pb.path, pb.version, pb.model_id, pb.index_type, pb.generation) == ("/a/v1", "v1", "m@abc", "ivf-sq", 7)
    assert (pb.added, pb.removed, pb.size) == (2, 1, 11)
    assert pb.recall_at_10 == pytest.approx(0.99)
