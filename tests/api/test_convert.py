"""The protobuf <-> domain conversions of ``service/api/convert.py``.

Three kinds of check:

* round trips of hand-picked values (every verdict, signal, state, bank kind);
* completeness: for every conversion pair, a domain value with every field
  set to something other than its default survives ``*_to_pb`` then
  ``*_from_pb``, and the message ``*_to_pb`` makes has every field of its
  descriptor set, so a field added to a .proto but forgotten in convert.py
  fails here;
* the handling of UNSPECIFIED / unknown enum numbers, and the trailing
  metadata that carries ExportReferences' next cursor.
"""

from __future__ import annotations

import dataclasses
import filecmp
import inspect
import random
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from service.api import convert
from service.api._generated.nigran.v1 import admin_pb2, curation_pb2, matcher_pb2
from service.core import (
    AuditEntry, AuditQuery, Bank, BankChanges, BankKind, BankStats, Comparison, CurationStats, DailyFeedback, Feedback, FeedbackSummary,
    FeedbackVerdict, ImportSummary, InvalidInput, LoadedIndex, LoggedMatch, Manifest, Match, MatchLogQuery, MatchOptions, MatchRate, Measure, NewReference, Post,
    PostResult, ReferenceQuery, ReferenceState, ReferenceStats, Signal, SignalScore, StateChange, Thresholds, Verdict
)
from tests.support.api_factories import reference_item
from tests.support.factories import REPO

# -- hand-picked round trips (ported from before the redesign) ---------------------


def sample_match(kind: Verdict = Verdict.TRANSLATION, signal: Signal = Signal.SEMANTIC) -> Match:
    # Scores are exact in float32 (the proto's type), so equality is exact too.
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
    request = convert.match_request_to_pb(posts, banks=("b",), top_k=3)
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
    pb = convert.reference_to_pb(reference_item(state, disabled_until=None))
    assert (pb.id, pb.bank, list(pb.labels), dict(pb.metadata), pb.added_by) == ("r", "b", ["org:x"], {"m": "n"}, "curator:a")
    assert convert.timestamp_from_pb(pb.created_at) == pytest.approx(1700000000.25)
    assert pb.state != curation_pb2.REFERENCE_STATE_UNSPECIFIED
    # No window: the field is absent, not the epoch.
    assert not pb.HasField("disabled_until")
    assert convert.reference_from_pb(pb).disabled_until is None


def test_reference_round_trip_with_exchange_fields() -> None:
    # vid and canonical are the receiving server's own, so they do not travel.
    item = reference_item(vid=0, canonical="")
    assert convert.reference_from_pb(convert.reference_to_pb(item)) == item


def test_bank_round_trips() -> None:
    bank = Bank(name="allow", description="d", enabled=False, kind=BankKind.SUPPRESSION, thresholds={"translation_cosine": 0.9},
                created_at=1700000000.0, updated_at=1700000001.0, created_by="curator:a", item_count=3)
    pb = convert.bank_to_pb(bank, Thresholds())
    assert convert.bank_from_pb(pb) == bank
    assert pb.effective_thresholds["near_duplicate_lexical"] == Thresholds().near_duplicate_lexical
    create = Bank(name="b", description="x", enabled=False, kind=BankKind.SUPPRESSION, thresholds={"translation_margin": 1.2})
    assert convert.create_bank_from_pb(convert.create_bank_to_pb(create)) == create
    for changes in (BankChanges(), BankChanges(description="", enabled=False, kind=BankKind.NORMAL, set_thresholds={"translation_cosine": 0.5}, clear_thresholds=("a",))):
        assert convert.bank_changes_from_pb(convert.bank_changes_to_pb("b", changes)) == changes


def test_bank_changes_none_means_absent() -> None:
    # Presence is what tells "leave it" from "set it to empty / false".
    pb = convert.bank_changes_to_pb("b", BankChanges())
    assert not pb.HasField("description") and not pb.HasField("enabled")
    assert pb.kind == curation_pb2.BANK_KIND_UNSPECIFIED
    pb = convert.bank_changes_to_pb("b", BankChanges(description="", enabled=False))
    assert pb.HasField("description") and pb.HasField("enabled")


