"""Accuracy of service.core.langid on the TICO-19 and NTREX-128 test sets.

Usage (from the repository root):

    python bench/bench_langid.py [--data-dir ../shared/data] [--seed 0]

Every line of {eng,urd,pus}.txt is classified twice: as the full sentence and
as one random contiguous snippet of 3-6 whitespace tokens (seeded, so runs
are comparable).  A prediction counts as correct only if it is exactly the
expected language: "mixed" and "other" are errors here.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from service.core.text.langid import detect_language  # noqa: E402

FILES = {"en": "eng.txt", "ur": "urd.txt", "ps": "pus.txt"}
CORPORA = ("tico19", "ntrex128")


def snippet(line: str, rng: random.Random, lo: int = 3, hi: int = 6) -> str:
    words = line.split()
    if len(words) <= lo:
        return " ".join(words)
    n = rng.randint(lo, min(hi, len(words)))
    start = rng.randint(0, len(words) - n)
    return " ".join(words[start : start + n])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show-errors", type=int, default=0, help="print up to N misclassified texts per cell")
    args = ap.parse_args()

    rows: list[tuple[str, str, str, int, float, Counter[str]]] = []
    for corpus in CORPORA:
        for lang, fname in FILES.items():
            path = args.data_dir / corpus / fname
            if not path.exists():
                print(f"missing {path}", file=sys.stderr)
                continue
            lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
            rng = random.Random(f"{args.seed}-{corpus}-{lang}")
            for kind in ("full", "short"):
                texts = lines if kind == "full" else [snippet(ln, rng) for ln in lines]
                preds: Counter[str] = Counter()
                shown = 0
                for t in texts:
                    g = detect_language(t)
                    preds[g.lang] += 1
                    if g.lang != lang and shown < args.show_errors:
                        shown += 1
                        print(f"[{corpus}/{lang}/{kind}] -> {g.lang} {dict(g.scores)} :: {t}")
                rows.append((corpus, lang, kind, len(texts), preds[lang] / len(texts), preds))

    print(f"{'corpus':<10} {'lang':<4} {'kind':<6} {'n':>5} {'acc':>7}  confusions")
    for corpus, lang, kind, n, acc, preds in rows:
        conf = ", ".join(f"{k}:{v}" for k, v in preds.most_common() if k != lang)
        print(f"{corpus:<10} {lang:<4} {kind:<6} {n:>5} {acc:>7.4f}  {conf}")
    # Pooled over both corpora.
    print()
    for lang in FILES:
        for kind in ("full", "short"):
            cells = [r for r in rows if r[1] == lang and r[2] == kind]
            n = sum(r[3] for r in cells)
            ok = sum(r[5][lang] for r in cells)
            if n:
                print(f"{'both':<10} {lang:<4} {kind:<6} {n:>5} {ok / n:>7.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
