"""Operating points from the calibration split, for Nigran and for the baselines.

Nigran: the lexical containment for NEAR_DUPLICATE, the translation
scorer's weights (translation_fit.py), and per language direction the
scorer's and the ratio margin's operating points for TRANSLATION (the margin
rule serves same-language paraphrases and undetected languages), each for its verdict's target
per-post false-positive rate on calibration negatives (see
operating_point.py). REUPLOAD needs no threshold: it is an exact fingerprint.
The translation cosine floor is set low enough to cost at most half a percent
of calibration translations; it only guards against degenerate margins.

Baselines get one threshold per report row, on their own score, for the same
target, which is generous to them: they never have to tell verdicts apart.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from evaluation.corpus import LANGS
from evaluation.operating_point import OperatingPoint, operating_point
from evaluation.rows import ROWS, TARGET_FPR, Row
from evaluation.scoring import Best, Scored, ScoredSet, lexical_to
from evaluation.translation_fit import fit_translation_weights, length_offsets
from service.core import BankCurves, Candidate, Thresholds, Verdict, translation_score

COSINE_FLOOR_LOSS = 0.005
BASELINES = ("minhash", "raw_cosine")


def row_positives(scored: ScoredSet, row: Row) -> list[Scored]:
    return [
        s for s in scored.scored
        if s.query.expected is row.verdict and s.query.lang == row.post_lang and s.query.reference_lang == row.ref_lang
    ]


def row_negatives(scored: ScoredSet, row: Row) -> list[Scored]:
    return [s for s in scored.scored if s.query.expected is Verdict.NO_MATCH and s.query.lang == row.post_lang]


def calibrate_thresholds(scored: ScoredSet) -> tuple[Thresholds, dict[str, OperatingPoint]]:
    refs = {r.id: r for r in scored.references}
    negatives = [s for s in scored.scored if s.query.expected is Verdict.NO_MATCH]
    points: dict[str, OperatingPoint] = {}

    near = [s for s in scored.scored if s.query.expected is Verdict.NEAR_DUPLICATE]
    points["near_duplicate_lexical"] = operating_point(
        [max((lexical_to(s, c.item) for c in s.candidates), default=0.0) for s in negatives],
        [lexical_to(s, refs[s.query.reference_id]) for s in near],
        TARGET_FPR[Verdict.NEAR_DUPLICATE],
    )

    translations = [s for s in scored.scored if s.query.expected is Verdict.TRANSLATION]
    cosines = [c.cosine for s in translations if (c := s.candidate_for(s.query.reference_id)) is not None]
    floor = float(np.quantile(cosines, COSINE_FLOOR_LOSS)) if cosines else Thresholds().translation_cosine

    def margin(s: Scored, c: Candidate) -> float:
        return c.margin or 0.0

    by_pair = _pair_thresholds(scored, negatives, floor, margin, "translation_margin", points)
    by_pair.update(_same_language_margins(scored, floor, points))
    offsets = length_offsets(scored)
    weights = fit_translation_weights(scored, offsets)
    provisional = Thresholds(translation_weights=weights, translation_length_offset_by_pair=offsets)

    def scorer(s: Scored, c: Candidate) -> float:
        return translation_score(s.features, c, provisional) or 0.0

    score_by_pair = _pair_thresholds(scored, negatives, floor, scorer, "translation_score", points) if weights else {}

    thresholds = Thresholds(
        near_duplicate_lexical=round(points["near_duplicate_lexical"].threshold, 4),
        translation_cosine=round(floor, 4),
        # Undetected languages get the strictest pair's margin.
        translation_margin=max(by_pair.values(), default=Thresholds().translation_margin),
        translation_margin_by_pair=by_pair,
        translation_weights=weights,
        translation_score=max(score_by_pair.values(), default=Thresholds().translation_score),
        translation_score_by_pair=score_by_pair,
        translation_length_offset_by_pair=offsets,
        source="make calibrate",
    )
    return thresholds, points


def _same_language_margins(scored: ScoredSet, floor: float, points: dict[str, OperatingPoint]) -> dict[str, float]:
    """Per language, the margin above which a same-language candidate is a paraphrase.

    The test sets hold no same-language paraphrases to recall, only posts that
    have none in the bank (negatives and translations): their same-topic
    neighbours in their own language are what this threshold must reject, so
    it is the edge for the TRANSLATION target FPR over them.
    """
    out: dict[str, float] = {}
    without = [s for s in scored.scored if s.query.expected in (Verdict.NO_MATCH, Verdict.TRANSLATION)]
    for lang in LANGS:
        neg = [
            max((c.margin or 0.0 for c in s.candidates if c.item.lang == lang and not c.exact and c.cosine >= floor), default=0.0)
            for s in without if s.features.lang == lang
        ]
        point = operating_point(neg, [], TARGET_FPR[Verdict.TRANSLATION])
        points[f"translation_margin {lang}>{lang}"] = point
        out[f"{lang}>{lang}"] = round(point.threshold, 4)
    return out


def _pair_thresholds(
    scored: ScoredSet,
    negatives: list[Scored],
    floor: float,
    score: Callable[[Scored, Candidate], float],
    name: str,
    points: dict[str, OperatingPoint],
) -> dict[str, float]:
    """Per translation direction, the operating point of ``score`` (candidates under the cosine floor score 0)."""
    by_pair: dict[str, float] = {}
    for row in ROWS:
        if row.verdict is not Verdict.TRANSLATION:
            continue
        # The service keys thresholds by the *detected* post language.
        neg = [
            max((score(s, c) for c in s.candidates if c.item.lang == row.ref_lang and not c.exact and c.cosine >= floor), default=0.0)
            for s in negatives if s.features.lang == row.post_lang
        ]
        pos = []
        for s in row_positives(scored, row):
            c = s.candidate_for(s.query.reference_id)
            pos.append(score(s, c) if c is not None and c.cosine >= floor else 0.0)
        point = operating_point(neg, pos, row.target_fpr)
        points[f"{name} {row.post_lang}>{row.ref_lang}"] = point
        by_pair[f"{row.post_lang}>{row.ref_lang}"] = round(point.threshold, 4)
    return by_pair


def baseline_score(s: Scored, baseline: str, ref_lang: str) -> Best:
    table: dict[str, Best] = getattr(s, baseline)
    return table.get(ref_lang, Best(0.0, ""))


def calibrate_baselines(scored: ScoredSet) -> dict[str, dict[str, float]]:
    """Per baseline, per row name: the threshold for the row's target FPR."""
    out: dict[str, dict[str, float]] = {}
    for baseline in BASELINES:
        out[baseline] = {}
        for row in ROWS:
            neg = [baseline_score(s, baseline, row.ref_lang).score for s in row_negatives(scored, row)]
            pos = [
                b.score if (b := baseline_score(s, baseline, row.ref_lang)).reference_id == s.query.reference_id else 0.0
                for s in row_positives(scored, row)
            ]
            out[baseline][row.name] = operating_point(neg, pos, row.target_fpr).threshold
    return out


def write_calibration(
    directory: Path,
    thresholds: Thresholds,
    points: dict[str, OperatingPoint],
    provenance: dict[str, Any],
    bank_curves: BankCurves | None = None,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    values = dataclasses.asdict(thresholds)
    for name in (
        "translation_margin_by_pair", "translation_weights", "translation_score_by_pair", "translation_length_offset_by_pair",
        "translation_score_short_by_pair", "translation_margin_short_by_pair",
    ):
        values[name] = dict(getattr(thresholds, name))
    values["source"] = f"make calibrate, {provenance['date']}, {provenance['corpora']} ({provenance['split']} split)"
    path = directory / "thresholds.json"
    data = {
        **provenance,
        "calibrated_on": values["source"],
        "thresholds": values,
        "operating_points": {name: dataclasses.asdict(p) for name, p in points.items()},
        **({"bank_curves": bank_curves.to_json()} if bank_curves is not None else {}),
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_json_float) + "\n", encoding="utf-8")
    return path


def _json_float(value: object) -> object:
    return None if isinstance(value, float) and not np.isfinite(value) else str(value)


def today() -> str:
    return dt.date.today().isoformat()
