"""Read queries for drift: only the columns each family needs, for the two windows, with the cohort.

Heavy text is never pulled in bulk: lengths, the refusal flag and the JSON/tool-call flags are
computed inside SQLite, and raw prompt text is fetched by rowid for a bounded sample per cohort.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import orjson
import pandas as pd
import sqlite_utils

from ..models import COLUMN_DIMENSIONS
from ..analysis.textchecks import is_refusal
from .windows import DriftError, Window

#: Dimensions with a column on spans (besides the cohort columns) and their trace-level fallback.
_SPAN_DIMENSIONS = {"model": "models", "service": "service", "agent_name": "agents"}
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
#: Version/date suffixes a provider appends to a model name; stripping them gives the model family,
#: so a silent provider refresh ("gemini-2.5-flash" -> "gemini-2.5-flash-preview-09-2025") stays one cohort.
_MODEL_SUFFIX_RE = re.compile(r"(?:-(?:preview|latest|exp|\d{2}-\d{4}|\d{4}-\d{2}-\d{2}|\d{8}|\d{3,4}))+$")
MODEL_FAMILY = "model_family"
NO_VALUE = "(none)"
ALL = "all"


def cohort_sql(dimension: str | None, span: str = "s", trace_id: str | None = None) -> str:
    """SQL for the cohort value of a span row: its own attribute, else its trace's.

    The trace lookup is correlated inside COALESCE, so it runs only for rows whose span lacks the
    value (instrumentations often put route/tenant on the root span only). `trace_id` is the SQL
    expression naming the trace (default: the span's).
    """
    if dimension is None:
        return f"'{ALL}'"
    if dimension == MODEL_FAMILY:
        dimension = "model"  # read the model; `finish_cohorts` maps it to its family

    tid = trace_id or f"{span}.trace_id"

    def fallback(expr: str) -> str:
        return f"(SELECT {expr.format(t='tt')} FROM traces tt WHERE tt.trace_id = {tid})"

    if dimension in COLUMN_DIMENSIONS:
        own, other = f"{span}.{dimension}", fallback("{t}." + dimension)
    elif dimension in _SPAN_DIMENSIONS:
        own, other = f"{span}.{dimension}", fallback("{t}." + _SPAN_DIMENSIONS[dimension])
    else:
        if not _KEY_RE.match(dimension):
            raise DriftError(f"dimension {dimension!r} is not a valid name (letters, digits, _ . -).")
        path = f"'$.\"{dimension}\"'"
        own, other = f"json_extract({span}.dims, {path})", fallback("json_extract({t}.dims, " + path + ")")
    return f"COALESCE({own}, {other}, '{NO_VALUE}')"


def available_dimensions(db: sqlite_utils.Database) -> list[str]:
    """Dimensions drift can slice by: the indexed columns, model/service/agent, and mapped dims keys."""
    keys = [
        row[0]
        for row in db.execute(
            "SELECT DISTINCT j.key FROM (SELECT dims FROM traces WHERE dims IS NOT NULL LIMIT 2000) d, "
            "json_each(d.dims) j ORDER BY j.key"
        )
    ]
    builtin = list(COLUMN_DIMENSIONS) + list(_SPAN_DIMENSIONS) + [MODEL_FAMILY]
    return builtin + [k for k in keys if k not in builtin]


def model_family(model: str) -> str:
    """'gemini-2.5-flash-preview-09-2025' -> 'gemini-2.5-flash'; comma lists map element-wise."""
    if model == NO_VALUE:
        return model
    parts = sorted({_MODEL_SUFFIX_RE.sub("", m.strip()) or m.strip() for m in model.split(",")})
    return ",".join(parts)


def finish_cohorts(df: pd.DataFrame, dimension: str | None) -> pd.DataFrame:
    """Cohort values that SQL cannot compute (model families)."""
    if dimension == MODEL_FAMILY and not df.empty:
        mapping = {v: model_family(str(v)) for v in df["cohort"].unique()}
        df["cohort"] = df["cohort"].map(mapping)
    return df


def check_dimension(db: sqlite_utils.Database, dimension: str | None) -> None:
    if dimension is None:
        return
    known = available_dimensions(db)
    if dimension not in known:
        raise DriftError(f"Unknown dimension {dimension!r}; choose one of: {', '.join(known)}.")


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


def trace_ids_for(db: sqlite_utils.Database, table: str, rowids: Sequence[int]) -> dict[int, str]:
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
    from ..store.blobs import codec

    codec(db)  # td_json(): compacted input_messages / documents read back as JSON text
    db.conn.create_function("td_is_refusal", 1, lambda t: int(is_refusal(t)), deterministic=True)


def load_llm(db: sqlite_utils.Database, dimension: str | None, ref: Window, cur: Window,
             strides: dict[str, dict[str, int]]) -> pd.DataFrame:
    """One row per (sampled) LLM span in either window: lengths, tokens, output flags, finish reason."""
    _ensure_functions(db)
    where, params = _windows_sampled("s.start_ns", ref, cur, strides)
    sql = f"""
        SELECT s.rowid, s.start_ns, {cohort_sql(dimension)},
               COALESCE(length(s.input_text), length(td_json(s.input_messages))),
               s.input_tokens,
               length(s.output_text),
               s.output_tokens,
               CASE WHEN s.output_text IS NULL THEN NULL
                    -- a refusal opens with i/s/u/a after optional non-word characters: any other ASCII
                    -- letter or digit first means "no" without calling into Python
                    WHEN substr(s.output_text, 1, 1) GLOB '[0-9B-HJ-RTV-Zb-hj-rtv-z]' THEN 0
                    ELSE td_is_refusal(substr(s.output_text, 1, 300)) END,
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
    _ensure_functions(db)
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


def load_retrieval(db: sqlite_utils.Database, dimension: str | None, ref: Window, cur: Window,
                   strides: dict[str, dict[str, int]], rank_depth: int = 3) -> pd.DataFrame:
    """One row per (sampled) RETRIEVER span: latency, the top document's score, and the ids of its
    first `rank_depth` documents (columns doc_0..doc_{depth-1}, None when fewer came back).

    Only the first document's score is read: pulling every score means parsing each `documents`
    JSON (with its passages) in full, which costs more than the rest of the drift report."""
    _ensure_functions(db)
    where, params = _windows_sampled("s.start_ns", ref, cur, strides)
    depth = max(1, int(rank_depth))
    sql = f"""
        SELECT s.rowid, s.start_ns, {cohort_sql(dimension)}, s.duration_ms,
               json_extract(td_json(s.documents), '$[0].score'), s.retrieved_doc_ids
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
    """One row per (sampled) scored evaluation, timed by the span (else trace) it judges, not when it ran."""
    ts = "COALESCE(s.start_ns, (SELECT tt.start_ns FROM traces tt WHERE tt.trace_id = e.trace_id), e.created_ns)"
    where, params = _window_sql(ts, ref, cur)
    if stride > 1:
        where += " AND " + _SAMPLE_SQL.format(k=int(stride)).replace("s.rowid", "e.rowid")
    sql = f"""
        SELECT e.rowid, e.name, COALESCE(e.score, e.passed), {ts}, {cohort_sql(dimension, 's', 'e.trace_id')}
        FROM evaluations e
        LEFT JOIN spans s ON s.trace_id = e.trace_id AND s.span_id = e.span_id
        WHERE e.error IS NULL AND COALESCE(e.score, e.passed) IS NOT NULL AND {where}
    """
    columns = {"rowid": "i", "name": "o", "score": "f", "start_ns": "i", "cohort": "o"}
    df = _frame(db.execute(sql, params).fetchall(), columns)
    df["current"] = _label(df["start_ns"].to_numpy(dtype=np.int64), cur)
    return finish_cohorts(df, dimension)
