"""How much content a text needs before resemblance may decide: the measurement behind lexical.py's rules.

``python -m evaluation min-content`` posts every calibration sentence against
all of them (the pool of ``bank_curves.py``) and reports, by the length of
the shorter side:

* semantic signals: the FP per post of posts of that length at the
  thresholds for a bank of ``BANK`` references, and the recall of their
  translations (the same line in another language) at the same thresholds;
* lexical containment: how many negative same-language pairs reach the
  calibrated near-duplicate threshold when the *reference* is the contained
  (shorter) side, and how many calibration near-duplicates (edits of a
  reference, some wrapped in commentary) would be lost by a minimum.

Only the calibration split is read.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from evaluation.bank_curves import pool_candidates, pool_references, same_line
from evaluation.corpus import LANGS, Triple
from evaluation.scoring import CountingEmbedder
from evaluation.testset import build_testset
from service.core import BankPolicy, Calibration, Verdict, lexical_similarity, pick_for_bank, prepare_text, shingles, translation_score, word_count

# Containment before lexical.py's minimum-content rule: what the rule is chosen on.
MIN_SHARED = 12


def _raw(a: frozenset[str], b: frozenset[str]) -> float:
    lex = lexical_similarity(a, b)
    return lex.containment if lex.shared >= MIN_SHARED else 0.0

BANK = 3000
WORD_BUCKETS = (1, 2, 3, 4, 5, 6, 8, 10, 15, 25, 10**6)
SHINGLE_BUCKETS = (12, 20, 30, 40, 60, 80, 120, 10**6)


def _bucket(value: int, edges: Sequence[int]) -> int:
    return next(e for e in edges if value <= e)


def measure(triples: Sequence[Triple], embedder: CountingEmbedder, calibration: Calibration, seed: int) -> str:
    counts = {lang: BANK // len(LANGS) for lang in LANGS}
    thresholds = pick_for_bank(calibration.thresholds, calibration.bank_curves, counts, BankPolicy(), calibration.overrides).thresholds
    share = (BANK // len(LANGS)) / max(1, len(triples) - 1)
    refs = pool_references(triples)
    # Semantic: per post-length bucket, sum of P(any false match) and posts; translations found / total.
    fp_sum: dict[int, float] = defaultdict(float)
    posts: dict[int, int] = defaultdict(int)
    hits: dict[int, int] = defaultdict(int)
    positives: dict[int, int] = defaultdict(int)
    false_by_ref: dict[int, int] = defaultdict(int)
    refs_by_len: dict[int, int] = defaultdict(int)
    # Lexical: negative pairs at the threshold with the reference the contained side: (its shingles, coverage of the post).
    lexical_neg: list[tuple[int, float]] = []
    for r in refs:
        refs_by_len[_bucket(word_count(prepare_text(r.text).canonical), WORD_BUCKETS)] += 1
    for _, ref, post in pool_candidates(refs, embedder, calibration):
        f = post.features
        b = _bucket(word_count(f.canonical), WORD_BUCKETS)
        posts[b] += 1
        false = 0
        post_sh = shingles(f.canonical)
        for c in post.candidates:
            item = c.item
            if c.exact or item.canonical == f.canonical or item.lang not in LANGS:
                continue
            if item.lang == f.lang and not same_line(item.id, ref.id):
                lex = lexical_similarity(post_sh, ref_sh := shingles(item.canonical))
                if _raw(post_sh, ref_sh) >= thresholds.near_duplicate_lexical:
                    lexical_neg.append((min(len(ref_sh), len(post_sh)), lex.shared / max(len(ref_sh), len(post_sh))))
            if c.cosine < thresholds.translation_cosine:
                continue
            if item.lang == f.lang:
                semantic = (c.margin or 0.0) >= thresholds.translation_margin_for(f.lang, item.lang)
            else:
                score = translation_score(f, c, thresholds)
                semantic = score is not None and score >= thresholds.translation_score_for(f.lang, item.lang)
            if same_line(item.id, ref.id):
                if item.lang != f.lang:
                    hits[b] += semantic
            elif semantic:
                false += 1
                false_by_ref[_bucket(word_count(item.canonical), WORD_BUCKETS)] += 1
        positives[b] += len(LANGS) - 1
        fp_sum[b] += 1 - (1 - share) ** false

    lines = [
        f"Semantic verdicts by the post's length, at the thresholds for a bank of {BANK:,} ({BANK // 3:,} per language):",
        "",
        "| post words | posts | FP per post | translation recall | share of false matches' references | share of references |",
        "|---|---|---|---|---|---|",
    ]
    total_false = sum(false_by_ref.values()) or 1
    total_refs = sum(refs_by_len.values()) or 1
    lo = 0
    for edge in WORD_BUCKETS:
        if posts[edge]:
            label = f"{lo + 1}-{edge}" if edge < 10**6 else f"> {lo}"
            lines.append(
                f"| {label} | {posts[edge]} | {fp_sum[edge] / posts[edge]:.4f} | {hits[edge] / max(1, positives[edge]):.3f} | "
                f"{false_by_ref[edge] / total_false:.3f} | {refs_by_len[edge] / total_refs:.3f} |"
            )
        lo = edge

    testset = build_testset(list(triples), "calibration", n_references=600, n_negatives=0, seed=seed)
    by_id = {r.id: r for r in testset.references}
    near = [q for q in testset.queries if q.expected is Verdict.NEAR_DUPLICATE]
    near_contained: list[tuple[int, float]] = []
    flagged = 0
    for q in near:
        post_sh = shingles(prepare_text(q.text).canonical)
        ref_sh = shingles(prepare_text(by_id[q.reference_id].text).canonical)
        lex = lexical_similarity(post_sh, ref_sh)
        flagged += _raw(post_sh, ref_sh) >= thresholds.near_duplicate_lexical
        if _raw(post_sh, ref_sh) >= thresholds.near_duplicate_lexical:
            near_contained.append((min(len(ref_sh), len(post_sh)), lex.shared / max(len(ref_sh), len(post_sh))))
    lines += [
        "",
        f"Lexical containment ≥ {thresholds.near_duplicate_lexical:.3f}: negative same-language pairs of the pool "
        f"({len(refs):,} sentences against each other): {len(lexical_neg)}; calibration near-duplicates flagged: {flagged} of {len(near)} edits.",
        "A rule refuses a pair when the shorter side has fewer than R shingles *and* the shared shingles cover less than c of the longer side:",
        "",
        "| R (shingles) | c (coverage) | negative pairs refused | near-duplicates lost |",
        "|---|---|---|---|",
    ]
    for r_min in (0, 20, 30, 40, 60, 80, 120, 10**6):
        for c_min in (0.0, 0.2, 0.3, 0.4, 0.5):
            if (r_min == 0) != (c_min == 0.0):
                continue
            neg = sum(n < r_min and c < c_min for n, c in lexical_neg)
            pos = sum(n < r_min and c < c_min for n, c in near_contained)
            lines.append(f"| {r_min} | {c_min} | {neg} | {pos} |")
    return "\n".join(lines) + "\n"
