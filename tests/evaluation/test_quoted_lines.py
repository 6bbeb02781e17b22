"""The eval's negatives and distractor references: never a line that quotes a line the test set uses."""

from __future__ import annotations

from evaluation.bank_sizes import distractors
from evaluation.corpus import Triple
from evaluation import testset as ts
from evaluation.testset import QUOTED_RUN, Query, Reference, build_testset, quoted_runs
from service.core import Verdict


def _line(n: int, en: str) -> Triple:
    return Triple(corpus="c", line=n, segment="s", texts={"en": en, "ur": f"اردو جملہ {n}", "ps": f"پښتو جمله {n}"})


def test_a_line_quoting_a_test_line_is_no_distractor() -> None:
    post_line = _line(1, "The council closed every school in the northern district on Monday morning.")
    testset = ts.TestSet(part="report", references=[Reference(id="c:1:en", lang="en", text=post_line.texts["en"])],
                      queries=[Query(id="c:1:ur/translation", text=post_line.texts["ur"], lang="ur", expected=Verdict.TRANSLATION,
                                     reference_id="c:1:en", reference_lang="en")])
    headline = _line(2, "Officials say the council closed every school in the northern district")  # a headline quoting it
    unrelated = _line(3, "Rain is expected across the coast for the rest of the week, forecasters said.")
    short_overlap = _line(4, "Every school in the town reopened.")  # fewer shared words in a row than QUOTED_RUN
    pool, skipped = distractors(testset, [post_line, headline, unrelated, short_overlap], [], seed=1)
    lines = {r.id.split(":")[1] for r in pool}
    assert skipped == 1
    assert lines == {"3", "4"}
    assert QUOTED_RUN > len("every school in the".split())
    # Every language of a kept line is a distractor, and none of the test set's own lines is.
    assert sorted(r.lang for r in pool if r.id.startswith("c:3:")) == ["en", "ps", "ur"]


def test_a_line_quoting_a_reference_is_no_negative() -> None:
    lines = [_line(n, f"Sentence number {n} talks about its own topic in the {w} valley today.") for n, w in
             enumerate(["upper", "lower", "green", "dry", "wide", "far"], start=1)]
    # Every reference candidate is quoted by one headline; whichever line becomes a reference, its headline is no negative.
    headlines = [_line(100 + t.line, "Report: " + " ".join(t.texts["en"].split()[:8])) for t in lines]
    testset = build_testset(lines + headlines, "report", n_references=2, n_negatives=None, seed=3)
    refs = {r.id.split(":")[1] for r in testset.references}
    negatives = {q.id.split(":")[1] for q in testset.queries if q.expected is Verdict.NO_MATCH}
    assert negatives and not negatives & {str(100 + int(r)) for r in refs}
    assert all(quoted_runs(t.texts["en"]) for t in headlines)
    assert negatives & {str(t.line) for t in headlines}  # a headline quoting no reference stays a negative
