"""Hostile input over real gRPC: every refusal is INVALID_ARGUMENT naming the field, never INTERNAL, and cheap.

Regression tests for what an outside tester found. Each test notes what the
code before the fix (git b78e9e6) did. A real server and channel; the
HashingEmbedder double stands in for the model, as none of this is about
matching quality.
"""

from __future__ import annotations

import base64
import queue
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import code_pb2, error_details_pb2, status_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.api._generated.nigran.v1 import curation_pb2, matcher_pb2
from service.api.status import field_violations
from service.core.store.sqlite.schema import SCHEMA_VERSION
from tests.support.doubles import HashingEmbedder
from tests.support.grpc_harness import Client, start_client

pytestmark = pytest.mark.timeout(180)

CALL_TIMEOUT = 20.0
# What protobuf's Timestamp carries: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z (spelt out, not
# imported, so this file also runs against the code from before the fix).
MIN_TIME, MAX_TIME = -62_135_596_800, 253_402_300_799
# "Well under a second": the old code took seconds for 20,000 labels.
FAST_SECONDS = 1.0
TEXT = "Our brothers will strike the checkpoint at the northern gate when the convoy passes on Friday night."
OTHER = "Send money to the martyrs' fund through the usual shopkeeper in the old bazaar before Eid."
# Past year 9999 (or before year 1), or with nanos protobuf defines as invalid.
OUT_OF_RANGE_TIMES = [
    Timestamp(seconds=2**63 - 1),
    Timestamp(seconds=-(2**63)),
    Timestamp(seconds=MAX_TIME + 1),
    Timestamp(seconds=2_000_000_000, nanos=-1),
    Timestamp(seconds=2_000_000_000, nanos=1_000_000_000),
]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# Strings the service never issued. The old code took any str.isdigit() string
# to int(), which "²" and "①" crash and "9"*5000 is past the digit limit of
# (INTERNAL), and bare numbers were tokens.
FORGED_PAGE_TOKENS = [
    "²", "①", "9" * 5000, "1", "0", "-1", " ", "１", "٣", "🙂", "\x00", "%%%", "A" * 41,
    _b64("p1."), _b64("p1.-1"), _b64(f"p1.{2**63}"), _b64("p1.²"), _b64("p2.5"),
]


@pytest.fixture
def client(data_dir: Path) -> Iterator[Client]:
    c = start_client(data_dir, HashingEmbedder())
    yield c
    c.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """One server for the read-mostly tests, which do not care what else it holds."""
    c = start_client(tmp_path_factory.mktemp("shared") / "var", HashingEmbedder())
    c.add("", ("seed", "en", TEXT))
    yield c
    c.close()


def outcome(call: Callable[[], Any]) -> tuple[grpc.StatusCode, list[str]]:
    """The call's status code and the fields its BadRequest names."""
    try:
        call()
    except grpc.RpcError as err:
        return err.code(), [f for f, _ in field_violations(err)]
    return grpc.StatusCode.OK, []


def refused(call: Callable[[], Any], field: str) -> None:
    """Asserts the call fails INVALID_ARGUMENT with a violation of ``field`` (exactly, or ending in it)."""
    code, fields = outcome(call)
    assert code is grpc.StatusCode.INVALID_ARGUMENT, code
    assert any(f == field or f.endswith(field) for f in fields), f"expected a violation of {field!r}, got {fields}"


def export_all(client: Client, after: int = 0) -> list[curation_pb2.Reference]:
    return list(client.curation.ExportReferences(curation_pb2.ExportReferencesRequest(after=after), timeout=CALL_TIMEOUT))


def assert_readable(client: Client, ref_id: str) -> curation_pb2.Reference:
    """Every read that carries the item's times still answers (the old code failed them all with INTERNAL)."""
    item = client.call("GetReference", curation_pb2.GetReferenceRequest(id=ref_id))
    listed = client.call("ListReferences", curation_pb2.ListReferencesRequest()).references
    assert ref_id in [r.id for r in listed]
    assert ref_id in [r.id for r in export_all(client)]
    return item  # type: ignore[no-any-return]


# -- times --------------------------------------------------------------------------


