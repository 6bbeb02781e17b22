"""Every text (post or reference) is prepared exactly once, here.

One pass gives the four things the rest of the core needs: the clean form the
model embeds, the canonical form lexical matching compares, its fingerprint,
and the detected language. The clean form is computed once and reused by the
other three, so no caller normalises the same text twice.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def prepare_text(text: str) -> PreparedText:
    cleaned = clean_for_embedding(text)
    canonical = canonical_of_cleaned(cleaned)
    return PreparedText(
        cleaned=cleaned,
        canonical=canonical,
        fingerprint=fingerprint_of_canonical(canonical) if canonical else "",
        lang=detect_language_of_cleaned(cleaned).lang,
    )
