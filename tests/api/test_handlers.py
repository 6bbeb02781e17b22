"""The gRPC servicers of ``service/api/handlers.py``, in process, over a real Engine.

The servicers run under ``grpc_testing`` (no port, no channel) on an Engine
opened on a tmp dir with the HashingEmbedder test double: these tests are
about what each RPC sends back, not matching quality.

``grpc_testing`` does not run interceptors, so a NigranError raised by a
handler reaches it as an application exception (code UNKNOWN). For bad
requests :meth:`Api.refused` checks that, and returns the core error the
handler raises, called directly with the same request; what status that
error becomes is ``test_status.py``'s business.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import grpc
import grpc_testing  # type: ignore[import-untyped]
import pytest
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from service.api import convert
from service.api._generated.nigran.v1 import admin_pb2, curation_pb2, matcher_pb2
from service.api.handlers import AdminServicer, CurationServicer, MatcherServicer
from service.api.status import code_for
from service.core import (
    DEFAULT_BANK, AlreadyExists, Engine, FailedPrecondition, InvalidInput, LimitExceeded, NigranError, NotFound,
    scalar_values
)
from tests.support.doubles import HashingEmbedder
from tests.support.factories import make_config

OK = grpc.StatusCode.OK
SERVICES: dict[str, ServiceDescriptor] = {
    "Matcher": matcher_pb2.DESCRIPTOR.services_by_name["Matcher"],
    "Curation": curation_pb2.DESCRIPTOR.services_by_name["Curation"],
    "Admin": admin_pb2.DESCRIPTOR.services_by_name["Admin"],
}
TEXTS = {
    "en-1": "The fighters will gather at the old bridge before dawn on Friday.",
    "en-2": "Bring water and blankets to the northern camp next week.",
}


class _LiveContext:
    """What a handler asks of its context when called directly: the caller is still there."""

    def is_active(self) -> bool:
        return True


class Api:
    """The three servicers behind one grpc_testing server, with one helper per RPC shape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        provider = lambda: engine  # noqa: E731 - the servicers take a provider, the server swaps engines
        self.servicers: dict[ServiceDescriptor, Any] = {
            SERVICES["Matcher"]: MatcherServicer(provider, engine.config),
            SERVICES["Curation"]: CurationServicer(provider),
            SERVICES["Admin"]: AdminServicer(provider, engine.config),
        }
        self.server = grpc_testing.server_from_dictionary(self.servicers, grpc_testing.strict_real_time())

    def method(self, name: str) -> tuple[MethodDescriptor, Any]:
        for service, servicer in self.servicers.items():
            if name in service.methods_by_name:
                return service.methods_by_name[name], servicer
        raise KeyError(name)

    def invoke(self, name: str, request: Any) -> tuple[list[Message], Any, grpc.StatusCode, str]:
        """Runs any RPC shape; ``request`` is a list for client-streaming RPCs. (responses, trailers, code, details)."""
        method, _ = self.method(name)
        if method.client_streaming:
            kind = "stream_stream" if method.server_streaming else "stream_unary"
            rpc = getattr(self.server, f"invoke_{kind}")(method, (), None)
            for r in request:
                rpc.send_request(r)
            rpc.requests_closed()
        else:
            kind = "unary_stream" if method.server_streaming else "unary_unary"
            rpc = getattr(self.server, f"invoke_{kind}")(method, (), request, None)
        if not method.server_streaming:
            response, trailing, code, details = rpc.termination()
            return ([response] if response is not None else []), trailing, code, details
        trailing, code, details = rpc.termination()
        return _drain(rpc), trailing, code, details

    def call(self, name: str, request: Any) -> Any:
        """A unary reply (or stream-unary, given a list of requests) that must succeed."""
        responses, _, code, details = self.invoke(name, request)
        assert code is OK, details
        [response] = responses
        return response

    def stream(self, name: str, request: Any) -> tuple[list[Any], Any]:
        """A server-streaming RPC that must succeed: every response, and the trailing metadata."""
        responses, trailing, code, details = self.invoke(name, request)
        assert code is OK, details
        return responses, trailing

    def refused(self, name: str, request: Any) -> NigranError:
        """A request the handler refuses: UNKNOWN under grpc_testing, and the core error it raises."""
        _, servicer = self.method(name)
        with pytest.raises(NigranError) as raised:
            result = getattr(servicer, name)(iter(request) if isinstance(request, list) else request, _LiveContext())
            if isinstance(result, Iterator):
                list(result)
        _, _, code, details = self.invoke(name, request)
        assert code is grpc.StatusCode.UNKNOWN
        assert str(raised.value) in details
        return raised.value

    def invalid(self, name: str, request: Any) -> str:
        """A request refused as InvalidInput: the field it names."""
        err = self.refused(name, request)
        assert isinstance(err, InvalidInput), repr(err)
        return err.field

    # -- the requests most tests make -----------------------------------------------

    def add(self, *ids: str, bank: str = "", labels: tuple[str, ...] = ()) -> list[str]:
        refs = [curation_pb2.ReferenceInput(id=i, text=TEXTS.get(i, f"reference text of {i}"), lang="en", bank=bank, labels=list(labels)) for i in ids]
        return list(self.call("AddReferences", curation_pb2.AddReferencesRequest(references=refs)).ids)

    def bank(self, name: str, **fields: Any) -> Any:
        return self.call("CreateBank", curation_pb2.CreateBankRequest(name=name, **fields))

    def state(self, ref_id: str) -> int:
        return int(self.call("GetReference", curation_pb2.GetReferenceRequest(id=ref_id)).state)


