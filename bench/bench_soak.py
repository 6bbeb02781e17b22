"""Soak: does a real nigran-server process keep flat memory and file descriptors under long mixed load?

HMA's issue #1813 is a leak that grows with index size; this runs the real
thing long enough to see one. It starts ``nigran-server`` as a subprocess
(real bundled model, a fresh data dir, port 0), waits for the standard health
check to say SERVING, loads --refs references from the shared corpora
(TICO-19 and NTREX-128, the files bench/bench_match.py reads) with
AddReferences, then for --minutes runs --clients threads of mixed load:
single-post Match, batch Match, MatchStream with several messages,
AddReferences of new items, RemoveReferences, Disable/Enable, GetReference,
ListReferences; and every --reload-minutes (first after --first-reload) an
``index_builder build`` subprocess on a small JSONL of new references,
written into the server's own data dir store, followed by Admin.LoadIndex.

Every --sample-seconds the server process's RSS (/proc/PID/status, or psutil
when installed), open fds, threads, CPU time, index size (GetCurationStats),
data dir size and the machine's load are sampled. The baseline is the same
process measured in the same run: RSS at the end of the warm-up (first
--warmup-minutes of load) against RSS at the end, with the least-squares
slope (MB/hour) over the samples after the warm-up (and over each minute's
peak, which the allocator's swings between samples disturb less). Calls and errors are counted per RPC and status code; cheap
invariants each client can check on the items only it touches (an active base
reference's own text finds it; a disabled one's does not; GetReference gives
the state the client set) are counted as anomalies. Errors are printed, the
exit status is 0 all the same; it is 1 only when the server never got ready.

The server is terminated at the end, on Ctrl-C, SIGTERM and SIGHUP, and is told to
die with this process if it is killed outright; nothing is left running.

    .venv/bin/python bench/bench_soak.py --minutes 30 --json bench/results_soak.json
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any, Callable, Iterator, TypeVar

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import grpc  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

# Only the generated stubs: this process stays a thin client (no torch), so its
# own CPU and memory do not compete with the server it measures.
from service.api._generated.nigran.v1 import (  # noqa: E402
    admin_pb2, admin_pb2_grpc, curation_pb2, curation_pb2_grpc, matcher_pb2, matcher_pb2_grpc
)

try:  # optional; /proc is read when it is missing
    import psutil  # type: ignore[import-untyped, unused-ignore]
except ImportError:
    psutil = None

T = TypeVar("T")
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
LANGS = ("en", "ur", "ps")
SOAK_BANK = "soak"
BUILD_BANK = "soak-build"  # created by index_builder itself, so LoadIndex must pick up a bank made behind its back
TIMEOUT_S = 120.0  # generous: 2 shared cores, and a build competing for them every few minutes
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SLACK_S = 5.0  # a sample taken this late still counts for the minute it was due in


# -- corpus ---------------------------------------------------------------------


def read_triples(data_dir: Path) -> list[tuple[str, str, str]]:
    """Line-aligned (en, ur, ps) sentences, each text once, so probes know their translations."""
    triples: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for corpus in ("tico19", "ntrex128"):
        files = [data_dir / corpus / f"{lang}.txt" for lang in ("eng", "urd", "pus")]
        if not all(f.exists() for f in files):
            continue
        columns = [f.read_text(encoding="utf-8").splitlines() for f in files]
        for en, ur, ps in zip(*columns):
            texts = (en.strip(), ur.strip(), ps.strip())
            # Duplicates would blur "the text finds its own item" and make builds skip rows as fingerprint copies.
            if all(texts) and not seen.intersection(texts):
                seen.update(texts)
                triples.append(texts)
    return triples


# -- counting -------------------------------------------------------------------


@dataclass
class Stats:
    """Calls per RPC and status code, with the first few distinct error details of each."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    details: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    total: int = 0
    stream_messages: int = 0
    match_ms: list[tuple[float, float]] = field(default_factory=list)  # (t since load start, ms) of single-post Match
    anomalies: Counter[str] = field(default_factory=Counter)
    anomaly_examples: dict[str, list[str]] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)

    def record(self, rpc: str, code: str, detail: str = "") -> None:
        with self.lock:
            self.calls[(rpc, code)] += 1
            self.total += 1
            if code != "OK":
                seen = self.details.setdefault((rpc, code), [])
                if detail not in seen and len(seen) < 3:
                    seen.append(detail)

    def anomaly(self, kind: str, example: str) -> None:
        with self.lock:
            self.anomalies[kind] += 1
            examples = self.anomaly_examples.setdefault(kind, [])
            if len(examples) < 3:
                examples.append(example)

    def call(self, rpc: str, fn: Callable[[], T]) -> T | None:
        """Run one RPC, count its outcome; None when it failed."""
        try:
            result = fn()
        except grpc.RpcError as err:
            code = err.code()
            # Calls cut short by our own shutdown are not the server's errors.
            if not (self.stopping.is_set() and code in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)):
                self.record(rpc, code.name if code else "UNKNOWN", err.details() or "")
            return None
        self.record(rpc, "OK")
        return result

    def snapshot_total(self) -> int:
        with self.lock:
            return self.total


