"""Request checks shared by every entry point (gRPC, CLI, index_builder, evaluation).

One function per kind of value, each raising :class:`InvalidInput` (or
:class:`LimitExceeded`) that names the offending field, so the same mistake
gets the same answer whichever RPC or tool it arrives through.
"""

from __future__ import annotations

from typing import Sequence

from service.core.config import Limits
from service.core.domain import SUPPORTED_LANGUAGES, Post
from service.core.errors import InvalidInput, LimitExceeded

MAX_PAGE = 1000
DEFAULT_PAGE = 100
# Positions (vids, audit and change sequence numbers) are signed 64-bit integers in every store.
MAX_POSITION = 2**63 - 1


def check_count(field: str, count: int, limit: int) -> None:
    if count == 0:
        raise InvalidInput(field, "at least one is required")
    if count > limit:
        raise LimitExceeded(field, f"{count} exceed the limit of {limit} per request")


def check_text(field: str, text: str, max_bytes: int) -> None:
    if not text or not text.strip():
        raise InvalidInput(field, "must not be empty")
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise LimitExceeded(field, f"{size} bytes exceed the limit of {max_bytes}")


def check_lang(field: str, lang: str) -> str:
    """A declared language: empty (detect it) or one of the supported ones."""
    if lang and lang not in SUPPORTED_LANGUAGES:
        raise InvalidInput(field, f"unsupported language {lang!r}; use {', '.join(SUPPORTED_LANGUAGES)}")
    return lang


def check_id(field: str, ref_id: str) -> str:
    if not ref_id:
        raise InvalidInput(field, "must not be empty")
    return ref_id


def check_ids(ids: Sequence[str], field: str = "ids") -> list[str]:
    """A non-empty list of non-empty ids (every RPC that takes ids)."""
    if not ids:
        raise InvalidInput(field, "at least one id is required")
    for i, ref_id in enumerate(ids):
        check_id(f"{field}[{i}]", ref_id)
    return list(ids)


def check_posts(posts: Sequence[Post], limits: Limits) -> None:
    check_count("posts", len(posts), limits.max_posts_per_request)
    for i, post in enumerate(posts):
        check_text(f"posts[{i}].text", post.text, limits.max_text_bytes)


def check_top_k(top_k: int, limits: Limits) -> int:
    """The number of matches to return per post (0: the configured default)."""
    if top_k < 0 or top_k > limits.max_top_k:
        raise InvalidInput("top_k", f"must be between 0 and {limits.max_top_k}")
    return top_k or limits.default_top_k


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidInput("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE, MAX_PAGE)


def parse_page_token(token: str) -> int:
    """The position a page token stands for (0 for the first page)."""
    if not token:
        return 0
    if not (token.isascii() and token.isdigit()) or len(token) > 19 or int(token) > MAX_POSITION:
        raise InvalidInput("page_token", f"{token[:40]!r} is not a token this service issued")
    return int(token)


def check_cursor(after: int) -> int:
    if after < 0:
        raise InvalidInput("after", "must not be negative")
    if after > MAX_POSITION:
        raise InvalidInput("after", f"{after} is past any cursor this service issues")
    return after
