"""Operating curves: per direction, the threshold that holds the FP per post at a target, for banks of every size.

Every sentence of the calibration split goes into one pool, in all three
languages, and every sentence is then posted against it through
``Engine.candidates`` (the service's own candidate assembly). A (post,
reference) pair is a negative unless both come from the same aligned line,
or from two lines that say the same thing: identical texts, or lines whose
English sides are near-duplicates (containment >= ``SAME_CONTENT``; the
corpora repeat sentences and quotes across lines, and a translation of such
a line *is* a match). The pool is dense in the way real banks are: every post
meets the other sentences of its own document, on its own topic.

For a post ``p`` and a threshold ``t``, let ``k_p(t)`` be how many of the
``M`` pool references in the reference language it falsely reaches. A bank
of ``N <= M`` references drawn from the pool misses all of them with
probability ``(1 - N/M)^k``, so the FP per post is the mean over posts of
``1 - (1 - N/M)^k_p(t)``, measured, and clusters of same-topic false matches
count once per post, as a reviewer sees them. For ``N > M`` each post's
count is scaled (``1 - exp(-k N / M)``), and since that cannot see false
matches the pool does not hold, the threshold is also never below the
straight-line extrapolation, in log N, of the measured range's last decade:
thresholds for banks larger than the pool are estimates and err high.

Pairs the search did not return score 0: ``SEARCH_TOP_K`` gives about 256
neighbours of ~5,800 per post, far more than the false matches that count.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from evaluation.corpus import LANGS, Triple
from evaluation.scoring import CountingEmbedder, open_scoring_engine
from service.core import (
    SIZE_GRID, TARGET_GRID, AddOptions, BankCurves, Calibration, NewReference, OnDuplicate, OperatingCurve, Post,
    PostCandidates, canonical_form, lexical_similarity, shingles, translation_score, word_count
)

SEARCH_TOP_K = 64
CHUNK = 512
SAME_CONTENT = 0.6


def pool_references(triples: Sequence[Triple]) -> list[NewReference]:
    """Every sentence of ``triples``, in all three languages, as a reference."""
    return [NewReference(text=t.texts[lang], id=f"{t.corpus}:{t.line}:{lang}", lang=lang) for t in triples for lang in LANGS]


def pool_candidates(refs: Sequence[NewReference], embedder: CountingEmbedder, calibration: Calibration) -> Iterator[tuple[int, NewReference, PostCandidates]]:
    """Every reference posted against all of them: (post number, the reference posted, its candidates)."""
    work = Path(tempfile.mkdtemp(prefix="nigran-bank-curves-"))
    try:
        engine = open_scoring_engine(work, embedder, calibration, len(refs), CHUNK, max_top_k=SEARCH_TOP_K)
        try:
            engine.curation.references.add(list(refs), actor="calibrate", options=AddOptions(duplicate=OnDuplicate.KEEP))
            for start in range(0, len(refs), CHUNK):
                chunk = refs[start : start + CHUNK]
                considered = engine.candidates([Post(r.id, r.text) for r in chunk], top_k=SEARCH_TOP_K, exhaustive=True)
                yield from ((number, ref, post) for number, (ref, post) in enumerate(zip(chunk, considered), start=start))
        finally:
            engine.close(snapshot=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def same_line(a: str, b: str) -> bool:
    return a.rsplit(":", 1)[0] == b.rsplit(":", 1)[0]


class SameContent:
    """Whether two pool references' lines say the same thing, judged on the sides of one language.

    English sides by default; for English copies judged lexically, the Urdu
    sides, so the judge is not the signal being measured.
    """

    def __init__(self, triples: Sequence[Triple], judge: str = "en") -> None:
        self._sides = {f"{t.corpus}:{t.line}": shingles(canonical_form(t.texts[judge])) for t in triples}

    def __call__(self, a: str, b: str) -> bool:
        line_a, line_b = a.rsplit(":", 1)[0], b.rsplit(":", 1)[0]
        if line_a == line_b:
            return True
        lex = lexical_similarity(self._sides[line_a], self._sides[line_b])
        return lex.shared >= 12 and lex.containment >= SAME_CONTENT


def measure_bank_curves(triples: Sequence[Triple], embedder: CountingEmbedder, calibration: Calibration) -> tuple[BankCurves, dict[str, int]]:
    """The curves, and per direction how many negative pairs they were measured on."""
    thresholds = calibration.thresholds
    refs = pool_references(triples)
    same_content = SameContent(triples)
    same_urdu = SameContent(triples, judge="ur")
    # Per direction and post length ("" or "/short"): (post number, score) of every negative pair that reached the cosine floor.
    found: dict[str, list[tuple[int, float]]] = defaultdict(list)
    posts_in: dict[str, int] = defaultdict(int)
    for number, ref, post in pool_candidates(refs, embedder, calibration):
        features = post.features
        words = word_count(features.canonical)
        posts_in[f"lexical {features.lang}"] += 1
        length = "/short" if words < thresholds.short_post_words else ""
        if words >= thresholds.min_semantic_words:  # else never judged by meaning
            posts_in[features.lang + length] += 1
        post_shingles = shingles(features.canonical)
        for c in post.candidates:
            item = c.item
            if c.exact or item.canonical == features.canonical:
                continue
            if item.lang == features.lang and not (same_urdu if item.lang == "en" else same_content)(item.id, ref.id):
                lexical = lexical_similarity(post_shingles, shingles(item.canonical)).score
                if lexical > 0:
                    found[f"lexical {features.lang}>{item.lang}"].append((number, lexical))
            if c.cosine < thresholds.translation_cosine or words < thresholds.min_semantic_words:
                continue
            if item.lang not in LANGS or word_count(item.canonical) < thresholds.min_semantic_words or same_content(item.id, ref.id):
                continue
            score = c.margin if item.lang == features.lang else translation_score(features, c, thresholds)
            if score is not None:
                found[f"{features.lang}>{item.lang}{length}"].append((number, score))

    per_lang = {lang: sum(1 for r in refs if r.lang == lang) for lang in LANGS}
    tables: dict[str, dict[str, OperatingCurve]] = defaultdict(dict)
    pairs: dict[str, int] = {}
    for length in ("", "/short"):
        for x in LANGS:
            for y in LANGS:
                key = f"{x}>{y}"
                pool = per_lang[y] - 1  # a post's own line is not a negative
                n_posts = posts_in[x + length]
                pairs[key + length] = n_posts * pool
                if n_posts == 0 or pool <= 0:
                    continue
                name = ("translation_score" if x != y else "paraphrase_margin") + ("_short" if length else "")
                tables[name][key] = operating_curve(found[key + length], n_posts, pool, logit=x != y)
    for x in LANGS:
        key, n_posts = f"{x}>{x}", posts_in[f"lexical {x}"]
        pairs[f"lexical {key}"] = n_posts * (per_lang[x] - 1)
        if n_posts and per_lang[x] > 1:
            tables["near_duplicate_lexical"][key] = operating_curve(found[f"lexical {key}"], n_posts, per_lang[x] - 1, logit=False)
    return BankCurves(**tables), pairs


def operating_curve(found: Sequence[tuple[int, float]], n_posts: int, pool: int, *, logit: bool) -> OperatingCurve:
    """Thresholds over TARGET_GRID x SIZE_GRID from the negative pairs that scored (the others score 0)."""
    posts = np.array([p for p, _ in found], dtype=np.int64)
    scores = np.array([s for _, s in found], dtype=np.float64)
    order = np.lexsort((-scores, posts))  # per post, best first
    posts, scores = posts[order], scores[order]
    # Each pair's rank among its post's pairs: passing a threshold at it makes the post's count rank + 1.
    starts = np.r_[0, np.flatnonzero(np.diff(posts)) + 1] if len(posts) else np.zeros(0, np.int64)
    rank = np.arange(len(posts)) - np.repeat(starts, np.diff(np.r_[starts, len(posts)]))
    by_score = np.argsort(-scores, kind="stable")
    ranked_scores, ranked = scores[by_score], rank[by_score]

    table = [[_threshold(ranked_scores, ranked, n_posts, size / pool, target) for size in SIZE_GRID] for target in TARGET_GRID]
    table = [_extrapolated(row, pool, logit) for row in table]
    return OperatingCurve(
        tuple(tuple(round(t, 9) for t in row) for row in table), pairs=n_posts * pool, posts=n_posts, measured_to=float(pool)
    )


def _threshold(scores: NDArray[np.float64], rank: NDArray[np.int64], n_posts: int, share: float, target: float) -> float:
    """The lowest threshold whose FP per post, for a bank of ``share`` x the pool, is at most ``target``.

    ``scores`` are in descending order; lowering the threshold past score i
    raises its post's count from rank[i] to rank[i] + 1.
    """
    if not len(scores):
        return 0.0
    k = rank.astype(np.float64)
    if share < 1.0:
        miss = math.log1p(-share)
        gain = np.exp(k * miss) - np.exp((k + 1) * miss)  # (1-q)^k - (1-q)^(k+1)
    else:
        gain = np.exp(-k * share) - np.exp(-(k + 1) * share)
    fp = np.cumsum(gain) / n_posts
    over = int(np.searchsorted(fp, target, side="right"))  # first index whose inclusion exceeds the target
    if over >= len(scores):
        return 0.0
    return float(np.nextafter(scores[over], math.inf))


def _extrapolated(row: list[float], pool: int, logit: bool) -> list[float]:
    """Thresholds beyond the pool's size never below the measured trend (last decade, linear in log size)."""
    z = [_to_z(t, logit) for t in row]
    sizes = list(SIZE_GRID)
    inside = [i for i, s in enumerate(sizes) if s <= pool]
    if len(inside) < 5:
        return list(np.maximum.accumulate(np.asarray(row)))
    hi, lo = inside[-1], inside[-5]  # one decade: four quarter-decade steps
    slope = max(0.0, (z[hi] - z[lo]) / (math.log(sizes[hi]) - math.log(sizes[lo])))
    out = []
    for i, s in enumerate(sizes):
        zi = z[i]
        if s > pool:
            zi = max(zi, z[hi] + slope * (math.log(s) - math.log(sizes[hi])))
        out.append(_from_z(zi, logit))
    return list(np.maximum.accumulate(np.asarray(out)))


def _to_z(t: float, logit: bool) -> float:
    if not logit:
        return t
    p = min(max(t, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))


def _from_z(z: float, logit: bool) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if logit else z
