"""The JSON records of ``service/core/records.py``: exchange lines, screening rows and ``add --file`` lines."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from service.core import (
    DEFAULT_BANK, InvalidInput, Match, NewReference, PostResult, ReferenceItem, ReferenceState, Signal, Verdict,
    new_reference_from_record, reference_from_record, reference_to_record, result_from_record, result_to_record
)
from tests.support.factories import item

TOMBSTONE_KEYS = {"id", "seq", "state", "bank", "fingerprint", "updated_at"}


def exchanged(it: ReferenceItem) -> ReferenceItem:
    """An item written as an exchange line and read back, through real JSON."""
    return reference_from_record(json.loads(json.dumps(reference_to_record(it))), "line 1")


def stamped(it: ReferenceItem, **changes: Any) -> ReferenceItem:
    """The factory item with the fields an export carries set to telling values."""
    return dataclasses.replace(it, change_seq=7, created_at=1700000000.5, updated_at=1700000100.25, added_by="curator:ann", **changes)


def as_read_back(it: ReferenceItem) -> ReferenceItem:
    # vid and the canonical form are local: an exchange line carries neither.
    return dataclasses.replace(it, vid=0, canonical="")


@pytest.mark.parametrize(
    "it",
    [
        stamped(item("ur-1", lang="ur", bank="demo", text="Some text", vid=3)),
        stamped(item("d-1", text="Held", state=ReferenceState.DISABLED, disabled_until=1800000000.0)),
        stamped(item("d-2", text="Held for ever", state=ReferenceState.DISABLED)),
        stamped(item("q-1", text="Flagged", state=ReferenceState.QUARANTINED)),
    ],
)
def test_live_items_round_trip(it: ReferenceItem) -> None:
    assert exchanged(it) == as_read_back(it)


def test_disabled_until_only_written_when_set() -> None:
    assert reference_to_record(item("a", state=ReferenceState.DISABLED, disabled_until=5.0))["disabled_until"] == 5.0
    assert "disabled_until" not in reference_to_record(item("a", state=ReferenceState.DISABLED))


def test_tombstone_carries_id_bank_and_fingerprint_only() -> None:
    tomb = stamped(item("gone", bank="demo", fingerprint="fp-gone", state=ReferenceState.REMOVED))
    record = reference_to_record(tomb)
    assert set(record) == TOMBSTONE_KEYS
    assert record["state"] == "removed" and record["bank"] == "demo" and record["fingerprint"] == "fp-gone"
    back = exchanged(tomb)
    assert (back.id, back.state, back.bank, back.fingerprint, back.change_seq, back.updated_at) == ("gone", ReferenceState.REMOVED, "demo", "fp-gone", 7, tomb.updated_at)
    assert back.text == "" and back.labels == ()
    # ...and writes back to the same line.
    assert reference_to_record(back) == record


def test_missing_optional_fields_take_defaults() -> None:
    back = reference_from_record({"id": "a", "text": "t"})
    assert (back.state, back.bank, back.labels, dict(back.metadata), back.change_seq, back.disabled_until) == (
        ReferenceState.ACTIVE, DEFAULT_BANK, (), {}, 0, None,
    )


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ([1, 2], "line 4"),
        ({"text": "t"}, "line 4.id"),
        ({"id": "", "text": "t"}, "line 4.id"),
        ({"id": 5, "text": "t"}, "line 4.id"),
        ({"id": "a", "text": "t", "state": "deleted"}, "line 4.state"),
        ({"id": "a"}, "line 4.text"),
        ({"id": "a", "text": "   "}, "line 4.text"),
        ({"id": "a", "text": "t", "labels": "org:x"}, "line 4.labels"),
        ({"id": "a", "text": "t", "labels": ["org:x", 3]}, "line 4.labels"),
        ({"id": "a", "text": "t", "metadata": ["k", "v"]}, "line 4.metadata"),
    ],
)
def test_exchange_record_errors_name_line_and_field(record: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        reference_from_record(record, "line 4")
    assert exc.value.field == field


@pytest.mark.parametrize("key", ["disabled_until", "created_at", "seq"])
def test_non_numeric_fields_name_line_and_field(key: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        reference_from_record({"id": "a", "text": "t", "state": "disabled", key: "tomorrow"}, "line 2")
    assert exc.value.field == f"line 2.{key}"


def test_tombstone_needs_no_text() -> None:
    assert reference_from_record({"id": "a", "state": "removed"}).state is ReferenceState.REMOVED


# -- screening rows -------------------------------------------------------------

RESULT = PostResult(
    post_id="p1",
    verdict=Verdict.NEAR_DUPLICATE,
    detected_lang="ur",
    suppressed_by="allow-1",
    matches=(
        Match(reference_id="r1", score=0.97, kind=Verdict.NEAR_DUPLICATE, signal=Signal.LEXICAL, bank="demo",
              labels=("org:x", "type:y"), cosine=0.95, reference_lang="ur", metadata={"case": "42"}),
        Match(reference_id="r2", score=1.2, kind=Verdict.TRANSLATION, signal=Signal.SEMANTIC, bank="b",
              labels=(), cosine=0.88, reference_lang="en"),
    ),
)


def test_result_round_trip_keeps_suppression_and_metadata() -> None:
    record = json.loads(json.dumps(result_to_record(RESULT)))
    assert record["suppressed_by"] == "allow-1" and record["matches"][0]["metadata"] == {"case": "42"}
    assert result_from_record(record) == RESULT


def test_result_reads_parquet_map_pairs_and_old_rows() -> None:
    record = result_to_record(RESULT)
    record["matches"][0]["metadata"] = [("case", "42")]
    del record["matches"][1]["metadata"]
    del record["suppressed_by"]
    back = result_from_record(record)
    assert dict(back.matches[0].metadata) == {"case": "42"} and dict(back.matches[1].metadata) == {}
    assert back.suppressed_by == ""


# -- add --file lines -----------------------------------------------------------

DEFAULT = NewReference(text="", lang="ur", bank="demo", labels=("source:file",))


def test_new_reference_takes_the_defaults_it_lacks() -> None:
    parsed = new_reference_from_record({"text": "hello", "id": 7, "metadata": {"n": 1}}, "line 1", DEFAULT)
    assert parsed == NewReference(text="hello", id="7", lang="ur", bank="demo", labels=("source:file",), metadata={"n": "1"})
    own = new_reference_from_record({"text": "t", "lang": "en", "bank": "b", "labels": ["org:x"]}, "line 1", DEFAULT)
    assert (own.lang, own.bank, own.labels) == ("en", "b", ("org:x",))


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ("just text", "line 9"),
        ({"text": "t", "labels": "org:x"}, "line 9.labels"),
        ({"text": "t", "labels": [1]}, "line 9.labels"),
        ({"text": "t", "metadata": "k=v"}, "line 9.metadata"),
    ],
)
def test_new_reference_errors_name_line_and_field(record: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        new_reference_from_record(record, "line 9", DEFAULT)
    assert exc.value.field == field
