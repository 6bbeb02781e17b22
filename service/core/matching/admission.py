"""The one rule for whether a stored item may match right now.

An item matches when it is active at this moment (a disable whose window ran
out counts as active: ``domain.state_at``), its bank is enabled, it is not
being held out by the quarantine monitor, and either the caller named no
banks, named its bank, or its bank is a suppression bank; and its metadata
holds every pair of the caller's metadata filter (``MatchOptions.metadata``),
unless, again, its bank is a suppression bank. Suppression banks apply
whatever the caller's filters: an allow-list that a caller could skip by
naming banks or metadata would not be one. A bank rolled out to a share of
posts (``matching/rollout.py``) admits its items only for posts in that
share: :meth:`Admission.for_post` names the post.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping

from service.core.domain import ReferenceItem, ReferenceState, state_at
from service.core.matching.rollout import in_share


@dataclass(frozen=True)
class Admission:
    now: float
    requested_banks: frozenset[str] = frozenset()
    disabled_banks: frozenset[str] = frozenset()
    suppression_banks: frozenset[str] = frozenset()
    # Ids the quarantine monitor has just flagged; their store write may not have landed yet.
    held_out: frozenset[str] = frozenset()
    metadata: Mapping[str, str] = field(default_factory=dict)
    # Bank -> share of posts, for banks rolled out to fewer than all; and the post (its fingerprint).
    shares: Mapping[str, float] = field(default_factory=dict)
    post_key: str = ""

    def for_post(self, post_key: str) -> "Admission":
        return dataclasses.replace(self, post_key=post_key) if self.shares else self

    def __call__(self, item: ReferenceItem) -> bool:
        if item.bank in self.disabled_banks or item.id in self.held_out:
            return False
        share = self.shares.get(item.bank)
        if share is not None and not in_share(item.bank, self.post_key, share):
            return False
        if item.bank not in self.suppression_banks:
            if self.requested_banks and item.bank not in self.requested_banks:
                return False
            if self.metadata and any(item.metadata.get(k) != v for k, v in self.metadata.items()):
                return False
        return state_at(item.state, item.disabled_until, self.now) is ReferenceState.ACTIVE
