"""Operating points of the matching cascade, and the one rule for which value wins.

Precedence, lowest first; each level replaces what it names and keeps the rest:

1. the built-in defaults below (conservative starting points);
2. the shipped calibration (``make calibrate``), used only for the model it was made with;
3. ``thresholds_file``: a calibration file of your own, which replaces 1 and 2 whole;
4. the config's inline ``[thresholds]`` table, key by key;
5. a bank's own overrides (stored with the bank), key by key, for that bank's items.

Levels 4 and 5 are *overrides*: a bank or a config that sets
``translation_margin`` means that margin for every language pair, so the
per-pair values and the calibrated scorer that would otherwise take precedence
over it are dropped (:func:`apply_overrides`).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from service.core.errors import ConfigError, InvalidInput
from service.core.matching.translation import FEATURES

_PAIR_TABLES = (
    "translation_margin_by_pair", "translation_score_by_pair", "translation_length_offset_by_pair",
    "translation_margin_short_by_pair", "translation_score_short_by_pair",
)


@dataclass(frozen=True)
class Thresholds:
    """Operating points of the matching cascade (see module docstring for precedence)."""

    # Shingle containment of the post's canonical text in a reference's (or the
    # reverse) above which a same-language candidate is an edited copy.
    near_duplicate_lexical: float = 0.5
    # Ratio-margin score above which a cross-language candidate is a translation.
    translation_margin: float = 1.12
    # Raw cosine floor for translations: the whole test without a background
    # sample, a floor under the margin test with one. e5 cosines are compressed
    # (unrelated texts score 0.70-0.84), hence the high value.
    translation_cosine: float = 0.86
    # Per language pair, "post>reference" (e.g. "ps>en"): a translation margin
    # that replaces translation_margin for that direction. Calibration fills
    # it because the model aligns some pairs (ur-en) better than others (ps-en).
    translation_margin_by_pair: Mapping[str, float] = field(default_factory=dict)
    # The translation scorer of translation.py for cross-language candidates,
    # fitted by calibration: weight per feature plus "bias". Empty: the margin
    # rule above decides.
    translation_weights: Mapping[str, float] = field(default_factory=dict)
    # Scorer output above which a cross-language candidate is a translation;
    # per pair ("post>reference") where calibrated, else translation_score.
    translation_score: float = 0.5
    translation_score_by_pair: Mapping[str, float] = field(default_factory=dict)
    # Per pair: the usual log length ratio of translations (post over reference).
    translation_length_offset_by_pair: Mapping[str, float] = field(default_factory=dict)
    # Too little content, no verdict by resemblance: a post or reference of
    # fewer words (of its canonical form) gets no semantic verdict at all...
    min_semantic_words: int = 4
    # ...and a post of fewer than short_post_words words is judged by the
    # *_short_by_pair operating points where calibrated: short texts resemble
    # far more of a bank (make calibrate measures both; README, "Verdicts as
    # the bank grows").
    short_post_words: int = 11
    translation_score_short_by_pair: Mapping[str, float] = field(default_factory=dict)
    translation_margin_short_by_pair: Mapping[str, float] = field(default_factory=dict)
    # Where these numbers came from (file, data set, date); shown in logs.
    source: str = "built-in defaults"

    def __post_init__(self) -> None:
        for name in _PAIR_TABLES:
            for pair, value in getattr(self, name).items():
                post, sep, ref = pair.partition(">")
                if not (sep and post and ref) or not _is_number(value):
                    raise ConfigError(f"thresholds.{name}: {pair!r} = {value!r}; expected \"post>reference\" = number")
        known = (*FEATURES, "bias")
        for feature, value in self.translation_weights.items():
            if feature not in known or not _is_number(value):
                raise ConfigError(f"thresholds.translation_weights: {feature!r} = {value!r}; expected one of {', '.join(known)} = number")

    def translation_margin_for(self, post_lang: str, reference_lang: str, *, short: bool = False) -> float:
        pair = f"{post_lang}>{reference_lang}"
        if short and pair in self.translation_margin_short_by_pair:
            return float(self.translation_margin_short_by_pair[pair])
        return float(self.translation_margin_by_pair.get(pair, self.translation_margin))

    def translation_score_for(self, post_lang: str, reference_lang: str, *, short: bool = False) -> float:
        pair = f"{post_lang}>{reference_lang}"
        if short and pair in self.translation_score_short_by_pair:
            return float(self.translation_score_short_by_pair[pair])
        return float(self.translation_score_by_pair.get(pair, self.translation_score))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def scalar_thresholds() -> frozenset[str]:
    """Threshold fields a bank may override: every numeric field of Thresholds."""
    hints = typing.get_type_hints(Thresholds)
    return frozenset(f.name for f in dataclasses.fields(Thresholds) if hints[f.name] in (float, int))


def check_bank_overrides(overrides: Mapping[str, float], field_name: str = "thresholds") -> dict[str, float]:
    """A bank's overrides as a request gives them: known scalar thresholds, numbers."""
    allowed = scalar_thresholds()
    checked: dict[str, float] = {}
    for key, value in overrides.items():
        if key not in allowed:
            raise InvalidInput(f"{field_name}.{key}", f"unknown threshold; use one of {', '.join(sorted(allowed))}")
        if not _is_number(value):
            raise InvalidInput(f"{field_name}.{key}", f"must be a number, got {value!r}")
        checked[key] = float(value)
    return checked


