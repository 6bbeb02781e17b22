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

``Cascade.explain`` states, for one pair, every measure against its
operating point and which test decided (the ``Compare`` RPC): it runs the
same rules (``_judge``) on the same measures (``_lexical``, ``_words``,
``_short``, ``translation_score``) as matching does.

Everything here is pure: no I/O, so the service, ``index_builder`` and
``make eval`` decide alike.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from service.core.domain import (
    VERDICT_STRENGTH, Candidate, Comparison, Match, Measure, PostFeatures, PostResult, Signal, SignalScore, Verdict
)
from service.core.matching.lexical import lexical_similarity, shingles, word_count
from service.core.matching.thresholds import Thresholds
from service.core.matching.translation import features, probability

#: The operating points for a bank (per-bank overrides fall back to the service-wide ones).
ThresholdsFor = Callable[[str], Thresholds]


# A candidate's match (None: no match) and the measure whose test decided it.
# A plain tuple: the matching path judges about 8,000 candidates per 64 posts.
Judgement = tuple["Match | None", Measure]


class Cascade:
    def __init__(self, thresholds: Thresholds, thresholds_for: ThresholdsFor | None = None) -> None:
        self.thresholds = thresholds
        self._thresholds_for = thresholds_for

    def thresholds_for(self, bank: str) -> Thresholds:
        return self._thresholds_for(bank) if self._thresholds_for is not None else self.thresholds

    def classify(self, post: PostFeatures, candidate: Candidate) -> Match | None:
        return _judge(post, candidate, self.thresholds_for(candidate.item.bank))[0]

    def explain(self, post: PostFeatures, candidate: Candidate, thresholds: Thresholds) -> Comparison:
        """Every measure of the pair against its operating point, and the verdict ``classify`` gives, with why."""
        pair = _Pair(post, candidate, thresholds)
        match, decided_by = _judge(post, candidate, thresholds)
        signals = pair.scores()
        verdict = match.kind if match is not None else Verdict.NO_MATCH
        decisive = next(s for s in signals if s.measure is decided_by)
        return Comparison(
            verdict=verdict, reason=_reason(verdict, decisive, pair), lang_a=post.lang, lang_b=candidate.item.lang,
            fingerprint_a=post.fingerprint, fingerprint_b=candidate.item.fingerprint, signals=signals, decided_by=decided_by,
        )

    def decide(
        self,
        post: PostFeatures,
        candidates: Sequence[Candidate],
        top_k: int,
        *,
        suppression: frozenset[str] = frozenset(),
        keep: Callable[[Match], bool] | None = None,
    ) -> PostResult:
        """The post's verdict and its best ``top_k`` matches; ``suppression``: the suppression banks.

        ``keep``: the caller's filter on flagging matches (``MatchOptions.keeps``),
        applied before ``top_k`` so it never leaves fewer matches than qualify.
        """
        if not suppression:
            return self._decide(post, candidates, top_k, keep)
        result = self._decide(post, [c for c in candidates if c.item.bank not in suppression], top_k, keep)
        allowing = [c for c in candidates if c.item.bank in suppression]
        if result.verdict is Verdict.NO_MATCH or not allowing:
            return result
        allowed = self._decide(post, allowing, 1)
        if allowed.verdict is Verdict.NO_MATCH:
            return result
        # The flagging matches are dropped too: a pipeline that acts on any
        # match must not act on a suppressed post.
        return dataclasses.replace(result, verdict=Verdict.NO_MATCH, matches=(), suppressed_by=allowed.matches[0].reference_id)

    def _decide(
        self, post: PostFeatures, candidates: Sequence[Candidate], top_k: int, keep: Callable[[Match], bool] | None = None
    ) -> PostResult:
        best: dict[str, Match] = {}
        for candidate in candidates:
            match = self.classify(post, candidate)
            if match is None or (keep is not None and not keep(match)):
                continue
            held = best.get(match.reference_id)
            if held is None or _rank(match) > _rank(held):
                best[match.reference_id] = match
        ordered = sorted(best.values(), key=_rank, reverse=True)[:top_k]
        verdict = ordered[0].kind if ordered else Verdict.NO_MATCH
        return PostResult(
            post_id=post.post_id, verdict=verdict, matches=tuple(ordered), detected_lang=post.lang, fingerprint=post.fingerprint
        )


