"""Replicas on one Postgres: cross-replica visibility, throughput with one and two replicas, start-up of a fresh replica.

Starts a throw-away Postgres cluster (Debian's server binaries, as the tests
do) and real ``nigran-server`` processes with the bundled model, all on
127.0.0.1. Three parts (``--part``, default all):

visibility
    Two replicas, A and B, on one store holding ``--refs`` TICO-19 lines.
    Per trial: an item is added through A; from the moment AddReferences
    returns, B is asked to Match a near-duplicate (one word changed, so only
    B's own vector index can find it, not the fingerprint) until it appears.
    Then the item is disabled through A and B is asked until it is gone; then
    re-enabled, removed through A, and asked until it is gone. Baseline, in
    the same run: one Match round trip to B. Median and p99 over ``--trials``.

throughput
    Unique posts/s with ``--clients`` clients sending batches of ``--batch``
    posts, round-robin over the replicas' ports (gRPC client-side balancing),
    with one replica and then with two, interleaved over ``--rounds``.

startup
    A store of ``--startup-refs`` items whose vectors are already stored
    (random unit vectors under the real model's id, so nothing is embedded).
    Times from process start to SERVING: a replica on an empty store (the
    model load alone, the baseline), a fresh replica rebuilding its index
    from the store, and a fresh replica starting from the shared index
    snapshot the first one published plus a delta of ``--delta`` items.

    .venv/bin/python bench/bench_replicas.py --json bench/results_replicas.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

from bench_soak import ServerProcess  # noqa: E402
from service.api._generated.nigran.v1 import curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc  # noqa: E402
from tests.support.postgres import Cluster  # noqa: E402

# TICO-19 file names, and the language tags Nigran takes.
FILES = {"en": "eng", "ur": "urd", "ps": "pus"}
LANGS = tuple(FILES)


def tico(data_dir: Path) -> dict[str, list[str]]:
    return {lang: (data_dir / "tico19" / f"{FILES[lang]}.txt").read_text(encoding="utf-8").splitlines() for lang in LANGS}


class Replica:
    def __init__(self, root: Path, name: str, url: str, model_cache: Path, *extra: str) -> None:
        self.started = time.perf_counter()
        self.proc = ServerProcess(
            root / name, model_cache, root / f"{name}.log", extra_args=("--store-url", url, *extra),
        )
        self.port = self.proc.wait_port(600)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.proc.wait_serving(self.channel, 900)
        self.ready_after = time.perf_counter() - self.started
        self.matcher = matcher_pb2_grpc.MatcherStub(self.channel)
        self.curation = curation_pb2_grpc.CurationStub(self.channel)

    def matched(self, text: str) -> list[str]:
        request = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="p", text=text)])
        return [m.reference_id for m in self.matcher.Match(request, timeout=60).results[0].matches]

    def close(self) -> None:
        self.channel.close()
        self.proc.stop()


def add_refs(replica: Replica, texts: list[tuple[str, str]], prefix: str) -> None:
    for start in range(0, len(texts), 200):
        items = [curation_pb2.ReferenceInput(id=f"{prefix}{start + i}", lang=lang, text=t) for i, (lang, t) in enumerate(texts[start : start + 200])]
        replica.curation.AddReferences(curation_pb2.AddReferencesRequest(references=items), timeout=600)


def until(check: Callable[[], bool], bound: float = 30.0) -> tuple[float, int]:
    """Seconds until ``check`` holds (from now), and how many times it was asked."""
    t0 = time.perf_counter()
    asked = 0
    while True:
        asked += 1
        if check():
            return time.perf_counter() - t0, asked
        if time.perf_counter() - t0 > bound:
            raise RuntimeError(f"not visible within {bound:g} s")


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1e3, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3, 1),
        "max_ms": round(ordered[-1] * 1e3, 1),
    }


@contextmanager
def two_replicas(cluster: Cluster, root: Path, model_cache: Path, name: str, lines: dict[str, list[str]], refs: int) -> Iterator[tuple[Replica, Replica]]:
    """Replicas A and B on a fresh database holding ``refs`` TICO-19 lines (languages in turn), added through A."""
    url = cluster.new_database()
    a = Replica(root, f"{name}-a", url, model_cache)
    b = Replica(root, f"{name}-b", url, model_cache)
    try:
        add_refs(a, [(LANGS[i % 3], lines[LANGS[i % 3]][i]) for i in range(refs)], "bank-")
        until(lambda: len(b.matched(lines["en"][0])) > 0)
        yield a, b
    finally:
        b.close()
        a.close()


def visibility(cluster: Cluster, root: Path, model_cache: Path, lines: dict[str, list[str]], args: argparse.Namespace) -> dict[str, Any]:
    with two_replicas(cluster, root, model_cache, "vis", lines, args.refs) as (a, b):
        times: dict[str, list[float]] = {"add": [], "disable": [], "remove": [], "baseline": []}
        for trial in range(args.trials):
            text = lines["en"][args.refs + trial]
            words = text.split()
            variant = " ".join([*words[:-1], "indeed", words[-1]])
            ref_id = f"trial-{trial}"
            a.curation.AddReferences(
                curation_pb2.AddReferencesRequest(references=[curation_pb2.ReferenceInput(id=ref_id, lang="en", text=text)]), timeout=60
            )
            took, _ = until(lambda: ref_id in b.matched(variant))
            times["add"].append(took)
            a.curation.DisableReferences(curation_pb2.DisableReferencesRequest(ids=[ref_id]), timeout=60)
            times["disable"].append(until(lambda: ref_id not in b.matched(variant))[0])
            a.curation.EnableReferences(curation_pb2.ReferenceIds(ids=[ref_id]), timeout=60)
            until(lambda: ref_id in b.matched(variant))
            a.curation.RemoveReferences(curation_pb2.RemoveReferencesRequest(ids=[ref_id]), timeout=60)
            times["remove"].append(until(lambda: ref_id not in b.matched(variant))[0])
            t0 = time.perf_counter()
            b.matched(variant)
            times["baseline"].append(time.perf_counter() - t0)
        return {"refs": args.refs, "trials": args.trials, **{k: summary(v) for k, v in times.items()}}


def throughput(cluster: Cluster, root: Path, model_cache: Path, lines: dict[str, list[str]], args: argparse.Namespace) -> dict[str, Any]:
    with two_replicas(cluster, root, model_cache, "tp", lines, args.refs) as (a, b):
        posts = [lines[lang][i] for i in range(args.refs, len(lines["en"])) for lang in LANGS]
        random.Random(7).shuffle(posts)
        cursor = [0]
        lock = threading.Lock()

        def take(n: int) -> list[str]:
            with lock:
                out = posts[cursor[0] : cursor[0] + n]
                cursor[0] += n
                if len(out) < n:  # wrap; each replica's cache holds few of these by then
                    cursor[0] = 0
                return out

        def run(replicas: list[Replica]) -> float:
            per_client = args.posts // args.clients
            done = [0]

            def client(k: int) -> None:
                stub = replicas[k % len(replicas)].matcher  # client-side round-robin
                sent = 0
                while sent < per_client:
                    texts = take(args.batch)
                    stub.Match(matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id=str(i), text=t) for i, t in enumerate(texts)]), timeout=600)
                    sent += len(texts)
                with lock:
                    done[0] += sent

            t0 = time.perf_counter()
            threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return done[0] / (time.perf_counter() - t0)

        one, two = [], []
        for _ in range(args.rounds):
            one.append(run([a]))
            two.append(run([a, b]))
        return {
            "refs": args.refs, "clients": args.clients, "batch": args.batch, "posts_per_round": args.posts, "rounds": args.rounds,
            "one_replica_posts_per_s": round(statistics.median(one), 1), "two_replicas_posts_per_s": round(statistics.median(two), 1),
            "ratio": round(statistics.median(two) / statistics.median(one), 2), "raw": {"one": one, "two": two},
        }


def fill(url: str, n: int, model_id: str, dim: int, start: int = 0) -> None:
    """``n`` items with stored vectors under ``model_id``: a bank that needs no embedding."""
    from service.core.store.base import StoredReference
    from service.core.domain import NewReference
    from service.core.store.postgres import PostgresStore
    from service.core.text.prepare import prepare_text

    rng = np.random.default_rng(start)
    words = "convoy ridge camp supplies bridge market river border night city fund brothers checkpoint".split()
    store = PostgresStore(url, pool_size=2)
    try:
        for first in range(start, start + n, 1000):
            rows = []
            vectors = rng.standard_normal((min(1000, start + n - first), dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            for j, vector in enumerate(vectors):
                text = " ".join(rng.choice(words, 12)) + f" {first + j}"
                rows.append(StoredReference(NewReference(text=text, id=f"s{first + j}", lang="en"), prepare_text(text), vector))
            store.references.add(rows, actor="bench", model_id=model_id)
    finally:
        store.close()


def startup(cluster: Cluster, root: Path, model_cache: Path, args: argparse.Namespace) -> dict[str, Any]:
    from service.core import ModelConfig, SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(ModelConfig(), model_cache)
    model_id, dim = embedder.model_id, embedder.dim
    embedder.close()
    shared = root / "shared-index"
    empty = Replica(root, "st-empty", cluster.new_database(), model_cache)
    baseline = empty.ready_after
    empty.close()
    url = cluster.new_database()
    t0 = time.perf_counter()
    fill(url, args.startup_refs, model_id, dim)
    filled = time.perf_counter() - t0
    rebuild = Replica(root, "st-rebuild", url, model_cache, "--config", str(write_config(root, shared)))
    rebuilt_after = rebuild.ready_after
    rebuild.close()  # its snapshot is in the shared directory now
    fill(url, args.delta, model_id, dim, start=args.startup_refs)
    fresh = Replica(root, "st-snapshot", url, model_cache, "--config", str(write_config(root, shared)))
    from_snapshot = fresh.ready_after
    fresh.close()
    return {
        "refs": args.startup_refs, "delta": args.delta, "fill_s": round(filled, 1),
        "model_load_only_s": round(baseline, 1), "rebuild_from_store_s": round(rebuilt_after, 1),
        "shared_snapshot_plus_delta_s": round(from_snapshot, 1),
    }


def write_config(root: Path, shared: Path) -> Path:
    path = root / "replica.toml"
    path.write_text(f'[store]\nshared_index_dir = "{shared}"\n', encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("all", "visibility", "throughput", "startup"), default="all")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--model-cache", type=Path, default=REPO / "var")
    parser.add_argument("--refs", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--posts", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--startup-refs", type=int, default=100_000)
    parser.add_argument("--delta", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    lines = tico(args.data)
    results: dict[str, Any] = {}
    cluster = Cluster()
    try:
        with tempfile.TemporaryDirectory(prefix="nigran-replicas-") as tmp:
            root = Path(tmp)
            if args.part in ("all", "visibility"):
                results["visibility"] = visibility(cluster, root, args.model_cache, lines, args)
                print(json.dumps(results["visibility"]), flush=True)
            if args.part in ("all", "throughput"):
                results["throughput"] = throughput(cluster, root, args.model_cache, lines, args)
                print(json.dumps({k: v for k, v in results["throughput"].items() if k != "raw"}), flush=True)
            if args.part in ("all", "startup"):
                results["startup"] = startup(cluster, root, args.model_cache, args)
                print(json.dumps(results["startup"]), flush=True)
    finally:
        cluster.destroy()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
