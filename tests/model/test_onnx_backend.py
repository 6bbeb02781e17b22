"""The onnx-int8 backend on the real bundled model: its export, its vectors, and an engine that runs on it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from service.core import Cancelled, Embedder, Engine, ModelConfig, NewReference, Post, Verdict, model_embedder
from service.core.embedding.bundled.onnx_export import ONNX_FILE, provision_onnx_int8, recipe_digest
from service.core.embedding.onnx import OnnxEmbedder
from tests.support.factories import MODEL_CACHE, make_config

pytestmark = pytest.mark.slow

# Written for this test (not corpus lines): news-like and everyday sentences
# in the three languages, of very different lengths, so batches really pad.
SENTENCES = [
    "The market reopened on Monday after a week of heavy rain.",
    "Teachers in the northern districts have not been paid for three months.",
    "A bus carrying pilgrims overturned near the mountain pass late last night, and at least twelve passengers were taken to the district hospital.",
    "Prices of flour and cooking oil rose again this week.",
    "The football final was postponed because of the storm.",
    "Doctors asked parents to bring children for the second dose of the vaccine.",
    "Ok.",
    "بازار پیر کے دن ایک ہفتے کی شدید بارش کے بعد دوبارہ کھل گیا۔",
    "شمالی اضلاع کے اساتذہ کو تین مہینوں سے تنخواہ نہیں ملی۔",
    "اس ہفتے آٹے اور خوردنی تیل کی قیمتیں پھر بڑھ گئیں۔",
    "ڈاکٹروں نے والدین سے کہا کہ وہ بچوں کو ویکسین کی دوسری خوراک کے لیے لائیں۔",
    "طوفان کی وجہ سے فٹبال کا فائنل ملتوی کر دیا گیا۔",
    "شکریہ",
    "بازار د دوشنبې په ورځ د یوې اونۍ سخت باران وروسته بیا پرانیستل شو.",
    "د شمالي ولسوالیو ښوونکو ته درې میاشتې معاش نه دی ورکړل شوی.",
    "پدې اونۍ کې د اوړو او د پخلي د غوړيو بیې بیا لوړې شوې.",
    "ډاکټرانو له والدینو وغوښتل چې ماشومان د واکسین دویم ډوز ته راولي.",
    "د توپان له امله د فوټبال وروستۍ لوبه وځنډول شوه.",
    "مننه",
    "Breaking: پشاور میں بارش - roads closed, stay home.",
]


@pytest.fixture(scope="module")
def onnx_embedder() -> OnnxEmbedder:
    return OnnxEmbedder(ModelConfig(backend="onnx-int8"), MODEL_CACHE)


def test_the_export_is_built_once_with_its_provenance() -> None:
    directory = provision_onnx_int8(MODEL_CACHE)
    assert (directory / ONNX_FILE).stat().st_size > 50_000_000  # int8 weights, not an empty graph
    provenance = json.loads((directory / "nigran_model.json").read_text(encoding="utf-8"))
    assert provenance["recipe_sha256"] == recipe_digest()
    assert provenance["recipe"]["quantization"]["per_channel"] is True
    mtime = (directory / ONNX_FILE).stat().st_mtime_ns
    assert provision_onnx_int8(MODEL_CACHE) == directory and (directory / ONNX_FILE).stat().st_mtime_ns == mtime


def test_unit_vectors_of_the_model_dimension(onnx_embedder: OnnxEmbedder) -> None:
    vectors = onnx_embedder.embed(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert onnx_embedder.embed([]).shape == (0, 384)


def test_agrees_with_the_torch_backend_and_never_shares_its_model_id(onnx_embedder: OnnxEmbedder, real_embedder: Embedder) -> None:
    ours, theirs = onnx_embedder.embed(SENTENCES), real_embedder.embed(SENTENCES)
    cosine = np.sum(ours * theirs, axis=1)
    assert cosine.mean() > 0.98 and cosine.min() > 0.95, cosine
    # The same nearest neighbour for most sentences: what matching depends on.
    def nearest(v: np.ndarray) -> np.ndarray:
        sims = v @ v.T
        np.fill_diagonal(sims, -1)
        return np.asarray(sims.argmax(axis=1))

    assert np.mean(nearest(ours) == nearest(theirs)) >= 0.8
    assert onnx_embedder.model_id != real_embedder.model_id
    assert onnx_embedder.model_id.startswith(real_embedder.model_id + "+onnx-int8.")


def test_the_order_of_texts_does_not_matter(onnx_embedder: OnnxEmbedder) -> None:
    forward = onnx_embedder.embed(SENTENCES)
    backward = onnx_embedder.embed(SENTENCES[::-1])[::-1]
    np.testing.assert_allclose(forward, backward, atol=1e-6)


def test_long_texts_are_cut_at_max_seq_length_like_torch(real_embedder: Embedder) -> None:
    short = OnnxEmbedder(ModelConfig(backend="onnx-int8", max_seq_length=16), MODEL_CACHE)
    long_text = " ".join(SENTENCES[:6])
    # Cut to 16 tokens, a long text and its own beginning are the same input.
    start = " ".join(long_text.split()[:40])
    a, b = short.embed([long_text, start])
    assert float(a @ b) > 0.999


def test_stop_is_checked_between_batches(onnx_embedder: OnnxEmbedder) -> None:
    small = OnnxEmbedder(ModelConfig(backend="onnx-int8", batch_size=4), MODEL_CACHE)
    asked = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) > 2

    with pytest.raises(Cancelled):
        small.embed_until(SENTENCES, stop)
    assert len(asked) == 3  # two batches ran, the third was refused
    with pytest.raises(Cancelled):
        onnx_embedder.embed_until(SENTENCES, lambda: True)


def test_the_engine_runs_on_onnx_int8_with_its_own_calibration(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(tmp_path / "var", model=ModelConfig(backend="onnx-int8"), model_cache=MODEL_CACHE)
    calibration_dir = config.model_calibration_dir
    assert calibration_dir is not None
    if not (calibration_dir / "background.npz").exists():
        pytest.skip(f"no shipped calibration in {calibration_dir}")
    with caplog.at_level(logging.WARNING):
        engine = Engine.open(config)
    try:
        assert "not using the calibration" not in caplog.text
        assert engine.model_id.endswith("+onnx-int8." + recipe_digest()[:8])
        assert engine.calibration.background is not None and engine.calibration.background.model_id == engine.model_id
        assert "make calibrate" in engine.thresholds.source
        engine.curation.references.add(
            [NewReference(text=SENTENCES[1], id="en-1", lang="en"), NewReference(text=SENTENCES[3], id="en-3", lang="en")], actor="test"
        )
        urdu, unrelated = engine.match([Post("p1", SENTENCES[8]), Post("p2", SENTENCES[4])])
        assert urdu.verdict is Verdict.TRANSLATION and urdu.matches[0].reference_id == "en-1"
        assert unrelated.verdict is Verdict.NO_MATCH
    finally:
        engine.close()


def test_model_embedder_picks_the_class_the_backend_names() -> None:
    assert isinstance(model_embedder(ModelConfig(backend="onnx-int8"), MODEL_CACHE), OnnxEmbedder)