def _drain(rpc: Any) -> list[Message]:
    # After termination the responses wait in a queue; taking past the end raises.
    out: list[Message] = []
    while True:
        try:
            out.append(rpc.take_response())
        except ValueError:
            return out


def _open(data_dir: Path) -> Engine:
    return Engine.open(make_config(data_dir), embedder=HashingEmbedder())


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    engine = _open(tmp_path / "var")
    yield Api(engine)
    engine.close()


@pytest.fixture
def other_api(tmp_path: Path) -> Iterator[Api]:
    """A second, empty service (the other end of an export/import)."""
    engine = _open(tmp_path / "other")
    yield Api(engine)
    engine.close()


def match_request(*texts: str, **fields: Any) -> matcher_pb2.MatchRequest:
    return matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id=f"p{i}", text=t) for i, t in enumerate(texts)], **fields)


# -- matching -------------------------------------------------------------------------


def test_match_finds_an_exact_copy(api: Api) -> None:
    api.add("en-1", "en-2")
    reply = api.call("Match", match_request(TEXTS["en-1"].upper(), "nothing like any reference at all"))
    first, second = reply.results
    assert (first.post_id, first.verdict) == ("p0", matcher_pb2.REUPLOAD)
    assert first.matches[0].reference_id == "en-1" and first.matches[0].signal == matcher_pb2.EXACT
    assert first.matches[0].bank == DEFAULT_BANK
    assert second.post_id == "p1" and all(m.signal != matcher_pb2.EXACT for m in second.matches)


def test_match_refuses_bad_requests(api: Api) -> None:
    assert api.invalid("Match", matcher_pb2.MatchRequest()) == "posts"
    assert api.invalid("Match", match_request("")) == "posts[0].text"
    assert isinstance(api.refused("Match", match_request("x", banks=["no-such-bank"])), NotFound)
    assert api.invalid("Match", match_request("x", top_k=10**6)) == "top_k"
    too_many = api.engine.config.limits.max_posts_per_request + 1
    assert isinstance(api.refused("Match", match_request(*["x"] * too_many)), LimitExceeded)


def test_match_stream_answers_each_request_in_turn(api: Api) -> None:
    api.add("en-1", "en-2")
    method, _ = api.method("MatchStream")
    rpc = api.server.invoke_stream_stream(method, (), None)
    # One reply per request, before the next request is sent: streaming, not batching.
    for ref_id in ("en-2", "en-1", "en-2"):
        rpc.send_request(match_request(TEXTS[ref_id]))
        reply = rpc.take_response()
        assert [r.matches[0].reference_id for r in reply.results] == [ref_id]
    rpc.requests_closed()
    _, code, details = rpc.termination()
    assert code is OK, details
    assert _drain(rpc) == []


def test_match_stream_collects_one_response_per_request(api: Api) -> None:
    api.add("en-1")
    requests = [match_request(TEXTS["en-1"]), match_request("a", "b"), match_request("c")]
    responses, _, code, _ = api.invoke("MatchStream", requests)
    assert code is OK
    assert [len(r.results) for r in responses] == [1, 2, 1]


# -- items: add, get, remove -----------------------------------------------------------


def test_match_narrowed_to_kinds_and_minimum_scores(api: Api) -> None:
    api.add("en-1", "en-2")
    edited = TEXTS["en-2"].replace("next week", "next week, all of you")
    reply = api.call("Match", match_request(TEXTS["en-1"], edited))
    assert [r.verdict for r in reply.results] == [matcher_pb2.REUPLOAD, matcher_pb2.NEAR_DUPLICATE]
    near_score = reply.results[1].matches[0].score
    only_near = api.call("Match", match_request(TEXTS["en-1"], edited, verdicts=[matcher_pb2.NEAR_DUPLICATE]))
    # The exact copy is embedded and searched instead of answered from the store: it is no near-duplicate of anything.
    assert [r.verdict for r in only_near.results] == [matcher_pb2.NO_MATCH, matcher_pb2.NEAR_DUPLICATE]
    floors = [matcher_pb2.ScoreFloor(kind=matcher_pb2.NEAR_DUPLICATE, min_score=near_score + 0.01)]
    stricter = api.call("Match", match_request(TEXTS["en-1"], edited, min_scores=floors))
    assert [r.verdict for r in stricter.results] == [matcher_pb2.REUPLOAD, matcher_pb2.NO_MATCH]
    looser = [matcher_pb2.ScoreFloor(kind=matcher_pb2.NEAR_DUPLICATE, min_score=0.0)]
    assert api.call("Match", match_request(edited, min_scores=looser)).results[0].matches[0].score == near_score


