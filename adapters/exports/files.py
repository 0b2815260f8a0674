"""Export files written as a stream of byte chunks: CSV, Parquet (pyarrow) and JSON.

Rows are taken ``ROWS_PER_CHUNK`` at a time and each chunk is encoded and handed on before the next
is read, so memory stays flat whatever the range. Parquet writes one row group per chunk and its
footer at the end.

- CSV: a header row, ISO dates (timestamps ``…Z``), ``.`` decimals, empty cells for missing values;
  a text cell that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a
  tab or a carriage return) gets a leading ``'``, as OWASP advises.
- Parquet: the dataset's column types (date32, timestamp[s, UTC], string, int64, float64); each
  field's unit and description in its metadata, and the dataset's name, description and formula
  version in the schema's metadata.
- JSON: ``{"dataset", "from", "to", "formula_version", "columns", "rows": [{…}, …]}``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any, Final, Literal

import msgspec
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from application.reporting.exports import Column, Dataset

__all__ = ["FORMATS", "MEDIA_TYPES", "ROWS_PER_CHUNK", "Format", "arrow_schema", "encode"]

Format = Literal["csv", "parquet", "json"]
FORMATS: Final[tuple[Format, ...]] = ("csv", "parquet", "json")
MEDIA_TYPES: Final[dict[Format, str]] = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "json": "application/json",
}
ROWS_PER_CHUNK: Final = 1000
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_ARROW_TYPES: Final = {
    "date": pa.date32(),
    "timestamp": pa.timestamp("s", tz="UTC"),
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
}


def encode(dataset: Dataset, rows: Iterable[dict[str, Any]], fmt: Format, first: date, last: date) -> Iterator[bytes]:
    """The file, chunk by chunk."""
    chunks = _chunks(rows)
    if fmt == "csv":
        return _csv(dataset, chunks)
    if fmt == "parquet":
        return _parquet(dataset, chunks)
    return _json(dataset, chunks, first, last)


def arrow_schema(dataset: Dataset) -> pa.Schema:
    fields = [
        pa.field(c.name, _ARROW_TYPES[c.type], metadata={"unit": c.unit, "description": c.description})
        for c in dataset.columns
    ]
    metadata = {"dataset": dataset.name, "description": dataset.description}
    if dataset.formula_version:
        metadata["formula_version"] = dataset.formula_version
    return pa.schema(fields, metadata=metadata)


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    found = iter(rows)
    while chunk := list(islice(found, ROWS_PER_CHUNK)):
        yield chunk


def _csv(dataset: Dataset, chunks: Iterator[list[dict[str, Any]]]) -> Iterator[bytes]:
    names = [c.name for c in dataset.columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(names)
    yield buffer.getvalue().encode()
    for chunk in chunks:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([_csv_cell(row.get(c.name), c) for c in dataset.columns] for row in chunk)
        yield buffer.getvalue().encode()


def _csv_cell(value: Any, column: Column) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if column.type == "float64":
        return repr(float(value))  # always '.', whatever the locale
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


class _Sink:
    """A write-only file for pyarrow that keeps what was written until it is taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(self._parts[-1])

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        taken, self._parts = b"".join(self._parts), []
        return taken


def _parquet(dataset: Dataset, chunks: Iterator[list[dict[str, Any]]]) -> Iterator[bytes]:
    schema = arrow_schema(dataset)
    sink = _Sink()
    with pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema) as writer:
        wrote = False
        for chunk in chunks:
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            wrote = True
            yield sink.take()
        if not wrote:  # a file with no rows still has its schema
            writer.write_table(schema.empty_table())
    yield sink.take()


def _json(dataset: Dataset, chunks: Iterator[list[dict[str, Any]]], first: date, last: date) -> Iterator[bytes]:
    head = {
        "dataset": dataset.name,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "formula_version": dataset.formula_version,
        "columns": dataset.columns,
    }
    yield msgspec.json.encode(head)[:-1] + b',"rows":['
    separator = b""
    for chunk in chunks:
        encoded = b",".join(msgspec.json.encode({c.name: row.get(c.name) for c in dataset.columns}) for row in chunk)
        yield separator + encoded
        separator = b","
    yield b"]}"
