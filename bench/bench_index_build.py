"""Index types at scale, on SYNTHETIC vectors (the model would take hours for 1M texts).

Vectors are clustered Gaussian unit vectors of dimension 384 (the model's), so
IVF behaves roughly as on real embeddings: --clusters centres, each vector a
centre plus noise, normalised. For flat, IVF+SQ8 and IVF+PQ it reports build
time (training + adding), index size in memory (process RSS growth) and on disk,
recall@10 against exact search on held-out queries (index_builder's own
measure), and the median single-query latency. Flat is the baseline, measured
in the same run.

    .venv/bin/python bench/bench_index_build.py --n 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from index_builder.build import in_memory_lookup  # noqa: E402
from index_builder.recall import recall_at_10  # noqa: E402
from service.core import ExactRerank, choose_spec, new_index, set_nprobe, train_sample_size  # noqa: E402


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def synthetic(n: int, dim: int, clusters: int, spread: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        x = centres[rng.integers(0, clusters, stop - start)] + spread * rng.standard_normal((stop - start, dim)).astype(np.float32)
        out[start:stop] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--clusters", type=int, default=5000)
    p.add_argument("--spread", type=float, default=0.6)
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--latency-queries", type=int, default=200)
    p.add_argument("--types", default="flat,ivf-sq,ivf-pq")
    p.add_argument("--nprobes", default="8,16,64", help="IVF nprobe values to measure")
    p.add_argument("--rerank-factor", type=int, default=4, help="also measure exact re-ranking of factor*k candidates (0: off)")
    args = p.parse_args()
    if "," in args.types:
        # One process per type, so each one's memory is measured from a clean heap.
        import subprocess

        for kind in args.types.split(","):
            argv = [a for a in sys.argv[1:]]
            if "--types" in argv:
                i = argv.index("--types")
                del argv[i : i + 2]
            subprocess.run([sys.executable, __file__, *argv, "--types", kind], check=True)
        return
    import faiss

    print(f"synthetic: {args.n} clustered Gaussian unit vectors, dim {args.dim}, faiss threads {faiss.omp_get_max_threads()}")
    vectors = synthetic(args.n, args.dim, args.clusters, args.spread, 0)
    vids = np.arange(1, args.n + 1, dtype=np.int64)
    rng = np.random.default_rng(1)
    order = rng.permutation(args.n)
    query_rows = np.sort(order[: args.queries])
    results = []
    for kind in args.types.split(","):
        spec = choose_spec(args.n, type=kind)  # type: ignore[arg-type]
        before = rss_bytes()
        t0 = time.perf_counter()
        train = None if spec.type == "flat" else vectors[np.sort(order[args.queries :][: train_sample_size(spec)])]
        index = new_index(spec, args.dim, train)
        t_train = time.perf_counter() - t0
        for start in range(0, args.n, 100_000):
            index.add(vids[start : start + 100_000], vectors[start : start + 100_000])
        build_s = time.perf_counter() - t0
        mem = rss_bytes() - before
        with tempfile.TemporaryDirectory() as tmp:
            index.serialize(Path(tmp) / "i.faiss")
            disk = (Path(tmp) / "i.faiss").stat().st_size
        for nprobe in ([0] if spec.type == "flat" else [int(x) for x in args.nprobes.split(",")]):
            set_nprobe(index, nprobe)
            recall = recall_at_10(index, vectors, vids, query_rows)
            lat = []
            for q in vectors[order[: args.latency_queries]]:
                t = time.perf_counter()
                index.search(q[None, :], 64)  # the engine asks for max(16, 4*top_k) candidates
                lat.append((time.perf_counter() - t) * 1e3)
            row = {
                "type": spec.type, "nlist": spec.nlist, "nprobe": nprobe, "m": spec.m, "train_s": round(t_train, 1),
                "build_s": round(build_s, 1), "mem_mb": round(mem / 2**20), "disk_mb": round(disk / 2**20),
                "bytes_per_vector_disk": round(disk / args.n, 1), "recall_at_10": round(recall, 4),
                "latency_ms_median": round(statistics.median(lat), 2),
            }
            print(json.dumps(row), flush=True)
            results.append(row)
            if spec.type != "flat" and args.rerank_factor:
                # As served: candidates re-scored exactly. The lookup here reads
                # the vectors from memory; the service reads them from SQLite.
                served = ExactRerank(index, in_memory_lookup(vids, vectors), factor=args.rerank_factor)
                recall = recall_at_10(served, vectors, vids, query_rows)
                lat = []
                for q in vectors[order[: args.latency_queries]]:
                    t = time.perf_counter()
                    served.search(q[None, :], 64)
                    lat.append((time.perf_counter() - t) * 1e3)
                row = dict(row, rerank=args.rerank_factor, recall_at_10=round(recall, 4),
                           latency_ms_median=round(statistics.median(lat), 2))
                print(json.dumps(row), flush=True)
                results.append(row)
        del index


if __name__ == "__main__":
    main()
