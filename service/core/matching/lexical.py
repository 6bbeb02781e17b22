"""Lexical near-duplicate signal: overlap of character shingles.

Computed on canonical forms (see normalize.py), so surface variants do not
count as edits. Containment rather than Jaccard, because the edits that matter
are one-sided: a post cut to part of a reference is contained in it, and a
reference wrapped in commentary is contained in the post.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

SHINGLE_CHARS = 5
# Below this many shared shingles (about three short words) containment is
# too easy to reach by chance with a common phrase.
MIN_SHARED_SHINGLES = 12
# A short text contained in a much longer one is a common phrase, not a copy
# ("No casualties have been reported so far." inside a news story): unless
# the shorter side holds at least CONTAINED_MIN_SHINGLES (about 14 words),
# the shared shingles must cover CONTAINED_MIN_COVERAGE of the longer side.
# Measured with `python -m evaluation min-content` on the calibration split:
# this refuses 144 of the 382 negative same-language pairs that reach the
# near-duplicate threshold and none of the 596 near-duplicate edits it flags
# (cut to a part, commentary added), where c = 0.4 loses one and c = 0.5 nine.
CONTAINED_MIN_SHINGLES = 80
CONTAINED_MIN_COVERAGE = 0.3


# A post meets up to 128 candidates and a reference meets many posts, so the
# same text's shingles were rebuilt hundreds of times per call (most of the
# cascade's time, cProfile). A shingle set of a post-sized text is about 20 KB:
# this bounds the cache near 40 MB.
SHINGLE_CACHE_TEXTS = 2048


@lru_cache(maxsize=SHINGLE_CACHE_TEXTS)
def shingles(canonical: str, size: int = SHINGLE_CHARS) -> frozenset[str]:
    text = f" {canonical} "
    if len(text) <= size:
        return frozenset({text}) if canonical else frozenset()
    return frozenset(text[i : i + size] for i in range(len(text) - size + 1))


@dataclass(frozen=True)
class LexicalScore:
    containment: float  # |A∩B| / min(|A|, |B|)
    shared: int
    shorter: int = 0  # shingles of the shorter side
    longer: int = 0  # shingles of the longer side

    @property
    def coverage(self) -> float:
        """|A∩B| / max(|A|, |B|): how much of the longer side the shared part is."""
        return self.shared / self.longer if self.longer else 0.0

    @property
    def score(self) -> float:
        """Containment, discounted to 0 when too little is shared to be a copy (see the constants)."""
        if self.shared < MIN_SHARED_SHINGLES:
            return 0.0
        if self.shorter < CONTAINED_MIN_SHINGLES and self.coverage < CONTAINED_MIN_COVERAGE:
            return 0.0
        return self.containment


def lexical_similarity(a: frozenset[str], b: frozenset[str]) -> LexicalScore:
    if not a or not b:
        return LexicalScore(0.0, 0)
    shared = len(a & b)
    shorter, longer = sorted((len(a), len(b)))
    return LexicalScore(containment=shared / shorter, shared=shared, shorter=shorter, longer=longer)


@lru_cache(maxsize=SHINGLE_CACHE_TEXTS)
def word_count(canonical: str) -> int:
    """Words of a canonical form (the minimum-content rules count them per candidate)."""
    return len(canonical.split())
