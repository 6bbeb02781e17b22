"""Shared fixtures. Helpers and doubles are in ``tests/support``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

# Contract suites and helpers in tests/support assert too; their failures should say why.
pytest.register_assert_rewrite("tests.support")

from service.core import Embedder  # noqa: E402 - after the rewrite hook
from tests.support.factories import MODEL_CACHE  # noqa: E402

if TYPE_CHECKING:
    from tests.support.postgres import Cluster


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    """The real bundled model (slow to load, so loaded once per session)."""
    from service.core import ModelConfig, SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(ModelConfig(), MODEL_CACHE)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "var"


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator["Cluster"]:
    """A real Postgres server for the session (tests/support/postgres.py)."""
    from tests.support.postgres import Cluster

    cluster = Cluster()
    yield cluster
    cluster.destroy()


@pytest.fixture
def postgres_url(postgres_cluster: "Cluster") -> Iterator[str]:
    """A fresh, empty database on the session's Postgres server, dropped afterwards."""
    if not postgres_cluster.running():  # a fault test stopped it and failed before starting it again
        postgres_cluster.start()
    url = postgres_cluster.new_database()
    yield url
    postgres_cluster.drop_database(url)
