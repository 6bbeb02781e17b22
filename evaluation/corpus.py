"""Line-aligned English/Urdu/Pashto corpora and their split into disjoint parts.

A corpus is a directory with ``eng.txt``, ``urd.txt`` and ``pus.txt`` holding
the same sentence on the same line, and optionally document ids
(``DOCUMENT_IDS.tsv``, one per line, as NTREX-128 ships them, or ``meta.tsv``
with a ``tuid`` column of the form ``doc:line``, as TICO-19 ships them).
Users can evaluate on their own data by laying it out the same way.

Sentences are grouped into *segments*: runs of at most ``SEGMENT_LINES``
consecutive lines of one document. Whole segments go to one part
(calibration, report or background), so the parts share no sentence, and a
segment's other lines are the same-document neighbours used as hard negatives.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from service.core import SUPPORTED_LANGUAGES

LANGS = SUPPORTED_LANGUAGES
# The corpora name their files by ISO 639-3 code.
LANG_FILES = dict(zip(LANGS, ("eng.txt", "urd.txt", "pus.txt"), strict=True))
SEGMENT_LINES = 32
PARTS = ("calibration", "report", "background")
# Shares of segments per part; background only needs enough ordinary text for
# the margin neighbourhoods.
PART_WEIGHTS = (0.4, 0.4, 0.2)


@dataclass(frozen=True)
class Triple:
    corpus: str
    line: int  # 1-based line number in the corpus files
    segment: str
    texts: dict[str, str]


def load_corpus(path: Path) -> list[Triple]:
    path = Path(path)
    columns = {lang: (path / name).read_text(encoding="utf-8").splitlines() for lang, name in LANG_FILES.items()}
    lengths = {lang: len(lines) for lang, lines in columns.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{path}: files are not line-aligned: {lengths}")
    docs = _document_ids(path, lengths["en"])
    triples: list[Triple] = []
    chunk_of: dict[str, int] = {}
    for i in range(lengths["en"]):
        texts = {lang: columns[lang][i].strip() for lang in LANGS}
        if not all(texts.values()):
            continue
        doc = docs[i]
        n = chunk_of.get(doc, 0)
        chunk_of[doc] = n + 1
        triples.append(Triple(corpus=path.name, line=i + 1, segment=f"{path.name}/{doc}#{n // SEGMENT_LINES}", texts=texts))
    return triples


def _document_ids(path: Path, n: int) -> list[str]:
    ids_file = path / "DOCUMENT_IDS.tsv"
    meta_file = path / "meta.tsv"
    if ids_file.exists():
        ids = [line.split("\t")[0].strip() for line in ids_file.read_text(encoding="utf-8").splitlines()]
    elif meta_file.exists():
        with meta_file.open(encoding="utf-8", newline="") as fh:
            ids = [row["tuid"].rsplit(":", 1)[0] for row in csv.DictReader(fh, delimiter="\t")]
    else:
        # No document ids: consecutive lines are the best guess at a document.
        ids = ["doc"] * n
    if len(ids) != n:
        raise ValueError(f"{path}: {len(ids)} document ids for {n} lines")
    return ids


def part_of(segment: str) -> str:
    """Deterministic, seed-free assignment, so calibration and evaluation agree."""
    h = int.from_bytes(hashlib.sha256(segment.encode("utf-8")).digest()[:8], "big") / 2**64
    edge = 0.0
    for part, weight in zip(PARTS, PART_WEIGHTS):
        edge += weight
        if h < edge:
            return part
    return PARTS[-1]


def discover(data_dir: Path) -> list[Path]:
    """Corpus directories under data_dir (or data_dir itself if it is one)."""
    data_dir = Path(data_dir)
    if (data_dir / LANG_FILES["en"]).exists():
        return [data_dir]
    found = sorted(p for p in data_dir.iterdir() if p.is_dir() and (p / LANG_FILES["en"]).exists())
    if not found:
        raise FileNotFoundError(f"no line-aligned corpus (eng.txt, urd.txt, pus.txt) under {data_dir}")
    return found
