"""Configs, items and texts for tests."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from service.core import (
    Background, Match, ModelConfig, NewReference, NigranConfig, PostResult, PreparedText, ReferenceItem, ReferenceState, ServerConfig, Signal, Verdict
)
from service.core.store.base import StoredReference

REPO = Path(__file__).resolve().parent.parent.parent
# The provisioned model is cached where `make run` caches it, so the suite
# builds it at most once per checkout.
MODEL_CACHE = REPO / "var"


# Three translations of one call to violence, the references the gRPC tests bank.
REFERENCES = [
    ("en-1", "en", "Our brothers will strike the checkpoint at the northern gate when the convoy passes on Friday night."),
    ("ur-1", "ur", "ہمارے بھائی جمعہ کی رات قافلہ گزرنے پر شمالی دروازے کی چوکی پر حملہ کریں گے۔"),
    ("ps-1", "ps", "زموږ ورونه به د جمعې په شپه د شمالي دروازې پر پوسته برید وکړي کله چې کاروان تېرېږي."),
]


def make_config(data_dir: Path, **overrides: object) -> NigranConfig:
    """A config for tests: everything under data_dir, server on 127.0.0.1:0."""
    server = overrides.pop("server", ServerConfig(host="127.0.0.1", port=0))
    return dataclasses.replace(NigranConfig(), data_dir=data_dir, server=server, **overrides)  # type: ignore[arg-type]


def stored(ref_id: str, text: str = "text", bank: str = "default", *, dim: int = 4, fingerprint: str | None = None) -> StoredReference:
    """A row ready for the store (canonical form and fingerprint made up, not computed)."""
    return StoredReference(
        ref=NewReference(text=text, id=ref_id, lang="en", bank=bank, labels=("org:example",), metadata={"source": "test"}),
        prepared=PreparedText(
            cleaned=text, canonical=text.lower(), fingerprint=fingerprint if fingerprint is not None else f"fp-{text.lower()}", lang="en"
        ),
        vector=np.full(dim, 1 / np.sqrt(dim), np.float32),
    )


def item(ref_id: str, *, lang: str = "en", bank: str = "b", text: str = "", canonical: str = "", fingerprint: str = "",
         state: ReferenceState = ReferenceState.ACTIVE, disabled_until: float | None = None, vid: int = 0) -> ReferenceItem:
    """A stored reference item as the store would return it."""
    return ReferenceItem(
        vid=vid, id=ref_id, text=text or canonical, canonical=canonical or text.lower(), fingerprint=fingerprint or f"fp-{ref_id}",
        declared_lang=lang, detected_lang=lang, bank=bank, labels=("org:example",), metadata={"k": "v"}, added_by="test",
        created_at=0.0, updated_at=0.0, state=state, disabled_until=disabled_until,
    )


def results(n_posts: int, matching: dict[str, int]) -> list[PostResult]:
    """n posts; reference ``ref`` matches the first ``count`` of them."""
    out = []
    for i in range(n_posts):
        matches = tuple(
            Match(reference_id=ref, score=1.0, kind=Verdict.REUPLOAD, signal=Signal.EXACT, bank="b", labels=(), cosine=1.0, reference_lang="en")
            for ref, count in matching.items()
            if i < count
        )
        out.append(PostResult(post_id=str(i), verdict=Verdict.REUPLOAD if matches else Verdict.NO_MATCH, matches=matches, detected_lang="en"))
    return out


def write_calibration(root: Path, model_id: str, backend: str = "torch") -> Path:
    """A small calibration (background + thresholds.json) made "with" ``model_id``, where the
    default model on ``backend`` looks for it under the calibration directory ``root``."""
    directory = NigranConfig(calibration_dir=root, model=ModelConfig(backend=backend)).model_calibration_dir
    assert directory is not None
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(60, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    Background(vectors, model_id=model_id, langs=["en"] * 20 + ["ur"] * 20 + ["ps"] * 20).save(directory / "background.npz")
    (directory / "thresholds.json").write_text(
        json.dumps(
            {
                "model_id": model_id,
                "calibrated_on": "unit test data",
                "thresholds": {"translation_margin": 1.05, "translation_margin_by_pair": {"ps>en": 1.01}},
            }
        ),
        encoding="utf-8",
    )
    return directory
