"""``Admission``: the one rule for whether a stored item may match now (state, banks, filter, hold-outs)."""

from __future__ import annotations

import pytest

from service.core.domain import ReferenceState
from service.core.matching.admission import Admission
from tests.support.factories import item

NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("state", "disabled_until", "admitted"),
    [
        (ReferenceState.ACTIVE, None, True),
        (ReferenceState.DISABLED, None, False),
        (ReferenceState.DISABLED, NOW + 60, False),
        # The window's end is inclusive: at `until` the item is active again (domain.state_at).
        (ReferenceState.DISABLED, NOW, True),
        (ReferenceState.DISABLED, NOW - 60, True),
        (ReferenceState.QUARANTINED, None, False),
        (ReferenceState.REMOVED, None, False),
    ],
)
def test_only_items_active_now_are_admitted(state: ReferenceState, disabled_until: float | None, admitted: bool) -> None:
    assert Admission(now=NOW)(item("r1", state=state, disabled_until=disabled_until)) is admitted


def test_the_disable_window_is_judged_at_the_admissions_own_moment() -> None:
    disabled = item("r1", state=ReferenceState.DISABLED, disabled_until=NOW)
    assert not Admission(now=NOW - 1)(disabled)
    assert Admission(now=NOW + 1)(disabled)


def test_a_disabled_bank_admits_nothing_even_when_requested_or_suppressing() -> None:
    admission = Admission(now=NOW, requested_banks=frozenset({"b"}), disabled_banks=frozenset({"b", "allow"}), suppression_banks=frozenset({"allow"}))
    assert not admission(item("r1", bank="b"))
    assert not admission(item("r2", bank="allow"))


def test_the_requested_bank_filter() -> None:
    admission = Admission(now=NOW, requested_banks=frozenset({"elections"}))
    assert admission(item("r1", bank="elections"))
    assert not admission(item("r2", bank="health"))
    # No filter: every enabled bank.
    assert Admission(now=NOW)(item("r3", bank="health"))


def test_suppression_banks_apply_whatever_banks_the_caller_named() -> None:
    admission = Admission(now=NOW, requested_banks=frozenset({"elections"}), suppression_banks=frozenset({"allow"}))
    assert admission(item("r1", bank="allow"))
    assert not admission(item("r2", bank="health"))


def test_a_suppression_item_is_still_subject_to_its_own_state() -> None:
    admission = Admission(now=NOW, suppression_banks=frozenset({"allow"}))
    assert not admission(item("r1", bank="allow", state=ReferenceState.DISABLED))


def test_held_out_items_are_refused_before_their_store_write_lands() -> None:
    # The item still reads as active: the quarantine monitor's write is pending.
    admission = Admission(now=NOW, held_out=frozenset({"r1"}), suppression_banks=frozenset({"allow"}))
    assert not admission(item("r1", state=ReferenceState.ACTIVE))
    assert not Admission(now=NOW, held_out=frozenset({"r2"}), suppression_banks=frozenset({"allow"}))(item("r2", bank="allow"))
    assert admission(item("r3"))


def test_the_metadata_filter_needs_every_pair() -> None:
    admission = Admission(now=NOW, metadata={"k": "v"})
    assert admission(item("r1"))  # the factory's items carry {"k": "v"}
    assert not Admission(now=NOW, metadata={"k": "other"})(item("r2"))
    assert not Admission(now=NOW, metadata={"k": "v", "source": "telegram"})(item("r3"))


def test_suppression_banks_apply_whatever_metadata_the_caller_named() -> None:
    admission = Admission(now=NOW, metadata={"source": "telegram"}, suppression_banks=frozenset({"allow"}))
    assert admission(item("r1", bank="allow"))
    assert not admission(item("r2", bank="health"))
