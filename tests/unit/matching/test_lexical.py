"""The lexical signal's minimum-content rule: a short common phrase inside a long text is not a copy."""

from __future__ import annotations

from service.core import canonical_form, lexical_similarity, shingles

STORY = (
    "Security forces said the convoy was attacked near the river crossing late on Tuesday night, "
    "and officials said no casualties have been reported so far while the road stays closed."
)


def score(a: str, b: str) -> float:
    return lexical_similarity(shingles(canonical_form(a)), shingles(canonical_form(b))).score


def test_a_short_generic_sentence_inside_a_long_story_is_not_a_near_duplicate() -> None:
    generic = "No casualties have been reported so far."
    lex = lexical_similarity(shingles(canonical_form(STORY)), shingles(canonical_form(generic)))
    assert lex.containment > 0.9 and lex.coverage < 0.3
    assert score(STORY, generic) == score(generic, STORY) == 0.0


def test_a_reference_with_a_little_commentary_or_a_cut_still_counts() -> None:
    reference = "The convoy was attacked near the river crossing late on Tuesday night."
    wrapped = f"Share this everywhere brothers: {reference}"
    assert score(wrapped, reference) > 0.9
    assert score("The convoy was attacked near the river crossing", reference) > 0.9


def test_a_long_reference_inside_a_longer_post_counts_whatever_the_commentary() -> None:
    reference = STORY
    post = STORY + (
        " Commentary: brothers, read this carefully and remember why we keep going. Every village from the "
        "mountains to the plains knows what happened, yet the newspapers stay quiet about the fighting. Spread "
        "these words to your friends in Quetta, Peshawar, Kandahar and Lahore; tell the elders, the students, "
        "the shopkeepers and the drivers. Nobody can silence a message that travels by hand, by phone and by "
        "memory through every market, mosque and bus station between Jalalabad and Karachi this winter."
    )
    lex = lexical_similarity(shingles(canonical_form(post)), shingles(canonical_form(reference)))
    assert lex.coverage < 0.3 and lex.shorter >= 80
    assert score(post, reference) > 0.9
