"""Embedding throughput of the bundled model, per device, dtype and batch size.

The encoder is Nigran's bottleneck (see README), so this is the figure that
sizes a deployment. Every configuration is timed in the same run as the fp32
CPU baseline, and the vectors of each configuration are compared with the
baseline's (min cosine), so a faster setting that changes verdicts shows up.

    .venv/bin/python bench/bench_embed_throughput.py --texts-from ../shared/data --n 1000
    python bench/bench_embed_throughput.py --device cuda --dtypes fp32,fp16 --batch-sizes 32,128,512

With ``--backends torch,onnx-int8`` it times the service's own encoder
backends instead (``model_embedder``: tokenisation, token-length batches,
pooling included), on the same texts in the same run, repeats interleaved so
that a noisy neighbour slows every backend alike, each compared with torch:

    .venv/bin/python bench/bench_embed_throughput.py --backends torch,onnx-int8 --batch-sizes 1,8,32 --n 1000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import service  # noqa: E402,F401  (sets OMP_WAIT_POLICY before torch loads)


def load_texts(source: Path, n: int) -> list[str]:
    files = [source] if source.is_file() else sorted(source.glob("*/*.txt"))
    texts: list[str] = []
    for path in files:
        if path.name.startswith(("eng", "urd", "pus")) or source.is_file():
            texts.extend(t.strip() for t in path.read_text(encoding="utf-8").splitlines() if t.strip())
    if not texts:
        raise SystemExit(f"no texts under {source}")
    # Interleave languages deterministically so every batch is mixed.
    texts = texts[:: max(1, len(texts) // n)][:n]
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts-from", type=Path, default=REPO.parent / "shared" / "data", help="a text file, or the corpora dir")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtypes", default="fp32")
    parser.add_argument("--batch-sizes", default="32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model-cache", type=Path, default=REPO / "var")
    parser.add_argument("--cpu-baseline-n", type=int, default=200, help="texts for the CPU fp32 baseline")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--backends", help="time these encoder backends (comma-separated, e.g. torch,onnx-int8) instead of dtypes")
    args = parser.parse_args()
    if args.backends:
        compare_backends(args)
        return

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from service.core import ModelConfig
    from service.core.embedding.embedder import resolve_model_dir, text_prefix_for

    config = ModelConfig()
    model_dir = resolve_model_dir(config, args.model_cache)
    prefix = text_prefix_for(config)
    texts = [prefix + t for t in load_texts(args.texts_from, args.n)]

    def run(model: SentenceTransformer, items: list[str], batch: int) -> tuple[float, np.ndarray]:
        model.encode(items[: batch * 2], batch_size=batch, normalize_embeddings=True)  # warm-up
        rates, out = [], None
        for _ in range(args.repeats):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = model.encode(items, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            rates.append(len(items) / (time.perf_counter() - t0))
        return statistics.median(rates), np.asarray(out, dtype=np.float32)

    cpu = SentenceTransformer(str(model_dir), device="cpu")
    cpu.max_seq_length = config.max_seq_length
    baseline_items = texts[: args.cpu_baseline_n]
    base_rate, base_vecs = run(cpu, baseline_items, 32)
    report: dict[str, object] = {
        "texts": len(texts),
        "torch": torch.__version__,
        "device_name": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
        "cpu_threads": torch.get_num_threads(),
        "baseline_cpu_fp32_batch32_sentences_per_s": round(base_rate, 1),
        "runs": [],
    }
    for dtype in args.dtypes.split(","):
        model = SentenceTransformer(str(model_dir), device=args.device)
        model.max_seq_length = config.max_seq_length
        if dtype == "fp16":
            model = model.half()
        elif dtype == "bf16":
            model = model.to(torch.bfloat16)
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            rate, vecs = run(model, texts, batch)
            agree = np.sum(vecs[: len(base_vecs)] * base_vecs, axis=1)
            row = {
                "device": args.device, "dtype": dtype, "batch": batch,
                "sentences_per_s_median": round(rate, 1),
                "speedup_vs_cpu_baseline": round(rate / base_rate, 1),
                "min_cosine_to_cpu_fp32": round(float(agree.min()), 5),
            }
            print(json.dumps(row), flush=True)
            report["runs"].append(row)  # type: ignore[union-attr]
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def compare_backends(args: argparse.Namespace) -> None:
    import os
    import platform

    import numpy as np

    from service.core import ModelConfig, model_embedder

    texts = load_texts(args.texts_from, args.n)
    runs = [(backend, int(batch)) for backend in args.backends.split(",") for batch in args.batch_sizes.split(",")]
    embedders = {run: model_embedder(ModelConfig(backend=run[0], batch_size=run[1]), args.model_cache) for run in runs}
    for embedder in embedders.values():
        embedder.embed(texts[:64])  # warm-up: first-call allocations, kernel choice
    rates: dict[tuple[str, int], list[float]] = {run: [] for run in runs}
    vectors: dict[tuple[str, int], np.ndarray] = {}
    for _ in range(args.repeats):
        for run, embedder in embedders.items():
            started = time.perf_counter()
            vectors[run] = embedder.embed(texts)
            rates[run].append(len(texts) / (time.perf_counter() - started))
    baseline = next((run for run in runs if run[0] == "torch"), runs[0])
    report: dict[str, object] = {
        "texts": len(texts), "repeats": args.repeats, "cpu": platform.processor() or platform.machine(),
        "cores": len(os.sched_getaffinity(0)), "baseline": f"{baseline[0]} batch {baseline[1]}", "runs": [],
    }
    print("| backend | batch | sentences/s (median) | vs baseline | cosine to baseline, mean | min |")
    print("|---|---|---|---|---|---|")
    base_rate = statistics.median(rates[baseline])
    for run in runs:
        cosine = np.sum(vectors[run] * vectors[baseline], axis=1)
        rate = statistics.median(rates[run])
        row = {
            "backend": run[0], "batch": run[1], "model_id": embedders[run].model_id,
            "sentences_per_s_median": round(rate, 1), "all_rates": [round(r, 1) for r in rates[run]],
            "speedup_vs_baseline": round(rate / base_rate, 2),
            "cosine_to_baseline_mean": round(float(cosine.mean()), 5), "cosine_to_baseline_min": round(float(cosine.min()), 5),
        }
        report["runs"].append(row)  # type: ignore[union-attr]
        print(f"| {run[0]} | {run[1]} | {rate:.1f} | {rate / base_rate:.2f}x | {cosine.mean():.5f} | {cosine.min():.5f} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
