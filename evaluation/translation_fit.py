"""Fits the translation scorer (service/core/matching/translation.py) on the calibration split.

Training pairs are every cross-language candidate the search returned for a
calibration query: the expected reference of a translation query is a
positive, every other one (same-topic references of negatives and of
translations alike) a negative. A plain L2-regularised logistic regression
with balanced classes, on standardised features, deterministic (lbfgs); the
standardisation is folded into the shipped weights.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from evaluation.corpus import LANGS
from evaluation.scoring import Scored, ScoredSet
from service.core import FEATURES, Candidate, Verdict, features

REGULARISATION_C = 1.0


def cross_language(s: Scored) -> Iterator[Candidate]:
    """The candidates the scorer judges: other-language, with neighbourhoods, known post language."""
    if s.features.lang not in LANGS:
        return
    for c in s.candidates:
        if not c.exact and c.neighbourhoods is not None and c.item.lang != s.features.lang:
            yield c


def _is_expected(s: Scored, c: Candidate) -> bool:
    return s.query.expected is Verdict.TRANSLATION and s.query.reference_id == c.item.id


def length_offsets(scored: ScoredSet) -> dict[str, float]:
    """Per pair, the median log length ratio of calibration translations."""
    ratios: dict[str, list[float]] = {}
    for s in scored.scored:
        for c in cross_language(s):
            if _is_expected(s, c):
                ratio = math.log((len(s.features.canonical) + 1) / (len(c.item.canonical) + 1))
                ratios.setdefault(f"{s.features.lang}>{c.item.lang}", []).append(ratio)
    return {pair: round(float(np.median(v)), 4) for pair, v in sorted(ratios.items())}


def fit_translation_weights(scored: ScoredSet, offsets: dict[str, float]) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression

    rows: list[list[float]] = []
    labels: list[int] = []
    for s in scored.scored:
        for c in cross_language(s):
            assert c.neighbourhoods is not None
            offset = offsets.get(f"{s.features.lang}>{c.item.lang}", 0.0)
            values = features(c.cosine, c.neighbourhoods, s.features.canonical, c.item.canonical, offset)
            rows.append([values[name] for name in FEATURES])
            labels.append(int(_is_expected(s, c)))
    x = np.asarray(rows, dtype=np.float64)
    y = np.asarray(labels)
    if len(set(labels)) < 2:
        return {}
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(C=REGULARISATION_C, class_weight="balanced", max_iter=5000)
    model.fit((x - mean) / scale, y)
    coef = model.coef_[0] / scale
    weights = {name: round(float(w), 6) for name, w in zip(FEATURES, coef)}
    weights["bias"] = round(float(model.intercept_[0] - (coef * mean).sum()), 6)
    return weights
