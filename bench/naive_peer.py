"""The naive peer of bench_throughput.py: what a team would write in an afternoon.

A gRPC server with Nigran's own Matcher service definition (so the load is
byte-for-byte the same), backed by the same bundled model: for each post of a
call, sentence-transformers ``encode([text])`` and a FAISS ``IndexFlatIP``
search, one post at a time, no batching across calls, no fingerprint, no
cascade. It runs as the issue describes it: ``OMP_WAIT_POLICY=PASSIVE`` (set
before torch loads) and 16 server threads.

    .venv/bin/python bench/naive_peer.py --refs-file refs.txt --model-cache var
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from concurrent import futures  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import faiss  # noqa: E402
import grpc  # noqa: E402
import numpy as np  # noqa: E402
from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

from service.api._generated.nigran.v1 import matcher_pb2, matcher_pb2_grpc  # noqa: E402
from service.core.embedding.bundled.provision import provision_bundled_model  # noqa: E402

PREFIX = "query: "
# Above this cosine the peer calls it a match; it has no calibration of its own.
THRESHOLD = 0.9


class NaiveMatcher(matcher_pb2_grpc.MatcherServicer):  # type: ignore[misc]
    def __init__(self, model: SentenceTransformer, refs: list[str]) -> None:
        self._model = model
        vectors = model.encode([PREFIX + t for t in refs], batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        self._index = faiss.IndexFlatIP(vectors.shape[1])
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def Match(self, request: Any, context: grpc.ServicerContext) -> Any:
        results = []
        for post in request.posts:
            vector = self._model.encode([PREFIX + post.text], normalize_embeddings=True, convert_to_numpy=True)
            scores, ids = self._index.search(np.ascontiguousarray(vector, dtype=np.float32), 1)
            score, ref = float(scores[0][0]), int(ids[0][0])
            matched = score >= THRESHOLD
            results.append(matcher_pb2.PostResult(
                post_id=post.id,
                verdict=matcher_pb2.TRANSLATION if matched else matcher_pb2.NO_MATCH,
                matches=[matcher_pb2.Match(reference_id=str(ref), score=score, cosine=score)] if matched else [],
            ))
        return matcher_pb2.MatchResponse(results=results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refs-file", type=Path, required=True, help="one reference text per line")
    parser.add_argument("--model-cache", type=Path, default=REPO / "var")
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    model = SentenceTransformer(str(provision_bundled_model(args.model_cache)), device="cpu")
    model.max_seq_length = 256
    refs = [line for line in args.refs_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.threads))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    matcher_pb2_grpc.add_MatcherServicer_to_server(NaiveMatcher(model, refs), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    logging.info("listening on 127.0.0.1:%d, serving %d references", port, len(refs))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
