"""Build a directory of derived model files once, atomically, whatever runs at the same time.

Both derived forms of the bundled model (the sentence-transformers directory,
provision.py, and its int8 ONNX export, onnx_export.py) are built on first use
by whichever process gets there first: a server, a test worker, ``make model``.
They share one discipline, kept here: builders serialise on a lock, build in a
hidden staging directory beside the target, and rename it into place, so a
reader only ever sees a complete directory; a directory is complete when its
provenance file (written last) says it was made from the current source by the
current layout.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

from service.core.errors import ModelProvisionError

LOCK_TIMEOUT_S: Final = 900.0


def write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_provenance(path: Path) -> dict[str, Any] | None:
    """The provenance object at ``path``, or None where it is missing or unreadable (an incomplete build)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def build_once(target: Path, is_ready: Callable[[], bool], write: Callable[[Path], None], *, force: bool = False) -> Path:
    """Return ``target``, first filling it with ``write(staging_dir)`` unless ``is_ready()``.

    ``write`` must write the provenance file last. ``force=True`` rebuilds
    even when the directory is ready.
    """
    if not force and is_ready():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive_lock(target.parent / f"{target.name}.lock", LOCK_TIMEOUT_S):
            # Another process may have built it while this one waited for the lock.
            if force or not is_ready():
                _build(target, write)
    except OSError as exc:
        raise ModelProvisionError(f"cannot prepare {target.parent}: {exc}") from exc
    return target


def command(description: str, build: Callable[[Path, bool, Path | None], Path], argv: list[str] | None = None) -> None:
    """``python -m MODULE [DATA_DIR] [--force] [--adapter NAME]``: a build ahead of time (``make model``)."""
    import argparse

    from service.core.config import ModelConfig
    from service.core.errors import ConfigError

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("cache_root", type=Path, nargs="?", default=Path("var"))
    parser.add_argument("--force", action="store_true", help="rebuild even if present")
    parser.add_argument(
        "--adapter", default="none",
        help='"default" (the shipped adapter), a name under service/adapters/ or a directory: the model with it merged; "none": the base model',
    )
    args = parser.parse_args(argv)
    try:
        adapter = ModelConfig(adapter=args.adapter).adapter_dir
    except ConfigError as exc:
        parser.error(str(exc))
    started = time.perf_counter()
    path = build(args.cache_root, args.force, adapter)
    print(f"ready at {path} ({time.perf_counter() - started:.1f}s)")


def _build(target: Path, write: Callable[[Path], None]) -> None:
    # Leftovers of builders that crashed; safe to remove because we hold the lock. The exact
    # pattern keeps us off other versions' staging dirs (".…-0.3.0.post1.x.tmp").
    leftover = re.compile(re.escape(f".{target.name}.") + r"\w+\.(?:tmp|old)")
    for entry in target.parent.iterdir():
        if leftover.fullmatch(entry.name):
            shutil.rmtree(entry, ignore_errors=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        write(staged)
        _seal_tree(staged)
        _replace_dir(staged, target)
    except OSError as exc:
        raise ModelProvisionError(f"could not write {target}: {exc}") from exc
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)


def _seal_tree(root: Path) -> None:
    # mkdtemp and safetensors create owner-only entries; a shared cache must stay readable
    # by the service's other users. Rename is atomic against crashes of this process, and
    # fsync makes the renamed directory's contents durable against power loss as well.
    for path in sorted(root.rglob("*"), reverse=True) + [root]:
        is_dir = path.is_dir()
        path.chmod(0o755 if is_dir else 0o644)
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if is_dir else 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _replace_dir(staged: Path, target: Path) -> None:
    if target.exists():
        retired = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
        os.replace(target, retired)
        os.replace(staged, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staged, target)


@contextlib.contextmanager
def _exclusive_lock(path: Path, timeout_s: float) -> Iterator[None]:
    # flock (not a lock *file* whose existence matters) is released by the kernel when its
    # holder dies, so a crashed builder can never wedge later ones.
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ModelProvisionError(
                        f"timed out after {timeout_s:.0f}s waiting for another process "
                        f"holding {path}"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
