"""The calibration to run with: margin background and service-wide operating points.

``make calibrate`` writes two files for the bundled model (see
``evaluation/calibrate.py``): ``background.npz``, the embedded background
sample, and ``thresholds.json``, the operating points picked on held-out data
together with what data they came from, in the directory of the configured
encoder backend (``config.calibration_dir_for``). Both are tied to one model id; with
any other model the service logs a warning and falls back to raw-cosine
thresholds rather than mix vectors of two models. Which threshold wins where
several are given is decided in ``thresholds.effective_thresholds``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from service.core.config import NigranConfig
from service.core.errors import ConfigError, IndexCorrupt, ModelMismatch
from service.core.matching.background import Background
from service.core.matching.bank_size import BankCurves
from service.core.matching.thresholds import Thresholds, effective_thresholds, load_thresholds_file

log = logging.getLogger(__name__)

BACKGROUND_FILE = "background.npz"
THRESHOLDS_FILE = "thresholds.json"


@dataclass(frozen=True)
class Calibration:
    thresholds: Thresholds
    background: Background | None
    # Per-pair false-match rates (bank_size.py): with them the semantic
    # thresholds follow the bank's size; without, they stay as calibrated.
    bank_curves: BankCurves | None = None
    # The config's inline [thresholds] table, re-applied after every re-pick.
    overrides: Mapping[str, Any] = field(default_factory=dict)


def load_calibration(config: NigranConfig, model_id: str) -> Calibration:
    """The background and the effective thresholds for ``model_id`` under ``config``.

    The shipped thresholds are used only together with the shipped
    background, and only when both were made with the running model.
    """
    background: Background | None = None
    calibrated: Thresholds | None = None
    rates: BankCurves | None = None
    # One directory per backend: int8 vectors sit a little off fp32 ones, so each encoder has operating points of its own.
    directory = config.model_calibration_dir
    if directory is not None and (directory / BACKGROUND_FILE).exists():
        try:
            background = Background.load(directory / BACKGROUND_FILE, expected_model_id=model_id)
            if config.thresholds_file is None:
                calibrated = _calibrated_thresholds(directory / THRESHOLDS_FILE, model_id)
                rates = load_bank_curves(directory / THRESHOLDS_FILE)
        except (ModelMismatch, IndexCorrupt, ConfigError) as exc:
            log.warning("not using the calibration in %s (%s): raw-cosine thresholds, no margin scoring", directory, exc)
            background, rates = None, None
    if config.thresholds_file is not None and background is not None:
        # Your own calibration file replaces the shipped one whole, its pair rates too.
        rates = load_bank_curves(config.thresholds_file)
    thresholds = effective_thresholds(calibrated, config.thresholds_file, config.thresholds)
    if background is not None:
        log.info("margin background: %d texts; thresholds from %s", len(background.vectors), thresholds.source)
    return Calibration(thresholds, background, rates, dict(config.thresholds))


def load_bank_curves(path: Path) -> BankCurves | None:
    """The "bank_curves" object of a calibration file, or None where it has none (an older calibration)."""
    data = _read(path)
    rates = data.get("bank_curves")
    return BankCurves.from_json(rates) if isinstance(rates, dict) else None


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read thresholds file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"thresholds file {path}: expected a JSON object")
    return data


def _calibrated_thresholds(path: Path, model_id: str) -> Thresholds:
    made_with = _read(path).get("model_id")
    if made_with != model_id:
        raise ModelMismatch(model_id, str(made_with), f"thresholds file {path}")
    return load_thresholds_file(path)
