"""The fixture the curation tests share: an engine over SQLite in tmp_path with the test embedder."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.support.curation_factories import Opened, engine_at


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Opened]:
    with engine_at(tmp_path) as o:
        yield o
