"""``python -m evaluation eval|calibrate`` (``make eval``, ``make calibrate``)."""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import time
from pathlib import Path

from evaluation.calibrate import calibrate_baselines, calibrate_thresholds, today, write_calibration
from evaluation.corpus import LANGS, Triple, discover, load_corpus, part_of
from evaluation.report import evaluate, markdown, pr_curves, target_status, write_json
from evaluation.scoring import CountingEmbedder, score_testset
from evaluation.testset import build_testset
from service.core import (
    BACKGROUND_FILE, DEFAULT_CALIBRATION_DIR, Background, Calibration, ModelConfig, NigranConfig,
    SentenceTransformerEmbedder, Thresholds, load_calibration, prepare_text
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


def load_parts(data_dir: Path) -> tuple[list[str], dict[str, list[Triple]]]:
    corpora = discover(data_dir)
    parts: dict[str, list[Triple]] = {"calibration": [], "report": [], "background": []}
    for path in corpora:
        for t in load_corpus(path):
            parts[part_of(t.segment)].append(t)
    return [p.name for p in corpora], parts


def embedder_for(model_cache: Path) -> CountingEmbedder:
    return CountingEmbedder(SentenceTransformerEmbedder(ModelConfig(), model_cache))


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
    corpora, parts = load_parts(args.data_dir)
    embedder = embedder_for(args.model_cache)
    model_id = embedder.inner.model_id
    background = build_background(parts["background"], embedder, args.background_per_lang, model_id)
    n_refs, n_neg = (None, None) if args.full else CALIBRATE_SAMPLE
    ts = build_testset(parts["calibration"], "calibration", n_references=n_refs, n_negatives=n_neg, seed=SEED)
    scored = score_testset(ts, embedder, Calibration(Thresholds(), background))
    thresholds, points = calibrate_thresholds(scored)
    args.out.mkdir(parents=True, exist_ok=True)
    background.save(args.out / BACKGROUND_FILE)
    provenance = {
        "model_id": model_id,
        "corpora": "+".join(corpora),
        "data_dir": str(args.data_dir),
        "split": "calibration",
        "sizes": {**ts.sizes(), "background": len(background.vectors)},
        "target_fpr": {"REUPLOAD": 0.001, "NEAR_DUPLICATE": 0.01, "TRANSLATION": 0.01},
        "seed": SEED,
        "date": today(),
    }
    path = write_calibration(args.out, thresholds, points, provenance)
    print(json.dumps(json.loads(path.read_text(encoding="utf-8"))["thresholds"], indent=2, ensure_ascii=False))
    print(f"wrote {path} and {args.out / BACKGROUND_FILE} in {time.perf_counter() - started:.0f}s ({embedder.count} embeddings)")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    corpora, parts = load_parts(args.data_dir)
    embedder = embedder_for(args.model_cache)
    model_id = embedder.inner.model_id
    calibration = load_calibration(NigranConfig(calibration_dir=args.calibration_dir), model_id)
    background = calibration.background
    thresholds = calibration.thresholds
    if background is None:
        print(f"no calibration for {model_id} in {args.calibration_dir}: calibrating in this run", file=sys.stderr)
        background = build_background(parts["background"], embedder, args.background_per_lang, model_id)
    sizes = {part: (None, None) for part in EVAL_SAMPLE} if args.full else EVAL_SAMPLE
    scored = {}
    for part, (n_refs, n_neg) in sizes.items():
        ts = build_testset(parts[part], part, n_references=n_refs, n_negatives=n_neg, seed=SEED + 1)
        scored[part] = score_testset(ts, embedder, Calibration(thresholds, background))
    if calibration.background is None:
        thresholds, _ = calibrate_thresholds(scored["calibration"])
    baselines = calibrate_baselines(scored["calibration"])
    results = evaluate(scored["report"], thresholds, baselines)
    status = target_status(results)
    table = markdown(results, status)
    args.out.mkdir(parents=True, exist_ok=True)
    elapsed = time.perf_counter() - started
    meta = {
        "model_id": model_id,
        "corpora": corpora,
        "data_dir": str(args.data_dir),
        "mode": "full" if args.full else "sample",
        "thresholds_source": thresholds.source,
        "sizes": {part: {"queries": len(s.scored), "references": len(s.references)} for part, s in scored.items()},
        "embeddings": embedder.count,
        "embed_seconds": round(embedder.seconds, 1),
        "seconds": round(elapsed, 1),
    }
    (args.out / "eval.md").write_text(table, encoding="utf-8")
    write_json(args.out / "eval.json", results, status, meta)
    pr_curves(scored["report"], args.out / "pr_curves.png", thresholds)
    print(table)
    met = sum(m for _, m, _, _ in status)
    compared = [b for _, _, b, _ in status if b is not None]
    print(f"targets met: {met}/{len(status)}; beats both baselines: {sum(compared)}/{len(compared)}")
    for name, m, b, why in status:
        if not m or b is False:
            print(f"  MISSED {name}: {why}{'; does not beat a baseline' if b is False else ''}")
    print(f"thresholds: {thresholds.source}; {embedder.count} embeddings in {embedder.seconds:.0f}s; total {elapsed:.0f}s")
    print(f"wrote {args.out}/eval.md, eval.json, pr_curves.png")
    if args.publish is not None:
        args.publish.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.out / "eval.md", args.publish / "eval.md")
        shutil.copy(args.out / "pr_curves.png", args.publish / "pr_curves.png")
        shutil.copy(args.out / "eval.json", args.publish / "eval.json")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("eval", "calibrate"):
        p = sub.add_parser(name)
        p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="line-aligned corpora (default ../shared/data)")
        p.add_argument("--model-cache", type=Path, default=REPO / "var", help="where the bundled model is built")
        p.add_argument("--full", action="store_true", help="use every sentence of the split, not a sample")
        p.add_argument("--background-per-lang", type=int, default=BACKGROUND_PER_LANG)
    sub.choices["eval"].add_argument("--out", type=Path, default=REPO / "eval_out")
    sub.choices["eval"].add_argument("--calibration-dir", type=Path, default=DEFAULT_CALIBRATION_DIR)
    sub.choices["eval"].add_argument("--publish", type=Path, help="also copy the table, JSON and plot here (docs/eval)")
    sub.choices["calibrate"].add_argument("--out", type=Path, default=DEFAULT_CALIBRATION_DIR)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return cmd_eval(args) if args.command == "eval" else cmd_calibrate(args)


if __name__ == "__main__":
    sys.exit(main())
