"""Bulk reads for export: spans, traces or evaluations of any Filters, streamed in chunks.

One cursor walks the result and hands out `chunk_rows` rows at a time, so an export of millions of spans
holds one chunk in memory, never the table. Column types come from the table declaration (not from the
values of the first chunk), so every Parquet row group has the same schema even when a column is all
NULL in one chunk.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlite_utils

from ..errors import choices_hint
from .blobs import codec, column_sql
from .query import Filters, trace_ids_sql

#: what can be exported -> (table, alias, ORDER BY)
EXPORTABLE: dict[str, tuple[str, str, str]] = {
    "spans": ("spans", "s", "s.start_ns, s.trace_id, s.span_id"),
    "traces": ("traces", "t", "t.start_ns, t.trace_id"),
    "evaluations": ("evaluations", "e", "e.trace_id, e.span_id, e.name"),
}
DEFAULT_CHUNK_ROWS = 50_000


def columns(db: sqlite_utils.Database, what: str) -> list[tuple[str, str]]:
    """(column, declared SQLite type: INTEGER / REAL / TEXT / ...) of the exported table, in table order."""
    table = _table(what)[0]
    return [(str(r[1]), str(r[2] or "").upper()) for r in db.execute(f"PRAGMA table_info({table})")]


def _table(what: str) -> tuple[str, str, str]:
    if what not in EXPORTABLE:
        from .query import FilterError

        raise FilterError(f"cannot export {what!r}; {choices_hint(what, EXPORTABLE)}")
    return EXPORTABLE[what]


def _where(what: str, filters: Filters | None) -> tuple[str, list[Any]]:
    alias = _table(what)[1]
    if filters is None or filters.is_empty():
        return "1", []
    sub, params = trace_ids_sql(filters)
    return f"{alias}.trace_id IN ({sub})", list(params)


def export_sql(what: str, filters: Filters | None, cols: list[str]) -> tuple[str, list[Any]]:
    table, alias, order = _table(what)
    where, params = _where(what, filters)
    # Spans' compacted columns (deflated attributes/events, resource ids) are written as the JSON text
    # they stand for: an export is read by other tools.
    select = ", ".join(f"{column_sql(c, alias)} AS {c}" if table == "spans" else f"{alias}.{c}" for c in cols)
    return f"SELECT {select} FROM {table} {alias} WHERE {where} ORDER BY {order}", list(params)


def iter_rows(db: sqlite_utils.Database, what: str, filters: Filters | None = None, *,
              chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[list[tuple[Any, ...]]]:
    """Lists of at most `chunk_rows` row tuples (columns as `columns(db, what)`), in a stable order."""
    cols = [c for c, _ in columns(db, what)]
    sql, params = export_sql(what, filters, cols)
    codec(db)  # td_json() also on a handle not opened by store.connect()
    cur = db.conn.execute(sql, params)  # its own cursor: fetchmany streams from SQLite
    try:
        while True:
            rows = cur.fetchmany(max(1, int(chunk_rows)))
            if not rows:
                return
            yield rows
    finally:
        cur.close()


def count(db: sqlite_utils.Database, what: str, filters: Filters | None = None) -> int:
    """How many rows `iter_rows` would yield."""
    table, alias, _ = _table(what)
    where, params = _where(what, filters)
    return int(db.execute(f"SELECT COUNT(*) FROM {table} {alias} WHERE {where}", params).fetchone()[0])
