"""``python -m evaluation eval|calibrate|min-content|adapt|adapt-report`` (``make eval``, ``make calibrate``, ``make adapt``; min-content: lexical.py's rules)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from evaluation.adapt import DEFAULT_ADAPTER, AdaptSettings, adapt_fold, calibration_triples
from evaluation.calibrate import calibrate_baselines, calibrate_thresholds, today, write_calibration
from evaluation.corpus import LANGS, Triple, discover, load_corpus, part_of
from evaluation.bank_curves import measure_bank_curves
from evaluation.bank_sizes import FULL_SIZES, SAMPLE_SIZES, SizeResult, distractors, evaluate_sizes, markdown_by_size, plot_by_size, sizes_for
from evaluation.report import evaluate, markdown, pr_curves, target_status, write_json
from evaluation.scoring import CountingEmbedder, score_testset
from evaluation.testset import build_testset
from service.core import (
    ADAPTERS_DIR, BACKENDS, BACKGROUND_FILE, DEFAULT_CALIBRATION_DIR, Background, Calibration, ModelConfig, NigranConfig, Thresholds,
    load_calibration, model_embedder, prepare_text, resolve_model_dir
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
SEED = 20240603
# Sample sizes: `make eval` must finish in a few minutes on 2 cores (~40-60
# embeddings/s), so about 4,500 embeddings in all.
EVAL_SAMPLE = {"calibration": (240, 480), "report": (300, 600)}
CALIBRATE_SAMPLE = (600, 1200)
BACKGROUND_PER_LANG = 1000

log = logging.getLogger("evaluation")


def load_parts(data_dir: Path, adapted: bool = False) -> tuple[list[str], dict[str, list[Triple]]]:
    """The corpora's parts; for an adapted model, the calibration part without the adapter's training lines."""
    corpora = discover(data_dir)
    parts: dict[str, list[Triple]] = {"calibration": [], "report": [], "background": []}
    for path in corpora:
        for t in load_corpus(path):
            parts[part_of(t.segment)].append(t)
    parts["calibration"] = calibration_triples(parts["calibration"], adapted)
    return [p.name for p in corpora], parts


def model_for(args: argparse.Namespace) -> ModelConfig:
    return ModelConfig(backend=args.backend, adapter=args.adapter)


def parts_for(args: argparse.Namespace) -> tuple[list[str], dict[str, list[Triple]]]:
    """The parts for the model the arguments name (an adapted one's calibration without its training lines)."""
    return load_parts(args.data_dir, model_for(args).adapter_name is not None)


def config_for(args: argparse.Namespace, calibration_dir: Path) -> NigranConfig:
    """The service's configuration for the chosen backend, with calibrations under ``calibration_dir``."""
    return NigranConfig(calibration_dir=calibration_dir, model=model_for(args))


def embedder_for(args: argparse.Namespace) -> CountingEmbedder:
    embedder = CountingEmbedder(model_embedder(model_for(args), args.model_cache))
    cache: Path | None = args.embedding_cache
    if cache is not None and embedder.load(cache):
        log.warning("reusing embeddings saved in %s (--embedding-cache)", cache)
    return embedder


def build_background(triples: list[Triple], embedder: CountingEmbedder, per_lang: int, model_id: str) -> Background:
    """Ordinary text per language: neither references nor queries (its own split)."""
    texts: list[str] = []
    langs: list[str] = []
    for lang in LANGS:
        pool = list(triples)
        # A different order per language, so the three samples are mostly different sentences.
        random.Random(f"{SEED}:background:{lang}").shuffle(pool)
        chosen = [prepare_text(t.texts[lang]).cleaned for t in pool[:per_lang]]
        texts += chosen
        langs += [lang] * len(chosen)
    return Background(embedder.embed(texts), model_id=model_id, langs=langs)


def cmd_calibrate(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    corpora, parts = parts_for(args)
    embedder = embedder_for(args)
    model_id = embedder.inner.model_id
    out = config_for(args, args.out).model_calibration_dir
    assert out is not None
    background = build_background(parts["background"], embedder, args.background_per_lang, model_id)
    n_refs, n_neg = (None, None) if args.full else CALIBRATE_SAMPLE
    ts = build_testset(parts["calibration"], "calibration", n_references=n_refs, n_negatives=n_neg, seed=SEED)
    scored = score_testset(ts, embedder, Calibration(Thresholds(), background))
    thresholds, points = calibrate_thresholds(scored)
    # Every calibration sentence against every other: the curves the service's thresholds follow the bank by.
    curves, pairs = measure_bank_curves(parts["calibration"], embedder, Calibration(thresholds, background))
    if args.embedding_cache is not None:
        embedder.save(args.embedding_cache)
    out.mkdir(parents=True, exist_ok=True)
    background.save(out / BACKGROUND_FILE)
    provenance = {
        "model_id": model_id,
        "backend": args.backend,
        "corpora": "+".join(corpora),
        "data_dir": str(args.data_dir),
        "split": "calibration",
        "sizes": {**ts.sizes(), "background": len(background.vectors), "negative_pairs": pairs},
        "target_fpr": {"REUPLOAD": 0.001, "NEAR_DUPLICATE": 0.01, "TRANSLATION": 0.01},
        "seed": SEED,
        "date": today(),
    }
    path = write_calibration(out, thresholds, points, provenance, curves)
    print(json.dumps(json.loads(path.read_text(encoding="utf-8"))["thresholds"], indent=2, ensure_ascii=False))
    print(f"wrote {path} and {out / BACKGROUND_FILE} in {time.perf_counter() - started:.0f}s ({embedder.count} embeddings)")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    corpora, parts = parts_for(args)
    embedder = embedder_for(args)
    model_id = embedder.inner.model_id
    config = config_for(args, args.calibration_dir)
    calibration = load_calibration(config, model_id)
    thresholds = calibration.thresholds
    # Ordinary text from the calibration split: the background part's sentences are distractors here (bank_sizes.py).
    background = build_background(parts["calibration"], embedder, args.background_per_lang, model_id)
    if calibration.background is None:
        print(f"no calibration for {model_id} in {config.model_calibration_dir}: calibrating in this run", file=sys.stderr)
    scored = {}
    testsets = {}
    for part, (n_refs, n_neg) in EVAL_SAMPLE.items():
        testsets[part] = build_testset(parts[part], part, n_references=n_refs, n_negatives=n_neg, seed=SEED + 1)
    scored["calibration"] = score_testset(testsets["calibration"], embedder, Calibration(thresholds, background))
    if calibration.background is None:
        thresholds, _ = calibrate_thresholds(scored["calibration"])
        calibration = Calibration(thresholds, background)
    calibration = dataclasses.replace(calibration, background=background)
    baselines = calibrate_baselines(scored["calibration"])
    report_set = testsets["report"]
    pool, quoted = distractors(report_set, parts["report"], parts["background"], SEED)
    print(f"{len(pool)} distractor references; {quoted} lines left out as quoting a test-set line", file=sys.stderr)
    sizes = sizes_for(len(report_set.references), len(pool), FULL_SIZES if args.full else SAMPLE_SIZES, everything=args.full)
    runs, scored_by_size = evaluate_sizes(report_set, pool, sizes, embedder, calibration, baselines)
    base = runs[0]
    table = markdown(base.results, base.status)
    by_size = markdown_by_size(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    elapsed = time.perf_counter() - started
    meta = {
        "model_id": model_id,
        "backend": args.backend,
        "corpora": corpora,
        "data_dir": str(args.data_dir),
        "mode": "full" if args.full else "sample",
        "thresholds_source": thresholds.source,
        "sizes": {
            "calibration": {"queries": len(scored["calibration"].scored), "references": len(scored["calibration"].references)},
            "report": {"queries": len(report_set.queries), "references": len(report_set.references)},
        },
        "bank_sizes": [run.size for run in runs],
        "distractor_lines_quoting_test_lines": quoted,
        "embeddings": embedder.count,
        "embed_seconds": round(embedder.seconds, 1),
        "seconds": round(elapsed, 1),
    }
    (args.out / "eval.md").write_text(table + "\n## By bank size\n\n" + by_size, encoding="utf-8")
    write_json(args.out / "eval.json", base.results, base.status, {**meta, "by_size": [size_json(run) for run in runs]})
    pr_curves(scored_by_size[base.size], args.out / "pr_curves.png", base.thresholds)
    plot_by_size(runs, args.out / "by_bank_size.png")
    print(table)
    print(by_size)
    for run in runs:
        met = sum(m for _, m, _, _ in run.status)
        compared = [b for _, _, b, _ in run.status if b is not None]
        print(f"{run.size:,} references: targets met {met}/{len(run.status)}; beats both baselines {sum(compared)}/{len(compared)}")
        print("  translation references the search returned: " + ", ".join(f"{k.split()[1]} {v:.3f}" for k, v in run.retrieved.items()))
        for name, m, b, why in run.status:
            if not m or b is False:
                print(f"  MISSED {name}: {why}{'; does not beat a baseline' if b is False else ''}")
    print(f"thresholds: {thresholds.source}; {embedder.count} embeddings in {embedder.seconds:.0f}s; total {elapsed:.0f}s")
    print(f"wrote {args.out}/eval.md, eval.json, pr_curves.png, by_bank_size.png")
    if args.embedding_cache is not None:
        embedder.save(args.embedding_cache)
    if args.publish is not None:
        args.publish.mkdir(parents=True, exist_ok=True)
        for name in ("eval.md", "eval.json", "pr_curves.png", "by_bank_size.png"):
            shutil.copy(args.out / name, args.publish / name)
    return 0


def size_json(run: SizeResult) -> dict[str, object]:
    return {
        "references": run.size,
        "by_lang": run.counts,
        "translation_retrieved": run.retrieved,
        "translation_score_by_pair": dict(run.thresholds.translation_score_by_pair),
        "translation_margin_by_pair": dict(run.thresholds.translation_margin_by_pair),
        "rows": [{k: None if isinstance(v, float) and v != v else v for k, v in dataclasses.asdict(r).items()} for r in run.results],
        "targets": [{"row": n, "met": m, "beats_baselines": b, "detail": w} for n, m, b, w in run.status],
    }


def cmd_min_content(args: argparse.Namespace) -> int:
    from evaluation.min_content import measure

    _, parts = parts_for(args)
    embedder = embedder_for(args)
    calibration = load_calibration(config_for(args, args.calibration_dir), embedder.inner.model_id)
    table = measure(parts["calibration"], embedder, calibration, SEED)
    print(table)
    if args.embedding_cache is not None:
        embedder.save(args.embedding_cache)
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    from evaluation.adapt import train_adapter

    _, parts = load_parts(args.data_dir)
    train = [t for t in parts["calibration"] if adapt_fold(t)]
    print(f"training on {len(train)} TICO-19 calibration lines (adapt fold) for {args.epochs} epochs", file=sys.stderr)
    meta = train_adapter(resolve_model_dir(ModelConfig(adapter="none"), args.model_cache), train, AdaptSettings(epochs=args.epochs), args.out)
    print(json.dumps(meta["training"], indent=2))
    print(f"wrote {args.out}; re-run `make calibrate` with CALIBRATE_ARGS=\"--adapter {args.out.name}\" (and --backend onnx-int8)")
    return 0


def cmd_adapt_report(args: argparse.Namespace) -> int:
    """Base against adapted model, raw cosine and CSLS, on calibration lines the adapter never saw."""
    from evaluation.adapt import embed_triples, markdown_adapt, retrieval_rows

    _, parts = load_parts(args.data_dir, adapted=True)
    held_out = parts["calibration"]
    corpora = np.array([t.corpus for t in held_out])
    subsets = {"all": np.ones(len(held_out), dtype=bool), **{c: corpora == c for c in sorted(set(corpora))}}
    adapted = ModelConfig(adapter=DEFAULT_ADAPTER if args.adapter in ("default", "none") else args.adapter)
    rows = {}
    for name, model in (("base", ModelConfig(adapter="none")), (f"adapter {adapted.adapter}", adapted)):
        started = time.perf_counter()
        rows[name] = retrieval_rows(embed_triples(model_embedder(model, args.model_cache), held_out), subsets)
        print(f"{name}: {3 * len(held_out)} embeddings in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    table = markdown_adapt(rows, {k: int(v.sum()) for k, v in subsets.items()})
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("eval", "calibrate", "min-content", "adapt", "adapt-report"):
        p = sub.add_parser(name)
        p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="line-aligned corpora (default ../shared/data)")
        p.add_argument("--model-cache", type=Path, default=REPO / "var", help="where the bundled model is built")
        p.add_argument(
            "--full", action="store_true",
            help="calibrate: every sentence of the split; eval: every bank size, up to all the distractors the corpora allow",
        )
        p.add_argument("--background-per-lang", type=int, default=BACKGROUND_PER_LANG)
        p.add_argument(
            "--embedding-cache", type=Path, default=None,
            help="keep the model's vectors in this .npz between runs (same model only); by default nothing is kept",
        )
        p.add_argument(
            "--backend", choices=BACKENDS, default=ModelConfig().backend,
            help="the encoder to measure or calibrate; its calibration is read from (and written to) its own directory",
        )
        p.add_argument(
            "--adapter", default=ModelConfig().adapter,
            help="default (the shipped one), none (the base model), a name under service/adapters/, or a directory; "
            "an adapted model's calibration lies under adapter-NAME/, and it is calibrated without the adapter's training lines",
        )
    sub.choices["eval"].add_argument("--out", type=Path, default=REPO / "eval_out")
    for name in ("eval", "min-content"):
        sub.choices[name].add_argument(
            "--calibration-dir", type=Path, default=DEFAULT_CALIBRATION_DIR,
            help="the calibrations' directory; backends other than torch read the subdirectory named after them",
        )
    sub.choices["eval"].add_argument("--publish", type=Path, help="also copy the table, JSON and plot here (docs/eval)")
    sub.choices["calibrate"].add_argument(
        "--out", type=Path, default=DEFAULT_CALIBRATION_DIR,
        help="the calibrations' directory; backends other than torch write the subdirectory named after them",
    )
    sub.choices["adapt"].add_argument("--epochs", type=int, default=AdaptSettings().epochs)
    sub.choices["adapt"].add_argument(
        "--out", type=Path, default=ADAPTERS_DIR / DEFAULT_ADAPTER, help="where adapter.json and adapter.safetensors go"
    )
    sub.choices["adapt-report"].add_argument("--out", type=Path, default=REPO / "eval_out" / "adapt.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    commands = {"eval": cmd_eval, "calibrate": cmd_calibrate, "min-content": cmd_min_content, "adapt": cmd_adapt, "adapt-report": cmd_adapt_report}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
