"""Language tags as callers write them, and the short codes the service stores.

Platforms send BCP 47 tags (``ur-PK``, ``ps-AF``, ``en-GB``, ``ur-Arab-PK``),
and archives and NLP tools ISO 639-2/3 codes (``urd``, ``pus``, ``eng``). The
service stores, returns, calibrates and counts by the ISO 639-1 codes of
``SUPPORTED_LANGUAGES`` only, so every language a request gives is reduced to
one of them here, once, at the edge: the script, region and any later subtag
say nothing the matcher uses, and keeping them would split one language's
operating points and counts in two.
"""

from __future__ import annotations

import re
from typing import Final

from service.core.domain import SUPPORTED_LANGUAGES
from service.core.errors import InvalidInput

# Primary language subtag (ISO 639-1, or ISO 639-2/3) -> stored code. Pashto
# is a macrolanguage: "pus" names it, and ISO 639-3 has its three varieties,
# Southern (pbt, Kandahari), Northern (pbu, Peshawari) and Central (pst,
# Wanetsi); the service matches them as one language.
_CODES: Final[dict[str, str]] = {
    "en": "en", "eng": "en",
    "ur": "ur", "urd": "ur",
    "ps": "ps", "pus": "ps", "pbt": "ps", "pbu": "ps", "pst": "ps",
}

# BCP 47's shape (RFC 5646 2.1): subtags of 1-8 letters or digits, the first
# of 2-3 letters for a language (4-8 letter primaries are reserved or
# registered for no language here). "_" is accepted too: POSIX locales and
# Java write en_GB.
_SUBTAG: Final = re.compile(r"[a-z0-9]{1,8}")
_MAX_TAG = 64
_ACCEPTED: Final = (
    f"use {', '.join(SUPPORTED_LANGUAGES)}, a BCP 47 tag of one of them (e.g. ur-PK, ps-AF, en-GB) "
    f"or an ISO 639-2/3 code ({', '.join(code for code in _CODES if len(code) == 3)})"
)


def normalise_lang(tag: str, field: str = "lang") -> str:
    """The stored code (en, ur, ps) of a language tag; "" stays "" (no language given: it is detected).

    Any case, "-" or "_" between subtags. Anything else, or another language,
    is refused with an InvalidInput naming ``field``.
    """
    if not tag:
        return ""
    subtags = tag.strip().lower().replace("_", "-").split("-")
    if len(tag) <= _MAX_TAG and all(_SUBTAG.fullmatch(s) for s in subtags):
        code = _CODES.get(subtags[0])
        if code is not None:
            return code
        problem = "unsupported language"
    else:
        problem = "not a language tag"
    raise InvalidInput(field, f"{problem} {tag[:_MAX_TAG]!r}; {_ACCEPTED}")
