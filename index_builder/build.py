"""``index_builder build``: reference list -> store -> versioned index artifact.

The artifact and the service's store are one system: build writes every new
item into the store at ``--data-dir`` through the service's own write path
(``References.add``: the same normalisation, validation and model), then builds
the index over everything that store holds at generation G. The index's ids
are that store's vids, the id map says which reference each vid is, and the
manifest records G, so a service pointed at the artifact can check it belongs
to its store and apply only what changed after G.

Batches are committed to the store (embeddings included) one by one and
recorded in a job directory, so an interrupted build resumes without
re-embedding finished batches.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

from index_builder.jobdir import JobDir, batched, count_rows, default_job_dir, input_identity
from index_builder.recall import recall_at_10
from index_builder.sources import Columns, Record, Reject, Row, detect_format, read_rows
from service.core import (
    AddOptions, Embedder, ExactRerank, FaissIndex, FailedPrecondition, IndexSpec, IndexType, Manifest, NewReference,
    NigranConfig, OfflineCuration, OnDuplicate, OnExistingId, OnInvalid, OnMissingBank, VectorLookup, choose_spec,
    new_index, new_version, open_offline, set_nprobe, train_sample_size, write_artifact
)

log = logging.getLogger(__name__)

DEFAULT_RECALL_FLOOR = 0.98
DEFAULT_RECALL_QUERIES = 1000
BUILD_ACTOR = "index_builder"


@dataclass(frozen=True)
class BuildOptions:
    input: Path
    artifacts_dir: Path
    fmt: str | None = None
    columns: Columns = Columns()
    batch_size: int = 256
    index_type: IndexType | None = None
    nlist: int = 0
    nprobe: int = 0
    m: int = 0
    recall_floor: float = DEFAULT_RECALL_FLOOR
    recall_queries: int = DEFAULT_RECALL_QUERIES
    work_dir: Path | None = None
    restart: bool = False
    rejects: Path | None = None
    progress: bool = True
    seed: int = 0


@dataclass
class BuildSummary:
    rows: int = 0
    added: int = 0
    dupes: int = 0
    already_stored: int = 0
    banks_created: list[str] = field(default_factory=list)
    rejects: int = 0
    resumed_batches: int = 0
    indexed: int = 0
    seconds: float = 0.0
    index_type: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    recall_at_10: float | None = None
    artifact: str = ""
    rejects_file: str = ""

    def lines(self) -> list[str]:
        recall = "n/a" if self.recall_at_10 is None else f"{self.recall_at_10:.4f}"
        return [
            f"rows read        {self.rows}",
            f"added to store   {self.added}",
            f"duplicates       {self.dupes} (same fingerprint as a stored item)",
            f"already stored   {self.already_stored} (id present in the store)",
            f"banks created    {', '.join(self.banks_created) or 'none'}",
            f"rejects          {self.rejects} -> {self.rejects_file}",
            f"resumed batches  {self.resumed_batches}",
            f"index            {self.index_type} {json.dumps(self.params)}, {self.indexed} vectors",
            f"recall@10        {recall}",
            f"time             {self.seconds:.1f}s",
            f"artifact         {self.artifact}",
        ]


#: A bulk load: resumable (stored ids are left alone), one copy per text, banks as the input names them.
BUILD_OPTIONS = AddOptions(
    existing_id=OnExistingId.SKIP, duplicate=OnDuplicate.SKIP, missing_bank=OnMissingBank.CREATE, invalid=OnInvalid.REJECT
)


def store_batch(rows: list[Row], offline: OfflineCuration) -> dict[str, Any]:
    """Validate, deduplicate, embed and commit one batch; idempotent, so a redone batch adds nothing twice."""
    rejects = [r.to_json() for r in rows if isinstance(r, Reject)]
    records = [r for r in rows if isinstance(r, Record)]
    refs = [NewReference(text=r.text, id=r.id, lang=r.lang, bank=r.bank, labels=r.labels) for r in records]
    outcome = offline.references.add(refs, actor=BUILD_ACTOR, options=BUILD_OPTIONS) if refs else None
    if outcome is not None:
        for rejected in outcome.rejected:
            rec = records[rejected.position]
            rejects.append(Reject(rec.seq, rec.line, rec.id, f"line {rec.line}.{rejected.field}: {rejected.reason}").to_json())
    rejects.sort(key=lambda r: r["row"])
    return {
        "added": len(outcome.added) if outcome else 0,
        "dupes": len(outcome.duplicates) if outcome else 0,
        "already_stored": len(outcome.existing) if outcome else 0,
        "rejects": rejects,
        "banks_created": list(outcome.banks_created) if outcome else [],
    }


def load_vectors(offline: OfflineCuration, model_id: str) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    vid_parts: list[NDArray[np.int64]] = []
    vec_parts: list[NDArray[np.float32]] = []
    for vids, vectors in offline.store.vectors.indexable(model_id):
        vid_parts.append(vids)
        vec_parts.append(vectors)
    if not vid_parts:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    return np.concatenate(vid_parts), np.concatenate(vec_parts)


@dataclass(frozen=True)
class BuiltIndex:
    index: FaissIndex
    spec: IndexSpec
    recall: float
    queries: int


def build_index(
    vids: NDArray[np.int64],
    vectors: NDArray[np.float32],
    *,
    index_type: IndexType | None = None,
    nlist: int = 0,
    nprobe: int = 0,
    m: int = 0,
    recall_floor: float = DEFAULT_RECALL_FLOOR,
    recall_queries: int = DEFAULT_RECALL_QUERIES,
    seed: int = 0,
    log_step: Callable[[str], None] = log.info,
) -> BuiltIndex:
    """Build the index, measure its recall@10 against exact search, refuse it below the floor.

    With nprobe left to choose, it is doubled until the floor is met (or every
    list is searched); an explicit nprobe is measured as given.
    """
    n, dim = vectors.shape
    spec = choose_spec(n, type=index_type, nlist=nlist, nprobe=nprobe, m=m)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    query_rows = np.sort(order[: min(recall_queries, n)])
    train = None
    if spec.type != "flat":
        # Held out: the recall queries never shape the IVF's centroids.
        train_rows = order[min(recall_queries, n) :][: train_sample_size(spec)]
        if len(train_rows) < spec.nlist:
            train_rows = order[: train_sample_size(spec)]
        train = vectors[np.sort(train_rows)]
    log_step(f"building {spec.type} index {json.dumps(spec.params())} over {n} vectors")
    index = new_index(spec, dim, train)
    for start in range(0, n, 100_000):
        index.add(vids[start : start + 100_000], vectors[start : start + 100_000])
    # Measured as the service serves it: approximate types with exact re-ranking.
    served = index if spec.type == "flat" else ExactRerank(index, in_memory_lookup(vids, vectors))
    recall = recall_at_10(served, vectors, vids, query_rows)
    log_step(f"recall@10 {recall:.4f} with {json.dumps(spec.params())}")
    while spec.type != "flat" and not nprobe and recall < recall_floor and spec.nprobe < spec.nlist:
        spec = IndexSpec(spec.type, nlist=spec.nlist, nprobe=min(spec.nprobe * 2, spec.nlist), m=spec.m)
        set_nprobe(index, spec.nprobe)
        recall = recall_at_10(served, vectors, vids, query_rows)
        log_step(f"recall@10 {recall:.4f} with {json.dumps(spec.params())}")
    if recall < recall_floor:
        raise FailedPrecondition(
            f"recall@10 of the {spec.type} index {json.dumps(spec.params())} is {recall:.4f}, below the floor "
            f"{recall_floor}; not published (raise nprobe/nlist, pick another --index-type, or lower --recall-floor)"
        )
    return BuiltIndex(index, spec, recall, len(query_rows))


def in_memory_lookup(vids: NDArray[np.int64], vectors: NDArray[np.float32]) -> VectorLookup:
    """Vectors by id from arrays sorted by id (as the store yields them)."""

    def lookup(ids: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        rows = np.searchsorted(vids, ids)
        rows = rows[(rows < len(vids)) & (vids[np.minimum(rows, len(vids) - 1)] == ids)]
        return vids[rows], vectors[rows]

    return lookup


def build(config: NigranConfig, options: BuildOptions, embedder: Embedder) -> BuildSummary:
    started = time.perf_counter()
    fmt = detect_format(options.input, options.fmt)
    summary = BuildSummary()
    identity = input_identity(
        options.input, command="build", columns=options.columns.__dict__, batch_size=options.batch_size,
        model_id=embedder.model_id, store=str(config.store_path.resolve()),
    )
    job = JobDir(options.work_dir or default_job_dir(config.data_dir / "jobs", "build", identity), identity, restart=options.restart)
    done = job.done()
    summary.resumed_batches = len(done)
    offline = open_offline(config, embedder)
    try:
        from tqdm import tqdm

        with tqdm(total=count_rows(options.input, fmt), unit="items", desc="build", disable=not options.progress, smoothing=0.1) as bar:
            for number, rows in batched(read_rows(options.input, options.columns, fmt), options.batch_size):
                if number not in done:
                    job.write_part(number, store_batch(rows, offline))
                bar.update(len(rows))
        rejects_path = options.rejects or options.artifacts_dir / f"rejects-{options.input.stem}.jsonl"
        rejects_path.parent.mkdir(parents=True, exist_ok=True)
        with rejects_path.open("w", encoding="utf-8") as fh:
            for _, part in job.parts():
                summary.added += part["added"]
                summary.dupes += part["dupes"]
                summary.already_stored += part["already_stored"]
                summary.banks_created += part.get("banks_created", [])
                summary.rejects += len(part["rejects"])
                for reject in part["rejects"]:
                    fh.write(json.dumps(reject, ensure_ascii=False) + "\n")
        summary.rows = summary.added + summary.dupes + summary.already_stored + summary.rejects
        summary.rejects_file = str(rejects_path)

        generation = offline.store.generation()
        vids, vectors = load_vectors(offline, embedder.model_id)
        if len(vids) == 0:
            raise FailedPrecondition("the store holds no indexable references; nothing to build")
        built = build_index(
            vids, vectors, index_type=options.index_type, nlist=options.nlist, nprobe=options.nprobe, m=options.m,
            recall_floor=options.recall_floor, recall_queries=options.recall_queries, seed=options.seed,
        )
        id_of = offline.store.vectors.vid_table()
        summary.seconds = time.perf_counter() - started
        manifest = Manifest(
            version=new_version(generation),
            model_id=embedder.model_id,
            dim=embedder.dim,
            index_type=built.spec.type,
            params=built.spec.params(),
            count=len(built.index),
            created_at=time.time(),
            generation=generation,
            recall_at_10=built.recall,
            recall_queries=built.queries,
            build={"input": str(options.input), "rows": summary.rows, "added": summary.added, "dupes": summary.dupes,
                   "rejects": summary.rejects, "seconds": round(summary.seconds, 2)},
        )
        path = write_artifact(options.artifacts_dir, manifest, built.index, vids, [id_of[int(v)] for v in vids])
    finally:
        offline.close()
    job.remove()
    summary.indexed = manifest.count
    summary.index_type = manifest.index_type
    summary.params = manifest.params
    summary.recall_at_10 = built.recall
    summary.artifact = str(path)
    summary.seconds = time.perf_counter() - started
    return summary