def test_match_with_a_metadata_filter(api: Api) -> None:
    refs = [
        curation_pb2.ReferenceInput(id="tg", text=TEXTS["en-1"], lang="en", metadata={"source": "telegram"}),
        curation_pb2.ReferenceInput(id="web", text=TEXTS["en-2"], lang="en", metadata={"source": "web", "year": "2024"}),
    ]
    api.call("AddReferences", curation_pb2.AddReferencesRequest(references=refs))

    def matched(**fields: Any) -> list[list[str]]:
        reply = api.call("Match", match_request(TEXTS["en-1"], TEXTS["en-2"], **fields))
        return [[m.reference_id for m in r.matches] for r in reply.results]

    assert matched() == [["tg"], ["web"]]
    assert matched(metadata_filter={"source": "web"}) == [[], ["web"]]
    assert matched(metadata_filter={"source": "web", "year": "2023"}) == [[], []]


def test_match_refuses_bad_options(api: Api) -> None:
    assert api.invalid("Match", match_request("x", verdicts=[matcher_pb2.NO_MATCH])) == "verdicts"
    assert api.invalid("Match", match_request("x", verdicts=[matcher_pb2.VERDICT_UNSPECIFIED])) == "verdicts[0]"
    nan = [matcher_pb2.ScoreFloor(kind=matcher_pb2.TRANSLATION, min_score=float("nan"))]
    assert api.invalid("Match", match_request("x", min_scores=nan)) == "min_scores[TRANSLATION]"
    many = {f"k{i}": "v" for i in range(api.engine.config.limits.max_metadata_entries + 1)}
    assert isinstance(api.refused("Match", match_request("x", metadata_filter=many)), LimitExceeded)


def test_match_returns_the_posts_fingerprint_and_language(api: Api) -> None:
    api.add("en-1")
    exact, unmatchable = api.call("Match", match_request(TEXTS["en-1"], "🙂 https://example.org")).results
    assert len(exact.fingerprint) > 0 and exact.detected_lang == "en"
    assert exact.fingerprint == api.call("GetReference", curation_pb2.GetReferenceRequest(id="en-1")).fingerprint
    assert unmatchable.fingerprint == ""


def test_compare_explains_an_exact_copy_without_touching_the_bank(api: Api) -> None:
    reply = api.call("Compare", matcher_pb2.CompareRequest(text_a=TEXTS["en-1"].upper(), text_b=TEXTS["en-1"]))
    assert reply.verdict == matcher_pb2.REUPLOAD and reply.decided_by == matcher_pb2.MEASURE_FINGERPRINT
    assert reply.fingerprint_a == reply.fingerprint_b != ""
    assert (reply.lang_a, reply.lang_b) == ("en", "en") and reply.reason.startswith("reupload")
    scores = {s.measure: s for s in reply.signals}
    assert {matcher_pb2.MEASURE_FINGERPRINT, matcher_pb2.MEASURE_LEXICAL, matcher_pb2.MEASURE_COSINE, matcher_pb2.MEASURE_WORDS} <= set(scores)
    assert all(s.cleared == (s.score >= s.threshold) for s in reply.signals)
    assert scores[matcher_pb2.MEASURE_LEXICAL].score == pytest.approx(1.0)
    assert api.call("ListReferences", curation_pb2.ListReferencesRequest()).references == []


def test_compare_of_unrelated_texts_is_no_match_and_says_which_test_failed(api: Api) -> None:
    reply = api.call("Compare", matcher_pb2.CompareRequest(text_a=TEXTS["en-1"], text_b=TEXTS["en-2"]))
    assert reply.verdict == matcher_pb2.NO_MATCH and reply.fingerprint_a != reply.fingerprint_b
    decisive = next(s for s in reply.signals if s.measure == reply.decided_by)
    assert not decisive.cleared and reply.reason.startswith("no_match")


def test_compare_of_a_text_with_nothing_to_match(api: Api) -> None:
    reply = api.call("Compare", matcher_pb2.CompareRequest(text_a="🙂🙂 https://example.org", text_b=TEXTS["en-1"]))
    assert reply.verdict == matcher_pb2.NO_MATCH and reply.decided_by == matcher_pb2.MEASURE_UNSPECIFIED
    assert "text_a" in reply.reason and reply.fingerprint_a == ""


def test_compare_refuses_empty_and_oversized_texts(api: Api) -> None:
    assert api.invalid("Compare", matcher_pb2.CompareRequest(text_a="", text_b="x")) == "text_a"
    assert api.invalid("Compare", matcher_pb2.CompareRequest(text_a="x", text_b="  ")) == "text_b"
    too_long = "x" * (api.engine.config.limits.max_text_bytes + 1)
    assert isinstance(api.refused("Compare", matcher_pb2.CompareRequest(text_a="x", text_b=too_long)), LimitExceeded)


