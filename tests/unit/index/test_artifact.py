"""Index artifacts (``index.artifact``): round trip, LATEST, refusals, checksums, ownership, pruning, atomic writes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from service.core.errors import IndexCorrupt, InvalidInput, ModelMismatch
from service.core.index.artifact import (
    IDMAP_FILE, Artifact, INDEX_FILE, LATEST, MANIFEST, check_belongs, latest, open_artifact, read_manifest, resolve
)
from service.core.index.faiss_index import FaissIndex
from tests.support.index_factories import DIM, MODEL, OTHER_MODEL, publish, trained, unit_vectors


def filled(index: FaissIndex, n: int = 40, *, seed: int = 1, first_vid: int = 10) -> tuple[FaissIndex, dict[int, str]]:
    """``index`` holding n vectors with vids from ``first_vid``, and the store's vid -> id table for them."""
    vids = np.arange(first_vid, first_vid + n, dtype=np.int64)
    index.add(vids, unit_vectors(n, seed=seed))
    return index, {int(v): f"ref-{v}" for v in vids}


def flip_bytes(path: Path) -> None:
    """Corrupt a file in place without changing its length (a bad disk, not a truncated copy)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    path.write_bytes(bytes(data))


def open_default(path: Path) -> Artifact:
    return open_artifact(path, model_id=MODEL, dim=DIM)


def test_round_trip_keeps_vids_ids_count_and_search_results(tmp_path: Path) -> None:
    index, id_of = filled(FaissIndex(DIM))
    path = publish(tmp_path, index, id_of, generation=7)
    found = open_artifact(tmp_path, model_id=MODEL, dim=DIM)
    assert found.path == path
    assert found.vids.tolist() == sorted(id_of) and found.ids == [id_of[v] for v in sorted(id_of)]
    assert (found.manifest.count, found.manifest.generation, found.manifest.model_id) == (40, 7, MODEL)
    assert found.index.ids().tolist() == sorted(id_of)
    queries = unit_vectors(5, seed=2)
    for mine, theirs in zip(index.search(queries, 5), found.index.search(queries, 5)):
        np.testing.assert_array_equal(mine, theirs)


def test_the_manifest_records_a_checksum_of_each_file(tmp_path: Path) -> None:
    index, id_of = filled(FaissIndex(DIM))
    manifest = read_manifest(publish(tmp_path, index, id_of))
    assert set(manifest.checksums) == {INDEX_FILE, IDMAP_FILE}
    assert all(len(digest) == 64 for digest in manifest.checksums.values())


def test_an_ivf_artifact_keeps_its_params_and_searches_with_the_manifests_nprobe(tmp_path: Path) -> None:
    import faiss

    # Built with nprobe 1; the manifest's nprobe is what a loader must search with.
    index, id_of = filled(trained("ivf", nprobe=1))
    publish(tmp_path, index, id_of, index_type="ivf", params={"nlist": 4, "nprobe": 3})
    found = open_artifact(tmp_path, model_id=MODEL, dim=DIM)
    assert (found.manifest.index_type, found.manifest.params) == ("ivf", {"nlist": 4, "nprobe": 3})
    assert faiss.extract_index_ivf(found.index.faiss_index).nprobe == 3
    assert found.index.ids().tolist() == sorted(id_of)


def test_latest_names_the_newest_version_and_resolve_follows_it(tmp_path: Path) -> None:
    index, id_of = filled(FaissIndex(DIM))
    first = publish(tmp_path, index, id_of, generation=1)
    second = publish(tmp_path, index, id_of, generation=2)
    assert (tmp_path / LATEST).read_text(encoding="utf-8").strip() == second.name
    assert resolve(tmp_path) == second and latest(tmp_path) == second
    # An artifact directory resolves to itself, so an older version can still be opened by path.
    assert resolve(first) == first
    assert open_artifact(first, model_id=MODEL, dim=DIM).manifest.generation == 1


def test_there_is_no_latest_artifact_in_an_empty_or_missing_root(tmp_path: Path) -> None:
    assert latest(tmp_path) is None
    assert latest(tmp_path / "never-written") is None


def test_an_artifact_of_another_model_is_refused_before_its_vectors_are_read(tmp_path: Path) -> None:
    index, id_of = filled(FaissIndex(DIM))
    path = publish(tmp_path, index, id_of, model_id=OTHER_MODEL)
    # Were the vectors read first, the corruption would be reported instead.
    flip_bytes(path / INDEX_FILE)
    with pytest.raises(ModelMismatch):
        open_default(tmp_path)


def test_an_artifact_of_another_dimension_is_refused(tmp_path: Path) -> None:
    index, id_of = filled(FaissIndex(DIM))
    publish(tmp_path, index, id_of)
    with pytest.raises(IndexCorrupt, match=f"{DIM}-d"):
        open_artifact(tmp_path, model_id=MODEL, dim=DIM * 2)


@pytest.mark.parametrize("name", [INDEX_FILE, IDMAP_FILE])
def test_a_corrupted_file_is_caught_by_its_checksum(tmp_path: Path, name: str) -> None:
    index, id_of = filled(FaissIndex(DIM))
    path = publish(tmp_path, index, id_of)
    flip_bytes(path / name)
    with pytest.raises(IndexCorrupt, match="checksum"):
        open_default(path)


def test_an_artifact_whose_count_disagrees_with_its_files_is_refused(tmp_path: Path) -> None:
    index, id_of = filled(FaissIndex(DIM))
    publish(tmp_path, index, id_of, count=len(index) + 1)
    with pytest.raises(IndexCorrupt, match="manifest 41"):
        open_default(tmp_path)


def test_a_manifest_that_is_not_json_is_corrupt_and_a_plain_directory_is_no_artifact(tmp_path: Path) -> None:
    index, id_of = filled(FaissIndex(DIM))
    path = publish(tmp_path / "artifacts", index, id_of)
    (path / MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorrupt):
        open_default(path)
    with pytest.raises(InvalidInput):
        open_default(tmp_path / "elsewhere")


def test_an_artifact_written_before_checksums_existed_still_opens(tmp_path: Path) -> None:
    index, id_of = filled(FaissIndex(DIM))
    path = publish(tmp_path, index, id_of)
    data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    del data["checksums"]
    (path / MANIFEST).write_text(json.dumps(data), encoding="utf-8")
    assert open_artifact(path, model_id=MODEL, dim=DIM).manifest.count == len(index)


def test_check_belongs_accepts_the_artifacts_own_store(tmp_path: Path) -> None:
    index, id_of = filled(FaissIndex(DIM))
    publish(tmp_path, index, id_of)
    # The store may hold more than the artifact (added since): that is a delta, not another store.
    check_belongs(open_artifact(tmp_path, model_id=MODEL, dim=DIM), {**id_of, 999: "ref-new"})


@pytest.mark.parametrize("change", ["other-id", "missing-vid"])
def test_check_belongs_refuses_an_artifact_of_another_store(tmp_path: Path, change: str) -> None:
    index, id_of = filled(FaissIndex(DIM))
    publish(tmp_path, index, id_of)
    other = dict(id_of)
    if change == "other-id":
        other[15] = "someone-else"
    else:
        del other[15]
    with pytest.raises(InvalidInput, match="does not belong"):
        check_belongs(open_artifact(tmp_path, model_id=MODEL, dim=DIM), other)


def versions(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir())


def test_keep_prunes_all_but_the_newest_versions(tmp_path: Path) -> None:
    index, id_of = filled(FaissIndex(DIM))
    written = [publish(tmp_path, index, id_of, generation=g, keep=2).name for g in range(4)]
    assert versions(tmp_path) == sorted(written[-2:])
    assert latest(tmp_path) == tmp_path / written[-1]


def test_keep_never_prunes_the_version_latest_names(tmp_path: Path) -> None:
    index, id_of = filled(FaissIndex(DIM))
    older = [publish(tmp_path, index, id_of, generation=g).name for g in range(2)]
    # Clocks move: make the earlier versions look newer than the one about to be written.
    future = time.time() + 3600
    for offset, name in enumerate(older):
        os.utime(tmp_path / name, (future + offset, future + offset))
    newest = publish(tmp_path, index, id_of, generation=2, keep=2).name
    assert newest in versions(tmp_path)
    assert latest(tmp_path) == tmp_path / newest


def test_no_temporary_file_or_directory_is_left_behind(tmp_path: Path) -> None:
    index, id_of = filled(FaissIndex(DIM))
    written = [publish(tmp_path, index, id_of, generation=g, keep=3).name for g in range(2)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*written, LATEST])
    assert sorted(p.name for p in (tmp_path / written[0]).iterdir()) == sorted([MANIFEST, INDEX_FILE, IDMAP_FILE])
