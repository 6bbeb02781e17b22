"""Tests for service.core.normalize.

Sentences are written for these tests (no corpus data).  Most tests state one
rule as "variant has the same fingerprint as the base text" or "a real edit
changes it", so a failure names the rule that broke.
"""

from __future__ import annotations

import hashlib
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.core.text.normalize import canonical_form, clean_for_embedding, fingerprint

EN = "The brothers will gather at the mosque after Friday prayer."
UR = "یہ پیغام ہر بھائی تک پہنچاؤ، کل جمعہ کے بعد ملاقات ہوگی۔"
PS = "دا پیغام ټولو ورونو ته ورسوئ، سبا د جمعې وروسته به ګډ شو."


def same(a: str, b: str) -> None:
    assert canonical_form(a) == canonical_form(b), (canonical_form(a), canonical_form(b))
    assert fingerprint(a) == fingerprint(b)


def differ(a: str, b: str) -> None:
    assert canonical_form(a) != canonical_form(b), canonical_form(a)
    assert fingerprint(a) != fingerprint(b)


# ---------------------------------------------------------------------------
# fingerprint basics


def test_fingerprint_is_sha256_of_canonical_form() -> None:
    expected = hashlib.sha256(canonical_form(UR).encode("utf-8")).hexdigest()
    assert fingerprint(UR) == expected
    assert len(fingerprint(UR)) == 64


