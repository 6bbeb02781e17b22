"""What the ``nigran`` CLI sends: requests built with ``convert``, no hand-made enum maps.

The CLI is run through ``build_parser()`` and ``run()`` with the stubs
replaced by a recording stub (the test is about what the CLI sends, not about
a server), which answers each call with an empty reply of the right type, or
what a test gives it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Iterator

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

import service.cli as cli
import service.cli_curation as cli_curation
from service.api import convert
from service.api._generated.nigran.v1 import curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from service.core import (
    AuditQuery, Bank, BankChanges, BankKind, Feedback, FeedbackVerdict, InvalidInput, MatchLogQuery, MatchOptions, NewReference, Post,
    ReferenceQuery, ReferenceState, Verdict, prepare_text
)
from tests.support.api_factories import FailedCall, failed_call, reference_item

CURATION = curation_pb2.DESCRIPTOR.services_by_name["Curation"]
MATCHER = matcher_pb2.DESCRIPTOR.services_by_name["Matcher"]


class Replies:
    """A server-streaming call as a stub returns it: iterable, with trailers at the end."""

    def __init__(self, items: list[Message], trailing: tuple[tuple[str, str], ...]) -> None:
        self._items, self._trailing = items, trailing

    def __iter__(self) -> Iterator[Message]:
        return iter(self._items)

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailing


class RecordingStub:
    """Records (rpc, request, call options); replies with ``replies[rpc]`` or an empty reply."""

    def __init__(self, service: ServiceDescriptor, sent: list[tuple[str, Any, dict[str, Any]]], replies: dict[str, Any]) -> None:
        self._service, self._sent, self._replies = service, sent, replies

    def __getattr__(self, rpc: str) -> Any:
        method = self._service.methods_by_name[rpc]

        def call(request: Any, **options: Any) -> Any:
            self._sent.append((rpc, list(request) if method.client_streaming else request, options))
            reply = self._replies.get(rpc)
            if isinstance(reply, Exception):
                raise reply
            return reply if reply is not None else message_factory.GetMessageClass(method.output_type)()

        return call


class FakeCli:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.sent: list[tuple[str, Any, dict[str, Any]]] = []
        self.replies: dict[str, Any] = {}
        self._capsys = capsys
        # No channel is ever used; patching it away keeps the test off the network.
        monkeypatch.setattr(grpc, "insecure_channel", lambda target: _NoChannel())
        monkeypatch.setattr(curation_pb2_grpc, "CurationStub", lambda channel: RecordingStub(CURATION, self.sent, self.replies))
        monkeypatch.setattr(matcher_pb2_grpc, "MatcherStub", lambda channel: RecordingStub(MATCHER, self.sent, self.replies))

    def run(self, *argv: str) -> int:
        return cli.run(cli.build_parser().parse_args(["--token", "t0k", "--timeout", "7", *argv]))

    def request(self, *argv: str) -> tuple[str, Any]:
        """Runs a command that must succeed and send exactly one request."""
        assert self.run(*argv) == 0
        [(rpc, request, options)] = self.sent
        assert options == {"metadata": [("authorization", "Bearer t0k")], "timeout": 7.0}
        return rpc, request

    def output(self) -> tuple[str, str]:
        captured = self._capsys.readouterr()
        return captured.out, captured.err


class _NoChannel:
    def close(self) -> None:
        pass


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> FakeCli:
    return FakeCli(monkeypatch, capsys)


# -- banks ----------------------------------------------------------------------------


def test_bank_create_suppression(fake: FakeCli) -> None:
    rpc, request = fake.request("bank", "create", "allow", "--kind", "suppression", "--description", "known", "--threshold", "translation_cosine=0.9")
    assert rpc == "CreateBank"
    bank = Bank(name="allow", description="known", kind=BankKind.SUPPRESSION, thresholds={"translation_cosine": 0.9})
    assert request == convert.create_bank_to_pb(bank)
    assert request.kind == curation_pb2.SUPPRESSION and not request.disabled


def test_bank_create_defaults_to_normal_and_enabled(fake: FakeCli) -> None:
    _, request = fake.request("bank", "create", "b", "--disabled")
    assert (request.kind, request.disabled) == (curation_pb2.NORMAL, True)


def test_bank_update_kind_and_enable(fake: FakeCli) -> None:
    rpc, request = fake.request("bank", "update", "b", "--kind", "normal", "--enable", "--clear-threshold", "translation_margin")
    assert rpc == "UpdateBank"
    assert request == convert.bank_changes_to_pb("b", BankChanges(enabled=True, kind=BankKind.NORMAL, clear_thresholds=("translation_margin",)))
    assert request.kind == curation_pb2.NORMAL and request.HasField("enabled") and request.enabled
    # What was not given stays absent, so the server leaves it alone.
    assert not request.HasField("description")


def test_bank_stats(fake: FakeCli) -> None:
    rpc, request = fake.request("bank", "stats", "gifct", "--days", "14")
    assert rpc == "GetBankStats" and (request.name, request.days) == ("gifct", 14)


def test_bank_roll_out_share(fake: FakeCli) -> None:
    _, request = fake.request("bank", "create", "trial", "--share", "0.05")
    assert request == convert.create_bank_to_pb(Bank(name="trial", match_share=0.05))
    fake.sent.clear()
    _, request = fake.request("bank", "update", "trial", "--share", "0.5")
    assert request.HasField("match_share") and request.match_share == 0.5
    fake.sent.clear()
    _, request = fake.request("bank", "update", "trial", "--disable")
    assert not request.HasField("match_share")


def test_bank_update_without_kind_leaves_it(fake: FakeCli) -> None:
    _, request = fake.request("bank", "update", "b", "--disable")
    assert request.kind == curation_pb2.BANK_KIND_UNSPECIFIED
    assert request.HasField("enabled") and not request.enabled


@pytest.mark.parametrize("kind", list(BankKind))
def test_every_bank_kind_choice_is_sent_through_convert(fake: FakeCli, kind: BankKind) -> None:
    _, request = fake.request("bank", "create", "b", "--kind", kind.value)
    assert request.kind == convert.bank_kind_to_pb(kind)


# -- items ------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(ReferenceState))
def test_list_state(fake: FakeCli, state: ReferenceState) -> None:
    rpc, request = fake.request("list", "--state", state.value, "--bank", "b", "--page-size", "5")
    assert rpc == "ListReferences"
    assert request == convert.reference_query_to_pb(ReferenceQuery(bank="b", state=state, page_size=5))
    assert request.state == convert.state_to_pb(state) != curation_pb2.REFERENCE_STATE_UNSPECIFIED


def test_list_state_disabled_and_no_state(fake: FakeCli) -> None:
    _, request = fake.request("list", "--state", "disabled")
    assert request.state == curation_pb2.DISABLED
    fake.sent.clear()
    _, request = fake.request("list")
    assert request.state == curation_pb2.REFERENCE_STATE_UNSPECIFIED


def test_disable_until_relative(fake: FakeCli) -> None:
    before = time.time()
    rpc, request = fake.request("disable", "r1", "r2", "--until", "+60")
    after = time.time()
    assert rpc == "DisableReferences" and list(request.ids) == ["r1", "r2"]
    until = convert.optional_timestamp_from_pb(request, "until")
    assert until is not None and before + 60 <= until <= after + 60


def test_disable_without_until_is_indefinite(fake: FakeCli) -> None:
    _, request = fake.request("disable", "r1")
    assert not request.HasField("until")


def test_disable_until_iso(fake: FakeCli) -> None:
    _, request = fake.request("disable", "r1", "--until", "2025-01-31T00:00:00Z")
    assert request.until.seconds == 1738281600 and request.until.nanos == 0


@pytest.mark.parametrize(("argv", "rpc"), [(("enable", "a", "b"), "EnableReferences"), (("release", "a", "b"), "ReleaseReferences"),
                                           (("remove", "a", "b"), "RemoveReferences")])
def test_id_commands(fake: FakeCli, argv: tuple[str, ...], rpc: str) -> None:
    sent, request = fake.request(*argv)
    assert sent == rpc and list(request.ids) == ["a", "b"]


def test_add_and_match(fake: FakeCli) -> None:
    _, request = fake.request("add", "--lang", "ur", "--bank", "demo", "--label", "org:example", "--id", "x", "متن یہاں")
    assert request == convert.add_request_to_pb([NewReference(text="متن یہاں", id="x", lang="ur", bank="demo", labels=("org:example",))])
    fake.sent.clear()
    rpc, request = fake.request("match", "one", "two", "--bank", "b", "--top-k", "3")
    assert rpc == "Match"
    assert request == convert.match_request_to_pb([Post(id="0", text="one"), Post(id="1", text="two")], banks=("b",), top_k=3)


def test_match_options(fake: FakeCli) -> None:
    _, request = fake.request(
        "match", "one", "--verdict", "translation", "--verdict", "reupload", "--min-score", "translation=0.995",
        "--where", "source=telegram", "--where", "year=2024",
    )
    options = MatchOptions(
        verdicts=frozenset({Verdict.TRANSLATION, Verdict.REUPLOAD}), min_scores={Verdict.TRANSLATION: 0.995},
        metadata={"source": "telegram", "year": "2024"},
    )
    assert request == convert.match_request_to_pb([Post(id="0", text="one")], options=options)


@pytest.mark.parametrize("argv", [("--min-score", "translation"), ("--min-score", "no_match=1"), ("--min-score", "translation=high"), ("--where", "=x")])
def test_bad_match_options_are_usage_errors(fake: FakeCli, argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as exited:
        fake.run("match", "one", *argv)
    assert exited.value.code == 2 and fake.sent == []


def test_add_a_hash_only_item(fake: FakeCli) -> None:
    _, request = fake.request("add", "--bank", "partner", "--fingerprint", "a" * 64, "--id", "h1")
    assert request == convert.add_request_to_pb([NewReference(text="", id="h1", bank="partner", fingerprint="a" * 64)])


def test_fingerprint_is_computed_locally_and_matches_the_servers_recipe(fake: FakeCli) -> None:
    assert fake.run("fingerprint", "The fighters gather at dawn.", "THE FIGHTERS   gather at dawn!!") == 0
    first, second = fake.output()[0].split()
    assert first == second == prepare_text("The fighters gather at dawn.").fingerprint and len(first) == 64
    assert fake.sent == []  # nothing was sent anywhere


def test_compare_sends_both_texts(fake: FakeCli) -> None:
    rpc, request = fake.request("compare", "ایک پوسٹ", "a post")
    assert rpc == "Compare" and request == convert.compare_request_to_pb("ایک پوسٹ", "a post")


def test_add_passes_a_language_tag_through_for_the_server_to_read(fake: FakeCli) -> None:
    _, request = fake.request("add", "--lang", "ur-PK", "متن یہاں")
    assert request.references[0].lang == "ur-PK"


# -- feedback, audit ----------------------------------------------------------------------


@pytest.mark.parametrize(("word", "verdict"), [("false", FeedbackVerdict.FALSE_POSITIVE), ("true", FeedbackVerdict.TRUE_POSITIVE)])
def test_report(fake: FakeCli, word: str, verdict: FeedbackVerdict) -> None:
    rpc, request = fake.request("report", "r1", "p1", word, "--note", "checked")
    assert rpc == "ReportMatch"
    assert request == convert.feedback_to_pb(Feedback(reference_id="r1", post_id="p1", verdict=verdict, note="checked"))
    # The server must accept what the CLI sends.
    assert convert.feedback_from_pb(request, reporter="x").verdict is verdict


def test_list_by_text(fake: FakeCli) -> None:
    _, request = fake.request("list", "--text", "پرانے بازار")
    assert request == convert.reference_query_to_pb(ReferenceQuery(text="پرانے بازار"))


def test_queue(fake: FakeCli) -> None:
    rpc, request = fake.request("queue", "--bank", "gifct", "--verdict", "translation", "--include-reviewed", "--page-size", "20")
    assert rpc == "ListMatchLog"
    query = MatchLogQuery(bank="gifct", verdict=Verdict.TRANSLATION, include_reviewed=True, page_size=20)
    assert request == convert.match_log_query_to_pb(query)


def test_audit_since(fake: FakeCli) -> None:
    rpc, request = fake.request("audit", "--since", "2025-01-31T00:00:00Z", "--target", "bank:b", "--actor", "curator:a", "--page-size", "3")
    assert rpc == "QueryAudit"
    assert request == convert.audit_query_to_pb(AuditQuery(target="bank:b", actor="curator:a", since=1738281600.0, page_size=3))
    assert convert.audit_query_from_pb(request).since == 1738281600.0


def test_audit_without_since(fake: FakeCli) -> None:
    _, request = fake.request("audit")
    assert not request.HasField("since")


# -- exchange -------------------------------------------------------------------------------


def exported(ref_id: str, seq: int) -> curation_pb2.Reference:
    # Every field set (vid and canonical are the server's own and do not travel).
    return convert.reference_to_pb(reference_item(id=ref_id, change_seq=seq, fingerprint=f"fp-{ref_id}", vid=0, canonical=""))


def test_export_prints_items_and_the_trailing_cursor(fake: FakeCli) -> None:
    items = [exported("r1", 11), exported("r2", 12)]
    fake.replies["ExportReferences"] = Replies(items, (("x-other", "1"), *convert.next_cursor_to_metadata(12)))
    rpc, request = fake.request("export", "--after", "10", "--limit", "2")
    assert rpc == "ExportReferences" and (request.after, request.limit) == (10, 2)
    out, err = fake.output()
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["r1", "r2"]
    assert err.strip() == "next cursor: 12"


def test_export_of_nothing_keeps_the_cursor(fake: FakeCli) -> None:
    fake.replies["ExportReferences"] = Replies([], convert.next_cursor_to_metadata(10))
    fake.request("export", "--after", "10")
    assert fake.output() == ("", "next cursor: 10\n")


def test_export_without_the_trailer_falls_back_to_after(fake: FakeCli) -> None:
    fake.replies["ExportReferences"] = Replies([], ())
    fake.request("export", "--after", "4")
    assert fake.output()[1] == "next cursor: 4\n"


def test_import_streams_what_export_wrote(fake: FakeCli, tmp_path: Path) -> None:
    items = [exported("r1", 11), exported("r2", 12)]
    fake.replies["ExportReferences"] = Replies(items, convert.next_cursor_to_metadata(12))
    fake.request("export")
    dump = tmp_path / "refs.jsonl"
    dump.write_text(fake.output()[0], encoding="utf-8")
    fake.sent.clear()
    rpc, sent = fake.request("import", str(dump))
    # JSONL in between loses nothing: the server gets what it exported.
    assert rpc == "ImportReferences" and sent == items


# -- errors and the "no hand-made enum maps" rule ------------------------------------------------


def test_an_invalid_argument_prints_its_field_violations(fake: FakeCli) -> None:
    fake.replies["DisableReferences"] = failed_call(InvalidInput("ids[0]", "must not be empty"))
    assert fake.run("disable", "") == 1
    err = fake.output()[1]
    assert err.startswith("error: INVALID_ARGUMENT: ids[0]: must not be empty") and "\n  ids[0]: must not be empty" in err


def _enum_value_names() -> set[str]:
    return {value.name for module in (curation_pb2, matcher_pb2) for enum in module.DESCRIPTOR.enum_types_by_name.values() for value in enum.values}


def test_cli_sources_name_no_enum_values() -> None:
    """Enums go through convert (one map, shared with the server), never a dict in the CLI."""
    for module in (cli, cli_curation):
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        named = set(re.findall(r"_pb2\.([A-Z][A-Z0-9_]*)\b", source)) & _enum_value_names()
        assert named == set(), f"{module.__name__} names enum values {sorted(named)}"


def test_rpc_error_without_details(fake: FakeCli) -> None:
    # As plain context.abort statuses and transport failures arrive: no rich trailer.
    fake.replies["GetReference"] = FailedCall(grpc.StatusCode.UNAVAILABLE, "connection refused", None)
    assert fake.run("get", "r1") == 1
    assert fake.output()[1] == "error: UNAVAILABLE: connection refused\n"
