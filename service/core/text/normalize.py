"""Text normalisation for matching Urdu, Pashto and English propaganda.

Two levels, because the two consumers want different things:

* :func:`clean_for_embedding` removes only what is *not part of the message*
  (invisible characters, URLs, @mentions, hashtags, emoji, forwarding
  wrappers).  Case, punctuation and letters are kept because the multilingual
  embedding model was trained on ordinary text and uses them.
* :func:`canonical_form` additionally erases every *orthographic* choice a
  re-uploader can make without changing the words: compatibility forms, case,
  diacritics, Arabic-vs-Persian/Urdu code points for the same letter, digit
  systems, punctuation and spacing.  Its output feeds exact fingerprints and
  lexical shingles, so it must be deterministic and idempotent.

Letter decisions for the Arabic script (each is pinned by tests):

* **Yeh**: Arabic ي (U+064A) and ى (U+0649) become ی (U+06CC).  Arabic
  keyboards produce the former, Urdu/Persian keyboards the latter, for the same
  word.  This deliberately also folds Pashto's dotted ي into ی: Pashto does
  distinguish them (دي "they are" vs دی "he is"), but the corpora we see mix
  them freely (the TICO-19 Pashto side alone has ~15k ي), so keeping them apart
  would split re-uploads far more often than it would separate two messages.
  ې (U+06D0), ۍ (U+06CD) and ے (U+06D2) stay distinct: they are different
  letters with different grammar (Urdu کے vs کی, Pashto کې vs کی).
* **Kaf**: Arabic ك (U+0643) becomes keheh ک (U+06A9), same reasoning.
* **Heh**: ه (U+0647), ہ (U+06C1), ۀ (U+06C0), ۂ (U+06C2), ة (U+0629), ۃ (U+06C3)
  and ە (U+06D5) all become ه (U+0647).  ه is chosen because it is what the
  Pashto, Persian and Arabic keyboards produce and what NFKC yields for the
  Arabic presentation forms, and Urdu text typed on Arabic keyboards already
  uses ه for ہ.  ۀ is folded too: in Pashto it marks a final schwa that most
  writers spell with plain ه (زه/زۀ "I"), and in Urdu/Persian it is heh plus an
  optional hamza.  The do-chashmi heh ھ (U+06BE) is *not* folded: in Urdu it
  marks aspiration (بھ, پھ), so پھر and پہر are different words.
* **Alef**: أ إ آ ٱ (and ٲ ٳ) become ا.  Hamza and madda on alef are optional
  in everyday Urdu/Pashto typing, and the decomposed spellings (ا + U+0653/4/5)
  would reduce to bare ا anyway once diacritics are stripped; folding the
  precomposed letters too makes the result independent of how the input was
  Unicode-normalised.
* **Hamza carriers**: ؤ → و and ئ → ی, for the same decomposition argument;
  it also unifies the common Urdu spelling pairs لئے/لیے and مؤثر/موثر.
  ۓ (U+06D3) becomes یے rather than bare ے, because it is the one-character
  spelling of ئے (ہوۓ = ہوئے, گۓ = گئے) and ئ already becomes ی.
  The standalone hamza ء is a letter and is kept.
* **Gaf**: Pashto ګ (U+06AB) becomes گ (U+06AF).  Pashto writers (especially
  in Pakistan) use both for the same /g/ and no Pashto word pair is told apart
  by them, so this only unifies spellings.  Every *other* Pashto-only letter
  (ښ ږ ځ څ ټ ډ ړ ې ۍ ڼ) is kept: each is a separate phoneme and merging it with
  its look-alike (ش ژ ح ت د ر ی ن) would collapse different words.
* Urdu-only letters ٹ ڈ ڑ ں ھ ے are kept distinct from Pashto ټ ډ ړ and
  from ت د ر ن ه ی.

Stability: the fingerprint of a text depends on this module *and* on the
Unicode tables of the running Python (``unicodedata.unidata_version``).  The
golden values in the tests catch accidental changes; bump the index when either
changes deliberately.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from typing import Final, Literal

__all__ = ["canonical_form", "canonical_of_cleaned", "clean_for_embedding", "fingerprint", "fingerprint_of_canonical"]

# ---------------------------------------------------------------------------
# Invisible characters.  Deleted (not turned into spaces) because they sit
# *inside* words: a ZWNJ in an Urdu compound or an LRM pasted next to a Latin
# acronym must not split the word in two.

_INVISIBLES: Final[frozenset[str]] = frozenset(
    [
        "\u00ad",  # soft hyphen
        "\u034f",  # combining grapheme joiner
        "\u061c",  # Arabic letter mark (ALM)
        "\u0640",  # tatweel: pure justification, never changes the word
        "\u180e",  # Mongolian vowel separator (used as an invisible spacer)
        "\u200b",  # zero width space
        "\u200c",  # ZWNJ
        "\u200d",  # ZWJ
        "\u200e",  # LRM
        "\u200f",  # RLM
        "\u202a",  # LRE
        "\u202b",  # RLE
        "\u202c",  # PDF
        "\u202d",  # LRO
        "\u202e",  # RLO
        "\u2060",  # word joiner
        "\u2061",  # invisible function application
        "\u2062",  # invisible times
        "\u2063",  # invisible separator
        "\u2064",  # invisible plus
        "\u2066",  # LRI
        "\u2067",  # RLI
        "\u2068",  # FSI
        "\u2069",  # PDI
        "\ufeff",  # BOM / zero width no-break space
    ]
)
_INVISIBLE_TABLE: Final[dict[int, None]] = {ord(c): None for c in _INVISIBLES}

# ---------------------------------------------------------------------------
# Forwarding wrappers.  Only the labels apps actually emit, case-sensitive:
# canonical_form output is casefolded and punctuation-free, so it can never
# match one of these again, which keeps canonical_form idempotent.

# Both patterns are applied to single lines (str.splitlines output), so they
# never see a line break.  Every run of blanks that a neighbouring \s* could
# also take is possessive (*+): otherwise a line of many spaces that is *not*
# a label is retried with every split of the run between the two quantifiers,
# which is quadratic (32 KB of spaces after "Forwarded" took seconds).  The
# possessive forms accept exactly the same lines: each of those runs is
# followed by a character the run cannot contain, so giving blanks back could
# never have produced a different match.

# A whole line that is nothing but a wrapper label.
_WRAPPER_LINE: Final[re.Pattern[str]] = re.compile(
    r"""^\s*+(?:
          \[?\s*+Forwarded\ from\b[^\n]*         # Telegram copy: "Forwarded from <channel>"
        | -*+\s*+Forwarded\ message\s*+-*+\s*+:?  # e-mail / Gmail separator
        | Forwarded(?:\ many\ times)?\s*+:?     # WhatsApp label
        | (?:کئی\ بار\ )?فارورڈ\ (?:کیا\ گیا|کردہ|شدہ)\s*+:?   # Urdu WhatsApp/Telegram
        | آگے\ بھیجا\ گیا\s*+:?                  # Urdu "sent onward"
        | (?:څو\ ځله\ )?فارورډ\ (?:شوی|شوې|شوي)\s*+:?        # Pashto
    )\s*+$""",
    re.VERBOSE | re.MULTILINE,
)

# A label at the start of a line, followed by the real message.  No "^": it
# is applied with .match(line, pos) at the end of the previous label, so that
# peeling "Fwd: Fwd: ..." does not copy the rest of the line once per label.
_WRAPPER_PREFIX: Final[re.Pattern[str]] = re.compile(
    r"""[ \t]*+(?:
          RT\ @\w++\s*+:?                       # retweet
        | (?:Fwd?|FW|FWD):                      # e-mail subject prefix
        | \[?\s*+Forwarded\ from\ [^:\n\]]{1,80}[:\]]  # "Forwarded from X: text"
        | Forwarded(?:\ message)?:             # "Forwarded: text"
        | فارورڈ\s*+:                            # Urdu "Forwarded:"
        | فارورډ\s*+:                            # Pashto "Forwarded:"
    )[ \t]*+""",
    re.VERBOSE,
)

# ---------------------------------------------------------------------------
# URLs, e-mail addresses, mentions, hashtags.  They vary between re-uploads
# of the same message (different channel, shortener, campaign tag) and carry
# no meaning the embedding model could use, so they are removed whole.

# A URL ends at whitespace; sentence punctuation right after it is not part
# of it and stays in the text.  Spelled as "runs of punctuation, each followed
# by something that is not punctuation": that stops after the last
# non-punctuation character of the \S run, exactly where the lazy
# \S*?(?=[punct]*(?:\s|$)) it replaces stopped, but without rescanning the
# punctuation at every step ("http://x" + 32 KB of dots took 7 s).
_URL_PUNCT: Final[str] = r""".,;:!?)\]}'"»”’،۔؟"""
_URL_END: Final[str] = "(?:[" + _URL_PUNCT + "]*+[^\\s" + _URL_PUNCT + "])*+"

