"""Banks: name and threshold-override validation, the catalog matching reads (and its reloads), ``ensure``."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from service.core import (
    DEFAULT_BANK, AlreadyExists, Bank, BankChanges, BankKind, FailedPrecondition, Feedback, FeedbackVerdict, InvalidInput,
    NotFound, Thresholds
)
from service.core.curation.banks import BankCatalog, Banks, bank_thresholds, check_bank_name
from tests.support.curation_factories import ACTOR, TEXTS, Opened, add, audit_entries, matched_ids, ref


@pytest.fixture
def banks(opened: Opened) -> Banks:
    return opened.curation.banks


@pytest.mark.parametrize("name", ["a", "gifct", "TCAP-2024", "org:team_1.v2", "9lives", "x" * 64])
def test_good_bank_names(name: str) -> None:
    assert check_bank_name(name) == name


@pytest.mark.parametrize("name", ["", "-lead", ".lead", "has space", "x" * 65, "naïve", "a/b"])
def test_bad_bank_names_name_the_field(name: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        check_bank_name(name, "references[3].bank")
    assert exc.value.field == "references[3].bank"


def test_create_checks_the_name(banks: Banks) -> None:
    with pytest.raises(InvalidInput) as exc:
        banks.create(Bank(name="bad name"), actor=ACTOR)
    assert exc.value.field == "name"


@pytest.mark.parametrize(
    ("thresholds", "field"),
    [
        ({"no_such_threshold": 0.5}, "thresholds.no_such_threshold"),
        ({"translation_margin": "1.2"}, "thresholds.translation_margin"),
        ({"translation_margin": True}, "thresholds.translation_margin"),
        ({"translation_margin": float("nan")}, "thresholds.translation_margin"),
        # A per-pair table is not a scalar a bank may override.
        ({"translation_margin_by_pair": 1.0}, "thresholds.translation_margin_by_pair"),
    ],
)
def test_create_checks_threshold_overrides(banks: Banks, thresholds: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        banks.create(Bank(name="b", thresholds=thresholds), actor=ACTOR)
    assert exc.value.field == field
    assert "b" not in banks.catalog.names()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (BankChanges(set_thresholds={"bogus": 1.0}), "set_thresholds.bogus"),
        (BankChanges(set_thresholds={"near_duplicate_lexical": "high"}), "set_thresholds.near_duplicate_lexical"),  # type: ignore[dict-item]
        (BankChanges(clear_thresholds=("bogus",)), "clear_thresholds.bogus"),
    ],
)
def test_update_checks_threshold_overrides(banks: Banks, changes: BankChanges, field: str) -> None:
    banks.create(Bank(name="b"), actor=ACTOR)
    with pytest.raises(InvalidInput) as exc:
        banks.update("b", changes, actor=ACTOR)
    assert exc.value.field == field


def test_overrides_are_stored_as_given_and_cleared(banks: Banks) -> None:
    created = banks.create(Bank(name="b", thresholds={"near_duplicate_lexical": 0.99}), actor=ACTOR)
    assert dict(created.thresholds) == {"near_duplicate_lexical": 0.99}
    assert banks.catalog.thresholds_for("b").near_duplicate_lexical == 0.99
    updated = banks.update("b", BankChanges(clear_thresholds=("near_duplicate_lexical",), set_thresholds={"translation_cosine": 0.9}), actor=ACTOR)
    assert dict(updated.thresholds) == {"translation_cosine": 0.9}
    assert banks.catalog.thresholds_for("b").near_duplicate_lexical == Thresholds().near_duplicate_lexical


def test_default_bank_cannot_become_suppression(banks: Banks) -> None:
    with pytest.raises(FailedPrecondition):
        banks.update(DEFAULT_BANK, BankChanges(kind=BankKind.SUPPRESSION), actor=ACTOR)
    assert banks.get(DEFAULT_BANK).kind is BankKind.NORMAL
    # Its other settings may change; another bank may be a suppression bank.
    assert banks.update(DEFAULT_BANK, BankChanges(description="main"), actor=ACTOR).description == "main"
    banks.create(Bank(name="allow"), actor=ACTOR)
    assert banks.update("allow", BankChanges(kind=BankKind.SUPPRESSION), actor=ACTOR).kind is BankKind.SUPPRESSION


def test_catalog_follows_create_update_delete(banks: Banks) -> None:
    catalog = banks.catalog
    banks.create(Bank(name="b", thresholds={"near_duplicate_lexical": 0.7}), actor=ACTOR)
    assert catalog.names() == {DEFAULT_BANK, "b"}
    assert catalog.thresholds_for("b").near_duplicate_lexical == 0.7
    banks.update("b", BankChanges(enabled=False, kind=BankKind.SUPPRESSION), actor=ACTOR)
    assert catalog.disabled() == {"b"} and catalog.suppression() == {"b"}
    banks.update("b", BankChanges(enabled=True), actor=ACTOR)
    assert catalog.disabled() == frozenset()
    banks.delete("b", actor=ACTOR)
    assert catalog.names() == {DEFAULT_BANK}
    assert catalog.suppression() == frozenset()
    assert catalog.thresholds_for("b") == catalog.defaults
    with pytest.raises(NotFound):
        catalog.check_known(["b"])


def test_catalog_reload_sees_banks_made_behind_its_back(opened: Opened, banks: Banks) -> None:
    opened.store.banks.create(Bank(name="built"), actor="index_builder")
    assert "built" not in banks.catalog.names()
    banks.reload()
    assert "built" in banks.catalog.names()


def test_disabled_bank_items_stop_matching_at_once(opened: Opened, banks: Banks) -> None:
    banks.create(Bank(name="b"), actor=ACTOR)
    add(opened.curation, ref("a", bank="b"))
    assert matched_ids(opened.engine, TEXTS[0]) == ["a"]
    banks.update("b", BankChanges(enabled=False), actor=ACTOR)
    assert matched_ids(opened.engine, TEXTS[0]) == []


def test_a_bank_rolled_out_to_a_share_matches_that_share_of_posts_and_widens_live(opened: Opened, banks: Banks) -> None:
    banks.create(Bank(name="trial", match_share=0.0), actor=ACTOR)
    add(opened.curation, ref("a", bank="trial"))
    assert banks.get("trial").match_share == 0.0 and banks.catalog.shares() == {"trial": 0.0}
    assert matched_ids(opened.engine, TEXTS[0]) == []
    banks.update("trial", BankChanges(match_share=1.0), actor=ACTOR)
    assert banks.catalog.shares() == {} and matched_ids(opened.engine, TEXTS[0]) == ["a"]
    assert banks.update("trial", BankChanges(description="d"), actor=ACTOR).match_share == 1.0
    [entry] = audit_entries(opened.curation, action="bank.update", target="bank:trial")[-1:]
    assert entry.new["match_share"] == 1.0


@pytest.mark.parametrize("share", [-0.5, 1.01, float("nan")])
def test_a_share_outside_zero_to_one_is_refused_on_create_and_update(banks: Banks, share: float) -> None:
    with pytest.raises(InvalidInput) as err:
        banks.create(Bank(name="trial", match_share=share), actor=ACTOR)
    assert err.value.field == "match_share"
    banks.create(Bank(name="trial"), actor=ACTOR)
    with pytest.raises(InvalidInput):
        banks.update("trial", BankChanges(match_share=share), actor=ACTOR)


def test_bank_precision_in_listings_and_day_by_day(opened: Opened, banks: Banks, monkeypatch: pytest.MonkeyPatch) -> None:
    banks.create(Bank(name="gifct"), actor=ACTOR)
    add(opened.curation, ref("a", bank="gifct"), ref("b", 1, bank="gifct"), ref("c", 2))
    day = 86_400.0
    clock = [20_000 * day + 3600.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    reviews = opened.curation.reviews
    for ref_id, post, verdict in (("a", "p1", FeedbackVerdict.TRUE_POSITIVE), ("b", "p2", FeedbackVerdict.FALSE_POSITIVE)):
        reviews.report(Feedback(reference_id=ref_id, post_id=post, verdict=verdict, reporter="curator:r"))
    clock[0] += day
    reviews.report(Feedback(reference_id="a", post_id="p3", verdict=FeedbackVerdict.TRUE_POSITIVE, reporter="curator:r"))
    reviews.report(Feedback(reference_id="c", post_id="p4", verdict=FeedbackVerdict.FALSE_POSITIVE, reporter="curator:r"))
    listed = {b.name: b.feedback for b in banks.all()}
    assert (listed["gifct"].true_positives, listed["gifct"].false_positives) == (2, 1)
    assert listed[DEFAULT_BANK].precision == 0.0
    assert banks.get("gifct").feedback == listed["gifct"]
    stats = banks.stats("gifct", days=7)
    assert stats.feedback.precision == pytest.approx(2 / 3)
    assert [(d.day, d.feedback.true_positives, d.feedback.false_positives) for d in stats.daily] == [(20_000 * day, 1, 1), (20_001 * day, 1, 0)]
    # Today only: yesterday's reviews fall outside.
    assert [d.day for d in banks.stats("gifct", days=1).daily] == [20_001 * day]


def test_bank_stats_refusals(banks: Banks) -> None:
    with pytest.raises(NotFound):
        banks.stats("nope")
    for days in (-1, 367):
        with pytest.raises(InvalidInput) as err:
            banks.stats(DEFAULT_BANK, days=days)
        assert err.value.field == "days"
    assert banks.stats(DEFAULT_BANK).daily == ()


def test_ensure_creates_only_missing_banks(opened: Opened, banks: Banks) -> None:
    banks.create(Bank(name="have"), actor=ACTOR)
    assert banks.ensure(["zeta", "have", "alpha", "zeta"], actor="loader", why="for a load") == ["alpha", "zeta"]
    assert banks.get("alpha").description == "for a load" and banks.get("alpha").created_by == "loader"
    assert {"alpha", "zeta", "have"} <= banks.catalog.names()
    assert banks.ensure(["alpha", "have"], actor="loader", why="again") == []
    assert [e.target for e in audit_entries(opened.curation, action="bank.create", actor="loader")] == ["bank:zeta", "bank:alpha"]


def test_create_twice_and_unknown_banks(banks: Banks) -> None:
    banks.create(Bank(name="b"), actor=ACTOR)
    with pytest.raises(AlreadyExists):
        banks.create(Bank(name="b"), actor=ACTOR)
    with pytest.raises(NotFound):
        banks.get("nope")
    with pytest.raises(NotFound):
        banks.update("nope", BankChanges(description="x"), actor=ACTOR)


def test_bank_thresholds_skip_stale_overrides(caplog: pytest.LogCaptureFixture) -> None:
    defaults = Thresholds()
    with caplog.at_level(logging.WARNING):
        applied = bank_thresholds(defaults, Bank(name="old", thresholds={"retired_threshold": 0.1, "translation_cosine": 0.95}))
    assert applied.translation_cosine == 0.95
    assert applied.near_duplicate_lexical == defaults.near_duplicate_lexical
    assert "retired_threshold" in caplog.text


def test_catalog_over_a_plain_loader() -> None:
    # The catalog needs nothing but a function returning banks.
    loaded = [Bank(name="a"), Bank(name="s", kind=BankKind.SUPPRESSION, enabled=False)]
    catalog = BankCatalog(Thresholds(), lambda: loaded)
    assert catalog.names() == {"a", "s"} and catalog.suppression() == {"s"} and catalog.disabled() == {"s"}
    loaded.pop()
    catalog.reload()
    assert catalog.names() == {"a"}
