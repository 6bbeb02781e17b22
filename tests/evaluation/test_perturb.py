"""The perturbation generator: each rule changes the text, and is seeded."""

from __future__ import annotations

import random

import pytest

from evaluation.perturb import NEAR_DUPLICATE_EDITS, REUPLOAD_RULES, apply_rule, near_duplicate, reupload
from service.core.text.normalize import canonical_form, fingerprint

# Written for these tests; each has what every rule needs (digits, punctuation,
# ی/ک/ہ and ئے in Arabic script, Latin letters for case).
TEXTS = {
    "en": "On 12 March, the Lahore market will reopen; everyone should come early, bring 3 friends, and wait.",
    "ur": "کہا گیا ہے کہ 12 مارچ کو لاہور کی مارکیٹ دوبارہ کھلے گی، سب لوگ آئے اور انتظار کیا گیا۔",
    "ps": "ويل کیږي چې د 12 مارچ په ورځ به د پېښور بازار بیا پرانیستل شي، ټول خلک دې ژر راشي؟",
}
ARABIC_ONLY = {name for name, (_, arabic) in REUPLOAD_RULES.items() if arabic}


def _applies(rule: str, lang: str) -> bool:
    """Whether the rule has something to change in TEXTS[lang]."""
    if rule in ARABIC_ONLY and lang == "en":
        return False
    if rule == "yeh_barree_hamza":
        return "ئے" in TEXTS[lang]
    return rule != "case" or lang == "en"


REUPLOAD_CASES = [(rule, lang) for rule in sorted(REUPLOAD_RULES) for lang in sorted(TEXTS) if _applies(rule, lang)]


def test_every_reupload_rule_has_a_case() -> None:
    assert {rule for rule, _ in REUPLOAD_CASES} == set(REUPLOAD_RULES)


@pytest.mark.parametrize(("rule", "lang"), REUPLOAD_CASES)
def test_each_reupload_rule_changes_the_text_but_not_the_fingerprint(rule: str, lang: str) -> None:
    text = TEXTS[lang]
    changed = apply_rule(rule, text, random.Random(7))
    assert changed != text
    assert fingerprint(changed) == fingerprint(text), (rule, changed)


def test_reupload_variants_are_seeded_and_record_their_rules() -> None:
    a = [reupload(TEXTS["ur"], "ur", random.Random(3)) for _ in range(2)]
    assert a[0] == a[1]
    assert reupload(TEXTS["ur"], "ur", random.Random(4)) != a[0]
    assert len(a[0].rules) == 4 and a[0].text != TEXTS["ur"]


def test_english_variants_never_use_arabic_script_rules() -> None:
    rng = random.Random(1)
    for _ in range(50):
        assert not ARABIC_ONLY & set(reupload(TEXTS["en"], "en", rng).rules)


@pytest.mark.parametrize("edit", sorted(NEAR_DUPLICATE_EDITS))
@pytest.mark.parametrize("lang", sorted(TEXTS))
def test_each_near_duplicate_edit_changes_the_words(edit: str, lang: str) -> None:
    variant = near_duplicate(TEXTS[lang], lang, random.Random(5), edit=edit)
    assert variant.rules == (edit,)
    assert canonical_form(variant.text) != canonical_form(TEXTS[lang])
    assert variant == near_duplicate(TEXTS[lang], lang, random.Random(5), edit=edit)
