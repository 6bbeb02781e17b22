"""Deadlines and cancellation stop the server's work at the next embedding batch, over real gRPC.

A slow test-double embedder (0.25 s per batch of 32, counting batches) stands
in for the model. A 256-post Match is 8 batches, 2 s of work; when its
deadline passes after 0.1 s the client gets DEADLINE_EXCEEDED, the server must
embed only the batch it was in, and the next call must not wait behind the
abandoned work. The same for an AddReferences the client cancels: it stops and
stores nothing. Each test runs with the embedder called directly by the
handlers, and behind the service's ``BatchingEmbedder`` (its single worker is
where abandoned work would hold everyone up).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import grpc
import pytest

from service.api._generated.nigran.v1 import curation_pb2, matcher_pb2
from service.core import Embedder, ServerConfig
from service.core.embedding.batching import BatchingEmbedder
from tests.support.grpc_harness import Running, start
from tests.support.slow_embedders import SlowEmbedder

BATCH_SECONDS = 0.25
POSTS = 256  # max_posts_per_request
FULL_BATCHES = POSTS // 32
FULL_WORK = FULL_BATCHES * BATCH_SECONDS
# The batch in progress when the caller left, and one more for a slow scheduler.
MOST_BATCHES = 2
CALL_TIMEOUT = 10.0


@pytest.fixture(params=["direct", "batching"])
def slow_server(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[tuple[Running, SlowEmbedder]]:
    slow = SlowEmbedder(seconds=BATCH_SECONDS)
    # start() wraps nothing around the embedder it is given: the batching path is opted into here.
    embedder: Embedder = BatchingEmbedder(slow, max_batch=64) if request.param == "batching" else slow
    running = start(data_dir, embedder)
    try:
        yield running, slow
    finally:
        running.close()
        embedder.close()


def texts(prefix: str, count: int) -> list[str]:
    return [f"{prefix} {i}: the convoy of {i * 7} trucks crossed the river at dawn" for i in range(count)]


def single_post_seconds(running: Running) -> float:
    started = time.monotonic()
    reply = running.matcher.Match(matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="next", text="one more post")]), timeout=CALL_TIMEOUT)
    assert len(reply.results) == 1
    return time.monotonic() - started


def assert_work_stopped(slow: SlowEmbedder, began: float) -> None:
    """Once the abandoned call would have finished, it must have embedded no more than the batch it was in."""
    time.sleep(max(0.0, began + FULL_WORK + BATCH_SECONDS - time.monotonic()))
    assert slow.big_batches() <= MOST_BATCHES, f"{slow.big_batches()} of {FULL_BATCHES} batches embedded for a caller that had gone"


def test_match_past_its_deadline_stops_at_the_next_batch(slow_server: tuple[Running, SlowEmbedder]) -> None:
    running, slow = slow_server
    request = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id=str(i), text=t) for i, t in enumerate(texts("post", POSTS))])
    began = time.monotonic()
    with pytest.raises(grpc.RpcError) as late:
        running.matcher.Match(request, timeout=0.1)
    assert late.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED

    # Had the 2 s of work gone on, this would wait behind it (the embedder runs one batch at a time).
    took = single_post_seconds(running)
    assert took < FULL_WORK / 2, f"the next Match took {took:.2f} s"
    assert_work_stopped(slow, began)


def test_cancelled_add_references_stops_and_stores_nothing(slow_server: tuple[Running, SlowEmbedder]) -> None:
    running, slow = slow_server
    refs = [curation_pb2.ReferenceInput(id=f"ref-{i}", text=t, lang="en") for i, t in enumerate(texts("reference", POSTS))]
    began = time.monotonic()
    call = running.curation.AddReferences.future(curation_pb2.AddReferencesRequest(references=refs), timeout=CALL_TIMEOUT)
    try:
        assert slow.big_batch_started.wait(CALL_TIMEOUT)
    finally:
        call.cancel()
    assert call.cancelled()

    took = single_post_seconds(running)
    assert took < FULL_WORK / 2, f"the next Match took {took:.2f} s"
    assert_work_stopped(slow, began)
    # Nothing of the cancelled add was stored: it stores only once everything is embedded.
    listed = running.curation.ListReferences(curation_pb2.ListReferencesRequest(), timeout=CALL_TIMEOUT)
    assert list(listed.references) == []


def test_match_without_a_deadline_stops_when_the_server_budget_runs_out(data_dir: Path) -> None:
    """A caller that sets no deadline still cannot hold the encoder past ``match_budget_seconds``."""
    slow = SlowEmbedder(seconds=BATCH_SECONDS)
    running = start(data_dir, slow, server=ServerConfig(host="127.0.0.1", port=0, match_budget_seconds=BATCH_SECONDS / 2))
    try:
        request = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id=str(i), text=t) for i, t in enumerate(texts("post", POSTS))])
        began = time.monotonic()
        with pytest.raises(grpc.RpcError) as over:
            running.matcher.Match(request)  # no deadline of its own
        assert over.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert "budget" in (over.value.details() or "")
        assert time.monotonic() - began < FULL_WORK / 2
        assert slow.big_batches() <= MOST_BATCHES

        # The budget is per call: a small Match right after is answered.
        assert single_post_seconds(running) < FULL_WORK / 2
    finally:
        running.close()