def test_disable_until_past_year_9999_is_refused_and_reads_still_work(client: Client) -> None:
    # Old: until=2**63-1 was stored; every later GetReference/ListReferences/
    # ExportReferences carrying it failed INTERNAL building the Timestamp.
    client.add("", ("r1", "en", TEXT))
    for until in OUT_OF_RANGE_TIMES:
        refused(partial(client.call, "DisableReferences", curation_pb2.DisableReferencesRequest(ids=["r1"], until=until)), "until")
    item = assert_readable(client, "r1")
    assert item.state == curation_pb2.ACTIVE and not item.HasField("disabled_until")


def test_import_with_out_of_range_times_is_refused_and_reads_still_work(client: Client) -> None:
    # Old: imported as is, after which the item could not be read back (INTERNAL).
    client.add("", ("r1", "en", TEXT))
    now = Timestamp(seconds=int(time.time()))
    for i, bad in enumerate(OUT_OF_RANGE_TIMES):
        records = [
            curation_pb2.Reference(id=f"imp-{i}", text=OTHER, state=curation_pb2.DISABLED, disabled_until=bad),
            curation_pb2.Reference(id=f"imp-c{i}", text=OTHER, created_at=bad, updated_at=now),
            # An item already here that the import would disable.
            curation_pb2.Reference(id="r1", text=TEXT, state=curation_pb2.DISABLED, disabled_until=bad),
        ]
        for record in records:
            field = "created_at" if record.HasField("created_at") else "disabled_until"
            refused(partial(client.curation.ImportReferences, iter([record]), timeout=CALL_TIMEOUT), field)
    assert_readable(client, "r1")
    assert [r.id for r in export_all(client)] == ["r1"]


def test_store_holding_out_of_range_times_is_repaired_on_open(data_dir: Path) -> None:
    # Old: no migration 2, so a store written before the range checks kept
    # disabled_until=9.2e18 and every read of the item failed INTERNAL.
    first = start_client(data_dir, HashingEmbedder())
    first.add("", ("kept", "en", TEXT), ("fine", "en", OTHER))
    first.close()
    store = data_dir / "references.sqlite3"
    with closing(sqlite3.connect(store)) as db, db:
        db.execute("UPDATE refs SET state = 'disabled', disabled_until = ?, created_at = ?, updated_at = ? WHERE id = 'kept'",
                   (9.2e18, -1e300, 1e300))
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")

    reopened = start_client(data_dir, HashingEmbedder())
    try:
        item = assert_readable(reopened, "kept")
        # A disable "for ever" past year 9999 becomes an indefinite one, not a clamped date.
        assert item.state == curation_pb2.DISABLED and not item.HasField("disabled_until")
        assert item.created_at.seconds <= item.updated_at.seconds <= MAX_TIME
        assert reopened.matched_ids(TEXT) == [] and reopened.matched_ids(OTHER) == ["fine"]
    finally:
        reopened.close()
    with closing(sqlite3.connect(store)) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
        until, created, updated = db.execute("SELECT disabled_until, created_at, updated_at FROM refs WHERE id = 'kept'").fetchone()
        assert until is None and MIN_TIME <= created <= updated <= MAX_TIME


# -- pages and cursors --------------------------------------------------------------


def _pages(fetch: Callable[[str], tuple[list[Any], str]]) -> list[list[Any]]:
    pages, token = [], ""
    while True:
        items, token = fetch(token)
        pages.append(items)
        if not token:
            return pages
        assert len(pages) < 50, "paging does not end"


