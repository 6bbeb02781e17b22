"""Language tags as callers write them, reduced to the stored en/ur/ps (text/language_tags.py)."""

from __future__ import annotations

import pytest

from service.core import InvalidInput
from service.core.text.language_tags import normalise_lang


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("en", "en"), ("ur", "ur"), ("ps", "ps"),
        ("eng", "en"), ("urd", "ur"), ("pus", "ps"), ("pbt", "ps"), ("pbu", "ps"), ("pst", "ps"),
        ("ur-PK", "ur"), ("ps-AF", "ps"), ("en-GB", "en"), ("ur-Arab-PK", "ur"), ("EN_us", "en"), (" ps-Arab ", "ps"),
        ("", ""),
    ],
)
def test_tags_and_codes_reduce_to_the_stored_code(tag: str, code: str) -> None:
    assert normalise_lang(tag) == code


@pytest.mark.parametrize("tag", ["fr", "fra", "pa-PK", "snd", "x-klingon-"])
def test_other_languages_are_refused_naming_the_field(tag: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalise_lang(tag, "references[3].lang")
    assert err.value.field == "references[3].lang"
    assert "ur-PK" in str(err.value)  # says what is accepted


@pytest.mark.parametrize("tag", ["ur PK", "ur--PK", "urdu!", "ur-" + "x" * 9, "u" * 100, "-ur"])
def test_what_is_not_a_tag_is_refused_as_such(tag: str) -> None:
    with pytest.raises(InvalidInput, match="not a language tag|unsupported language"):
        normalise_lang(tag)
