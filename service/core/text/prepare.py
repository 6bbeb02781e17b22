"""Every text (post or reference) is prepared exactly once, here.

One pass gives the four things the rest of the core needs: the clean form the
model embeds, the canonical form lexical matching compares, its fingerprint,
and the detected language. The clean form is computed once and reused by the
other three, so no caller normalises the same text twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from service.core.text.langid import detect_language_of_cleaned
from service.core.text.normalize import canonical_of_cleaned, clean_for_embedding, fingerprint_of_canonical


@dataclass(frozen=True)
class PreparedText:
    cleaned: str
    canonical: str
    # Empty when nothing is left to match (only links, emoji or marks).
    fingerprint: str
    lang: str

    @property
    def matchable(self) -> bool:
        return bool(self.canonical)


# Viral posts come back byte for byte, and for an exact re-upload preparing the
# text is nearly all of Match's cost (language id and the two normalisations,
# pure Python, about 1.2 ms a post; bench/bench_stages.py). The same bytes
# always prepare the same way, so recent texts are kept. Only texts up to
# PREPARED_CACHE_MAX_CHARS are: with both forms that bounds the cache near
# 4,096 x 3 x 1,000 characters (about 25 MB for Urdu, 2 bytes a character),
# where a 32 KB post would cost a hundred times that.
PREPARED_CACHE_TEXTS: Final = 4096
PREPARED_CACHE_MAX_CHARS: Final = 1000


def hash_only(fingerprint: str) -> PreparedText:
    """A hash-only reference's prepared form: its fingerprint, and nothing to embed or compare lexically."""
    return PreparedText(cleaned="", canonical="", fingerprint=fingerprint, lang="und")


def prepare_text(text: str) -> PreparedText:
    if len(text) <= PREPARED_CACHE_MAX_CHARS:
        return _prepare_recent(text)
    return _prepare(text)


@lru_cache(maxsize=PREPARED_CACHE_TEXTS)
def _prepare_recent(text: str) -> PreparedText:
    return _prepare(text)


def _prepare(text: str) -> PreparedText:
    cleaned = clean_for_embedding(text)
    canonical = canonical_of_cleaned(cleaned)
    return PreparedText(
        cleaned=cleaned,
        canonical=canonical,
        fingerprint=fingerprint_of_canonical(canonical) if canonical else "",
        lang=detect_language_of_cleaned(cleaned).lang,
    )
