"""The curation tests' fixtures: every test runs twice, on SQLite in tmp_path and on a real Postgres, with the test embedder."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.support.curation_factories import Opened, engine_at, on_postgres


@pytest.fixture(autouse=True, params=["sqlite", "postgres"])
def store_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The store every engine a test opens is on (``curation_factories.open_engine``)."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    cluster = request.getfixturevalue("postgres_cluster")
    created: list[str] = []

    def new_database() -> str:
        created.append(cluster.new_database())
        return created[-1]

    with on_postgres(new_database):
        yield "postgres"
    for url in created:
        cluster.drop_database(url)


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Opened]:
    with engine_at(tmp_path) as o:
        yield o
