"""FAISS index against the brute-force reference, with near-duplicates planted at known cosines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.core.errors import IndexCorrupt, InvalidInput
from service.core.index.base import NO_ID, VectorIndex
from service.core.index.brute import BruteForceIndex
from service.core.index.faiss_index import FaissIndex

DIM = 32


def filled(impl: type[VectorIndex], ids: np.ndarray, vectors: np.ndarray) -> VectorIndex:
    index = impl(DIM)  # type: ignore[call-arg]
    index.add(np.asarray(ids, np.int64), vectors)
    return index


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def at_cosine(base: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector whose cosine to `base` is exactly `cosine`."""
    noise = rng.standard_normal(DIM).astype(np.float32)
    noise -= noise.dot(base) * base
    noise /= np.linalg.norm(noise)
    return (cosine * base + np.sqrt(1 - cosine**2) * noise).astype(np.float32)


@pytest.fixture
def corpus() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = unit(rng, 500)
    ids = np.arange(1000, 1500, dtype=np.int64)
    return ids, vectors


@pytest.mark.parametrize("impl", [FaissIndex, BruteForceIndex])
def test_planted_near_duplicates_found_at_known_cosine(impl: type[VectorIndex], corpus: tuple[np.ndarray, np.ndarray]) -> None:
    ids, vectors = corpus
    index = filled(impl, ids, vectors)
    rng = np.random.default_rng(11)
    targets = [3, 77, 250, 499]
    planted = {0.99: [], 0.95: [], 0.9: []}  # type: dict[float, list[np.ndarray]]
    for cos, queries in planted.items():
        for t in targets:
            queries.append(at_cosine(vectors[t], cos, rng))
    for cos, queries in planted.items():
        scores, found = index.search(np.stack(queries), 1)
        assert found[:, 0].tolist() == [int(ids[t]) for t in targets]
        np.testing.assert_allclose(scores[:, 0], cos, atol=1e-5)


def test_faiss_equals_brute_force(corpus: tuple[np.ndarray, np.ndarray]) -> None:
    ids, vectors = corpus
    faiss_index = filled(FaissIndex, ids, vectors)
    brute = filled(BruteForceIndex, ids, vectors)
    queries = unit(np.random.default_rng(3), 40)
    fs, fi = faiss_index.search(queries, 10)
    bs, bi = brute.search(queries, 10)
    np.testing.assert_allclose(fs, bs, atol=1e-5)
    # Ids agree except where two neighbours tie to within float error.
    assert (fi == bi).mean() > 0.99


@pytest.mark.parametrize("impl", [FaissIndex, BruteForceIndex])
def test_remove_is_real_and_add_replaces(impl: type[VectorIndex], corpus: tuple[np.ndarray, np.ndarray]) -> None:
    ids, vectors = corpus
    index = filled(impl, ids, vectors)
    assert index.remove(np.array([1003, 424242])) == 1
    assert len(index) == 499
    _, found = index.search(vectors[3:4], 3)
    assert 1003 not in found[0].tolist()
    # Re-adding an existing id replaces its vector rather than duplicating it.
    index.add(np.array([1010]), vectors[3:4])
    assert len(index) == 499
    scores, found = index.search(vectors[3:4], 1)
    assert found[0, 0] == 1010 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("impl", [FaissIndex, BruteForceIndex])
def test_pads_when_fewer_than_k(impl: type[VectorIndex]) -> None:
    rng = np.random.default_rng(1)
    index = filled(impl, np.array([5, 6]), unit(rng, 2))
    scores, found = index.search(unit(rng, 1), 4)
    assert found[0, 2:].tolist() == [NO_ID, NO_ID]
    assert np.isneginf(scores[0, 2:]).all()


@pytest.mark.parametrize("impl", [FaissIndex, BruteForceIndex])
def test_serialize_round_trip(impl: type[VectorIndex], corpus: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    ids, vectors = corpus
    index = filled(impl, ids, vectors)
    path = tmp_path / "idx"
    index.serialize(path)
    loaded = impl.deserialize(path)
    assert len(loaded) == len(index)
    q = vectors[:5]
    np.testing.assert_array_equal(loaded.search(q, 3)[1], index.search(q, 3)[1])


def test_corrupt_file_raises_meaningful_error(tmp_path: Path) -> None:
    path = tmp_path / "broken"
    path.write_bytes(b"not an index")
    with pytest.raises(IndexCorrupt):
        FaissIndex.deserialize(path)


def test_wrong_dimension_is_invalid_input() -> None:
    index = FaissIndex(DIM)
    with pytest.raises(InvalidInput):
        index.add(np.array([1]), np.zeros((1, DIM + 1), np.float32))


def test_exact_rerank_restores_the_order_a_quantised_index_blurs() -> None:
    from service.core.index.rerank import ExactRerank
    from service.core.index.spec import IndexSpec, new_index

    rng = np.random.default_rng(5)
    # Tight clusters: many near-equidistant neighbours, where 8-bit codes swap ranks.
    centres = unit(rng, 20)
    vectors = centres[rng.integers(0, 20, 4000)] + 0.05 * rng.standard_normal((4000, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(4000, dtype=np.int64)
    quantised = new_index(IndexSpec("ivf-sq", nlist=16, nprobe=16), DIM, vectors)
    quantised.add(ids, vectors)
    exact = filled(BruteForceIndex, ids, vectors)
    reranked = ExactRerank(quantised, lambda wanted: (wanted, vectors[wanted]), factor=4)
    queries = vectors[:200]
    _, truth = exact.search(queries, 10)
    _, raw = quantised.search(queries, 10)
    scores, got = reranked.search(queries, 10)

    def recall(found: np.ndarray) -> float:
        return float(np.mean([len(set(found[r]) & set(truth[r])) / 10 for r in range(len(queries))]))

    assert recall(got) >= 0.99 > recall(raw)
    # Scores are the exact cosines of the returned ids, best first.
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, vectors[got]), atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    assert len(reranked) == 4000 and reranked.remove(np.array([1, 2])) == 2 and len(reranked) == 3998
