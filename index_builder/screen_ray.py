"""The Ray engine of ``index_builder screen``: the same batches, on a Ray Data actor pool.

The driver reads the archive (so rejects are decided exactly as on one
machine) and hands each pending batch to ``map_batches`` as one row; a pool
of actors, each holding one Engine (model, store and index loaded once),
runs :func:`screen_batch` on it and returns the part the single-machine
engine would have written. The driver writes parts as they come back, so an
interrupted Ray run resumes like a local one. On a cluster, with the SQLite
store every node must see the data directory (and artifact) at the same path;
with a Postgres store (``--store-url``) the actors read the shared store and
the shared snapshot directory (``store.shared_index_dir``), and each node's
data directory holds only its own model cache.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Iterator

from index_builder.jobdir import JobDir
from index_builder.screening import ScreenOptions, open_engine, screen_batch
from index_builder.sources import Record, Reject, Row
from service.core import NigranConfig

REPO_ROOT = Path(__file__).resolve().parent.parent


def _encode(rows: list[Row]) -> str:
    return json.dumps([{"reject": isinstance(r, Reject), **dataclasses.asdict(r)} for r in rows], ensure_ascii=False)


def _decode(blob: str) -> list[Row]:
    rows: list[Row] = []
    for data in json.loads(blob):
        if data.pop("reject"):
            rows.append(Reject(**data))
        else:
            data["labels"] = tuple(data["labels"])
            rows.append(Record(**data))
    return rows


class ScreenActor:
    """One Engine per actor, loaded once, reused for every batch it is given."""

    def __init__(self, config: NigranConfig, index: str | None, top_k: int, banks: tuple[str, ...], exhaustive: bool) -> None:
        self._engine = open_engine(config, Path(index) if index else None)
        self._top_k = top_k
        self._banks = banks
        self._exhaustive = exhaustive

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        parts = [
            json.dumps(screen_batch(self._engine, _decode(str(blob)), top_k=self._top_k, banks=self._banks, exhaustive=self._exhaustive), ensure_ascii=False)
            for blob in batch["rows"]
        ]
        return {"batch": list(batch["batch"]), "part": parts}


def run_ray(config: NigranConfig, options: ScreenOptions, pending: Iterator[tuple[int, list[Row]]], job: JobDir, bar: Any) -> None:
    import ray

    items = [{"batch": number, "rows": _encode(rows), "size": len(rows)} for number, rows in pending]
    if not items:
        return
    if not ray.is_initialized():
        # Local runs: workers import this checkout, whether or not it is installed.
        ray.init(
            address=options.ray_address,
            include_dashboard=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}},
            log_to_driver=False,
        )
    # Refresh the store's index snapshot once here, so the actors only read it.
    open_engine(config, None).close()
    threads = config.model.threads or 1
    cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
    workers = options.workers or max(1, cpus // threads)
    workers = min(workers, len(items))  # more actors than batches would only load idle models
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, threads=threads))
    sizes = {item["batch"]: item["size"] for item in items}
    ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        ScreenActor,
        fn_constructor_kwargs={
            "config": config,
            "index": str(options.index) if options.index else None,
            "top_k": options.top_k,
            "banks": options.banks,
            "exhaustive": options.exhaustive,
        },
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=threads,
    )
    for row in ds.iter_rows():
        job.write_part(int(row["batch"]), json.loads(row["part"]))
        bar.update(sizes[int(row["batch"])])
