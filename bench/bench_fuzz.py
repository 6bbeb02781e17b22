"""Fuzz every RPC of a real server (bundled model) by the thousand and count the status codes.

The calls are the ones ``tests/integration/test_fuzz.py`` makes a few hundred
of (``tests/support/fuzzing.py``: random wire bytes, or messages built from
the protos' descriptors with hostile field values). A server is started
in-process on 127.0.0.1:0 with a fresh data dir and an admin token; --calls
calls go out with the token (every handler reached) and --unauthenticated
without. Printed: the count per status code, the calls that got a code a
hostile call must never get (INTERNAL, UNKNOWN, UNAVAILABLE, DEADLINE_EXCEEDED)
with their details, the median call time, the server's RSS before and after,
and whether health still says SERVING and a known reference is still found.

    .venv/bin/python bench/bench_fuzz.py --calls 5000 --json bench/results_fuzz.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from service.api._generated.nigran.v1 import curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc  # noqa: E402
from service.api.server import create_server  # noqa: E402
from service.core import AuthConfig, Engine, NigranConfig, ServerConfig  # noqa: E402
from tests.support.fuzzing import ACCEPTABLE, METHODS, Fuzzer  # noqa: E402

TOKEN = "bench-fuzz-admin"
AUTH = (("authorization", f"Bearer {TOKEN}"),)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5000, help="authenticated hostile calls")
    parser.add_argument("--unauthenticated", type=int, default=500, help="hostile calls without a token")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nigran-fuzz-") as tmp:
        # Failures are throttled per address; the unauthenticated calls come last so they cannot starve the others.
        auth = AuthConfig(tokens={TOKEN: "admin:fuzz"}, max_failures=10**9)
        config = NigranConfig(data_dir=Path(tmp) / "var", server=ServerConfig(host="127.0.0.1", port=0, auth=auth))
        nigran = create_server(config).start()
        nigran.set_engine(Engine.open(config))
        channel = grpc.insecure_channel(f"127.0.0.1:{nigran.port}")
        curation = curation_pb2_grpc.CurationStub(channel)
        matcher = matcher_pb2_grpc.MatcherStub(channel)
        known = "The vaccine was tested on thousands of volunteers before it was approved."
        curation.AddReferences(curation_pb2.AddReferencesRequest(references=[curation_pb2.ReferenceInput(id="known", text=known)]),
                               metadata=AUTH, timeout=120)
        rss_before = _rss_mb()
        rng = random.Random(args.seed)
        per_method: dict[str, Counter[str]] = {}
        times: list[float] = []
        fuzzer = Fuzzer(channel, AUTH, timeout=60)
        started = time.monotonic()
        for i in range(args.calls):
            method = rng.choice(METHODS)
            t0 = time.perf_counter()
            code = fuzzer.call(method, rng)
            times.append(time.perf_counter() - t0)
            per_method.setdefault(method.name, Counter())[code.name] += 1
            if (i + 1) % 500 == 0:
                print(f"  {i + 1}/{args.calls} calls, {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        anonymous = Fuzzer(channel, timeout=60)
        anonymous_codes = Counter(code.name for code in anonymous.run(args.unauthenticated, seed=args.seed + 1))
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status
        [result] = matcher.Match(matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="p", text=known)]), metadata=AUTH, timeout=60).results
        still_matches = bool(result.matches) and result.matches[0].reference_id == "known"
        rss_after = _rss_mb()
        channel.close()
        nigran.stop(0)

    bad = fuzzer.bad + anonymous.bad
    figures = {
        "calls": args.calls, "unauthenticated_calls": args.unauthenticated, "seed": args.seed,
        "codes": dict(fuzzer.codes.most_common()), "unauthenticated_codes": dict(anonymous_codes.most_common()),
        "per_method": {name: dict(c) for name, c in sorted(per_method.items())},
        "unacceptable": [{"rpc": p, "code": c, "details": d[:300]} for p, c, d in bad],
        "median_call_ms": round(statistics.median(times) * 1000, 2),
        "rss_mb_before": round(rss_before, 1), "rss_mb_after": round(rss_after, 1),
        "serving_after": health == health_pb2.HealthCheckResponse.SERVING, "still_matches_after": still_matches,
        "wall_s": round(time.monotonic() - started, 1),
    }
    print(f"{args.calls} authenticated hostile calls over {len(METHODS)} RPCs (seed {args.seed}):")
    for code, n in fuzzer.codes.most_common():
        print(f"  {code:<20} {n}")
    print(f"{args.unauthenticated} unauthenticated: {dict(anonymous_codes.most_common())}")
    print(f"unacceptable codes ({', '.join(sorted(c.name for c in set(grpc.StatusCode) - ACCEPTABLE))}): {len(bad)}")
    for p, c, d in bad[:20]:
        print(f"  {p} {c}: {d[:200]}")
    print(f"median call {figures['median_call_ms']} ms; process RSS {figures['rss_mb_before']} -> {figures['rss_mb_after']} MB")
    print(f"afterwards: SERVING={figures['serving_after']}, known reference still found={still_matches}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0 if not bad and figures["serving_after"] and still_matches else 1


if __name__ == "__main__":
    sys.exit(main())
