"""Match latency and throughput over a real gRPC channel with the real model.

Starts a server on 127.0.0.1 (port 0), loads reference sentences, then times:
- one post per call, and a batch of 64 per call (latency, median and p90);
- many clients sending one post per call at once (throughput), with and
  without cross-request micro-batching, in the same run.
Baseline in the same run: the embedding model alone on the same inputs, so
what Nigran adds on top of the encoder is visible despite machine noise.

    .venv/bin/python bench/bench_match.py --refs 1000 --repeats 30
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import grpc  # noqa: E402

from service.api._generated.nigran.v1 import curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc  # noqa: E402
from service.api.server import create_server  # noqa: E402
from service.core import Embedder, Engine, ModelConfig, NigranConfig, SentenceTransformerEmbedder, ServerConfig  # noqa: E402
from service.core.embedding.batching import BatchingEmbedder  # noqa: E402


def read_lines(data_dir: Path, n: int) -> list[str]:
    out: list[str] = []
    for corpus in ("tico19", "ntrex128"):
        for lang in ("eng", "urd", "pus"):
            path = data_dir / corpus / f"{lang}.txt"
            if path.exists():
                out.extend(line.strip() for line in path.read_text(encoding="utf-8").splitlines()[: n // 3 + 200] if line.strip())
    if len(out) < n + 200:
        raise SystemExit(f"need {n + 200} sentences under {data_dir}, found {len(out)}")
    return out


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered), 1), "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 1)}


class Served:
    def __init__(self, embedder: Embedder, refs: list[str], tmp: Path) -> None:
        config = NigranConfig(data_dir=tmp, server=ServerConfig(port=0, max_workers=32))
        self.nigran = create_server(config, engine=Engine.open(config, embedder=embedder)).start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.nigran.port}")
        self.stub = matcher_pb2_grpc.MatcherStub(self.channel)
        curation = curation_pb2_grpc.CurationStub(self.channel)
        t0 = time.perf_counter()
        for start in range(0, len(refs), 256):
            batch = [curation_pb2.ReferenceInput(text=t) for t in refs[start : start + 256]]
            curation.AddReferences(curation_pb2.AddReferencesRequest(references=batch), timeout=600)
        self.load_rate = len(refs) / (time.perf_counter() - t0)

    def match(self, texts: list[str]) -> None:
        posts = [matcher_pb2.Post(id=str(i), text=t) for i, t in enumerate(texts)]
        self.stub.Match(matcher_pb2.MatchRequest(posts=posts), timeout=600)

    def concurrent_rate(self, texts: list[str], clients: int, repeats: int) -> float:
        rates = []
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda t: self.match([t]), texts[:clients]))  # warm-up
            for _ in range(repeats):
                t0 = time.perf_counter()
                list(pool.map(lambda t: self.match([t]), texts))
                rates.append(len(texts) / (time.perf_counter() - t0))
        return round(statistics.median(rates), 1)

    def close(self) -> None:
        self.channel.close()
        self.nigran.stop(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--refs", type=int, default=1000, help="reference items loaded before timing")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--clients", type=int, default=16, help="concurrent single-post clients")
    parser.add_argument("--concurrent-posts", type=int, default=192)
    parser.add_argument("--model-cache", type=Path, default=REPO / "var")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    lines = read_lines(args.data_dir, args.refs)
    refs, queries = lines[: args.refs], lines[args.refs : args.refs + 200]
    plain = SentenceTransformerEmbedder(ModelConfig(), args.model_cache)
    batching = BatchingEmbedder(plain, max_batch=64)
    few = max(5, args.repeats // 5)
    results: dict[str, object] = {"references": len(refs), "clients": args.clients}
    with tempfile.TemporaryDirectory() as tmp:
        served = Served(plain, refs, Path(tmp) / "plain")
        results["reference_load_items_per_s"] = round(served.load_rate, 1)
        results["match_1_post"] = summary(timed(lambda: served.match(queries[:1]), args.repeats))
        results["embed_only_1_post (baseline)"] = summary(timed(lambda: plain.embed(queries[:1]), args.repeats))
        results["match_64_posts"] = summary(timed(lambda: served.match(queries[:64]), few))
        results["embed_only_64_posts (baseline)"] = summary(timed(lambda: plain.embed(queries[:64]), few))
        posts = (queries * (args.concurrent_posts // len(queries) + 1))[: args.concurrent_posts]
        results["concurrent_single_post_calls_per_s_without_batching"] = served.concurrent_rate(posts, args.clients, 3)
        served.close()
        served = Served(batching, refs, Path(tmp) / "batching")
        results["concurrent_single_post_calls_per_s_with_batching"] = served.concurrent_rate(posts, args.clients, 3)
        results["match_1_post_with_batching"] = summary(timed(lambda: served.match(queries[:1]), args.repeats))
        served.close()
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
