"""Loading the shipped calibration, and the per-pair thresholds it carries."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from service.core import Background, ConfigError, ModelConfig, NigranConfig, Thresholds, load_calibration
from tests.support.factories import write_calibration


def test_matching_model_gets_background_and_calibrated_thresholds(tmp_path: Path) -> None:
    write_calibration(tmp_path, "model-a")
    calibration = load_calibration(NigranConfig(calibration_dir=tmp_path), "model-a")
    assert calibration.background is not None and calibration.background.columns == ("*", "en", "ps", "ur")
    t = calibration.thresholds
    assert t.translation_margin_for("ps", "en") == 1.01
    assert t.translation_margin_for("en", "ps") == 1.05
    assert "unit test data" in t.source


def test_other_model_falls_back_to_raw_cosine_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_calibration(tmp_path, "model-a")
    with caplog.at_level(logging.WARNING):
        calibration = load_calibration(NigranConfig(calibration_dir=tmp_path), "model-b")
    assert calibration.background is None
    assert calibration.thresholds == Thresholds()
    assert "model-b" in caplog.text


def test_thresholds_made_with_another_model_are_not_used_with_this_background(tmp_path: Path) -> None:
    path = write_calibration(tmp_path, "model-a") / "thresholds.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**data, "model_id": "model-b"}), encoding="utf-8")
    calibration = load_calibration(NigranConfig(calibration_dir=tmp_path), "model-a")
    assert calibration.background is None and calibration.thresholds == Thresholds()


def test_no_calibration_dir_means_raw_cosine(tmp_path: Path) -> None:
    calibration = load_calibration(NigranConfig(calibration_dir=None), "model-a")
    assert calibration.background is None and calibration.thresholds == Thresholds()


def test_margin_takes_each_side_in_the_other_sides_language() -> None:
    en = np.tile(np.eye(4, dtype=np.float32)[0], (10, 1))
    ur = np.tile(np.eye(4, dtype=np.float32)[1], (10, 1))
    background = Background(np.vstack([en, ur]), model_id="m", langs=["en"] * 10 + ["ur"] * 10)
    post = np.eye(4, dtype=np.float32)[[0]]  # sits on the English background
    ref = np.eye(4, dtype=np.float32)[[1]] * 0.5 + np.eye(4, dtype=np.float32)[[0]] * 0.5
    pn, rn = background.neighbourhoods(post)[0], background.neighbourhoods(ref)[0]
    # Against an Urdu reference, the English post's density in *Urdu* (0) counts, and the reference's in English (0.5).
    assert background.margin(0.6, pn, rn, "en", "ur") == pytest.approx(0.6 / 0.25)
    assert background.margin(0.6, pn, rn, "en", "en") == pytest.approx(0.6 / 0.75)


def test_per_pair_thresholds_load_from_toml_and_bad_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "nigran.toml"
    path.write_text('[thresholds.translation_margin_by_pair]\n"ur>en" = 1.02\n', encoding="utf-8")
    config = NigranConfig.load(path, calibration_dir=tmp_path / "none")
    assert load_calibration(config, "model-a").thresholds.translation_margin_for("ur", "en") == 1.02
    path.write_text('[thresholds.translation_margin_by_pair]\n"ur-en" = 1.02\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="ur-en"):
        NigranConfig.load(path)


def test_each_backend_loads_the_calibration_in_its_own_directory(tmp_path: Path) -> None:
    write_calibration(tmp_path, "model-a")
    write_calibration(tmp_path, "model-a+onnx-int8", backend="onnx-int8")
    onnx = NigranConfig(calibration_dir=tmp_path, model=ModelConfig(backend="onnx-int8"))
    assert load_calibration(onnx, "model-a+onnx-int8").background is not None
    # Never the other backend's, even where its model id would be accepted.
    assert load_calibration(onnx, "model-a").background is None
    assert load_calibration(NigranConfig(calibration_dir=tmp_path), "model-a+onnx-int8").background is None
    assert load_calibration(NigranConfig(calibration_dir=tmp_path), "model-a").background is not None
