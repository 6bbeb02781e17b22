"""Reading reference lists and archives: JSONL, CSV or Parquet, row by row.

Every input row comes out, in file order, either as a :class:`Record` or as a
:class:`Reject` that says why it cannot be used (invalid UTF-8, bad JSON, a
missing id, empty text). Nothing is dropped silently and nothing is fatal, so a
bad row in a million costs one line in the rejects file, not the run.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

from service.core import InvalidInput

Format = Literal["jsonl", "csv", "parquet"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv", "parquet")
# CSV has no lists: labels are written "org:example|type:call".
CSV_LABEL_SEPARATOR = "|"
PARQUET_READ_ROWS = 8192


@dataclass(frozen=True)
class Columns:
    id: str = "id"
    text: str = "text"
    bank: str = "bank"
    labels: str = "labels"
    lang: str = "lang"


@dataclass(frozen=True)
class Record:
    seq: int  # 0-based position among the input's rows
    line: int  # line (JSONL, CSV) or row number (Parquet), 1-based, for people
    id: str
    text: str
    bank: str = ""
    labels: tuple[str, ...] = ()
    lang: str = ""


@dataclass(frozen=True)
class Reject:
    seq: int
    line: int
    id: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"row": self.seq, "line": self.line, "id": self.id, "reason": self.reason}


Row = Record | Reject


def detect_format(path: Path, given: str | None = None) -> Format:
    if given:
        if given not in FORMATS:
            raise InvalidInput("format", f"unknown input format {given!r}; use one of {', '.join(FORMATS)}")
        return given
    suffix = Path(path).suffix.lower()
    for fmt, suffixes in (("jsonl", (".jsonl", ".ndjson", ".json")), ("csv", (".csv",)), ("parquet", (".parquet", ".pq"))):
        if suffix in suffixes:
            return fmt  # type: ignore[return-value]
    raise InvalidInput("input", f"cannot tell the format of {path} from its name; pass --format jsonl|csv|parquet")


def read_rows(path: Path, columns: Columns = Columns(), fmt: str | None = None) -> Iterator[Row]:
    """Every row of ``path``, in order, as a Record or a Reject."""
    kind = detect_format(path, fmt)
    raw = {"jsonl": _jsonl, "csv": _csv, "parquet": _parquet}[kind](Path(path))
    for seq, (line, values) in enumerate(raw):
        yield _to_row(seq, line, values, columns)


def _to_row(seq: int, line: int, values: dict[str, Any] | str, columns: Columns) -> Row:
    if isinstance(values, str):  # the reader already knows why the row is bad
        return Reject(seq, line, None, values)
    raw_id = values.get(columns.id)
    ref_id = "" if raw_id is None else str(raw_id).strip()
    if not ref_id:
        return Reject(seq, line, None, f"missing id (column {columns.id!r})")
    text = values.get(columns.text)
    if text is None:
        return Reject(seq, line, ref_id, f"missing text (column {columns.text!r})")
    if not isinstance(text, str):
        return Reject(seq, line, ref_id, f"text (column {columns.text!r}) is a {type(text).__name__}, not a string")
    if not text.strip():
        return Reject(seq, line, ref_id, "empty text")
    labels = values.get(columns.labels) or ()
    if isinstance(labels, str):
        labels = [part for part in labels.split(CSV_LABEL_SEPARATOR) if part.strip()]
    if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels):
        return Reject(seq, line, ref_id, f"labels (column {columns.labels!r}) must be a list of strings")
    return Record(
        seq=seq,
        line=line,
        id=ref_id,
        text=text,
        bank=str(values.get(columns.bank) or ""),
        labels=tuple(labels),
        lang=str(values.get(columns.lang) or ""),
    )


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue  # a blank line is no row (files often end with one)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield line_no, f"invalid UTF-8 at byte {exc.start}"
                continue
            try:
                values = json.loads(text)
            except json.JSONDecodeError as exc:
                yield line_no, f"invalid JSON: {exc.msg} at column {exc.colno}"
                continue
            yield line_no, values if isinstance(values, dict) else f"expected a JSON object, got {type(values).__name__}"


def _csv(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    with path.open("rb") as fh:
        # surrogateescape keeps undecodable bytes visible, so the row can be rejected rather than the file.
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.DictReader(text)
        for values in reader:
            line_no = reader.line_num
            bad = [k for k, v in values.items() if isinstance(v, str) and _has_surrogates(v)]
            if bad:
                yield line_no, f"invalid UTF-8 in column {bad[0]!r}"
                continue
            if None in values:
                yield line_no, f"{len(values[None])} more fields than the header has"
                continue
            yield line_no, dict(values)


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _parquet(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    row_no = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=PARQUET_READ_ROWS):
        cols: dict[str, list[Any]] = {}
        for name, column in zip(batch.schema.names, batch.columns):
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                # Parquet writers other than Arrow do not always validate UTF-8; decode here, per value.
                column = column.cast(pa.binary()) if pa.types.is_string(column.type) else column.cast(pa.large_binary())
            cols[name] = column.to_pylist()
        for i in range(batch.num_rows):
            row_no += 1
            values: dict[str, Any] = {}
            reason = ""
            for name, col in cols.items():
                value = col[i]
                if isinstance(value, bytes):
                    try:
                        value = value.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        reason = f"invalid UTF-8 in column {name!r} at byte {exc.start}"
                        break
                values[name] = value
            yield row_no, reason or values
