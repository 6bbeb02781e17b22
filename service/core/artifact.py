"""Versioned index artifacts: what ``index_builder build`` writes and the service loads.

An artifact is a directory::

    <root>/<version>/
        manifest.json   model id (name@checksum), dimension, metric, index type
                        and parameters, item count, creation time, the store
                        generation it reflects, measured recall@10
        index.faiss     the FAISS index; its ids are the store's vids
        idmap.parquet   vid -> reference id, so a loader can check that the
                        artifact belongs to its store

It is written under a temporary name and renamed into place, so a reader never
sees half an artifact; ``<root>/LATEST`` then names the newest version.

Loading refuses an artifact made by another model (``ModelMismatch``): vectors
from two models are never mixed. Items the store gained or lost after the
artifact's generation are applied as a delta from the vectors kept in the store.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.core.errors import IndexCorrupt, InvalidInput, ModelMismatch
from service.core.index import FaissIndex
from service.core.index_types import set_nprobe
from service.core.store import ReferenceStore

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
INDEX_FILE = "index.faiss"
IDMAP_FILE = "idmap.parquet"
LATEST = "LATEST"
METRIC = "inner_product"


@dataclass(frozen=True)
class Manifest:
    version: str
    model_id: str
    dim: int
    index_type: str
    params: dict[str, Any]
    count: int
    created_at: float
    generation: int
    recall_at_10: float | None
    recall_queries: int = 0
    metric: str = METRIC
    format_version: int = FORMAT_VERSION
    build: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any], where: Path) -> "Manifest":
        try:
            return cls(**data)
        except TypeError as exc:
            raise IndexCorrupt(f"{where}: not a Nigran index manifest ({exc})") from exc


@dataclass(frozen=True)
class Artifact:
    path: Path
    manifest: Manifest
    index: FaissIndex
    vids: NDArray[np.int64]
    ids: list[str]


@dataclass(frozen=True)
class LoadedIndex:
    """What a load did: the artifact, and the delta applied from the store."""

    path: str
    manifest: Manifest
    added: int
    removed: int
    size: int


def new_version(generation: int) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-g{generation}-{uuid.uuid4().hex[:6]}"


def write_artifact(root: Path, manifest: Manifest, index: FaissIndex, vids: NDArray[np.int64], ids: list[str]) -> Path:
    """Write the artifact to a temporary directory, then rename it into place."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    final = root / manifest.version
    tmp = root / f".tmp-{manifest.version}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    index.serialize(tmp / INDEX_FILE)
    pq.write_table(pa.table({"vid": pa.array(vids, pa.int64()), "id": pa.array(ids, pa.string())}), tmp / IDMAP_FILE)
    (tmp / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _fsync_dir(tmp)
    os.rename(tmp, final)
    latest_tmp = root / f".{LATEST}.tmp"
    latest_tmp.write_text(manifest.version + "\n", encoding="utf-8")
    os.replace(latest_tmp, root / LATEST)
    return final


def _fsync_dir(path: Path) -> None:
    for child in path.iterdir():
        with child.open("rb") as fh:
            os.fsync(fh.fileno())


def resolve(path: Path) -> Path:
    """An artifact directory, or an artifacts root whose LATEST names one."""
    path = Path(path)
    if not (path / MANIFEST).exists() and (path / LATEST).exists():
        return path / (path / LATEST).read_text(encoding="utf-8").strip()
    return path


def read_manifest(path: Path) -> Manifest:
    path = resolve(path)
    manifest_path = path / MANIFEST
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInput("path", f"{path} is not an index artifact (no {MANIFEST})") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexCorrupt(f"cannot read {manifest_path}: {exc}") from exc
    if not isinstance(data, dict):
        raise IndexCorrupt(f"{manifest_path}: expected a JSON object")
    return Manifest.from_json(data, manifest_path)


def open_artifact(path: Path, *, model_id: str, dim: int) -> Artifact:
    """Read an artifact, refusing it before loading vectors if another model made it."""
    import pyarrow.parquet as pq

    path = resolve(path)
    manifest = read_manifest(path)
    if manifest.model_id != model_id:
        raise ModelMismatch(expected=model_id, found=manifest.model_id, what=f"index artifact {path}")
    if manifest.dim != dim or manifest.metric != METRIC:
        raise IndexCorrupt(f"{path}: {manifest.dim}-d {manifest.metric} index, service needs {dim}-d {METRIC}")
    index = FaissIndex.deserialize(path / INDEX_FILE)
    set_nprobe(index, int(manifest.params.get("nprobe", 0)))
    try:
        table = pq.read_table(path / IDMAP_FILE)
        vids = np.asarray(table.column("vid").to_numpy(), dtype=np.int64)
        ids = [str(x) for x in table.column("id").to_pylist()]
    except Exception as exc:  # pyarrow raises its own hierarchy
        raise IndexCorrupt(f"cannot read id map {path / IDMAP_FILE}: {exc}") from exc
    if not (len(index) == len(vids) == manifest.count):
        raise IndexCorrupt(f"{path}: index holds {len(index)} vectors, id map {len(vids)}, manifest {manifest.count}")
    return Artifact(path=path, manifest=manifest, index=index, vids=vids, ids=ids)


def reconcile(artifact: Artifact, store: ReferenceStore, model_id: str, *, present: set[int] | None = None) -> tuple[int, int, set[int]]:
    """Bring the artifact's index up to the store's current contents.

    Checks that every vid in the id map names the same reference in this store
    (otherwise the artifact was built for another store), then adds items the
    store holds that the index lacks, from their stored vectors, and removes
    items the store has tombstoned. ``present`` is the vid set a previous pass
    left; returns (added, removed, present now).
    """
    if present is None:
        store_vids, store_ids, _ = store.vid_table()
        id_of = dict(zip(store_vids.tolist(), store_ids))
        for vid, ref_id in zip(artifact.vids.tolist(), artifact.ids):
            if id_of.get(vid) != ref_id:
                raise InvalidInput(
                    "path",
                    f"artifact {artifact.path} does not belong to this store: vid {vid} is {ref_id!r} there, "
                    f"{id_of.get(vid)!r} here",
                )
        present = set(artifact.vids.tolist())
    gone, add_vids, add_vectors = store.index_delta(np.array(sorted(present), dtype=np.int64), model_id)
    removed = artifact.index.remove(gone) if len(gone) else 0
    if len(add_vids):
        artifact.index.add(add_vids, add_vectors)
    return len(add_vids), removed, (present - set(gone.tolist())) | set(add_vids.tolist())