def test_feedback_stats_audit_import_round_trips() -> None:
    for verdict in FeedbackVerdict:
        fb = Feedback(reference_id="r", post_id="p", verdict=verdict, note="n", reporter="curator:a")
        assert convert.feedback_from_pb(convert.feedback_to_pb(fb), reporter="curator:a") == fb
    stats = ReferenceStats("r", ReferenceState.QUARANTINED, FeedbackSummary(2, 1), MatchRate(3, 4, 5, 600))
    pb_stats = convert.reference_stats_to_pb(stats)
    assert convert.reference_stats_from_pb(pb_stats) == stats and pb_stats.feedback.precision == pytest.approx(2 / 3)
    cstats = CurationStats(
        by_state={s: i for i, s in enumerate(ReferenceState)}, banks=2, index_size=9, quarantine_enabled=True,
        thresholds_bank_by_lang={"en": 5, "ps": 4}, thresholds_sized_for=1000, expected_fp_per_post={"ps>en": 0.009},
        target_fp_per_post=0.01, thresholds_follow_bank=True,
    )
    assert convert.curation_stats_from_pb(convert.curation_stats_to_pb(cstats)) == cstats
    for old, new in ((None, {"state": "disabled", "labels": ["org:ی"]}), ({"a": 1}, None)):
        entry = AuditEntry(seq=7, at=1700000000.5, actor="system", action="quarantine", target="r", old=old, new=new)
        assert convert.audit_entry_from_pb(convert.audit_entry_to_pb(entry)) == entry
    summary = ImportSummary(added=1, updated=2, removed=3, unchanged=4, skipped=("x",))
    assert convert.import_summary_from_pb(convert.import_summary_to_pb(summary)) == summary
    assert convert.state_from_pb(convert.state_to_pb(None)) is None


def test_unreviewed_precision_is_absent() -> None:
    # None until someone reviews: the optional field is left unset, not 0.0.
    pb = convert.feedback_summary_to_pb(FeedbackSummary())
    assert not pb.HasField("precision")


def test_loaded_index_to_pb() -> None:
    manifest = Manifest(
        version="v1", model_id="m@abc", dim=384, index_type="ivf-sq", params={"nlist": 4, "nprobe": 2}, count=10,
        created_at=1.0, generation=7, recall_at_10=0.99,
    )
    loaded = LoadedIndex(path="/a/v1", version=manifest.version, model_id=manifest.model_id, index_type=manifest.index_type,
                         generation=manifest.generation, recall_at_10=manifest.recall_at_10, added=2, removed=1, size=11)
    pb = convert.loaded_index_to_pb(loaded)
    assert (pb.path, pb.version, pb.model_id, pb.index_type, pb.generation) == ("/a/v1", "v1", "m@abc", "ivf-sq", 7)
    assert (pb.added, pb.removed, pb.size) == (2, 1, 11)
    assert pb.recall_at_10 == pytest.approx(0.99)
    # An index without a measured recall: 0 on the wire, None again on the way back.
    unmeasured = dataclasses.replace(loaded, recall_at_10=None)
    assert convert.loaded_index_from_pb(convert.loaded_index_to_pb(unmeasured)) == unmeasured


@pytest.mark.parametrize("seconds", [0.0, 1700000000.0, 1700000000.25, 1700000000.999999999, 1.5e-9])
def test_timestamp_round_trip(seconds: float) -> None:
    ts = convert.timestamp_to_pb(seconds)
    assert 0 <= ts.nanos <= 999_999_999
    assert convert.timestamp_from_pb(ts) == pytest.approx(seconds, abs=1e-6)


