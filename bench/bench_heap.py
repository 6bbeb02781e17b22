"""In-process heap probe: does the engine's memory grow with work, or only the allocator's?

Opens a real engine (bundled model, SQLite in a temporary directory), adds
``--refs`` references from NTREX-128 (en, ur, ps), then for ``--seconds``
repeats a workload: ``match`` (a 16-post and a 1-post Match), ``add`` (add
one reference, remove an older one) or ``mixed`` (both). Every ``--every``
rounds it prints RSS, then calls ``gc.collect`` and glibc ``malloc_trim(0)``
and prints RSS again with the trim's duration. Flat trimmed RSS with rising
untrimmed RSS means memory held by the allocator, not a leak; rising trimmed
RSS means something keeps objects. No gRPC, so the server's threads and
buffers are out of the picture (``bench/bench_soak.py`` measures the server).

    .venv/bin/python bench/bench_heap.py mixed --seconds 300
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.core import Engine, NewReference, NigranConfig, Post  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("match", "add", "mixed"))
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--refs", type=int, default=300)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--model-cache", type=Path, default=ROOT / "var")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    libc = ctypes.CDLL("libc.so.6")
    texts = [
        line.strip()
        for lang in ("eng", "urd", "pus")
        for line in (args.data / "ntrex128" / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    rng = random.Random(1)
    config = NigranConfig(data_dir=Path(tempfile.mkdtemp()) / "var", model_cache=args.model_cache)
    engine = Engine.open(config)
    engine.curation.references.add([NewReference(text=t, id=f"r{i}") for i, t in enumerate(texts[: args.refs])], actor="bench")
    samples = []
    started, rounds, n = time.monotonic(), 0, args.refs
    try:
        while time.monotonic() - started < args.seconds:
            if args.mode in ("match", "mixed"):
                engine.match([Post(str(j), rng.choice(texts)) for j in range(16)])
                engine.match([Post("x", rng.choice(texts))])
            if args.mode in ("add", "mixed"):
                engine.curation.references.add([NewReference(text=f"{rng.choice(texts)} {n}", id=f"n{n}")], actor="bench")
                if n > args.refs + 5:
                    engine.curation.references.remove([f"n{n - 5}"], actor="bench")
                n += 1
            rounds += 1
            if rounds % args.every == 0:
                before = rss_mb()
                gc.collect()
                t0 = time.perf_counter()
                libc.malloc_trim(0)
                trim_ms = (time.perf_counter() - t0) * 1000
                sample = {"t_s": round(time.monotonic() - started), "rounds": rounds, "rss_mb": round(before, 1),
                          "trimmed_mb": round(rss_mb(), 1), "trim_ms": round(trim_ms, 1)}
                samples.append(sample)
                print(json.dumps(sample), flush=True)
    finally:
        engine.close()
    if samples:
        trimmed = [s["trimmed_mb"] for s in samples]
        summary = {"mode": args.mode, "samples": len(samples), "trimmed_first_mb": trimmed[0], "trimmed_last_mb": trimmed[-1],
                   "trimmed_range_mb": [min(trimmed), max(trimmed)], "untrimmed_range_mb": [min(s["rss_mb"] for s in samples),
                   max(s["rss_mb"] for s in samples)], "median_trim_ms": statistics.median(s["trim_ms"] for s in samples)}
        print(json.dumps(summary))
        if args.json:
            args.json.write_text(json.dumps({"summary": summary, "samples": samples}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