def test_page_tokens_the_service_never_issued_are_refused_and_issued_ones_page(client: Client) -> None:
    # Old: see FORGED_PAGE_TOKENS. Issued tokens were bare positions; now they are opaque.
    requests = {"ListReferences": curation_pb2.ListReferencesRequest, "QueryAudit": curation_pb2.QueryAuditRequest}
    outcomes = {
        (rpc, token[:12]): outcome(partial(client.call, rpc, request(page_token=token)))
        for token in FORGED_PAGE_TOKENS
        for rpc, request in requests.items()
    }
    wrong = {key: got for key, got in outcomes.items() if got != (grpc.StatusCode.INVALID_ARGUMENT, ["page_token"])}
    assert not wrong

    client.bank("pages")
    ids = client.add("pages", *[(f"p{i}", "en", f"{TEXT} number {i}") for i in range(5)])
    client.add("", ("elsewhere", "en", OTHER))

    def refs(token: str) -> tuple[list[str], str]:
        reply = client.call("ListReferences", curation_pb2.ListReferencesRequest(bank="pages", page_size=2, page_token=token))
        return [r.id for r in reply.references], reply.next_page_token

    def audit(token: str) -> tuple[list[int], str]:
        reply = client.call("QueryAudit", curation_pb2.QueryAuditRequest(page_size=2, page_token=token))
        return [e.seq for e in reply.entries], reply.next_page_token

    assert [len(p) for p in _pages(refs)] == [2, 2, 1]
    assert list(chain(*_pages(refs))) == ids
    every_seq = [e.seq for e in client.call("QueryAudit", curation_pb2.QueryAuditRequest(page_size=1000)).entries]
    assert len(every_seq) > 4 and list(chain(*_pages(audit))) == every_seq


@pytest.mark.parametrize("after", [2**63, 2**64 - 1])
def test_export_cursor_past_any_position_is_refused(shared: Client, after: int) -> None:
    # Old: passed to SQLite, which overflowed: INTERNAL.
    refused(lambda: export_all(shared, after), "after")
    assert "seed" in [r.id for r in export_all(shared)]


# -- bytes on the wire --------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


INVALID_UTF8 = b"ok \xff\xfe \xc3\x28"
# (method, request class, bytes with invalid UTF-8 in one of its string fields)
RAW_REQUESTS: list[tuple[str, type[Any], bytes]] = [
    ("/nigran.v1.Matcher/Match", matcher_pb2.MatchRequest, _len_field(1, _len_field(2, INVALID_UTF8))),  # posts[0].text
    ("/nigran.v1.Matcher/Match", matcher_pb2.MatchRequest, _len_field(2, INVALID_UTF8)),  # banks[0]
    ("/nigran.v1.Curation/GetReference", curation_pb2.GetReferenceRequest, _len_field(1, INVALID_UTF8)),
    ("/nigran.v1.Curation/ListReferences", curation_pb2.ListReferencesRequest, _len_field(5, INVALID_UTF8)),  # page_token
    ("/nigran.v1.Curation/CreateBank", curation_pb2.CreateBankRequest, _len_field(1, INVALID_UTF8)),
    ("/nigran.v1.Curation/AddReferences", curation_pb2.AddReferencesRequest, _len_field(1, _len_field(2, INVALID_UTF8))),
    ("/nigran.v1.Curation/QueryAudit", curation_pb2.QueryAuditRequest, _len_field(2, INVALID_UTF8)),  # actor
    ("/nigran.v1.Curation/DisableReferences", curation_pb2.DisableReferencesRequest, _len_field(1, INVALID_UTF8)),
    ("/nigran.v1.Curation/ReportMatch", curation_pb2.ReportMatchRequest, _len_field(4, INVALID_UTF8)),  # note
]
FUZZED_METHODS = sorted({(method, cls) for method, cls, _ in RAW_REQUESTS}, key=lambda m: m[0])


def send_raw(client: Client, method: str, payload: bytes) -> grpc.StatusCode:
    call = client.running.channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=None)
    try:
        call(payload, timeout=CALL_TIMEOUT)
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def decodes(cls: type[Any], payload: bytes) -> bool:
    try:
        cls.FromString(payload)
    except Exception:  # noqa: BLE001 - DecodeError, or others for invalid UTF-8, depending on the protobuf backend
        return False
    return True


