"""Read queries for drift: only the columns each family needs, for the two windows, with the cohort.

Heavy text is never pulled in bulk: lengths, the refusal flag and the JSON/tool-call flags are
computed inside SQLite, and raw prompt text is fetched by rowid for a bounded sample per cohort.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import orjson
import pandas as pd
import sqlite_utils

from .. import cohorts
from ..cohorts import NO_VALUE, model_family  # noqa: F401  (model_family: importable from here as before)
from ..store import cohort_sql as _cohort_sql
from .windows import DriftError, Window

MODEL_FAMILY = cohorts.MODEL_FAMILY.name
ALL = "all"


def _dimension(dimension: str) -> cohorts.Dimension:
    try:
        return cohorts.resolve(dimension, bare_mapped=True)
    except cohorts.CohortError as exc:
        raise DriftError(str(exc)) from None


def cohort_sql(dimension: str | None, span: str = "s", trace_id: str | None = None,
               db: sqlite_utils.Database | None = None) -> str:
    """SQL for the cohort value of a span row (`tracedesk.cohorts`: its own value, else its trace's,
    looked up only for rows that lack it); `trace_id` names the trace (default: the span's). Missing
    values read "(none)"; membership lists and model families are finished by `finish_cohorts`."""
    if dimension is None:
        return f"'{ALL}'"
    value = _cohort_sql.span_value_sql(_dimension(dimension), span, None, trace_id=trace_id, db=db)
    return f"COALESCE({value}, '{NO_VALUE}')"


def _eval_cohort_sql(dimension: str | None, db: sqlite_utils.Database) -> str:
    if dimension is None:
        return f"'{ALL}'"
    value = _cohort_sql.eval_value_sql(_dimension(dimension), "s", None, trace_id="e.trace_id", db=db)
    return f"COALESCE({value}, '{NO_VALUE}')"


def available_dimensions(db: sqlite_utils.Database) -> list[str]:
    """Dimensions drift can slice by: every built-in one, model_family, and the mapped dims keys."""
    return cohorts.available(_cohort_sql.mapped_keys(db), derived=True)


def finish_cohorts(df: pd.DataFrame, dimension: str | None) -> pd.DataFrame:
    """Cohort values SQL does not compute: a row whose trace lists several models/agents counts in each
    (membership, as everywhere else), and model families."""
    if dimension is None or df.empty:
        return df
    dim = _dimension(dimension)
    out = _cohort_sql.explode(df.assign(cohort=df["cohort"].where(df["cohort"] != NO_VALUE, None)),
                              {"cohort": dim})
    out["cohort"] = out["cohort"].fillna(NO_VALUE)
    return out


def check_dimension(db: sqlite_utils.Database, dimension: str | None) -> None:
    if dimension is None:
        return
    known = available_dimensions(db)
    try:
        cohorts.resolve(dimension, _cohort_sql.mapped_keys(db))
    except cohorts.CohortError:
        raise DriftError(f"Unknown dimension {dimension!r}; choose one of: {', '.join(known)}.") from None


def _window_sql(column: str, ref: Window, cur: Window) -> tuple[str, list[int]]:
    return (
        f"(({column} >= ? AND {column} < ?) OR ({column} >= ? AND {column} < ?))",
        [ref.start_ns, ref.end_ns, cur.start_ns, cur.end_ns],
    )


def _label(times: np.ndarray, cur: Window) -> np.ndarray:
    """True for rows in the current window."""
    return (times >= cur.start_ns) & (times < cur.end_ns)


#: Deterministic pseudo-random row sample: a multiplicative hash of the rowid, so rows written in a
#: fixed pattern (every 3rd span is an LLM call) are not aliased by a plain `rowid % k`. It reads only
#: the rowid, which the (kind, start_ns) index carries, so skipped rows are never fetched.
_SAMPLE_SQL = "((s.rowid * 2654435761) % 4294967291) % {k} = 0"


def window_strides(db: sqlite_utils.Database, kind: str, ref: Window, cur: Window, max_rows: int) -> dict[str, dict[str, int]]:
    """Rows of `kind` per window (from the index alone) and the 1-in-k stride that caps each at max_rows."""
    out = {}
    for name, w in (("reference", ref), ("current", cur)):
        n = db.execute("SELECT COUNT(*) FROM spans WHERE kind = ? AND start_ns >= ? AND start_ns < ?",
                       [kind, w.start_ns, w.end_ns]).fetchone()[0]
        out[name] = {"rows": int(n), "stride": max(1, -(-int(n) // max_rows)) if max_rows else 1}
    return out


def _windows_sampled(column: str, ref: Window, cur: Window, strides: dict[str, dict[str, int]]) -> tuple[str, list[int]]:
    parts, params = [], []
    for name, w in (("reference", ref), ("current", cur)):
        k = strides[name]["stride"]
        sample = f" AND {_SAMPLE_SQL.format(k=k)}" if k > 1 else ""
        parts.append(f"({column} >= ? AND {column} < ?{sample})")
        params += [w.start_ns, w.end_ns]
    return "(" + " OR ".join(parts) + ")", params


def _frame(rows: list[tuple], columns: dict[str, str]) -> pd.DataFrame:
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
        raise ValueError(table)
    ids = sorted({int(r) for r in rowids})
    out: dict[int, str] = {}
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        marks = ",".join("?" for _ in chunk)
        out.update(db.execute(f"SELECT rowid, trace_id FROM {table} WHERE rowid IN ({marks})", chunk).fetchall())
    return out


def _ensure_functions(db: sqlite_utils.Database) -> None:
    from ..store.samples import register_functions

    register_functions(db)  # the one refusal check, with the database's phrase lists


def load_llm(db: sqlite_utils.Database, dimension: str | None, ref: Window, cur: Window,
             strides: dict[str, dict[str, int]]) -> pd.DataFrame:
    """One row per (sampled) LLM span in either window: lengths, tokens, output flags, finish reason."""
    _ensure_functions(db)
    where, params = _windows_sampled("s.start_ns", ref, cur, strides)
    sql = f"""
        SELECT s.rowid, s.start_ns, {cohort_sql(dimension, db=db)},
               COALESCE(length(s.input_text), length(s.input_messages)),
               -- tokens as the input_tokens / output_tokens signals read them: usage counted once
               CASE WHEN s.usage_counted THEN s.input_tokens END,
               length(s.output_text),
               CASE WHEN s.usage_counted THEN s.output_tokens END,
               CASE WHEN s.output_text IS NULL THEN NULL
                    -- a refusal opens with i/s/u/a after optional non-word characters: any other ASCII
                    -- letter or digit first means "no" without calling into Python
                    WHEN substr(s.output_text, 1, 1) GLOB '[0-9B-HJ-RTV-Zb-hj-rtv-z]' THEN 0
                    ELSE td_is_refusal(substr(CAST(s.output_text AS BLOB), 1, 3200)) END,
               CASE WHEN s.output_text IS NULL AND s.output_messages IS NULL THEN NULL
                    ELSE substr(ltrim(COALESCE(s.output_text, '')), 1, 1) IN ('{{', '[') END,
               (COALESCE(s.finish_reason, '') IN ('tool_calls', 'tool_call', 'tool_use', 'function_call')
                 OR instr(COALESCE(s.output_messages, ''), '"tool_calls"') > 0),
               s.finish_reason
        FROM spans s INDEXED BY idx_spans_kind_start
        WHERE s.kind = 'LLM' AND {where}
    """
    columns = {"rowid": "i", "start_ns": "i", "cohort": "o", "input_length": "f", "input_tokens": "f",
               "output_length": "f", "output_tokens": "f", "refusal": "f", "json_output": "f", "tool_call": "f",
               "finish_reason": "o"}
    df = _frame(db.execute(sql, params).fetchall(), columns)
    df["current"] = _label(df["start_ns"].to_numpy(dtype=np.int64), cur)
    return finish_cohorts(df, dimension)


def load_texts(db: sqlite_utils.Database, rowids: Sequence[int], limit: int = 600) -> dict[int, str]:
    """Input text (first `limit` chars) for the given span rowids."""
    out: dict[int, str] = {}
    ids = [int(r) for r in rowids]
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        marks = ",".join("?" for _ in chunk)
        for rowid, text in db.execute(
            f"SELECT rowid, substr(COALESCE(input_text, input_messages), 1, {int(limit)}) FROM spans "
            f"WHERE rowid IN ({marks})",
            chunk,
        ):
            if text:
                out[rowid] = text
    return out


def load_retrieval(db: sqlite_utils.Database, dimension: str | None, ref: Window, cur: Window,
                   strides: dict[str, dict[str, int]], rank_depth: int = 3) -> pd.DataFrame:
    """One row per (sampled) RETRIEVER span: latency, the top document's score, and the ids of its
    first `rank_depth` documents (columns doc_0..doc_{depth-1}, None when fewer came back).

    Only the first document's score is read: pulling every score means parsing each `documents`
    JSON (with its passages) in full, which costs more than the rest of the drift report."""
    where, params = _windows_sampled("s.start_ns", ref, cur, strides)
    depth = max(1, int(rank_depth))
    sql = f"""
        SELECT s.rowid, s.start_ns, {cohort_sql(dimension, db=db)}, s.duration_ms,
               json_extract(s.documents, '$[0].score'), s.retrieved_doc_ids
        FROM spans s INDEXED BY idx_spans_kind_start
        WHERE s.kind = 'RETRIEVER' AND {where}
    """
    rows = db.execute(sql, params).fetchall()
    columns = {"rowid": "i", "start_ns": "i", "cohort": "o", "latency_ms": "f", "doc_score": "f", "doc_ids": "o"}
    df = _frame(rows, columns)
    docs = np.full((len(df), depth), None, dtype=object)
    for i, raw in enumerate(df.pop("doc_ids").tolist()):
        if raw:
            ids = orjson.loads(raw)[:depth]
            docs[i, : len(ids)] = [str(x) for x in ids]
    for i in range(depth):
        df[f"doc_{i}"] = docs[:, i]
    df["current"] = _label(df["start_ns"].to_numpy(dtype=np.int64), cur)
    return finish_cohorts(df, dimension)


def load_evaluations(
    db: sqlite_utils.Database, dimension: str | None, ref: Window, cur: Window, stride: int = 1
) -> pd.DataFrame:
    """One row per (sampled) scored evaluation, timed by its trace's start (as every evaluation signal:
    when the traffic happened, not when the judge ran)."""
    ts = "COALESCE((SELECT tt.start_ns FROM traces tt WHERE tt.trace_id = e.trace_id), e.created_ns)"
    where, params = _window_sql(ts, ref, cur)
    if stride > 1:
        where += " AND " + _SAMPLE_SQL.format(k=int(stride)).replace("s.rowid", "e.rowid")
    sql = f"""
        SELECT e.rowid, e.name, COALESCE(e.score, e.passed), {ts}, {_eval_cohort_sql(dimension, db)}
        FROM evaluations e
        LEFT JOIN spans s ON s.trace_id = e.trace_id AND s.span_id = e.span_id
        WHERE e.error IS NULL AND COALESCE(e.score, e.passed) IS NOT NULL AND {where}
    """
    columns = {"rowid": "i", "name": "o", "score": "f", "start_ns": "i", "cohort": "o"}
    df = _frame(db.execute(sql, params).fetchall(), columns)
    df["current"] = _label(df["start_ns"].to_numpy(dtype=np.int64), cur)
    return finish_cohorts(df, dimension)


def load_signal(db: sqlite_utils.Database, signal: dict, dimension: str | None, ref: Window,
                cur: Window) -> pd.DataFrame:
    """Samples of a registered signal (`tracedesk.signals`) in either window: one row per sample with
    start_ns, value, cohort ("(none)" when missing, "all" without a dimension), trace_id and current.
    The same samples an alert window or the Cohorts matrix aggregates; windows are [start, end)."""
    from ..signals import SampleQuery, samples

    group = (dimension,) if dimension else ()
    lo, hi = min(ref.start_ns, cur.start_ns), max(ref.end_ns, cur.end_ns)
    frame = samples(db, signal, SampleQuery({}, group, since_ns=lo - 1, until_ns=hi - 1))
    t = frame["t"].to_numpy(dtype=np.int64)
    keep = ((t >= ref.start_ns) & (t < ref.end_ns)) | _label(t, cur)
    frame = frame[keep].reset_index(drop=True)
    cohort = frame[dimension].fillna(NO_VALUE).astype(object) if dimension else ALL
    out = pd.DataFrame({"start_ns": frame["t"].to_numpy(dtype=np.int64), "value": frame["v"].to_numpy(dtype=float),
                        "cohort": cohort, "trace_id": frame["trace_id"].to_numpy(dtype=object)})
    out["current"] = _label(out["start_ns"].to_numpy(dtype=np.int64), cur)
    return out
