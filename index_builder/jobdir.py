"""Resumable jobs: a working directory with one file per finished batch.

Inputs are cut into batches of consecutive rows; when a batch is done its
outcome is written to ``part-NNNNNNN.json`` (temporary name, fsync, rename),
so after an interrupt the job restarts with exactly the batches that have no
part file. ``job.json`` records what the job is (input file, size, mtime and
settings); a working directory that belongs to another job is refused rather
than mixed in.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar

from service.core import InvalidInput

JOB_FILE = "job.json"
_T = TypeVar("_T")


def input_identity(path: Path, **settings: Any) -> dict[str, Any]:
    stat = Path(path).stat()
    return {"input": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, **settings}


def default_job_dir(root: Path, kind: str, identity: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return root / f"{kind}-{digest}"


class JobDir:
    def __init__(self, path: Path, identity: dict[str, Any], *, restart: bool = False) -> None:
        self.path = Path(path)
        if restart:
            shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True, exist_ok=True)
        job = self.path / JOB_FILE
        identity = json.loads(json.dumps(identity, default=str))
        if job.exists():
            found = json.loads(job.read_text(encoding="utf-8"))
            if found != identity:
                raise InvalidInput(
                    "work_dir",
                    f"{self.path} holds another job ({found.get('input')}, settings differ); pass --restart to start over",
                )
        else:
            _atomic_write(job, json.dumps(identity, indent=2))

    def done(self) -> set[int]:
        return {int(p.stem.split("-")[1]) for p in self.path.glob("part-*.json")}

    def write_part(self, batch: int, data: dict[str, Any]) -> None:
        _atomic_write(self.path / f"part-{batch:07d}.json", json.dumps(data, ensure_ascii=False))

    def parts(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for batch in sorted(self.done()):
            yield batch, json.loads((self.path / f"part-{batch:07d}.json").read_text(encoding="utf-8"))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def batched(items: Iterable[_T], size: int) -> Iterator[tuple[int, list[_T]]]:
    """(batch number, items) over consecutive slices of ``size``."""
    it = iter(items)
    number = 0
    while chunk := list(islice(it, size)):
        yield number, chunk
        number += 1


def count_rows(path: Path, fmt: str) -> int | None:
    """The number of rows, cheaply, for the progress bar's ETA (None when unknown)."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        with Path(path).open("rb") as fh:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        return max(lines - 1, 0) if fmt == "csv" else lines
    except OSError:
        return None
