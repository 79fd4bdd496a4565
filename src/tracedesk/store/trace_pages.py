"""One trace a page at a time, for traces too big to read whole (a 100k-span agent run took 33-62 s to
draw on the Trace page: every span decoded, a tree, a waterfall and a graph of 100k nodes).

Spans are paged in start order — (start_ns, span_id), spans without a start first, the order of
`query.trace_spans` — with LIMIT/OFFSET over the trace's primary-key range: only the page's rows are
decoded. `span_position` finds the page that holds a given span, so a link to a span deep in the trace
still opens it. `step_counts` is the trajectory reduced to a table: the trace's steps grouped by kind
and name, one aggregate pass instead of a graph with one node per span.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
import sqlite_utils

#: JSON text columns decoded for the span detail (the same set as query.trace_spans).
_JSON_COLUMNS = ("dims", "input_messages", "output_messages", "documents", "retrieved_doc_ids", "attributes",
                 "resource", "events")
_ORDER = "start_ns, span_id"


@dataclass(frozen=True)
class TracePage:
    """One page of a trace's spans in start order: spans[offset : offset + page_size]."""

    trace_id: str
    span_count: int
    page: int  # 0-based
    page_size: int
    spans: pd.DataFrame  # every column, JSON decoded, in start order (as Workspace.trace)
    evaluations: pd.DataFrame  # of the page's spans and of the trace as a whole

    @property
    def page_count(self) -> int:
        return max(1, -(-self.span_count // self.page_size))

    @property
    def first(self) -> int:
        """1-based position of the page's first span (0 when the trace has no spans)."""
        return min(self.span_count, self.page * self.page_size + 1)

    @property
    def last(self) -> int:
        """1-based position of the page's last span."""
        return min(self.span_count, (self.page + 1) * self.page_size)


def span_count(db: sqlite_utils.Database, trace_id: str) -> int:
    """The number of stored spans of one trace (counted on the primary key, not the summary, which may
    wait for a deferred refresh)."""
    return int(db.execute("SELECT COUNT(*) FROM spans WHERE trace_id = ?", [trace_id]).fetchone()[0])


def span_position(db: sqlite_utils.Database, trace_id: str, span_id: str) -> int | None:
    """0-based position of a span in its trace's start order, or None if the trace has no such span."""
    row = db.execute("SELECT start_ns FROM spans WHERE trace_id = ? AND span_id = ?", [trace_id, span_id]).fetchone()
    if row is None:
        return None
    if row[0] is None:  # NULL starts sort first, among themselves by span id
        sql = "SELECT COUNT(*) FROM spans WHERE trace_id = ? AND start_ns IS NULL AND span_id < ?"
        params: list[object] = [trace_id, span_id]
    else:
        sql = ("SELECT COUNT(*) FROM spans WHERE trace_id = ? AND (start_ns IS NULL OR start_ns < ? "
               "OR (start_ns = ? AND span_id < ?))")
        params = [trace_id, row[0], row[0], span_id]
    return int(db.execute(sql, params).fetchone()[0])


def span_page(db: sqlite_utils.Database, trace_id: str, offset: int, limit: int) -> pd.DataFrame:
    """Every column of spans[offset : offset + limit] of one trace in start order, JSON decoded."""
    from . import SPAN_COLUMN_NAMES
    from .blobs import column_sql
    from .query import _add_time, frame

    select = ", ".join(f"{column_sql(c)} AS {c}" for c in SPAN_COLUMN_NAMES)
    # the page's rowids first (the sort reads only the key columns), then only those rows are decoded
    df = frame(db, f"WITH page AS (SELECT rowid AS rid FROM spans WHERE trace_id = ? ORDER BY {_ORDER} "
                   f"LIMIT ? OFFSET ?) SELECT {select} FROM page CROSS JOIN spans s ON s.rowid = page.rid "
                   f"ORDER BY s.start_ns, s.span_id", [trace_id, int(limit), int(offset)])
    for col in _JSON_COLUMNS:
        if col in df.columns:
            df[col] = [json.loads(v) if isinstance(v, str) and v else None for v in df[col]]
    return _add_time(df)


def span_evaluations(db: sqlite_utils.Database, trace_id: str, span_ids: Sequence[str]) -> pd.DataFrame:
    """Evaluation rows of the given spans of a trace and of the trace itself (span_id NULL), with the
    columns and order of query.evaluations."""
    from .query import EVAL_COLUMNS, frame

    ids = list(span_ids)
    marks = ",".join("?" for _ in ids) or "NULL"
    df = frame(db, f"SELECT {', '.join('e.' + c for c in EVAL_COLUMNS)} FROM evaluations e WHERE e.trace_id = ? "
                   f"AND (e.span_id IS NULL OR e.span_id IN ({marks})) ORDER BY e.trace_id, e.span_id, e.name",
               [trace_id, *ids])
    df["passed"] = df["passed"].map(lambda v: None if v is None or pd.isna(v) else bool(v)).astype(object)
    return df


def trace_page(db: sqlite_utils.Database, trace_id: str, page_size: int, *, page: int | None = None,
               span_id: str | None = None) -> TracePage:
    """Page `page` (0-based, clamped to the last page) of a trace; without `page`, the page holding
    `span_id` (the first page if the trace has no such span)."""
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, got {page_size}")
    count = span_count(db, trace_id)
    if page is None:
        pos = span_position(db, trace_id, span_id) if span_id else None
        page = (pos or 0) // page_size
    last_page = max(0, -(-count // page_size) - 1)
    page = min(max(0, int(page)), last_page)
    spans = span_page(db, trace_id, page * page_size, page_size)
    evals = span_evaluations(db, trace_id, list(spans["span_id"]) if not spans.empty else [])
    return TracePage(trace_id, count, page, page_size, spans, evals)


def step_counts(db: sqlite_utils.Database, trace_id: str, kinds: Iterable[str]) -> pd.DataFrame:
    """The trace's spans of the given kinds grouped by (kind, step): step is the agent's, tool's or model's
    name as the trajectory graph labels it, else the span name. Columns kind, step, spans, errors,
    total_ms, cost_usd, first_start_ns; in order of first appearance. cost_usd sums the spans the trace's
    own cost counts (`usage_counted`: not a parent whose descendants report the same usage), so the
    steps add up to the trace's cost."""
    from .query import frame

    wanted = sorted(set(kinds))
    marks = ",".join("?" for _ in wanted) or "NULL"
    step = ("CASE WHEN kind = 'AGENT' AND agent_name IS NOT NULL AND agent_name != '' THEN agent_name "
            "WHEN kind = 'TOOL' AND tool_name IS NOT NULL AND tool_name != '' THEN tool_name "
            "WHEN kind = 'LLM' AND model IS NOT NULL AND model != '' THEN model "
            "ELSE COALESCE(NULLIF(name, ''), '(no name)') END")
    return frame(db, f"SELECT kind, {step} AS step, COUNT(*) AS spans, "
                     "SUM(CASE WHEN status = 'ERROR' THEN 1 ELSE 0 END) AS errors, "
                     "SUM(duration_ms) AS total_ms, SUM(CASE WHEN usage_counted THEN cost_usd END) AS cost_usd, "
                     "MIN(start_ns) AS first_start_ns "
                     f"FROM spans WHERE trace_id = ? AND kind IN ({marks}) GROUP BY 1, 2 "
                     "ORDER BY first_start_ns, kind, step", [trace_id, *wanted])
