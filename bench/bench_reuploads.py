"""What the model-free paths buy: exact re-uploads by fingerprint, repeats from the embedding cache.

Starts a server on 127.0.0.1 (port 0) with the real model and the service's
own embedder stack (cache, then micro-batching, then the model), loads
``--refs`` reference sentences from TICO-19 and NTREX-128, then times, in
batches of ``--batch`` posts per Match call over a real gRPC channel:

- exact re-uploads (reference texts with case, spacing and punctuation
  changed), answered by fingerprint (the default), against the same posts
  with ``exhaustive`` set (embedded and searched: the baseline, same run);
- unseen posts that match nothing (every text new to the cache: the
  baseline), against the same posts sent again (every text a cache hit).

Medians over ``--repeats`` calls; posts per second per call.

    .venv/bin/python bench/bench_reuploads.py --refs 1000 --batch 256 --repeats 5
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
from service.core import Engine, NigranConfig, ServerConfig  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from bench_match import read_lines  # noqa: E402


def reupload(text: str, i: int) -> str:
    """A surface edit the fingerprint erases: case, spacing, trailing punctuation."""
    return f"  {text.upper() if i % 2 else text}  !!"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--refs", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model-cache", type=Path, default=REPO / "var")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    lines = read_lines(args.data_dir, args.refs + args.batch * args.repeats)
    refs = lines[: args.refs]
    unseen = [lines[args.refs + r * args.batch : args.refs + (r + 1) * args.batch] for r in range(args.repeats)]
    with tempfile.TemporaryDirectory() as tmp:
        config = NigranConfig(data_dir=Path(tmp), model_cache=args.model_cache, server=ServerConfig(port=0))
        engine = Engine.open(config)
        nigran = create_server(config, engine=engine).start()
        channel = grpc.insecure_channel(f"127.0.0.1:{nigran.port}")
        matcher = matcher_pb2_grpc.MatcherStub(channel)
        curation = curation_pb2_grpc.CurationStub(channel)
        for start in range(0, len(refs), 256):
            batch = [curation_pb2.ReferenceInput(text=t) for t in refs[start : start + 256]]
            curation.AddReferences(curation_pb2.AddReferencesRequest(references=batch), timeout=600)

        def rate(texts: list[str], exhaustive: bool = False, expect: int | None = None) -> float:
            posts = [matcher_pb2.Post(id=str(i), text=t) for i, t in enumerate(texts)]
            t0 = time.perf_counter()
            reply = matcher.Match(matcher_pb2.MatchRequest(posts=posts, exhaustive=exhaustive), timeout=600)
            seconds = time.perf_counter() - t0
            if expect is not None:
                assert all(r.verdict == expect for r in reply.results), "a re-upload was not a REUPLOAD"
            return len(texts) / seconds

        copies = [[reupload(t, i) for i, t in enumerate(refs[(r * args.batch) % len(refs) :][: args.batch])] for r in range(args.repeats)]
        rate(copies[0][:8])  # warm-up: first call pays lazy initialisation
        fast = [rate(c, expect=matcher_pb2.REUPLOAD) for c in copies]
        full = [rate(c, exhaustive=True, expect=matcher_pb2.REUPLOAD) for c in copies]
        cold = [rate(u) for u in unseen]
        cache = engine._parts.embedder  # the service's own stack, cache outermost
        hits_before, misses_before = cache.hits, cache.misses  # type: ignore[attr-defined]
        warm = [rate(u) for u in unseen]
        hits, misses = cache.hits - hits_before, cache.misses - misses_before  # type: ignore[attr-defined]
        channel.close()
        nigran.stop(0)

    med = lambda xs: round(statistics.median(xs), 1)  # noqa: E731
    results = {
        "references": len(refs),
        "batch": args.batch,
        "repeats": args.repeats,
        "reuploads_posts_per_s_fast_path": med(fast),
        "reuploads_posts_per_s_exhaustive (baseline)": med(full),
        "unseen_posts_per_s (baseline)": med(cold),
        "repeated_posts_per_s_cache": med(warm),
        "cache_hit_rate_on_repeats": round(hits / (hits + misses), 3) if hits + misses else None,
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
