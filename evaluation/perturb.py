"""Seeded generator of re-upload variants and near-duplicate edits.

Every surface change that issue #3 lists as a re-upload has its own rule, so
the report can give recall per rule; near-duplicate edits change the words.
Everything is driven by a ``random.Random`` the caller seeds, so a test set is
the same on every run.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable

ARABIC_LETTER = re.compile(r"[\u0620-\u064a\u066e-\u06d3\u06fa-\u06ff]")
ARABIC_WORD = re.compile(r"[\u0620-\u064a\u066e-\u06d3\u06fa-\u06ff]{2,}")
ASCII_DIGITS = "0123456789"
ARABIC_INDIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"
EXTENDED_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
HARAKAT = ("\u064e", "\u064f", "\u0650", "\u0651", "\u0652", "\u064b")
PUNCT_SWAPS = {",": "،", "،": ",", "?": "؟", "؟": "?", ";": "؛", "؛": ";", ".": "۔", "۔": "."}
EMOJI = ("🔥", "😡", "🇵🇰", "👇", "‼️", "💯", "🙏🏽", "⚠️", "1️⃣")
HANDLES = ("@news_watch", "@haqq_voice", "@khabar24", "@PashtoTimes")
TAGS = ("#breaking", "#خبر", "#پاکستان", "#حقیقت", "#ویره", "#BREAKING_NEWS")
URLS = ("https://t.me/channel_x/1234", "http://bit.ly/3xYz9", "www.example-news.pk/story?id=7", "youtu.be/dQw4w9W")
WRAPPERS = (
    "Forwarded\n{}",
    "Forwarded many times\n{}",
    "RT @news_watch: {}",
    "Fwd: {}",
    "Forwarded from Haqq Channel: {}",
    "فارورڈ کیا گیا\n{}",
    "فارورډ شوی\n{}",
)

# Commentary a re-poster adds before or after the copied text (written for this tool).
COMMENTARY = {
    "en": (
        "Share this before they delete it.",
        "Look at what they are saying now!",
        "Everyone needs to read this today.",
        "Is this true? Tell me in the comments.",
    ),
    "ur": (
        "یہ پیغام سب تک پہنچائیں۔",
        "دیکھیں یہ لوگ اب کیا کہہ رہے ہیں!",
        "ڈیلیٹ ہونے سے پہلے اسے شیئر کریں۔",
        "کیا یہ سچ ہے؟ کمنٹ میں بتائیں۔",
    ),
    "ps": (
        "دا پیغام ټولو ته ورسوئ.",
        "وګورئ چې دوی اوس څه وایي!",
        "مخکې له دې چې ړنګ شي، شریک یې کړئ.",
        "ایا دا رښتیا دي؟ په تبصره کې یې ووایاست.",
    ),
}


@dataclass(frozen=True)
class Variant:
    text: str
    rules: tuple[str, ...]


Rule = Callable[[str, random.Random], str]


def _arabic_yeh_kaf(text: str, rng: random.Random) -> str:
    return text.replace("ی", "ي").replace("ک", "ك")


def _heh_forms(text: str, rng: random.Random) -> str:
    # Urdu gol heh typed as Arabic heh, and a word-final heh written as ۀ.
    text = text.replace("ہ", "ه")
    return re.sub(r"ه(?=\s|$)", lambda m: "ۀ" if rng.random() < 0.5 else m.group(0), text)


def _yeh_barree_hamza(text: str, rng: random.Random) -> str:
    return text.replace("ئے", "ۓ")


def _tatweel(text: str, rng: random.Random) -> str:
    def stretch(m: re.Match[str]) -> str:
        word = m.group(0)
        if rng.random() < 0.4 and len(word) > 2:
            i = rng.randrange(1, len(word) - 1)
            return word[:i] + "ـ" * rng.randint(1, 3) + word[i:]
        return word

    return ARABIC_WORD.sub(stretch, text)


def _harakat(text: str, rng: random.Random) -> str:
    return ARABIC_LETTER.sub(lambda m: m.group(0) + (rng.choice(HARAKAT) if rng.random() < 0.25 else ""), text)


def _zero_width(text: str, rng: random.Random) -> str:
    def join(m: re.Match[str]) -> str:
        word = m.group(0)
        if rng.random() < 0.3 and len(word) > 2:
            i = rng.randrange(1, len(word))
            return word[:i] + rng.choice(("\u200c", "\u200d")) + word[i:]
        return word

    return re.sub(r"\w{3,}", join, text)


def _bidi_marks(text: str, rng: random.Random) -> str:
    mark = rng.choice(("\u200e", "\u200f"))
    words = text.split(" ")
    for _ in range(max(1, len(words) // 6)):
        i = rng.randrange(len(words))
        words[i] = mark + words[i]
    return mark + " ".join(words) + mark


def _digits(text: str, rng: random.Random) -> str:
    systems = (ASCII_DIGITS, ARABIC_INDIC_DIGITS, EXTENDED_DIGITS)
    target = rng.choice(systems)
    table = {ord(d): target[i] for system in systems for i, d in enumerate(system) if system is not target}
    # Keycap emoji (1️⃣) only exist with ASCII digits; leave them alone.
    return re.sub(r"\d(?![\ufe0f\u20e3])", lambda m: m.group(0).translate(table), text)


def _punctuation(text: str, rng: random.Random) -> str:
    text = "".join(PUNCT_SWAPS.get(ch, ch) if rng.random() < 0.7 else ch for ch in text)
    if text and text[-1] in ".۔!?؟":
        return text[:-1] + rng.choice(("", "!!!", " ...", "؟؟"))
    return text + rng.choice(("!!", " ...", "۔"))


def _whitespace(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    out = words[0]
    for w in words[1:]:
        out += rng.choice(("  ", " ", "\t", " \n", " ")) + w
    return "  " + out + " \n"


def _case(text: str, rng: random.Random) -> str:
    return rng.choice((str.upper, str.lower, str.title))(text)


def _insert_tokens(text: str, rng: random.Random, tokens: tuple[str, ...]) -> str:
    words = text.split(" ")
    for _ in range(rng.randint(1, 2)):
        words.insert(rng.choice((0, len(words))), rng.choice(tokens))
    return " ".join(words)


def _emoji(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(rng.randint(1, 3)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(EMOJI) * rng.randint(1, 3))
    return " ".join(words)


def _hashtags(text: str, rng: random.Random) -> str:
    return _insert_tokens(text, rng, TAGS)


def _mentions(text: str, rng: random.Random) -> str:
    return _insert_tokens(text, rng, HANDLES)


def _urls(text: str, rng: random.Random) -> str:
    url = rng.choice(URLS)
    return f"{text}\n{url}" if rng.random() < 0.5 else f"{text} {url}"


def _wrapper(text: str, rng: random.Random) -> str:
    return rng.choice(WRAPPERS).format(text)


#: Surface rules, each a change issue #3 lists under REUPLOAD. Those that only
#: make sense in Arabic script say so, so English texts never "apply" them.
REUPLOAD_RULES: dict[str, tuple[Rule, bool]] = {
    "arabic_yeh_kaf": (_arabic_yeh_kaf, True),
    "heh_forms": (_heh_forms, True),
    "yeh_barree_hamza": (_yeh_barree_hamza, True),
    "tatweel": (_tatweel, True),
    "harakat": (_harakat, True),
    "zero_width_joiners": (_zero_width, False),
    "bidi_marks": (_bidi_marks, False),
    "digits": (_digits, False),
    "punctuation": (_punctuation, False),
    "whitespace": (_whitespace, False),
    "case": (_case, False),
    "emoji": (_emoji, False),
    "hashtags": (_hashtags, False),
    "mentions": (_mentions, False),
    "urls": (_urls, False),
    "wrapper": (_wrapper, False),
}
# Applied last: a wrapper goes around the finished text.
_LAST = ("urls", "wrapper")


def reupload(text: str, lang: str, rng: random.Random, n_rules: int = 4) -> Variant:
    """A surface variant of ``text``: ``n_rules`` random rules that change it."""
    arabic_script = lang in ("ur", "ps")
    names = [n for n, (_, needs_arabic) in REUPLOAD_RULES.items() if arabic_script or not needs_arabic]
    rng.shuffle(names)
    names.sort(key=lambda n: n in _LAST)
    applied: list[str] = []
    for name in names:
        if len(applied) >= n_rules:
            break
        changed = apply_rule(name, text, rng)
        if changed != text:
            text = changed
            applied.append(name)
    return Variant(text=text, rules=tuple(applied))


def apply_rule(name: str, text: str, rng: random.Random) -> str:
    return REUPLOAD_RULES[name][0](text, rng)


# -- near-duplicate edits ---------------------------------------------------------


def _add_words(words: list[str], lang: str, rng: random.Random) -> list[str]:
    pool = " ".join(COMMENTARY[lang]).split()
    out = list(words)
    for _ in range(rng.randint(1, 3)):
        out.insert(rng.randrange(len(out) + 1), rng.choice(pool))
    return out


def _drop_words(words: list[str], lang: str, rng: random.Random) -> list[str]:
    n = max(1, min(3, len(words) // 6))
    drop = set(rng.sample(range(len(words)), n)) if len(words) > n + 2 else set()
    return [w for i, w in enumerate(words) if i not in drop]


def _swap_words(words: list[str], lang: str, rng: random.Random) -> list[str]:
    out = list(words)
    for _ in range(max(1, len(out) // 8)):
        if len(out) < 3:
            break
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


def _cut(words: list[str], lang: str, rng: random.Random) -> list[str]:
    keep = max(4, round(len(words) * rng.uniform(0.55, 0.8)))
    if keep >= len(words):
        return words[:-1] if len(words) > 4 else words
    start = rng.randrange(len(words) - keep + 1)
    return words[start : start + keep]


def _commentary(words: list[str], lang: str, rng: random.Random) -> list[str]:
    note = rng.choice(COMMENTARY[lang]).split()
    return note + words if rng.random() < 0.5 else words + note


NEAR_DUPLICATE_EDITS: dict[str, Callable[[list[str], str, random.Random], list[str]]] = {
    "add_words": _add_words,
    "drop_words": _drop_words,
    "swap_words": _swap_words,
    "cut": _cut,
    "commentary": _commentary,
}


def near_duplicate(text: str, lang: str, rng: random.Random, edit: str | None = None) -> Variant:
    """An edited copy in the same language: one edit from NEAR_DUPLICATE_EDITS."""
    name = edit or rng.choice(sorted(NEAR_DUPLICATE_EDITS))
    words = text.split()
    edited = " ".join(NEAR_DUPLICATE_EDITS[name](words, lang, rng))
    return Variant(text=edited, rules=(name,))
