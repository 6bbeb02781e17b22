"""Language identification for English, Urdu and Pashto posts.

The service only has models and reference sets for ``en``, ``ur`` and ``ps``,
so the real question is "which of our three, if any?".  A general-purpose
detector would need a model download and is unreliable on 3-10 word posts;
the three target languages are easy to separate with explicit evidence:

* **Script.**  Latin letters point to English, Arabic-script letters to Urdu
  or Pashto, any other script (Devanagari, Cyrillic, CJK, ...) to ``other``.
* **Letters** that exist in only one of the orthographies.  Pashto has
  ښ ږ ځ څ ټ ډ ړ ګ ې ۍ ڼ, Urdu has ٹ ڈ ڑ ں ھ ے ۓ ہ.  Arabic proper is marked by
  ة and ك, Sindhi/Kurdish/Uyghur by their own letters.  Almost every Urdu or
  Pashto sentence contains several of these, so even a three-word post is
  usually decided by letters alone.
* **Function words** as the second signal and the only one for languages
  that share an alphabet: Persian and Arabic use the same letters as
  Urdu/Pashto minus the special ones, and Spanish/Indonesian use the same
  letters as English.  Words that are common in two candidate languages
  (Urdu/Pashto پر, Pashto/Persian به and او, English/Roman-Urdu to) are left
  out of the lists on purpose.

Each candidate gets an evidence score ``E``; within a script the shares are
proportional to ``(E + prior)**2``.  Squaring makes a single exclusive letter
decisive when nothing contradicts it while keeping the answer soft when both
sides have evidence; the priors decide ambiguous text (Urdu is the largest of
our Arabic-script languages, English the default for Latin script).

``mixed`` is reported only when two *scripts* each carry a substantial part of
the text and each part looks like language rather than a stray acronym
(COVID-19, SARS-CoV-2 and channel names are common inside Urdu and Pashto
posts and must not make them "mixed").

Latin-script (Roman) Urdu is recognised from its function words and reported
as ``ur``, because that is what it is; Roman Pashto is not attempted (its
spelling is too unstable and overlaps Roman Urdu).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from service.core.domain import SUPPORTED_LANGUAGES
from service.core.text.normalize import clean_for_embedding

__all__ = ["LANGUAGES", "LanguageGuess", "detect_language", "detect_language_of_cleaned"]

#: Keys of :attr:`LanguageGuess.scores`.
LANGUAGES: Final[tuple[str, ...]] = (*SUPPORTED_LANGUAGES, "other")


@dataclass(frozen=True)
class LanguageGuess:
    """Result of :func:`detect_language`.

    ``lang`` is "en", "ur", "ps", "mixed", "other" or "und" (no letters).
    ``scores`` always has the keys in :data:`LANGUAGES`; they sum to 1 unless
    the text has no letters, in which case they are all 0.  For "mixed" the two
    largest scores are the languages that were mixed.
    """

    lang: str
    confidence: float
    scores: Mapping[str, float]


# ---------------------------------------------------------------------------
# Letter evidence (Arabic script).

_PS_LETTERS: Final[frozenset[str]] = frozenset("ښږځڅټډړګېۍڼ")
_UR_LETTERS: Final[frozenset[str]] = frozenset("ٹڈڑںھےۓہۂۃ")
# Arabic proper: ة and ك never occur in Urdu/Pashto typed on their own
# keyboards; alef with hamza is common in Arabic and rare in Urdu/Pashto.
_AR_LETTERS: Final[Mapping[str, float]] = MappingProxyType(
    {"ة": 1.5, "ك": 1.5, "ى": 1.0, "أ": 0.7, "إ": 0.7}
)
# Letters of Sindhi, Kashmiri, Kurdish, Uyghur, etc.
_OTHER_AR_LETTERS: Final[frozenset[str]] = frozenset("ڀٻڄڃڇڊڌڍڏڙڦڪڱڳ۾ێۆڵڕەۇۈۋڭ")
# Arabic heh ه and dotted yeh ي are shared by Pashto, Persian and Arabic, but
# Urdu normally writes ہ and ی instead (in the TICO-19/NTREX Urdu text ه is
# under 8% of hehs and ي almost absent).  Weak evidence against Urdu only.
_NOT_UR_LETTERS: Final[frozenset[str]] = frozenset("هي")
_W_NOT_UR_LETTER: Final[float] = 0.3

_HARAKAT: Final[frozenset[str]] = frozenset(
    chr(c)
    for c in [*range(0x0610, 0x061B), *range(0x064B, 0x0660), 0x0670, *range(0x06D6, 0x06EE)]
)
_FOLD: Final[dict[int, str]] = {
    ord("ي"): "ی",
    ord("ى"): "ی",
    ord("ك"): "ک",
    ord("أ"): "ا",
    ord("إ"): "ا",
    ord("آ"): "ا",
    ord("ٱ"): "ا",
}


def _fold_token(token: str) -> str:
    return "".join(ch for ch in token if ch not in _HARAKAT).translate(_FOLD)


def _folded(words: str) -> frozenset[str]:
    # Lists are written in natural spelling (Pashto وي, شي with ي) and folded
    # the same way as the text, so they cannot silently drift apart.
    return frozenset(_fold_token(w) for w in words.split())


# ---------------------------------------------------------------------------
# Function words.  Spelled after _fold_token (ي/ى -> ی, ك -> ک, alef variants
# -> ا, no harakat); heh, yeh barree and Pashto ې are *not* folded because they
# are evidence.

_UR_WORDS: Final[frozenset[str]] = _folded(
    """
    ہے ہیں ہوں کے کا کو نے سے میں اور یہ وہ تھا تھی تھے گیا گئی گئے ہو ہوا
    ہوئے ہوئی ہوتا ہوتی ہوتے ہونے کر کرنے کرتے کرنا کیا جو بھی نہیں نہ لیے لئے
    ساتھ ایک اس ان تو ہم اپ جس جب تک کہ والے والی رہا رہی رہے سکتا سکتے سکتی
    اپنے اپنی لیکن کچھ بہت کوئی کسی ہر اگر بعد ہمیں انہیں اسے یہاں وہاں کیونکہ
    گا گی گے سب
    """
)
# Urdu کی is very common but Pashto writers also type کې as کی; it still
# counts for Urdu, at a lower weight.  (Pashto نه/هر/ما below are spelled
# with ه/ا; the Urdu words are نہ/ہر, so the lists do not overlap.)
_UR_WEAK_WORDS: Final[frozenset[str]] = _folded("کی")

_PS_WORDS: Final[frozenset[str]] = _folded(
    """
    د په او چې چی ده دي ته کې هم دا وي شوي شوی شوې کړي کړې له څخه سره
    لپاره یې یی خو هغه دغه کوي شي شی وو دې یو یوه څو باندې پورې لري موږ
    مونږ زه تاسو دوی کله داسې ځینې نور نورو خپل خپله ورته کښې کوم نه هر
    زما ستا ستاسو زموږ زمونږ شوه شول شو وه لرئ لرم لرو کړه کړئ کوئ وکړئ وکړي
    نن سهار ایا یاست یم یئ دلته هلته اوس بیا ډیر ډېر خورا لږ مخکې څنګه ولې
    چیرې هیڅ دوه داسی
    """
)
# دی is Pashto "is" but also Urdu "gave"; تر is Pashto "until/than" but also
# the Urdu "زیادہ تر"; ما is Pashto "me" but Persian "we"; weak.
_PS_WEAK_WORDS: Final[frozenset[str]] = _folded("دی تر ما")

# Persian and Arabic (both "other").  Words that also occur as Urdu or Pashto
# function words (Persian او/به/که/هم/این, Arabic ان/بعد/کل/لا/ما/حتی) are
# excluded.
_OTHER_AR_WORDS: Final[frozenset[str]] = _folded(
    """
    است می ان با برای های ها شد شده بود کرد نیز یک بر همه شما
    ایشان انها نمی هست نیست اما در چه خواهم خواهی خواهد خواهیم خواهید خواهند
    هستیم هستند بودند شدند کنیم کنید
    فی علی الی عن التی الذی الذین هذا هذه ذلک کان قد مع هو هی لم لن ثم
    او انه کما وقد ولا وهو وفی ومن من بین عند
    """
) - _UR_WORDS - _PS_WORDS
# Persian را and از are very frequent, but Pashto uses را- as a verb prefix
# that is sometimes written apart and Urdu has "کم از کم"; weak.
_OTHER_AR_WEAK_WORDS: Final[frozenset[str]] = _folded("را از")

# ---------------------------------------------------------------------------
# Latin-script function words.

_EN_WORDS: Final[frozenset[str]] = frozenset(
    """
    the of and to a an in is are was were be been being for with that this
    these those it its from by on at as we you he she they our your their his
    her them us will would can could should shall not have has had who what
    which when where why how all there or but if so about do does did my i
    into than then out up just only also more must may against over after
    before because any some every very his him me myself our ours no yes
    """.split()
)
# Spanish, Portuguese, French, Italian, German, Dutch, Indonesian/Malay and
# Turkish.  Words that are also English (die, as, son, sin, per, was, in, an,
# is, me, no, do, un) are left out, and so is "et" (English "et al.").
_OTHER_LATIN_WORDS: Final[frozenset[str]] = frozenset(
    """
    el la los las de del que y en una es por con para se su al lo como más
    pero sus le ya este esta porque muy sobre también hay fue ha
    não uma um com é em da dos na os ao ou
    les des est du pour dans pas sur au avec ce qui ne sont il elle nous
    vous ils mais aux cette notre nos leur très tous
    nuestros nuestro nuestra nunca siempre todos será serán están somos vamos
    contra hasta cuando donde
    werden wird sind haben unsere unser gegen
    di che non sono gli della
    der das und ist nicht ein eine zu mit von sich auf für dem im auch es
    sie wir ich nach bei aus
    het een van
    yang dan ke dari ini itu untuk dengan adalah tidak akan pada kami kita
    mereka juga ada bisa sudah saya atau oleh dalam
    ve bir bu için ile çok
    """.split()
) - _EN_WORDS
# Letters with diacritics are ordinary in Spanish, French, German, Turkish,
# ... and rare in English; one word containing them is evidence for "other".
_NON_EN_LATIN: Final[frozenset[str]] = frozenset("áéíóúñüçãõèàêâîôûëïœßöäğşıøåæ")
_ROMAN_UR_WORDS: Final[frozenset[str]] = frozenset(
    """
    hai hain nahi nahin nhi kya kia aur mein bhi tha thi thay aap ap yeh ye
    woh wo kar karo karna karte raha rahe rahi gaya gayi kiya hota hoti hum
    ham ka ki ke ko se ne par pe ho jo sab hamara hamari tum tumhara kyun
    kyunki lekin agar toh koi ab bohat bahut sirf
    """.split()
) - _EN_WORDS

# ---------------------------------------------------------------------------
# Weights and priors (see module docstring).

_W_LETTER: Final[float] = 1.0
_W_WORD: Final[float] = 2.0
_W_WEAK_WORD: Final[float] = 0.7
_W_AL_PREFIX: Final[float] = 0.7  # Arabic definite article ال- on a word
_W_OTHER_AR_LETTER: Final[float] = 1.5

_AR_PRIOR: Final[Mapping[str, float]] = MappingProxyType({"ur": 0.35, "ps": 0.3, "other": 0.25})
_LATIN_PRIOR: Final[Mapping[str, float]] = MappingProxyType({"en": 0.5, "other": 0.2, "ur": 0.2})

# Without any language-specific evidence the answer is a prior, not an
# observation; say so through the confidence.
_NO_EVIDENCE_FACTOR: Final[float] = 0.6

# Mixed: the minority script must carry this share of the letters...
_MIXED_MIN_SHARE: Final[float] = 0.2
# ...in at least this many words...
_MIXED_MIN_WORDS: Final[int] = 2
# ...and a Latin part needs a function word or this many lower-case words to
# count as a clause rather than a run of names/acronyms.
_MIXED_MIN_BARE_LATIN_WORDS: Final[int] = 3
# Letters of name-like Latin tokens (see _is_name_like) count this much.
_NAME_WEIGHT: Final[float] = 0.2

_TOKEN: Final[re.Pattern[str]] = re.compile(
    r"(?:\w|[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed])+(?:['’-](?:\w|[\u064b-\u065f])+)*"
)


def _script(ch: str) -> str:
    """'latin', 'arabic' or 'other' for a letter."""
    cp = ord(ch)
    if cp < 0x0250 or 0x1E00 <= cp <= 0x1EFF or 0xFF21 <= cp <= 0xFF5A:
        return "latin"
    if (
        0x0600 <= cp <= 0x06FF
        or 0x0750 <= cp <= 0x077F
        or 0x08A0 <= cp <= 0x08FF
        or 0xFB50 <= cp <= 0xFDFF
        or 0xFE70 <= cp <= 0xFEFF
    ):
        return "arabic"
    return "other"


def _shares(evidence: Mapping[str, float], prior: Mapping[str, float]) -> dict[str, float]:
    weights = {k: (evidence.get(k, 0.0) + p) ** 2 for k, p in prior.items()}
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()}


@dataclass
class _Block:
    """Words of one script and the evidence found in them."""

    letters: float = 0.0
    words: int = 0
    function_words: int = 0
    prose_words: int = 0  # Latin only: words that are not names/acronyms


def _arabic_evidence(tokens: list[str], block: _Block) -> dict[str, float]:
    ev = {"ur": 0.0, "ps": 0.0, "other": 0.0}
    for token in tokens:
        for ch in token:
            if ch in _PS_LETTERS:
                ev["ps"] += _W_LETTER
            elif ch in _UR_LETTERS:
                ev["ur"] += _W_LETTER
            elif ch in _AR_LETTERS:
                ev["other"] += _AR_LETTERS[ch]
            elif ch in _OTHER_AR_LETTERS:
                ev["other"] += _W_OTHER_AR_LETTER
            elif ch in _NOT_UR_LETTERS:
                ev["ps"] += _W_NOT_UR_LETTER
                ev["other"] += _W_NOT_UR_LETTER
        word = _fold_token(token)
        if word in _UR_WORDS:
            ev["ur"] += _W_WORD
            block.function_words += 1
        elif word in _UR_WEAK_WORDS:
            ev["ur"] += _W_WEAK_WORD
        if word in _PS_WORDS:
            ev["ps"] += _W_WORD
            block.function_words += 1
        elif word in _PS_WEAK_WORDS:
            ev["ps"] += _W_WEAK_WORD
        if word in _OTHER_AR_WORDS:
            ev["other"] += _W_WORD
            block.function_words += 1
        elif word in _OTHER_AR_WEAK_WORDS:
            ev["other"] += _W_WEAK_WORD
        elif len(word) >= 4 and word.startswith("ال") and word not in ("الله", "اللہ"):
            # Urdu/Pashto borrow some al- words (البتہ, الیکشن), so one is weak;
            # Arabic prose has one on every third word.
            ev["other"] += _W_AL_PREFIX
    return ev


def _latin_evidence(tokens: list[str], block: _Block) -> dict[str, float]:
    ev = {"en": 0.0, "ur": 0.0, "other": 0.0}
    for i, token in enumerate(tokens):
        word = token.casefold()
        if word in _EN_WORDS:
            ev["en"] += _W_WORD
            block.function_words += 1
        # Capitalised mid-text, Spanish/Arabic articles and Roman-Urdu words
        # are almost always part of a name in English text (Los Angeles,
        # El Salvador, Der Spiegel, Al Jazeera, Ka-Bar), so only count them
        # in lower case or as the first word.
        if any(ch in _NON_EN_LATIN for ch in word):
            ev["other"] += _W_LETTER
        if i > 0 and word != token:
            continue
        if word in _OTHER_LATIN_WORDS:
            ev["other"] += _W_WORD
            block.function_words += 1
        if word in _ROMAN_UR_WORDS:
            ev["ur"] += _W_WORD
            block.function_words += 1
    return ev


def _is_name_like(token: str) -> bool:
    """True for Latin tokens that are names, acronyms or codes, not prose.

    Urdu and Pashto news is full of COVID-19, SARS-CoV-2, NATO and English
    names; their letters must not outweigh the sentence around them.  Long
    all-caps words are shouting, not acronyms, and function words are never
    names, so both still count as prose.
    """
    if token.casefold() in _EN_WORDS:
        return False
    if any(ch.isdigit() for ch in token):
        return True
    if token.isupper() and len(token) >= 6:
        return False
    return any(ch.isupper() for ch in token)


def detect_language(text: str) -> LanguageGuess:
    """Guess whether *text* is English, Urdu, Pashto, mixed or something else.

    The text is first passed through :func:`clean_for_embedding`, so URLs,
    mentions, hashtags, emoji and forwarding wrappers cannot sway the result.
    """
    return detect_language_of_cleaned(clean_for_embedding(text))


def detect_language_of_cleaned(cleaned: str) -> LanguageGuess:
    """:func:`detect_language` of a text that :func:`clean_for_embedding` already cleaned."""
    by_script: dict[str, list[str]] = {"latin": [], "arabic": [], "other": []}
    blocks = {name: _Block() for name in by_script}
    for token in _TOKEN.findall(cleaned):
        counts = {"latin": 0, "arabic": 0, "other": 0}
        for ch in token:
            if ch.isalpha():
                counts[_script(ch)] += 1
        n = sum(counts.values())
        if n == 0:
            continue  # digits only
        # A token glued across scripts ("62 سالہووٹر", "COVID-19کی") goes to
        # its majority script; its letters are still counted per script.
        main = max(counts, key=lambda k: counts[k])
        by_script[main].append(token)
        blocks[main].words += 1
        name_like = main == "latin" and _is_name_like(token)
        for name, c in counts.items():
            blocks[name].letters += c * (_NAME_WEIGHT if name_like and name == "latin" else 1.0)
        if main == "latin" and not name_like:
            blocks[main].prose_words += 1

    total_letters = sum(b.letters for b in blocks.values())
    if total_letters == 0:
        return LanguageGuess("und", 1.0, MappingProxyType({k: 0.0 for k in LANGUAGES}))

    share = {name: b.letters / total_letters for name, b in blocks.items()}
    ar_ev = _arabic_evidence(by_script["arabic"], blocks["arabic"])
    lat_ev = _latin_evidence(by_script["latin"], blocks["latin"])
    ar = _shares(ar_ev, _AR_PRIOR)
    lat = _shares(lat_ev, _LATIN_PRIOR)

    scores = {
        "en": share["latin"] * lat["en"],
        "ur": share["arabic"] * ar["ur"] + share["latin"] * lat["ur"],
        "ps": share["arabic"] * ar["ps"],
        "other": share["arabic"] * ar["other"] + share["latin"] * lat["other"] + share["other"],
    }
    frozen_scores = MappingProxyType(scores)
    ranked = sorted(scores, key=lambda k: scores[k], reverse=True)
    top = ranked[0]

    # Which language each script block on its own points to.
    block_lang = {
        "latin": max(lat, key=lambda k: lat[k]),
        "arabic": max(ar, key=lambda k: ar[k]),
        "other": "other",
    }
    present = sorted(
        (name for name in blocks if blocks[name].words > 0),
        key=lambda name: share[name],
        reverse=True,
    )
    if len(present) >= 2:
        major, minor = present[0], present[1]
        minor_block = blocks[minor]
        latin = blocks["latin"]
        looks_like_language = "latin" not in (major, minor) or (
            latin.function_words > 0 or latin.prose_words >= _MIXED_MIN_BARE_LATIN_WORDS
        )
        if (
            share[minor] >= _MIXED_MIN_SHARE
            and minor_block.words >= _MIXED_MIN_WORDS
            and blocks[major].words >= _MIXED_MIN_WORDS
            and looks_like_language
            and block_lang[major] != block_lang[minor]
        ):
            two = scores[block_lang[major]] + scores[block_lang[minor]]
            return LanguageGuess("mixed", round(min(1.0, two), 4), frozen_scores)

    evidence_for_top = {
        "en": lat_ev["en"],
        "ur": ar_ev["ur"] + lat_ev["ur"],
        "ps": ar_ev["ps"],
        # Another script is evidence in itself.
        "other": ar_ev["other"] + lat_ev["other"] + (1.0 if blocks["other"].letters else 0.0),
    }[top]
    confidence = scores[top] if evidence_for_top > 0 else scores[top] * _NO_EVIDENCE_FACTOR
    return LanguageGuess(top, round(confidence, 4), frozen_scores)