def test_bank_stats_and_listings_carry_the_banks_precision(api: Api) -> None:
    api.add("en-1", "en-2")
    api.call("ReportMatch", report("en-1", curation_pb2.TRUE_POSITIVE, "p1"))
    api.call("ReportMatch", report("en-2", curation_pb2.FALSE_POSITIVE, "p2"))
    stats = api.call("GetBankStats", curation_pb2.GetBankStatsRequest(name=DEFAULT_BANK, days=7))
    assert (stats.name, stats.feedback.true_positives, stats.feedback.false_positives, stats.feedback.precision) == (DEFAULT_BANK, 1, 1, 0.5)
    [today] = stats.daily
    assert today.feedback == stats.feedback and today.day.seconds % 86_400 == 0
    [listed] = api.call("ListBanks", curation_pb2.ListBanksRequest()).banks
    assert listed.feedback == stats.feedback
    # What UpdateBank answers is the bank as listings show it.
    assert api.call("UpdateBank", curation_pb2.UpdateBankRequest(name=DEFAULT_BANK, description="d")).feedback == stats.feedback
    assert isinstance(api.refused("GetBankStats", curation_pb2.GetBankStatsRequest(name="nope")), NotFound)
    assert api.invalid("GetBankStats", curation_pb2.GetBankStatsRequest(name=DEFAULT_BANK, days=400)) == "days"


def test_list_match_log_while_the_log_is_off_says_so(api: Api) -> None:
    assert isinstance(api.refused("ListMatchLog", curation_pb2.ListMatchLogRequest()), FailedPrecondition)


def test_add_returns_ids_and_get_returns_the_item(api: Api) -> None:
    ids = api.add("en-1", "", bank="", labels=("org:example",))
    assert ids[0] == "en-1" and ids[1]  # an empty id is given one
    ref = api.call("GetReference", curation_pb2.GetReferenceRequest(id="en-1"))
    assert (ref.id, ref.text, ref.bank, ref.declared_lang, list(ref.labels)) == ("en-1", TEXTS["en-1"], DEFAULT_BANK, "en", ["org:example"])
    assert ref.state == curation_pb2.ACTIVE and ref.change_seq > 0 and ref.fingerprint
    assert ref.HasField("created_at") and not ref.HasField("disabled_until")


def test_add_refuses_a_taken_id_and_a_missing_bank(api: Api) -> None:
    api.add("en-1")
    assert isinstance(api.refused("AddReferences", curation_pb2.AddReferencesRequest(references=[curation_pb2.ReferenceInput(id="en-1", text="t")])), AlreadyExists)
    request = curation_pb2.AddReferencesRequest(references=[curation_pb2.ReferenceInput(text="t", bank="nope")])
    assert isinstance(api.refused("AddReferences", request), NotFound)
    assert api.invalid("AddReferences", curation_pb2.AddReferencesRequest()) == "references"


def test_add_reads_language_tags_and_refuses_other_languages(api: Api) -> None:
    refs = [curation_pb2.ReferenceInput(id="t1", text=TEXTS["en-1"], lang="en-GB"), curation_pb2.ReferenceInput(id="t2", text=TEXTS["en-2"], lang="eng")]
    api.call("AddReferences", curation_pb2.AddReferencesRequest(references=refs))
    assert [api.call("GetReference", curation_pb2.GetReferenceRequest(id=i)).declared_lang for i in ("t1", "t2")] == ["en", "en"]
    french = curation_pb2.ReferenceInput(text="Les combattants se retrouveront au vieux pont.", lang="fr-FR")
    assert api.invalid("AddReferences", curation_pb2.AddReferencesRequest(references=[french])) == "references[0].lang"


def test_get_reference_unknown_and_empty(api: Api) -> None:
    assert isinstance(api.refused("GetReference", curation_pb2.GetReferenceRequest(id="missing")), NotFound)
    assert api.invalid("GetReference", curation_pb2.GetReferenceRequest(id="")) == "id"


def test_remove_counts_removed_and_lists_not_found(api: Api) -> None:
    api.add("en-1", "en-2")
    reply = api.call("RemoveReferences", curation_pb2.RemoveReferencesRequest(ids=["en-1", "missing"]))
    assert (reply.removed, list(reply.not_found)) == (1, ["missing"])
    # A tombstone: still there, removed, without its text.
    ref = api.call("GetReference", curation_pb2.GetReferenceRequest(id="en-1"))
    assert (ref.state, ref.text) == (curation_pb2.REMOVED, "")
    assert api.call("RemoveReferences", curation_pb2.RemoveReferencesRequest(ids=["en-1"])).removed == 0


# The defect fixed by the redesign: RemoveReferences took an empty id that
# DisableReferences refused. Every id-taking RPC must refuse the same way.
ID_RPCS = {
    "RemoveReferences": curation_pb2.RemoveReferencesRequest,
    "DisableReferences": curation_pb2.DisableReferencesRequest,
    "EnableReferences": curation_pb2.ReferenceIds,
    "ReleaseReferences": curation_pb2.ReferenceIds,
}


