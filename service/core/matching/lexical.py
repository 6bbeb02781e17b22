"""Lexical near-duplicate signal: overlap of character shingles.

Computed on canonical forms (see normalize.py), so surface variants do not
count as edits. Containment rather than Jaccard, because the edits that matter
are one-sided: a post cut to part of a reference is contained in it, and a
reference wrapped in commentary is contained in the post.
"""

from __future__ import annotations

from dataclasses import dataclass

SHINGLE_CHARS = 5
# Below this many shared shingles (about three short words) containment is
# too easy to reach by chance with a common phrase.
MIN_SHARED_SHINGLES = 12


def shingles(canonical: str, size: int = SHINGLE_CHARS) -> frozenset[str]:
    text = f" {canonical} "
    if len(text) <= size:
        return frozenset({text}) if canonical else frozenset()
    return frozenset(text[i : i + size] for i in range(len(text) - size + 1))


@dataclass(frozen=True)
class LexicalScore:
    containment: float  # |A∩B| / min(|A|, |B|)
    shared: int

    @property
    def score(self) -> float:
        """Containment, discounted to 0 when too few shingles are shared."""
        return self.containment if self.shared >= MIN_SHARED_SHINGLES else 0.0


def lexical_similarity(a: frozenset[str], b: frozenset[str]) -> LexicalScore:
    if not a or not b:
        return LexicalScore(0.0, 0)
    shared = len(a & b)
    return LexicalScore(
        containment=shared / min(len(a), len(b)),
        shared=shared,
    )
