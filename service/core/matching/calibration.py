"""The calibration to run with: margin background and service-wide operating points.

``make calibrate`` writes two files for the bundled model (see
``evaluation/calibrate.py``): ``background.npz``, the embedded background
sample, and ``thresholds.json``, the operating points picked on held-out data
together with what data they came from. Both are tied to one model id; with
any other model the service logs a warning and falls back to raw-cosine
thresholds rather than mix vectors of two models. Which threshold wins where
several are given is decided in ``thresholds.effective_thresholds``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from service.core.config import NigranConfig
from service.core.errors import ConfigError, IndexCorrupt, ModelMismatch
from service.core.matching.background import Background
from service.core.matching.thresholds import Thresholds, effective_thresholds, load_thresholds_file

log = logging.getLogger(__name__)

BACKGROUND_FILE = "background.npz"
THRESHOLDS_FILE = "thresholds.json"


@dataclass(frozen=True)
class Calibration:
    thresholds: Thresholds
    background: Background | None


def load_calibration(config: NigranConfig, model_id: str) -> Calibration:
    """The background and the effective thresholds for ``model_id`` under ``config``.

    The shipped thresholds are used only together with the shipped
    background, and only when both were made with the running model.
    """
    background: Background | None = None
    calibrated: Thresholds | None = None
    directory = config.calibration_dir
    if directory is not None and (directory / BACKGROUND_FILE).exists():
        try:
            background = Background.load(directory / BACKGROUND_FILE, expected_model_id=model_id)
            if config.thresholds_file is None:
                calibrated = _calibrated_thresholds(directory / THRESHOLDS_FILE, model_id)
        except (ModelMismatch, IndexCorrupt, ConfigError) as exc:
            log.warning("not using the calibration in %s (%s): raw-cosine thresholds, no margin scoring", directory, exc)
            background = None
    thresholds = effective_thresholds(calibrated, config.thresholds_file, config.thresholds)
    if background is not None:
        log.info("margin background: %d texts; thresholds from %s", len(background.vectors), thresholds.source)
    return Calibration(thresholds, background)


def _calibrated_thresholds(path: Path, model_id: str) -> Thresholds:
    try:
        made_with = json.loads(path.read_text(encoding="utf-8")).get("model_id")
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read thresholds file {path}: {exc}") from exc
    if made_with != model_id:
        raise ModelMismatch(model_id, str(made_with), f"thresholds file {path}")
    return load_thresholds_file(path)