@pytest.mark.parametrize(("ids", "field"), [([], "ids"), ([""], "ids[0]"), (["en-1", ""], "ids[1]")], ids=["none", "empty", "second-empty"])
def test_every_id_rpc_refuses_missing_ids_alike(api: Api, ids: list[str], field: str) -> None:
    api.add("en-1")
    refusals = {}
    for rpc, request_type in ID_RPCS.items():
        err = api.refused(rpc, request_type(ids=ids))
        assert isinstance(err, InvalidInput), (rpc, err)
        refusals[rpc] = (type(err), err.field, err.message)
    assert set(refusals.values()) == {(InvalidInput, field, refusals["DisableReferences"][2])}, refusals
    # Nothing happened to the valid id next to the empty one.
    assert api.state("en-1") == curation_pb2.ACTIVE


# -- item state and annotations --------------------------------------------------------


def test_disable_enable_release_report_what_changed(api: Api) -> None:
    api.add("en-1", "en-2")
    until = convert.timestamp_to_pb(api.engine.curation.references.get("en-1").created_at + 3600.5)
    reply = api.call("DisableReferences", curation_pb2.DisableReferencesRequest(ids=["en-1", "missing"], until=until))
    assert (list(reply.changed), list(reply.not_found)) == (["en-1"], ["missing"])
    ref = api.call("GetReference", curation_pb2.GetReferenceRequest(id="en-1"))
    assert ref.state == curation_pb2.DISABLED and ref.disabled_until == until
    reply = api.call("EnableReferences", curation_pb2.ReferenceIds(ids=["en-1", "en-2"]))
    # en-2 is live but was never disabled: neither changed nor missing.
    assert (list(reply.changed), list(reply.not_found)) == (["en-1"], [])
    assert api.state("en-1") == curation_pb2.ACTIVE
    reply = api.call("ReleaseReferences", curation_pb2.ReferenceIds(ids=["en-1", "missing"]))
    assert (list(reply.changed), list(reply.not_found)) == ([], ["missing"])


def test_disable_refuses_a_past_until(api: Api) -> None:
    api.add("en-1")
    request = curation_pb2.DisableReferencesRequest(ids=["en-1"], until=convert.timestamp_to_pb(1.0))
    assert api.invalid("DisableReferences", request) == "until"


def test_update_reference_labels_and_metadata(api: Api) -> None:
    api.add("en-1", labels=("org:a", "type:speech"))
    request = curation_pb2.UpdateReferenceRequest(id="en-1", add_labels=["source:web"], remove_labels=["org:a"], set_metadata={"k": "v", "x": "y"})
    ref = api.call("UpdateReference", request)
    assert (list(ref.labels), dict(ref.metadata)) == (["type:speech", "source:web"], {"k": "v", "x": "y"})
    ref = api.call("UpdateReference", curation_pb2.UpdateReferenceRequest(id="en-1", remove_metadata=["x"]))
    assert (list(ref.labels), dict(ref.metadata)) == (["type:speech", "source:web"], {"k": "v"})
    assert api.call("GetReference", curation_pb2.GetReferenceRequest(id="en-1")) == ref


def test_update_reference_refusals(api: Api) -> None:
    api.add("en-1")
    assert isinstance(api.refused("UpdateReference", curation_pb2.UpdateReferenceRequest(id="missing")), NotFound)
    assert api.invalid("UpdateReference", curation_pb2.UpdateReferenceRequest(id="en-1", add_labels=["nonamespace"])) == "add_labels[0]"


def test_list_references_pages_through_every_item(api: Api) -> None:
    ids = api.add(*(f"r{i}" for i in range(5)))
    seen: list[str] = []
    token = ""
    for _ in range(5):
        reply = api.call("ListReferences", curation_pb2.ListReferencesRequest(page_size=2, page_token=token))
        assert len(reply.references) <= 2
        seen += [r.id for r in reply.references]
        token = reply.next_page_token
        if not token:
            break
    assert seen == ids


def test_list_references_filters(api: Api) -> None:
    api.bank("other")
    api.add("r0", "r1", labels=("org:a",))
    api.add("r2", bank="other")
    api.call("DisableReferences", curation_pb2.DisableReferencesRequest(ids=["r1"]))

    def listed(**fields: Any) -> list[str]:
        return [r.id for r in api.call("ListReferences", curation_pb2.ListReferencesRequest(**fields)).references]

    assert listed() == ["r0", "r1", "r2"]
    assert listed(state=curation_pb2.DISABLED) == ["r1"]
    assert listed(state=curation_pb2.ACTIVE) == ["r0", "r2"]
    assert listed(bank="other") == ["r2"]
    assert listed(label="org:a") == ["r0", "r1"]
    assert api.invalid("ListReferences", curation_pb2.ListReferencesRequest(page_token="not-a-token")) == "page_token"


