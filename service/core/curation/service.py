"""Curation: every change an analyst (or a loader) makes, composed from the modules beside it.

``Engine.curation`` is one of these. Its parts are public attributes:
``references`` (the one write path, item state and labels), ``banks``,
``reviews`` (feedback and per-item stats), ``exchange`` (export, import),
``holdouts`` (quarantine decisions) and ``match_log`` (the review queue). The few operations that span parts live
here: deleting a bank with its items, the overall stats, the audit log.
"""

from __future__ import annotations

import dataclasses

from typing import Callable

from service.core.curation.banks import Banks
from service.core.curation.exchange import Exchange
from service.core.curation.feedback import Reviews
from service.core.curation.match_log import MatchLog
from service.core.curation.quarantine import HoldOuts
from service.core.curation.references import References
from service.core.config import MatchLogConfig
from service.core.domain import DEFAULT_BANK, AuditEntry, AuditQuery, CurationStats
from service.core.matching.bank_size import BankOperatingPoints
from service.core.store.base import ReferenceStore
from service.core.validation import make_page_token, page_size, parse_page_token


class Curation:
    def __init__(
        self,
        store: ReferenceStore,
        references: References,
        banks: Banks,
        reviews: Reviews,
        holdouts: HoldOuts,
        *,
        index_size: Callable[[], int],
        quarantine_enabled: bool,
        operating_points: Callable[[], BankOperatingPoints] | None = None,
        match_log: MatchLog | None = None,
    ) -> None:
        self._store = store
        self.references = references
        self.banks = banks
        self.reviews = reviews
        self.holdouts = holdouts
        self.exchange = Exchange(store, references)
        self.match_log = match_log if match_log is not None else MatchLog(store, MatchLogConfig())
        self._index_size = index_size
        self._quarantine_enabled = quarantine_enabled
        self._operating_points = operating_points

    def delete_bank(self, name: str, *, force: bool, actor: str) -> int:
        """Delete a bank. A bank holding items is refused unless ``force``, which tombstones them first.

        Returns how many items were tombstoned. Tombstones keep the bank's name,
        so exports still tell consumers to delete them.
        """
        self._store.banks.get(name)  # NotFound before anything is removed
        removed = 0
        if force and name != DEFAULT_BANK:
            ids = self._store.references.live_ids_in_bank(name)
            if ids:
                removed = len(self.references.remove(ids, actor=actor)[0])
        self.banks.delete(name, actor=actor)
        return removed

    def stats(self) -> CurationStats:
        stats = CurationStats(
            by_state=self._store.references.counts_by_state(),
            banks=len(self.banks.catalog.names()),
            index_size=self._index_size(),
            quarantine_enabled=self._quarantine_enabled,
        )
        if self._operating_points is None:
            return stats
        points = self._operating_points()
        return dataclasses.replace(
            stats,
            thresholds_bank_by_lang=dict(points.counts),
            thresholds_sized_for=points.sized_for,
            expected_fp_per_post=dict(points.expected_fp_per_post),
            target_fp_per_post=points.target_fp_per_post,
            thresholds_follow_bank=points.follows_bank,
        )

    def audit(self, query: AuditQuery) -> tuple[list[AuditEntry], str]:
        """One page of the audit log, newest first, and the token of the next page."""
        size = page_size(query.page_size)
        before = parse_page_token(query.page_token) or None
        entries = self._store.audit.query(query, before_seq=before, limit=size)
        return entries, (make_page_token(entries[-1].seq) if len(entries) == size else "")
