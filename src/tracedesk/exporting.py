"""Export spans, traces or evaluations of any filter to CSV or Parquet, streamed chunk by chunk.

    import tracedesk
    ws = tracedesk.open("traces.db")
    ws.export("spans", "spans.parquet", filters=tracedesk.Filters(dims={"route": ["billing"]}))

Rows come from `tracedesk.store.export.iter_rows` (one cursor, `chunk_rows` at a time), so memory stays at
one chunk whatever the size. CSV needs nothing extra; Parquet uses pyarrow (a Streamlit dependency,
so installed with tracedesk), and each chunk becomes one row group with the schema of the table declaration.
Columns are the stored ones: times in Unix ns, JSON columns (attributes, messages) as JSON text.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from typing import IO, Any

from .errors import InputError, choices_hint

FORMATS = ("csv", "parquet")


class ExportError(InputError):
    """An export request that cannot be done (unknown format or kind, path not writable)."""


@dataclass
class ExportReport:
    what: str
    format: str
    path: str
    rows: int
    chunks: int

    def line(self) -> str:
        return f"wrote {self.rows:,} {self.what} to {self.path} ({self.format}, {self.chunks} chunk(s))"


def format_for(path: str, given: str | None) -> str:
    """The format named, else the one the file extension says, else csv."""
    fmt = (given or os.path.splitext(path)[1].lstrip(".") or "csv").lower()
    if fmt == "pq":
        fmt = "parquet"
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; {choices_hint(fmt, FORMATS)}")
    return fmt


def export(db: Any, what: str, path: str, *, format: str | None = None, filters: Any = None,  # noqa: A002
           chunk_rows: int | None = None) -> ExportReport:
    """Write the rows of `what` (spans / traces / evaluations) matching `filters` to `path`."""
    fmt = format_for(path, format)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ExportError(f"cannot write {path!r}: folder {parent!r} does not exist")
    if fmt == "parquet":
        _pyarrow()  # before creating the file
    with open(path, "wb") as fh:
        rows, chunks = write(db, what, fh, fmt, filters=filters, chunk_rows=chunk_rows)
    return ExportReport(what, fmt, path, rows, chunks)


def to_bytes(db: Any, what: str, fmt: str = "csv", *, filters: Any = None) -> bytes:
    """The whole export in memory (for a download button)."""
    buf = io.BytesIO()
    write(db, what, buf, format_for("", fmt), filters=filters)
    return buf.getvalue()


def write(db: Any, what: str, fh: IO[bytes], fmt: str, *, filters: Any = None,
          chunk_rows: int | None = None) -> tuple[int, int]:
    """Stream the export into a binary file object; returns (rows, chunks)."""
    from .store import export as store_export

    cols = store_export.columns(db, what)
    chunks = store_export.iter_rows(db, what, filters, chunk_rows=chunk_rows or store_export.DEFAULT_CHUNK_ROWS)
    if fmt == "csv":
        return _write_csv(fh, [c for c, _ in cols], chunks)
    return _write_parquet(fh, cols, chunks)


def _write_csv(fh: IO[bytes], names: list[str], chunks: Any) -> tuple[int, int]:
    text = io.TextIOWrapper(fh, encoding="utf-8", newline="", write_through=True)
    try:
        out = csv.writer(text)
        out.writerow(names)
        rows = n_chunks = 0
        for chunk in chunks:
            out.writerows(chunk)
            rows += len(chunk)
            n_chunks += 1
        text.flush()
    finally:
        text.detach()  # leave the caller's file open
    return rows, n_chunks


def _pyarrow() -> Any:
    from .extras import require

    require("parquet")
    import pyarrow
    import pyarrow.parquet

    return pyarrow


_ARROW_TYPES = {"INTEGER": "int64", "REAL": "float64", "TEXT": "string", "BLOB": "binary"}


def _write_parquet(fh: IO[bytes], cols: list[tuple[str, str]], chunks: Any) -> tuple[int, int]:
    pa = _pyarrow()
    import pyarrow.parquet as pq

    schema = pa.schema([(name, getattr(pa, _ARROW_TYPES.get(decl, "string"))()) for name, decl in cols])
    rows = n_chunks = 0
    with pq.ParquetWriter(fh, schema) as writer:
        for chunk in chunks:
            columns = list(zip(*chunk))
            arrays = [pa.array(_coerce(columns[i], field.type, pa), type=field.type)
                      for i, field in enumerate(schema)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            rows += len(chunk)
            n_chunks += 1
        if not n_chunks:  # an empty export is still a readable file with the columns
            writer.write_table(schema.empty_table())
    return rows, n_chunks


def _coerce(values: tuple[Any, ...], arrow_type: Any, pa: Any) -> list[Any]:
    """SQLite is dynamically typed: a TEXT column may hold a number, an INTEGER one a float. Make each
    value fit its declared type instead of failing the export."""
    if pa.types.is_string(arrow_type):
        return [None if v is None else (v if isinstance(v, str) else str(v)) for v in values]
    if pa.types.is_integer(arrow_type):
        return [None if v is None else (v if isinstance(v, int) else _int_or_none(v)) for v in values]
    if pa.types.is_floating(arrow_type):
        return [None if v is None else _float_or_none(v) for v in values]
    return list(values)


def _int_or_none(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _float_or_none(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None
