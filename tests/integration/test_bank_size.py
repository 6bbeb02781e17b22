"""The engine re-picks its operating points as the bank grows and shrinks, on every write path."""

from __future__ import annotations

from pathlib import Path

from service.core import BankPolicy, Calibration, Engine, NewReference
from service.core.wiring import build_parts
from tests.support.curation_factories import ACTOR
from tests.support.doubles import HashingEmbedder
from tests.support.factories import make_config
from tests.unit.matching.test_bank_size import CALIBRATED, CURVES


def open_engine(root: Path, **overrides: object) -> Engine:
    config = make_config(root / "var", bank_size=BankPolicy(min_bank_size=10), **overrides)
    return Engine(build_parts(config, embedder=HashingEmbedder(), calibration=Calibration(CALIBRATED, None, CURVES)))


def english(n: int, start: int = 0) -> list[NewReference]:
    return [NewReference(text=f"English reference number {i} about item {i * 7919}", id=f"en-{i}", lang="en") for i in range(start, start + n)]


def test_thresholds_follow_adds_removes_and_a_restart(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    try:
        # Even before any write, matching uses the pick, not the calibrated values.
        assert engine.curation.banks.catalog.thresholds_for("default") == engine.thresholds != CALIBRATED
        empty = engine.thresholds.translation_score_for("ps", "en")
        engine.curation.references.add(english(200), actor=ACTOR)
        grown = engine.operating_points
        assert grown.counts == {"en": 200} and grown.follows_bank
        assert grown.thresholds.translation_score_for("ps", "en") > empty
        # The cascade decides with them too: the bank catalog was rebased.
        assert engine.curation.banks.catalog.thresholds_for("default") == grown.thresholds
        stats = engine.curation.stats()
        assert stats.thresholds_bank_by_lang == {"en": 200} and stats.thresholds_follow_bank
        assert all(v <= 0.0101 for v in stats.expected_fp_per_post.values())
        engine.curation.references.remove([f"en-{i}" for i in range(150)], actor=ACTOR)
        assert engine.operating_points.counts == {"en": 50}
        assert empty < engine.thresholds.translation_score_for("ps", "en") < grown.thresholds.translation_score_for("ps", "en")
        shrunk = engine.thresholds
    finally:
        engine.close()
    reopened = open_engine(tmp_path)
    try:
        # Counted from the store at start, not remembered.
        assert reopened.operating_points.counts == {"en": 50} and reopened.thresholds == shrunk
    finally:
        reopened.close()


def test_a_bank_override_stays_on_top_of_a_re_pick(tmp_path: Path) -> None:
    from service.core import Bank

    engine = open_engine(tmp_path)
    try:
        engine.curation.banks.create(Bank(name="strict", thresholds={"translation_score": 0.999}), actor=ACTOR)
        engine.curation.references.add(english(100), actor=ACTOR)
        assert engine.curation.banks.catalog.thresholds_for("strict").translation_score_for("ps", "en") == 0.999
        assert engine.curation.banks.catalog.thresholds_for("default").translation_score_for("ps", "en") < 0.999
    finally:
        engine.close()
