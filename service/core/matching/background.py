"""Ratio-margin scoring (Artetxe & Schwenk, 2019) against a background sample.

A raw cosine threshold treats every text alike, but some texts sit in dense
regions of the embedding space (short, generic, news-like) and score high
against everything. Dividing the cosine by the mean similarity of each side to
its k nearest *background* texts (ordinary posts, not references) cancels that
density, which is what separates translations from same-topic posts.

The background can be labelled by language. Then, as in the paper, each side's
neighbourhood is taken in the *other* side's language: a Pashto post matched
against an English reference is compared with English background texts, and
the reference with Pashto ones. With a mixed sample the nearest neighbours of
any text are mostly in its own language (the model's language bias), which
inflates cross-language denominators and hides translations.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
from numpy.typing import NDArray

from service.core.errors import IndexCorrupt, ModelMismatch
from service.core.domain import Neighbourhoods

DEFAULT_K = 10
#: Column of :meth:`Background.neighbourhoods` for the whole (mixed) sample.
ANY_LANG = "*"


class Background:
    def __init__(
        self,
        vectors: NDArray[np.float32],
        *,
        model_id: str,
        k: int = DEFAULT_K,
        langs: Sequence[str] | None = None,
    ) -> None:
        if vectors.ndim != 2 or len(vectors) < k:
            raise ValueError(f"background needs at least k={k} vectors, got shape {vectors.shape}")
        if langs is not None and len(langs) != len(vectors):
            raise ValueError(f"background has {len(vectors)} vectors but {len(langs)} language labels")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.model_id = model_id
        self.k = k
        self.langs = np.asarray(langs if langs is not None else [ANY_LANG] * len(vectors), dtype=str)
        # Languages with enough texts for a neighbourhood of their own.
        self.columns: tuple[str, ...] = (ANY_LANG,) + tuple(
            sorted(lang for lang in set(self.langs.tolist()) - {ANY_LANG} if int((self.langs == lang).sum()) >= k)
        )
        self._rows = {lang: np.flatnonzero(self.langs == lang) for lang in self.columns[1:]}
        digest = hashlib.sha256(self.vectors.tobytes())
        digest.update(f"{model_id}|{k}|{','.join(self.columns)}|{','.join(self.langs.tolist())}".encode())
        #: Identifies what neighbourhoods computed against this sample mean (rows kept in snapshots carry it).
        self.fingerprint = digest.hexdigest()[:20]

    def neighbourhoods(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        """(n, len(columns)): the neighbourhood in the whole sample, then per language."""
        out = np.zeros((len(vectors), len(self.columns)), dtype=np.float32)
        if len(vectors) == 0:
            return out
        sims = vectors @ self.vectors.T
        out[:, 0] = _mean_top_k(sims, self.k)
        for col, lang in enumerate(self.columns[1:], start=1):
            out[:, col] = _mean_top_k(sims[:, self._rows[lang]], self.k)
        return out

    def column(self, lang: str) -> int:
        """Where ``lang``'s neighbourhood is; the mixed sample for unknown languages."""
        return self.columns.index(lang) if lang in self._rows else 0

    def margin(
        self,
        cosine: float,
        post_neighbourhoods: NDArray[np.float32],
        ref_neighbourhoods: NDArray[np.float32],
        post_lang: str,
        ref_lang: str,
    ) -> float:
        """Ratio margin with each side's neighbourhood taken in the other side's language."""
        return ratio_margin(
            cosine, float(post_neighbourhoods[self.column(ref_lang)]), float(ref_neighbourhoods[self.column(post_lang)])
        )

    def neighbourhoods_of(
        self, post_neighbourhoods: NDArray[np.float32], ref_neighbourhoods: NDArray[np.float32], post_lang: str, ref_lang: str
    ) -> Neighbourhoods:
        """Both sides' neighbourhoods, in the other side's language and in their own."""
        return Neighbourhoods(
            post=float(post_neighbourhoods[self.column(ref_lang)]),
            reference=float(ref_neighbourhoods[self.column(post_lang)]),
            post_own=float(post_neighbourhoods[self.column(post_lang)]),
            reference_own=float(ref_neighbourhoods[self.column(ref_lang)]),
        )

    def save(self, path: Path) -> None:
        with Path(path).open("wb") as fh:
            np.savez_compressed(
                fh,
                vectors=self.vectors.astype(np.float16),
                model_id=np.array(self.model_id),
                k=np.int64(self.k),
                langs=self.langs,
            )

    @classmethod
    def load(cls, path: Path, *, expected_model_id: str) -> "Background":
        try:
            data = np.load(path)
            model_id = str(data["model_id"])
            langs = [str(x) for x in data["langs"]] if "langs" in data.files else None
            background = cls(data["vectors"].astype(np.float32), model_id=model_id, k=int(data["k"]), langs=langs)
        except (OSError, KeyError, ValueError) as exc:
            raise IndexCorrupt(f"cannot read background sample {path}: {exc}") from exc
        if model_id != expected_model_id:
            raise ModelMismatch(expected_model_id, model_id, f"background sample {path}")
        return background


def _mean_top_k(sims: NDArray[np.float32], k: int) -> NDArray[np.float32]:
    k = min(k, sims.shape[1])
    top = np.partition(sims, -k, axis=1)[:, -k:]
    means: NDArray[np.float32] = top.mean(axis=1).astype(np.float32)
    return means


def ratio_margin(cosine: float, post_neighbourhood: float, ref_neighbourhood: float) -> float:
    denominator = (post_neighbourhood + ref_neighbourhood) / 2.0
    return cosine / denominator if denominator > 1e-6 else 0.0
