"""The onnxruntime backend's padding and pooling, on made-up token states (no model)."""

from __future__ import annotations

import numpy as np

from service.core.embedding.onnx import mean_pool, pad_batch


def test_pad_batch_pads_to_the_longest_with_the_pad_id_and_masks_it() -> None:
    ids, mask = pad_batch([[0, 5, 2], [0, 7, 8, 9, 2]], pad_id=1)
    assert ids.dtype == np.int64 and mask.dtype == np.int64
    assert ids.tolist() == [[0, 5, 2, 1, 1], [0, 7, 8, 9, 2]]
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]


def test_mean_pool_is_the_normalised_mean_over_real_tokens_only() -> None:
    rng = np.random.default_rng(7)
    hidden = rng.normal(size=(3, 6, 16)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]], dtype=np.int64)
    pooled = mean_pool(hidden, mask)
    for row, n in enumerate(mask.sum(axis=1)):
        expected = hidden[row, :n].mean(axis=0)
        np.testing.assert_allclose(pooled[row], expected / np.linalg.norm(expected), rtol=1e-5, atol=1e-6)
    assert pooled.dtype == np.float32 and pooled.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, rtol=1e-6)


def test_what_the_encoder_puts_on_padding_never_reaches_the_vector() -> None:
    rng = np.random.default_rng(8)
    hidden = rng.normal(size=(2, 5, 8)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=np.int64)
    noisy = hidden.copy()
    noisy[0, 3:] = 1e6
    np.testing.assert_array_equal(mean_pool(hidden, mask), mean_pool(noisy, mask))


def test_a_row_with_no_real_token_gives_zeros_not_nan() -> None:
    pooled = mean_pool(np.ones((1, 3, 4), dtype=np.float32), np.zeros((1, 3), dtype=np.int64))
    assert np.all(pooled == 0.0)
