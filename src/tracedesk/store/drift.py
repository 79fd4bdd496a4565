"""The reads behind drift reports: only the columns each family needs, for the two windows, with the
cohort value of each row.

Heavy text is never pulled in bulk: lengths, the refusal flag and the JSON/tool-call flags are computed
inside SQLite, and raw prompt text is fetched by rowid for a bounded sample per cohort. Rows come back
with their cohort as SQL reads it ("(none)" when missing, membership lists unsplit); drift.load labels
the windows and finishes the cohorts.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np
import pandas as pd
import sqlite_utils

from .. import cohorts
from ..cohorts import NO_VALUE
from . import cohort_sql as _cohort_sql

#: The cohort of every row when a report is not sliced by any dimension.
ALL = "all"

#: Deterministic pseudo-random row sample: a multiplicative hash of the rowid, so rows written in a
#: fixed pattern (every 3rd span is an LLM call) are not aliased by a plain `rowid % k`. It reads only
#: the rowid, which the (kind, start_ns) index carries, so skipped rows are never fetched.
_SAMPLE_SQL = "((s.rowid * 2654435761) % 4294967291) % {k} = 0"

Strides = dict[str, dict[str, int]]


class Window(Protocol):
    """A [start_ns, end_ns) window (drift.windows.Window)."""

    @property
    def start_ns(self) -> int: ...

    @property
    def end_ns(self) -> int: ...


def data_bounds(db: sqlite_utils.Database) -> tuple[int, int] | None:
    """(oldest, newest) span start in the store, or None when it holds no spans."""
    from .samples import span_range

    return span_range(db)


def evaluation_rows(db: sqlite_utils.Database) -> int:
    """Evaluation rows in the store (drift caps its evaluation sample by the table's size: there is no
    time index on evaluations)."""
    return int(db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] or 0)


def cohort_sql(dimension: cohorts.Dimension | None, span: str = "s", trace_id: str | None = None,
               db: sqlite_utils.Database | None = None) -> str:
    """SQL for the cohort value of a span row (`tracedesk.cohorts`: its own value, else its trace's,
    looked up only for rows that lack it); `trace_id` names the trace (default: the span's). Missing
    values read "(none)"; without a dimension every row is "all"."""
    if dimension is None:
        return f"'{ALL}'"
    value = _cohort_sql.span_value_sql(dimension, span, None, trace_id=trace_id, db=db)
    return f"COALESCE({value}, '{NO_VALUE}')"


def _eval_cohort_sql(dimension: cohorts.Dimension | None, db: sqlite_utils.Database) -> str:
    if dimension is None:
        return f"'{ALL}'"
    value = _cohort_sql.eval_value_sql(dimension, "s", None, trace_id="e.trace_id", db=db)
    return f"COALESCE({value}, '{NO_VALUE}')"


def window_strides(db: sqlite_utils.Database, kind: str, ref: Window, cur: Window, max_rows: int) -> Strides:
    """Rows of `kind` per window (from the index alone) and the 1-in-k stride that caps each at max_rows."""
    out = {}
    for name, w in (("reference", ref), ("current", cur)):
        n = db.execute("SELECT COUNT(*) FROM spans WHERE kind = ? AND start_ns >= ? AND start_ns < ?",
                       [kind, w.start_ns, w.end_ns]).fetchone()[0]
        out[name] = {"rows": int(n), "stride": max(1, -(-int(n) // max_rows)) if max_rows else 1}
    return out


def _windows_sql(column: str, ref: Window, cur: Window) -> tuple[str, list[int]]:
    return (
        f"(({column} >= ? AND {column} < ?) OR ({column} >= ? AND {column} < ?))",
        [ref.start_ns, ref.end_ns, cur.start_ns, cur.end_ns],
    )


def _windows_sampled(column: str, ref: Window, cur: Window, strides: Strides) -> tuple[str, list[int]]:
    parts, params = [], []
    for name, w in (("reference", ref), ("current", cur)):
        k = strides[name]["stride"]
        sample = f" AND {_SAMPLE_SQL.format(k=k)}" if k > 1 else ""
        parts.append(f"({column} >= ? AND {column} < ?{sample})")
        params += [w.start_ns, w.end_ns]
    return "(" + " OR ".join(parts) + ")", params


def _frame(rows: list[tuple[object, ...]], columns: dict[str, str]) -> pd.DataFrame:
    """Columns from fetched rows: 'f' float (None -> NaN), 'i' int64, 'o' object. Faster than from_records."""
    cols = list(zip(*rows)) if rows else [() for _ in columns]
    data = {}
    for (name, kind), values in zip(columns.items(), cols):
        if kind == "f":
            data[name] = np.array(values, dtype=float)
        elif kind == "i":
            data[name] = np.array(values, dtype=np.int64)
        else:
            data[name] = np.array(values, dtype=object)
    return pd.DataFrame(data)


def trace_ids_for(db: sqlite_utils.Database, table: str, rowids: Iterable[int]) -> dict[int, str]:
    """rowid -> trace_id for the few rows picked as examples (trace ids are not read in bulk)."""
    if table not in ("spans", "evaluations"):
        raise ValueError(f"table must be spans or evaluations, not {table!r}")
    ids = sorted({int(r) for r in rowids})
    out: dict[int, str] = {}
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        marks = ",".join("?" for _ in chunk)
        out.update(db.execute(f"SELECT rowid, trace_id FROM {table} WHERE rowid IN ({marks})", chunk).fetchall())
    return out


def llm_rows(db: sqlite_utils.Database, dimension: cohorts.Dimension | None, ref: Window, cur: Window,
             strides: Strides) -> pd.DataFrame:
    """One row per (sampled) LLM span in either window: rowid, start_ns, cohort, input/output lengths and
    tokens, refusal, json_output, tool_call, finish_reason; each value NULL on a span that does not stand for
    it (a wrapper LLM span's, store.llm_roles)."""
    from .blobs import codec
    from .llm_roles import ANSWER_SQL, CALL_SQL
    from .samples import register_functions

    register_functions(db)  # the one refusal check, with the database's phrase lists
    where, params = _windows_sampled("s.start_ns", ref, cur, strides)
    # one sample per provider request, as the registered signals read them (store.llm_roles): a wrapper's
    # prompt, finish reason and tool calls are its call's again; its answer is read only when no LLM span
    # below it holds text
    call, answer = ("1", "1") if not codec(db).llm_wrapper else (CALL_SQL, ANSWER_SQL)
    sql = f"""
        SELECT s.rowid, s.start_ns, {cohort_sql(dimension, db=db)},
               CASE WHEN {call} THEN COALESCE(length(s.input_text), length(td_json(s.input_messages))) END,
               -- tokens as the input_tokens / output_tokens signals read them: usage counted once
               CASE WHEN s.usage_counted THEN s.input_tokens END,
               CASE WHEN {answer} THEN length(s.output_text) END,
               CASE WHEN s.usage_counted THEN s.output_tokens END,
               -- every answer goes through the one detector (its verdicts are remembered per text): no
               -- first-letter shortcut, which would miss "Lo siento...", "My apologies..." and user phrases
               CASE WHEN s.output_text IS NULL OR NOT ({answer}) THEN NULL
                    ELSE td_is_refusal(substr(CAST(s.output_text AS BLOB), 1, 3200)) END,
               CASE WHEN (s.output_text IS NULL AND s.output_messages IS NULL) OR NOT ({answer}) THEN NULL
                    ELSE substr(ltrim(COALESCE(s.output_text, '')), 1, 1) IN ('{{', '[') END,
               -- CASE, not OR: only a span whose finish reason does not say it decompresses its messages
               CASE WHEN NOT ({call}) THEN NULL
                    WHEN COALESCE(s.finish_reason, '') IN ('tool_calls', 'tool_call', 'tool_use', 'function_call')
                    THEN 1 WHEN s.output_messages IS NULL THEN 0
                    ELSE instr(td_json(s.output_messages), '"tool_calls"') > 0 END,
               CASE WHEN {call} THEN s.finish_reason END
        FROM spans s INDEXED BY idx_spans_kind_start
        WHERE s.kind = 'LLM' AND {where}
    """
    columns = {"rowid": "i", "start_ns": "i", "cohort": "o", "input_length": "f", "input_tokens": "f",
               "output_length": "f", "output_tokens": "f", "refusal": "f", "json_output": "f", "tool_call": "f",
               "finish_reason": "o"}
    return _frame(db.execute(sql, params).fetchall(), columns)


def input_texts(db: sqlite_utils.Database, rowids: Sequence[int], limit: int = 600) -> dict[int, str]:
    """Input text (first `limit` chars) for the given span rowids."""
    from .blobs import codec

    codec(db)  # td_json(): input_messages is stored deflated
    out: dict[int, str] = {}
    ids = [int(r) for r in rowids]
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        marks = ",".join("?" for _ in chunk)
        for rowid, text in db.execute(
            f"SELECT rowid, substr(COALESCE(input_text, td_json(input_messages)), 1, {int(limit)}) FROM spans "
            f"WHERE rowid IN ({marks})",
            chunk,
        ):
            if text:
                out[rowid] = text
    return out


def retrieval_rows(db: sqlite_utils.Database, dimension: cohorts.Dimension | None, ref: Window, cur: Window,
                   strides: Strides) -> pd.DataFrame:
    """One row per (sampled) RETRIEVER span: rowid, start_ns, cohort, latency_ms, the top document's
    score (doc_score) and the raw retrieved_doc_ids JSON (doc_ids).

    Only the first document's score is read: pulling every score means parsing each `documents`
    JSON (with its passages) in full, which costs more than the rest of the drift report."""
    where, params = _windows_sampled("s.start_ns", ref, cur, strides)
    sql = f"""
        SELECT s.rowid, s.start_ns, {cohort_sql(dimension, db=db)}, s.duration_ms,
               json_extract(td_json(s.documents), '$[0].score'), s.retrieved_doc_ids
        FROM spans s INDEXED BY idx_spans_kind_start
        WHERE s.kind = 'RETRIEVER' AND {where}
    """
    columns = {"rowid": "i", "start_ns": "i", "cohort": "o", "latency_ms": "f", "doc_score": "f", "doc_ids": "o"}
    return _frame(db.execute(sql, params).fetchall(), columns)


def evaluation_rows_in(db: sqlite_utils.Database, dimension: cohorts.Dimension | None, ref: Window, cur: Window,
                       stride: int = 1) -> pd.DataFrame:
    """One row per (sampled) scored evaluation: rowid, name, score, start_ns, cohort — timed by its
    trace's start (as every evaluation signal: when the traffic happened, not when the judge ran)."""
    ts = "COALESCE((SELECT tt.start_ns FROM traces tt WHERE tt.trace_id = e.trace_id), e.created_ns)"
    where, params = _windows_sql(ts, ref, cur)
    if stride > 1:
        where += " AND " + _SAMPLE_SQL.format(k=int(stride)).replace("s.rowid", "e.rowid")
    sql = f"""
        SELECT e.rowid, e.name, COALESCE(e.score, e.passed), {ts}, {_eval_cohort_sql(dimension, db)}
        FROM evaluations e
        LEFT JOIN spans s ON s.trace_id = e.trace_id AND s.span_id = e.span_id
        WHERE e.error IS NULL AND COALESCE(e.score, e.passed) IS NOT NULL AND {where}
    """
    columns = {"rowid": "i", "name": "o", "score": "f", "start_ns": "i", "cohort": "o"}
    return _frame(db.execute(sql, params).fetchall(), columns)