@pytest.mark.parametrize(("method", "cls", "payload"), RAW_REQUESTS, ids=[f"{m.rsplit('/', 1)[-1]}-{i}" for i, (m, _, _) in enumerate(RAW_REQUESTS)])
def test_invalid_utf8_in_a_string_field_is_invalid_argument(shared: Client, method: str, cls: type[Any], payload: bytes) -> None:
    # Old: grpc's own deserializer failed, which grpc answers INTERNAL ("Exception deserializing request!").
    assert not decodes(cls, payload)
    call = shared.running.channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=None)
    refused(lambda: call(payload, timeout=CALL_TIMEOUT), "request")


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=st.sampled_from(FUZZED_METHODS), payload=st.binary(max_size=256))
def test_random_bytes_never_give_internal_or_unknown(shared: Client, target: tuple[str, type[Any]], payload: bytes) -> None:
    method, cls = target
    code = send_raw(shared, method, payload)
    assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (method, payload)
    if not decodes(cls, payload):
        assert code is grpc.StatusCode.INVALID_ARGUMENT, (method, payload)


# -- enums --------------------------------------------------------------------------

# Proto3 enums are open: any number travels (typed Any, as the stubs only admit known values).
UNKNOWN_ENUM: Any = 99


def test_unknown_enum_numbers_are_refused(shared: Client) -> None:
    # Old: CreateBank(kind=99) made a NORMAL bank and ListReferences(state=99)
    # listed every state, both OK.
    refused(lambda: shared.bank("odd", kind=UNKNOWN_ENUM), "kind")
    refused(lambda: shared.call("UpdateBank", curation_pb2.UpdateBankRequest(name="default", kind=UNKNOWN_ENUM)), "kind")
    refused(lambda: shared.call("ListReferences", curation_pb2.ListReferencesRequest(state=UNKNOWN_ENUM)), "state")
    assert "odd" not in [b.name for b in shared.call("ListBanks", curation_pb2.ListBanksRequest()).banks]
    assert shared.call("ListBanks", curation_pb2.ListBanksRequest()).banks[0].kind == curation_pb2.NORMAL


# -- import without ids -------------------------------------------------------------


def test_import_without_ids_twice_adds_each_bank_and_text_once(client: Client) -> None:
    # Old: each record without an id got a fresh random id, so a second import added everything again.
    records = [
        curation_pb2.Reference(text=TEXT, bank="imp"),
        curation_pb2.Reference(text=OTHER, bank="imp"),
        curation_pb2.Reference(text=TEXT, bank="imp2"),  # the same text in another bank is another item
    ]
    first = client.curation.ImportReferences(iter(records), timeout=CALL_TIMEOUT)
    second = client.curation.ImportReferences(iter(records), timeout=CALL_TIMEOUT)
    assert (first.added, second.added, second.unchanged) == (3, 0, 3)
    items = export_all(client)
    assert sorted((r.bank, r.text) for r in items) == sorted((r.bank, r.text) for r in records)
    assert len({r.id for r in items}) == 3


# -- MatchStream --------------------------------------------------------------------


class Feed:
    """A request iterator the test pushes into, so each reply is read before the next message is sent."""

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue()

    def put(self, message: bytes) -> None:
        self._queue.put(message)

    def close(self) -> None:
        self._queue.put(None)

    def __iter__(self) -> Feed:
        return self

    def __next__(self) -> bytes:
        message = self._queue.get(timeout=CALL_TIMEOUT)
        if message is None:
            raise StopIteration
        return message


def _request(*texts: str, prefix: str = "p") -> bytes:
    posts = [matcher_pb2.Post(id=f"{prefix}{i}", text=t) for i, t in enumerate(texts)]
    return matcher_pb2.MatchRequest(posts=posts).SerializeToString()  # type: ignore[no-any-return]


def _violations(error: status_pb2.Status) -> list[str]:
    fields = []
    for detail in error.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields += [v.field for v in bad.field_violations]
    return fields


