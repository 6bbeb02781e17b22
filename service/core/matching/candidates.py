"""Candidate assembly: which references a post is judged against, with what scores.

The one place that turns what the index search and the store returned into
:class:`Candidate` rows: the post's exact-fingerprint hits first (they are
re-uploads even when the search did not rank them), then the searched
neighbours, each with its cosine, its ratio margin and both sides'
background neighbourhoods. Items that may not match now are dropped here, on
every path. ``Engine.candidates`` and so ``make eval`` both go through it.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from service.core.domain import Candidate, ReferenceItem
from service.core.index.base import Hit
from service.core.matching.background import Background
from service.core.text.prepare import PreparedText

# The index holds disabled and quarantined items too (re-enabling is then
# instant); fetch extra neighbours so they do not crowd out matchable ones.
CANDIDATE_HEADROOM = 4
# Cross-language candidates rank below same-language ones on raw cosine (the
# model's language bias); margin rescoring needs them in the candidate list,
# and the bigger the bank, the deeper they sink. In a bank of 5,000 (make
# eval's sentences), 64 neighbours held the right English reference of 79%
# of Pashto posts, 128 of 85% and 256 of 89%, Urdu->English 96% -> 100% at
# 128; 128 costs about 0.6 ms more per post than 64 (`make eval` prints the
# share the search returned at each bank size).
MIN_CANDIDATES = 128


def search_depth(top_k: int) -> int:
    """How many neighbours to fetch from the index for ``top_k`` matches."""
    return max(MIN_CANDIDATES, top_k * CANDIDATE_HEADROOM)


def assemble(
    text: PreparedText,
    hits: Sequence[Hit],
    exact: Sequence[ReferenceItem],
    items: Mapping[int, ReferenceItem],
    admit: Callable[[ReferenceItem], bool],
    *,
    background: Background | None = None,
    post_row: NDArray[np.float32] | None = None,
) -> list[Candidate]:
    """The candidates of one post, exact hits first, then neighbours best first."""
    searched = {hit.vid: hit.cosine for hit in hits}
    # An exact copy's real cosine is reported when the search saw it; a
    # fingerprint hit outside the top k is still an exact copy.
    candidates = [Candidate(item=item, cosine=searched.get(item.vid, 1.0), exact=True) for item in exact if admit(item)]
    for hit in hits:
        item = items.get(hit.vid)
        if item is None or not admit(item):
            continue
        margin, nb = None, None
        if background is not None and post_row is not None and hit.row is not None:
            margin = background.margin(hit.cosine, post_row, hit.row, text.lang, item.lang)
            nb = background.neighbourhoods_of(post_row, hit.row, text.lang, item.lang)
        candidates.append(Candidate(item=item, cosine=hit.cosine, margin=margin, neighbourhoods=nb))
    return candidates
