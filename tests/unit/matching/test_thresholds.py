"""Which operating point wins: defaults < shipped calibration < thresholds_file < inline table < bank overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.core import Bank, ConfigError, NigranConfig, Thresholds, load_calibration
from service.core.curation.banks import bank_thresholds
from service.core.matching.thresholds import apply_overrides, effective_thresholds, load_thresholds_file
from tests.support.factories import write_calibration

CALIBRATED = {"translation_margin": 1.05, "translation_margin_by_pair": {"ps>en": 1.01}}


def test_the_inline_table_wins_over_the_shipped_calibration_key_by_key(tmp_path: Path) -> None:
    # The defect: an inline [thresholds] table was silently replaced by the shipped calibration.
    write_calibration(tmp_path, "model-a")
    toml = tmp_path / "nigran.toml"
    toml.write_text("[thresholds]\nnear_duplicate_lexical = 0.77\n", encoding="utf-8")
    thresholds = load_calibration(NigranConfig.load(toml, calibration_dir=tmp_path), "model-a").thresholds
    assert thresholds.near_duplicate_lexical == 0.77
    # Everything the table does not name stays calibrated.
    assert thresholds.translation_margin_for("ps", "en") == 1.01 and thresholds.translation_margin == 1.05
    assert "unit test data" in thresholds.source and "config [thresholds]" in thresholds.source


def test_an_inline_margin_applies_to_every_pair(tmp_path: Path) -> None:
    write_calibration(tmp_path, "model-a")
    config = NigranConfig(calibration_dir=tmp_path, thresholds={"translation_margin": 1.3})
    thresholds = load_calibration(config, "model-a").thresholds
    assert thresholds.translation_margin_for("ps", "en") == 1.3 and not thresholds.translation_weights


def test_a_thresholds_file_replaces_the_calibration_and_the_table_still_applies(tmp_path: Path) -> None:
    write_calibration(tmp_path, "model-a")
    own = tmp_path / "own.json"
    own.write_text(json.dumps({"calibrated_on": "my data", "thresholds": {"translation_cosine": 0.9}}), encoding="utf-8")
    config = NigranConfig(calibration_dir=tmp_path, thresholds_file=own, thresholds={"near_duplicate_lexical": 0.6})
    calibration = load_calibration(config, "model-a")
    t = calibration.thresholds
    assert (t.translation_cosine, t.near_duplicate_lexical) == (0.9, 0.6)
    assert t.translation_margin_by_pair == {} and "my data" in t.source
    assert calibration.background is not None  # the background still comes from the calibration dir


def test_bank_overrides_come_last() -> None:
    base = effective_thresholds(Thresholds(**CALIBRATED), None, {"near_duplicate_lexical": 0.6})
    bank = bank_thresholds(base, Bank(name="strict", thresholds={"near_duplicate_lexical": 0.9, "gone_field": 1.0}))
    assert bank.near_duplicate_lexical == 0.9 and bank.translation_margin_for("ps", "en") == 1.01
    assert "bank strict" in bank.source


def test_nothing_given_means_the_defaults() -> None:
    assert effective_thresholds(None, None, {}) == Thresholds()
    assert apply_overrides(Thresholds(), {}, "nothing") == Thresholds()


def test_a_thresholds_file_with_unknown_keys_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"thresholds": {"translaton_margin": 1.0}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="translaton_margin"):
        load_thresholds_file(path)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_thresholds_file(path)
