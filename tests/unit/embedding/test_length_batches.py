"""Encoder batches group texts of similar token length, so each batch pads little."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.core.embedding.length_batches import length_batches, padded_tokens


def test_batches_are_neighbours_in_length_longest_first() -> None:
    lengths = [5, 40, 6, 38, 7, 41]
    assert length_batches(lengths, 2) == [[5, 1], [3, 4], [2, 0]]


def test_equal_lengths_keep_their_input_order() -> None:
    assert length_batches([9, 9, 9, 9, 9], 2) == [[0, 1], [2, 3], [4]]


def test_mixed_scripts_pad_far_less_than_in_input_order() -> None:
    # Short and long texts alternating, as Urdu and English posts of one call might.
    lengths = [12, 120] * 16
    in_order = [list(range(i, i + 8)) for i in range(0, len(lengths), 8)]
    assert padded_tokens(lengths, in_order) == 32 * 120
    assert padded_tokens(lengths, length_batches(lengths, 8)) == 16 * 120 + 16 * 12


def test_empty_input_is_no_batches_and_a_bad_size_is_refused() -> None:
    assert length_batches([], 32) == []
    with pytest.raises(ValueError, match="batch_size"):
        length_batches([3], 0)


@given(st.lists(st.integers(min_value=1, max_value=512), max_size=200), st.integers(min_value=1, max_value=40))
def test_every_text_once_and_never_more_padding_than_input_order(lengths: list[int], size: int) -> None:
    batches = length_batches(lengths, size)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert all(1 <= len(batch) <= size for batch in batches)
    in_order = [list(range(i, min(i + size, len(lengths)))) for i in range(0, len(lengths), size)]
    assert padded_tokens(lengths, batches) <= padded_tokens(lengths, in_order)


@given(st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=60), st.integers(min_value=1, max_value=9))
def test_the_short_batch_goes_where_it_pads_least(lengths: list[int], size: int) -> None:
    # Against pricing every place of the short batch directly.
    batches = length_batches(lengths, size)
    order = [i for batch in batches for i in batch]
    full, short = divmod(len(lengths), size)
    layouts = [[size] * k + ([short] if short else []) + [size] * (full - k) for k in range(full + 1)]

    def chunked(sizes: list[int]) -> list[list[int]]:
        starts = [sum(sizes[:j]) for j in range(len(sizes))]
        return [order[a : a + n] for a, n in zip(starts, sizes)]

    assert sorted(lengths[i] for i in order) == sorted(lengths) and all(
        lengths[a] >= lengths[b] for a, b in zip(order, order[1:])
    )
    assert padded_tokens(lengths, batches) == min(padded_tokens(lengths, chunked(sizes)) for sizes in layouts)


def test_a_short_batch_of_the_longest_texts() -> None:
    # Plain chunking of the sorted order padded a 1-token text to 2 here.
    assert length_batches([1, 1, 2], 2) == [[2], [0, 1]]
    assert length_batches([10, 9, 1], 2) == [[0, 1], [2]]