# The URL rule is one leftmost-first alternation, in this order:
#   1. explicit scheme (http://, https://, ftp://) or www., up to _URL_END;
#   2. bare host with a path (t.me/x, bit.ly/x, youtu.be/x), up to _URL_END;
#   3. bare host without a path, only for TLDs unlikely to be a missing space
#      after a full stop ("it.Me").
# Forms 2 and 3 are kept as separate patterns because a single re.sub over
# the alternation is quadratic: it retries them at every word boundary of a
# dotted run ("a.a.a.a...", "a-a-a-a.") and each try scans to the run's end.
# _remove_urls reproduces the alternation's matches exactly while trying each
# form only where its outcome is not already known (see there).
_URL_PREFIXED: Final[re.Pattern[str]] = re.compile(
    r"""\b(?:https?|ftp)://""" + _URL_END + r"""   # explicit scheme
      | \bwww\.""" + _URL_END + r"""               # www. without scheme
    """,
    re.VERBOSE | re.IGNORECASE,
)
_URL_HOST_PATH: Final[re.Pattern[str]] = re.compile(
    r"""\b[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?      # labels that start and
        (?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)* #   end alphanumeric,
        \.[A-Za-z]{2,}/""" + _URL_END + r"""            #   a letter TLD, a "/"
    """,
    re.VERBOSE | re.IGNORECASE,
)
_URL_BARE_HOST: Final[re.Pattern[str]] = re.compile(
    r"""\b[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*
        \.(?:com|org|net|info|pk|af|gov|edu)\b
    """,
    re.VERBOSE | re.IGNORECASE,
)
# Helpers for _remove_urls.  All use the same classes and flags as the URL
# patterns: under IGNORECASE [A-Za-z] also matches K (Kelvin), ı, ſ and İ.
# A maximal run of host characters followed by a dot: forms 2 and 3 both need
# their first label to be such a run (or its tail).  The lookbehind makes the
# search try only run starts, so finding runs is linear.
_DOTTED_RUN: Final[re.Pattern[str]] = re.compile(r"(?<![A-Za-z0-9-])[A-Za-z0-9-]++(?=\.)", re.IGNORECASE)
_DOTTED_RUN_TAIL: Final[re.Pattern[str]] = re.compile(r"[A-Za-z0-9-]++(?=\.)", re.IGNORECASE)
# Where form 3 (any host character) and form 2 (alphanumeric only) may start.
_HOST_START: Final[re.Pattern[str]] = re.compile(r"\b[A-Za-z0-9-]", re.IGNORECASE)
_LABEL_START: Final[re.Pattern[str]] = re.compile(r"\b[A-Za-z0-9]", re.IGNORECASE)
# The dot-separated host that form 3 walks through from a start.
_HOST_CHAIN: Final[re.Pattern[str]] = re.compile(r"[A-Za-z0-9-]*+(?:\.[A-Za-z0-9-]++)*+", re.IGNORECASE)
# The labels form 2 walks through from a start: each further label begins
# alphanumeric and the one before it ended alphanumeric.
_LABEL_WALK: Final[re.Pattern[str]] = re.compile(
    r"[A-Za-z0-9-]*+(?:(?<=[A-Za-z0-9])\.[A-Za-z0-9][A-Za-z0-9-]*+)*+", re.IGNORECASE
)

