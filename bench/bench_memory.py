"""Peak RSS of a real nigran-server holding ``--refs`` references (default 100,000).

Embedding 100,000 texts takes about an hour on this 2-vCPU machine, and what
a server holds in memory does not depend on the values of its vectors. So the
store is written offline through the one write path (``open_offline``: real
texts, real preparation, fingerprints and audit rows) with *random unit
vectors* recorded under the running model's id. The server then starts on
that store with the real model, loads the whole bank into its live index
without re-embedding, and serves a Match load (single posts and batches, new
texts, so the embedding cache fills) while its RSS is sampled. Verdicts in
this run mean nothing; memory does.

Texts are pairs of TICO-19 / NTREX-128 lines (eng, urd, pus), so every item
is distinct and of a real post's length.

    .venv/bin/python bench/bench_memory.py --refs 100000 --json bench/results_memory.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402

from bench_soak import ServerProcess  # noqa: E402
from bench_throughput import Client  # noqa: E402
from service.core import Embedder, NewReference, NigranConfig, open_offline  # noqa: E402
from service.core.wiring import default_embedder  # noqa: E402

CHUNK = 5000


class RandomUnitVectors(Embedder):
    """BENCH ONLY: random unit vectors under the real model's id (see the module docstring)."""

    def __init__(self, model_id: str, dim: int, seed: int = 3) -> None:
        self.model_id, self.dim = model_id, dim
        self._rng = np.random.default_rng(seed)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        v = self._rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def lines(data_dir: Path) -> list[str]:
    out: list[str] = []
    for corpus in ("tico19", "ntrex128"):
        for lang in ("eng", "urd", "pus"):
            out += [t.strip() for t in (data_dir / corpus / f"{lang}.txt").read_text(encoding="utf-8").splitlines() if t.strip()]
    return list(dict.fromkeys(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--model-cache", type=Path, default=REPO / "var")
    parser.add_argument("--refs", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=600, help="new posts sent after the bank is loaded")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    pool = lines(args.data_dir)
    n = len(pool)
    texts = [f"{pool[i % n]} {pool[(i // n + 1 + i * 7) % n]}" for i in range(args.refs)]
    posts = pool[: args.posts]
    with tempfile.TemporaryDirectory() as tmp_name:
        data = Path(tmp_name) / "data"
        config = NigranConfig(data_dir=data, model_cache=args.model_cache)
        real = default_embedder(config)
        model_id, dim = real.model_id, real.dim
        real.close()
        t0 = time.perf_counter()
        with open_offline(config, RandomUnitVectors(model_id, dim)) as offline:
            stored = 0
            for start in range(0, len(texts), CHUNK):
                refs = [NewReference(id=f"m{start + i}", text=t) for i, t in enumerate(texts[start : start + CHUNK])]
                stored += len(offline.references.add(refs, actor="bench").added)
                print(f"stored {stored:,} / {len(texts):,}", file=sys.stderr, flush=True)
        write_s = time.perf_counter() - t0

        proc = ServerProcess(data, args.model_cache, Path(tmp_name) / "server.log")
        try:
            t0 = time.perf_counter()
            port = proc.wait_port(900)
            client = Client(port, 1)
            proc.wait_serving(client.channels[0], 1800)
            serving_s = time.perf_counter() - t0
            at_start = proc.sample()
            for text in posts[: len(posts) // 2]:
                client.call([text])
            rest = posts[len(posts) // 2 :]
            for start in range(0, len(rest), 64):
                client.call(rest[start : start + 64])
            after = proc.sample()
            client.close()
        finally:
            proc.stop()
    results = {
        "references": stored, "posts_sent": len(posts), "offline_write_s": round(write_s, 1), "start_to_serving_s": round(serving_s, 1),
        "rss_mb_at_serving": at_start["rss_mb"], "rss_mb_after_load": after["rss_mb"], "peak_rss_mb": after["hwm_mb"],
        "file_backed_mb_after_load": after["file_mb"],
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
