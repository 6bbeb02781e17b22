"""Request checks shared by every entry point (gRPC, CLI, index_builder, evaluation).

One function per kind of value, each raising :class:`InvalidInput` (or
:class:`LimitExceeded`) that names the offending field, so the same mistake
gets the same answer whichever RPC or tool it arrives through.
"""

from __future__ import annotations

import base64
import math
from typing import Iterable, Mapping, Sequence

from service.core.config import Limits
from service.core.domain import MatchOptions, Post, Verdict
from service.core.errors import InvalidInput, LimitExceeded

MAX_PAGE = 1000
DEFAULT_PAGE = 100
# Positions (vids, audit and change sequence numbers) are signed 64-bit integers in every store.
MAX_POSITION = 2**63 - 1
# Epoch seconds of 0001-01-01 and 9999-12-31T23:59:59Z: the range protobuf's Timestamp carries.
MIN_TIME = -62_135_596_800
MAX_TIME = 253_402_300_799


def check_count(field: str, count: int, limit: int) -> None:
    if count == 0:
        raise InvalidInput(field, "at least one is required")
    if count > limit:
        raise LimitExceeded(field, f"{count} exceed the limit of {limit} per request")


def check_text(field: str, text: str, max_bytes: int) -> int:
    """A non-blank text of at most ``max_bytes`` UTF-8 bytes; returns its size."""
    # Measured before anything else reads the text: a huge one costs no more than this.
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise LimitExceeded(field, f"{size} bytes exceed the limit of {max_bytes}")
    if not text.strip():
        raise InvalidInput(field, "must not be empty")
    return size


def check_id(field: str, ref_id: str, max_bytes: int = 0) -> str:
    """A non-empty id (of at most ``max_bytes`` UTF-8 bytes when given)."""
    if not ref_id:
        raise InvalidInput(field, "must not be empty")
    if max_bytes and len(ref_id.encode("utf-8", errors="surrogatepass")) > max_bytes:
        raise LimitExceeded(field, f"ids are at most {max_bytes} bytes")
    return ref_id


_HEX = frozenset("0123456789abcdef")


def check_fingerprint(field: str, fingerprint: str) -> str:
    """A fingerprint as the service computes them (hex SHA-256, text/normalize.py), in lower case."""
    value = fingerprint.strip().lower()
    if len(value) != 64 or not set(value) <= _HEX:
        raise InvalidInput(field, "a fingerprint is 64 hex digits: the SHA-256 of the text's canonical form (README, hash-only references)")
    return value


def check_item_annotations(field: str, labels: Sequence[str], metadata: Mapping[str, str], limits: Limits) -> None:
    """Labels and metadata within the per-item caps (their content is checked by labels.py)."""
    if len(labels) > limits.max_labels_per_item:
        raise LimitExceeded(f"{field}.labels", f"{len(labels)} labels exceed the limit of {limits.max_labels_per_item} per item")
    if len(metadata) > limits.max_metadata_entries:
        raise LimitExceeded(f"{field}.metadata", f"{len(metadata)} entries exceed the limit of {limits.max_metadata_entries} per item")
    size = _annotation_bytes(metadata)
    if size > limits.max_metadata_bytes:
        raise LimitExceeded(f"{field}.metadata", f"{size} bytes exceed the limit of {limits.max_metadata_bytes} per item")


def _annotation_bytes(metadata: Mapping[str, str]) -> int:
    return sum(len(k.encode("utf-8", errors="surrogatepass")) + len(v.encode("utf-8", errors="surrogatepass")) for k, v in metadata.items())


def check_match_options(options: MatchOptions, limits: Limits) -> None:
    """A request's own narrowing of the verdicts: real kinds, finite scores, a metadata filter within an item's caps."""
    if Verdict.NO_MATCH in options.verdicts:
        raise InvalidInput("verdicts", "NO_MATCH is not a kind of match; give the kinds of match to return")
    for kind, score in options.min_scores.items():
        if kind is Verdict.NO_MATCH:
            raise InvalidInput("min_scores", "NO_MATCH is not a kind of match")
        if not math.isfinite(score):
            raise InvalidInput(f"min_scores[{kind.name}]", f"must be a finite number, got {score}")
    if len(options.metadata) > limits.max_metadata_entries:
        raise LimitExceeded("metadata_filter", f"{len(options.metadata)} entries exceed the limit of {limits.max_metadata_entries}")
    if _annotation_bytes(options.metadata) > limits.max_metadata_bytes:
        raise LimitExceeded("metadata_filter", f"more than the limit of {limits.max_metadata_bytes} bytes")


def check_ids(ids: Sequence[str], limits: Limits, field: str = "ids") -> list[str]:
    """A non-empty list of non-empty ids within the limits (every RPC that takes ids)."""
    check_count(field, len(ids), limits.max_references_per_request)
    for i, ref_id in enumerate(ids):
        check_id(f"{field}[{i}]", ref_id, limits.max_id_bytes)
    return list(ids)


def check_posts(posts: Sequence[Post], limits: Limits) -> None:
    check_count("posts", len(posts), limits.max_posts_per_request)
    check_texts(((f"posts[{i}].text", post.text) for i, post in enumerate(posts)), limits, "posts")


def check_texts(texts: Iterable[tuple[str, str]], limits: Limits, field: str) -> None:
    """Texts to match, given as (field, text): each as a post's, and together within one request's bytes."""
    total = 0
    for name, text in texts:
        total += check_text(name, text, limits.max_text_bytes)
    if total > limits.max_request_text_bytes:
        raise LimitExceeded(field, f"{total} bytes of text in one request exceed the limit of {limits.max_request_text_bytes}")


def check_top_k(top_k: int, limits: Limits) -> int:
    """The number of matches to return per post (0: the configured default)."""
    if top_k < 0 or top_k > limits.max_top_k:
        raise InvalidInput("top_k", f"must be between 0 and {limits.max_top_k}")
    return top_k or limits.default_top_k


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidInput("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE, MAX_PAGE)


_TOKEN_PREFIX = "p1."


def make_page_token(position: int) -> str:
    """The token of the page after ``position``: opaque to callers, so its form can change."""
    return base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{position}".encode()).decode().rstrip("=")


def parse_page_token(token: str) -> int:
    """The position a page token stands for (0 for the first page); anything this service did not issue is refused."""
    if not token:
        return 0
    refused = InvalidInput("page_token", f"{token[:40]!r} is not a token this service issued")
    if len(token) > 40 or not token.isascii():
        raise refused
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        raise refused from None
    digits = text.removeprefix(_TOKEN_PREFIX)
    if digits == text or not digits.isdigit() or not digits.isascii() or int(digits) > MAX_POSITION:
        raise refused
    return int(digits)


def check_time(field: str, seconds: float) -> float:
    """A time (epoch seconds) that every client can read back: years 1 to 9999, as protobuf's Timestamp."""
    if not MIN_TIME <= seconds <= MAX_TIME:
        raise InvalidInput(field, "must be a time between the years 1 and 9999")
    return seconds


def check_cursor(after: int) -> int:
    if after < 0:
        raise InvalidInput("after", "must not be negative")
    if after > MAX_POSITION:
        raise InvalidInput("after", f"{after} is past any cursor this service issues")
    return after
