"""The Nigran engine: open, match, compare, close; everything else is delegated.

Both the gRPC service and ``index_builder`` drive this class, and ``make
eval`` scores through :meth:`Engine.candidates`, so a post gets the same
verdict whichever way it arrives. What the engine holds is built by
``wiring.py``: the store (the source of truth), the live index
(``index/live.py``), the cascade (``matching/``) and curation
(``curation/``), which owns every write. A match prepares each post's text
once, embeds the batch, searches the live index, assembles the candidates
(``matching/candidates.py``) and lets the cascade decide.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

from service.core.cancellation import StopCheck, never, stop_if_asked
from service.core.change_feed import ChangeFollower
from service.core.config import NigranConfig
from service.core.curation.service import Curation
from service.core.domain import (
    ALL_MATCHES, Comparison, LoadedIndex, MatchOptions, Post, PostCandidates, PostFeatures, PostResult, ReferenceItem, ReferenceState, Verdict
)
from service.core.embedding.embedder import Embedder
from service.core.index.base import Hit
from service.core.index.live import LiveIndex
from service.core.matching.admission import Admission
from service.core.matching.bank_size import BankOperatingPoints
from service.core.matching.calibration import Calibration
from service.core.matching.candidates import assemble, search_depth
from service.core.matching.thresholds import Thresholds
from service.core.observe import NO_OBSERVER, Observer
from service.core.text.prepare import PreparedText, prepare_text
from service.core.validation import check_match_options, check_posts, check_texts, check_top_k
from service.core.wiring import Parts, build_parts

Progress = Callable[[int, int], None]


class Engine:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts
        self.config: NigranConfig = parts.config
        #: Every analyst operation: the write path, banks, reviews, exchange, quarantine.
        self.curation: Curation = parts.curation

    @classmethod
    def open(
        cls,
        config: NigranConfig,
        *,
        embedder: Embedder | None = None,
        calibration: Calibration | None = None,
        progress: Progress | None = None,
        observer: Observer = NO_OBSERVER,
    ) -> "Engine":
        """Open the store, load the model and calibration, and load or rebuild the index."""
        return cls(build_parts(config, embedder=embedder, calibration=calibration, progress=progress, observer=observer))

    def close(self, *, snapshot: bool = True) -> None:
        """Finish background work and close the store; ``snapshot=False`` for read-only use."""
        parts = self._parts
        if parts.follower is not None:
            parts.follower.stop()
        parts.curation.holdouts.close()
        if snapshot:
            parts.index.close()
        else:
            parts.index.wait_compaction()
        parts.store.close()
        if parts.owns_embedder:
            parts.embedder.close()

    # -- what the engine runs with -------------------------------------------------

    @property
    def model_id(self) -> str:
        return self._parts.embedder.model_id

    @property
    def calibration(self) -> Calibration:
        """The margin background and the service-wide operating points the engine runs with."""
        return self._parts.calibration

    @property
    def thresholds(self) -> Thresholds:
        """The service-wide operating points now, picked for the bank's size (banks may override them)."""
        return self._parts.sizer.current.thresholds

    @property
    def operating_points(self) -> BankOperatingPoints:
        """The service-wide operating points with the bank size they were picked for and their expected FP per post."""
        return self._parts.sizer.current

    @property
    def follower(self) -> ChangeFollower | None:
        """What follows other replicas' writes (a shared store), or None (this process is the only writer)."""
        return self._parts.follower

    @property
    def index(self) -> LiveIndex:
        """The live index (its size, kind, drift and compaction)."""
        return self._parts.index

    # -- matching ------------------------------------------------------------------

    def match(
        self,
        posts: Sequence[Post],
        *,
        banks: Sequence[str] = (),
        top_k: int = 0,
        exhaustive: bool = False,
        options: MatchOptions = ALL_MATCHES,
        record: bool = False,
        stop: StopCheck = never,
    ) -> list[PostResult]:
        """Verdicts, in the order of ``posts``; ``stop`` ends the work early (Cancelled) once the caller has gone.

        A post whose fingerprint hits a reference it may match is a REUPLOAD
        whatever else it resembles, so by default it is answered from the
        store without the model: its matches are then its exact copies only.
        ``exhaustive`` embeds and searches it too, for every match the bank
        holds (translations and near-duplicates of other items), at model cost;
        so does ``options`` leaving out exact matches. ``options`` narrows the
        matches returned (``MatchOptions``). ``record``: keep the flagged
        matches in the match log when it is on (the service's calls, not
        index_builder's or the evaluation's).
        """
        considered = self.candidates(posts, banks=banks, top_k=top_k, exhaustive=exhaustive, options=options, stop=stop)
        clock = _StageClock(self._parts.observer, len(posts))
        cascade, suppression = self._parts.cascade, self._parts.catalog.suppression()
        k = check_top_k(top_k, self.config.limits)
        keep = options.keeps if options.filters_matches else None
        results = [cascade.decide(c.features, c.candidates, k, suppression=suppression, keep=keep) for c in considered]
        clock.lap("decide")
        self._parts.curation.holdouts.observe(results)
        if record:
            self._parts.curation.match_log.record(posts, results)
        self._parts.observer.matched(results)
        return results

    def candidates(
        self,
        posts: Sequence[Post],
        *,
        banks: Sequence[str] = (),
        top_k: int = 0,
        exhaustive: bool = False,
        options: MatchOptions = ALL_MATCHES,
        stop: StopCheck = never,
    ) -> list[PostCandidates]:
        """Every post with the candidates the cascade will judge it against (what ``match`` decides on)."""
        parts = self._parts
        check_posts(posts, self.config.limits)
        check_match_options(options, self.config.limits)
        depth = search_depth(check_top_k(top_k, self.config.limits))
        parts.catalog.check_known(banks)
        clock = _StageClock(parts.observer, len(posts))
        texts = [prepare_text(p.text) for p in posts]
        matchable = [i for i, t in enumerate(texts) if t.matchable]
        clock.lap("prepare")
        # Before the item reads: a hold-out leaves this set only once the store says QUARANTINED.
        admit = Admission(
            now=time.time(),
            requested_banks=frozenset(banks),
            disabled_banks=parts.catalog.disabled(),
            suppression_banks=parts.catalog.suppression(),
            held_out=parts.curation.holdouts.held_out(),
            metadata=options.metadata,
            shares=parts.catalog.shares(),
        )
        exact = parts.store.references.find_by_fingerprints(texts[i].fingerprint for i in matchable)
        fingerprint_answers = options.takes_fingerprint_answers and not exhaustive
        settled = {
            i for i in matchable
            if fingerprint_answers and _settled(exact.get(texts[i].fingerprint, ()), admit.for_post(texts[i].fingerprint))
        }
        live = [i for i in matchable if i not in settled]
        clock.lap("exact")
        if settled:
            parts.observer.fast_path(len(settled))
        vectors = parts.embedder.embed_until([texts[i].cleaned for i in live], stop)
        clock.lap("embed")
        stop_if_asked(stop, "searching the index")
        hits = parts.index.search(vectors, depth) if live else []
        clock.lap("search")
        items = parts.store.references.get_by_vids(hit.vid for row in hits for hit in row)
        clock.lap("store")
        background = parts.calibration.background
        post_rows = background.neighbourhoods(vectors) if background is not None and live else None
        out = [PostCandidates(PostFeatures(p.id, t.canonical, t.fingerprint, t.lang), ()) for p, t in zip(posts, texts)]
        for i in settled:
            found = assemble(texts[i], (), exact[texts[i].fingerprint], {}, admit.for_post(texts[i].fingerprint))
            out[i] = PostCandidates(out[i].features, tuple(found))
        for row, i in enumerate(live):
            text = texts[i]
            found = assemble(
                text, hits[row], exact.get(text.fingerprint, []), items, admit.for_post(text.fingerprint),
                background=background, post_row=post_rows[row] if post_rows is not None else None,
            )
            out[i] = PostCandidates(out[i].features, tuple(found))
        clock.lap("assemble")
        return out

    def compare(self, text_a: str, text_b: str, *, stop: StopCheck = never) -> Comparison:
        """Text A judged as a post against text B as a reference, with every measure; the bank is not read.

        B goes through the candidate assembly as the one neighbour A's search
        found, and the cascade explains that candidate under the service-wide
        operating points, so the verdict is the one ``match`` would give were
        B in a bank without overrides.
        """
        parts = self._parts
        check_texts((("text_a", text_a), ("text_b", text_b)), self.config.limits, "text_b")
        a, b = prepare_text(text_a), prepare_text(text_b)
        post = PostFeatures("text_a", a.canonical, a.fingerprint, a.lang)
        if not (a.matchable and b.matchable):
            side = "text_a" if not a.matchable else "text_b"
            return Comparison(
                verdict=Verdict.NO_MATCH, reason=f"no_match: {side} has nothing left to match after normalisation (only links, emoji or marks)",
                lang_a=a.lang, lang_b=b.lang, fingerprint_a=a.fingerprint, fingerprint_b=b.fingerprint,
            )
        vectors = parts.embedder.embed_until([a.cleaned, b.cleaned], stop)
        background = parts.calibration.background
        rows = background.neighbourhoods(vectors) if background is not None else None
        reference = _as_reference(b)
        hit = Hit(vid=reference.vid, cosine=float(vectors[0] @ vectors[1]), row=rows[1] if rows is not None else None)
        [candidate] = assemble(
            a, [hit], (), {reference.vid: reference}, lambda _: True,
            background=background, post_row=rows[0] if rows is not None else None,
        )
        return parts.cascade.explain(post, candidate, self.thresholds)

    # -- the index -----------------------------------------------------------------

    def load_index(self, path: Path) -> LoadedIndex:
        """Swap in an ``index_builder`` artifact, brought up to the store's contents."""
        # A build may have created banks and items in the store behind the service's back.
        self._parts.curation.banks.reload()
        loaded = self._parts.index.load_artifact(path)
        self._parts.sizer.reset(self._parts.store.references.counts_by_lang())
        return loaded

    def snapshot(self) -> None:
        self._parts.index.snapshot()


