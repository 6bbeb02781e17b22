"""Banks: named collections of reference items, each with its own operating points.

A bank is ``normal`` (its items flag posts) or ``suppression`` (an allow-list:
its items un-flag posts, see ``matching/cascade.py``). A disabled bank's items
never match. Per-bank thresholds are stored as *overrides only*, so a bank
without overrides follows the service-wide operating points when those change.

:class:`BankCatalog` is the in-memory view matching consults on every post,
reloaded after every bank change (banks are few and change rarely), so
matching never queries the store for bank settings. :class:`Banks` is every
bank operation an analyst can make.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from typing import Callable, Iterable

from service.core.domain import DEFAULT_BANK, Bank, BankChanges, BankKind, BankStats, FeedbackSummary
from service.core.errors import FailedPrecondition, InvalidInput, NotFound
from service.core.matching.rollout import check_share
from service.core.matching.thresholds import Thresholds, apply_overrides, check_bank_overrides, scalar_thresholds
from service.core.store.base import ReferenceStore

log = logging.getLogger(__name__)

DEFAULT_STATS_DAYS = 30
MAX_STATS_DAYS = 366
_DAY = 86_400.0

BANK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def check_bank_name(name: str, field_name: str = "name") -> str:
    if not BANK_NAME.match(name or ""):
        raise InvalidInput(field_name, f"bank name {name!r} must be 1-64 letters, digits or _.:- and start with a letter or digit")
    return name


def bank_thresholds(defaults: Thresholds, bank: Bank) -> Thresholds:
    """The service-wide operating points with the bank's overrides applied.

    Overrides naming a threshold that no longer exists (the fields changed
    since they were stored) are skipped with a warning rather than failing
    every match against the bank.
    """
    allowed = scalar_thresholds()
    usable = {k: float(v) for k, v in bank.thresholds.items() if k in allowed}
    stale = sorted(set(bank.thresholds) - set(usable))
    if stale:
        log.warning("bank %s overrides unknown threshold(s) %s: ignored", bank.name, ", ".join(stale))
    return apply_overrides(defaults, usable, f"bank {bank.name} overrides")


class BankCatalog:
    """The banks as matching sees them: enabled or not, kind, effective thresholds."""

    def __init__(self, defaults: Thresholds, load: Callable[[], Iterable[Bank]]) -> None:
        self._defaults = defaults
        self._load = load
        self._lock = threading.Lock()
        self._banks: dict[str, Bank] = {}
        self._thresholds: dict[str, Thresholds] = {}
        self._disabled: frozenset[str] = frozenset()
        self._suppression: frozenset[str] = frozenset()
        self._shares: dict[str, float] = {}
        self.reload()

    @property
    def defaults(self) -> Thresholds:
        return self._defaults

    def rebase(self, defaults: Thresholds) -> None:
        """New service-wide operating points (the bank grew or shrank); the banks' overrides stay on top."""
        with self._lock:
            self._defaults = defaults
            banks = dict(self._banks)
            self._thresholds = {name: bank_thresholds(defaults, b) for name, b in banks.items()}

    def reload(self) -> None:
        banks = {b.name: b for b in self._load()}
        with self._lock:
            defaults = self._defaults
        thresholds = {name: bank_thresholds(defaults, b) for name, b in banks.items()}
        disabled = frozenset(n for n, b in banks.items() if not b.enabled)
        suppression = frozenset(n for n, b in banks.items() if b.kind is BankKind.SUPPRESSION)
        shares = {n: b.match_share for n, b in banks.items() if b.match_share < 1.0}
        with self._lock:
            self._banks, self._thresholds = banks, thresholds
            self._disabled, self._suppression, self._shares = disabled, suppression, shares

    def names(self) -> frozenset[str]:
        return frozenset(self._banks)

    def thresholds_for(self, name: str) -> Thresholds:
        return self._thresholds.get(name, self._defaults)

    def disabled(self) -> frozenset[str]:
        return self._disabled

    def suppression(self) -> frozenset[str]:
        return self._suppression

    def shares(self) -> dict[str, float]:
        """Banks rolled out to fewer than all posts, with their share."""
        return self._shares

    def check_known(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self._banks:
                raise NotFound("bank", name)


class Banks:
    """Create, list, update and delete banks; every change audited by the store."""

    def __init__(self, store: ReferenceStore, catalog: BankCatalog) -> None:
        self._store = store
        self.catalog = catalog

    def create(self, bank: Bank, *, actor: str) -> Bank:
        check_bank_name(bank.name)
        checked = Bank(
            name=bank.name,
            description=bank.description,
            enabled=bank.enabled,
            kind=bank.kind,
            thresholds=check_bank_overrides(bank.thresholds),
            match_share=check_share(bank.match_share),
        )
        created = self._store.banks.create(checked, actor=actor)
        self.catalog.reload()
        # A bank re-created under an old name finds the reviews of its tombstones.
        return self._with_reviews(created)

    def ensure(self, names: Iterable[str], *, actor: str, why: str) -> list[str]:
        """Create the banks among ``names`` that do not exist yet; returns their names."""
        created = sorted(set(names) - self.catalog.names())
        for name in created:
            self.create(Bank(name=name, description=why), actor=actor)
        return created

    def all(self) -> list[Bank]:
        reviewed = self._store.feedback.by_bank()
        return [self._with_reviews(b, reviewed) for b in self._store.banks.all()]

    def get(self, name: str) -> Bank:
        return self._with_reviews(self._store.banks.get(name))

    def _with_reviews(self, bank: Bank, reviewed: dict[str, FeedbackSummary] | None = None) -> Bank:
        """The bank as listings show it: with the reviews of its items (the store's rows do not carry them)."""
        summary = (reviewed if reviewed is not None else self._store.feedback.by_bank()).get(bank.name, FeedbackSummary())
        return dataclasses.replace(bank, feedback=summary)

    def stats(self, name: str, *, days: int = 0) -> BankStats:
        """The bank's precision from every review of its items, and day by day over the last ``days`` (default 30)."""
        if days < 0 or days > MAX_STATS_DAYS:
            raise InvalidInput("days", f"must be between 1 and {MAX_STATS_DAYS} (0: {DEFAULT_STATS_DAYS}), got {days}")
        bank = self.get(name)
        now = time.time()
        today = now - now % _DAY
        since = today - ((days or DEFAULT_STATS_DAYS) - 1) * _DAY
        return BankStats(bank=name, feedback=bank.feedback, daily=tuple(self._store.feedback.daily(name, since=since)))

    def update(self, name: str, changes: BankChanges, *, actor: str) -> Bank:
        set_thresholds = check_bank_overrides(changes.set_thresholds, "set_thresholds")
        check_bank_overrides({k: 0.0 for k in changes.clear_thresholds}, "clear_thresholds")
        if name == DEFAULT_BANK and changes.kind is BankKind.SUPPRESSION:
            raise FailedPrecondition(f"bank {name!r} cannot be a suppression bank")
        share = None if changes.match_share is None else check_share(changes.match_share)
        updated = self._store.banks.update(
            name,
            BankChanges(
                changes.description, changes.enabled, changes.kind, set_thresholds, tuple(changes.clear_thresholds), match_share=share
            ),
            actor=actor,
        )
        self.catalog.reload()
        return self._with_reviews(updated)

    def delete(self, name: str, *, actor: str) -> None:
        """Delete an empty bank (``Curation.delete_bank`` removes its items first when forced)."""
        self._store.banks.delete(name, actor=actor)
        self.catalog.reload()

    def reload(self) -> None:
        """Re-read the banks (a build may have created some behind the service's back)."""
        self.catalog.reload()
