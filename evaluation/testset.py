"""Test sets: references in all three languages and labelled queries against them.

Each reference triple contributes one sentence to the bank, in a language
that rotates over en/ur/ps. Its queries are a re-upload variant and a
near-duplicate edit (same language) and its two translations (the other
languages). Negatives are sentences of triples that are not in the bank: half
from the same segment as a reference (same document, same topic), half from
elsewhere. A negative whose canonical form equals a reference's is dropped:
corpora repeat short lines, and such a line *is* a re-upload. So is a line
quoting a reference's line (``quotes``): it is never a negative.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from evaluation.corpus import LANGS, Triple
from evaluation.perturb import Variant, near_duplicate, reupload
from service.core import Verdict, canonical_form


@dataclass(frozen=True)
class Reference:
    id: str
    lang: str
    text: str


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    lang: str  # language the query is written in
    expected: Verdict
    reference_id: str = ""  # empty for negatives
    reference_lang: str = ""
    rules: tuple[str, ...] = ()
    hard: bool = False  # a negative from a reference's own segment


@dataclass
class TestSet:
    part: str
    references: list[Reference] = field(default_factory=list)
    queries: list[Query] = field(default_factory=list)

    def sizes(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for q in self.queries:
            counts[q.expected.name] += 1
        return {"references": len(self.references), **counts}


#: Words in a row a negative or distractor line may share with a reference line, in English (the
#: side every aligned line has): a longer shared run is quoted text, the same content. The
#: corpora repeat themselves (a headline and the body sentence it sums up, one fact restated
#: across TICO-19's documents, a number spelled out in one copy), and such a line is a real
#: match for the reference, not a negative. The rule reads the corpus, not any of Nigran's scores.
QUOTED_RUN = 6


def quoted_runs(text: str) -> set[tuple[str, ...]]:
    """The runs of ``QUOTED_RUN`` words of ``text``'s canonical form."""
    words = canonical_form(text).split()
    return {tuple(words[i : i + QUOTED_RUN]) for i in range(len(words) - QUOTED_RUN + 1)}


def quotes(line: Triple, runs: set[tuple[str, ...]]) -> bool:
    """Whether ``line``'s English shares a run of ``QUOTED_RUN`` words with ``runs``."""
    return not runs.isdisjoint(quoted_runs(line.texts["en"]))


def build_testset(triples: list[Triple], part: str, *, n_references: int | None, n_negatives: int | None, seed: int) -> TestSet:
    """n_references/n_negatives: how many to draw (None: all the part has)."""
    rng = random.Random(f"{seed}:{part}")
    pool = list(triples)
    rng.shuffle(pool)
    ref_triples = pool if n_references is None else pool[:n_references]
    if n_references is None:
        # Full run: every other triple is a reference, the rest are negatives.
        ref_triples = pool[::2]
    ref_ids = {id(t) for t in ref_triples}
    ref_runs = set().union(*(quoted_runs(t.texts["en"]) for t in ref_triples))
    rest = [t for t in pool if id(t) not in ref_ids and not quotes(t, ref_runs)]

    out = TestSet(part=part)
    for i, t in enumerate(ref_triples):
        lang = LANGS[i % len(LANGS)]
        ref = Reference(id=f"{t.corpus}:{t.line}:{lang}", lang=lang, text=t.texts[lang])
        out.references.append(ref)
        variant = reupload(ref.text, lang, rng)
        out.queries.append(Query(f"{ref.id}/reupload", variant.text, lang, Verdict.REUPLOAD, ref.id, lang, variant.rules))
        edit = _near_duplicate_changed(ref.text, lang, rng)
        if edit is not None:
            out.queries.append(Query(f"{ref.id}/near", edit.text, lang, Verdict.NEAR_DUPLICATE, ref.id, lang, edit.rules))
        for other in LANGS:
            if other != lang:
                out.queries.append(Query(f"{ref.id}/from-{other}", t.texts[other], other, Verdict.TRANSLATION, ref.id, lang))

    taken = {canonical_form(r.text) for r in out.references}
    ref_segments = {t.segment for t in ref_triples}
    hard = [t for t in rest if t.segment in ref_segments]
    easy = [t for t in rest if t.segment not in ref_segments]
    wanted = len(rest) if n_negatives is None else n_negatives
    negatives = hard[: wanted // 2]
    negatives += easy[: wanted - len(negatives)]
    negatives += hard[wanted // 2 : wanted // 2 + wanted - len(negatives)]
    for i, t in enumerate(negatives):
        lang = LANGS[i % len(LANGS)]
        text = t.texts[lang]
        if canonical_form(text) in taken:
            continue
        out.queries.append(
            Query(f"{t.corpus}:{t.line}:{lang}/negative", text, lang, Verdict.NO_MATCH, hard=t.segment in ref_segments)
        )
    return out


def _near_duplicate_changed(text: str, lang: str, rng: random.Random) -> Variant | None:
    """An edit whose canonical form differs (else it would be a re-upload)."""
    original = canonical_form(text)
    for _ in range(5):
        edit = near_duplicate(text, lang, rng)
        if canonical_form(edit.text) != original:
            return edit
    return None
