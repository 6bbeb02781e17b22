"""Banks: named collections of reference items, each with its own operating points.

A bank is ``normal`` (its items flag posts) or ``suppression`` (an allow-list:
its items un-flag posts, see ``service.core.suppression``). A disabled bank's
items never match. Per-bank thresholds are stored as *overrides only*, so a
bank without overrides follows the calibrated defaults when those change.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import re
import threading
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from service.core.config import Thresholds
from service.core.domain import DEFAULT_BANK
from service.core.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

BANK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class BankKind(enum.Enum):
    NORMAL = "normal"
    SUPPRESSION = "suppression"


@dataclass(frozen=True)
class Bank:
    name: str
    description: str = ""
    enabled: bool = True
    kind: BankKind = BankKind.NORMAL
    # Threshold field name -> value; only what differs from the defaults.
    thresholds: Mapping[str, float] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    created_by: str = ""
    # Live (not removed) items; filled in by listings.
    item_count: int = 0


@dataclass(frozen=True)
class BankChanges:
    """An update to a bank: None leaves a field as it is."""

    description: str | None = None
    enabled: bool | None = None
    kind: BankKind | None = None
    set_thresholds: Mapping[str, float] = field(default_factory=dict)
    clear_thresholds: tuple[str, ...] = ()


def check_bank_name(name: str, field_name: str = "name") -> str:
    if not BANK_NAME.match(name or ""):
        raise InvalidInput(field_name, f"bank name {name!r} must be 1-64 letters, digits or _.:- and start with a letter or digit")
    return name


def overridable_thresholds() -> frozenset[str]:
    """Threshold fields a bank may override: every numeric field of Thresholds."""
    hints = typing.get_type_hints(Thresholds)
    return frozenset(f.name for f in dataclasses.fields(Thresholds) if hints[f.name] in (float, int))


def check_threshold_overrides(overrides: Mapping[str, float], field_name: str = "thresholds") -> dict[str, float]:
    allowed = overridable_thresholds()
    checked: dict[str, float] = {}
    for key, value in overrides.items():
        if key not in allowed:
            raise InvalidInput(f"{field_name}.{key}", f"unknown threshold; use one of {', '.join(sorted(allowed))}")
        if not isinstance(value, (int, float)) or value != value:
            raise InvalidInput(f"{field_name}.{key}", f"must be a number, got {value!r}")
        checked[key] = float(value)
    return checked


def resolve_thresholds(defaults: Thresholds, bank: Bank) -> Thresholds:
    """The defaults with the bank's overrides applied.

    Overrides naming a threshold that no longer exists (the defaults' fields
    changed since they were stored) are skipped with a warning rather than
    failing every match against the bank.
    """
    if not bank.thresholds:
        return defaults
    allowed = overridable_thresholds()
    usable = {k: float(v) for k, v in bank.thresholds.items() if k in allowed}
    stale = sorted(set(bank.thresholds) - set(usable))
    if stale:
        log.warning("bank %s overrides unknown threshold(s) %s: ignored", bank.name, ", ".join(stale))
    changes: dict[str, Any] = dict(usable, source=f"{defaults.source} + bank {bank.name} overrides")
    if "translation_margin" in usable:
        # A bank's own margin applies to every language pair; otherwise the
        # calibrated per-pair margins would silently take precedence over it.
        changes["translation_margin_by_pair"] = {}
        # ... and it is the margin rule that decides, not the calibrated scorer.
        changes["translation_weights"] = {}
    if "translation_score" in usable:
        changes["translation_score_by_pair"] = {}
    return dataclasses.replace(defaults, **changes)


class BankCatalog:
    """An in-memory view of the banks, consulted on every match.

    Reloaded from the store after every bank change (banks are few and change
    rarely), so matching never queries SQLite for bank settings.
    """

    def __init__(self, defaults: Thresholds, load: Callable[[], Iterable[Bank]]) -> None:
        self._defaults = defaults
        self._load = load
        self._lock = threading.Lock()
        self._banks: dict[str, Bank] = {}
        self._thresholds: dict[str, Thresholds] = {}
        self._disabled: frozenset[str] = frozenset()
        self._suppression: frozenset[str] = frozenset()
        self.reload()

    def reload(self) -> None:
        banks = {b.name: b for b in self._load()}
        thresholds = {name: resolve_thresholds(self._defaults, b) for name, b in banks.items()}
        disabled = frozenset(n for n, b in banks.items() if not b.enabled)
        suppression = frozenset(n for n, b in banks.items() if b.kind is BankKind.SUPPRESSION)
        with self._lock:
            self._banks, self._thresholds = banks, thresholds
            self._disabled, self._suppression = disabled, suppression

    def get(self, name: str) -> Bank:
        bank = self._banks.get(name)
        if bank is None:
            raise NotFound("bank", name)
        return bank

    def names(self) -> frozenset[str]:
        return frozenset(self._banks)

    def thresholds_for(self, name: str) -> Thresholds:
        return self._thresholds.get(name, self._defaults)

    def disabled(self) -> frozenset[str]:
        return self._disabled

    def suppression(self) -> frozenset[str]:
        return self._suppression

    def check_known(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self._banks:
                raise NotFound("bank", name)


__all__ = ["DEFAULT_BANK", "Bank", "BankCatalog", "BankChanges", "BankKind"]
