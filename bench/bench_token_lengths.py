"""Token lengths of real posts under the bundled model's tokenizer, per language.

``ModelConfig.max_seq_length`` is set from these figures: the encoder's cost
grows with the longest text of a batch, so the cap should sit just above what
real text needs, not at the model's 512 positions. Every sentence of the
corpora (TICO-19, NTREX-128) is measured as the service embeds it: the clean
form (``prepare_text``), with the model's prefix, special tokens included,
untruncated. It also counts the padding the encoder computes for mixed
calls of 256 posts batched in input order, by characters (the old order) and
by tokens (embedding/length_batches.py).

    .venv/bin/python bench/bench_token_lengths.py [--data-dir ../shared/data] [--json bench/results_token_lengths.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from evaluation.corpus import LANGS, discover, load_corpus  # noqa: E402
from service.core import ModelConfig, prepare_text  # noqa: E402
from service.core.embedding.embedder import resolve_model_dir, text_prefix_for  # noqa: E402

PERCENTILES = (50, 90, 95, 99, 99.5, 99.9, 100)
CAPS = (64, 96, 128, 160, 192, 256, 512)
BATCH = 32
CALL = 256  # posts per Match call at most (Limits.max_posts_per_request)


def padding_by_order(texts: list[str], lengths: list[int], seed: int = 0) -> dict[str, float]:
    """Token positions computed per real token, for mixed-language calls of CALL posts, by batch order."""
    import random

    from service.core.embedding.length_batches import length_batches, padded_tokens

    rng = random.Random(seed)
    picked = rng.sample(range(len(texts)), k=min(len(texts), 40 * CALL))
    totals = {"input order": 0, "characters": 0, "tokens": 0}
    real = 0
    for start in range(0, len(picked), CALL):
        call = picked[start : start + CALL]
        lens = [lengths[i] for i in call]
        real += sum(lens)
        totals["input order"] += padded_tokens(lens, [list(range(j, min(j + BATCH, len(call)))) for j in range(0, len(call), BATCH)])
        by_chars = sorted(range(len(call)), key=lambda j: -len(texts[call[j]]))
        totals["characters"] += padded_tokens(lens, [by_chars[j : j + BATCH] for j in range(0, len(call), BATCH)])
        totals["tokens"] += padded_tokens(lens, length_batches(lens, BATCH))
    return {name: round(total / real, 3) for name, total in totals.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--model-cache", type=Path, default=REPO / "var")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from tokenizers import Tokenizer

    config = ModelConfig()
    tokenizer = Tokenizer.from_file(str(resolve_model_dir(config, args.model_cache) / "tokenizer.json"))
    tokenizer.no_truncation()
    prefix = text_prefix_for(config)
    texts: dict[str, list[str]] = {lang: [] for lang in LANGS}
    for corpus in discover(args.data_dir):
        for triple in load_corpus(corpus):
            for lang in LANGS:
                texts[lang].append(prefix + prepare_text(triple.texts[lang]).cleaned)
    lengths = {lang: np.array([len(e.ids) for e in tokenizer.encode_batch(items)]) for lang, items in texts.items()}
    lengths["all"] = np.concatenate(list(lengths.values()))

    report: dict[str, dict[str, object]] = {}
    header = "| language | texts | mean | " + " | ".join(f"p{p:g}" for p in PERCENTILES) + " | " + " | ".join(f"> {c}" for c in CAPS) + " |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for lang, values in lengths.items():
        pct = {f"p{p:g}": float(np.percentile(values, p)) for p in PERCENTILES}
        over = {f"over_{c}": int((values > c).sum()) for c in CAPS}
        report[lang] = {"texts": int(values.size), "mean": round(float(values.mean()), 1), **pct, **over}
        print(
            f"| {lang} | {values.size:,} | {values.mean():.1f} | "
            + " | ".join(f"{v:.0f}" for v in pct.values()) + " | "
            + " | ".join(str(v) for v in over.values()) + " |"
        )
    flat = [t for lang in LANGS for t in texts[lang]]
    flat_lengths = [int(v) for lang in LANGS for v in lengths[lang]]
    padding = padding_by_order(flat, flat_lengths)
    print(f"\nencoder positions per real token, calls of {CALL} mixed posts in batches of {BATCH}: " + ", ".join(f"{k} {v}" for k, v in padding.items()))
    report["padding_per_real_token"] = padding
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
