"""Gradual roll-out: a bank that matches only a share of posts (HMA's ``enabled_ratio``).

A new bank, or one whose thresholds were loosened, can be tried on 5% of
traffic before 100%. Which posts are in the share is decided by a hash of
the bank's name and the post's fingerprint, not by chance: the same post, or
a re-upload of it with surface changes, gets the same answer on every call,
on every replica and in ``index_builder``, so a verdict never flickers and
widening the share only adds posts (a post in at 5% is in at 50%).
"""

from __future__ import annotations

import hashlib
import math

from service.core.errors import InvalidInput

_SCALE = float(2**64)


def in_share(bank: str, post_key: str, share: float) -> bool:
    """Whether a post (by its fingerprint) is among the ``share`` of posts the bank matches."""
    if share >= 1.0:
        return True
    if share <= 0.0:
        return False
    digest = hashlib.blake2b(f"{bank}\0{post_key}".encode("utf-8", errors="surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE < share


def check_share(share: float, field: str = "match_share") -> float:
    if not math.isfinite(share) or not 0.0 <= share <= 1.0:
        raise InvalidInput(field, f"must be between 0 and 1 (the share of posts the bank matches), got {share}")
    return share
