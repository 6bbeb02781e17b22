"""Suppression banks (allow-lists): known false positives that un-flag a post.

A post that matches an item in a suppression bank gets NO_MATCH, and the
result names the suppressing item in ``suppressed_by``. Suppression items are
matched with the same cascade (and their bank's own thresholds), but decided
apart from the normal candidates so that ``top_k`` can never push them out.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from service.core.domain import PostResult, Verdict
from service.core.matcher import Candidate, Matcher, PostFeatures


class Suppression:
    def __init__(self, suppression_banks: Callable[[], frozenset[str]]) -> None:
        self._banks = suppression_banks

    def decide(self, matcher: Matcher, post: PostFeatures, candidates: Sequence[Candidate], top_k: int) -> PostResult:
        banks = self._banks()
        if not banks:
            return matcher.decide(post, candidates, top_k)
        flagging = [c for c in candidates if c.item.bank not in banks]
        allowing = [c for c in candidates if c.item.bank in banks]
        result = matcher.decide(post, flagging, top_k)
        if result.verdict is Verdict.NO_MATCH or not allowing:
            return result
        allowed = matcher.decide(post, allowing, 1)
        if allowed.verdict is Verdict.NO_MATCH:
            return result
        # The flagging matches are dropped too: a pipeline that acts on any
        # match must not act on a suppressed post.
        return dataclasses.replace(
            result, verdict=Verdict.NO_MATCH, matches=(), suppressed_by=allowed.matches[0].reference_id
        )
