"""Scores every query of a test set with Nigran's cascade and with the baselines.

Nigran's side goes through the service's own code: ``prepare_text`` for
normalisation and language id, the embedder, ``Background.neighbourhood`` and
``ratio_margin`` for margins, and ``Matcher`` for the verdict, with candidates
chosen as ``Engine.match`` chooses them (exact fingerprints plus the top-k by
inner product; brute force here, which is what the flat FAISS index computes).

Baselines, in the same run:
* MinHash alone: datasketch MinHash over character 5-grams of the raw text;
* raw cosine alone: the same model on the raw text, no normalisation.
Each keeps, per reference language, its best-scoring reference.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from datasketch import MinHash
from numpy.typing import NDArray

from evaluation.corpus import LANGS
from evaluation.testset import Query, TestSet
from service.core.config import Thresholds
from service.core.domain import PostResult, ReferenceItem, ReferenceState
from service.core.embedder import Embedder
from service.core.engine import MIN_CANDIDATES, prepare_text
from service.core.lexical import lexical_similarity, shingles
from service.core.margin import Background
from service.core.matcher import Candidate, Matcher, PostFeatures

MINHASH_PERM = 128
MINHASH_SHINGLE = 5


@dataclass(frozen=True)
class Best:
    """A baseline's best reference in one language."""

    score: float
    reference_id: str


@dataclass
class Scored:
    query: Query
    features: PostFeatures
    candidates: list[Candidate]
    minhash: dict[str, Best]
    raw_cosine: dict[str, Best]

    def decide(self, matcher: Matcher, top_k: int = 5) -> PostResult:
        return matcher.decide(self.features, self.candidates, top_k)

    def candidate_for(self, reference_id: str) -> Candidate | None:
        for c in self.candidates:
            if c.item.id == reference_id and not c.exact:
                return c
        return None


@dataclass
class ScoredSet:
    part: str
    scored: list[Scored]
    references: list[ReferenceItem]
    embed_seconds: float
    embeddings: int
    # Kept so a calibration can rescore without embedding again.
    reference_vectors: NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    query_vectors: NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), np.float32))


class CountingEmbedder:
    """Counts and times embedding calls (the eval's budget is embeddings)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.count = 0
        self.seconds = 0.0

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        started = time.perf_counter()
        out = self.inner.embed(texts)
        self.seconds += time.perf_counter() - started
        self.count += len(texts)
        return out


def score_testset(ts: TestSet, embedder: CountingEmbedder, background: Background, k: int = MIN_CANDIDATES) -> ScoredSet:
    count0, seconds0 = embedder.count, embedder.seconds
    ref_prep = [prepare_text(r.text) for r in ts.references]
    items = [
        ReferenceItem(
            vid=i, id=r.id, text=r.text, canonical=p.canonical, fingerprint=p.fingerprint,
            declared_lang=r.lang, detected_lang=p.lang, bank="eval", labels=(), metadata={},
            added_by="eval", created_at=0.0, updated_at=0.0, state=ReferenceState.ACTIVE,
        )
        for i, (r, p) in enumerate(zip(ts.references, ref_prep))
    ]
    ref_vecs = embedder.embed([p.cleaned for p in ref_prep])
    ref_nb = background.neighbourhoods(ref_vecs)
    ref_shingles = [shingles(p.canonical) for p in ref_prep]
    by_fingerprint: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(ref_prep):
        by_fingerprint[p.fingerprint].append(i)

    q_prep = [prepare_text(q.text) for q in ts.queries]
    live = [i for i, p in enumerate(q_prep) if p.canonical]
    q_vecs = np.zeros((len(ts.queries), ref_vecs.shape[1]), dtype=np.float32)
    q_vecs[live] = embedder.embed([q_prep[i].cleaned for i in live])
    q_nb = background.neighbourhoods(q_vecs)
    sims = q_vecs @ ref_vecs.T
    kk = min(k, len(items))
    top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]

    raw_ref = _raw_vectors([r.text for r in ts.references], [p.cleaned for p in ref_prep], ref_vecs, embedder)
    raw_q = _raw_vectors([q.text for q in ts.queries], [p.cleaned for p in q_prep], q_vecs, embedder)
    raw_sims = raw_q @ raw_ref.T
    ref_mh = np.stack([_minhash(r.text) for r in ts.references])
    ref_lang = np.array([r.lang for r in ts.references])

    scored: list[Scored] = []
    for qi, query in enumerate(ts.queries):
        p = q_prep[qi]
        features = PostFeatures(query.id, p.canonical, p.fingerprint, p.lang)
        candidates: list[Candidate] = []
        if p.canonical:
            candidates = [Candidate(item=items[j], cosine=1.0, exact=True) for j in by_fingerprint.get(p.fingerprint, [])]
            for j in sorted(top[qi], key=lambda j: -sims[qi, j]):
                margin = background.margin(float(sims[qi, j]), q_nb[qi], ref_nb[j], p.lang, items[j].lang)
                nb = background.neighbourhoods_of(q_nb[qi], ref_nb[j], p.lang, items[j].lang)
                candidates.append(Candidate(item=items[j], cosine=float(sims[qi, j]), margin=margin, neighbourhoods=nb))
        mh = (_minhash(query.text)[None, :] == ref_mh).mean(axis=1)
        scored.append(
            Scored(
                query=query, features=features, candidates=candidates,
                minhash=_best_per_lang(mh, ref_lang, ts),
                raw_cosine=_best_per_lang(raw_sims[qi], ref_lang, ts),
            )
        )
    return ScoredSet(
        part=ts.part, scored=scored, references=items,
        embed_seconds=embedder.seconds - seconds0, embeddings=embedder.count - count0,
        reference_vectors=ref_vecs, query_vectors=q_vecs,
    )


def lexical_to(s: Scored, reference: ReferenceItem) -> float:
    return lexical_similarity(shingles(s.features.canonical), shingles(reference.canonical)).score


def _best_per_lang(scores: NDArray[np.floating], ref_lang: NDArray[np.str_], ts: TestSet) -> dict[str, Best]:
    out: dict[str, Best] = {}
    for lang in LANGS:
        idx = np.flatnonzero(ref_lang == lang)
        if len(idx):
            j = int(idx[np.argmax(scores[idx])])
            out[lang] = Best(float(scores[j]), ts.references[j].id)
    return out


def _raw_vectors(raw: list[str], cleaned: list[str], cleaned_vecs: NDArray[np.float32], embedder: CountingEmbedder) -> NDArray[np.float32]:
    """Vectors of the raw texts, embedding only those that cleaning changed."""
    out = cleaned_vecs.copy()
    changed = [i for i, (r, c) in enumerate(zip(raw, cleaned)) if r != c]
    if changed:
        out[changed] = embedder.embed([raw[i] for i in changed])
    return out


def _minhash(text: str) -> NDArray[np.uint64]:
    m = MinHash(num_perm=MINHASH_PERM, seed=1)
    grams = {text[i : i + MINHASH_SHINGLE] for i in range(max(1, len(text) - MINHASH_SHINGLE + 1))}
    m.update_batch([g.encode("utf-8") for g in grams])
    return np.asarray(m.hashvalues, dtype=np.uint64)


def decide_all(scored: ScoredSet, thresholds: Thresholds) -> list[PostResult]:
    matcher = Matcher(thresholds)
    return [s.decide(matcher) for s in scored.scored]
