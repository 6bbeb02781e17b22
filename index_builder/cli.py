"""The ``index_builder`` command: ``build`` an index artifact, ``screen`` an archive."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from index_builder.build import DEFAULT_RECALL_FLOOR, DEFAULT_RECALL_QUERIES, BuildOptions, build
from index_builder.screen import screen, with_threads
from index_builder.screening import ScreenOptions
from index_builder.sources import FORMATS, Columns
from service.core import INDEX_TYPES, NigranConfig, NigranError, model_embedder


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="the service's TOML config (model, thresholds, limits)")
    p.add_argument("--data-dir", type=Path, help="the service's data dir: store, index, model cache (default ./var)")
    p.add_argument("--model-cache", type=Path, help="where the bundled model is built (default: the data dir)")
    p.add_argument(
        "--store-url", help="postgresql://... : the store replicas share (or NIGRAN_STORE_URL); Ray workers then need no shared data dir"
    )
    p.add_argument("--format", choices=FORMATS, help="input format (default: from the file name)")
    for col in ("id", "text", "bank", "labels", "lang"):
        p.add_argument(f"--{col}-column", default=col, help=f"input column holding the {col} (default {col!r})")
    p.add_argument("--work-dir", type=Path, help="resumable job state (default DATA_DIR/jobs/<job hash>)")
    p.add_argument("--restart", action="store_true", help="discard finished batches of an interrupted run")
    p.add_argument("--threads", type=int, help="encoder threads, torch or onnxruntime (per Ray actor with --engine ray); default all cores")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="index_builder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="reference list -> store + versioned index artifact")
    b.add_argument("input", type=Path, help="JSONL, CSV or Parquet reference list")
    _common(b)
    b.add_argument("--artifacts", type=Path, help="where artifacts go (default DATA_DIR/artifacts)")
    b.add_argument("--batch-size", type=int, default=256)
    b.add_argument("--index-type", choices=INDEX_TYPES, help="default: flat up to 200k items, ivf-sq above")
    b.add_argument("--nlist", type=int, default=0, help="IVF lists (default ~sqrt(n))")
    b.add_argument("--nprobe", type=int, default=0, help="IVF lists searched (default: raised until the recall floor)")
    b.add_argument("--m", type=int, default=0, help="PQ sub-quantisers (ivf-pq; default 48)")
    b.add_argument("--recall-floor", type=float, default=DEFAULT_RECALL_FLOOR)
    b.add_argument("--recall-queries", type=int, default=DEFAULT_RECALL_QUERIES)
    b.add_argument("--rejects", type=Path, help="rejected rows (default ARTIFACTS/rejects-<input>.jsonl)")

    s = sub.add_parser("screen", help="match every post of an archive")
    s.add_argument("input", type=Path, help="JSONL, CSV or Parquet archive of posts (id, text)")
    _common(s)
    s.add_argument("--output", "-o", type=Path, required=True, help="results, .jsonl or .parquet")
    s.add_argument("--output-format", choices=("jsonl", "parquet"))
    s.add_argument("--rejects", type=Path, help="rejected rows (default OUTPUT.rejects.jsonl)")
    s.add_argument("--index", type=Path, help="an index artifact (default: the store's own index)")
    s.add_argument("--batch-size", type=int, default=64)
    s.add_argument("--top-k", type=int, default=0)
    s.add_argument(
        "--exhaustive", action="store_true",
        help="embed exact re-uploads too, listing every match (default: their exact copies, without the model)",
    )
    s.add_argument("--bank", action="append", default=[], help="only these banks (repeatable)")
    s.add_argument("--engine", choices=("local", "ray"), default="local")
    s.add_argument("--ray-address", help="an existing Ray cluster (default: start a local one)")
    s.add_argument("--workers", type=int, default=0, help="Ray actors (default: cluster CPUs / threads)")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        loaded = NigranConfig.load(args.config, data_dir=args.data_dir, model_cache=args.model_cache)
        config = with_threads(loaded.with_store_url(args.store_url, os.environ), args.threads)
        columns = Columns(args.id_column, args.text_column, args.bank_column, args.labels_column, args.lang_column)
        if args.command == "build":
            summary = build(
                config,
                BuildOptions(
                    input=args.input, artifacts_dir=args.artifacts or config.data_dir / "artifacts", fmt=args.format,
                    columns=columns, batch_size=args.batch_size, index_type=args.index_type, nlist=args.nlist,
                    nprobe=args.nprobe, m=args.m, recall_floor=args.recall_floor, recall_queries=args.recall_queries,
                    work_dir=args.work_dir, restart=args.restart, rejects=args.rejects, progress=not args.no_progress,
                ),
                model_embedder(config.model, config.model_cache_dir),
            )
        else:
            summary = screen(  # type: ignore[assignment]
                config,
                ScreenOptions(
                    input=args.input, output=args.output, fmt=args.format, out_format=args.output_format,
                    columns=columns, rejects=args.rejects, batch_size=args.batch_size, top_k=args.top_k,
                    banks=tuple(args.bank), exhaustive=args.exhaustive, index=args.index, work_dir=args.work_dir, restart=args.restart,
                    progress=not args.no_progress, engine=args.engine, ray_address=args.ray_address, workers=args.workers,
                ),
            )
    except NigranError as exc:
        print(f"index_builder: {exc}", file=sys.stderr)
        return 2
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
