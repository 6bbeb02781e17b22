"""Scores every query of a test set with Nigran and with the baselines.

Nigran's side is the service itself: the test set's references are added to
an Engine through the one write path, and every query goes through
``Engine.candidates``, the candidate assembly behind ``Match`` (normalisation,
language id, the embedder, the FAISS index, exact fingerprints, admission,
background neighbourhoods and margins). The calibration and the report then
let ``Cascade`` decide on those candidates under the thresholds being
chosen or reported, which is what ``Engine.match`` does with its own.

Baselines, in the same run:
* MinHash alone: datasketch MinHash over character 5-grams of the raw text;
* raw cosine alone: the same model on the raw text, no normalisation.
Each keeps, per reference language, its best-scoring reference.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from datasketch import MinHash
from numpy.typing import NDArray

from evaluation.corpus import LANGS
from evaluation.testset import Query, TestSet
from service.core import (
    Calibration, Candidate, Cascade, Embedder, Engine, Limits, NewReference, NigranConfig, Post, PostFeatures,
    PostResult, QuarantineConfig, ReferenceItem, lexical_similarity, shingles
)

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

    def decide(self, cascade: Cascade, top_k: int = 5) -> PostResult:
        return cascade.decide(self.features, self.candidates, top_k)

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


class CountingEmbedder(Embedder):
    """Counts and times embedding calls (the eval's budget is embeddings), and remembers each text's vector.

    The memory lets the raw-cosine baseline reuse a vector wherever the raw
    text is the very text the service embedded (no normalisation changed it).
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.count = 0
        self.seconds = 0.0
        self._seen: dict[str, NDArray[np.float32]] = {}

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Vectors of ``texts``; only texts never embedded before reach the model (and the count)."""
        new = sorted({t for t in texts if t not in self._seen})
        if new:
            started = time.perf_counter()
            out = self.inner.embed(new)
            self.seconds += time.perf_counter() - started
            self.count += len(new)
            self._seen.update(zip(new, out))
        return np.stack([self._seen[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def vectors_of(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self.embed(texts)

    def load(self, path: Path) -> int:
        """Remember the vectors a previous run saved for this model (``--embedding-cache``); returns how many."""
        if not path.exists():
            return 0
        with np.load(path, allow_pickle=False) as data:
            if str(data["model_id"]) != self.model_id:
                return 0
            self._seen.update(zip((str(t) for t in data["texts"]), data["vectors"]))
        return len(self._seen)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        texts = list(self._seen)
        vectors = np.stack([self._seen[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, model_id=np.array(self.model_id), texts=np.array(texts), vectors=vectors)
        tmp.replace(path)


def open_scoring_engine(
    work_dir: Path, embedder: CountingEmbedder, calibration: Calibration, n_refs: int, n_queries: int, *, max_top_k: int = Limits().max_top_k
) -> Engine:
    """An engine over a throw-away store, sized so each side goes in one call (one embedding batch)."""
    limits = Limits()
    config = NigranConfig(
        data_dir=work_dir,
        limits=dataclasses.replace(
            limits, max_references_per_request=max(n_refs, 1), max_posts_per_request=max(n_queries, 1),
            max_request_text_bytes=max(limits.max_request_text_bytes, 64 * n_queries * 1024), max_top_k=max(max_top_k, limits.max_top_k),
        ),
        quarantine=QuarantineConfig(enabled=False),
        index_snapshot_every=10**12,
    )
    return Engine.open(config, embedder=embedder, calibration=calibration)


def score_testset(ts: TestSet, embedder: CountingEmbedder, calibration: Calibration) -> ScoredSet:
    count0, seconds0 = embedder.count, embedder.seconds
    work_dir = Path(tempfile.mkdtemp(prefix=f"nigran-eval-{ts.part}-"))
    try:
        engine = open_scoring_engine(work_dir, embedder, calibration, len(ts.references), len(ts.queries))
        try:
            refs = [NewReference(text=r.text, id=r.id, lang=r.lang) for r in ts.references]
            items = list(engine.curation.references.add(refs, actor="eval").added)
            considered = engine.candidates([Post(q.id, q.text) for q in ts.queries])
        finally:
            engine.close(snapshot=False)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    raw_ref = embedder.vectors_of([r.text for r in ts.references])
    raw_q = embedder.vectors_of([q.text for q in ts.queries])
    raw_sims = raw_q @ raw_ref.T
    ref_mh = np.stack([_minhash(r.text) for r in ts.references])
    ref_lang = np.array([r.lang for r in ts.references])
    scored = [
        Scored(
            query=query, features=post.features, candidates=list(post.candidates),
            minhash=_best_per_lang((_minhash(query.text)[None, :] == ref_mh).mean(axis=1), ref_lang, ts),
            raw_cosine=_best_per_lang(raw_sims[qi], ref_lang, ts),
        )
        for qi, (query, post) in enumerate(zip(ts.queries, considered))
    ]
    return ScoredSet(
        part=ts.part, scored=scored, references=items, embed_seconds=embedder.seconds - seconds0, embeddings=embedder.count - count0
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


def _minhash(text: str) -> NDArray[np.uint64]:
    m = MinHash(num_perm=MINHASH_PERM, seed=1)
    grams = {text[i : i + MINHASH_SHINGLE] for i in range(max(1, len(text) - MINHASH_SHINGLE + 1))}
    m.update_batch([g.encode("utf-8") for g in grams])
    return np.asarray(m.hashvalues, dtype=np.uint64)
