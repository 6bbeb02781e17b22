"""Operating points that follow the bank: curves, the pick, and the sizer that re-picks on every change."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from service.core import (
    SIZE_GRID, TARGET_GRID, BankCurves, BankPolicy, ConfigError, NigranConfig, OperatingCurve, Thresholds,
    load_calibration, pick_for_bank
)
from service.core.matching.bank_size import BankSizer
from tests.support.factories import item, write_calibration


def curve(base: float = 0.9, per_decade: float = 0.01, per_target: float = 0.005) -> OperatingCurve:
    """Thresholds rising with the bank's size and falling with the target, as measured curves do."""
    return OperatingCurve(tuple(
        tuple(base + per_decade * math.log10(size) - per_target * j for size in SIZE_GRID) for j, _ in enumerate(TARGET_GRID)
    ))


CALIBRATED = Thresholds(
    translation_weights={"cosine": 10.0, "bias": -5.0},
    translation_score=0.95, translation_score_by_pair={"ps>en": 0.95, "en>ur": 0.95},
    translation_margin_by_pair={"en>en": 1.1},
)
CURVES = BankCurves(
    translation_score={"ps>en": curve(0.9), "en>ur": curve(0.8)},
    paraphrase_margin={"en>en": curve(1.0, 0.02)},
)


def test_a_curve_interpolates_in_log_size_and_its_fp_is_the_inverse() -> None:
    c = curve()
    at_1k = c.threshold_for(1000, 0.01)
    assert at_1k == pytest.approx(0.9 + 0.03 - 0.005 * TARGET_GRID.index(0.01))
    assert c.threshold_for(10_000, 0.01) > at_1k > c.threshold_for(100, 0.01)
    assert c.threshold_for(1000, 0.001) > at_1k > c.threshold_for(1000, 0.05)
    assert c.fp_at(at_1k, 1000) == pytest.approx(0.01)
    assert c.fp_at(c.threshold_for(3000, 0.004), 3000) == pytest.approx(0.004, rel=0.05)
    # Beyond the grid: clamped, never extrapolated into nonsense.
    assert c.threshold_for(10**9, 0.01) == c.threshold_for(10**6, 0.01)
    assert c.fp_at(10.0, 1000) <= TARGET_GRID[0] and c.fp_at(-10.0, 1000) == TARGET_GRID[-1]


def test_a_flat_stretch_reports_the_smallest_target_it_holds() -> None:
    # A bank too small to reach most targets: every target from 0.2% on is met at threshold 0.
    flat = OperatingCurve(tuple(tuple(0.3 if j == 0 else 0.0 for _ in SIZE_GRID) for j, _ in enumerate(TARGET_GRID)))
    assert flat.fp_at(0.0, 1) == pytest.approx(TARGET_GRID[1])
    assert flat.fp_at(0.15, 1) == pytest.approx(math.sqrt(TARGET_GRID[0] * TARGET_GRID[1]))
    assert flat.fp_at(0.3, 1) == TARGET_GRID[0] and flat.fp_at(0.9, 1) < TARGET_GRID[0]


def test_a_curve_refuses_the_wrong_shape() -> None:
    with pytest.raises(ConfigError, match="operating curve"):
        OperatingCurve(((0.9,),))


def test_thresholds_rise_with_the_references_in_the_reference_language() -> None:
    policy = BankPolicy(min_bank_size=1)
    small = pick_for_bank(CALIBRATED, CURVES, {"en": 100, "ur": 100, "ps": 100}, policy)
    more_en = pick_for_bank(CALIBRATED, CURVES, {"en": 100_000, "ur": 100, "ps": 100}, policy)
    assert more_en.thresholds.translation_score_for("ps", "en") > small.thresholds.translation_score_for("ps", "en")
    # en>ur looks at Urdu references, which did not change.
    assert more_en.thresholds.translation_score_for("en", "ur") == small.thresholds.translation_score_for("en", "ur")
    assert more_en.thresholds.translation_margin_for("en", "en") > small.thresholds.translation_margin_for("en", "en")
    # Each direction is held at the target; the scalar fallback is the strictest pair.
    assert all(v == pytest.approx(0.01, rel=0.02) for v in more_en.expected_fp_per_post.values())
    assert more_en.thresholds.translation_score == max(more_en.thresholds.translation_score_by_pair.values())
    assert (more_en.bank_size, more_en.sized_for) == (100_200, 100_200)


