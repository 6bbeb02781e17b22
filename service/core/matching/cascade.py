"""The matching cascade: turns a post's candidates into its verdict.

Signals, strongest first:
1. EXACT: the post's canonical fingerprint equals a reference's -> REUPLOAD.
2. LEXICAL: enough shingle containment between canonical forms -> NEAR_DUPLICATE.
3. SEMANTIC: for a candidate in another language, the calibrated translation
   scorer (translation.py); otherwise the embedding's ratio-margin (or,
   without a background sample, raw cosine) clears the translation operating
   point -> TRANSLATION across languages, PARAPHRASE within one.

Suppression banks (allow-lists of known false positives) are decided here
too: a post that would be flagged but also matches an item of a suppression
bank gets NO_MATCH, and the result names that item in ``suppressed_by``.
Suppression items are matched with the same cascade (and their bank's own
thresholds) but decided apart from the flagging candidates, so ``top_k`` can
never push them out.

Everything here is pure: no I/O, so the service, ``index_builder`` and
``make eval`` decide alike.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from service.core.domain import VERDICT_STRENGTH, Candidate, Match, PostFeatures, PostResult, Signal, Verdict
from service.core.matching.lexical import lexical_similarity, shingles, word_count
from service.core.matching.thresholds import Thresholds
from service.core.matching.translation import features, probability

#: The operating points for a bank (per-bank overrides fall back to the service-wide ones).
ThresholdsFor = Callable[[str], Thresholds]


class Cascade:
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
        words = word_count(post.canonical)
        if min(words, word_count(item.canonical)) < thresholds.min_semantic_words:
            return None
        short = words < thresholds.short_post_words
        semantic = semantic_verdict(post.lang, item.lang)
        if candidate.margin is None:
            return _match(candidate, semantic, Signal.SEMANTIC, candidate.cosine)
        score = translation_score(post, candidate, thresholds)
        if score is not None:
            if score >= thresholds.translation_score_for(post.lang, item.lang, short=short):
                return _match(candidate, semantic, Signal.SEMANTIC, score)
            return None
        if candidate.margin >= thresholds.translation_margin_for(post.lang, item.lang, short=short):
            return _match(candidate, semantic, Signal.SEMANTIC, candidate.margin)
        return None

    def decide(
        self, post: PostFeatures, candidates: Sequence[Candidate], top_k: int, *, suppression: frozenset[str] = frozenset()
    ) -> PostResult:
        """The post's verdict and its best ``top_k`` matches; ``suppression``: the suppression banks."""
        if not suppression:
            return self._decide(post, candidates, top_k)
        result = self._decide(post, [c for c in candidates if c.item.bank not in suppression], top_k)
        allowing = [c for c in candidates if c.item.bank in suppression]
        if result.verdict is Verdict.NO_MATCH or not allowing:
            return result
        allowed = self._decide(post, allowing, 1)
        if allowed.verdict is Verdict.NO_MATCH:
            return result
        # The flagging matches are dropped too: a pipeline that acts on any
        # match must not act on a suppressed post.
        return dataclasses.replace(result, verdict=Verdict.NO_MATCH, matches=(), suppressed_by=allowed.matches[0].reference_id)

    def _decide(self, post: PostFeatures, candidates: Sequence[Candidate], top_k: int) -> PostResult:
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


def semantic_verdict(post_lang: str, reference_lang: str) -> Verdict:
    """PARAPHRASE within one language, TRANSLATION across; an undetected post language counts as another."""
    return Verdict.PARAPHRASE if post_lang == reference_lang else Verdict.TRANSLATION


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