# Only an address that starts where a run of local-part characters starts can
# match: any later start in the same run reaches the same "@", so when the
# first start fails they all fail, and retrying them made a 32 KB run without
# an "@" cost O(n^2).  The outer repetition covers the one case where the old
# per-address pattern did start inside such a run: right after the previous
# address ("a@b.c+d@e.f" is two addresses).  The possessive quantifiers only
# save backtracking: no class contains the character that must follow it.
_EMAIL: Final[re.Pattern[str]] = re.compile(r"(?<![\w.+-])(?:[\w.+-]++@[\w-]++(?:\.[\w-]++)++)++")
# Arabic harakat are category Mn, which \w does not match, so allow them
# explicitly or a vocalised Urdu hashtag would be cut in half.
_TAG_BODY: Final[str] = r"(?:\w|[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed])+"
_MENTION: Final[re.Pattern[str]] = re.compile(r"(?<!\w)[@＠]" + _TAG_BODY)
_HASHTAG: Final[re.Pattern[str]] = re.compile(r"(?<!\w)[#＃]" + _TAG_BODY)

_WHITESPACE: Final[re.Pattern[str]] = re.compile(r"\s+")
_KEYCAP: Final[re.Pattern[str]] = re.compile("[0-9#*]\ufe0f?\u20e3")