def _settled(exact: Sequence[ReferenceItem], admit: Admission) -> bool:
    """Whether the exact copies alone decide the post, so the model has nothing to add.

    An admissible copy in a flagging bank makes it a REUPLOAD. A suppression
    bank can still turn that into NO_MATCH by meaning, so while any
    suppression bank applies, only a post that is itself an exact copy of a
    suppression item (NO_MATCH whatever else it resembles) is settled.
    """
    admissible = [item for item in exact if admit(item)]
    flagging = any(item.bank not in admit.suppression_banks for item in admissible)
    if not admit.suppression_banks:
        return flagging
    return flagging and any(item.bank in admit.suppression_banks for item in admissible)


def _as_reference(text: PreparedText) -> ReferenceItem:
    """A text as an unstored reference item: in no bank, with its detected language."""
    return ReferenceItem(
        vid=0, id="text_b", text=text.cleaned, canonical=text.canonical, fingerprint=text.fingerprint, declared_lang="",
        detected_lang=text.lang, bank="", labels=(), metadata={}, added_by="", created_at=0.0, updated_at=0.0,
        state=ReferenceState.ACTIVE,
    )


class _StageClock:
    """Reports how long each stage of one call took (``observe.STAGES``)."""

    def __init__(self, observer: Observer, posts: int) -> None:
        self._observer = observer
        self._posts = posts
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self._observer.stage(stage, now - self._last, self._posts)
        self._last = now
