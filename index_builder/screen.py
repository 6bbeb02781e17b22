"""``index_builder screen``: match every post of an archive, offline.

Posts go through ``Engine.match``, the very function behind the ``Match``
RPC (same normalisation, model, index, matcher and thresholds), so an archive
screened here gets the verdicts the service would give. The archive is cut
into batches; each finished batch is written to the job directory, and the
output (JSONL or Parquet) and the rejects file are assembled from those parts
at the end, in input order. The single-machine engine and the Ray engine
(``screen_ray``) run the same ``screening.screen_batch`` and share that
bookkeeping, which is why their outputs are identical.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from index_builder.jobdir import JobDir, batched, count_rows, default_job_dir, input_identity
from index_builder.screening import OutputFormat, ScreenOptions, open_engine, screen_batch
from index_builder.sources import Row, detect_format, read_rows
from service.core import Embedder, InvalidInput, NigranConfig


@dataclass
class ScreenSummary:
    rows: int = 0
    screened: int = 0
    matched: int = 0
    rejects: int = 0
    resumed_batches: int = 0
    seconds: float = 0.0
    output: str = ""
    rejects_file: str = ""

    @property
    def posts_per_second(self) -> float:
        return self.screened / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        return [
            f"rows read        {self.rows}",
            f"screened         {self.screened} ({self.matched} matched)",
            f"rejects          {self.rejects} -> {self.rejects_file}",
            f"resumed batches  {self.resumed_batches}",
            f"time             {self.seconds:.1f}s ({self.posts_per_second:.1f} posts/s)",
            f"output           {self.output}",
        ]


def screen(config: NigranConfig, options: ScreenOptions, embedder: Embedder | None = None) -> ScreenSummary:
    started = time.perf_counter()
    fmt = detect_format(options.input, options.fmt)
    out_format = options.out_format or ("parquet" if options.output.suffix.lower() in (".parquet", ".pq") else "jsonl")
    if out_format not in ("jsonl", "parquet"):
        raise InvalidInput("output_format", f"unknown output format {out_format!r}; use jsonl or parquet")
    identity = input_identity(
        options.input, command="screen", columns=options.columns.__dict__, batch_size=options.batch_size,
        top_k=options.top_k, banks=list(options.banks), exhaustive=options.exhaustive, index=str(options.index), store=str(config.store_path.resolve()),
    )
    job = JobDir(options.work_dir or default_job_dir(config.data_dir / "jobs", "screen", identity), identity, restart=options.restart)
    summary = ScreenSummary(resumed_batches=len(job.done()))
    from tqdm import tqdm

    with tqdm(total=count_rows(options.input, fmt), unit="posts", desc=f"screen ({options.engine})", disable=not options.progress, smoothing=0.1) as bar:
        pending = _pending(read_rows(options.input, options.columns, fmt), options.batch_size, job.done(), bar)
        if options.engine == "ray":
            from index_builder.screen_ray import run_ray

            run_ray(config, options, pending, job, bar)
        else:
            engine = open_engine(config, options.index, embedder)
            try:
                for number, rows in pending:
                    job.write_part(number, screen_batch(engine, rows, top_k=options.top_k, banks=options.banks, exhaustive=options.exhaustive))
                    bar.update(len(rows))
            finally:
                engine.close(snapshot=False)  # read-only use: no index snapshot to write
    rejects_path = options.rejects or options.output.with_name(options.output.name + ".rejects.jsonl")
    _assemble(job, options.output, out_format, rejects_path, summary)
    job.remove()
    summary.output = str(options.output)
    summary.rejects_file = str(rejects_path)
    summary.seconds = time.perf_counter() - started
    return summary


def _pending(rows: Iterator[Row], size: int, done: set[int], bar: Any) -> Iterator[tuple[int, list[Row]]]:
    for number, batch in batched(rows, size):
        if number in done:
            bar.update(len(batch))
        else:
            yield number, batch


def _assemble(job: JobDir, output: Path, out_format: OutputFormat, rejects_path: Path, summary: ScreenSummary) -> None:
    """Write the output and rejects files from the parts, in input order, each by an atomic rename."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = output.with_name(f".{output.name}.tmp")
    tmp_rej = rejects_path.with_name(f".{rejects_path.name}.tmp")
    writer = _ParquetWriter(tmp_out) if out_format == "parquet" else None
    with tmp_rej.open("w", encoding="utf-8") as rej, (open(os.devnull, "w") if writer else tmp_out.open("w", encoding="utf-8")) as out:
        for _, part in job.parts():
            summary.rows += part["rows"]
            summary.screened += len(part["results"])
            summary.matched += sum(r["verdict"] != "no_match" for r in part["results"])
            summary.rejects += len(part["rejects"])
            if writer is not None:
                writer.write(part["results"])
            else:
                for row in part["results"]:
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
            for reject in part["rejects"]:
                rej.write(json.dumps(reject, ensure_ascii=False) + "\n")
    if writer is not None:
        writer.close()
    os.replace(tmp_out, output)
    os.replace(tmp_rej, rejects_path)


class _ParquetWriter:
    def __init__(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        match = pa.struct(
            [
                ("reference_id", pa.string()),
                ("score", pa.float64()),
                ("cosine", pa.float64()),
                ("kind", pa.string()),
                ("signal", pa.string()),
                ("bank", pa.string()),
                ("labels", pa.list_(pa.string())),
                ("reference_lang", pa.string()),
                ("metadata", pa.map_(pa.string(), pa.string())),
            ]
        )
        self.schema = pa.schema(
            [
                ("post_id", pa.string()),
                ("verdict", pa.string()),
                ("detected_lang", pa.string()),
                ("suppressed_by", pa.string()),
                ("matches", pa.list_(match)),
            ]
        )
        self._pa = pa
        self._writer = pq.ParquetWriter(path, self.schema)

    def write(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._writer.write_table(self._pa.Table.from_pylist(rows, schema=self.schema))

    def close(self) -> None:
        self._writer.close()


def with_threads(config: NigranConfig, threads: int | None) -> NigranConfig:
    if not threads:
        return config
    return dataclasses.replace(config, model=dataclasses.replace(config.model, threads=threads))
