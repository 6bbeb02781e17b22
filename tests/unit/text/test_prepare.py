"""``prepare_text``: one pass gives what the separate normalise/fingerprint/langid functions give, cleaning the text once."""

from __future__ import annotations

from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import service.core.text.langid as langid_module
import service.core.text.normalize as normalize_module
import service.core.text.prepare as prepare_module
from service.core.text.prepare import PreparedText, prepare_text

# (post, language it must be detected as). Links, tags, emoji and wrappers vary between re-uploads.
POSTS = [
    ("Forwarded from خبریں چینل\nیہ خبر بالکل غلط ہے، اسے آگے شیئر نہ کریں! 😡 #جعلی_خبر https://t.me/khabrein/123", "ur"),
    ("ہم سب کو مِل کر اِس مسئلے کا حل نکالنا ہوگا۔ @user123 www.example.pk", "ur"),
    ("یہ\u200c خبر\u200f غلط ہے\u0640\u0640 اور اسے مت پھیلائیں", "ur"),
    ("كل ملك ميں يه خبر پھيلي هوئی ہے", "ur"),
    ("COVID-19 ویکسین کے بارے میں یہ دعویٰ غلط ہے", "ur"),
    ("yeh khabar bilkul ghalat hai aur isko share na karein", "ur"),
    ("فارورډ شوی\nد کابل په ښار کې سبا ټول ښوونځي تړلي دي 🙏 #خبرونه bit.ly/3xYz", "ps"),
    ("ګران هېوادوالو، دا پیغام ژر تر ژره خپاره کړئ!!! 📢📢", "ps"),
    ("RT @newsdesk: The bridge on the river road will be closed on Monday 🚧 https://example.com/a?b=1 #traffic", "en"),
    ("Fwd: FW: Café owners say the new tax will be paid from next month.", "en"),
    ("ＦＵＬＬ width ＠handle text １２３ 👍🏽", "en"),
]
NOISE = ["", "  \n\t", "https://t.me/x #tag @user 😀🙏", "\u200b\u200c\u200f", "ـــ", "!!! ... ؟؟ ۔", "َُِ", "👍🏽 1️⃣ 🇵🇰"]

# Fragments the generated posts are made of: letters of all three languages,
# the marks and variants canonical_form folds, and the noise cleaning drops.
FRAGMENTS = [
    "خبر", "غلط", "ہے", "هے", "کی", "كي", "ښار", "کې", "ګران", "ټول", "پھر", "مُلک", "اِس", "دعویٰ", "ۓ", "ئے", "آگے",
    "news", "Bridge", "CAFÉ", "closed", "COVID-19", "١٢٣", "۴۵", "12", "،", "۔", "!", "?", "...", "\u200c", "\u200f", "\u0640",
    "😡", "👍🏽", "1️⃣", "#tag", "#خبر", "@user", "＠ｗｗｗ", "https://t.me/x", "www.example.pk", "bit.ly/a", "a@b.com",
    "Forwarded from Channel\n", "RT @desk:", "Fwd:", "فارورڈ:", "\n", "  ",
]


def separately(text: str) -> PreparedText:
    """What callers computed before ``prepare_text``: each function on the raw text.

    Called through their modules, so that a counter patched in there sees every call.
    """
    canonical = normalize_module.canonical_form(text)
    return PreparedText(
        cleaned=normalize_module.clean_for_embedding(text),
        canonical=canonical,
        fingerprint=normalize_module.fingerprint(text) if canonical else "",
        lang=langid_module.detect_language(text).lang,
    )


@pytest.mark.parametrize(("text", "lang"), POSTS, ids=[f"post{i}" for i in range(len(POSTS))])
def test_prepare_equals_the_separate_functions_on_hand_written_posts(text: str, lang: str) -> None:
    prepared = prepare_text(text)
    assert prepared == separately(text)
    assert prepared.lang == lang and prepared.matchable
    # The noise really went: nothing a re-uploader changes survives into the clean form.
    assert not any(mark in prepared.cleaned for mark in ("http", "#", "@", "＠", "Forwarded", "Fwd", "RT ", "\u200c", "\u0640"))


