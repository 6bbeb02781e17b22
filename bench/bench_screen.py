"""Screening throughput (posts/s): single machine and Ray, in the same run.

Builds a store of --refs reference sentences (English, Urdu, Pashto) from
../shared/data with index_builder build, then screens an archive of --posts
posts in the three languages with both engines. The aligned corpora hold about
15k lines; beyond that, lines are repeated with a perturbation (a running
number appended), so every post is distinct text. The reference set is taken
from the same corpora, so the archive holds re-uploads and translations as
well as unrelated posts.

    .venv/bin/python bench/bench_screen.py --posts 20000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from index_builder.build import BuildOptions, build  # noqa: E402
from index_builder.screen import ScreenOptions, screen  # noqa: E402
from service.core import NigranConfig, SentenceTransformerEmbedder  # noqa: E402


def corpus_lines(data: Path) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for corpus in ("tico19", "ntrex128"):
        for lang in ("eng", "urd", "pus"):
            path = data / corpus / f"{lang}.txt"
            if path.exists():
                out += [(lang, line.strip()) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--posts", type=int, default=20_000)
    p.add_argument("--refs", type=int, default=1000)
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--engines", default="local,ray")
    p.add_argument("--ray-workers", type=int, default=2)
    args = p.parse_args()
    lines = corpus_lines(args.data)
    if not lines:
        sys.exit(f"no corpora under {args.data}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = NigranConfig(data_dir=root / "var", model_cache=REPO / "var")
        refs = root / "refs.jsonl"
        step = max(1, len(lines) // args.refs)
        with refs.open("w", encoding="utf-8") as fh:
            for i, (lang, text) in enumerate(lines[::step][: args.refs]):
                fh.write(json.dumps({"id": f"r{i}", "text": text, "lang": {"eng": "en", "urd": "ur", "pus": "ps"}[lang]}, ensure_ascii=False) + "\n")
        posts = root / "posts.jsonl"
        with posts.open("w", encoding="utf-8") as fh:
            for i in range(args.posts):
                lang, text = lines[(i * 7919) % len(lines)]  # interleaves the languages and corpora
                if i >= len(lines):
                    text = f"{text} ({i // len(lines)})"
                fh.write(json.dumps({"id": f"p{i:06d}", "text": text}, ensure_ascii=False) + "\n")
        embedder = SentenceTransformerEmbedder(config.model, config.model_cache_dir)
        t = time.perf_counter()
        summary = build(config, BuildOptions(input=refs, artifacts_dir=root / "artifacts", progress=False), embedder)
        print(json.dumps({"build_refs": summary.added, "seconds": round(time.perf_counter() - t, 1)}), flush=True)
        figures = {}
        for engine in args.engines.split(","):
            opts = ScreenOptions(
                input=posts, output=root / f"out-{engine}.jsonl", batch_size=args.batch_size, progress=False,
                engine=engine, workers=args.ray_workers,  # type: ignore[arg-type]
            )
            t = time.perf_counter()
            s = screen(config, opts, embedder if engine == "local" else None)
            seconds = time.perf_counter() - t
            figures[engine] = {"posts": s.screened, "matched": s.matched, "seconds": round(seconds, 1), "posts_per_s": round(s.screened / seconds, 1)}
            print(json.dumps({"engine": engine, **figures[engine]}), flush=True)
        if {"local", "ray"} <= figures.keys():
            a = (root / "out-local.jsonl").read_text(encoding="utf-8").splitlines()
            b = (root / "out-ray.jsonl").read_text(encoding="utf-8").splitlines()
            same = sum(json.loads(x)["verdict"] == json.loads(y)["verdict"] for x, y in zip(a, b))
            print(json.dumps({"same_verdicts": same, "of": len(a)}))


if __name__ == "__main__":
    main()
