"""Unique posts per second over gRPC: Nigran against a naive peer, in one run.

Starts two real server processes on 127.0.0.1 (port 0), each with the same
bundled model and the same ``--refs`` references:

- the naive peer (``bench/naive_peer.py``): one post per call,
  sentence-transformers ``encode([text])`` then FAISS ``IndexFlatIP.search``,
  no batching across calls, ``OMP_WAIT_POLICY=PASSIVE``, 16 server threads;
- ``nigran-server`` with its default config.

References are TICO-19 lines, each in one of the three languages; posts are
translations of references (matches, which go through the whole cascade) and
other lines, shuffled, and every post Nigran sees is new to it, so its
embedding cache never answers. Loads, interleaved round by round so that the
machine's noise falls on both servers alike:

- ``--clients`` clients, one post per call (both servers);
- one client, batches of ``--batch`` posts per Match call (Nigran);
- one client, one MatchStream keeping ``--stream-in-flight`` single-post
  messages in flight (Nigran);
- exact re-uploads (references with case, spacing and punctuation changed),
  batches of ``--reupload-batch`` (Nigran), each copy new to the server;
- the same batch of re-uploads once more, as a viral post comes back byte
  for byte: its preparation is remembered (text/prepare.py), so this is the
  fingerprint path alone (Nigran);
- one post per call, one client, one call at a time: latency (both).

Each rate is the median over ``--rounds`` rounds; ratios are to the naive
peer's rate with ``--clients`` clients, measured in the same rounds.

    .venv/bin/python bench/bench_throughput.py --refs 1000 --rounds 3 --json bench/results_throughput.json
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import grpc  # noqa: E402

from bench_reuploads import reupload  # noqa: E402
from bench_soak import PYTHON, ServerProcess  # noqa: E402
from service.api._generated.nigran.v1 import curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc  # noqa: E402

LANGS = ("eng", "urd", "pus")


def corpus(data_dir: Path, refs: int, seed: int) -> tuple[list[str], list[str], list[str]]:
    """(references, unique posts, re-uploads): references rotate language line by line."""
    lines = {lang: (data_dir / "tico19" / f"{lang}.txt").read_text(encoding="utf-8").splitlines() for lang in LANGS}
    n = min(len(v) for v in lines.values())
    if refs > n:
        raise SystemExit(f"--refs {refs}: TICO-19 has {n} aligned lines")
    bank = [lines[LANGS[i % 3]][i].strip() for i in range(refs)]
    translations = [lines[LANGS[(i + k) % 3]][i].strip() for i in range(refs) for k in (1, 2)]
    others = [lines[lang][i].strip() for i in range(refs, n) for lang in LANGS]
    posts = list(dict.fromkeys(t for t in translations + others if t and t not in set(bank)))
    random.Random(seed).shuffle(posts)
    return bank, posts, [reupload(t, i) for i, t in enumerate(bank)]


class Client:
    def __init__(self, port: int, clients: int) -> None:
        self.channels = [grpc.insecure_channel(f"127.0.0.1:{port}") for _ in range(clients)]
        self.stubs = [matcher_pb2_grpc.MatcherStub(c) for c in self.channels]

    def call(self, texts: list[str], stub: int = 0, exhaustive: bool = False) -> matcher_pb2.MatchResponse:
        posts = [matcher_pb2.Post(id=str(i), text=t) for i, t in enumerate(texts)]
        return self.stubs[stub].Match(matcher_pb2.MatchRequest(posts=posts, exhaustive=exhaustive), timeout=600)

    def single_post_clients(self, texts: list[str]) -> float:
        """Posts/s with len(stubs) clients, each sending one post per call, back to back."""
        work: queue.SimpleQueue[str] = queue.SimpleQueue()
        for t in texts:
            work.put(t)

        def client(k: int) -> None:
            while True:
                try:
                    text = work.get_nowait()
                except queue.Empty:
                    return
                self.call([text], k)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(len(self.stubs)) as pool:
            list(pool.map(client, range(len(self.stubs))))
        return len(texts) / (time.perf_counter() - t0)

    def batches(self, texts: list[str], size: int, exhaustive: bool = False) -> tuple[float, list[matcher_pb2.PostResult]]:
        results: list[matcher_pb2.PostResult] = []
        t0 = time.perf_counter()
        for start in range(0, len(texts), size):
            results += self.call(texts[start : start + size], exhaustive=exhaustive).results
        return len(texts) / (time.perf_counter() - t0), results

    def stream(self, texts: list[str], in_flight: int) -> float:
        """One MatchStream, one post per message, at most ``in_flight`` unanswered at a time."""
        slots = threading.Semaphore(in_flight)

        def requests() -> Iterator[matcher_pb2.MatchRequest]:
            for i, t in enumerate(texts):
                slots.acquire()
                yield matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id=str(i), text=t)])

        t0 = time.perf_counter()
        answered = 0
        for reply in self.stubs[0].MatchStream(requests(), timeout=600):
            if reply.HasField("error"):
                raise RuntimeError(f"stream message refused: {reply.error.message}")
            answered += 1
            slots.release()
        if answered != len(texts):
            raise RuntimeError(f"stream answered {answered} of {len(texts)} messages")
        return len(texts) / (time.perf_counter() - t0)

    def latencies_ms(self, texts: list[str]) -> list[float]:
        out = []
        for t in texts:
            t0 = time.perf_counter()
            self.call([t])
            out.append((time.perf_counter() - t0) * 1e3)
        return out

    def close(self) -> None:
        for c in self.channels:
            c.close()


def started(proc: ServerProcess, clients: int) -> tuple[ServerProcess, Client]:
    port = proc.wait_port(600)
    client = Client(port, clients)
    proc.wait_serving(client.channels[0], 900)
    return proc, client


def median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--model-cache", type=Path, default=REPO / "var")
    parser.add_argument("--refs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--posts", type=int, default=256, help="unique posts per load per round")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--stream-in-flight", type=int, default=32)
    parser.add_argument("--reupload-batch", type=int, default=256)
    parser.add_argument("--latency-calls", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--config", type=Path, help="a TOML config for nigran-server (default: its defaults)")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    bank, posts, copies = corpus(args.data_dir, args.refs, args.seed)
    needed = args.rounds * 3 * args.posts + 2 * args.latency_calls + 64
    if len(posts) < needed:
        raise SystemExit(f"need {needed} unique posts, have {len(posts)}: lower --posts or --rounds")
    fresh = iter(posts)

    def take(n: int) -> list[str]:
        return [next(fresh) for _ in range(n)]

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "refs.txt").write_text("\n".join(bank) + "\n", encoding="utf-8")
        print(f"starting both servers with {len(bank)} references ...", file=sys.stderr, flush=True)
        extra = ("--config", str(args.config)) if args.config else ()
        nigran_proc = ServerProcess(tmp / "nigran", args.model_cache, tmp / "nigran.log", extra_args=extra)
        naive_proc = ServerProcess(tmp, args.model_cache, tmp / "naive.log", command=[
            PYTHON, str(REPO / "bench" / "naive_peer.py"), "--refs-file", str(tmp / "refs.txt"), "--model-cache", str(args.model_cache),
        ])
        try:
            _, nigran = started(nigran_proc, args.clients)
            curation = curation_pb2_grpc.CurationStub(nigran.channels[0])
            for start in range(0, len(bank), 256):
                refs = [curation_pb2.ReferenceInput(id=f"r{start + i}", text=t) for i, t in enumerate(bank[start : start + 256])]
                curation.AddReferences(curation_pb2.AddReferencesRequest(references=refs), timeout=600)
            _, naive = started(naive_proc, args.clients)

            warm = take(32)
            naive.single_post_clients(warm)
            nigran.single_post_clients(warm)
            rates: dict[str, list[float]] = {k: [] for k in ("naive_clients", "nigran_clients", "nigran_batches", "nigran_stream", "nigran_reuploads", "nigran_reuploads_seen")}
            for r in range(args.rounds):
                print(f"round {r + 1}/{args.rounds} ...", file=sys.stderr, flush=True)
                rates["naive_clients"].append(naive.single_post_clients(take(args.posts)))
                rates["nigran_clients"].append(nigran.single_post_clients(take(args.posts)))
                rates["nigran_batches"].append(nigran.batches(take(args.posts), args.batch)[0])
                rates["nigran_stream"].append(nigran.stream(take(args.posts), args.stream_in_flight))
                block = [copies[(r * args.reupload_batch + i) % len(copies)] for i in range(args.reupload_batch)]
                rate, results = nigran.batches(block, args.reupload_batch)
                if any(p.verdict != matcher_pb2.REUPLOAD for p in results):
                    raise RuntimeError("an exact re-upload was not answered REUPLOAD")
                rates["nigran_reuploads"].append(rate)
                rates["nigran_reuploads_seen"].append(nigran.batches(block, args.reupload_batch)[0])
            latency = {
                "naive_p50_ms": median(naive.latencies_ms(take(args.latency_calls))),
                "nigran_p50_ms": median(nigran.latencies_ms(take(args.latency_calls))),
            }
            memory = {"nigran_peak_rss_mb": nigran_proc.sample()["hwm_mb"], "naive_peak_rss_mb": naive_proc.sample()["hwm_mb"]}
        finally:
            for proc in (nigran_proc, naive_proc):
                proc.stop()
    base = median(rates["naive_clients"])
    table = {k: {"posts_per_s": median(v), "ratio_to_naive": round(median(v) / base, 2), "rounds": [round(x, 1) for x in v]}
             for k, v in rates.items()}
    results = {"references": len(bank), "clients": args.clients, "batch": args.batch, "stream_in_flight": args.stream_in_flight,
               "reupload_batch": args.reupload_batch, "posts_per_load_per_round": args.posts, "rounds": args.rounds,
               "rates": table, "latency_one_post_low_load": latency, "memory": memory}
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