# ---------------------------------------------------------------------------
# Emoji.  Removed because uploaders add or swap them freely.  Category So is
# only treated as emoji from U+2000 upwards: below that it holds © ® ° and the
# Arabic signs ؎ ؏ ۞, which are text.  The Arabic presentation-form blocks
# (e.g. ﷽, U+FDFD) are also text and are kept.

_EMOJI_EXTRA: Final[frozenset[int]] = frozenset(
    [0x20E3]  # combining enclosing keycap (1️⃣)
    + list(range(0xFE00, 0xFE10))  # variation selectors (text/emoji presentation)
    + list(range(0xE0100, 0xE01F0))  # variation selectors supplement
    + list(range(0xE0000, 0xE0080))  # tag characters (subdivision flags)
    + list(range(0x1F3FB, 0x1F400))  # skin-tone modifiers (category Sk)
)


def _is_emoji(ch: str) -> bool:
    cp = ord(ch)
    if cp in _EMOJI_EXTRA:
        return True
    if cp < 0x2000 or 0xFB50 <= cp <= 0xFDFF or 0xFE70 <= cp <= 0xFEFF:
        return False
    if unicodedata.category(ch) == "So":
        return True
    # Emoji blocks contain a few unassigned or non-So code points in older
    # Unicode tables; treat the whole pictographic planes as emoji so that a
    # newer emoji never leaks into the text just because Python is older.
    return 0x1F000 <= cp <= 0x1FAFF


class _CharTable(dict[int, str]):
    """A ``str.translate`` table filled on first sight of each code point from a per-character rule.

    The rules below are pure functions of one character, so their answers are
    kept: ``translate`` then does in C what a generator over the text did in
    Python, several times faster. Only the Basic Multilingual Plane is kept
    (at most 65,536 entries), so no input can grow the table without bound.
    """

    def __init__(self, rule: Callable[[str], str]) -> None:
        super().__init__()
        self._rule = rule

    def __missing__(self, cp: int) -> str:
        out = self._rule(chr(cp))
        if cp < 0x10000:
            self[cp] = out
        return out


def _emoji_to_space(ch: str) -> str:
    return " " if _is_emoji(ch) else ch


_EMOJI_TABLE: Final = _CharTable(_emoji_to_space)


def _match_end(pattern: re.Pattern[str], text: str, at: int) -> int:
    m = pattern.match(text, at)
    return at if m is None else m.end()


def _next_dotted_run(text: str, pos: int) -> re.Match[str] | None:
    # pos may be inside a run (a bare host can end before a hyphen: "a.com-b."),
    # and then the rest of that run counts too.
    return _DOTTED_RUN_TAIL.match(text, pos) or _DOTTED_RUN.search(text, pos)


