"""Shared fixtures. Helpers and doubles are in ``tests/support``."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

# Contract suites and helpers in tests/support assert too; their failures should say why.
pytest.register_assert_rewrite("tests.support")

from service.core import Embedder  # noqa: E402 - after the rewrite hook
from tests.support.factories import MODEL_CACHE  # noqa: E402


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    """The real bundled model (slow to load, so loaded once per session)."""
    from service.core import ModelConfig, SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(ModelConfig(), MODEL_CACHE)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "var"
