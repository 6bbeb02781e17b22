"""The state changes an item can go through, each with the states it may start from.

Removal is not among them: it is a tombstone, not a state to come back from
(``ReferenceRows.remove``).
"""

from __future__ import annotations

from typing import Any, Mapping

from service.core.domain import ReferenceState
from service.core.store.base import Transition

LIVE = frozenset({ReferenceState.ACTIVE, ReferenceState.DISABLED, ReferenceState.QUARANTINED})

#: Back to matching from a disable (one with a window too).
ENABLE = Transition("enable", ReferenceState.ACTIVE, frozenset({ReferenceState.DISABLED}))
#: Back to matching from quarantine, an analyst's decision.
RELEASE = Transition("release", ReferenceState.ACTIVE, frozenset({ReferenceState.QUARANTINED}))


def disable(until: float | None) -> Transition:
    """Held out of matching until a time, or (None) until enabled; from any live state."""
    return Transition("disable", ReferenceState.DISABLED, LIVE, until)


def quarantine(reason: Mapping[str, Any]) -> Transition:
    """Held out by the match-rate monitor; only an active item, so an analyst's disable stays."""
    return Transition("quarantine", ReferenceState.QUARANTINED, frozenset({ReferenceState.ACTIVE}), reason=reason)