# Regression: a page token of digits past the stores' 64-bit integers escaped as
# OverflowError (INTERNAL) instead of the InvalidInput("page_token") any other
# token this service never issued gets.
@pytest.mark.parametrize(("rpc", "request_type"), [("ListReferences", curation_pb2.ListReferencesRequest), ("QueryAudit", curation_pb2.QueryAuditRequest)])
def test_a_page_token_too_large_is_invalid_input(api: Api, rpc: str, request_type: Any) -> None:
    api.add("r0")
    assert api.invalid(rpc, request_type(page_token="9" * 25)) == "page_token"


# -- banks ------------------------------------------------------------------------------


def test_bank_lifecycle_with_effective_thresholds(api: Api) -> None:
    defaults = scalar_values(api.engine.thresholds)
    created = api.bank("allow", description="known false positives", kind=curation_pb2.SUPPRESSION, thresholds={"translation_cosine": 0.9})
    assert (created.name, created.description, created.enabled, created.kind) == ("allow", "known false positives", True, curation_pb2.SUPPRESSION)
    assert dict(created.thresholds) == {"translation_cosine": 0.9}
    # Effective: the bank's override, the service's value for everything else.
    assert dict(created.effective_thresholds) == {**defaults, "translation_cosine": 0.9}

    api.add("en-1", bank="allow")
    listed = {b.name: b for b in api.call("ListBanks", curation_pb2.ListBanksRequest()).banks}
    assert set(listed) == {DEFAULT_BANK, "allow"} and listed["allow"].item_count == 1
    assert dict(listed[DEFAULT_BANK].effective_thresholds) == defaults

    update = curation_pb2.UpdateBankRequest(name="allow", kind=curation_pb2.NORMAL, enabled=False, set_thresholds={"translation_margin": 1.3},
                                            clear_thresholds=["translation_cosine"])
    updated = api.call("UpdateBank", update)
    assert (updated.kind, updated.enabled, updated.description) == (curation_pb2.NORMAL, False, "known false positives")
    assert dict(updated.effective_thresholds) == {**defaults, "translation_margin": 1.3}

    # A bank holding items is deleted only with force, which tombstones them.
    assert isinstance(api.refused("DeleteBank", curation_pb2.DeleteBankRequest(name="allow")), FailedPrecondition)
    assert api.call("DeleteBank", curation_pb2.DeleteBankRequest(name="allow", force=True)).removed == 1
    assert [b.name for b in api.call("ListBanks", curation_pb2.ListBanksRequest()).banks] == [DEFAULT_BANK]
    assert api.state("en-1") == curation_pb2.REMOVED


def test_update_bank_leaves_absent_fields_alone(api: Api) -> None:
    api.bank("b", description="d", disabled=True, kind=curation_pb2.SUPPRESSION)
    same = api.call("UpdateBank", curation_pb2.UpdateBankRequest(name="b"))
    assert (same.description, same.enabled, same.kind) == ("d", False, curation_pb2.SUPPRESSION)
    # Presence, not value: "" and False are changes.
    cleared = api.call("UpdateBank", curation_pb2.UpdateBankRequest(name="b", description="", enabled=True))
    assert (cleared.description, cleared.enabled) == ("", True)


def test_bank_refusals(api: Api) -> None:
    api.bank("b")
    assert isinstance(api.refused("CreateBank", curation_pb2.CreateBankRequest(name="b")), AlreadyExists)
    assert api.invalid("CreateBank", curation_pb2.CreateBankRequest(name="")) == "name"
    assert isinstance(api.refused("UpdateBank", curation_pb2.UpdateBankRequest(name="missing")), NotFound)
    assert isinstance(api.refused("DeleteBank", curation_pb2.DeleteBankRequest(name="missing")), NotFound)
    assert isinstance(api.refused("DeleteBank", curation_pb2.DeleteBankRequest(name=DEFAULT_BANK, force=True)), FailedPrecondition)
    to_suppression = curation_pb2.UpdateBankRequest(name=DEFAULT_BANK, kind=curation_pb2.SUPPRESSION)
    assert isinstance(api.refused("UpdateBank", to_suppression), FailedPrecondition)
    unknown = curation_pb2.CreateBankRequest(name="c", thresholds={"no_such_threshold": 1.0})
    assert api.invalid("CreateBank", unknown) == "thresholds.no_such_threshold"


# -- feedback, stats, audit ---------------------------------------------------------------


def report(ref_id: str, verdict: Any, post_id: str = "p1") -> curation_pb2.ReportMatchRequest:
    return curation_pb2.ReportMatchRequest(reference_id=ref_id, post_id=post_id, verdict=verdict, note="checked")


def test_report_match_and_reference_stats(api: Api) -> None:
    api.add("en-1")
    first = api.call("ReportMatch", report("en-1", curation_pb2.TRUE_POSITIVE)).feedback
    assert (first.true_positives, first.false_positives, first.precision) == (1, 0, 1.0)
    second = api.call("ReportMatch", report("en-1", curation_pb2.FALSE_POSITIVE, "p2")).feedback
    assert (second.true_positives, second.false_positives) == (1, 1) and second.precision == pytest.approx(0.5)
    stats = api.call("GetReferenceStats", curation_pb2.GetReferenceRequest(id="en-1"))
    assert (stats.reference_id, stats.state) == ("en-1", curation_pb2.ACTIVE)
    assert stats.feedback == second


