"""Per-row figures for Nigran and the baselines; Markdown, JSON and a PR plot.

For a row (verdict V, post language x → reference language y):
* recall: share of the row's positives whose verdict is V with the expected
  reference first (baselines: best reference in y is the expected one and
  scores at or above the row's threshold);
* FP/post: share of negative posts in x that get V with a reference in y;
* precision: hits / (hits + false-positive negatives + positives flagged with
  the wrong reference), over the row's positives and x's negatives.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from evaluation.calibrate import BASELINES, baseline_score, row_negatives, row_positives
from evaluation.rows import ROWS, Row
from evaluation.scoring import Scored, ScoredSet, lexical_to
from service.core import Cascade, PostResult, Thresholds, Verdict, translation_score

#: Per row: name, target met, beats both baselines (None: no positives to compare), explanation.
Status = tuple[str, bool, bool | None, str]

METHOD_NAMES = {"nigran": "Nigran", "minhash": "MinHash", "raw_cosine": "raw cosine"}


@dataclass(frozen=True)
class RowResult:
    row: str
    method: str
    recall: float
    precision: float
    fp_per_post: float
    threshold: str
    n_positives: int
    n_negatives: int


def evaluate(scored: ScoredSet, thresholds: Thresholds, baseline_thresholds: dict[str, dict[str, float]]) -> list[RowResult]:
    cascade = Cascade(thresholds)
    results = {s.query.id: s.decide(cascade) for s in scored.scored}
    out: list[RowResult] = []
    for row in ROWS:
        pos, neg = row_positives(scored, row), row_negatives(scored, row)
        hits = wrong = 0
        for s in pos:
            r = results[s.query.id]
            if _flags(r, row):
                if r.matches[0].reference_id == s.query.reference_id:
                    hits += 1
                else:
                    wrong += 1
        fps = sum(_flags(results[s.query.id], row) for s in neg)
        out.append(_result(row, "nigran", hits, wrong, fps, len(pos), len(neg), _nigran_threshold(row, thresholds)))
        for baseline in BASELINES:
            t = baseline_thresholds[baseline][row.name]
            hits = wrong = 0
            for s in pos:
                b = baseline_score(s, baseline, row.ref_lang)
                if b.score >= t:
                    hits += b.reference_id == s.query.reference_id
                    wrong += b.reference_id != s.query.reference_id
            fps = sum(baseline_score(s, baseline, row.ref_lang).score >= t for s in neg)
            out.append(_result(row, baseline, hits, wrong, fps, len(pos), len(neg), f"{t:.3f}"))
    return out


def _flags(result: PostResult, row: Row) -> bool:
    return result.verdict is row.verdict and bool(result.matches) and result.matches[0].reference_lang == row.ref_lang


def _result(row: Row, method: str, hits: int, wrong: int, fps: int, n_pos: int, n_neg: int, threshold: str) -> RowResult:
    flagged = hits + wrong + fps
    return RowResult(
        row=row.name, method=method,
        recall=hits / n_pos if n_pos else float("nan"),
        precision=hits / flagged if flagged else float("nan"),
        fp_per_post=fps / n_neg if n_neg else float("nan"),
        threshold=threshold, n_positives=n_pos, n_negatives=n_neg,
    )


def _nigran_threshold(row: Row, t: Thresholds) -> str:
    if row.verdict is Verdict.REUPLOAD:
        return "exact fingerprint"
    if row.verdict is Verdict.NEAR_DUPLICATE:
        return f"lexical ≥ {t.near_duplicate_lexical:.3f}"
    if row.verdict is Verdict.PARAPHRASE:
        return f"margin ≥ {t.translation_margin_for(row.post_lang, row.ref_lang):.3f}, cos ≥ {t.translation_cosine:.3f}"
    if t.translation_weights:
        return f"scorer ≥ {t.translation_score_for(row.post_lang, row.ref_lang):.3f}, cos ≥ {t.translation_cosine:.3f}"
    return f"margin ≥ {t.translation_margin_for(row.post_lang, row.ref_lang):.3f}, cos ≥ {t.translation_cosine:.3f}"


def target_status(results: Sequence[RowResult]) -> list[Status]:
    """Per row: (row, target met, beats both baselines, explanation)."""
    by_row: dict[str, dict[str, RowResult]] = {}
    for r in results:
        by_row.setdefault(r.row, {})[r.method] = r
    out: list[Status] = []
    for row in ROWS:
        n = by_row[row.name]["nigran"]
        if not n.n_positives:
            # Nothing to recall: only the false-positive side can be judged, and no baseline comparison made.
            out.append((row.name, n.fp_per_post <= row.target_fpr, None,
                        f"no positives in the corpora, FP/post {n.fp_per_post:.4f} (≤ {row.target_fpr})"))
            continue
        met = n.recall >= row.target_recall and n.fp_per_post <= row.target_fpr
        beats = all(n.recall > by_row[row.name][b].recall or n.recall == 1.0 for b in BASELINES)
        out.append((row.name, met, beats, f"recall {n.recall:.3f} (target ≥ {row.target_recall}), FP/post {n.fp_per_post:.4f} (≤ {row.target_fpr})"))
    return out


def markdown(results: Sequence[RowResult], status: list[Status]) -> str:
    lines = [
        "| row | method | recall | precision | FP/post | threshold | positives | negatives |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        name = f"**{METHOD_NAMES[r.method]}**" if r.method == "nigran" else METHOD_NAMES[r.method]
        lines.append(
            f"| {r.row} | {name} | {_fixed(r.recall)} | {_fixed(r.precision)} | {r.fp_per_post:.4f} | {r.threshold} | {r.n_positives} | {r.n_negatives} |"
        )
    lines += ["", "| row | target | met | beats both baselines |", "|---|---|---|---|"]
    for name, met, beats, why in status:
        lines.append(f"| {name} | {why} | {'yes' if met else 'NO'} | {'n/a' if beats is None else 'yes' if beats else 'NO'} |")
    return "\n".join(lines) + "\n"


def _fixed(value: float) -> str:
    return "n/a" if value != value else f"{value:.3f}"  # NaN: nothing to measure


def write_json(path: Path, results: Sequence[RowResult], status: list[Status], meta: dict[str, Any]) -> None:
    data = {
        **meta,
        "rows": [{k: None if isinstance(v, float) and v != v else v for k, v in asdict(r).items()} for r in results],
        "targets": [{"row": n, "met": m, "beats_baselines": b, "detail": w} for n, m, b, w in status],
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def pr_curves(scored: ScoredSet, path: Path, thresholds: Thresholds) -> None:
    """Precision-recall per verdict (pooled over directions), one curve per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    refs = {r.id: r for r in scored.references}
    panels = [
        ("REUPLOAD", [r for r in ROWS if r.verdict is Verdict.REUPLOAD]),
        ("NEAR_DUPLICATE", [r for r in ROWS if r.verdict is Verdict.NEAR_DUPLICATE]),
        ("TRANSLATION ur↔en", [r for r in ROWS if r.verdict is Verdict.TRANSLATION and {r.post_lang, r.ref_lang} == {"ur", "en"}]),
        ("TRANSLATION ps↔en, ps↔ur", [r for r in ROWS if r.verdict is Verdict.TRANSLATION and "ps" in (r.post_lang, r.ref_lang)]),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.2))
    for ax, (title, rows) in zip(axes, panels):
        for method in ("nigran", *BASELINES):
            pos: list[float] = []
            neg: list[float] = []
            for row in rows:
                for s in row_positives(scored, row):
                    score, ref = _curve_score(s, row, method, refs, thresholds)
                    pos.append(score if ref == s.query.reference_id else -np.inf)
                neg += [_curve_score(s, row, method, refs, thresholds)[0] for s in row_negatives(scored, row)]
            recall, precision = _pr(np.array(pos), np.array(neg))
            ax.plot(recall, precision, label=METHOD_NAMES[method])
        ax.set_title(title)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1.01)
        ax.set_ylim(0, 1.01)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _curve_score(s: Scored, row: Row, method: str, refs: dict[str, Any], thresholds: Thresholds) -> tuple[float, str]:
    if method != "nigran":
        b = baseline_score(s, method, row.ref_lang)
        return b.score, b.reference_id
    best, ref = -np.inf, ""
    for c in s.candidates:
        if c.item.lang != row.ref_lang:
            continue
        if row.verdict is Verdict.TRANSLATION:
            scored_by_model = translation_score(s.features, c, thresholds)
            score = scored_by_model if scored_by_model is not None else (c.margin or 0.0)
        else:
            score = 2.0 if c.exact else lexical_to(s, c.item)
            if row.verdict is Verdict.NEAR_DUPLICATE and c.exact:
                score = 0.0
        if score > best:
            best, ref = score, c.item.id
    return best, ref


def _pr(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    finite = np.concatenate([pos[np.isfinite(pos)], neg[np.isfinite(neg)]])
    thresholds = np.unique(finite)[::-1] if len(finite) else np.array([0.0])
    recall = np.array([(pos >= t).mean() for t in thresholds])
    tp = recall * len(pos)
    fp = np.array([(neg >= t).sum() for t in thresholds])
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-9), 1.0)
    return recall, precision