def check_config_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The config's inline ``[thresholds]`` table: any Thresholds field but ``source``."""
    known = {f.name for f in dataclasses.fields(Thresholds)} - {"source"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"thresholds: unknown setting(s) {', '.join(unknown)}")
    table = dict(overrides)
    try:
        Thresholds(**table)  # type and pair-key checks
    except TypeError as exc:
        raise ConfigError(f"thresholds: {exc}") from exc
    for name in scalar_thresholds() & set(table):
        if not _is_number(table[name]):
            raise ConfigError(f"thresholds.{name}: must be a number, got {table[name]!r}")
    return table


def apply_overrides(base: Thresholds, overrides: Mapping[str, Any], by: str) -> Thresholds:
    """``base`` with ``overrides`` applied (levels 4 and 5 of the precedence)."""
    if not overrides:
        return base
    changes: dict[str, Any] = dict(overrides, source=f"{base.source} + {by}")
    if "translation_margin" in overrides:
        # An explicit margin applies to every language pair, and it is the
        # margin rule that decides, not the calibrated scorer...
        changes.setdefault("translation_margin_by_pair", {})
        changes.setdefault("translation_margin_short_by_pair", {})
        changes.setdefault("translation_weights", {})
    if "translation_score" in overrides:
        # ...and an explicit scorer threshold replaces the per-pair ones.
        changes.setdefault("translation_score_by_pair", {})
        changes.setdefault("translation_score_short_by_pair", {})
    return dataclasses.replace(base, **changes)


def load_thresholds_file(path: Path) -> Thresholds:
    """Read the "thresholds" object of a calibration file (level 2 or 3)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read thresholds file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"thresholds file {path}: expected a JSON object")
    values = dict(data.get("thresholds", data))
    values.setdefault("source", f"{path} ({data.get('calibrated_on', 'unknown data')})")
    known = {f.name for f in dataclasses.fields(Thresholds)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"thresholds file {path}: unknown setting(s) {', '.join(unknown)}")
    try:
        return Thresholds(**values)
    except TypeError as exc:
        raise ConfigError(f"thresholds file {path}: {exc}") from exc


def effective_thresholds(calibrated: Thresholds | None, thresholds_file: Path | None, inline: Mapping[str, Any]) -> Thresholds:
    """Levels 1 to 4 of the precedence: the service-wide operating points."""
    base = calibrated if calibrated is not None else Thresholds()
    if thresholds_file is not None:
        base = load_thresholds_file(thresholds_file)
    return apply_overrides(base, inline, "config [thresholds]")


def scalar_values(thresholds: Thresholds) -> dict[str, float]:
    """The scalar operating points, as a bank listing reports them."""
    return {name: float(getattr(thresholds, name)) for name in sorted(scalar_thresholds())}
