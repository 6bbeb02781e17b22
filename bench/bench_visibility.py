"""How soon curation changes reach matching, over a real gRPC channel.

Starts a server on 127.0.0.1 (port 0) with the real bundled model, loads
--refs reference sentences (so search is not over an empty index), then per
trial:
  * add -> matchable: an item is added; from the moment AddReferences returns,
    Match is called with its text until the item is in the matches;
  * disable -> gone: the item is disabled; from the moment DisableReferences
    returns, Match is called until the item is no longer in the matches.
The baseline, measured in the same run, is a plain Match round-trip of the
same kind of post: a change visible to the very next Match costs exactly one
Match round-trip. Reports medians (and p90, max, and how many Match calls it
took) over --trials.

    .venv/bin/python bench/bench_visibility.py --refs 1000 --trials 30
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

from bench.bench_match import read_lines, summary  # noqa: E402
from service.api._generated.nigran.v1 import curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc  # noqa: E402
from service.api.server import create_server  # noqa: E402
from service.core import Engine, ModelConfig, NigranConfig, SentenceTransformerEmbedder, ServerConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--refs", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--model-cache", type=Path, default=REPO / "var")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    lines = read_lines(args.data_dir, args.refs)
    refs, probes = lines[: args.refs], lines[args.refs : args.refs + args.trials + 1]
    embedder = SentenceTransformerEmbedder(ModelConfig(), args.model_cache)
    with tempfile.TemporaryDirectory() as tmp:
        config = NigranConfig(data_dir=Path(tmp), server=ServerConfig(port=0))
        nigran = create_server(config, engine=Engine.open(config, embedder=embedder)).start()
        channel = grpc.insecure_channel(f"127.0.0.1:{nigran.port}")
        curation = curation_pb2_grpc.CurationStub(channel)
        matcher = matcher_pb2_grpc.MatcherStub(channel)
        for start in range(0, len(refs), 256):
            chunk = refs[start : start + 256]
            curation.AddReferences(curation_pb2.AddReferencesRequest(references=[curation_pb2.ReferenceInput(text=t) for t in chunk]), timeout=600)

        def matched(text: str) -> set[str]:
            [result] = matcher.Match(matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="p", text=text)]), timeout=60).results
            return {m.reference_id for m in result.matches}

        matched(probes[-1])  # warm-up
        baseline, add_ms, disable_ms, add_calls, disable_calls = [], [], [], [], []
        for i, text in enumerate(probes[: args.trials]):
            t0 = time.perf_counter()
            matched(text)
            baseline.append((time.perf_counter() - t0) * 1e3)

            ref_id = f"probe-{i}"
            curation.AddReferences(curation_pb2.AddReferencesRequest(references=[curation_pb2.ReferenceInput(id=ref_id, text=text)]), timeout=60)
            t0, calls = time.perf_counter(), 1
            while ref_id not in matched(text):
                calls += 1
            add_ms.append((time.perf_counter() - t0) * 1e3)
            add_calls.append(calls)

            curation.DisableReferences(curation_pb2.DisableReferencesRequest(ids=[ref_id]), timeout=60)
            t0, calls = time.perf_counter(), 1
            while ref_id in matched(text):
                calls += 1
            disable_ms.append((time.perf_counter() - t0) * 1e3)
            disable_calls.append(calls)
        channel.close()
        nigran.stop(0)

    results = {
        "references": len(refs),
        "trials": args.trials,
        "match_round_trip (baseline)": summary(baseline),
        "add_returned_to_matchable": {**summary(add_ms), "max_ms": round(max(add_ms), 1), "max_match_calls": max(add_calls)},
        "disable_returned_to_not_matching": {**summary(disable_ms), "max_ms": round(max(disable_ms), 1), "max_match_calls": max(disable_calls)},
        "median_match_calls": {"add": statistics.median(add_calls), "disable": statistics.median(disable_calls)},
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
