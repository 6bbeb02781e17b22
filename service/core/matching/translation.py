"""A small calibrated scorer for cross-language translation candidates.

The ratio margin alone (background.py) barely beats raw cosine on this model:
the cosine of a same-topic news sentence to a reference is often as high as a
translation's. A logistic regression over a few explainable features,
fitted by ``make calibrate`` on the calibration split only, separates them
better:

* the cosine;
* each side's background neighbourhood, both in the other side's language
  (the margin's denominators) and in its own (how generic the text is);
* whether the lengths agree: translations keep a near-constant length ratio
  per language pair, same-topic sentences do not;
* the post's length (short posts are where chance similarity is high);
* whether the numbers written in both texts agree: translations keep them.

Standardisation is folded into the weights, so a score is one dot product.
The weights, the length offsets and the per-pair operating points are all in
``thresholds.json``; with no weights the cascade keeps the margin rule.
"""

from __future__ import annotations

import math
import re
from typing import Mapping

from service.core.domain import Neighbourhoods

#: Feature names, as the weights in thresholds.json are keyed.
FEATURES = (
    "cosine",
    "post_neighbourhood",
    "reference_neighbourhood",
    "post_own_neighbourhood",
    "reference_own_neighbourhood",
    "length_mismatch",
    "post_length",
    "numbers_shared",
    "numbers_differ",
)

_NUMBER = re.compile(r"[0-9]+")


def features(
    cosine: float, nb: Neighbourhoods, post_canonical: str, reference_canonical: str, length_offset: float
) -> dict[str, float]:
    """The feature values of one (post, reference) pair, from canonical forms.

    ``length_offset``: the usual log length ratio of the pair's languages
    (post over reference), measured on calibration translations.
    """
    log_ratio = math.log((len(post_canonical) + 1) / (len(reference_canonical) + 1))
    post_numbers = frozenset(_NUMBER.findall(post_canonical))
    ref_numbers = frozenset(_NUMBER.findall(reference_canonical))
    union = post_numbers | ref_numbers
    agreement = len(post_numbers & ref_numbers) / len(union) if union else 1.0
    return {
        "cosine": cosine,
        "post_neighbourhood": nb.post,
        "reference_neighbourhood": nb.reference,
        "post_own_neighbourhood": nb.post_own,
        "reference_own_neighbourhood": nb.reference_own,
        "length_mismatch": abs(log_ratio - length_offset),
        "post_length": math.log1p(len(post_canonical)),
        "numbers_shared": agreement if post_numbers and ref_numbers else 0.0,
        "numbers_differ": (1.0 - agreement) if union else 0.0,
    }


def probability(values: Mapping[str, float], weights: Mapping[str, float], bias: float) -> float:
    logit = bias + sum(w * values[name] for name, w in weights.items())
    # Clamped: exp overflows beyond ~709, and the tails carry no information here.
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))
