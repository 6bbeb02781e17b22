"""The shipped LoRA adapter on the real bundled model: provisioned once, its own id, and still a sentence encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from service.core import ADAPTERS_DIR, ModelConfig, SentenceTransformerEmbedder, resolve_model_dir
from service.core.embedding.bundled.adapter import adapter_digest
from tests.support.factories import MODEL_CACHE

pytestmark = pytest.mark.slow

# Written for this test (not corpus lines): the same five sentences in English and Pashto.
ENGLISH = [
    "The market reopened on Monday after a week of heavy rain.",
    "Teachers in the northern districts have not been paid for three months.",
    "Prices of flour and cooking oil rose again this week.",
    "Doctors asked parents to bring children for the second dose of the vaccine.",
    "The football final was postponed because of the storm.",
]
PASHTO = [
    "بازار د دوشنبې په ورځ د یوې اونۍ سخت باران وروسته بیا پرانیستل شو.",
    "د شمالي ولسوالیو ښوونکو ته درې میاشتې معاش نه دی ورکړل شوی.",
    "پدې اونۍ کې د اوړو او د پخلي د غوړيو بیې بیا لوړې شوې.",
    "ډاکټرانو له والدینو وغوښتل چې ماشومان د واکسین دویم ډوز ته راولي.",
    "د توپان له امله د فوټبال وروستۍ لوبه وځنډول شوه.",
]
ADAPTED = ModelConfig(adapter="tico19")
BASE = ModelConfig(adapter="none")


@pytest.fixture(scope="module")
def embedders() -> tuple[SentenceTransformerEmbedder, SentenceTransformerEmbedder]:
    return SentenceTransformerEmbedder(BASE, MODEL_CACHE), SentenceTransformerEmbedder(ADAPTED, MODEL_CACHE)


def test_the_adapted_model_is_built_once_beside_the_base() -> None:
    base = resolve_model_dir(BASE, MODEL_CACHE)
    adapted = resolve_model_dir(ADAPTED, MODEL_CACHE)
    assert adapted.parent == base.parent and adapted != base
    provenance = json.loads((adapted / "nigran_model.json").read_text(encoding="utf-8"))
    # Named by content, so the same adapter from any path is the same directory.
    assert provenance["adapter"]["sha256"] == adapter_digest(ADAPTERS_DIR / "tico19") and len(provenance["sha256"]) == 64
    mtime = (adapted / "model.safetensors").stat().st_mtime_ns
    assert resolve_model_dir(ADAPTED, MODEL_CACHE) == adapted
    assert (adapted / "model.safetensors").stat().st_mtime_ns == mtime


def test_its_vectors_have_their_own_id_and_still_match_translations(
    embedders: tuple[SentenceTransformerEmbedder, SentenceTransformerEmbedder],
) -> None:
    base, adapted = embedders
    assert adapted.model_id.startswith("bundled:multilingual-e5-small+adapter.tico19@")
    assert adapted.model_id != base.model_id
    en_base = base.embed(ENGLISH)
    en, ps = adapted.embed(ENGLISH), adapted.embed(PASHTO)
    assert np.allclose(np.linalg.norm(en, axis=1), 1.0, atol=1e-4)
    # The adapter really moved the vectors (its contrastive training changes the cosine scale too).
    assert (en * en_base).sum(axis=1).max() < 0.99
    # Each Pashto sentence's translation is its nearest English sentence, both ways.
    assert list((ps @ en.T).argmax(axis=1)) == list(range(len(PASHTO)))
    assert list((en @ ps.T).argmax(axis=1)) == list(range(len(ENGLISH)))