def test_a_small_bank_is_treated_as_min_bank_size_with_its_own_mix() -> None:
    policy = BankPolicy(min_bank_size=3000)
    tiny = pick_for_bank(CALIBRATED, CURVES, {"en": 10, "ur": 10, "ps": 10}, policy)
    empty = pick_for_bank(CALIBRATED, CURVES, {}, policy)
    at_min = pick_for_bank(CALIBRATED, CURVES, {"en": 1000, "ur": 1000, "ps": 1000}, policy)
    assert tiny.thresholds == empty.thresholds == at_min.thresholds
    assert (tiny.sized_for, tiny.bank_size) == (3000, 30)


def test_overrides_win_over_the_pick_and_the_expected_fp_is_for_what_is_in_force() -> None:
    policy = BankPolicy(min_bank_size=1)
    picked = pick_for_bank(CALIBRATED, CURVES, {"en": 1000}, policy, {"translation_score": 0.999})
    assert picked.thresholds.translation_score_for("ps", "en") == 0.999
    assert picked.expected_fp_per_post["ps>en"] < 0.01
    loose = dataclasses.replace(CALIBRATED, translation_score_by_pair={"ps>en": 0.93})
    fixed = pick_for_bank(loose, CURVES, {"en": 10**6}, BankPolicy(follow_bank=False))
    assert fixed.thresholds == loose and not fixed.follows_bank
    assert fixed.expected_fp_per_post["ps>en"] > 0.01  # what following the bank would have prevented
    without_curves = pick_for_bank(CALIBRATED, None, {"en": 10**6}, BankPolicy())
    assert without_curves.thresholds == CALIBRATED and without_curves.expected_fp_per_post == {}


def test_the_policy_refuses_targets_outside_the_calibrated_range() -> None:
    with pytest.raises(ConfigError, match="target_fp_per_post"):
        BankPolicy(target_fp_per_post=0.5)
    with pytest.raises(ConfigError, match="min_bank_size"):
        BankPolicy(min_bank_size=0)


def test_the_sizer_re_picks_as_items_come_and_go() -> None:
    applied: list[Thresholds] = []
    sizer = BankSizer(CALIBRATED, CURVES, BankPolicy(min_bank_size=1), {}, applied.append)
    start = sizer.reset({"en": 10, "ur": 5})
    assert start.counts == {"en": 10, "ur": 5}
    sizer.added([item(f"e{i}", lang="en", text=f"text {i}") for i in range(990)])
    # Hash-only items (a fingerprint, no text) match exact copies only: they do not grow the bank.
    sizer.added([item(f"h{i}", lang="en") for i in range(500)])
    grown = sizer.current
    assert grown.counts["en"] == 1000 and applied[-1] == grown.thresholds
    assert grown.thresholds.translation_score_for("ps", "en") > start.thresholds.translation_score_for("ps", "en")
    sizer.removed([item(f"e{i}", lang="en", text=f"text {i}") for i in range(990)])
    assert sizer.current.thresholds == start.thresholds and sizer.current.counts["en"] == 10


def test_curves_round_trip_through_a_calibration_file(tmp_path: Path) -> None:
    path = write_calibration(tmp_path, "m") / "thresholds.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["bank_curves"] = CURVES.to_json()
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded = load_calibration(NigranConfig(calibration_dir=tmp_path, thresholds={"near_duplicate_lexical": 0.7}), "m")
    assert loaded.bank_curves == CURVES and loaded.overrides == {"near_duplicate_lexical": 0.7}
    data["bank_curves"]["size_grid"] = [1.0, 2.0]
    path.write_text(json.dumps(data), encoding="utf-8")
    # A calibration from another version's grid is not used (with a warning), rather than misread.
    assert load_calibration(NigranConfig(calibration_dir=tmp_path), "m").bank_curves is None


def test_short_posts_get_their_own_stricter_pick_and_the_worse_of_the_two_is_reported() -> None:
    curves = dataclasses.replace(CURVES, translation_score_short={"ps>en": curve(0.95)})
    picked = pick_for_bank(CALIBRATED, curves, {"en": 1000}, BankPolicy(min_bank_size=1))
    t = picked.thresholds
    assert t.translation_score_for("ps", "en", short=True) > t.translation_score_for("ps", "en")
    # No short curve for en>ur: short posts fall back to the general pick.
    assert t.translation_score_for("en", "ur", short=True) == t.translation_score_for("en", "ur")
    assert picked.expected_fp_per_post["ps>en"] == pytest.approx(0.01, rel=0.02)
    looser = dataclasses.replace(t, translation_score_short_by_pair={"ps>en": t.translation_score_for("ps", "en")})
    assert pick_for_bank(looser, None, {}, BankPolicy()).thresholds == looser
