"""Encoder batches of texts of similar token length, so each batch pads little.

The encoder pads every text of a batch to its longest, so a batch costs its
size times its longest text in tokens. Characters are a poor guide to that:
an Urdu or Pashto sentence takes more tokens per character than an English
one (bench/bench_token_lengths.py), and a mixed batch sorted by characters
still pads its short-token texts to the long-token ones. Both encoder
backends therefore count tokens first and group by that count.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from service.core.cancellation import StopCheck, stop_if_asked


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices into ``lengths``, in batches of at most ``batch_size``, each of neighbours in length.

    Longest first, so the most expensive batch runs while a caller's stop
    check is still fresh; equal lengths keep their input order, so the
    batches are the same on every run. As many batches as input order
    would make, and never more padding: the one short batch goes where it
    saves the most (with the longest texts when they stand out, with the
    shortest when they do), which plain chunking of the sorted order misses.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    full, short = divmod(len(order), batch_size)
    if not short:
        return _chunks(order, [batch_size] * full)
    # With k full batches before the short one, batch maxima are the sorted
    # lengths at 0, s, .., (k-1)s, then ks (the short batch), then ks+short+js:
    # prefix and suffix sums price every k in one pass, not n/s passes of n.
    ordered = [lengths[i] for i in order]
    before = [0] * (full + 1)
    for k in range(full):
        before[k + 1] = before[k] + ordered[k * batch_size]
    after = [0] * (full + 1)
    for t in range(full - 1, -1, -1):
        after[t] = after[t + 1] + ordered[t * batch_size + short]
    cost = {k: batch_size * (before[k] + after[k]) + short * ordered[k * batch_size] for k in range(full + 1)}
    place = min(range(full, -1, -1), key=cost.__getitem__)  # ties keep the short batch last
    return _chunks(order, [batch_size] * place + [short] + [batch_size] * (full - place))


def _chunks(order: list[int], sizes: list[int]) -> list[list[int]]:
    out, start = [], 0
    for size in sizes:
        out.append(order[start : start + size])
        start += size
    return out


def padded_tokens(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> int:
    """Token positions the encoder computes for ``batches``: each batch's size times its longest text."""
    return sum(len(batch) * max(lengths[i] for i in batch) for batch in batches if batch)


def embed_by_length(
    lengths: Sequence[int], batch_size: int, dim: int, stop: StopCheck, encode: Callable[[list[int]], NDArray[np.float32]]
) -> NDArray[np.float32]:
    """Rows in input order, from ``encode(indices)`` over :func:`length_batches`; Cancelled at a batch boundary once ``stop()``."""
    out = np.zeros((len(lengths), dim), dtype=np.float32)
    for piece in length_batches(lengths, batch_size):
        stop_if_asked(stop, "the next embedding batch")
        out[piece] = encode(piece)
    return out