def test_timestamps_round_trip_exactly() -> None:
    """Exact, not approximate: import compares disabled_until as received with the stored float."""
    rng = random.Random(0)
    for _ in range(2000):
        seconds = rng.uniform(1.6e9, 2.0e9)
        assert convert.timestamp_from_pb(convert.timestamp_to_pb(seconds)) == seconds


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    """The committed generated code equals what the pinned generator makes now."""
    out = tmp_path / "gen"
    subprocess.run(["bash", str(REPO / "scripts/gen_proto.sh"), str(out)], check=True, cwd=REPO, env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"})
    committed = REPO / "service/api/_generated/nigran/v1"
    generated = sorted(committed.glob("*.py*"))
    assert generated
    for path in generated:
        assert filecmp.cmp(path, out / "nigran/v1" / path.name, shallow=False), f"{path.name} is stale: run make proto"


# -- completeness --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pair:
    """One conversion pair, with a domain value that sets every field.

    ``to_pb`` is what the sending side calls, ``from_pb`` what the receiving
    side does with the message (for requests whose extra fields the handler
    reads directly, the same reads). ``not_carried`` names domain fields that
    by design do not travel, with the value the receiver gives them.
    ``flipped``: fields whose domain default is the wire's non-default (a bank
    is enabled unless said otherwise); the sample holds the wire's non-default
    so the message check sees it, and a second round trip uses these values.
    """

    sample: Any
    to_pb: Callable[[Any], Message]
    from_pb: Callable[[Message], Any]
    not_carried: dict[str, Any] = dataclasses.field(default_factory=dict)
    flipped: dict[str, Any] = dataclasses.field(default_factory=dict)

    def samples(self) -> list[Any]:
        return [self.sample, dataclasses.replace(self.sample, **self.flipped)] if self.flipped else [self.sample]

    def expected_back(self, sample: Any) -> Any:
        return dataclasses.replace(sample, **self.not_carried) if self.not_carried else sample


# Fractional seconds everywhere, so a lost Timestamp.nanos shows up too.
T1, T2, T3 = 1700000000.25, 1700000001.5, 1800000000.75
SUMMARY = FeedbackSummary(true_positives=2, false_positives=1)

PAIRS: dict[str, Pair] = {
    "MatchRequest": Pair(
        (
            [Post(id="1", text="ایک"), Post(id="2", text="two")], ("b1", "b2"), 3, True,
            MatchOptions(
                verdicts=frozenset({Verdict.TRANSLATION, Verdict.NEAR_DUPLICATE}),
                min_scores={Verdict.TRANSLATION: 0.5, Verdict.PARAPHRASE: 0.75},
                metadata={"source": "telegram"},
            ),
        ),
        lambda v: convert.match_request_to_pb(v[0], banks=v[1], top_k=v[2], exhaustive=v[3], options=v[4]),
        lambda pb: (convert.posts_from_pb(pb), tuple(pb.banks), pb.top_k, pb.exhaustive, convert.match_options_from_pb(pb)),
    ),
    "Match": Pair(sample_match(), convert.match_to_pb, convert.match_from_pb),
    "PostResult": Pair(
        PostResult(
            post_id="p", verdict=Verdict.TRANSLATION, matches=(sample_match(),), detected_lang="ur", suppressed_by="allow-1",
            fingerprint="f" * 16,
        ),
        convert.result_to_pb,
        convert.result_from_pb,
    ),
    "MatchResponse": Pair(
        [PostResult(
            post_id="p", verdict=Verdict.REUPLOAD, matches=(sample_match(Verdict.REUPLOAD, Signal.EXACT),), detected_lang="en",
            suppressed_by="s", fingerprint="e" * 16,
        )],
        convert.results_to_pb,
        lambda pb: [convert.result_from_pb(r) for r in pb.results],
    ),
    "CompareRequest": Pair(("ایک پوسٹ", "a post"), lambda v: convert.compare_request_to_pb(*v), lambda pb: (pb.text_a, pb.text_b)),
    # Each score clears its threshold, so the message check sees `cleared` set.
    "CompareResponse": Pair(
        Comparison(
            verdict=Verdict.TRANSLATION, reason="translation: translation_score 0.990 >= 0.980 for ur>en", lang_a="ur", lang_b="en",
            fingerprint_a="a" * 16, fingerprint_b="b" * 16,
            signals=tuple(SignalScore(m, 2.5 + i, 0.5 + i) for i, m in enumerate(Measure)), decided_by=Measure.TRANSLATION_SCORE,
        ),
        convert.comparison_to_pb,
        convert.comparison_from_pb,
    ),
    "ReferenceInput": Pair(
        # Text and fingerprint both, so the check sees every field; the server refuses such an item (write path).
        NewReference(text="متن", id="x", lang="ur", bank="b", labels=("org:y",), metadata={"a": "1"}, fingerprint="c" * 64),
        convert.new_reference_to_pb,
        convert.new_reference_from_pb,
    ),
    "AddReferencesRequest": Pair(
        [NewReference(text="t", id="x", lang="en", bank="b", labels=("org:y",), metadata={"a": "1"}, fingerprint="d" * 64)],
        convert.add_request_to_pb,
        lambda pb: [convert.new_reference_from_pb(r) for r in pb.references],
    ),
    "Reference": Pair(reference_item(), convert.reference_to_pb, convert.reference_from_pb, {"vid": 0, "canonical": ""}),
    "ListReferencesRequest": Pair(
        ReferenceQuery(bank="b", state=ReferenceState.QUARANTINED, label="org:x", page_size=5, page_token="17", text="پل"),
        convert.reference_query_to_pb,
        convert.reference_query_from_pb,
    ),
    "DisableReferencesRequest": Pair(
        (["r1", "r2"], T3),
        lambda v: convert.disable_to_pb(*v),
        lambda pb: (list(pb.ids), convert.optional_timestamp_from_pb(pb, "until")),
    ),
    "StateChangeResponse": Pair(StateChange(changed=("a", "b"), not_found=("c",)), convert.state_change_to_pb, convert.state_change_from_pb),
    "Bank": Pair(
        Bank(name="allow", description="d", enabled=True, kind=BankKind.SUPPRESSION, thresholds={"translation_cosine": 0.9},
             created_at=T1, updated_at=T2, created_by="curator:a", item_count=3, match_share=0.25, feedback=SUMMARY),
        lambda bank: convert.bank_to_pb(bank, Thresholds()),
        convert.bank_from_pb,
        flipped={"enabled": False},
    ),
    "CreateBankRequest": Pair(
        Bank(name="b", description="x", enabled=False, kind=BankKind.SUPPRESSION, thresholds={"translation_margin": 1.25},
             created_at=T1, updated_at=T2, created_by="curator:a", item_count=3, match_share=0.05, feedback=SUMMARY),
        convert.create_bank_to_pb,
        convert.create_bank_from_pb,
        # The server stamps these; a request cannot set them.
        {"created_at": 0.0, "updated_at": 0.0, "created_by": "", "item_count": 0, "feedback": FeedbackSummary()},
    ),
    "UpdateBankRequest": Pair(
        BankChanges(description="new", enabled=True, kind=BankKind.SUPPRESSION, set_thresholds={"translation_cosine": 0.5}, clear_thresholds=("translation_margin",),
                    match_share=0.5),
        lambda changes: convert.bank_changes_to_pb("b", changes),
        convert.bank_changes_from_pb,
    ),
    "ReportMatchRequest": Pair(
        Feedback(reference_id="r", post_id="p", verdict=FeedbackVerdict.FALSE_POSITIVE, note="n", reporter="curator:a", at=T1),
        convert.feedback_to_pb,
        # The reporter is the caller's token and the time the server's clock.
        lambda pb: convert.feedback_from_pb(pb, reporter="curator:a"),
        {"at": 0.0},
    ),
    "FeedbackSummary": Pair(SUMMARY, convert.feedback_summary_to_pb, convert.feedback_summary_from_pb),
    "ReferenceStats": Pair(
        ReferenceStats("r", ReferenceState.QUARANTINED, SUMMARY, MatchRate(3, 4, 5, 600)),
        convert.reference_stats_to_pb,
        convert.reference_stats_from_pb,
    ),
    "CurationStats": Pair(
        CurationStats(
            by_state={s: i + 1 for i, s in enumerate(ReferenceState)}, banks=2, index_size=9, quarantine_enabled=True,
            thresholds_bank_by_lang={"en": 5, "ps": 4}, thresholds_sized_for=1000, expected_fp_per_post={"ps>en": 0.009},
            target_fp_per_post=0.01, thresholds_follow_bank=True,
        ),
        convert.curation_stats_to_pb,
        convert.curation_stats_from_pb,
    ),
    "QueryAuditRequest": Pair(
        AuditQuery(target="r", actor="curator:a", action="disable", since=T1, page_size=10, page_token="99"),
        convert.audit_query_to_pb,
        convert.audit_query_from_pb,
    ),
    "AuditEntry": Pair(
        AuditEntry(seq=7, at=T1, actor="system", action="quarantine", target="r", old={"state": "active"}, new={"labels": ["org:ی"]}),
        convert.audit_entry_to_pb,
        convert.audit_entry_from_pb,
    ),
    "BankStats": Pair(
        BankStats(bank="b", feedback=SUMMARY, daily=(DailyFeedback(day=T1, feedback=SUMMARY), DailyFeedback(day=T2, feedback=SUMMARY))),
        convert.bank_stats_to_pb,
        convert.bank_stats_from_pb,
    ),
    "ListMatchLogRequest": Pair(
        MatchLogQuery(bank="b", verdict=Verdict.TRANSLATION, label="org:x", include_reviewed=True, page_size=7, page_token="t"),
        convert.match_log_query_to_pb,
        convert.match_log_query_from_pb,
    ),
    "LoggedMatch": Pair(
        LoggedMatch(seq=12, at=T1, post_id="p", post_text="ایک پوسٹ", post_lang="ur", match=sample_match(), review=FeedbackVerdict.FALSE_POSITIVE),
        convert.logged_match_to_pb,
        convert.logged_match_from_pb,
    ),
    "ImportReferencesResponse": Pair(
        ImportSummary(added=1, updated=2, removed=3, unchanged=4, skipped=("x",)),
        convert.import_summary_to_pb,
        convert.import_summary_from_pb,
    ),
    "LoadIndexResponse": Pair(
        LoadedIndex(path="/a/v1", version="v1", model_id="m@abc", index_type="ivf-sq", generation=7, recall_at_10=0.75, added=2, removed=1, size=11),
        convert.loaded_index_to_pb,
        convert.loaded_index_from_pb,
    ),
}

# Scalar helpers: exercised through the pairs above and by the tests of their own.
HELPERS = {
    "timestamp_to_pb", "timestamp_from_pb", "optional_timestamp_from_pb",
    "state_to_pb", "state_from_pb", "bank_kind_to_pb", "bank_kind_from_pb",
}


def assert_domain_complete(value: Any, where: str, exempt: frozenset[str] = frozenset()) -> None:
    """Every field of the sample differs from its default (or is truthy when it has none)."""
    if isinstance(value, (list, tuple)):
        assert value, f"{where} is empty"
        for i, element in enumerate(value):
            assert_domain_complete(element, f"{where}[{i}]")
        return
    if not dataclasses.is_dataclass(value):
        assert value or isinstance(value, bool), f"{where} is {value!r}"
        return
    for f in dataclasses.fields(value):
        if f.name in exempt:
            continue
        got = getattr(value, f.name)
        if f.default is not dataclasses.MISSING:
            assert got != f.default, f"{where}.{f.name} is its default {f.default!r}"
        elif f.default_factory is not dataclasses.MISSING:
            assert got != f.default_factory(), f"{where}.{f.name} is its default"
        elif dataclasses.is_dataclass(got) or isinstance(got, (list, tuple)):
            assert_domain_complete(got, f"{where}.{f.name}")
        else:
            assert got or got is False, f"{where}.{f.name} is {got!r}"


# Fields no conversion sets, each with where they are set instead.
SET_ELSEWHERE = {
    "MatchResponse.error": "the MatchStream handler, for a refused message (status.status_proto)",
}


def assert_pb_complete(message: Message, where: str) -> None:
    """Every field of the message's descriptor is set to a non-default value, recursively."""
    for field in message.DESCRIPTOR.fields:
        name = f"{where}.{field.name}"
        if name in SET_ELSEWHERE:
            continue
        value = getattr(message, field.name)
        if not field.is_repeated:
            if field.has_presence:
                assert message.HasField(field.name), f"{name} is not set"
            _assert_set(value, field, name)
            continue
        # Maps are repeated entries too: each value is checked against the entry's value field.
        assert len(value) > 0, f"{name} is empty"
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            element_field, elements = field.message_type.fields_by_name["value"], [(repr(k), v) for k, v in value.items()]
        else:
            element_field, elements = field, [(str(i), v) for i, v in enumerate(value)]
        for key, element in elements:
            _assert_set(element, element_field, f"{name}[{key}]")


def _assert_set(value: Any, field: FieldDescriptor, name: str) -> None:
    if field.message_type is not None:
        assert_pb_complete(value, name)
    else:
        assert value != field.default_value, f"{name} is the default {field.default_value!r}"


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_sample_sets_every_domain_field(name: str) -> None:
    pair = PAIRS[name]
    assert_domain_complete(pair.sample, name, exempt=frozenset(pair.flipped))
    if pair.flipped:
        assert_domain_complete(pair.samples()[1], name)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_every_pb_field_is_converted(name: str) -> None:
    message = PAIRS[name].to_pb(PAIRS[name].sample)
    assert message.DESCRIPTOR.name == name
    assert_pb_complete(message, name)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_round_trip_keeps_every_field(name: str) -> None:
    pair = PAIRS[name]
    for sample in pair.samples():
        assert pair.from_pb(pair.to_pb(sample)) == pair.expected_back(sample)


def _calls(fn: Callable[..., Any]) -> set[str]:
    # A lambda's co_names holds the convert functions it calls; a plain function is itself.
    return set(fn.__code__.co_names) | {fn.__name__}


def test_every_conversion_has_a_pair() -> None:
    """A new *_to_pb / *_from_pb in convert.py needs a Pair above."""
    public = {
        name for name, fn in inspect.getmembers(convert, inspect.isfunction)
        if fn.__module__ == convert.__name__ and (name.endswith("_to_pb") or name.endswith("_from_pb"))
    }
    covered = set().union(*(_calls(p.to_pb) | _calls(p.from_pb) for p in PAIRS.values()))
    assert public - HELPERS - covered == set()


def test_every_message_of_a_reply_or_request_pair_is_covered() -> None:
    """Each message a conversion makes is in PAIRS (by descriptor name)."""
    made = {PAIRS[name].to_pb(PAIRS[name].sample).DESCRIPTOR.name for name in PAIRS}
    expected = {
        "MatchRequest", "Match", "PostResult", "MatchResponse", "CompareRequest", "CompareResponse", "ReferenceInput", "AddReferencesRequest", "Reference",
        "ListReferencesRequest", "DisableReferencesRequest", "StateChangeResponse", "Bank", "CreateBankRequest",
        "UpdateBankRequest", "ReportMatchRequest", "FeedbackSummary", "ReferenceStats", "CurationStats",
        "QueryAuditRequest", "AuditEntry", "ImportReferencesResponse", "LoadIndexResponse", "ListMatchLogRequest", "LoggedMatch", "BankStats",
    }
    assert made == expected


# -- enums: every value, and UNSPECIFIED / unknown numbers ----------------------------


@pytest.mark.parametrize("state", [*ReferenceState, None])
def test_state_round_trip(state: ReferenceState | None) -> None:
    assert convert.state_from_pb(convert.state_to_pb(state)) is state


@pytest.mark.parametrize("kind", [*BankKind, None])
def test_bank_kind_round_trip(kind: BankKind | None) -> None:
    assert convert.bank_kind_from_pb(convert.bank_kind_to_pb(kind)) is kind


def test_every_proto_enum_value_has_a_domain_value() -> None:
    # UNSPECIFIED (0) is the only number with no domain meaning.
    for enum_pb, domain in ((curation_pb2.ReferenceState, ReferenceState), (curation_pb2.BankKind, BankKind), (curation_pb2.FeedbackVerdict, FeedbackVerdict),
                            (matcher_pb2.Verdict, Verdict), (matcher_pb2.Signal, Signal), (matcher_pb2.Measure, Measure)):
        assert len(enum_pb.values()) == len(domain) + 1, enum_pb.DESCRIPTOR.name


def test_unspecified_state_is_no_filter() -> None:
    assert convert.state_from_pb(curation_pb2.REFERENCE_STATE_UNSPECIFIED) is None
    assert convert.reference_query_from_pb(curation_pb2.ListReferencesRequest()).state is None


def test_a_state_number_the_api_does_not_define_is_refused() -> None:
    # Regression: ListReferences(state=99) listed every state.
    with pytest.raises(InvalidInput) as err:
        convert.reference_query_from_pb(curation_pb2.ListReferencesRequest(state=99))
    assert err.value.field == "state"


def test_unspecified_state_of_a_received_reference_is_active() -> None:
    assert convert.reference_from_pb(curation_pb2.Reference(id="r")).state is ReferenceState.ACTIVE


def test_unspecified_bank_kind() -> None:
    # Creating: the default kind. Updating: leave the kind as it is.
    assert convert.create_bank_from_pb(curation_pb2.CreateBankRequest(name="b")).kind is BankKind.NORMAL
    assert convert.bank_changes_from_pb(curation_pb2.UpdateBankRequest(name="b")).kind is None


@pytest.mark.parametrize("request_", [curation_pb2.CreateBankRequest(name="b", kind=99), curation_pb2.UpdateBankRequest(name="b", kind=99)])
def test_a_bank_kind_number_the_api_does_not_define_is_refused(request_: Any) -> None:
    # Regression: CreateBank(kind=99) was stored as a normal bank.
    convert_it = convert.create_bank_from_pb if isinstance(request_, curation_pb2.CreateBankRequest) else convert.bank_changes_from_pb
    with pytest.raises(InvalidInput) as err:
        convert_it(request_)
    assert err.value.field == "kind"


@pytest.mark.parametrize("seconds", [2**63 - 1, -(2**62), 253_402_300_800, -62_135_596_801])
def test_a_timestamp_outside_years_1_to_9999_is_refused(seconds: int) -> None:
    # Regression: DisableReferences(until=2**63-1) was stored, then every read of the item failed INTERNAL.
    request = curation_pb2.DisableReferencesRequest(ids=["r"])
    request.until.seconds = seconds
    with pytest.raises(InvalidInput) as err:
        convert.optional_timestamp_from_pb(request, "until")
    assert err.value.field == "until"


def test_a_stored_time_outside_the_range_is_clamped_on_the_way_out() -> None:
    assert convert.timestamp_to_pb(1e300).seconds == convert.MAX_TIMESTAMP_SECONDS
    assert convert.timestamp_to_pb(-1e300).seconds == convert.MIN_TIMESTAMP_SECONDS


@pytest.mark.parametrize("number", [curation_pb2.FEEDBACK_VERDICT_UNSPECIFIED, 99])
def test_unspecified_feedback_verdict_is_invalid_input(number: Any) -> None:
    request = curation_pb2.ReportMatchRequest(reference_id="r", post_id="p", verdict=number)
    with pytest.raises(InvalidInput) as err:
        convert.feedback_from_pb(request, reporter="curator:a")
    assert err.value.field == "verdict"


def test_absent_optional_timestamps_are_none() -> None:
    assert convert.optional_timestamp_from_pb(curation_pb2.DisableReferencesRequest(ids=["r"]), "until") is None
    assert not convert.disable_to_pb(["r"], None).HasField("until")
    assert convert.audit_query_from_pb(curation_pb2.QueryAuditRequest()).since is None
    assert not convert.audit_query_to_pb(AuditQuery()).HasField("since")


# -- ExportReferences' next cursor in trailing metadata --------------------------------


def test_next_cursor_key_is_a_valid_ascii_metadata_key() -> None:
    key = convert.NEXT_CURSOR_KEY
    assert key == key.lower() and key.isascii() and not key.endswith("-bin") and not key.startswith("grpc-")


@pytest.mark.parametrize("cursor", [0, 1, 2**63])
def test_next_cursor_round_trip(cursor: int) -> None:
    metadata = convert.next_cursor_to_metadata(cursor)
    assert convert.next_cursor_from_metadata(metadata, default=-1) == cursor
    # Among other trailers, as a real call delivers them.
    assert convert.next_cursor_from_metadata((("x-other", "7"), *metadata), default=-1) == cursor


@pytest.mark.parametrize("metadata", [None, (), (("x-other", "7"),)])
def test_missing_cursor_falls_back_to_default(metadata: Any) -> None:
    assert convert.next_cursor_from_metadata(metadata, default=5) == 5


def test_admin_request_has_no_conversion_to_forget() -> None:
    # LoadIndexRequest is a bare path the handler reads itself.
    assert [f.name for f in admin_pb2.LoadIndexRequest.DESCRIPTOR.fields] == ["path"]


def test_a_comparison_of_an_unmatchable_text_has_no_deciding_measure() -> None:
    comparison = Comparison(
        verdict=Verdict.NO_MATCH, reason="no_match: text_a has nothing left to match", lang_a="und", lang_b="en",
        fingerprint_a="", fingerprint_b="b" * 16,
    )
    message = convert.comparison_to_pb(comparison)
    assert message.decided_by == matcher_pb2.MEASURE_UNSPECIFIED and not message.signals
    assert convert.comparison_from_pb(message) == comparison


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (matcher_pb2.MatchRequest(verdicts=[matcher_pb2.VERDICT_UNSPECIFIED]), "verdicts[0]"),
        (matcher_pb2.MatchRequest(verdicts=[matcher_pb2.TRANSLATION, 99]), "verdicts[1]"),
        (matcher_pb2.MatchRequest(min_scores=[matcher_pb2.ScoreFloor(min_score=0.5)]), "min_scores[0].kind"),
        (
            matcher_pb2.MatchRequest(min_scores=[matcher_pb2.ScoreFloor(kind=matcher_pb2.REUPLOAD), matcher_pb2.ScoreFloor(kind=matcher_pb2.REUPLOAD)]),
            "min_scores[1].kind",
        ),
    ],
)
def test_match_options_with_no_kind_an_unknown_kind_or_a_kind_twice_are_refused(request_: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        convert.match_options_from_pb(request_)
    assert err.value.field == field


def test_a_request_without_options_asks_for_every_match() -> None:
    assert convert.match_options_from_pb(matcher_pb2.MatchRequest()) == MatchOptions()


def test_a_bank_created_without_a_share_matches_every_post_and_an_update_without_one_leaves_it() -> None:
    assert convert.create_bank_from_pb(curation_pb2.CreateBankRequest(name="b")).match_share == 1.0
    assert convert.create_bank_from_pb(curation_pb2.CreateBankRequest(name="b", match_share=0.0)).match_share == 0.0
    assert convert.bank_changes_from_pb(curation_pb2.UpdateBankRequest(name="b")).match_share is None


def test_a_match_log_query_for_no_match_or_an_unknown_verdict_is_refused() -> None:
    for number in (matcher_pb2.NO_MATCH, 99):
        with pytest.raises(InvalidInput) as err:
            convert.match_log_query_from_pb(curation_pb2.ListMatchLogRequest(verdict=number))
        assert err.value.field == "verdict"
    assert convert.match_log_query_from_pb(curation_pb2.ListMatchLogRequest()) == MatchLogQuery()


def test_an_unreviewed_entry_has_no_review() -> None:
    entry = LoggedMatch(seq=1, at=T1, post_id="p", post_text="t", post_lang="en", match=sample_match())
    assert convert.logged_match_from_pb(convert.logged_match_to_pb(entry)) == entry