def test_reference_stats_before_any_review(api: Api) -> None:
    api.add("en-1")
    stats = api.call("GetReferenceStats", curation_pb2.GetReferenceRequest(id="en-1"))
    assert (stats.feedback.true_positives, stats.feedback.false_positives) == (0, 0)
    assert not stats.feedback.HasField("precision")
    assert isinstance(api.refused("GetReferenceStats", curation_pb2.GetReferenceRequest(id="missing")), NotFound)


def test_report_match_refusals(api: Api) -> None:
    api.add("en-1")
    assert api.invalid("ReportMatch", report("en-1", curation_pb2.FEEDBACK_VERDICT_UNSPECIFIED)) == "verdict"
    assert api.invalid("ReportMatch", report("en-1", curation_pb2.TRUE_POSITIVE, post_id="")) == "post_id"
    assert isinstance(api.refused("ReportMatch", report("missing", curation_pb2.TRUE_POSITIVE)), NotFound)


def test_curation_stats(api: Api) -> None:
    api.bank("b")
    api.add("r0", "r1", "r2")
    api.call("DisableReferences", curation_pb2.DisableReferencesRequest(ids=["r1"]))
    api.call("RemoveReferences", curation_pb2.RemoveReferencesRequest(ids=["r2"]))
    stats = api.call("GetCurationStats", curation_pb2.GetCurationStatsRequest())
    by_state = {c.state: c.count for c in stats.by_state if c.count}
    assert by_state == {curation_pb2.ACTIVE: 1, curation_pb2.DISABLED: 1, curation_pb2.REMOVED: 1}
    assert (stats.banks, stats.index_size) == (2, 2)
    # The operating points in force and the bank they were picked for (removed items do not count).
    assert stats.thresholds_bank_size == sum(stats.thresholds_bank_by_lang.values()) == 2
    assert stats.thresholds_sized_for == 1000 and stats.target_fp_per_post == 0.01
    assert not stats.thresholds_follow_bank  # this engine's calibration has no bank curves


def test_query_audit_newest_first_filtered_and_paged(api: Api) -> None:
    api.add("r0", "r1")
    api.call("DisableReferences", curation_pb2.DisableReferencesRequest(ids=["r0"]))
    entries = api.call("QueryAudit", curation_pb2.QueryAuditRequest(target="r0")).entries
    assert [e.action for e in entries] == ["disable", "add"]
    # No interceptor, so no token: the actor is the default.
    assert {e.actor for e in entries} == {"anonymous"} and entries[0].seq > entries[1].seq
    assert entries[1].new_json and convert.audit_entry_from_pb(entries[1]).new["bank"] == DEFAULT_BANK

    page = api.call("QueryAudit", curation_pb2.QueryAuditRequest(page_size=2))
    rest = api.call("QueryAudit", curation_pb2.QueryAuditRequest(page_size=2, page_token=page.next_page_token))
    assert len(page.entries) == 2 and page.next_page_token and len(rest.entries) == 1
    future = curation_pb2.QueryAuditRequest(since=convert.timestamp_to_pb(entries[0].at.seconds + 10**6))
    assert list(api.call("QueryAudit", future).entries) == []


# -- exchange ----------------------------------------------------------------------------------


def export(api: Api, after: int = 0, limit: int = 0) -> tuple[list[curation_pb2.Reference], int]:
    items, trailing = api.stream("ExportReferences", curation_pb2.ExportReferencesRequest(after=after, limit=limit))
    # grpc_testing adds metadata of its own, as a real transport may.
    assert sum(1 for key, _ in trailing if key == convert.NEXT_CURSOR_KEY) == 1
    return items, convert.next_cursor_from_metadata(trailing, default=-1)


def test_export_streams_every_item_and_trails_the_next_cursor(api: Api) -> None:
    api.add("r0", "r1", "r2")
    api.call("RemoveReferences", curation_pb2.RemoveReferencesRequest(ids=["r1"]))
    items, cursor = export(api)
    # r1's tombstone is its latest change, so it comes last.
    assert [(i.id, i.state) for i in items] == [("r0", curation_pb2.ACTIVE), ("r2", curation_pb2.ACTIVE), ("r1", curation_pb2.REMOVED)]
    assert cursor == items[-1].change_seq
    assert [i.change_seq for i in items] == sorted(i.change_seq for i in items)
    # Nothing changed since: no items, and the cursor stays where it was.
    assert export(api, after=cursor) == ([], cursor)
    assert export(api, after=cursor + 100) == ([], cursor + 100)