@pytest.mark.parametrize(
    ("text", "canonical", "digest"),
    [
        (EN, "the brothers will gather at the mosque after friday prayer", None),
        (UR, "یه پیغام هر بھایی تک پهنچاو کل جمعه کے بعد ملاقات هوگی", None),
        (PS, "دا پیغام ټولو ورونو ته ورسوی سبا د جمعې وروسته به گډ شو", None),
        ("", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ],
    ids=["en", "ur", "ps", "empty"],
)
def test_golden_values(text: str, canonical: str, digest: str | None) -> None:
    # Pinned output: fingerprints are stored in the index, so any change here
    # means the index has to be rebuilt.  Update deliberately, never casually.
    assert canonical_form(text) == canonical
    want = digest or hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert fingerprint(text) == want


# ---------------------------------------------------------------------------
# Surface variants that must NOT change the fingerprint


@pytest.mark.parametrize(
    ("base", "variant"),
    [
        # Arabic yeh / alef maksura vs Urdu/Persian yeh
        ("یہ کتاب میری ہے", "يہ کتاب ميری ہے"),
        ("یہ کتاب میری ہے", "ىہ کتاب مىری ہے"),
        ("د ښار خلکو ته ووایی", "د ښار خلکو ته ووايي"),
        # Arabic kaf vs keheh
        ("یہ کتاب میری ہے", "یہ كتاب میری ہے"),
        ("زه کور ته ځم", "زه كور ته ځم"),
    ],
    ids=["yeh-064A", "yeh-0649", "yeh-pashto", "kaf-urdu", "kaf-pashto"],
)
def test_yeh_and_kaf_variants(base: str, variant: str) -> None:
    same(base, variant)


@pytest.mark.parametrize(
    "variant",
    [
        "یه پیغام ہے",  # Arabic heh U+0647
        "یہ پیغام ہے",  # heh goal U+06C1
        "یۀ پیغام ہے",  # heh with yeh above U+06C0
        "یۂ پیغام ہے",  # heh goal with hamza U+06C2
        "یة پیغام ہے",  # teh marbuta U+0629
        "یۂ پیغام ہے",  # heh goal + combining hamza (decomposed ۂ)
        "یە پیغام ہے",  # ae U+06D5
    ],
)
def test_heh_variants(variant: str) -> None:
    same("یہ پیغام ہے", variant)


def test_pashto_final_heh_with_yeh_above() -> None:
    # زه / زۀ "I": same word, two orthographies.
    same("زه به ورشم", "زۀ به ورشم")


def test_yeh_barree_with_hamza() -> None:
    # ۓ (U+06D3) is the one-character spelling of ئے.
    same("وہ آئے", "وہ آۓ")
    same("کئے گئے ہوئے", "کۓ گۓ ہوۓ")
    same("ہوۓ", "ہو\u06d2\u0654")  # decomposed ۓ
    differ("ہوۓ", "ہوے")


def test_do_chashmi_heh_is_not_merged() -> None:
    # پھر "again" vs پہر "watch of the day": different Urdu words.
    differ("پھر", "پہر")
    differ("بھائی", "بہائی")


@pytest.mark.parametrize(
    ("base", "variant"),
    [
        ("اللہ اکبر", "الله أكبر"),
        ("اپ کہاں ہیں", "آپ کہاں ہیں"),
        ("اسلام", "إسلام"),
        ("الحمد", "ٱلحمد"),
        ("اپ", "ا\u0653پ"),  # decomposed madda
        ("مسئلہ", "مسیلہ"),  # ئ folds to ی (decision documented in module)
        ("لئے", "لیے"),  # common Urdu spelling pair
        ("مؤثر", "موثر"),
    ],
)
def test_alef_and_hamza_carriers(base: str, variant: str) -> None:
    same(base, variant)


def test_standalone_hamza_is_kept() -> None:
    differ("جزء", "جز")


def test_gaf_variants_merge() -> None:
    # Pashto ګ (U+06AB) and Persian/Urdu گ (U+06AF) are the same /g/.
    same("ګډ کار", "گډ کار")
    same("ننګونه", "ننگونه")


def test_tatweel() -> None:
    same("اللہ اکبر", "اللـــہ اکـــبر")
    same(PS, PS.replace("پیغام", "پیغـــام"))


@pytest.mark.parametrize(
    "variant",
    [
        "بِسْمِ اللّٰہِ الرَّحْمٰنِ الرَّحِیْمِ",  # fatha/kasra/sukun/shadda/superscript alef
        "بسم اللہ الرحمن الرحیمۖ",  # Quranic small high ligature U+06D6
        "بسمٍ اللہٌ الرحمنً الرحیم",  # tanween
        "بسم اللہ الرحمن الرحیم\u06e2",  # small high meem
    ],
)
def test_harakat_and_quranic_marks(variant: str) -> None:
    same("بسم اللہ الرحمن الرحیم", variant)


@pytest.mark.parametrize(
    "char",
    ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"],
    ids=["ZWSP", "ZWNJ", "ZWJ", "WJ", "BOM", "SHY"],
)
@pytest.mark.parametrize("text", [EN, UR, PS])
def test_zero_width_characters(char: str, text: str) -> None:
    words = text.split(" ")
    variant = " ".join(w[:2] + char + w[2:] for w in words)
    same(text, variant)
    assert clean_for_embedding(variant) == clean_for_embedding(text)


@pytest.mark.parametrize(
    "char",
    ["\u200e", "\u200f", "\u061c", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
     "\u2066", "\u2067", "\u2068", "\u2069"],
)
def test_bidi_marks(char: str) -> None:
    same(UR, f"{char}{UR}{char}")
    same(UR, UR.replace(" ", f"{char} {char}"))
    same(PS, PS.replace("ټولو", f"ټو{char}لو"))
    same("COVID-19 کی وبا", f"{char}COVID-19{char} کی وبا")


@pytest.mark.parametrize(
    "digits",
    ["12 مارچ 2024", "١٢ مارچ ٢٠٢٤", "۱۲ مارچ ۲۰۲۴", "١٢ مارچ ۲۰24"],
    ids=["ascii", "arabic-indic", "extended-arabic-indic", "mixed"],
)
def test_digit_systems(digits: str) -> None:
    same("12 مارچ 2024", digits)


def test_digits_are_ascii_in_canonical_form() -> None:
    assert canonical_form("۳۱۳ مجاهدین") == "313 مجاهدین"


@pytest.mark.parametrize(
    "variant",
    [
        "the brothers will gather at the mosque after friday prayer",
        "THE BROTHERS WILL GATHER AT THE MOSQUE AFTER FRIDAY PRAYER!!!",
        "  The brothers   will gather\n\tat the mosque after Friday prayer  ",
        "The brothers, will gather; at the mosque -- after Friday prayer?",
        "“The brothers will gather at the mosque after Friday prayer”",
        "The\u00a0brothers\u2003will gather at the mosque after Friday prayer.",
        "Ｔｈｅ brothers will gather at the mosque after Friday prayer.",  # full-width (NFKC)
    ],
)
def test_punctuation_whitespace_case_english(variant: str) -> None:
    same(EN, variant)


def test_punctuation_urdu_and_pashto() -> None:
    same(UR, UR.replace("،", ",").replace("۔", "."))
    same(UR, UR.replace("،", "").replace("۔", "!!"))
    same(PS, PS.replace("،", "؛").replace(".", "؟"))
    same("«جهاد» ۵٪", '"جهاد" 5%')


def test_punctuation_splits_words() -> None:
    # A mark between words is a word boundary, not something to delete.
    assert canonical_form("brothers,sisters") == "brothers sisters"
    assert canonical_form("بھائی،بہن") == canonical_form("بھائی بہن")
    assert len(canonical_form("بھائی،بہن").split()) == 2


def test_latin_accents_are_dropped() -> None:
    same("cafe naive", "café naïve")


def test_arabic_presentation_forms_nfkc() -> None:
    # Isolated/initial/final presentation forms and the Allah ligature.
    same("ﺑﺴﻢ ﷲ", "بسم الله")
    same("ﻻ", "لا")


@pytest.mark.parametrize(
    "emoji",
    ["🔥", "💣🔥", "👍🏽", "❤️", "☝️", "🇵🇰", "🇦🇫", "👨\u200d👩\u200d👧", "1️⃣", "#️⃣", "✅", "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"],
)
@pytest.mark.parametrize("text", [EN, UR, PS])
def test_added_emoji(emoji: str, text: str) -> None:
    same(text, f"{emoji} {text} {emoji}")
    same(text, text.replace(" ", f" {emoji} ", 1))
    assert emoji not in clean_for_embedding(f"{text} {emoji}")


def test_emoji_glued_to_word_does_not_glue_neighbours() -> None:
    assert clean_for_embedding("fight🔥back") == "fight back"


@pytest.mark.parametrize(
    ("base", "variant"),
    [
        (EN, f"{EN} #Khilafat #jihad_now"),
        (EN, f"#breaking {EN}"),
        (UR, f"#خلافت {UR} #پاکستان_زندہ_باد"),
        (PS, f"{PS} #افغانستان"),
        (UR, f"@abu_talha {UR} @مجاہد"),
        (EN, f"{EN} @news_channel"),
        (PS, f"{PS} https://t.me/some_channel/123"),
        (UR, f"{UR} http://example.com/path?x=1&y=2"),
        (EN, f"{EN} www.example.org/page"),
        (EN, f"{EN} bit.ly/3xYz"),
        (EN, f"{EN} example.com"),
        (EN, f"{EN} someone@example.com"),
        (UR, f"{UR} ＠fullwidth_user"),
    ],
)
def test_hashtags_mentions_urls(base: str, variant: str) -> None:
    same(base, variant)


def test_url_keeps_following_punctuation_in_clean_text() -> None:
    assert clean_for_embedding("See https://x.com/a, then act.") == "See , then act."


def test_hashtag_with_harakat_is_removed_whole() -> None:
    assert clean_for_embedding("#جِہاد ہم") == "ہم"


def test_missing_space_after_full_stop_is_not_a_url() -> None:
    assert canonical_form("They lost.Me too") == "they lost me too"


@pytest.mark.parametrize(
    "wrapped",
    [
        f"RT @abu_bakr: {EN}",
        f"RT @abu_bakr {EN}",
        f"RT @a: RT @b: {EN}",
        f"Fwd: {EN}",
        f"FW: Fwd: {EN}",
        f"Forwarded from Amaq Agency\n{EN}",
        f"[Forwarded from Amaq Agency]\n{EN}",
        f"Forwarded from Amaq Agency: {EN}",
        f"---------- Forwarded message ---------\n{EN}",
        f"Forwarded message:\n{EN}",
        f"Forwarded\n{EN}",
        f"Forwarded many times\n{EN}",
        f"\u200fForwarded from Channel\n{EN}",
    ],
)
def test_forwarding_wrappers_english(wrapped: str) -> None:
    same(EN, wrapped)
    assert clean_for_embedding(wrapped) == clean_for_embedding(EN)


@pytest.mark.parametrize(
    ("base", "wrapped"),
    [
        (UR, f"فارورڈ کیا گیا\n{UR}"),
        (UR, f"کئی بار فارورڈ کیا گیا\n{UR}"),
        (UR, f"آگے بھیجا گیا\n{UR}"),
        (UR, f"فارورڈ: {UR}"),
        (PS, f"فارورډ شوی\n{PS}"),
        (PS, f"څو ځله فارورډ شوی\n{PS}"),
        (PS, f"Forwarded from Pashto Channel\n{PS}"),
        (UR, f"RT @urdu_news: {UR}"),
    ],
)
def test_forwarding_wrappers_urdu_pashto(base: str, wrapped: str) -> None:
    same(base, wrapped)


def test_lone_wrapper_label_is_kept() -> None:
    # With nothing after it, the label is the whole message, not a wrapper.
    assert clean_for_embedding("Forwarded from Amaq Agency") == "Forwarded from Amaq Agency"


def test_wrapper_words_inside_text_are_kept() -> None:
    text = "He said the letter was forwarded from the office."
    assert clean_for_embedding(text) == text


def test_combined_surface_changes() -> None:
    noisy = (
        "Forwarded from Al-Naba\n"
        "RT @abu_x: يــہ پيغام ہر بھائی تک پہنچاؤ ، كل جمعہ كے بعد  ملاقات ہوگی ۔ "
        "🔥🇵🇰 #خلافت https://t.me/x/1 @channel"
    )
    same(UR, noisy)


# ---------------------------------------------------------------------------
# Real differences that MUST change the fingerprint


@pytest.mark.parametrize(
    ("pashto", "lookalike"),
    [
        ("وړ", "ور"),  # ړ vs ر
        ("ښار", "شار"),  # ښ vs ش
        ("موږ", "موژ"),  # ږ vs ژ
        ("ځای", "حای"),  # ځ vs ح
        ("څه", "حه"),  # څ vs ح
        ("ټول", "تول"),  # ټ vs ت
        ("ډېر", "دېر"),  # ډ vs د
        ("کې", "کی"),  # ې vs ی
        ("کې", "کے"),  # ې vs ے
        ("نړۍ", "نړی"),  # ۍ vs ی
        ("وڼه", "ونه"),  # ڼ vs ن
    ],
)
def test_pashto_letters_stay_distinct(pashto: str, lookalike: str) -> None:
    differ(f"دا {pashto} دی", f"دا {lookalike} دی")


@pytest.mark.parametrize(
    ("urdu", "other"),
    [
        ("ٹوپی", "ټوپی"),  # Urdu ٹ vs Pashto ټ
        ("ڈر", "ډر"),  # Urdu ڈ vs Pashto ډ
        ("پڑھ", "پړھ"),  # Urdu ڑ vs Pashto ړ
        ("میں", "مین"),  # noon ghunna vs noon
        ("کے", "کی"),  # yeh barree vs yeh
        ("بھائی", "بہائی"),  # do-chashmi heh vs heh
        ("ٹوپی", "توپی"),  # ٹ vs ت
    ],
)
def test_urdu_letters_stay_distinct(urdu: str, other: str) -> None:
    differ(f"یہ {urdu} ہے", f"یہ {other} ہے")


def test_decomposed_hah_with_hamza_stays_pashto_dze() -> None:
    # ح + combining hamza is how some fonts/IME produce ځ; stripping the
    # hamza must not turn it into ح.
    same("ځای", "\u062d\u0654ای")
    differ("ځای", "حای")


@pytest.mark.parametrize(
    ("base", "edited"),
    [
        (EN, EN.replace("will gather", "will not gather")),  # word added
        (EN, EN.replace("Friday ", "")),  # word dropped
        (EN, "The brothers will gather at the mosque after prayer Friday."),  # swapped
        (UR, UR.replace("کل", "آج")),  # word substituted
        (UR, UR.replace("ہر بھائی", "بھائی ہر")),  # swapped
        (PS, PS.replace("سبا", "نن")),
        (PS, PS.replace(" به", "")),
        ("12 مارچ", "13 مارچ"),  # a digit
        ("brothers sisters", "brotherssisters"),  # a space that separates words
    ],
)
def test_real_edits_change_fingerprint(base: str, edited: str) -> None:
    differ(base, edited)


# ---------------------------------------------------------------------------
# clean_for_embedding keeps what the model needs


def test_clean_keeps_case_punctuation_digits_and_letters() -> None:
    text = "On 12 March, Brothers: ATTACK at 05:00!"
    assert clean_for_embedding(text) == text
    assert clean_for_embedding(UR) == UR
    assert clean_for_embedding(PS) == PS


def test_clean_does_not_fold_letters_or_digits() -> None:
    text = "يہ كتاب ۱۲ صفحے کی ہے"
    assert clean_for_embedding(text) == text


def test_clean_nfc() -> None:
    decomposed = "cafe\u0301 ا\u0653پ"
    assert clean_for_embedding(decomposed) == unicodedata.normalize("NFC", decomposed)


def test_clean_collapses_whitespace_and_strips() -> None:
    assert clean_for_embedding("  a \n\n b\t c  ") == "a b c"


def test_clean_removes_tatweel_and_invisibles() -> None:
    assert clean_for_embedding("الـــلہ\u200c\u200f") == "اللہ"


def test_clean_keeps_text_symbols_below_u2000_and_arabic_ligatures() -> None:
    # © ° ۞ ﷽ are text, not emoji; only canonical_form removes symbols.
    text = "۞ ﷽ 37°C ©"
    assert clean_for_embedding(text) == text
    assert canonical_form(text) == "37 c"


def test_only_noise_gives_empty_string() -> None:
    assert clean_for_embedding("🔥🔥 #tag @user https://x.com") == ""
    assert canonical_form("!!! ... ؟؟ ۔۔") == ""


# ---------------------------------------------------------------------------
# Idempotence and properties


@pytest.mark.parametrize("text", [EN, UR, PS, "RT @a: Fwd: x", "Fwd\n: x", "[Forwarded\nfrom X] t"])
def test_idempotent_examples(text: str) -> None:
    once = canonical_form(text)
    assert canonical_form(once) == once
    cleaned = clean_for_embedding(text)
    assert clean_for_embedding(cleaned) == cleaned


_NOISE = st.sampled_from(
    ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u0640", "\u064e", "\u0650", "\u0651",
     "\u0652", "\u0670", "\ufeff", "\u2066", "\u2069"]
)
_WORDS = st.sampled_from(
    ["یہ", "پیغام", "بھائی", "ہے", "کے", "ښار", "ټول", "وړ", "ځای", "کې", "نړۍ",
     "the", "Brothers", "GATHER", "12", "۱۲", "١٢"]
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_canonical_form_idempotent_property(text: str) -> None:
    once = canonical_form(text)
    assert canonical_form(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_clean_idempotent_property(text: str) -> None:
    once = clean_for_embedding(text)
    assert clean_for_embedding(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_canonical_form_shape_property(text: str) -> None:
    out = canonical_form(text)
    assert out == out.strip()
    assert "  " not in out
    for ch in out:
        cat = unicodedata.category(ch)
        assert cat[0] not in "PS", (ch, cat)
        assert cat != "Nd" or ch in "0123456789"


@settings(max_examples=200, deadline=None)
@given(st.lists(_WORDS, min_size=1, max_size=8), st.data())
def test_invisible_noise_never_changes_fingerprint(words: list[str], data: st.DataObject) -> None:
    base = " ".join(words)
    noisy_words = []
    for w in words:
        pos = data.draw(st.integers(min_value=1, max_value=len(w)))
        noise = data.draw(st.lists(_NOISE, max_size=3))
        noisy_words.append(w[:pos] + "".join(noise) + w[pos:])
    assert fingerprint(" ".join(noisy_words)) == fingerprint(base)


@settings(max_examples=200, deadline=None)
@given(st.lists(_WORDS, min_size=2, max_size=8, unique=True), st.data())
def test_dropping_a_word_changes_fingerprint(words: list[str], data: st.DataObject) -> None:
    i = data.draw(st.integers(min_value=0, max_value=len(words) - 1))
    dropped = words[:i] + words[i + 1 :]
    assert fingerprint(" ".join(words)) != fingerprint(" ".join(dropped))


def test_vocalised_yeh_barree_hamza_keeps_its_hamza() -> None:
    # ے + fatha + hamza (a harakat on ۓ) is still ئے, not bare ے: گۓَ == گئے.
    assert canonical_form("گۓ\u064e") == canonical_form("گئے") == canonical_form("گۓ")
    assert canonical_form("گۓ\u064e") != canonical_form("گے")