# -- the server process ---------------------------------------------------------


try:
    _PRCTL: Any = ctypes.CDLL("libc.so.6", use_errno=True).prctl  # resolved here: no dlopen between fork and exec
except (OSError, AttributeError):
    _PRCTL = None


def _die_with_parent() -> None:
    # Runs in the child before exec: if this benchmark is SIGKILLed, the kernel
    # sends the server SIGTERM, so not even a kill -9 leaves a server behind.
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ServerProcess:
    def __init__(self, data_dir: Path, model_cache: Path, log_path: Path, *, extra_args: tuple[str, ...] = (),
                 command: list[str] | None = None) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        # Its own session: a Ctrl-C at the terminal reaches only us, and we stop the server after the clients.
        # The PDEATHSIG preexec is safe here: no other Python thread exists yet, and it only makes one syscall.
        self.proc = subprocess.Popen(
            command or [PYTHON, "-m", "service.api.server", "--data-dir", str(data_dir), "--model-cache", str(model_cache),
                        "--host", "127.0.0.1", "--port", "0", *extra_args],
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        self.pid = self.proc.pid

    def wait_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log_path.read_text(encoding="utf-8", errors="replace"))
            if found:
                return int(found.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} before listening:\n{self.log_tail()}")
            time.sleep(0.2)
        raise RuntimeError(f"server did not log 'listening on' within {timeout:.0f}s:\n{self.log_tail()}")

    def wait_serving(self, channel: grpc.Channel, timeout: float) -> None:
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} while loading:\n{self.log_tail()}")
            try:
                if health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"server not SERVING within {timeout:.0f}s:\n{self.log_tail()}")

    def sample(self) -> dict[str, Any]:
        status: dict[str, int] = {}
        if psutil is not None:
            p = psutil.Process(self.pid)
            mem = p.memory_info()
            status = {"VmRSS": mem.rss // 1024, "Threads": p.num_threads()}
        with open(f"/proc/{self.pid}/status", encoding="ascii") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads") and key not in status:
                    status[key] = int(value.split()[0])
        fds = os.listdir(f"/proc/{self.pid}/fd")
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as f:
            utime, stime = f.read().rpartition(")")[2].split()[11:13]
        return {
            # CPU time: calls per server CPU second do not drop just because a neighbour takes the cores.
            "cpu_s": round((int(utime) + int(stime)) / CLOCK_TICKS, 2),
            "rss_mb": round(status["VmRSS"] / 1024, 1),
            "hwm_mb": round(status.get("VmHWM", 0) / 1024, 1),
            "anon_mb": round(status.get("RssAnon", 0) / 1024, 1),
            "file_mb": round(status.get("RssFile", 0) / 1024, 1),
            "threads": status.get("Threads", 0),
            "fds": len(fds),
            "fd_kinds": fd_kinds(self.pid, fds),
        }

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def problems(self, limit: int = 20) -> tuple[int, list[str]]:
        """ERROR/CRITICAL lines of the server log (tracebacks follow them in the file)."""
        # Word match, so a JSON access log ("level": "ERROR") is caught too.
        pattern = re.compile(r"\bERROR\b|\bCRITICAL\b|^Traceback")
        hits = [line for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines() if pattern.search(line)]
        return len(hits), hits[:limit]

    def stop(self, grace: float = 30.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the server's own graceful path (drain, snapshot, close)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


def fd_kinds(pid: int, fds: list[str]) -> dict[str, int]:
    """What the fds are, so a growing count says which resource leaks (sockets, sqlite files, artifacts...)."""
    kinds: Counter[str] = Counter()
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(("socket:", "pipe:", "anon_inode:")):
            kinds[target.split(":")[0] if not target.startswith("anon_inode:") else target] += 1
        else:
            kinds[re.sub(r"\d{6,}[^/]*", "*", Path(target).name) or target] += 1
    return dict(kinds.most_common())


def dir_mb(path: Path) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return round(total / 2**20, 1)


# -- the load -------------------------------------------------------------------


@dataclass
class Owned:
    """One item only one client touches, so its state is known and races cannot explain a failure."""

    id: str
    text: str
    base: bool
    disabled_until: float | None = None  # math.inf: indefinitely

    def state(self, now: float) -> str:
        """active, disabled, or unknown (a timed disable about to lapse: the server's clock decides)."""
        if self.disabled_until is None:
            return "active"
        if abs(self.disabled_until - now) < 3:
            return "unknown"
        return "disabled" if self.disabled_until > now else "active"


# Relative weights of one client iteration's operation.
MIX = {
    "match_single": 30, "match_batch": 6, "match_stream": 4, "add": 6, "remove": 6,
    "disable": 3, "enable": 3, "get_reference": 6, "list_references": 3,
}


class Client(threading.Thread):
    def __init__(
        self, index: int, channel: grpc.Channel, stats: Stats, stop: threading.Event, t0: float,
        base: list[Owned], add_texts: list[tuple[str, str]], probes: list[str], batch: int, think_s: float,
    ) -> None:
        super().__init__(name=f"soak-client-{index}", daemon=True)
        self.index, self.stats, self.stop, self.t0 = index, stats, stop, t0
        self.matcher = matcher_pb2_grpc.MatcherStub(channel)
        self.curation = curation_pb2_grpc.CurationStub(channel)
        self.rng = random.Random(1000 + index)
        self.items: dict[str, Owned] = {o.id: o for o in base}
        self.add_texts, self.next_add = add_texts, 0
        self.probes, self.batch, self.think_s = probes, batch, think_s
        self.inbox: SimpleQueue[Owned] = SimpleQueue()  # items a build brought in, handed over after LoadIndex
        self.serial = 0

    def run(self) -> None:
        ops: dict[str, Callable[[], None]] = {name: getattr(self, name) for name in MIX}
        names, weights = list(MIX), list(MIX.values())
        try:
            while not self.stop.is_set():
                self._drain_inbox()
                ops[self.rng.choices(names, weights)[0]]()
                if self.think_s:
                    self.stop.wait(self.think_s)
        except Exception as exc:  # noqa: BLE001 - a bug here must show up in the report, not end a client silently
            self.stats.anomaly("client_crashed", f"{self.name}: {type(exc).__name__}: {exc}")

    def _drain_inbox(self) -> None:
        while True:
            try:
                item = self.inbox.get_nowait()
            except Empty:
                return
            self.items[item.id] = item

    def _pick(self, pred: Callable[[Owned], bool]) -> Owned | None:
        now = time.time()
        chosen = [o for o in self.items.values() if pred(o) and o.state(now) != "unknown"]
        return self.rng.choice(chosen) if chosen else None

    # -- matching --

    def match_single(self) -> None:
        item = self._pick(lambda o: o.base) if self.rng.random() < 0.5 else None
        text = item.text if item else self.rng.choice(self.probes)
        state = item.state(time.time()) if item else ""
        req = matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id="p", text=text)])
        started = time.perf_counter()
        reply = self.stats.call("Match", lambda: self.matcher.Match(req, timeout=TIMEOUT_S))
        if reply is None:
            return
        with self.stats.lock:
            self.stats.match_ms.append((time.monotonic() - self.t0, (time.perf_counter() - started) * 1e3))
        if len(reply.results) != 1:
            self.stats.anomaly("match_result_count", f"1 post, {len(reply.results)} results")
            return
        if item is not None:
            found = item.id in {m.reference_id for m in reply.results[0].matches}
            if state == "active" and not found:
                self.stats.anomaly("active_item_not_found_by_its_text", f"{item.id}: verdict {reply.results[0].verdict}")
            elif state == "disabled" and found:
                self.stats.anomaly("disabled_item_matched", item.id)

    def match_batch(self) -> None:
        posts = [matcher_pb2.Post(id=str(i), text=t) for i, t in enumerate(self.rng.sample(self.probes, self.batch))]
        reply = self.stats.call("Match(batch)", lambda: self.matcher.Match(matcher_pb2.MatchRequest(posts=posts), timeout=TIMEOUT_S))
        if reply is not None and [r.post_id for r in reply.results] != [p.id for p in posts]:
            self.stats.anomaly("batch_results_out_of_order", f"{len(posts)} posts, {len(reply.results)} results")

    def match_stream(self) -> None:
        sizes = [self.rng.randint(1, 3) for _ in range(self.rng.randint(3, 6))]

        def requests() -> Iterator[matcher_pb2.MatchRequest]:
            for n, size in enumerate(sizes):
                yield matcher_pb2.MatchRequest(posts=[matcher_pb2.Post(id=f"{n}.{i}", text=t) for i, t in enumerate(self.rng.sample(self.probes, size))])

        replies = self.stats.call("MatchStream", lambda: list(self.matcher.MatchStream(requests(), timeout=TIMEOUT_S)))
        if replies is None:
            return
        with self.stats.lock:
            self.stats.stream_messages += len(replies)
        if [len(r.results) for r in replies] != sizes:
            self.stats.anomaly("stream_reply_mismatch", f"sent {sizes}, got {[len(r.results) for r in replies]}")

    # -- curation --

    def add(self) -> None:
        new: list[Owned] = []
        refs: list[curation_pb2.ReferenceInput] = []
        for i in range(2):
            # The pool is cycled: the API keeps same-text copies (new ids), so a long soak never runs dry.
            lang, text = self.add_texts[self.next_add % len(self.add_texts)]
            self.next_add += 1
            self.serial += 1
            new.append(Owned(id=f"c{self.index}-{self.serial}", text=text, base=False))
            refs.append(curation_pb2.ReferenceInput(
                id=new[-1].id, text=text, lang=lang, bank=SOAK_BANK if i % 2 else "",
                labels=["source:soak", "type:recruitment"], metadata={"client": str(self.index)},
            ))
        reply = self.stats.call("AddReferences", lambda: self.curation.AddReferences(curation_pb2.AddReferencesRequest(references=refs), timeout=TIMEOUT_S))
        if reply is not None:
            self.items.update({o.id: o for o in new})

    def remove(self) -> None:
        # Base items stay (they are what the match invariants probe); churn is on added and built items only.
        removable = [o for o in self.items.values() if not o.base]
        if not removable:
            self.add()
            return
        gone = self.rng.sample(removable, min(2, len(removable)))
        ids = [o.id for o in gone]
        reply = self.stats.call("RemoveReferences", lambda: self.curation.RemoveReferences(curation_pb2.RemoveReferencesRequest(ids=ids), timeout=TIMEOUT_S))
        if reply is None:
            return
        for o in gone:
            del self.items[o.id]
        if reply.removed != len(ids) or reply.not_found:
            self.stats.anomaly("remove_not_found", f"{ids}: removed {reply.removed}, not found {list(reply.not_found)}")

    def disable(self) -> None:
        now = time.time()
        if sum(o.disabled_until is not None and o.state(now) != "active" for o in self.items.values()) >= 8:
            self.enable()
            return
        item = self._pick(lambda o: o.disabled_until is None)
        if item is None:
            return
        req = curation_pb2.DisableReferencesRequest(ids=[item.id])
        timed = self.rng.random() < 0.5  # half lapse by themselves, so the expiry path is exercised too
        until = now + self.rng.uniform(20, 90) if timed else float("inf")
        if timed:
            req.until.CopyFrom(Timestamp(seconds=int(until)))
            until = float(int(until))
        if self.stats.call("DisableReferences", lambda: self.curation.DisableReferences(req, timeout=TIMEOUT_S)) is not None:
            item.disabled_until = until

    def enable(self) -> None:
        item = self._pick(lambda o: o.disabled_until is not None)
        if item is None:
            self.disable()
            return
        req = curation_pb2.ReferenceIds(ids=[item.id])
        if self.stats.call("EnableReferences", lambda: self.curation.EnableReferences(req, timeout=TIMEOUT_S)) is not None:
            item.disabled_until = None

    def get_reference(self) -> None:
        item = self._pick(lambda o: True)
        if item is None:
            return
        ref = self.stats.call("GetReference", lambda: self.curation.GetReference(curation_pb2.GetReferenceRequest(id=item.id), timeout=TIMEOUT_S))
        if ref is None:
            return
        expected = {"active": curation_pb2.ACTIVE, "disabled": curation_pb2.DISABLED}.get(item.state(time.time()))
        if expected is not None and ref.state != expected:
            self.stats.anomaly("get_state_mismatch", f"{item.id}: expected {curation_pb2.ReferenceState.Name(expected)}, got {curation_pb2.ReferenceState.Name(ref.state)}")
        if ref.text != item.text:
            self.stats.anomaly("get_text_mismatch", item.id)

    def list_references(self) -> None:
        token, pages = "", 0
        kind = self.rng.choice(["bank", "label"])
        while pages < 4:
            req = curation_pb2.ListReferencesRequest(page_size=50, page_token=token)
            if kind == "bank":
                req.bank = SOAK_BANK
            else:
                req.label = "source:soak"
            reply = self.stats.call("ListReferences", partial(self.curation.ListReferences, req, timeout=TIMEOUT_S))
            if reply is None or not reply.next_page_token:
                return
            token, pages = reply.next_page_token, pages + 1