# Regression: `after` is a uint64 on the wire but a signed 64-bit integer in the
# store; a cursor of 2**63 or more escaped as OverflowError (INTERNAL). Either
# answer would do: nothing after it (the cursor kept), or InvalidInput("after").
@pytest.mark.parametrize("after", [2**63, 2**64 - 1])
def test_export_after_any_cursor_there_can_be(api: Api, after: int) -> None:
    api.add("r0")
    responses, trailing, code, details = api.invoke("ExportReferences", curation_pb2.ExportReferencesRequest(after=after))
    empty = code is OK and responses == [] and convert.next_cursor_from_metadata(trailing, default=-1) == after
    refused = code is grpc.StatusCode.UNKNOWN and details.startswith("Exception calling application: after: ")
    assert empty or refused, details


def test_export_in_pages(api: Api) -> None:
    api.add("r0", "r1", "r2")
    first, cursor = export(api, limit=2)
    rest, last = export(api, after=cursor, limit=2)
    assert [i.id for i in first] == ["r0", "r1"] and cursor == first[-1].change_seq
    assert [i.id for i in rest] == ["r2"] and last == rest[-1].change_seq


def test_import_an_export_is_idempotent(api: Api, other_api: Api) -> None:
    api.bank("b")
    api.add("r0", "r1", bank="b", labels=("org:a",))
    api.add("r2")
    # A window with a fractional end: import compares it exactly after a trip through Timestamp.
    until = convert.timestamp_to_pb(time.time() + 3600.123456)
    api.call("DisableReferences", curation_pb2.DisableReferencesRequest(ids=["r1"], until=until))
    items, _ = export(api)
    assert [i.disabled_until for i in items if i.id == "r1"] == [until]
    first = other_api.call("ImportReferences", items)
    assert (first.added, first.updated, first.removed, first.unchanged, list(first.skipped)) == (3, 0, 0, 0, [])
    again = other_api.call("ImportReferences", items)
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 3)
    # The receiving side now exports the same items (its own sequence numbers aside).
    copied, _ = export(other_api)
    assert _essentials(copied) == _essentials(items)


def _essentials(refs: list[curation_pb2.Reference]) -> list[tuple[Any, ...]]:
    return sorted((r.id, r.text, r.bank, tuple(r.labels), dict(r.metadata), r.state, r.disabled_until, r.fingerprint) for r in refs)


def test_import_of_own_export_changes_nothing(api: Api) -> None:
    api.add("r0", "r1")
    items, _ = export(api)
    summary = api.call("ImportReferences", items)
    assert (summary.added, summary.unchanged) == (0, 2)


def test_import_refuses_a_bad_item(api: Api) -> None:
    bad = curation_pb2.Reference(id="x", text="some text", declared_lang="xx")
    assert isinstance(api.refused("ImportReferences", [bad]), InvalidInput)


# -- admin ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["missing", "empty-dir", "", "  "])
def test_load_index_from_a_bad_path(api: Api, where: str) -> None:
    if where == "empty-dir":
        (api.engine.config.artifacts_dir / where).mkdir(parents=True)
    assert api.invalid("LoadIndex", admin_pb2.LoadIndexRequest(path=where)) == "path"


@pytest.mark.parametrize("where", ["/etc/passwd", "../index", "/", "..", "a/../../var"])
def test_load_index_reads_nothing_outside_the_artifacts_directory(api: Api, where: str) -> None:
    # Regression: LoadIndex read any path, and its errors told files from directories.
    reason = api.refused("LoadIndex", admin_pb2.LoadIndexRequest(path=where))
    assert isinstance(reason, InvalidInput) and reason.field == "path" and "outside" in reason.message
    assert str(api.engine.config.data_dir.resolve()) not in str(reason)


def test_load_index_of_an_artifact(api: Api) -> None:
    api.add("r0", "r1")
    snapshot = api.engine.index.snapshot()
    assert snapshot is not None
    root = api.engine.config.artifacts_dir
    shutil.copytree(snapshot, root / snapshot.name)
    reply = api.call("LoadIndex", admin_pb2.LoadIndexRequest(path=snapshot.name))
    assert (reply.path, reply.model_id, reply.index_type, reply.size) == (snapshot.name, api.engine.model_id, "flat", 2)
    assert (reply.added, reply.removed) == (0, 0) and reply.version == snapshot.name


def test_a_corrupt_artifact_is_failed_precondition_and_names_no_server_path(api: Api) -> None:
    api.add("r0")
    snapshot = api.engine.index.snapshot()
    assert snapshot is not None
    root = api.engine.config.artifacts_dir
    shutil.copytree(snapshot, root / "v1")
    (root / "v1" / "index.faiss").write_bytes(b"\0" * 4096)
    reason = api.refused("LoadIndex", admin_pb2.LoadIndexRequest(path="v1"))
    assert code_for(reason) is grpc.StatusCode.FAILED_PRECONDITION
    assert str(root.resolve()) not in str(reason) and "/project/faiss" not in str(reason)


def test_every_rpc_is_tested() -> None:
    """A new RPC in the protos needs a test here (by name)."""
    source = Path(__file__).read_text(encoding="utf-8")
    rpcs = {name for service in SERVICES.values() for name in service.methods_by_name}
    assert {name for name in rpcs if f'"{name}"' not in source} == set()
