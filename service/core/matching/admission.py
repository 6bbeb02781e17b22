"""The one rule for whether a stored item may match right now.

An item matches when it is active at this moment (a disable whose window ran
out counts as active: ``domain.state_at``), its bank is enabled, it is not
being held out by the quarantine monitor, and either the caller named no
banks, named its bank, or its bank is a suppression bank. Suppression banks
apply whatever the caller's filter: an allow-list that a caller could skip by
naming banks would not be one.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.core.domain import ReferenceItem, ReferenceState, state_at


@dataclass(frozen=True)
class Admission:
    now: float
    requested_banks: frozenset[str] = frozenset()
    disabled_banks: frozenset[str] = frozenset()
    suppression_banks: frozenset[str] = frozenset()
    # Ids the quarantine monitor has just flagged; their store write may not have landed yet.
    held_out: frozenset[str] = frozenset()

    def __call__(self, item: ReferenceItem) -> bool:
        if item.bank in self.disabled_banks or item.id in self.held_out:
            return False
        if self.requested_banks and item.bank not in self.requested_banks and item.bank not in self.suppression_banks:
            return False
        return state_at(item.state, item.disabled_until, self.now) is ReferenceState.ACTIVE
