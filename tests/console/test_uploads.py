"""Reading a bulk upload (service/console/uploads.py): JSONL and CSV into items, and lines that are not items."""

from __future__ import annotations

from service.console.uploads import parse
from service.core import NewReference

DEFAULT = NewReference(text="", bank="gifct")


def test_csv_with_a_header_labels_split_on_semicolons_and_the_default_bank() -> None:
    data = "text,id,lang,labels\nFirst text,a,en,org:x;type:recruitment\nدوسرا متن,,ur-PK,\n".encode()
    items, rejects = parse("refs.CSV", data, DEFAULT)
    assert rejects == []
    assert [(line, ref.id, ref.lang, ref.bank, tuple(ref.labels)) for line, ref in items] == [
        (2, "a", "en", "gifct", ("org:x", "type:recruitment")), (3, "", "ur", "gifct", ()),
    ]


def test_jsonl_lines_that_are_not_items_are_reported_by_line_and_field() -> None:
    data = b'{"text": "ok"}\n\n[1, 2]\n{"text": "x", "lang": "klingon"}\n{broken\n{"fingerprint": "' + b"a" * 64 + b'"}\n'
    items, rejects = parse("refs.jsonl", data, DEFAULT)
    assert [(line, ref.text, ref.fingerprint) for line, ref in items] == [(1, "ok", ""), (6, "", "a" * 64)]
    assert [(r.line, r.field) for r in rejects] == [(3, ""), (4, "lang"), (5, "")]
    assert "not JSON" in rejects[2].reason


def test_a_byte_order_mark_is_not_part_of_the_first_line() -> None:
    items, rejects = parse("refs.jsonl", '\ufeff{"text": "first"}\n'.encode(), DEFAULT)
    assert rejects == [] and items[0][1].text == "first"