@given(st.text(max_size=80))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_prepare_equals_the_separate_functions_on_any_text(text: str) -> None:
    assert prepare_text(text) == separately(text)


@given(st.lists(st.sampled_from(FRAGMENTS), max_size=14), st.lists(st.sampled_from([" ", "", "\n"]), min_size=14, max_size=14))
@settings(max_examples=200, deadline=None)
def test_prepare_equals_the_separate_functions_on_generated_posts(fragments: list[str], joints: list[str]) -> None:
    text = "".join(f + j for f, j in zip(fragments, joints))
    assert prepare_text(text) == separately(text)


def counted(monkeypatch: pytest.MonkeyPatch, *modules: object) -> list[str]:
    """Route every named module's ``clean_for_embedding`` through one counter; returns the texts it cleaned."""
    real: Callable[[str], str] = normalize_module.clean_for_embedding
    seen: list[str] = []

    def counting(text: str) -> str:
        seen.append(text)
        return real(text)

    for module in modules:
        monkeypatch.setattr(module, "clean_for_embedding", counting)
    return seen


@pytest.fixture(autouse=True)
def cold_cache() -> None:
    """Each test prepares its texts from cold: a text an earlier test prepared would be answered from the cache."""
    prepare_module._prepare_recent.cache_clear()


@pytest.mark.parametrize("text", [POSTS[0][0], POSTS[6][0], POSTS[8][0]], ids=["ur", "ps", "en"])
def test_prepare_runs_the_clean_up_pass_once(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    seen = counted(monkeypatch, prepare_module)
    prepare_text(text)
    assert seen == [text]


def test_the_raw_text_is_cleaned_once_across_every_module(monkeypatch: pytest.MonkeyPatch) -> None:
    text = POSTS[0][0]
    seen = counted(monkeypatch, prepare_module, normalize_module, langid_module)
    separately(text)
    before = list(seen)
    seen.clear()
    prepare_text(text)
    # The separate functions cleaned the raw post four times (six passes in all);
    # prepare cleans it once. canonical_form's own idempotence check re-cleans only its output.
    assert before.count(text) == 4 and len(before) == 6
    assert seen.count(text) == 1 and len(seen) < len(before)


@pytest.mark.parametrize("text", NOISE, ids=[f"noise{i}" for i in range(len(NOISE))])
def test_noise_only_text_has_nothing_to_match(text: str) -> None:
    prepared = prepare_text(text)
    # "" rather than the SHA-256 of "": nothing-to-match must never look like a stored fingerprint.
    assert (prepared.canonical, prepared.fingerprint, prepared.matchable) == ("", "", False)
    assert prepared.lang == "und"
    assert prepared == separately(text)


def test_a_repeated_text_is_prepared_once_and_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    text = POSTS[0][0]
    seen = counted(monkeypatch, prepare_module)
    first, again = prepare_text(text), prepare_text(text)
    assert seen == [text] and again == first == separately(text)


def test_long_texts_bypass_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    long = (POSTS[8][0] + " ") * (prepare_module.PREPARED_CACHE_MAX_CHARS // len(POSTS[8][0]) + 1)
    assert len(long) > prepare_module.PREPARED_CACHE_MAX_CHARS
    seen = counted(monkeypatch, prepare_module)
    assert prepare_text(long) == prepare_text(long) == separately(long)
    assert seen.count(long) == 2
    assert prepare_module._prepare_recent.cache_info().currsize == 0


def test_the_cache_is_bounded() -> None:
    for i in range(prepare_module.PREPARED_CACHE_TEXTS + 10):
        prepare_text(f"post number {i}")
    info = prepare_module._prepare_recent.cache_info()
    assert info.currsize == info.maxsize == prepare_module.PREPARED_CACHE_TEXTS