def _remove_urls(text: str) -> str:
    """Replace each URL by a space: the matches, leftmost first, of the
    alternation described at _URL_PREFIXED, in time linear in the text.

    Forms 2 and 3 can only start at a word boundary inside a dotted run (their
    first label must be followed by a dot).  Within one run every start of a
    form reaches the same dot and so has the same outcome, and along a dotted
    host a later start sees a suffix of what an earlier one saw.  So each form
    is tried at the first start of a run only, and after a failure the rest of
    the host it walked through is recorded as known to fail.  Form 1 is
    located by its own search; it wins at its position and loses to any form
    2/3 match that starts earlier.
    """
    out: list[str] = []
    pos = 0  # end of the previous URL; the alternation would resume here
    path_fails_before = 0  # form 2 is known to fail at every start before this
    bare_fails_before = 0  # form 3 likewise
    prefixed = _URL_PREFIXED.search(text)
    run = _next_dotted_run(text, 0)
    while True:
        if prefixed is not None and prefixed.start() < pos:
            prefixed = _URL_PREFIXED.search(text, pos)
        limit = len(text) if prefixed is None else prefixed.start()
        if run is not None and run.start() < pos:
            run = _next_dotted_run(text, pos)
        hit: re.Match[str] | None = None
        while hit is None and run is not None and run.start() < limit:
            run_start, run_end = run.span()
            start = _HOST_START.search(text, run_start, run_end)
            if start is not None and start.group() == "-":
                # Only form 3 can start at a hyphen (after a word character).
                at = start.start()
                if limit <= at:
                    break
                if bare_fails_before <= at:
                    hit = _URL_BARE_HOST.match(text, at)
                    if hit is None:
                        bare_fails_before = _match_end(_HOST_CHAIN, text, at)
                start = _LABEL_START.search(text, at, run_end) if hit is None else None
            if start is not None and start.start() < limit:
                at = start.start()
                if path_fails_before <= at:
                    hit = _URL_HOST_PATH.match(text, at)
                    if hit is None:
                        path_fails_before = _match_end(_LABEL_WALK, text, at)
                if hit is None and bare_fails_before <= at:
                    hit = _URL_BARE_HOST.match(text, at)
                    if hit is None:
                        bare_fails_before = _match_end(_HOST_CHAIN, text, at)
            if hit is None:
                # Runs that end before both marks hold no start left to try.
                run = _DOTTED_RUN.search(text, max(run_end, min(path_fails_before, bare_fails_before)))
        if hit is None:
            hit = prefixed
        if hit is None:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos : hit.start()])
        out.append(" ")
        pos = hit.end()


def _scrub(text: str) -> str:
    """Remove invisibles, links, mentions, hashtags and emoji.

    Kept separate from wrapper stripping so canonical_form can re-run it after
    NFKC (full-width ＠ or ｗｗｗ only become recognisable then) without
    re-running the line-based wrapper logic on an already flattened string.
    """
    text = text.translate(_INVISIBLE_TABLE)
    # Keycaps first: their base is an ordinary digit or "#" that would
    # otherwise survive as text or start a hashtag.
    text = _KEYCAP.sub(" ", text)
    # Spaces, not deletion: a link glued to a word must not glue its neighbours.
    # E-mail before URL, or the URL rule would eat the domain and leave "name@".
    # One space per address, as the per-address pattern gave.
    text = _EMAIL.sub(lambda m: " " * m.group().count("@"), text)
    text = _remove_urls(text)
    text = _MENTION.sub(" ", text)
    text = _HASHTAG.sub(" ", text)
    return text.translate(_EMOJI_TABLE)


def _strip_wrappers(text: str) -> str:
    lines = text.splitlines()
    kept: list[str] = []
    for line in lines:
        # Wrappers nest ("Fwd: RT @a: ..."), so peel until nothing matches.
        # Every label is non-empty, so pos always advances.
        pos = 0
        while (label := _WRAPPER_PREFIX.match(line, pos)) is not None:
            pos = label.end()
        kept.append(line[pos:])
    content = [line for line in kept if line.strip() and not _WRAPPER_LINE.match(line)]
    # A lone label is the message itself, not a wrapper around one; keeping it
    # also stops a one-line output from being emptied on a second pass.
    if not content:
        return "\n".join(kept)
    return "\n".join(content)


# CPython's unicodedata puts every run of combining marks into canonical order
# with an insertion sort, so normalising is quadratic in the length of a run
# whose marks alternate between classes ("ب" + "\u0654\u064e" * 8000, 32 KB,
# took 0.14 s per call and 4x per doubling).  _normalize sorts such runs
# first, stably by combining class, which is exactly what canonical ordering
# does to them, so the library finds nothing left to move and the result is
# the same string.  Shorter runs cost the library little and are left alone.
# No combining mark matches [\w\s] (checked for every code point of Python
# 3.11's Unicode 14), so every long run of marks lies inside a match here; if
# a later Unicode broke that, only the speed-up would be lost, not the result.
_LONG_MARK_RUN: Final[re.Pattern[str]] = re.compile(r"[^\w\s]{32,}")
_DECOMPOSED: Final[dict[str, Literal["NFD", "NFKD"]]] = {"NFC": "NFD", "NFD": "NFD", "NFKC": "NFKD", "NFKD": "NFKD"}


