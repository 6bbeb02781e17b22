"""``Exchange``: export after a cursor, and importing that list into another deployment (idempotently).

Two engines stand for two deployments; what travels between them goes
through the JSON exchange lines, as ``ExportReferences``/``ImportReferences``
and the CLI carry it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from service.core import (
    BankChanges, ImportSummary, InvalidInput, OnMissingBank, ReferenceState, reference_from_record,
    reference_to_record
)
from tests.support.curation_factories import (
    ACTOR, QUICK_QUARANTINE, TEXTS, Opened, add, audit_entries, engine_at, matched_ids, quarantine, ref
)

IMPORTER = "importer:tcap"


@dataclass
class Deployments:
    src: Opened
    dst: Opened
    cursor: int = 0

    def ship(self) -> ImportSummary:
        """Export what changed in ``src`` since the last ship and import it into ``dst``."""
        page = self.src.curation.exchange.export(after=self.cursor)
        lines = [json.dumps(reference_to_record(item)) for item in page.items]
        items = [reference_from_record(json.loads(line), f"line {n}") for n, line in enumerate(lines, 1)]
        self.cursor = page.next_cursor
        return self.dst.curation.exchange.import_items(items, actor=IMPORTER)

    def ship_all(self) -> ImportSummary:
        self.cursor = 0
        return self.ship()


@pytest.fixture
def two(tmp_path: Path) -> Iterator[Deployments]:
    with engine_at(tmp_path / "src") as src, engine_at(tmp_path / "dst") as dst:
        yield Deployments(src, dst)


@pytest.fixture
def src(tmp_path: Path) -> Iterator[Opened]:
    with engine_at(tmp_path) as o:
        yield o


def summary(s: ImportSummary) -> tuple[int, int, int, int, tuple[str, ...]]:
    return (s.added, s.updated, s.removed, s.unchanged, s.skipped)


def three_changes(o: Opened) -> None:
    """a, b, c added; then a relabelled and b removed: change order c, a, b."""
    add(o.curation, ref("a"), ref("b", 1), ref("c", 2))
    o.curation.references.update("a", add_labels=["org:x"], actor=ACTOR)
    o.curation.references.remove(["b"], actor=ACTOR)


# -- export ---------------------------------------------------------------------


def test_export_is_the_change_log_in_order(src: Opened) -> None:
    three_changes(src)
    page = src.curation.exchange.export(after=0)
    assert [(i.id, i.state) for i in page.items] == [("c", ReferenceState.ACTIVE), ("a", ReferenceState.ACTIVE), ("b", ReferenceState.REMOVED)]
    seqs = [i.change_seq for i in page.items]
    assert seqs == sorted(seqs) and page.next_cursor == seqs[-1]
    assert page.items[1].labels == ("org:x",) and page.items[2].text == ""


def test_export_continues_after_the_last_item(src: Opened) -> None:
    three_changes(src)
    exchange = src.curation.exchange
    first = exchange.export(after=0, limit=2)
    assert [i.id for i in first.items] == ["c", "a"] and first.next_cursor == first.items[-1].change_seq
    rest = exchange.export(after=first.items[-1].change_seq)
    assert [i.id for i in rest.items] == ["b"]
    # Nothing new: an empty page, and the same cursor to pass next time.
    empty = exchange.export(after=rest.next_cursor)
    assert empty.items == () and empty.next_cursor == rest.next_cursor
    # A later change to an exported item comes again, once.
    src.curation.references.disable(["c"], until=None, actor=ACTOR)
    again = exchange.export(after=empty.next_cursor)
    assert [(i.id, i.state) for i in again.items] == [("c", ReferenceState.DISABLED)]


def test_export_refuses_a_negative_cursor(src: Opened) -> None:
    with pytest.raises(InvalidInput) as exc:
        src.curation.exchange.export(after=-1)
    assert exc.value.field == "after"


# -- import ---------------------------------------------------------------------


def test_import_is_idempotent_and_carries_everything(two: Deployments) -> None:
    until = time.time() + 3600
    first = ref("a", labels=["org:x"], metadata={"case": "1"}, bank="gifct", lang="en")
    add(two.src.curation, first, ref("b", 1), ref("c", 2), missing_bank=OnMissingBank.CREATE)
    two.src.curation.references.disable(["b"], until=until, actor=ACTOR)
    two.src.curation.references.remove(["c"], actor=ACTOR)

    # The tombstone names an id never seen here: nothing to remove.
    assert summary(two.ship_all()) == (2, 0, 0, 1, ())
    a, b = two.dst.curation.references.get("a"), two.dst.curation.references.get("b")
    assert (a.text, a.labels, dict(a.metadata), a.bank, a.declared_lang) == (TEXTS[0], ("org:x",), {"case": "1"}, "gifct", "en")
    assert (b.state, b.disabled_until) == (ReferenceState.DISABLED, until)
    assert matched_ids(two.dst.engine, TEXTS[0]) == ["a"]

    assert summary(two.ship_all()) == (0, 0, 0, 3, ())


def test_import_creates_missing_banks_as_the_importer(two: Deployments) -> None:
    two.src.curation.banks.ensure(["gifct"], actor=ACTOR, why="test")
    add(two.src.curation, ref("a", bank="gifct"))
    two.ship()
    assert two.dst.curation.banks.get("gifct").created_by == IMPORTER
    assert [e.actor for e in audit_entries(two.dst.curation, target="bank:gifct", action="bank.create")] == [IMPORTER]


def test_tombstones_remove(two: Deployments) -> None:
    add(two.src.curation, ref("a"), ref("b", 1))
    two.ship()
    two.src.curation.references.remove(["a"], actor=ACTOR)
    assert summary(two.ship()) == (0, 0, 1, 0, ())
    assert two.dst.state("a") is ReferenceState.REMOVED and two.dst.state("b") is ReferenceState.ACTIVE
    assert matched_ids(two.dst.engine, TEXTS[0]) == []


def test_local_tombstone_is_final(two: Deployments) -> None:
    add(two.src.curation, ref("a"))
    two.ship()
    two.dst.curation.references.remove(["a"], actor=ACTOR)
    assert summary(two.ship_all()) == (0, 0, 0, 0, ("a",))
    assert two.dst.state("a") is ReferenceState.REMOVED
    # A tombstone meeting a tombstone is simply unchanged.
    two.src.curation.references.remove(["a"], actor=ACTOR)
    assert summary(two.ship()) == (0, 0, 0, 1, ())


def test_different_text_for_the_same_id_is_skipped(two: Deployments) -> None:
    add(two.dst.curation, ref("a", 1))
    add(two.src.curation, ref("a"))
    assert summary(two.ship()) == (0, 0, 0, 0, ("a",))
    assert two.dst.curation.references.get("a").text == TEXTS[1]


def test_tombstone_for_an_item_with_different_text_is_skipped(two: Deployments) -> None:
    add(two.dst.curation, ref("a", 1))
    add(two.src.curation, ref("a"))
    two.ship()
    two.src.curation.references.remove(["a"], actor=ACTOR)
    assert summary(two.ship()) == (0, 0, 0, 0, ("a",))
    assert two.dst.state("a") is ReferenceState.ACTIVE


def test_labels_metadata_and_disable_brought_in_line(two: Deployments) -> None:
    add(two.src.curation, ref("a", labels=["org:x"]))
    two.ship()
    refs = two.src.curation.references
    refs.update("a", add_labels=["type:claim"], set_metadata={"k": "v"}, actor=ACTOR)
    refs.disable(["a"], until=None, actor=ACTOR)
    assert summary(two.ship()) == (0, 1, 0, 0, ())
    here = two.dst.curation.references.get("a")
    assert (here.labels, dict(here.metadata), here.state) == (("org:x", "type:claim"), {"k": "v"}, ReferenceState.DISABLED)
    refs.enable(["a"], actor=ACTOR)
    assert summary(two.ship()) == (0, 1, 0, 0, ())
    assert two.dst.state("a") is ReferenceState.ACTIVE
    assert [e.actor for e in audit_entries(two.dst.curation, target="a", action="enable")] == [IMPORTER]


def test_quarantine_is_not_imported(tmp_path: Path) -> None:
    with engine_at(tmp_path / "src", quarantine=QUICK_QUARANTINE) as src, engine_at(tmp_path / "dst") as dst:
        add(src.curation, ref("a"))
        two = Deployments(src, dst)
        two.ship()
        quarantine(src, TEXTS[0])
        assert src.state("a") is ReferenceState.QUARANTINED
        assert summary(two.ship()) == (0, 0, 0, 1, ())
        assert dst.state("a") is ReferenceState.ACTIVE


def test_bank_settings_stay_local(two: Deployments) -> None:
    # Banks travel by name only: creating one here does not copy its settings.
    two.src.curation.banks.ensure(["b"], actor=ACTOR, why="test")
    two.src.curation.banks.update("b", BankChanges(enabled=False), actor=ACTOR)
    add(two.src.curation, ref("a", bank="b"))
    two.ship()
    assert two.dst.curation.banks.get("b").enabled is True