def _judge(post: PostFeatures, candidate: Candidate, thresholds: Thresholds) -> Judgement:
    """The cascade's rules, strongest signal first (the module docstring): the one statement of them.

    Each measure is the one ``_Pair`` reports to ``explain``, computed here
    inline and only when a rule reaches it.
    """
    item = candidate.item
    if _is_copy(post, candidate):
        return _match(candidate, Verdict.REUPLOAD, Signal.EXACT, 1.0), Measure.FINGERPRINT
    lexical = _lexical(post, candidate)
    if lexical >= thresholds.near_duplicate_lexical:
        return _match(candidate, Verdict.NEAR_DUPLICATE, Signal.LEXICAL, lexical), Measure.LEXICAL
    if candidate.cosine < thresholds.translation_cosine:
        return None, Measure.COSINE
    if _words(post, candidate) < thresholds.min_semantic_words:
        return None, Measure.WORDS
    semantic = semantic_verdict(post.lang, item.lang)
    if candidate.margin is None:
        return _match(candidate, semantic, Signal.SEMANTIC, candidate.cosine), Measure.COSINE
    short = _short(post, thresholds)
    score = translation_score(post, candidate, thresholds)
    if score is not None:
        passed = score >= thresholds.translation_score_for(post.lang, item.lang, short=short)
        return (_match(candidate, semantic, Signal.SEMANTIC, score) if passed else None), Measure.TRANSLATION_SCORE
    passed = candidate.margin >= thresholds.translation_margin_for(post.lang, item.lang, short=short)
    return (_match(candidate, semantic, Signal.SEMANTIC, candidate.margin) if passed else None), Measure.MARGIN


def _is_copy(post: PostFeatures, candidate: Candidate) -> bool:
    return candidate.exact or bool(post.fingerprint and post.fingerprint == candidate.item.fingerprint)


def _lexical(post: PostFeatures, candidate: Candidate) -> float:
    return lexical_similarity(shingles(post.canonical), shingles(candidate.item.canonical)).score


def _words(post: PostFeatures, candidate: Candidate) -> int:
    return min(word_count(post.canonical), word_count(candidate.item.canonical))


def _short(post: PostFeatures, thresholds: Thresholds) -> bool:
    return word_count(post.canonical) < thresholds.short_post_words


class _Pair:
    """One (post, candidate) pair under its operating points: every measure ``_judge`` tests, for ``explain``."""

    def __init__(self, post: PostFeatures, candidate: Candidate, thresholds: Thresholds) -> None:
        self.post, self.candidate, self.thresholds = post, candidate, thresholds
        item = candidate.item
        self.exact = _is_copy(post, candidate)
        self.lexical = _lexical(post, candidate)
        self.words = _words(post, candidate)
        self.short = _short(post, thresholds)
        self.pair_name = f"{post.lang}>{item.lang}"
        self.translation = translation_score(post, candidate, thresholds)
        self.translation_threshold = thresholds.translation_score_for(post.lang, item.lang, short=self.short)
        self.margin_threshold = thresholds.translation_margin_for(post.lang, item.lang, short=self.short)

    def scores(self) -> tuple[SignalScore, ...]:
        t, candidate = self.thresholds, self.candidate
        scores = [
            SignalScore(Measure.FINGERPRINT, 1.0 if self.exact else 0.0, 1.0),
            SignalScore(Measure.LEXICAL, self.lexical, t.near_duplicate_lexical),
            SignalScore(Measure.COSINE, candidate.cosine, t.translation_cosine),
            SignalScore(Measure.WORDS, float(self.words), float(t.min_semantic_words)),
        ]
        if self.translation is not None:
            scores.append(SignalScore(Measure.TRANSLATION_SCORE, self.translation, self.translation_threshold))
        if candidate.margin is not None:
            scores.append(SignalScore(Measure.MARGIN, candidate.margin, self.margin_threshold))
        return tuple(scores)


def _reason(verdict: Verdict, decisive: SignalScore, pair: _Pair) -> str:
    """One line on why: the test that decided, with its numbers."""
    if decisive.measure is Measure.FINGERPRINT:
        return "reupload: the canonical forms are the same (equal fingerprints)"
    test = f"{decisive.measure.value} {decisive.score:.3f} {'>=' if decisive.cleared else '<'} {decisive.threshold:.3f}"
    if decisive.measure is Measure.WORDS:
        test = f"{decisive.score:.0f} words < {decisive.threshold:.0f}: too little content for a verdict by meaning"
    elif decisive.measure is Measure.COSINE and decisive.cleared:
        test += " (no background sample: the cosine decides)"
    elif decisive.measure in (Measure.TRANSLATION_SCORE, Measure.MARGIN):
        test += f" for {pair.pair_name}{' (a short post)' if pair.short else ''}"
    return f"{verdict.value}: {test}"


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
