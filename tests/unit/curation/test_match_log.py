"""The match log the review queue reads (curation/match_log.py), over a real SQLite store and engine (hashing test double)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from service.core import (
    ConfigError, FailedPrecondition, Feedback, FeedbackVerdict, LoggedMatch, Match, MatchLogQuery, Post, Signal, Verdict
)
from service.core.config import MatchLogConfig
from tests.support.curation_factories import TEXTS, Opened, add, engine_at, ref

ON = MatchLogConfig(enabled=True)


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Opened]:
    with engine_at(tmp_path, match_log=ON) as o:
        yield o


def entry(kind: Verdict, *, bank: str = "b", labels: tuple[str, ...] = ("org:x",), post: str = "p", ref_id: str = "r", at: float = 1e9) -> LoggedMatch:
    signal = {Verdict.REUPLOAD: Signal.EXACT, Verdict.NEAR_DUPLICATE: Signal.LEXICAL}.get(kind, Signal.SEMANTIC)
    match = Match(reference_id=ref_id, score=0.9, kind=kind, signal=signal, bank=bank, labels=labels, cosine=0.9, reference_lang="en")
    return LoggedMatch(seq=0, at=at, post_id=post, post_text=f"text of {post}", post_lang="en", match=match)


def keep(opened: Opened, *entries: LoggedMatch, max_entries: int = 1000, keep_after: float = 0.0) -> None:
    opened.store.match_log.record(list(entries), max_entries=max_entries, keep_after=keep_after)


def queue(opened: Opened, **query: object) -> list[tuple[str, Verdict]]:
    entries, _ = opened.curation.match_log.queue(MatchLogQuery(**query))  # type: ignore[arg-type]
    return [(e.post_id, e.match.kind) for e in entries]


def test_off_by_default_records_nothing_and_says_how_to_turn_it_on(tmp_path: Path) -> None:
    with engine_at(tmp_path) as off:
        add(off.curation, ref("a"))
        off.engine.match([Post("p", TEXTS[0])], record=True)
        with pytest.raises(FailedPrecondition, match=r"\[match_log\] enabled"):
            off.curation.match_log.queue(MatchLogQuery())
        assert off.store.match_log.query(MatchLogQuery(), after=None, limit=10) == []


def test_the_services_flagged_matches_are_kept_with_the_post(opened: Opened) -> None:
    add(opened.curation, ref("a"))
    opened.engine.match([Post("copy", TEXTS[0].upper()), Post("other", TEXTS[3])], record=True)
    [kept] = opened.curation.match_log.queue(MatchLogQuery())[0]
    assert (kept.post_id, kept.post_text, kept.post_lang) == ("copy", TEXTS[0].upper(), "en")
    assert (kept.match.reference_id, kept.match.kind, kept.review) == ("a", Verdict.REUPLOAD, None)
    # A caller that does not ask (index_builder, the evaluation) leaves no trace.
    opened.engine.match([Post("batch", TEXTS[0])])
    assert [e.post_id for e in opened.curation.match_log.queue(MatchLogQuery())[0]] == ["copy"]


def test_review_order_is_by_meaning_first_then_newest_first(opened: Opened) -> None:
    keep(opened, entry(Verdict.REUPLOAD, post="r1"), entry(Verdict.TRANSLATION, post="t1"), entry(Verdict.NEAR_DUPLICATE, post="n1"))
    keep(opened, entry(Verdict.PARAPHRASE, post="p1"), entry(Verdict.TRANSLATION, post="t2"))
    assert queue(opened) == [
        ("p1", Verdict.PARAPHRASE), ("t2", Verdict.TRANSLATION), ("t1", Verdict.TRANSLATION),
        ("n1", Verdict.NEAR_DUPLICATE), ("r1", Verdict.REUPLOAD),
    ]


def test_pages_walk_the_queue_once_in_order(opened: Opened) -> None:
    kinds = [Verdict.REUPLOAD, Verdict.TRANSLATION, Verdict.NEAR_DUPLICATE, Verdict.PARAPHRASE, Verdict.TRANSLATION, Verdict.REUPLOAD, Verdict.TRANSLATION]
    keep(opened, *(entry(kind, post=f"p{i}") for i, kind in enumerate(kinds)))
    seen, token = [], ""
    while True:
        page, token = opened.curation.match_log.queue(MatchLogQuery(page_size=2, page_token=token))
        seen += [(e.post_id, e.match.kind) for e in page]
        if not token:
            break
    assert seen == queue(opened, page_size=100) and len(seen) == len(kinds)


def test_filters(opened: Opened) -> None:
    keep(
        opened, entry(Verdict.TRANSLATION, bank="gifct", labels=("org:a",), post="x"), entry(Verdict.TRANSLATION, bank="local", post="y"),
        entry(Verdict.REUPLOAD, bank="gifct", labels=("org:b", "severity:high"), post="z"),
    )
    assert queue(opened, bank="gifct") == [("x", Verdict.TRANSLATION), ("z", Verdict.REUPLOAD)]
    assert queue(opened, verdict=Verdict.REUPLOAD) == [("z", Verdict.REUPLOAD)]
    assert queue(opened, label="severity:high") == [("z", Verdict.REUPLOAD)]


def test_a_reviewed_pair_leaves_the_queue_and_carries_its_latest_review(opened: Opened) -> None:
    add(opened.curation, ref("a"))
    keep(opened, entry(Verdict.TRANSLATION, post="p1", ref_id="a"), entry(Verdict.TRANSLATION, post="p2", ref_id="a"))
    reviews = opened.curation.reviews
    reviews.report(Feedback(reference_id="a", post_id="p1", verdict=FeedbackVerdict.TRUE_POSITIVE, reporter="curator:x"))
    reviews.report(Feedback(reference_id="a", post_id="p1", verdict=FeedbackVerdict.FALSE_POSITIVE, reporter="curator:y"))
    assert queue(opened) == [("p2", Verdict.TRANSLATION)]
    everything = opened.curation.match_log.queue(MatchLogQuery(include_reviewed=True))[0]
    assert {e.post_id: e.review for e in everything} == {"p1": FeedbackVerdict.FALSE_POSITIVE, "p2": None}


def test_the_log_is_bounded_by_count_and_by_age(opened: Opened) -> None:
    keep(opened, *(entry(Verdict.REUPLOAD, post=f"old{i}", at=100.0) for i in range(3)))
    keep(opened, *(entry(Verdict.REUPLOAD, post=f"new{i}", at=200.0) for i in range(4)), max_entries=5)
    assert {p for p, _ in queue(opened)} == {"old2", "new0", "new1", "new2", "new3"}
    keep(opened, entry(Verdict.REUPLOAD, post="newest", at=300.0), keep_after=150.0)
    assert {p for p, _ in queue(opened)} == {"new0", "new1", "new2", "new3", "newest"}


def test_a_failed_write_never_fails_the_match(opened: Opened, monkeypatch: pytest.MonkeyPatch) -> None:
    add(opened.curation, ref("a"))

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(opened.store.match_log, "record", broken)
    [result] = opened.engine.match([Post("p", TEXTS[0])], record=True)
    assert result.verdict is Verdict.REUPLOAD
    assert opened.curation.match_log.write_failures == 1


@pytest.mark.parametrize(("setting", "value"), [("max_entries", 0), ("retention_days", 0.0)])
def test_bad_settings_are_refused(setting: str, value: float) -> None:
    with pytest.raises(ConfigError, match=setting):
        MatchLogConfig(enabled=True, **{setting: value})  # type: ignore[arg-type]
