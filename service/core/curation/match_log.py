"""The match log: flagged matches the service keeps, so reviewers can work through them (the review queue).

Opt-in (``[match_log] enabled``), because it keeps users' post texts, and
bounded by count and age (``max_entries``, ``retention_days``). The service's
own ``Match`` and ``MatchStream`` record into it; ``index_builder`` and the
evaluation do not. One entry per flagged match (a post with two matches is
two entries), so a reviewer decides on each (post, reference) pair with
``ReportMatch``, which takes the pair out of the queue and into the item's
precision.

The queue's order is REVIEW_ORDER (verdicts by meaning first, where false
positives are, then near-duplicates, then exact copies), newest first within
a verdict. A failure to write the log is logged and counted, never a failed
Match: screening must not stop because the review queue could not grow.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Sequence

from service.core.config import MatchLogConfig
from service.core.domain import REVIEW_ORDER, LoggedMatch, MatchLogQuery, Post, PostResult, Verdict
from service.core.errors import FailedPrecondition
from service.core.store.base import ReferenceStore
from service.core.validation import make_page_token, page_size, parse_page_token

log = logging.getLogger(__name__)

_SEQ_BITS = 48
_SEQ_MASK = (1 << _SEQ_BITS) - 1
_DAY = 86_400.0


class MatchLog:
    def __init__(self, store: ReferenceStore, config: MatchLogConfig) -> None:
        self._store = store
        self._config = config
        self._lock = threading.Lock()
        self.write_failures = 0

    @property
    def enabled(self) -> bool:
        return self._config.enabled

    def record(self, posts: Sequence[Post], results: Sequence[PostResult]) -> None:
        """Keep every match of every flagged post (``results`` in the order of ``posts``)."""
        if not self._config.enabled:
            return
        now = time.time()
        entries = [
            LoggedMatch(seq=0, at=now, post_id=post.id, post_text=post.text, post_lang=result.detected_lang, match=match)
            for post, result in zip(posts, results)
            if result.verdict is not Verdict.NO_MATCH
            for match in result.matches
        ]
        if not entries:
            return
        try:
            self._store.match_log.record(
                entries, max_entries=self._config.max_entries, keep_after=now - self._config.retention_days * _DAY
            )
        except Exception:  # noqa: BLE001 - any store failure: the verdicts still go back
            with self._lock:
                self.write_failures += 1
            log.warning("could not record %d flagged match(es) in the match log", len(entries), exc_info=True)

    def queue(self, query: MatchLogQuery) -> tuple[list[LoggedMatch], str]:
        """One page of the review queue and the token of the next page."""
        if not self._config.enabled:
            raise FailedPrecondition("the match log is off; set [match_log] enabled = true to keep flagged matches for review")
        size = page_size(query.page_size)
        position = parse_page_token(query.page_token)
        after = (position >> _SEQ_BITS, position & _SEQ_MASK) if position else None
        entries = self._store.match_log.query(query, after=after, limit=size)
        if len(entries) < size:
            return entries, ""
        last = entries[-1]
        return entries, make_page_token((REVIEW_ORDER[last.match.kind] << _SEQ_BITS) | last.seq)