def _sort_marks(run: str, decomposed: Literal["NFD", "NFKD"]) -> str:
    # Decomposing one character at a time is linear and gives what the
    # library's own decomposition step would (Tibetan U+0F73 becomes its two
    # marks, which then sort like any other).  A stable sort of part of a run
    # of marks leaves the canonical order of the whole run unchanged, so runs
    # cut off at the ends of this match still come out right.
    out: list[str] = []
    marks: list[str] = []
    for ch in "".join(unicodedata.normalize(decomposed, c) for c in run):
        if unicodedata.combining(ch):
            marks.append(ch)
            continue
        if marks:
            out.extend(sorted(marks, key=unicodedata.combining))
            marks.clear()
        out.append(ch)
    out.extend(sorted(marks, key=unicodedata.combining))
    return "".join(out)


def _normalize(form: Literal["NFC", "NFD", "NFKC", "NFKD"], text: str) -> str:
    """``unicodedata.normalize(form, text)`` in time linear in the text."""
    decomposed = _DECOMPOSED[form]
    if _LONG_MARK_RUN.search(text) is not None:
        text = _LONG_MARK_RUN.sub(
            lambda m: m.group() if unicodedata.is_normalized(decomposed, m.group()) else _sort_marks(m.group(), decomposed),
            text,
        )
    return unicodedata.normalize(form, text)


# Passes are repeated until the text stops changing.  One pass nearly always
# suffices; the second exists because flattening lines can create a wrapper
# that only appears once two lines are joined ("Fwd" + newline + ": x").
# Iterating to a fixed point makes both functions idempotent by construction.
_MAX_PASSES: Final[int] = 8


def _clean_once(text: str) -> str:
    text = _normalize("NFC", text)
    # Invisibles first so an RLM before "Forwarded from" cannot hide the label.
    text = text.translate(_INVISIBLE_TABLE)
    text = _strip_wrappers(text)
    text = _scrub(text)
    return _WHITESPACE.sub(" ", text).strip()


def clean_for_embedding(text: str) -> str:
    """Light clean-up before the embedding model: drop noise, keep language.

    Removes invisible/bidi characters and tatweel, forwarding wrappers, URLs,
    e-mail addresses, @mentions, #hashtags and emoji, then collapses
    whitespace.  Case, letters, digits and punctuation are left alone.
    """
    return _fixed_point(_clean_once, text)


def _fixed_point(step: Callable[[str], str], text: str) -> str:
    """Apply ``step`` until the text stops changing (at most ``_MAX_PASSES`` times)."""
    for _ in range(_MAX_PASSES):
        again = step(text)
        if again == text:
            break
        text = again
    return text


# ---------------------------------------------------------------------------
# canonical_form tables.

# Combining marks to delete.  Arabic harakat and Quranic annotation marks are
# optional in all three languages; Latin combining accents (after NFKD) only
# distinguish spellings like café/cafe.  Marks of other scripts (Devanagari
# vowel signs, ...) are real letters and are kept.
_DROP_MARKS: Final[frozenset[int]] = frozenset(
    list(range(0x0300, 0x0370))  # combining diacritical marks
    + list(range(0x0610, 0x061B))  # Arabic honorific signs (ﷺ-style) and small marks
    + list(range(0x064B, 0x0660))  # harakat, shadda, sukun, hamza/madda above & below
    + [0x0670]  # superscript alef
    + list(range(0x06D6, 0x06DD))  # Quranic small high ligatures
    + list(range(0x06DF, 0x06E9))  # Quranic marks incl. small waw/yeh (Lm)
    + list(range(0x06EA, 0x06EE))  # Quranic low marks
    + list(range(0x08D3, 0x0900))  # Arabic Extended-A marks
)

_LETTER_MAP: Final[dict[int, str]] = {
    # yeh
    0x064A: "\u06cc",  # ي -> ی
    0x0649: "\u06cc",  # ى -> ی
    0x0626: "\u06cc",  # ئ -> ی
    # kaf
    0x0643: "\u06a9",  # ك -> ک
    # heh (ھ U+06BE deliberately absent)
    0x06C1: "\u0647",  # ہ -> ه
    0x06C0: "\u0647",  # ۀ -> ه
    0x06C2: "\u0647",  # ۂ -> ه
    0x0629: "\u0647",  # ة -> ه
    0x06C3: "\u0647",  # ۃ -> ه
    0x06D5: "\u0647",  # ە -> ه
    # alef
    0x0622: "\u0627",  # آ
    0x0623: "\u0627",  # أ
    0x0625: "\u0627",  # إ
    0x0671: "\u0627",  # ٱ
    0x0672: "\u0627",  # ٲ
    0x0673: "\u0627",  # ٳ
    # waw with hamza
    0x0624: "\u0648",  # ؤ -> و
    # gaf
    0x06AB: "\u06af",  # ګ -> گ
    # Modifier-letter apostrophes/primes are category Lm, so they would
    # survive as letters while ' and ’ become spaces; treat them alike.
    0x02B9: " ",
    0x02BA: " ",
    0x02BB: " ",
    0x02BC: " ",
    0x02BD: " ",
}

