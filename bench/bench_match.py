"""Match latency over a real gRPC channel: one post, and a batch of 64.

Starts a server on 127.0.0.1 (port 0) with the real bundled model, loads
reference sentences, then times Match calls. As a baseline measured in the same
run, it also times the embedding model alone on the same inputs, so the cost of
everything Nigran adds (normalisation, langid, search, store lookups, gRPC) is
visible despite machine noise. Reports medians and p90 over --repeats runs.

    .venv/bin/python bench/bench_match.py --refs 1000 --repeats 30
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import grpc  # noqa: E402

from service.api._generated.nigran.v1 import curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc  # noqa: E402
from service.api.server import create_server  # noqa: E402
from service.core.config import ModelConfig, NigranConfig, ServerConfig  # noqa: E402
from service.core.embedder import SentenceTransformerEmbedder  # noqa: E402
from service.core.engine import Engine  # noqa: E402


def read_lines(data_dir: Path, n: int) -> list[str]:
    out: list[str] = []
    for corpus in ("tico19", "ntrex128"):
        for lang in ("eng", "urd", "pus"):
            path = data_dir / corpus / f"{lang}.txt"
            if path.exists():
                out.extend(line.strip() for line in path.read_text(encoding="utf-8").splitlines()[: n // 3 + 64] if line.strip())
    if len(out) < n + 64:
        raise SystemExit(f"need {n + 64} sentences under {data_dir}, found {len(out)}")
    return out


def timed(fn, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--refs", type=int, default=1000, help="reference items loaded before timing")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--model-cache", type=Path, default=REPO / "var")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    lines = read_lines(args.data_dir, args.refs)
    refs, queries = lines[: args.refs], lines[args.refs : args.refs + 64]
    embedder = SentenceTransformerEmbedder(ModelConfig(), args.model_cache)
    with tempfile.TemporaryDirectory() as tmp:
        config = NigranConfig(data_dir=Path(tmp), server=ServerConfig(port=0))
        engine = Engine.open(config, embedder=embedder)
        nigran = create_server(config, engine=engine).start()
        channel = grpc.insecure_channel(f"127.0.0.1:{nigran.port}")
        curation = curation_pb2_grpc.CurationStub(channel)
        t0 = time.perf_counter()
        for start in range(0, len(refs), 256):
            curation.AddReferences(
                curation_pb2.AddReferencesRequest(
                    references=[curation_pb2.ReferenceInput(text=t) for t in refs[start : start + 256]]
                ),
                timeout=600,
            )
        load_s = time.perf_counter() - t0
        stub = matcher_pb2_grpc.MatcherStub(channel)

        def match(texts: list[str]) -> None:
            stub.Match(matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id=str(i), text=t) for i, t in enumerate(texts)]), timeout=600)

        results = {
            "references": len(refs),
            "reference_load_items_per_s": round(len(refs) / load_s, 1),
            "match_1_post": summary(timed(lambda: match(queries[:1]), args.repeats)),
            "embed_only_1_post (baseline)": summary(timed(lambda: embedder.embed(queries[:1]), args.repeats)),
            "match_64_posts": summary(timed(lambda: match(queries), max(5, args.repeats // 5))),
            "embed_only_64_posts (baseline)": summary(timed(lambda: embedder.embed(queries), max(5, args.repeats // 5))),
        }
        channel.close()
        nigran.stop(0)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
