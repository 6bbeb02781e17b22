"""Operating points that follow the bank: its size and its language mix.

A false positive per post is the chance that *some* reference in the bank
scores above a threshold, so at a fixed threshold it grows with the bank: a
threshold picked on a few hundred references floods a review team at tens of
thousands. ``make calibrate`` therefore measures, per signal and language
direction, the threshold that keeps the FP per post at a target for banks
of every size from 1 to a million references in the reference language
(``evaluation/bank_curves.py``): an :class:`OperatingCurve`.

The direction ``x>y`` gets the threshold for the number of references the
bank holds in ``y``, so every row (verdict, direction) keeps its FP per post
at the target whatever the bank's size and mix; recall, not precision, is
what a large bank costs.

The signals that follow the bank: the translation scorer across languages,
the ratio margin within one (PARAPHRASE), each with its own curves for short
posts, and lexical containment (NEAR_DUPLICATE; one threshold for all
languages, the strictest language's, never below the calibrated one).
Fingerprints need no threshold.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from service.core.domain import SUPPORTED_LANGUAGES, ReferenceItem
from service.core.errors import ConfigError
from service.core.matching.thresholds import Thresholds, apply_overrides

log = logging.getLogger(__name__)

#: Bank sizes (references in the reference language) a curve has thresholds for: 1 to 10^6, quarter decades.
SIZE_GRID: tuple[float, ...] = tuple(10.0 ** (k / 4) for k in range(0, 25))
#: FP-per-post targets a curve has thresholds for.
TARGET_GRID: tuple[float, ...] = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05)


def _position(grid: Sequence[float], value: float) -> tuple[int, float]:
    """Index and fraction of ``value`` between grid points, on a log scale, clamped to the grid."""
    logs = [math.log(g) for g in grid]
    v = min(max(math.log(value), logs[0]), logs[-1])
    i = min(max(j for j in range(len(logs)) if logs[j] <= v), len(logs) - 2)
    return i, (v - logs[i]) / (logs[i + 1] - logs[i])


@dataclass(frozen=True)
class OperatingCurve:
    """One signal in one direction: ``thresholds[target][size]`` over ``TARGET_GRID`` x ``SIZE_GRID``."""

    thresholds: tuple[tuple[float, ...], ...]
    # Negative pairs and posts it was measured on, and the largest bank measured without extrapolation.
    pairs: int = 0
    posts: int = 0
    measured_to: float = 0.0

    def __post_init__(self) -> None:
        if len(self.thresholds) != len(TARGET_GRID) or any(len(row) != len(SIZE_GRID) for row in self.thresholds):
            raise ConfigError(f"an operating curve needs {len(TARGET_GRID)} x {len(SIZE_GRID)} thresholds (targets x bank sizes)")

    def _at_size(self, size: float) -> list[float]:
        i, f = _position(SIZE_GRID, max(size, 1.0))
        return [row[i] + f * (row[i + 1] - row[i]) for row in self.thresholds]

    def threshold_for(self, size: float, target: float) -> float:
        """The threshold keeping the FP per post at ``target`` for ``size`` references."""
        column = self._at_size(size)
        j, f = _position(TARGET_GRID, target)
        return column[j] + f * (column[j + 1] - column[j])

    def fp_at(self, threshold: float, size: float) -> float:
        """The expected FP per post at ``threshold`` for ``size`` references (clamped to the target grid).

        A threshold at least as strict as the smallest target's gives that target (half of it when
        stricter): the curves say no more below it.
        """
        column = self._at_size(size)  # non-increasing as the target grows
        if threshold > column[0]:
            return TARGET_GRID[0] * 0.5
        if threshold == column[0]:
            return TARGET_GRID[0]
        # The first target whose threshold this one clears: where several targets share a
        # threshold (a flat stretch, e.g. all 0 for a tiny bank), the smallest of them holds.
        j = next((k for k in range(1, len(column)) if column[k] <= threshold), None)
        if j is None:
            return TARGET_GRID[-1]
        span = column[j - 1] - column[j]
        f = (column[j - 1] - threshold) / span if span > 0 else 1.0
        lo, hi = math.log(TARGET_GRID[j - 1]), math.log(TARGET_GRID[j])
        return float(math.exp(lo + f * (hi - lo)))


@dataclass(frozen=True)
class BankCurves:
    """Per direction ("post>reference"): the scorer's curve across languages, the margin's within one.

    The ``*_short`` curves are for posts under ``Thresholds.short_post_words``,
    measured apart because short texts resemble far more of a bank.
    """

    translation_score: Mapping[str, OperatingCurve] = field(default_factory=dict)
    paraphrase_margin: Mapping[str, OperatingCurve] = field(default_factory=dict)
    translation_score_short: Mapping[str, OperatingCurve] = field(default_factory=dict)
    paraphrase_margin_short: Mapping[str, OperatingCurve] = field(default_factory=dict)
    # Per language ("x>x"): lexical containment (NEAR_DUPLICATE); the strictest language's pick applies to all.
    near_duplicate_lexical: Mapping[str, OperatingCurve] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "size_grid": list(SIZE_GRID),
            "target_grid": list(TARGET_GRID),
            **{name: {pair: dataclasses.asdict(c) for pair, c in getattr(self, name).items()} for name in _SIGNALS},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "BankCurves":
        for key, grid in (("size_grid", SIZE_GRID), ("target_grid", TARGET_GRID)):
            got = data.get(key)
            if got is None or len(got) != len(grid) or any(abs(a - b) > 1e-9 * b for a, b in zip(got, grid)):
                raise ConfigError(f"bank_curves: {key} differs from this version's; re-run make calibrate")
        try:
            tables = {
                name: {
                    pair: OperatingCurve(
                        tuple(tuple(float(x) for x in row) for row in c["thresholds"]),
                        int(c.get("pairs", 0)), int(c.get("posts", 0)), float(c.get("measured_to", 0.0)),
                    )
                    for pair, c in dict(data.get(name, {})).items()
                }
                for name in _SIGNALS
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"bank_curves: {exc}") from exc
        return cls(**tables)


_SIGNALS = ("translation_score", "paraphrase_margin", "translation_score_short", "paraphrase_margin_short", "near_duplicate_lexical")


@dataclass(frozen=True)
class BankPolicy:
    """How operating points follow the bank (the ``[bank_size]`` section of the config)."""

    # Expected false positives per post, per row (verdict and language direction).
    target_fp_per_post: float = 0.01
    # Thresholds are never looser than for a bank of this many references: a
    # tiny bank gains little from loose thresholds, and the measured part of
    # the rate curves is most reliable from here on.
    min_bank_size: int = 1000
    # False: keep the calibrated thresholds whatever the bank holds.
    follow_bank: bool = True

    def __post_init__(self) -> None:
        if not TARGET_GRID[0] <= self.target_fp_per_post <= TARGET_GRID[-1]:
            raise ConfigError(
                f"bank_size.target_fp_per_post must be in [{TARGET_GRID[0]}, {TARGET_GRID[-1]}] (the calibrated range), got {self.target_fp_per_post!r}"
            )
        if self.min_bank_size < 1:
            raise ConfigError(f"bank_size.min_bank_size must be >= 1, got {self.min_bank_size!r}")


@dataclass(frozen=True)
class BankOperatingPoints:
    """Thresholds picked for one bank, and what they promise."""

    thresholds: Thresholds
    # References per language the thresholds were picked for (what the bank held), and their sum.
    counts: Mapping[str, int]
    # The size they were picked for: the bank's, or min_bank_size if larger.
    sized_for: int
    # Per row "x>y": the expected false matches per post in x against the references in y.
    expected_fp_per_post: Mapping[str, float]
    target_fp_per_post: float
    follows_bank: bool

    @property
    def bank_size(self) -> int:
        return sum(self.counts.values())

    @property
    def worst_expected_fp_per_post(self) -> float:
        return max(self.expected_fp_per_post.values(), default=0.0)

    def describe(self) -> str:
        mix = ", ".join(f"{lang} {n}" for lang, n in sorted(self.counts.items()))
        how = f"picked for {self.sized_for} references" if self.follows_bank else "fixed (bank_size.follow_bank = false)"
        return (
            f"operating points {how} (bank holds {self.bank_size}: {mix or 'empty'}); "
            f"expected FP per post per row at most {self.worst_expected_fp_per_post:.4f} (target {self.target_fp_per_post})"
        )


def pick_for_bank(
    calibrated: Thresholds,
    rates: BankCurves | None,
    counts: Mapping[str, int],
    policy: BankPolicy,
    overrides: Mapping[str, Any] | None = None,
) -> BankOperatingPoints:
    """The service-wide thresholds for a bank with ``counts`` references per language.

    ``overrides`` (the config's inline table) are applied after the pick, so
    they win as they do everywhere else; the expected FP is reported for the
    thresholds that result.
    """
    effective = _effective_counts(counts, policy.min_bank_size)
    thresholds = calibrated
    follows = policy.follow_bank and rates is not None
    if follows and rates is not None:
        thresholds = _picked(calibrated, rates, effective, policy.target_fp_per_post)
    if overrides:
        thresholds = apply_overrides(thresholds, overrides, "config [thresholds]")
    expected = _expected(thresholds, rates, effective) if rates is not None else {}
    return BankOperatingPoints(
        thresholds=thresholds,
        counts=dict(counts),
        sized_for=max(sum(counts.values()), policy.min_bank_size),
        expected_fp_per_post=expected,
        target_fp_per_post=policy.target_fp_per_post,
        follows_bank=follows,
    )


def _effective_counts(counts: Mapping[str, int], minimum: int) -> dict[str, float]:
    """References per supported language, scaled up to ``minimum`` in all (same mix; even mix if empty)."""
    total = sum(counts.values())
    if total <= 0:
        return {lang: minimum / len(SUPPORTED_LANGUAGES) for lang in SUPPORTED_LANGUAGES}
    scale = max(1.0, minimum / total)
    return {lang: counts.get(lang, 0) * scale for lang in SUPPORTED_LANGUAGES}


def _picked(calibrated: Thresholds, rates: BankCurves, counts: Mapping[str, float], target: float) -> Thresholds:
    def table(base: Mapping[str, float], curves: Mapping[str, OperatingCurve]) -> dict[str, float]:
        # Not rounded: the scorer's thresholds for large banks differ in the fifth decimal.
        return {**base, **{pair: c.threshold_for(counts.get(pair.partition(">")[2], 0.0), target) for pair, c in curves.items()}}

    score = table(calibrated.translation_score_by_pair, rates.translation_score)
    margin = table(calibrated.translation_margin_by_pair, rates.paraphrase_margin)
    lexical = table({}, rates.near_duplicate_lexical)
    return dataclasses.replace(
        calibrated,
        # Never below the calibrated point (it also parts NEAR_DUPLICATE from PARAPHRASE), and at
        # most 1: containment is at most 1, so a pick beyond it still lets whole copies through.
        near_duplicate_lexical=min(1.0, max([calibrated.near_duplicate_lexical, *lexical.values()])),
        translation_score_by_pair=score,
        # Pairs the calibration has no curve for (an undetected language) get the strictest.
        translation_score=max(score.values(), default=calibrated.translation_score),
        translation_margin_by_pair=margin,
        translation_margin=max(margin.values(), default=calibrated.translation_margin),
        translation_score_short_by_pair=table(calibrated.translation_score_short_by_pair, rates.translation_score_short),
        translation_margin_short_by_pair=table(calibrated.translation_margin_short_by_pair, rates.paraphrase_margin_short),
    )


def _expected(thresholds: Thresholds, rates: BankCurves, counts: Mapping[str, float]) -> dict[str, float]:
    """Per direction, the expected FP per post at ``thresholds``: the worse of short and other posts."""
    semantic: list[tuple[Mapping[str, OperatingCurve], Callable[..., float], bool]] = [
        (rates.paraphrase_margin, thresholds.translation_margin_for, False),
        (rates.paraphrase_margin_short, thresholds.translation_margin_for, True),
    ]
    if thresholds.translation_weights:
        semantic += [
            (rates.translation_score, thresholds.translation_score_for, False),
            (rates.translation_score_short, thresholds.translation_score_for, True),
        ]
    out: dict[str, float] = {}
    for curves, threshold_for, short in semantic:
        for pair, curve in curves.items():
            post, _, ref = pair.partition(">")
            fp = curve.fp_at(threshold_for(post, ref, short=short), counts.get(ref, 0.0))
            out[pair] = max(out.get(pair, 0.0), fp)
    for pair, curve in rates.near_duplicate_lexical.items():
        out[f"near_duplicate {pair}"] = curve.fp_at(thresholds.near_duplicate_lexical, counts.get(pair.partition(">")[2], 0.0))
    return {pair: round(value, 6) for pair, value in sorted(out.items())}


class BankSizer:
    """Keeps the service-wide operating points picked for what the bank holds now.

    It counts references per language as the one write path adds and
    removes them (disabled and quarantined items count too: they come back
    without notice), and re-picks on every change; ``apply`` is called with
    every new pick (the bank catalog rebases its per-bank thresholds on it).
    """

    def __init__(
        self,
        calibrated: Thresholds,
        rates: BankCurves | None,
        policy: BankPolicy,
        overrides: Mapping[str, Any],
        apply: Callable[[Thresholds], None],
    ) -> None:
        self._calibrated = calibrated
        self._rates = rates
        self._policy = policy
        self._overrides = dict(overrides)
        self._apply = apply
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._current = pick_for_bank(calibrated, rates, {}, policy, self._overrides)

    @property
    def current(self) -> BankOperatingPoints:
        return self._current

    def reset(self, counts: Mapping[str, int]) -> BankOperatingPoints:
        """Start from ``counts`` (the store's), and apply the pick whether or not it changed."""
        with self._lock:
            self._counts = {lang: n for lang, n in counts.items() if n > 0}
            return self._repick(always=True)

    def added(self, items: Iterable[ReferenceItem]) -> None:
        self._change(items, +1)

    def removed(self, items: Iterable[ReferenceItem]) -> None:
        self._change(items, -1)

    def _change(self, items: Iterable[ReferenceItem], sign: int) -> None:
        langs = [item.lang for item in items if item.text]  # hash-only items match exact copies only
        if not langs:
            return
        with self._lock:
            for lang in langs:
                self._counts[lang] = max(0, self._counts.get(lang, 0) + sign)
            self._repick()

    def _repick(self, *, always: bool = False) -> BankOperatingPoints:
        picked = pick_for_bank(self._calibrated, self._rates, self._counts, self._policy, self._overrides)
        changed = always or picked.thresholds != self._current.thresholds
        self._current = picked
        if changed:
            self._apply(picked.thresholds)
            log.debug("%s", picked.describe())
        return picked
