"""The ``Curation`` facade: its parts, deleting a bank (with ``force``), stats, the audit log, reviews."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.core import (
    DEFAULT_BANK, AuditQuery, Bank, FailedPrecondition, Feedback, FeedbackVerdict, InvalidInput, NotFound,
    QuarantineConfig, ReferenceState
)
from service.core.curation.banks import Banks
from service.core.curation.exchange import Exchange
from service.core.curation.feedback import Reviews
from service.core.curation.quarantine import HoldOuts
from service.core.curation.references import References
from tests.support.curation_factories import ACTOR, TEXTS, Opened, add, audit_entries, engine_at, matched_ids, ref


def with_bank(o: Opened, name: str = "gifct", items: int = 2) -> list[str]:
    """A bank holding ``items`` items (texts 0..items-1); returns their ids."""
    o.curation.banks.create(Bank(name=name), actor=ACTOR)
    ids = [f"{name}-{i}" for i in range(items)]
    add(o.curation, *(ref(ref_id, i, bank=name) for i, ref_id in enumerate(ids)))
    return ids


def test_the_parts(opened: Opened) -> None:
    curation = opened.curation
    assert isinstance(curation.references, References) and isinstance(curation.banks, Banks)
    assert isinstance(curation.reviews, Reviews) and isinstance(curation.exchange, Exchange)
    assert isinstance(curation.holdouts, HoldOuts)


# -- deleting a bank ------------------------------------------------------------


def test_delete_bank_holding_items_refused_without_force(opened: Opened) -> None:
    ids = with_bank(opened)
    with pytest.raises(FailedPrecondition):
        opened.curation.delete_bank("gifct", force=False, actor=ACTOR)
    assert "gifct" in opened.curation.banks.catalog.names()
    assert all(opened.state(i) is ReferenceState.ACTIVE for i in ids)


def test_delete_bank_with_force_tombstones_its_items_under_its_name(opened: Opened) -> None:
    ids = with_bank(opened)
    add(opened.curation, ref("keep", 5))
    opened.curation.references.disable([ids[1]], until=None, actor=ACTOR)
    assert opened.curation.delete_bank("gifct", force=True, actor="admin:x") == 2
    for ref_id in ids:
        tomb = opened.curation.references.get(ref_id)
        assert (tomb.state, tomb.bank) == (ReferenceState.REMOVED, "gifct")
    assert "gifct" not in opened.curation.banks.catalog.names()
    with pytest.raises(NotFound):
        opened.curation.banks.get("gifct")
    # Exports tell consumers to delete them, naming the bank.
    page = opened.curation.exchange.export(after=0)
    assert [(i.id, i.bank) for i in page.items if i.state is ReferenceState.REMOVED] == [(ids[0], "gifct"), (ids[1], "gifct")]
    assert matched_ids(opened.engine, TEXTS[0]) == []
    assert opened.state("keep") is ReferenceState.ACTIVE
    assert [e.actor for e in audit_entries(opened.curation, target=ids[0], action="remove")] == ["admin:x"]
    assert [e.actor for e in audit_entries(opened.curation, target="bank:gifct", action="bank.delete")] == ["admin:x"]


def test_delete_empty_bank_needs_no_force_and_its_name_can_return(opened: Opened) -> None:
    ids = with_bank(opened, items=1)
    opened.curation.references.remove(ids, actor=ACTOR)
    assert opened.curation.delete_bank("gifct", force=False, actor=ACTOR) == 0
    assert "gifct" not in opened.curation.banks.catalog.names()
    opened.curation.banks.create(Bank(name="gifct"), actor=ACTOR)
    assert opened.curation.references.get(ids[0]).bank == "gifct"


def test_delete_unknown_bank_is_not_found(opened: Opened) -> None:
    with pytest.raises(NotFound):
        opened.curation.delete_bank("nope", force=True, actor=ACTOR)


def test_default_bank_is_never_deleted_nor_emptied(opened: Opened) -> None:
    add(opened.curation, ref("a"))
    with pytest.raises(FailedPrecondition):
        opened.curation.delete_bank(DEFAULT_BANK, force=True, actor=ACTOR)
    assert opened.state("a") is ReferenceState.ACTIVE


# -- stats and audit ------------------------------------------------------------


def test_stats(opened: Opened) -> None:
    add(opened.curation, ref("a"), ref("b", 1), ref("c", 2))
    opened.curation.references.disable(["b"], until=None, actor=ACTOR)
    opened.curation.references.remove(["c"], actor=ACTOR)
    stats = opened.curation.stats()
    assert stats.by_state[ReferenceState.ACTIVE] == 1
    assert stats.by_state[ReferenceState.DISABLED] == 1
    assert stats.by_state[ReferenceState.REMOVED] == 1
    assert stats.by_state[ReferenceState.QUARANTINED] == 0
    # The index keeps the disabled item (re-enabling is instant) and drops the removed one.
    assert (stats.banks, stats.index_size, stats.quarantine_enabled) == (1, 2, True)


def test_stats_say_when_quarantine_is_off(tmp_path: Path) -> None:
    with engine_at(tmp_path, quarantine=QuarantineConfig(enabled=False)) as o:
        assert o.curation.stats().quarantine_enabled is False


def test_audit_newest_first_filtered_and_paged(opened: Opened) -> None:
    add(opened.curation, ref("a"), ref("b", 1), actor="curator:bob")
    refs = opened.curation.references
    refs.update("a", add_labels=["org:x"], actor=ACTOR)
    refs.disable(["a"], until=None, actor=ACTOR)
    assert [e.action for e in audit_entries(opened.curation, target="a")] == ["disable", "update", "add"]
    assert [e.target for e in audit_entries(opened.curation, actor="curator:bob")] == ["b", "a"]
    assert [e.target for e in audit_entries(opened.curation, action="add")] == ["b", "a"]

    pages: list[list[str]] = []
    token = ""
    while True:
        entries, token = opened.curation.audit(AuditQuery(target="a", page_size=2, page_token=token))
        pages.append([e.action for e in entries])
        if not token:
            break
    assert pages == [["disable", "update"], ["add"]]


def test_audit_refuses_a_bad_token(opened: Opened) -> None:
    with pytest.raises(InvalidInput) as exc:
        opened.curation.audit(AuditQuery(page_token="not-a-token"))
    assert exc.value.field == "page_token"


# -- reviews --------------------------------------------------------------------


def test_reviews_add_up_per_item(opened: Opened) -> None:
    add(opened.curation, ref("a"))
    reviews = opened.curation.reviews
    reviews.report(Feedback("a", "p1", FeedbackVerdict.TRUE_POSITIVE, reporter=ACTOR))
    summary = reviews.report(Feedback("a", "p2", FeedbackVerdict.FALSE_POSITIVE, reporter=ACTOR))
    assert (summary.true_positives, summary.false_positives, summary.precision) == (1, 1, 0.5)
    matched_ids(opened.engine, TEXTS[0])
    stats = reviews.stats("a")
    assert (stats.state, stats.feedback, stats.match_rate.recent_matches) == (ReferenceState.ACTIVE, summary, 1)


@pytest.mark.parametrize(("feedback", "field"), [(Feedback("", "p", FeedbackVerdict.TRUE_POSITIVE), "reference_id"), (Feedback("a", "", FeedbackVerdict.TRUE_POSITIVE), "post_id")])
def test_reviews_check_ids(opened: Opened, feedback: Feedback, field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        opened.curation.reviews.report(feedback)
    assert exc.value.field == field


def test_review_of_unknown_item_is_not_found(opened: Opened) -> None:
    with pytest.raises(NotFound):
        opened.curation.reviews.report(Feedback("nope", "p", FeedbackVerdict.TRUE_POSITIVE))
    with pytest.raises(NotFound):
        opened.curation.reviews.stats("nope")
