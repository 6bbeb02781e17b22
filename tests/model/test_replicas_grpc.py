"""Two replicas with the real model on one real Postgres: a translation added through one is matched through the other.

Both replicas are real gRPC servers in this process, sharing the session's
model (one copy in memory) but each with its own index, following the store.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest

from service.api._generated.nigran.v1 import curation_pb2, matcher_pb2
from service.core import Embedder, StoreConfig
from tests.support.grpc_harness import Running, start

pytestmark = pytest.mark.slow

UR = "ہمارے بھائی جمعہ کی رات قافلہ گزرنے پر شمالی دروازے کی چوکی پر حملہ کریں گے۔"
PS = "زموږ ورونه به د جمعې په شپه د شمالي دروازې پر پوسته برید وکړي کله چې کاروان تېرېږي."


@pytest.fixture
def pair(tmp_path: Path, postgres_url: str, real_embedder: Embedder) -> Iterator[tuple[Running, Running]]:
    store = StoreConfig(url=postgres_url)
    a = start(tmp_path / "a", real_embedder, store=store)
    b = start(tmp_path / "b", real_embedder, store=store)
    yield a, b
    b.close()
    a.close()


def verdicts(r: Running, text: str) -> list[tuple[str, int]]:
    request = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="p", text=text)])
    return [(m.reference_id, m.kind) for m in r.matcher.Match(request, timeout=60).results[0].matches]


def test_a_translation_added_through_one_replica_is_matched_through_the_other(pair: tuple[Running, Running]) -> None:
    a, b = pair
    item = curation_pb2.ReferenceInput(id="ur-1", lang="ur", text=UR)
    a.curation.AddReferences(curation_pb2.AddReferencesRequest(references=[item]), timeout=60)
    deadline = time.monotonic() + 10
    while not verdicts(b, PS) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert verdicts(b, PS) == [("ur-1", matcher_pb2.TRANSLATION)]
    assert verdicts(b, UR) == [("ur-1", matcher_pb2.REUPLOAD)]
    b.curation.DisableReferences(curation_pb2.DisableReferencesRequest(ids=["ur-1"]), timeout=60)
    assert verdicts(a, PS) == [] and verdicts(a, UR) == []
