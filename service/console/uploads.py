"""Bulk uploads from the console: a JSONL or CSV file sent in batches, with progress and a rejects report.

The file is read whole (it is bounded by ``MAX_UPLOAD_BYTES``), then sent as
``AddReferences`` batches from a worker thread while the browser polls the
job's page. The service refuses a batch holding an invalid item naming it
(``references[i].field``), so that item is taken out, reported with its line,
and the rest of the batch sent again: one bad line never loses the others.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Callable

import grpc

from service.api import convert
from service.api.status import field_violations
from service.core import NewReference, NigranError, new_reference_from_record

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
BATCH = 200
# Finished jobs kept for their pages; the oldest go first.
MAX_JOBS = 100
_POSITION = re.compile(r"^references\[(\d+)\]\.?(.*)$")


@dataclass
class Reject:
    line: int
    field: str
    reason: str


@dataclass
class Job:
    id: str
    total: int
    done: int = 0
    added: int = 0
    rejects: list[Reject] = field(default_factory=list)
    finished: bool = False
    error: str = ""


def parse(name: str, data: bytes, default: NewReference) -> tuple[list[tuple[int, NewReference]], list[Reject]]:
    """(line, item) pairs and the lines that are not items at all; JSONL unless the name ends in .csv."""
    text = data.decode("utf-8-sig", errors="replace")
    items: list[tuple[int, NewReference]] = []
    rejects: list[Reject] = []
    if name.lower().endswith(".csv"):
        for line, row in enumerate(csv.DictReader(io.StringIO(text)), 2):
            record: dict[str, object] = {k: v for k, v in row.items() if k and v}
            if "labels" in record:
                record["labels"] = [x.strip() for x in str(record["labels"]).split(";") if x.strip()]
            _read(record, line, default, items, rejects)
        return items, rejects
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            rejects.append(Reject(line, "", f"not JSON: {exc.msg}"))
            continue
        _read(record, line, default, items, rejects)
    return items, rejects


def _read(record: object, line: int, default: NewReference, items: list[tuple[int, NewReference]], rejects: list[Reject]) -> None:
    try:
        items.append((line, new_reference_from_record(record, "line", default)))  # type: ignore[arg-type]
    except NigranError as exc:
        named = str(getattr(exc, "field", ""))
        rejects.append(Reject(line, "" if named == "line" else named.removeprefix("line."), str(exc)))


class Uploads:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, items: list[tuple[int, NewReference]], rejects: list[Reject], add: Callable[[object], object]) -> Job:
        job = Job(id=secrets.token_urlsafe(12), total=len(items) + len(rejects), done=len(rejects), rejects=list(rejects))
        with self._lock:
            finished = [k for k, j in self._jobs.items() if j.finished]
            for old in finished[: max(0, len(self._jobs) + 1 - MAX_JOBS)]:
                del self._jobs[old]  # dicts keep insertion order: these are the oldest
            self._jobs[job.id] = job
        threading.Thread(target=self._run, args=(job, items, add), daemon=True, name=f"upload-{job.id}").start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _run(self, job: Job, items: list[tuple[int, NewReference]], add: Callable[[object], object]) -> None:
        try:
            for start in range(0, len(items), BATCH):
                batch = items[start : start + BATCH]
                while batch:
                    try:
                        add(convert.add_request_to_pb([ref for _, ref in batch]))
                    except grpc.RpcError as err:
                        bad = _bad_position(err, len(batch))
                        if bad is None:
                            raise
                        line, _ = batch.pop(bad[0])
                        job.rejects.append(Reject(line, bad[1], err.details() or ""))
                        job.done += 1
                        continue
                    job.added += len(batch)
                    job.done += len(batch)
                    batch = []
        except grpc.RpcError as err:
            job.error = f"{err.code().name}: {err.details()}"
        finally:
            job.rejects.sort(key=lambda r: r.line)
            job.finished = True


def _bad_position(err: grpc.RpcError, size: int) -> tuple[int, str] | None:
    """The item of the batch an INVALID_ARGUMENT names (``references[i].field``), with its field; None for any other error."""
    for name, _ in field_violations(err):
        found = _POSITION.match(name)
        if found and int(found.group(1)) < size:
            return int(found.group(1)), found.group(2)
    return None