@dataclass
class Reload:
    at_s: float
    build_rc: int | None = None
    build_s: float = 0.0
    build_added: int | None = None
    build_output: str = ""
    load: dict[str, Any] | None = None
    load_s: float = 0.0
    load_error: str = ""


class Reloader(threading.Thread):
    """Every few minutes: index_builder build into the server's own store, then Admin.LoadIndex."""

    def __init__(
        self, channel: grpc.Channel, stats: Stats, stop: threading.Event, t0: float, data_dir: Path, model_cache: Path,
        work: Path, texts: list[tuple[str, str]], per_build: int, first_s: float, every_s: float, end_s: float,
        clients: list[Client],
    ) -> None:
        super().__init__(name="soak-reloader", daemon=True)
        self.admin = admin_pb2_grpc.AdminStub(channel)
        self.stats, self.stop, self.t0 = stats, stop, t0
        self.data_dir, self.model_cache, self.work = data_dir, model_cache, work
        self.texts, self.per_build = texts, per_build
        self.first_s, self.every_s, self.end_s, self.clients = first_s, every_s, end_s, clients
        self.reloads: list[Reload] = []
        self.builder: subprocess.Popen[str] | None = None
        self.lock = threading.Lock()

    def run(self) -> None:
        due = self.first_s
        # A build started in the last minute would be killed half-way by the shutdown: not worth its noise.
        while due <= self.end_s - 60 and not self.stop.wait(max(0.0, due - (time.monotonic() - self.t0))):
            self.reload(len(self.reloads))
            due += self.every_s

    def reload(self, n: int) -> None:
        record = Reload(at_s=round(time.monotonic() - self.t0, 1))
        self.reloads.append(record)
        rows = []
        for i in range(self.per_build):
            lang, text = self.texts[(n * self.per_build + i) % len(self.texts)]
            if n * self.per_build + i >= len(self.texts):
                text = f"{text} ({n})"  # the pool ran out: a new text, or build skips it as a fingerprint copy
            rows.append({"id": f"build{n}-{i}", "text": text, "lang": lang, "bank": BUILD_BANK, "labels": ["source:soak"]})
        source = self.work / f"build-{n}.jsonl"
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        started = time.perf_counter()
        # One torch thread: the server keeps serving on the other core meanwhile, as a real deployment would
        # have it; the build's own cost is not what is measured here.
        cmd = [PYTHON, "-m", "index_builder.cli", "build", str(source), "--data-dir", str(self.data_dir),
               "--model-cache", str(self.model_cache), "--threads", "1", "--no-progress"]
        with self.lock:
            if self.stop.is_set():
                return
            self.builder = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = self.builder.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            self.builder.kill()
            output, _ = self.builder.communicate()
        record.build_rc, record.build_s = self.builder.returncode, round(time.perf_counter() - started, 1)
        with self.lock:
            self.builder = None
        record.build_output = "\n".join(output.strip().splitlines()[-15:])
        added = re.search(r"^added to store\s+(\d+)", output, re.MULTILINE)
        record.build_added = int(added.group(1)) if added else None
        if record.build_rc != 0:
            if not self.stop.is_set():
                self.stats.record("index_builder build", f"rc={record.build_rc}", record.build_output[-300:])
            return
        self.stats.record("index_builder build", "OK")
        started = time.perf_counter()
        path = str(self.data_dir / "artifacts")
        try:
            reply = self.admin.LoadIndex(admin_pb2.LoadIndexRequest(path=path), timeout=TIMEOUT_S)
        except grpc.RpcError as err:
            record.load_error = f"{err.code().name}: {err.details()}"
            if not self.stop.is_set():
                self.stats.record("LoadIndex", err.code().name, err.details() or "")
            return
        self.stats.record("LoadIndex", "OK")
        record.load_s = round(time.perf_counter() - started, 2)
        record.load = {"size": reply.size, "added": reply.added, "removed": reply.removed, "generation": reply.generation,
                       "index_type": reply.index_type, "version": reply.version}
        for i, row in enumerate(rows):  # now matchable; churned by the clients like any added item
            self.clients[i % len(self.clients)].inbox.put(Owned(id=str(row["id"]), text=str(row["text"]), base=False))

    def kill_builder(self) -> None:
        with self.lock:
            if self.builder is not None and self.builder.poll() is None:
                os.killpg(self.builder.pid, signal.SIGKILL)