def test_match_stream_answers_a_bad_message_with_its_error_and_goes_on(client: Client) -> None:
    # Old: the first bad message aborted the whole stream (INVALID_ARGUMENT), and
    # an undecodable one ended it INTERNAL; the messages after it were never answered.
    client.add("", ("r1", "en", TEXT))
    bad = {
        "posts[0].text": _request("   "),
        "posts": _request(*["x"] * 257),
        "request": _len_field(1, _len_field(2, INVALID_UTF8)),
        "top_k": matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="k", text=TEXT)], top_k=10_000).SerializeToString(),
    }
    feed = Feed()
    stream = client.running.channel.stream_stream(
        "/nigran.v1.Matcher/MatchStream", request_serializer=lambda b: b, response_deserializer=matcher_pb2.MatchResponse.FromString
    )
    responses = stream(feed, timeout=CALL_TIMEOUT)
    try:
        for n, (field, message) in enumerate([*bad.items(), ("", b"")]):
            feed.put(_request(TEXT, prefix=f"good{n}-"))
            good = next(responses)
            assert not good.HasField("error") and [r.post_id for r in good.results] == [f"good{n}-0"]
            assert [m.reference_id for m in good.results[0].matches] == ["r1"]
            if not field:
                break
            feed.put(message)
            reply = next(responses)
            assert reply.HasField("error") and not reply.results, field
            assert reply.error.code == code_pb2.INVALID_ARGUMENT and field in _violations(reply.error), (field, reply.error)
        assert responses.is_active()
    finally:
        feed.close()
    assert list(responses) == [] and responses.code() is grpc.StatusCode.OK


# -- per-request and per-item caps --------------------------------------------------


def _add(**ref: Any) -> tuple[str, Any]:
    return "AddReferences", curation_pb2.AddReferencesRequest(references=[curation_pb2.ReferenceInput(text=TEXT, **ref)])


LABELS = [f"org:l{i}" for i in range(20_000)]
HUGE_ID = "x" * 8_000_000
BIG_METADATA = {"note": "n" * (16 * 1024 + 1)}
MANY_METADATA = {f"k{i}": "v" for i in range(65)}
# (rpc, request, field named): what the old code did is in each comment.
CAPS: dict[str, tuple[str, Any, str]] = {
    # Old: accepted, after 1-3 s of quadratic label de-duplication.
    "20k labels": (*_add(labels=LABELS), "references[0].labels"),
    "20k labels in update": ("UpdateReference", curation_pb2.UpdateReferenceRequest(id="seed", add_labels=LABELS), "changes.labels"),
    # Old: an 8 MB id was stored (and audited), and echoed back in the reply or
    # the error, past the client's 4 MB limit (RESOURCE_EXHAUSTED).
    "8M-char id": (*_add(id=HUGE_ID), "references[0].id"),
    "8M-char id in get": ("GetReference", curation_pb2.GetReferenceRequest(id=HUGE_ID), "id"),
    "8M-char id in disable": ("DisableReferences", curation_pb2.DisableReferencesRequest(ids=[HUGE_ID]), "ids[0]"),
    # Old: metadata had no cap at all.
    "metadata bytes": (*_add(metadata=BIG_METADATA), "references[0].metadata"),
    "metadata entries": (*_add(metadata=MANY_METADATA), "references[0].metadata"),
    "metadata bytes in update": ("UpdateReference", curation_pb2.UpdateReferenceRequest(id="seed", set_metadata=BIG_METADATA), "changes.metadata"),
}


def _timed_refusal(call: Callable[[], Any], field: str) -> None:
    started = time.perf_counter()
    refused(call, field)
    elapsed = time.perf_counter() - started
    assert elapsed < FAST_SECONDS, f"refusing took {elapsed:.2f} s"


@pytest.mark.parametrize("case", list(CAPS))
def test_item_caps_are_refused_fast_naming_the_field(shared: Client, case: str) -> None:
    rpc, request, field = CAPS[case]
    _timed_refusal(lambda: shared.call(rpc, request), field)


def test_import_of_an_item_over_the_label_cap_is_refused_fast(shared: Client) -> None:
    record = curation_pb2.Reference(id="many-labels", text=OTHER, labels=LABELS)
    _timed_refusal(lambda: shared.curation.ImportReferences(iter([record]), timeout=CALL_TIMEOUT), "labels")


def test_too_much_text_in_one_match_request_is_refused_fast(shared: Client) -> None:
    # Old: no cap on a request's total text, so 40 posts of 30 KB (each under the
    # per-post cap) were all cleaned and matched, for minutes.
    request = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id=str(i), text="w" * 30_000) for i in range(40)])
    _timed_refusal(lambda: shared.running.matcher.Match(request, timeout=CALL_TIMEOUT), "posts")
