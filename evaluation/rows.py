"""The rows of the report: a verdict and a language direction, with its FPR target."""

from __future__ import annotations

from dataclasses import dataclass

from evaluation.corpus import LANGS
from service.core import Verdict

TARGET_FPR = {Verdict.REUPLOAD: 0.001, Verdict.NEAR_DUPLICATE: 0.01, Verdict.TRANSLATION: 0.01, Verdict.PARAPHRASE: 0.01}


@dataclass(frozen=True)
class Row:
    verdict: Verdict
    post_lang: str
    ref_lang: str

    @property
    def name(self) -> str:
        return f"{self.verdict.name} {self.post_lang}→{self.ref_lang}"

    @property
    def target_fpr(self) -> float:
        return TARGET_FPR[self.verdict]

    @property
    def target_recall(self) -> float:
        if self.verdict is Verdict.REUPLOAD:
            return 0.995
        if self.verdict is Verdict.TRANSLATION and "ps" in (self.post_lang, self.ref_lang):
            return 0.90
        if self.verdict is Verdict.PARAPHRASE:
            return 0.90
        return 0.95


ROWS: tuple[Row, ...] = (
    *(Row(Verdict.REUPLOAD, lang, lang) for lang in LANGS),
    *(Row(Verdict.NEAR_DUPLICATE, lang, lang) for lang in LANGS),
    *(Row(Verdict.TRANSLATION, x, y) for x in LANGS for y in LANGS if x != y),
    # The corpora hold no same-language paraphrase pairs, so these rows have
    # no positives: they measure how often a post with no copy in the bank is
    # called a paraphrase of a same-language, same-topic neighbour.
    *(Row(Verdict.PARAPHRASE, lang, lang) for lang in LANGS),
)
