from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator

import pytest

from service.core.config import NigranConfig, ServerConfig
from service.core.embedder import Embedder

REPO = Path(__file__).resolve().parent.parent
# The provisioned model is cached where `make run` caches it, so the suite
# builds it at most once per checkout.
MODEL_CACHE = REPO / "var"


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    from service.core.config import ModelConfig
    from service.core.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(ModelConfig(), MODEL_CACHE)


def make_config(data_dir: Path, **overrides: object) -> NigranConfig:
    """A config for tests: everything under data_dir, server on 127.0.0.1:0."""
    server = overrides.pop("server", ServerConfig(host="127.0.0.1", port=0))
    return dataclasses.replace(NigranConfig(), data_dir=data_dir, server=server, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "var"
