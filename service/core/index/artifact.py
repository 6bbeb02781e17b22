"""Index artifacts: the one on-disk form of a vector index.

``index_builder build`` publishes artifacts, and the service's own snapshot of
its live index is an artifact too. An artifact is a directory::

    <root>/<version>/
        manifest.json   model id (name@checksum), dimension, metric, index type
                        and parameters, item count, creation time, the store
                        generation it reflects, measured recall@10, and the
                        SHA-256 of the files below
        index.faiss     the FAISS index; its ids are the store's vids
        idmap.parquet   vid -> reference id, so a loader can check that the
                        artifact belongs to its store

It is written under a temporary name, fsynced, and renamed into place, so a
reader never sees half an artifact; ``<root>/LATEST`` then names the newest
version. Loading refuses an artifact made by another model (``ModelMismatch``):
vectors from two models are never mixed. What the store gained or lost after
the artifact's generation is applied as a delta (``live.apply_delta``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from numpy.typing import NDArray

from service.core.errors import IndexCorrupt, InvalidInput, ModelMismatch
from service.core.index.base import VectorIndex
from service.core.index.faiss_index import FaissIndex
from service.core.index.spec import set_nprobe

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
INDEX_FILE = "index.faiss"
IDMAP_FILE = "idmap.parquet"
# Optional: the per-item rows (background neighbourhoods) of a service snapshot, in id-map order, so a
# replica starting from it need not read every vector back from the store to compute them again.
ROWS_FILE = "rows.npy"
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
    # How it was made: an index_builder build's input and counts, or a service snapshot.
    build: dict[str, Any] = field(default_factory=dict)
    # File name -> SHA-256; artifacts written before checksums existed have none.
    checksums: dict[str, str] = field(default_factory=dict)

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
    rows: NDArray[np.float32] | None = None


def new_version(generation: int) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-g{generation}-{uuid.uuid4().hex[:6]}"


def write_artifact(
    root: Path,
    manifest: Manifest,
    index: VectorIndex | NDArray[np.uint8],
    vids: NDArray[np.int64],
    ids: list[str],
    *,
    keep: int | None = None,
    rows: NDArray[np.float32] | None = None,
) -> Path:
    """Write the artifact to a temporary directory, then rename it into place and point LATEST at it.

    ``index``: the index, or its bytes (``VectorIndex.serialized``) taken earlier.
    ``keep``: remove all but the newest ``keep`` versions afterwards (snapshots).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    final = root / manifest.version
    tmp = root / f".tmp-{manifest.version}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    if isinstance(index, np.ndarray):
        index.tofile(str(tmp / INDEX_FILE))
    else:
        index.serialize(tmp / INDEX_FILE)
    pq.write_table(pa.table({"vid": pa.array(vids, pa.int64()), "id": pa.array(ids, pa.string())}), tmp / IDMAP_FILE)
    files = [INDEX_FILE, IDMAP_FILE]
    if rows is not None:
        np.save(tmp / ROWS_FILE, np.ascontiguousarray(rows, dtype=np.float32))
        files.append(ROWS_FILE)
    sealed = Manifest(**{**asdict(manifest), "checksums": {name: _sha256(tmp / name) for name in files}})
    (tmp / MANIFEST).write_text(json.dumps(asdict(sealed), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _fsync_tree(tmp)
    os.rename(tmp, final)
    latest_tmp = root / f".{LATEST}.tmp"
    latest_tmp.write_text(manifest.version + "\n", encoding="utf-8")
    _fsync_file(latest_tmp)
    os.replace(latest_tmp, root / LATEST)
    _fsync_file(root)
    if keep is not None:
        _prune(root, keep)
    return final


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for child in path.iterdir():
        _fsync_file(child)
    _fsync_file(path)


def _prune(root: Path, keep: int) -> None:
    versions = sorted((p for p in root.iterdir() if p.is_dir() and (p / MANIFEST).exists()), key=lambda p: p.stat().st_mtime)
    latest = (root / LATEST).read_text(encoding="utf-8").strip()
    for old in versions[: max(len(versions) - keep, 0)]:
        if old.name != latest:
            shutil.rmtree(old, ignore_errors=True)


def resolve(path: Path) -> Path:
    """An artifact directory, or an artifacts root whose LATEST names one."""
    path = Path(path)
    if not (path / MANIFEST).exists() and (path / LATEST).exists():
        try:
            return path / (path / LATEST).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise IndexCorrupt(f"cannot read {path / LATEST}: {exc}") from exc
    return path


def latest(root: Path) -> Path | None:
    """The newest artifact under ``root``, or None when there is none."""
    found = resolve(root)
    return found if (found / MANIFEST).exists() else None


def snapshots(root: Path) -> list[Path]:
    """Every artifact under ``root``: the one LATEST names first, then the others newest first.

    A loader falls back along this list when the newest cannot be used.
    """
    if not root.is_dir():
        return []
    first = latest(root)
    others = sorted((p for p in root.iterdir() if p != first and p.is_dir() and (p / MANIFEST).exists()), key=lambda p: p.name, reverse=True)
    return ([first] if first is not None else []) + others


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
    if manifest.format_version > FORMAT_VERSION:
        raise IndexCorrupt(f"{path}: artifact format {manifest.format_version} is newer than this Nigran reads ({FORMAT_VERSION})")
    if manifest.model_id != model_id:
        raise ModelMismatch(expected=model_id, found=manifest.model_id, what=f"index artifact {path}")
    if manifest.dim != dim or manifest.metric != METRIC:
        raise IndexCorrupt(f"{path}: {manifest.dim}-d {manifest.metric} index, service needs {dim}-d {METRIC}")
    for name, digest in manifest.checksums.items():
        if _sha256(path / name) != digest:
            raise IndexCorrupt(f"{path}: {name} does not match the checksum in its manifest")
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
    rows = None
    if (path / ROWS_FILE).exists():
        rows = np.load(path / ROWS_FILE)
        if rows.ndim != 2 or len(rows) != len(vids):
            raise IndexCorrupt(f"{path}: {ROWS_FILE} has shape {rows.shape} for {len(vids)} vectors")
    return Artifact(path=path, manifest=manifest, index=index, vids=vids, ids=ids, rows=rows)


def check_belongs(artifact: Artifact, id_of: Mapping[int, str]) -> None:
    """Every vid of the artifact must name the same reference in this store."""
    for vid, ref_id in zip(artifact.vids.tolist(), artifact.ids):
        if id_of.get(vid) != ref_id:
            raise InvalidInput(
                "path",
                f"artifact {artifact.path} does not belong to this store: vid {vid} is {ref_id!r} there, {id_of.get(vid)!r} here",
            )