# -- reporting ------------------------------------------------------------------


def minute_rows(samples: list[dict[str, Any]], match_ms: list[tuple[float, float]]) -> list[dict[str, Any]]:
    """The last sample of each minute (and the very last one), with calls/s and Match p50 since the row before."""
    rows: list[dict[str, Any]] = []
    prev = samples[0]
    last_t = samples[-1]["t_s"]
    marks: list[float] = [float(m) for m in range(int((last_t + SLACK_S) // 60) + 1)]
    for minute in [*marks, round(last_t / 60, 2)]:
        last = [s for s in samples if s["t_s"] <= minute * 60 + SLACK_S][-1]
        if rows and last is rows[-1]["_sample"]:
            continue
        span = last["t_s"] - prev["t_s"]
        lat = [ms for t, ms in match_ms if prev["t_s"] < t <= last["t_s"]]
        rows.append({
            "_sample": last, "minute": minute, "t_s": last["t_s"], "rss_mb": last["rss_mb"], "fds": last["fds"],
            "threads": last["threads"], "index_size": last["index_size"], "disk_mb": last["disk_mb"],
            "calls_per_s": round((last["calls"] - prev["calls"]) / span, 1) if span > 0 else None,
            "match_p50_ms": round(statistics.median(lat), 1) if lat else None,
            "server_cpu_pct": round(100 * (last["cpu_s"] - prev["cpu_s"]) / span) if span > 0 else None,
            "load1": last["load1"],
        })
        prev = last
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    def cell(value: Any, fmt: str = "") -> str:
        return "" if value is None else format(value, fmt)

    print(f"{'minute':>6} {'RSS MB':>8} {'fds':>5} {'threads':>7} {'index':>6} {'disk MB':>8} {'calls/s':>8} "
          f"{'Match p50 ms':>12} {'server CPU%':>11} {'load1':>6}")
    for r in rows:
        print(f"{r['minute']:>6g} {r['rss_mb']:>8.1f} {r['fds']:>5} {r['threads']:>7} {cell(r['index_size']):>6} "
              f"{r['disk_mb']:>8.1f} {cell(r['calls_per_s'], '.1f'):>8} {cell(r['match_p50_ms'], '.1f'):>12} "
              f"{cell(r['server_cpu_pct']):>11} {r['load1']:>6.2f}")


def slope_mb_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB) points, in MB/hour."""
    if len(points) < 3:
        return None
    fit = statistics.linear_regression([t / 3600 for t, _ in points], [mb for _, mb in points])
    return round(fit.slope, 1)


def minute_peaks(samples: list[dict[str, Any]]) -> list[tuple[float, float]]:
    # The allocator hands memory back and takes it again between samples (swings
    # of ~100 MB); a leak raises the peaks, so their slope is the steadier figure.
    by_minute: dict[int, list[dict[str, Any]]] = {}
    for s in samples:
        by_minute.setdefault(int(s["t_s"] // 60), []).append(s)
    return [(max(g, key=lambda s: s["rss_mb"])["t_s"], max(s["rss_mb"] for s in g)) for g in by_minute.values()]


def summarise(samples: list[dict[str, Any]], warmup_s: float, stats: Stats, idle: dict[str, Any], loaded: dict[str, Any]) -> dict[str, Any]:
    warm = [s for s in samples if s["t_s"] <= warmup_s + 1e-6]
    after = [s for s in samples if s["t_s"] >= warmup_s - 1e-6]
    end_of_warmup = warm[-1] if warm else samples[0]
    end = samples[-1]
    by_status: Counter[str] = Counter()
    for (rpc, code), n in stats.calls.items():
        if code != "OK":
            by_status[code] += n
    return {
        "rss_mb_idle_serving (before references)": idle["rss_mb"],
        "rss_mb_after_references_loaded": loaded["rss_mb"],
        "rss_mb_end_of_warmup (baseline)": end_of_warmup["rss_mb"],
        "rss_mb_end": end["rss_mb"],
        "rss_mb_change_after_warmup": round(end["rss_mb"] - end_of_warmup["rss_mb"], 1),
        "rss_mb_max": max(s["rss_mb"] for s in samples),
        "rss_mb_median_last_warmup_minute": round(statistics.median(s["rss_mb"] for s in warm if s["t_s"] > warmup_s - 60), 1) if warm else None,
        "rss_mb_median_last_minute": round(statistics.median(s["rss_mb"] for s in samples if s["t_s"] > end["t_s"] - 60), 1),
        "rss_mb_range_after_warmup": [min(s["rss_mb"] for s in after), max(s["rss_mb"] for s in after)] if after else None,
        "rss_slope_mb_per_hour_after_warmup": slope_mb_per_hour([(s["t_s"], s["rss_mb"]) for s in after]),
        "rss_peak_per_minute_slope_mb_per_hour": slope_mb_per_hour(minute_peaks(after)),
        "rss_anon_slope_mb_per_hour": slope_mb_per_hour([(s["t_s"], s["anon_mb"]) for s in after]),
        "slope_fitted_over_minutes": round((end["t_s"] - after[0]["t_s"]) / 60, 1) if after else 0,
        "fds_end_of_warmup": end_of_warmup["fds"],
        "fds_end": end["fds"],
        "fds_max": max(s["fds"] for s in samples),
        "threads_end_of_warmup": end_of_warmup["threads"],
        "threads_end": end["threads"],
        "threads_max": max(s["threads"] for s in samples),
        "index_size_end_of_warmup": end_of_warmup["index_size"],
        "index_size_end": end["index_size"],
        "disk_mb_end_of_warmup": end_of_warmup["disk_mb"],
        "disk_mb_end": end["disk_mb"],
        "errors_by_status": dict(by_status),
        "errors_total": sum(by_status.values()),
    }


# -- main -----------------------------------------------------------------------


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="duration of the mixed load")
    parser.add_argument("--warmup-minutes", type=float, default=2.0, help="excluded from the slope; its end is the baseline")
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data", help="the corpora")
    parser.add_argument("--model-cache", type=Path, default=REPO / "var")
    parser.add_argument("--refs", type=int, default=300, help="references loaded before the load starts")
    parser.add_argument("--clients", type=int, default=3, help="client threads of mixed load")
    parser.add_argument("--batch", type=int, default=16, help="posts per batch Match")
    parser.add_argument("--think-ms", type=float, default=20.0, help="pause between one client's calls")
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--first-reload", type=float, default=1.0, help="minutes into the load of the first build + LoadIndex")
    parser.add_argument("--reload-minutes", type=float, default=3.0, help="minutes between builds + LoadIndex")
    parser.add_argument("--build-items", type=int, default=20, help="new references per build")
    parser.add_argument("--work-dir", type=Path, help="keep the server's data dir and log here (default: a temp dir, removed)")
    parser.add_argument("--json", type=Path, help="write the whole series and the summary here")
    args = parser.parse_args()

    # SIGINT explicitly too: a shell starting us in the background (`&`, no job control) leaves it ignored.
    for sig in STOP_SIGNALS:
        signal.signal(sig, _interrupt)
    triples = read_triples(args.data_dir)
    reloads_needed = int(max(0.0, args.minutes - args.first_reload) // args.reload_minutes) + 1
    build_pool = reloads_needed * args.build_items
    if len(triples) < args.refs + build_pool + 200:
        raise SystemExit(f"need {args.refs + build_pool + 200} aligned sentences under {args.data_dir}, found {len(triples)}")
    random.Random(0).shuffle(triples)
    base_triples = triples[: args.refs]
    build_texts = [(LANGS[i % 3], t[i % 3]) for i, t in enumerate(triples[args.refs : args.refs + build_pool])]
    rest = triples[args.refs + build_pool :]
    # Probes: translations of the base references (cross-language hits), and unrelated sentences (mostly NO_MATCH).
    probes = [t[(i + 1) % 3] for i, t in enumerate(base_triples)] + [t[i % 3] for i, t in enumerate(rest[:300])]
    add_pool = [(LANGS[i % 3], t[i % 3]) for i, t in enumerate(rest[300:])]

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="nigran-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    server_data = work / "data"
    stats, stop = Stats(), threading.Event()
    server = ServerProcess(server_data, args.model_cache.resolve(), work / "server.log")
    channel: grpc.Channel | None = None
    clients: list[Client] = []
    reloader: Reloader | None = None
    samples: list[dict[str, Any]] = []
    interrupted = ""
    crashed = ""
    server_rc: int | None = None
    idle: dict[str, Any] = {}
    loaded: dict[str, Any] = {}
    t_serving = 0.0
    try:
        started = time.perf_counter()
        port = server.wait_port(120)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        server.wait_serving(channel, 300)
        t_serving = round(time.perf_counter() - started, 1)
        idle = server.sample()
        print(f"server pid {server.pid} on 127.0.0.1:{port}, SERVING after {t_serving}s, RSS {idle['rss_mb']} MB, {idle['fds']} fds", flush=True)

        curation = curation_pb2_grpc.CurationStub(channel)
        stats.call("CreateBank", lambda: curation.CreateBank(curation_pb2.CreateBankRequest(name=SOAK_BANK, description="bench_soak"), timeout=TIMEOUT_S))
        base = [Owned(id=f"base-{i}", text=t[i % 3], base=True) for i, t in enumerate(base_triples)]
        load_started = time.perf_counter()
        for start in range(0, len(base), 100):
            chunk = base[start : start + 100]
            refs = [curation_pb2.ReferenceInput(id=o.id, text=o.text, lang=LANGS[(start + i) % 3], bank=SOAK_BANK if i % 2 else "",
                                                labels=["source:soak"]) for i, o in enumerate(chunk)]
            req = curation_pb2.AddReferencesRequest(references=refs)
            if stats.call("AddReferences", partial(curation.AddReferences, req, timeout=600)) is None:
                raise RuntimeError(f"loading the references failed: {dict(stats.details)}")
        loaded = server.sample()
        print(f"{len(base)} references loaded in {time.perf_counter() - load_started:.1f}s, RSS {loaded['rss_mb']} MB", flush=True)

        t0 = time.monotonic()
        for i in range(args.clients):
            clients.append(Client(i, channel, stats, stop, t0, base[i :: args.clients], add_pool[i :: args.clients], probes, args.batch, args.think_ms / 1e3))
        reloader = Reloader(channel, stats, stop, t0, server_data, args.model_cache.resolve(), work, build_texts,
                            args.build_items, args.first_reload * 60, args.reload_minutes * 60, args.minutes * 60, clients)

        def take_sample() -> None:
            t_s = round(time.monotonic() - t0, 1)
            s = server.sample()
            reply = stats.call("GetCurationStats", lambda: curation.GetCurationStats(curation_pb2.GetCurationStatsRequest(), timeout=30))
            s.update(t_s=t_s, load1=round(os.getloadavg()[0], 2), calls=stats.snapshot_total(),
                     index_size=reply.index_size if reply is not None else None, disk_mb=dir_mb(server_data))
            samples.append(s)

        take_sample()  # minute 0: references loaded, no load yet
        print(f"\nmixed load: {args.clients} clients for {args.minutes:g} min; build + LoadIndex at {args.first_reload:g} min, "
              f"then every {args.reload_minutes:g} min; sampling every {args.sample_seconds:g}s\n", flush=True)
        for c in clients:
            c.start()
        reloader.start()
        end = args.minutes * 60
        next_at, printed = args.sample_seconds, 0
        while next_at <= end + 1e-6:
            time.sleep(max(0.0, next_at - (time.monotonic() - t0)))
            if server.proc.poll() is not None:
                crashed = f"server exited with {server.proc.returncode} at t={time.monotonic() - t0:.0f}s"
                break
            take_sample()
            last = samples[-1]
            if int((last["t_s"] + SLACK_S) // 60) > printed:  # one progress line a minute, for long runs
                printed = int((last["t_s"] + SLACK_S) // 60)
                print(f"  t={last['t_s']:6.0f}s  RSS {last['rss_mb']:7.1f} MB  fds {last['fds']:3}  threads {last['threads']:3}  "
                      f"index {last['index_size']}  calls {last['calls']}", flush=True)
            next_at += args.sample_seconds
    except KeyboardInterrupt as exc:
        interrupted = str(exc) or "Ctrl-C"
        print(f"\ninterrupted ({interrupted}); stopping", flush=True)
    except RuntimeError as exc:
        print(f"\nsetup failed: {exc}", file=sys.stderr, flush=True)
    finally:
        # Order matters: clients stop issuing calls, the build is killed, then the server gets SIGTERM.
        stats.stopping.set()
        stop.set()
        for c in clients:
            c.join(TIMEOUT_S + 5)
        if reloader is not None:
            reloader.kill_builder()
            if reloader.is_alive():
                reloader.join(TIMEOUT_S + 5)
        if channel is not None:
            channel.close()
        server_rc = server.stop()
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)

    if not samples:
        print(server.log_tail(), file=sys.stderr)
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
        return 1

    rows = minute_rows(samples, stats.match_ms)
    print()
    print_table(rows)
    summary = summarise(samples, args.warmup_minutes * 60, stats, idle, loaded)
    problems, problem_lines = server.problems()
    summary.update({
        "server_exit_code": server_rc, "server_crashed": crashed, "interrupted": interrupted,
        "server_log_error_lines": problems, "anomalies": dict(stats.anomalies),
    })
    calls = {f"{rpc} {code}": n for (rpc, code), n in sorted(stats.calls.items())}
    print("\ncalls by RPC and status:")
    for key, n in calls.items():
        print(f"  {key:<40} {n}")
    print(f"  (MatchStream messages answered: {stats.stream_messages})")
    reloads = reloader.reloads if reloader is not None else []
    print("\nbuild + LoadIndex:")
    for r in reloads:
        if r.load:
            load = f"LoadIndex {r.load_s}s, size {r.load['size']} (+{r.load['added']} -{r.load['removed']} applied after generation {r.load['generation']})"
        else:
            load = f"LoadIndex failed: {r.load_error}" if r.load_error else "no LoadIndex"
        killed = " (killed at shutdown)" if r.build_rc is not None and r.build_rc < 0 else ""
        print(f"  at {r.at_s:6.0f}s: build rc {r.build_rc}{killed} in {r.build_s}s, added {r.build_added}; {load}")
        if r.build_rc not in (0, None) and not killed and r.build_output:
            print("    " + r.build_output.replace("\n", "\n    "))
    print("\nsummary:")
    for key, value in summary.items():
        print(f"  {key:<48} {value}")
    if summary["slope_fitted_over_minutes"] < 10:
        print(f"  (slopes fitted over {summary['slope_fitted_over_minutes']} min only: with RSS swinging "
              f"{summary['rss_mb_range_after_warmup']} MB between samples they are noise; run --minutes 30)")
    errors = {k: v for k, v in stats.details.items()}
    if errors:
        print("\nERRORS (first distinct details per RPC and status):")
        for (rpc, code), details in sorted(errors.items()):
            print(f"  {rpc} {code} x{stats.calls[(rpc, code)]}")
            for d in details:
                print(f"      {d[:300]}")
    if stats.anomalies:
        print("\nANOMALIES:")
        for kind, n in stats.anomalies.items():
            print(f"  {kind} x{n}: {stats.anomaly_examples[kind]}")
    if problem_lines:
        print(f"\nserver log: {problems} ERROR/Traceback lines; first ones:")
        for line in problem_lines:
            print(f"  {line[:300]}")
    if crashed or (server_rc not in (0, None) and not interrupted):
        print(f"\nSERVER: {crashed or f'exit code {server_rc}'}; log tail:\n{server.log_tail()}")
    print(f"\nfd kinds at the end: {samples[-1]['fd_kinds']}")

    if args.json:
        result = {
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "server_pid": server.pid, "serving_after_s": t_serving, "references": args.refs,
            "summary": summary, "calls": calls, "stream_messages": stats.stream_messages,
            "errors": {f"{rpc} {code}": d for (rpc, code), d in errors.items()},
            "anomaly_examples": stats.anomaly_examples, "server_log_errors": problem_lines,
            "reloads": [vars(r) for r in reloads],
            "minutes": [{k: v for k, v in r.items() if k != "_sample"} for r in rows],
            "samples": samples, "baseline_samples": {"idle_serving": idle, "references_loaded": loaded},
        }
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False))
        print(f"series written to {args.json}")
    if args.work_dir:
        print(f"server data dir and log kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