# After NFKD, some letters arrive as base + hamza-above; the generic mark
# stripping would turn them into a *different* letter.  Rewrite those first.
_RECOMPOSE: Final[tuple[tuple[str, str], ...]] = (
    # ح + hamza is how some input methods produce Pashto ځ; keep it ځ.
    ("\u062d\u0654", "\u0681"),
    # ۓ (= ے + hamza) is the one-character spelling of ئے: ہوۓ and ہوئے are
    # the same word.  ئ folds to ی, so ۓ must become یے, not bare ے.
    ("\u06d2\u0654", "\u06cc\u06d2"),
)


# Harakat may sit between the base and its hamza: canonical ordering puts
# fatha/kasra (ccc 30-32) before hamza above (ccc 230), so a vocalised ۓ
# decomposes to ے + fatha + hamza and would otherwise lose its hamza.
_RECOMPOSE_RE: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(re.escape(seq[0]) + "[\u064b-\u0652]*" + re.escape(seq[1:])), letter) for seq, letter in _RECOMPOSE
)


def _canon_char(ch: str) -> str:
    cp = ord(ch)
    if cp in _DROP_MARKS:
        return ""
    mapped = _LETTER_MAP.get(cp)
    if mapped is not None:
        return mapped
    cat = unicodedata.category(ch)
    if cat == "Nd":
        # Any decimal digit system (Arabic-Indic, Extended Arabic-Indic,
        # Devanagari, ...) writes the same number.
        return str(unicodedata.decimal(ch))
    if cat[0] in "PSZ" or cat in ("Cc", "Cf"):
        # Punctuation and symbols only separate words; making them spaces
        # keeps "word,word" two words while ignoring which mark was used.
        return " "
    return ch


_CANON_TABLE: Final = _CharTable(_canon_char)


def _canonical_once(text: str) -> str:
    return _canonical_of_cleaned_once(clean_for_embedding(text))


def _canonical_of_cleaned_once(text: str) -> str:
    text = _normalize("NFKC", text)
    # NFKC can reveal full-width @/#/URLs and turn compatibility characters
    # into emoji-range code points, so scrub again.
    text = _scrub(text)
    text = text.casefold()
    # NFKD after casefold: casefold can emit sequences that are not yet in
    # compatibility-decomposed form, and full decomposition exposes every
    # diacritic (including hamza/madda inside أ ؤ ئ آ) to the stripping below.
    text = _normalize("NFKD", text)
    for pattern, letter in _RECOMPOSE_RE:
        text = pattern.sub(letter, text)
    text = text.translate(_CANON_TABLE)
    text = _WHITESPACE.sub(" ", text).strip()
    # Compose at the end so scripts whose marks we keep (Devanagari, Hangul,
    # ...) come out in their usual precomposed form.
    return _normalize("NFC", text)


def canonical_form(text: str) -> str:
    """Aggressive normal form for exact fingerprints and lexical shingles.

    Everything :func:`clean_for_embedding` does, then NFKC, casefold,
    diacritic removal, Arabic-script letter unification (see module docstring),
    digits to ASCII, punctuation and symbols to spaces, whitespace collapse.
    Idempotent: ``canonical_form(canonical_form(x)) == canonical_form(x)``.
    """
    return canonical_of_cleaned(clean_for_embedding(text))


def canonical_of_cleaned(cleaned: str) -> str:
    """:func:`canonical_form` of a text that :func:`clean_for_embedding` already cleaned.

    ``canonical_form(t) == canonical_of_cleaned(clean_for_embedding(t))``; this
    saves the first pass's clean-up when the caller has the clean form anyway
    (``text/prepare.py``).
    """
    return _fixed_point(_canonical_once, _canonical_of_cleaned_once(cleaned))


def fingerprint_of_canonical(canonical: str) -> str:
    """Hex SHA-256 of a canonical form: the exact-match fingerprint."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def fingerprint(text: str) -> str:
    """Hex SHA-256 of :func:`canonical_form`; equal for surface variants."""
    return fingerprint_of_canonical(canonical_form(text))
