"""The matching cascade: turns candidate references into verdicts.

Signals, strongest first:
1. EXACT: the post's canonical fingerprint equals a reference's -> REUPLOAD.
2. LEXICAL: enough shingle containment between canonical forms -> NEAR_DUPLICATE.
3. SEMANTIC: for a candidate in another language, the calibrated translation
   scorer (translation_score.py); otherwise the embedding's ratio-margin (or,
   without a background sample, raw cosine) clears the translation operating
   point -> TRANSLATION (another language, or a close paraphrase).
Everything here is pure: no I/O, so it is the same for the service and for
index_builder's offline screening.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from service.core.config import Thresholds
from service.core.domain import VERDICT_STRENGTH, Match, PostResult, ReferenceItem, Signal, Verdict
from service.core.lexical import lexical_similarity, shingles
from service.core.translation_score import Neighbourhoods, features, probability


@dataclass(frozen=True)
class Candidate:
    item: ReferenceItem
    cosine: float
    # Ratio-margin score; None when no background sample is loaded.
    margin: float | None = None
    exact: bool = False
    # Both sides' background neighbourhoods; None without a background sample.
    neighbourhoods: Neighbourhoods | None = None


@dataclass(frozen=True)
class PostFeatures:
    post_id: str
    canonical: str
    fingerprint: str
    lang: str


#: Resolves the operating points for a bank (per-bank overrides fall back to defaults).
ThresholdsFor = Callable[[str], Thresholds]


class Matcher:
    def __init__(self, thresholds: Thresholds, thresholds_for: ThresholdsFor | None = None) -> None:
        self.thresholds = thresholds
        self._thresholds_for = thresholds_for

    def thresholds_for(self, bank: str) -> Thresholds:
        return self._thresholds_for(bank) if self._thresholds_for is not None else self.thresholds

    def classify(self, post: PostFeatures, candidate: Candidate) -> Match | None:
        item = candidate.item
        thresholds = self.thresholds_for(item.bank)
        if candidate.exact or (post.fingerprint and post.fingerprint == item.fingerprint):
            return _match(candidate, Verdict.REUPLOAD, Signal.EXACT, 1.0)
        lexical = lexical_similarity(shingles(post.canonical), shingles(item.canonical)).score
        if lexical >= thresholds.near_duplicate_lexical:
            return _match(candidate, Verdict.NEAR_DUPLICATE, Signal.LEXICAL, lexical)
        if candidate.cosine < thresholds.translation_cosine:
            return None
        if candidate.margin is None:
            return _match(candidate, Verdict.TRANSLATION, Signal.SEMANTIC, candidate.cosine)
        score = translation_score(post, candidate, thresholds)
        if score is not None:
            if score >= thresholds.translation_score_for(post.lang, item.lang):
                return _match(candidate, Verdict.TRANSLATION, Signal.SEMANTIC, score)
            return None
        if candidate.margin >= thresholds.translation_margin_for(post.lang, item.lang):
            return _match(candidate, Verdict.TRANSLATION, Signal.SEMANTIC, candidate.margin)
        return None

    def decide(self, post: PostFeatures, candidates: Sequence[Candidate], top_k: int) -> PostResult:
        best: dict[str, Match] = {}
        for candidate in candidates:
            match = self.classify(post, candidate)
            if match is None:
                continue
            held = best.get(match.reference_id)
            if held is None or _rank(match) > _rank(held):
                best[match.reference_id] = match
        ordered = sorted(best.values(), key=_rank, reverse=True)[:top_k]
        verdict = ordered[0].kind if ordered else Verdict.NO_MATCH
        return PostResult(post_id=post.post_id, verdict=verdict, matches=tuple(ordered), detected_lang=post.lang)


def _match(candidate: Candidate, kind: Verdict, signal: Signal, score: float) -> Match:
    item = candidate.item
    return Match(
        reference_id=item.id,
        score=score,
        kind=kind,
        signal=signal,
        bank=item.bank,
        labels=item.labels,
        cosine=candidate.cosine,
        reference_lang=item.lang,
        metadata=item.metadata,
    )


def translation_score(post: PostFeatures, candidate: Candidate, thresholds: Thresholds) -> float | None:
    """The scorer's output for a cross-language candidate; None where the margin rule applies."""
    item = candidate.item
    if not thresholds.translation_weights or candidate.neighbourhoods is None or post.lang == item.lang:
        return None
    weights = dict(thresholds.translation_weights)
    bias = weights.pop("bias", 0.0)
    offset = thresholds.translation_length_offset_by_pair.get(f"{post.lang}>{item.lang}", 0.0)
    values = features(candidate.cosine, candidate.neighbourhoods, post.canonical, item.canonical, offset)
    return probability(values, weights, bias)


def _rank(match: Match) -> tuple[int, float, float]:
    return (VERDICT_STRENGTH[match.kind], match.score, match.cosine)
