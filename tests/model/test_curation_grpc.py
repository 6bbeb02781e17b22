"""Curation over a real gRPC channel: real model, real FAISS, real SQLite."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import grpc
import pytest

from service.api import convert
from service.api._generated.nigran.v1 import curation_pb2, matcher_pb2
from service.api.status import field_violations
from service.core import Embedder, QuarantineConfig
from tests.support.grpc_harness import Client, code_of, start_client

pytestmark = pytest.mark.slow

EN = ("en-1", "en", "Our brothers will strike the checkpoint at the northern gate when the convoy passes on Friday night.")
UR = ("ur-1", "ur", "ہمارے بھائی جمعہ کی رات قافلہ گزرنے پر شمالی دروازے کی چوکی پر حملہ کریں گے۔")
PS = ("ps-1", "ps", "زموږ ورونه به د جمعې په شپه د شمالي دروازې پر پوسته برید وکړي کله چې کاروان تېرېږي.")
OTHER = ("en-2", "en", "Send money to the martyrs' fund through the usual shopkeeper in the old bazaar before Eid.")
EDITED_EN = "BREAKING: our brothers will strike the checkpoint at the northern gate when the convoy passes on Saturday night"


@pytest.fixture
def client(data_dir: Path, real_embedder: Embedder) -> Iterator[Client]:
    c = start_client(data_dir, real_embedder)
    yield c
    c.close()


def test_bank_lifecycle(client: Client) -> None:
    created = client.bank("threats", description="violent threats", thresholds={"translation_cosine": 0.9})
    assert created.enabled and created.kind == curation_pb2.NORMAL and created.created_by == "anonymous"
    assert created.effective_thresholds["translation_cosine"] == pytest.approx(0.9)
    default_nd = client.engine.thresholds.near_duplicate_lexical
    assert created.effective_thresholds["near_duplicate_lexical"] == pytest.approx(default_nd)
    names = [b.name for b in client.call("ListBanks", curation_pb2.ListBanksRequest()).banks]
    assert names == ["default", "threats"]
    assert code_of(lambda: client.bank("threats")) is grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.RpcError) as err:
        client.bank("x", thresholds={"bogus": 1.0})
    assert field_violations(err.value)[0][0] == "thresholds.bogus"

    updated = client.call(
        "UpdateBank", curation_pb2.UpdateBankRequest(name="threats", description="renamed", clear_thresholds=["translation_cosine"])
    )
    assert updated.description == "renamed" and dict(updated.thresholds) == {}
    assert updated.effective_thresholds["translation_cosine"] == pytest.approx(client.engine.thresholds.translation_cosine)

    client.add("threats", EN, UR)
    assert code_of(lambda: client.call("DeleteBank", curation_pb2.DeleteBankRequest(name="threats"))) is grpc.StatusCode.FAILED_PRECONDITION
    reply = client.call("DeleteBank", curation_pb2.DeleteBankRequest(name="threats", force=True))
    assert reply.removed == 2
    tomb = client.call("GetReference", curation_pb2.GetReferenceRequest(id="en-1"))
    assert tomb.state == curation_pb2.REMOVED and tomb.bank == "threats" and tomb.fingerprint
    assert client.match(EN[2]).verdict == matcher_pb2.NO_MATCH
    # Adding to the deleted bank is an error naming the bank; the default bank always exists.
    with pytest.raises(grpc.RpcError) as err:
        client.add("threats", OTHER)
    assert err.value.code() is grpc.StatusCode.NOT_FOUND and "threats" in err.value.details()
    assert client.add("", OTHER) == ["en-2"]
    assert code_of(lambda: client.call("DeleteBank", curation_pb2.DeleteBankRequest(name="default"))) is grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as err:
        client.match(OTHER[2], banks=("nope",))
    assert err.value.code() is grpc.StatusCode.NOT_FOUND and "nope" in err.value.details()


def test_disabled_bank_never_matches_on_any_path(client: Client) -> None:
    client.bank("b1")
    client.add("b1", EN)
    assert client.match(EN[2]).verdict == matcher_pb2.REUPLOAD
    client.call("UpdateBank", curation_pb2.UpdateBankRequest(name="b1", enabled=False))
    assert client.match(EN[2]).verdict == matcher_pb2.NO_MATCH  # exact fingerprint path
    assert client.match(EDITED_EN).verdict == matcher_pb2.NO_MATCH  # lexical/semantic path
    client.call("UpdateBank", curation_pb2.UpdateBankRequest(name="b1", enabled=True))
    assert client.match(EN[2]).verdict == matcher_pb2.REUPLOAD


def test_per_bank_thresholds(client: Client) -> None:
    client.bank("loose")
    client.bank("strict", thresholds={"near_duplicate_lexical": 1.01, "translation_cosine": 1.01})
    client.add("loose", ("l-1", *EN[1:]))
    client.add("strict", ("s-1", *EN[1:]))
    result = client.match(EDITED_EN)
    assert [m.reference_id for m in result.matches] == ["l-1"]
    # Exact copies are not thresholded: the strict bank still catches re-uploads.
    assert set(client.matched_ids(EN[2])) == {"l-1", "s-1"}


def test_labels_metadata_and_taxonomy(client: Client) -> None:
    client.bank("b")
    with pytest.raises(grpc.RpcError) as err:
        client.add("b", EN, labels=("org:example", "colour:red"))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(err.value)[0][0] == "references[0].labels[1]"
    client.add("b", EN, labels=("ORG:example", "type:call-to-violence"))
    item = client.call(
        "UpdateReference",
        curation_pb2.UpdateReferenceRequest(id="en-1", add_labels=["source:internal-review"], remove_labels=["type:call-to-violence"], set_metadata={"case": "42"}),
    )
    assert list(item.labels) == ["org:example", "source:internal-review"] and dict(item.metadata) == {"case": "42"}
    assert item.added_by == "anonymous" and item.detected_lang == "en" and item.declared_lang == "en"
    top = client.match(EN[2]).matches[0]
    assert list(top.labels) == ["org:example", "source:internal-review"] and dict(top.metadata) == {"case": "42"}
    listed = client.call("ListReferences", curation_pb2.ListReferencesRequest(label="source:internal-review")).references
    assert [r.id for r in listed] == ["en-1"]
    with pytest.raises(grpc.RpcError) as err:
        client.call("UpdateReference", curation_pb2.UpdateReferenceRequest(id="en-1", add_labels=["nope"]))
    assert field_violations(err.value)[0][0] == "add_labels[0]"


def test_disable_enable_remove_visible_to_next_match(client: Client) -> None:
    client.bank("b")
    client.add("b", EN, UR)
    disable = curation_pb2.DisableReferencesRequest(ids=["en-1", "missing"])
    reply = client.call("DisableReferences", disable)
    assert list(reply.changed) == ["en-1"] and list(reply.not_found) == ["missing"]
    assert "en-1" not in client.matched_ids(EN[2])  # exact path
    assert "en-1" not in client.matched_ids(EDITED_EN)
    disabled = client.call("ListReferences", curation_pb2.ListReferencesRequest(state=curation_pb2.DISABLED)).references
    assert [r.id for r in disabled] == ["en-1"]
    client.call("EnableReferences", curation_pb2.ReferenceIds(ids=["en-1"]))
    assert client.matched_ids(EN[2])[0] == "en-1"

    # Disabled until a time: back by itself once the time has passed.
    until = convert.timestamp_to_pb(time.time() + 1.5)
    client.call("DisableReferences", curation_pb2.DisableReferencesRequest(ids=["ur-1"], until=until))
    got = client.call("GetReference", curation_pb2.GetReferenceRequest(id="ur-1"))
    assert got.state == curation_pb2.DISABLED and got.HasField("disabled_until")
    assert "ur-1" not in client.matched_ids(UR[2])
    time.sleep(1.7)
    assert client.matched_ids(UR[2])[0] == "ur-1"
    past = convert.timestamp_to_pb(time.time() - 5)
    assert code_of(lambda: client.call("DisableReferences", curation_pb2.DisableReferencesRequest(ids=["ur-1"], until=past))) is grpc.StatusCode.INVALID_ARGUMENT

    client.call("RemoveReferences", curation_pb2.RemoveReferencesRequest(ids=["ur-1"]))
    assert "ur-1" not in client.matched_ids(UR[2])
    assert len(client.engine.index.ids()) == 1  # removal from FAISS is real


def test_suppression_bank_unflags_known_false_positive(client: Client) -> None:
    client.bank("threats")
    client.add("threats", EN, OTHER)
    benign = "Our brothers will strike the checkpoint at the northern gate when the convoy passes on Friday night — a line from the new film's trailer."
    assert client.match(benign).verdict != matcher_pb2.NO_MATCH  # a false positive as things stand
    client.bank("allow", kind=curation_pb2.SUPPRESSION, description="known false positives")
    client.add("allow", ("fp-1", "en", benign))
    result = client.match(benign)
    assert result.verdict == matcher_pb2.NO_MATCH and result.suppressed_by == "fp-1" and not result.matches
    # A bank filter cannot skip the allow-list.
    assert client.match(benign, banks=("threats",)).suppressed_by == "fp-1"
    # Other posts are still flagged.
    other = client.match(OTHER[2])
    assert other.verdict == matcher_pb2.REUPLOAD and other.suppressed_by == ""
    client.call("UpdateBank", curation_pb2.UpdateBankRequest(name="allow", enabled=False))
    assert client.match(benign).verdict != matcher_pb2.NO_MATCH


def test_quarantine_holds_out_a_sudden_hot_item_and_release_returns_it(data_dir: Path, real_embedder: Embedder) -> None:
    quarantine = QuarantineConfig(warmup_buckets=0, min_matches=3, rate_ratio=5.0, min_usual_rate=0.05, window_buckets=1, bucket_seconds=3600)
    client = start_client(data_dir, real_embedder, quarantine=quarantine)
    try:
        client.bank("b")
        client.add("b", EN, OTHER)
        assert client.matched_ids(OTHER[2]) == ["en-2"]
        for _ in range(3):
            assert client.matched_ids(EN[2]) == ["en-1"]
        # The third match crossed the line: held out from the very next match.
        assert client.match(EN[2]).verdict == matcher_pb2.NO_MATCH
        assert client.matched_ids(OTHER[2]) == ["en-2"]  # one match is not a jump
        held = client.call("ListReferences", curation_pb2.ListReferencesRequest(state=curation_pb2.QUARANTINED)).references
        assert [r.id for r in held] == ["en-1"]
        stats = client.call("GetCurationStats", curation_pb2.GetCurationStatsRequest())
        assert {c.state: c.count for c in stats.by_state}[curation_pb2.QUARANTINED] == 1
        ref_stats = client.call("GetReferenceStats", curation_pb2.GetReferenceRequest(id="en-1"))
        assert ref_stats.state == curation_pb2.QUARANTINED and ref_stats.recent_matches == 3
        [entry] = client.call("QueryAudit", curation_pb2.QueryAuditRequest(action="quarantine")).entries
        assert (entry.target, entry.actor) == ("en-1", "system") and '"recent_matches": 3' in entry.new_json
        released = client.call("ReleaseReferences", curation_pb2.ReferenceIds(ids=["en-1", "en-2"]))
        assert list(released.changed) == ["en-1"]
        assert client.matched_ids(EN[2]) == ["en-1"]
    finally:
        client.close()


def test_feedback_and_precision(client: Client) -> None:
    client.add("", EN)
    for post, verdict in (("p1", curation_pb2.TRUE_POSITIVE), ("p2", curation_pb2.TRUE_POSITIVE), ("p3", curation_pb2.FALSE_POSITIVE)):
        reply = client.call("ReportMatch", curation_pb2.ReportMatchRequest(reference_id="en-1", post_id=post, verdict=verdict, note="checked"))
    assert (reply.feedback.true_positives, reply.feedback.false_positives) == (2, 1)
    assert reply.feedback.precision == pytest.approx(2 / 3)
    stats = client.call("GetReferenceStats", curation_pb2.GetReferenceRequest(id="en-1"))
    assert stats.feedback.precision == pytest.approx(2 / 3)
    assert code_of(lambda: client.call("ReportMatch", curation_pb2.ReportMatchRequest(reference_id="nope", post_id="p", verdict=curation_pb2.TRUE_POSITIVE))) is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        client.call("ReportMatch", curation_pb2.ReportMatchRequest(reference_id="en-1", post_id="p"))
    assert field_violations(err.value)[0][0] == "verdict"
    client.add("", OTHER)
    unreviewed = client.call("GetReferenceStats", curation_pb2.GetReferenceRequest(id="en-2")).feedback
    assert not unreviewed.HasField("precision") and unreviewed.true_positives == 0


def test_audit_records_every_change_with_old_and_new(client: Client) -> None:
    started = time.time()
    client.bank("b")
    client.add("b", EN)
    client.call("UpdateReference", curation_pb2.UpdateReferenceRequest(id="en-1", add_labels=["org:x"]))
    client.call("DisableReferences", curation_pb2.DisableReferencesRequest(ids=["en-1"]))
    client.call("EnableReferences", curation_pb2.ReferenceIds(ids=["en-1"]))
    client.call("ReportMatch", curation_pb2.ReportMatchRequest(reference_id="en-1", post_id="p", verdict=curation_pb2.FALSE_POSITIVE))
    client.call("RemoveReferences", curation_pb2.RemoveReferencesRequest(ids=["en-1"]))
    client.call("UpdateBank", curation_pb2.UpdateBankRequest(name="b", enabled=False))
    entries = client.call("QueryAudit", curation_pb2.QueryAuditRequest(target="en-1")).entries
    assert [e.action for e in entries] == ["remove", "feedback", "enable", "disable", "update", "add"]
    assert all(e.actor == "anonymous" for e in entries)
    update = entries[4]
    assert '"labels": []' in update.old_json and '"labels": ["org:x"]' in update.new_json
    bank = client.call("QueryAudit", curation_pb2.QueryAuditRequest(target="bank:b")).entries
    assert [e.action for e in bank] == ["bank.update", "bank.create"] and '"enabled": false' in bank[0].new_json
    # Paging, newest first.
    first = client.call("QueryAudit", curation_pb2.QueryAuditRequest(page_size=3))
    second = client.call("QueryAudit", curation_pb2.QueryAuditRequest(page_size=3, page_token=first.next_page_token))
    seqs = [e.seq for e in [*first.entries, *second.entries]]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 6
    since = client.call("QueryAudit", curation_pb2.QueryAuditRequest(since=convert.timestamp_to_pb(time.time() + 60))).entries
    assert list(since) == [] and all(e.at.seconds >= int(started) for e in entries)


def _export(client: Client, after: int = 0) -> list[curation_pb2.Reference]:
    return list(client.curation.ExportReferences(curation_pb2.ExportReferencesRequest(after=after), timeout=60))


def test_export_import_round_trip_with_tombstones_and_cursor(tmp_path: Path, real_embedder: Embedder) -> None:
    source = start_client(tmp_path / "a", real_embedder)
    target = start_client(tmp_path / "b", real_embedder)
    try:
        source.bank("threats")
        source.add("threats", EN, UR, PS, labels=("org:example",))
        source.call("DisableReferences", curation_pb2.DisableReferencesRequest(ids=["ps-1"]))
        source.call("RemoveReferences", curation_pb2.RemoveReferencesRequest(ids=["en-1"]))
        records = _export(source)
        assert [(r.id, r.state) for r in records] == [("ur-1", curation_pb2.ACTIVE), ("ps-1", curation_pb2.DISABLED), ("en-1", curation_pb2.REMOVED)]
        assert records[2].text == "" and records[2].fingerprint
        cursor = records[-1].change_seq

        summary = target.curation.ImportReferences(iter(records), timeout=60)
        assert (summary.added, summary.unchanged) == (2, 1)
        assert target.matched_ids(UR[2])[0] == "ur-1" and "ps-1" not in target.matched_ids(PS[2])
        got = target.call("GetReference", curation_pb2.GetReferenceRequest(id="ps-1"))
        assert got.state == curation_pb2.DISABLED and list(got.labels) == ["org:example"] and got.bank == "threats"
        again = target.curation.ImportReferences(iter(records), timeout=60)
        assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 3)

        # Only what changed after the cursor, tombstones included.
        assert _export(source, cursor) == []
        source.call("RemoveReferences", curation_pb2.RemoveReferencesRequest(ids=["ur-1"]))
        source.call("EnableReferences", curation_pb2.ReferenceIds(ids=["ps-1"]))
        delta = _export(source, cursor)
        assert [(r.id, r.state) for r in delta] == [("ur-1", curation_pb2.REMOVED), ("ps-1", curation_pb2.ACTIVE)]
        applied = target.curation.ImportReferences(iter(delta), timeout=60)
        assert (applied.removed, applied.updated) == (1, 1)
        assert "ur-1" not in target.matched_ids(UR[2]) and target.matched_ids(PS[2]) == ["ps-1"]
    finally:
        source.close()
        target.close()


def test_list_references_pages(client: Client) -> None:
    client.bank("b")
    client.add("b", EN, UR, PS)
    first = client.call("ListReferences", curation_pb2.ListReferencesRequest(bank="b", page_size=2))
    second = client.call("ListReferences", curation_pb2.ListReferencesRequest(bank="b", page_size=2, page_token=first.next_page_token))
    assert [r.id for r in first.references] == ["en-1", "ur-1"] and [r.id for r in second.references] == ["ps-1"]
    assert second.next_page_token == ""
    assert code_of(lambda: client.call("ListReferences", curation_pb2.ListReferencesRequest(page_token="zz"))) is grpc.StatusCode.INVALID_ARGUMENT
