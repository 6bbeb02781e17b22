"""Where one Match batch spends its time, stage by stage, with the real model.

An in-process server (real gRPC channel on 127.0.0.1, port 0) holds ``--refs``
references (bench_throughput's corpus); each round sends one batch of
``--batch`` new posts. The engine reports its own stages (``observe.STAGES``:
prepare, exact, embed, search, store, assemble, decide); prepare is split
into normalisation and language id by timing both on the same texts; gRPC is
the call's wall time less the engine's. Medians over ``--rounds`` batches.

``--code DIR`` runs another checkout's ``service`` package (for example a
``git worktree`` of an older commit) under this same script, for a
before/after in one sitting.

    .venv/bin/python bench/bench_stages.py --refs 1000 --batch 64 --rounds 5 [--backend onnx-int8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--model-cache", type=Path, default=REPO / "var")
    parser.add_argument("--refs", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--code", type=Path, default=REPO, help="the checkout whose service package is measured")
    parser.add_argument("--backend", default="torch", help="the encoder backend ([model] backend), e.g. onnx-int8")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(args.code.resolve()))
    sys.path.insert(1, str(REPO / "bench"))

    import grpc

    # The service package first, from --code: bench_throughput puts this checkout on sys.path too.
    from service.api._generated.nigran.v1 import matcher_pb2, matcher_pb2_grpc
    from service.api.server import create_server
    from service.core import Engine, ModelConfig, NewReference, NigranConfig, Observer, ServerConfig
    from service.core.text.langid import detect_language_of_cleaned
    from service.core.text.normalize import canonical_of_cleaned, clean_for_embedding

    from bench_throughput import corpus

    class Stages(Observer):
        def __init__(self) -> None:
            self.seconds: dict[str, float] = defaultdict(float)

        def stage(self, name: str, seconds: float, posts: int) -> None:
            self.seconds[name] += seconds

    bank, posts, _ = corpus(args.data_dir, args.refs, 19)
    stages = Stages()
    rows: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        # Only named when not the default, so --code can measure a checkout from before backends existed.
        model = {} if args.backend == "torch" else {"model": ModelConfig(backend=args.backend)}
        config = NigranConfig(data_dir=Path(tmp), model_cache=args.model_cache, server=ServerConfig(port=0), **model)
        engine = Engine.open(config, observer=stages)
        for start in range(0, len(bank), 1000):
            engine.curation.references.add([NewReference(id=f"r{start + i}", text=t) for i, t in enumerate(bank[start : start + 1000])], actor="bench")
        server = create_server(config, engine=engine).start()
        channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        matcher = matcher_pb2_grpc.MatcherStub(channel)
        fresh = iter(posts)
        for r in range(args.rounds + 1):
            texts = [next(fresh) for _ in range(args.batch)]
            stages.seconds.clear()
            t0 = time.perf_counter()
            matcher.Match(matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id=str(i), text=t) for i, t in enumerate(texts)]), timeout=600)
            wall = time.perf_counter() - t0
            t1 = time.perf_counter()
            cleaned = [clean_for_embedding(t) for t in texts]
            for c in cleaned:
                canonical_of_cleaned(c)
            t2 = time.perf_counter()
            for c in cleaned:
                detect_language_of_cleaned(c)
            t3 = time.perf_counter()
            if r == 0:
                continue  # warm-up
            engine_s = sum(stages.seconds.values())
            share = stages.seconds.get("prepare", 0.0) / max((t3 - t1), 1e-9)
            rows["normalise"].append((t2 - t1) * share)
            rows["language id"].append((t3 - t2) * share)
            for name, seconds in stages.seconds.items():
                if name != "prepare":
                    rows[name].append(seconds)
            rows["gRPC and conversion"].append(wall - engine_s)
            rows["whole call"].append(wall)
        channel.close()
        server.stop(0)
    table = {name: round(statistics.median(v) * 1e3, 1) for name, v in rows.items()}
    results = {"code": str(args.code), "backend": args.backend, "references": len(bank), "batch": args.batch, "rounds": args.rounds, "median_ms": table}
    print(json.dumps(results, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
