"""KPIs, time series, cohort matrices, window comparisons and monitoring health (read-only).

Units, so every figure can be reproduced by hand:
- a *trace* is one row of `traces`; latency is the trace duration (first span start -> last span end);
- error rate = share of traces with at least one ERROR span; span error rate = ERROR spans / spans;
- tokens and cost are the de-duplicated trace totals (`usage_counted`); cost per trace is the mean over
  traces whose cost is known (unknown cost is never read as zero);
- quality = mean evaluator score (all evaluators, or one named); pass rate = share of evaluations passed;
- refusal rate = share of traces with a refusal: an LLM output that `textchecks.is_refusal` flags, or a
  `refusal` evaluation that failed / is labelled "refused";
- percentiles use linear interpolation (numpy's default).
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlite_utils

from ..store.query import Filters, FilterError, _dim_expr, frame, trace_ids_sql, trace_where
from .textchecks import is_refusal

#: Dimensions the cohort views offer. model/agent are trace membership: a trace belongs to every model
#: and agent it used (from the trace summary's comma lists).
COHORT_DIMENSIONS: tuple[str, ...] = ("agent", "model", "route", "tenant", "prompt_version", "environment")
MISSING = "(none)"

#: Cohort metrics and whether a HIGHER value is WORSE (for ranking).
COHORT_METRICS: dict[str, bool] = {
    "quality": False,
    "pass_rate": False,
    "error_rate": True,
    "refusal_rate": True,
    "latency_p50_ms": True,
    "latency_p95_ms": True,
    "cost_per_trace": True,
}
#: Metrics compared in relative terms (a ratio to the global figure) rather than in points.
_RELATIVE = {"latency_p50_ms", "latency_p95_ms", "cost_per_trace"}


def pct(values: Iterable[float] | np.ndarray, q: float) -> float | None:
    """The q-th percentile (linear interpolation) of the values that are not None/NaN; None if there are none."""
    arr = np.asarray([np.nan if v is None else v for v in values] if not isinstance(values, np.ndarray) else values,
                     dtype=float)
    arr = arr[~np.isnan(arr)]
    return float(np.percentile(arr, q)) if arr.size else None


# ---------------------------------------------------------------------------------------------
# KPIs


def _column(db: sqlite_utils.Database, sql: str, params: Sequence[Any] = ()) -> np.ndarray:
    """One float column (NULLs excluded by the caller's SQL) as a numpy array."""
    return np.fromiter((r[0] for r in db.execute(sql, list(params))), dtype=float)


def sql_percentiles(db: sqlite_utils.Database, source: str, col: str, params: Sequence[Any],
                    qs: Sequence[float]) -> list[float | None]:
    """Percentiles (numpy's linear interpolation) read from an index instead of fetching every value:
    `source` is "FROM ... WHERE ..." such that `ORDER BY col` can walk an index; each percentile reads
    the two neighbouring values at its rank with LIMIT/OFFSET."""
    n = db.execute(f"SELECT COUNT({col}) {source}", list(params)).fetchone()[0]
    out: list[float | None] = []
    for q in qs:
        if not n:
            out.append(None)
            continue
        pos = q / 100 * (n - 1)
        lo = int(math.floor(pos))
        vals = [r[0] for r in db.execute(f"SELECT {col} {source} AND {col} IS NOT NULL ORDER BY {col} LIMIT 2 OFFSET ?",
                                         [*params, lo])]
        frac = pos - lo
        out.append(float(vals[0]) if frac == 0 or len(vals) < 2 else float(vals[0] + (vals[1] - vals[0]) * frac))
    return out


def kpis(db: sqlite_utils.Database, filters: Filters | None = None) -> dict[str, Any]:
    """Headline figures for the filtered traces (see the module doc for each definition)."""
    where, params = trace_where(filters)
    row = db.execute(
        f"SELECT COUNT(*), SUM(span_count), SUM(error_count > 0), SUM(error_count), SUM(input_tokens), "
        f"SUM(output_tokens), SUM(total_tokens), SUM(cost_usd), AVG(cost_usd), COUNT(cost_usd), SUM(llm_calls) "
        f"FROM traces t WHERE {where}", params,
    ).fetchone()
    n, n_spans, n_err_traces, n_err_spans, tin, tout, ttot, cost, cost_mean, n_cost, llm_calls = row
    sub, sub_params = trace_ids_sql(filters)
    scoped = filters is not None and not filters.is_empty()
    qs = (50, 95, 99)
    if scoped:
        durations = _column(db, f"SELECT duration_ms FROM traces t WHERE {where} AND duration_ms IS NOT NULL", params)
        lat = [pct(durations, q) for q in qs]
        # CROSS JOIN and the unary + keep SQLite driving from the matched traces through the spans primary
        # key, instead of scanning the kind/ttft index once per trace
        ttfts = _column(db, f"SELECT s.ttft_ms FROM traces t CROSS JOIN spans s ON s.trace_id = t.trace_id "
                            f"WHERE {where} AND +s.kind = 'LLM' AND +s.ttft_ms IS NOT NULL", params)
        ttft = [pct(ttfts, q) for q in (50, 95)]
    else:  # the whole store: walk the duration / ttft indexes instead of reading every row
        lat = sql_percentiles(db, "FROM traces WHERE 1", "duration_ms", [], qs)
        ttft = sql_percentiles(db, "FROM spans WHERE kind = 'LLM'", "ttft_ms", [], (50, 95))
    ev_sql = "SELECT COUNT(*), COUNT(passed), AVG(passed), AVG(score) FROM evaluations e"
    if scoped:
        ev_sql += f" WHERE e.trace_id IN ({sub})"
    n_evals, n_verdicts, pass_rate, mean_score = db.execute(ev_sql, sub_params if scoped else []).fetchone()
    n = n or 0
    return {
        "traces": n,
        "spans": n_spans or 0,
        "llm_calls": llm_calls or 0,
        "error_rate": (n_err_traces / n) if n else None,
        "span_error_rate": (n_err_spans / n_spans) if n_spans else None,
        "latency_p50_ms": lat[0],
        "latency_p95_ms": lat[1],
        "latency_p99_ms": lat[2],
        "ttft_p50_ms": ttft[0],
        "ttft_p95_ms": ttft[1],
        "input_tokens": tin or 0,
        "output_tokens": tout or 0,
        "total_tokens": ttot or 0,
        "cost_usd": cost,
        "cost_per_trace": cost_mean,
        "traces_with_cost": n_cost or 0,
        "evaluations": n_evals or 0,
        "eval_pass_rate": pass_rate if n_verdicts else None,
        "eval_mean_score": mean_score,
    }


def eval_summary(db: sqlite_utils.Database, filters: Filters | None = None) -> pd.DataFrame:
    """Per evaluator: count, mean score, pass rate, errors."""
    scoped = filters is not None and not filters.is_empty()
    sub, params = trace_ids_sql(filters)
    sql = ("SELECT name, COUNT(*) AS evaluations, AVG(score) AS mean_score, AVG(passed) AS pass_rate, "
           "SUM(error IS NOT NULL) AS errors FROM evaluations e")
    if scoped:
        sql += f" WHERE e.trace_id IN ({sub})"
    return frame(db, sql + " GROUP BY name ORDER BY name", params if scoped else [])


# ---------------------------------------------------------------------------------------------
# Time series

_FREQS: tuple[tuple[str, int], ...] = (
    ("1min", 60), ("5min", 300), ("15min", 900), ("1h", 3600), ("6h", 21600), ("1D", 86400), ("7D", 604800),
)


def auto_freq(start_ns: int | None, end_ns: int | None, max_buckets: int = 200) -> str:
    """The finest bucket size giving at most `max_buckets` buckets over the range."""
    if start_ns is None or end_ns is None:
        return "1h"
    span_s = max(1, (end_ns - start_ns) / 1e9)
    for name, seconds in _FREQS:
        if span_s / seconds <= max_buckets:
            return name
    return _FREQS[-1][0]


def timeseries(db: sqlite_utils.Database, filters: Filters | None = None, freq: str | None = None) -> pd.DataFrame:
    """One row per time bucket (by trace start): traces, error_rate, latency p50/p95, total_tokens, cost,
    cost_per_trace, eval_pass_rate. Buckets are UTC, labelled by their start; empty buckets are left out."""
    cols = ["bucket", "traces", "error_rate", "latency_p50_ms", "latency_p95_ms", "total_tokens", "cost_usd",
            "cost_per_trace", "eval_pass_rate"]
    tr = trace_frame(db, filters, extra_columns=("start_ns", "total_tokens"))
    if tr.empty:
        return pd.DataFrame(columns=cols)
    freq = freq or auto_freq(int(tr["start_ns"].min()), int(tr["start_ns"].max()))
    bucket = pd.to_datetime(tr["start_ns"], unit="ns", utc=True).dt.floor(freq).rename("bucket")
    g = tr.groupby(bucket)
    sums = g[["errored", "passed_sum", "n_passed"]].sum()
    out = pd.DataFrame({
        "traces": g.size(),
        "error_rate": sums["errored"] / g.size(),
        "latency_p50_ms": g["duration_ms"].quantile(0.5),
        "latency_p95_ms": g["duration_ms"].quantile(0.95),
        "total_tokens": g["total_tokens"].sum(min_count=1),
        "cost_usd": g["cost_usd"].sum(min_count=1),
        "cost_per_trace": g["cost_usd"].mean(),
        "eval_pass_rate": sums["passed_sum"] / sums["n_passed"].where(sums["n_passed"] > 0),
    })
    return out.reset_index()[cols]


# ---------------------------------------------------------------------------------------------
# Refusals

# textchecks' refusal pattern is anchored at the start: after any non-word characters, its first word
# character is i, s, u or a ("I'm sorry", "Sorry", "Unfortunately", "As an AI"). SQL keeps the outputs
# that, once leading ASCII non-word characters are trimmed, start with one of those letters or with a
# non-ASCII character (which may still be a non-word one) — a superset — and Python runs the exact check.
# (SQLite string functions stop at a NUL character, so text where one comes first is always a candidate;
# NUL is left out of the trim set for the same reason.)
_ASCII_NONWORD = "".join(c for c in map(chr, range(1, 128)) if not (c.isalnum() or c == "_"))
_REFUSAL_CANDIDATE = ("(substr(ltrim(s.output_text, :nonword), 1, 1) IN ('i', 's', 'u', 'a', 'I', 'S', 'U', 'A') "
                      "OR unicode(ltrim(s.output_text, :nonword)) > 127 "
                      "OR IFNULL(unicode(ltrim(s.output_text, :nonword)), 0) = 0)")


def refused_trace_ids(db: sqlite_utils.Database, filters: Filters | None = None) -> set[str]:
    """Traces with a refusal: an LLM output flagged by is_refusal, or a failed/"refused" refusal evaluation.

    The text check over every LLM output is the expensive part, so its result is kept on the connection
    and only spans added since (higher rowid) are checked when the database changes. (A span re-written
    in place with new text keeps its rowid and is not re-checked until the workspace is reopened.)
    """
    refused = set(_text_refusals(db))
    ev_sql = ("SELECT DISTINCT e.trace_id FROM evaluations e WHERE e.name = 'refusal' "
              "AND (e.passed = 0 OR e.label = 'refused')")
    refused.update(r[0] for r in db.execute(ev_sql))
    if filters is not None and not filters.is_empty() and refused:
        where, params = trace_where(filters)
        ids = json.dumps(sorted(refused))
        refused = {r[0] for r in db.execute(
            f"SELECT t.trace_id FROM traces t WHERE t.trace_id IN (SELECT value FROM json_each(?)) AND {where}",
            [ids, *params])}
    return refused


def _text_refusals(db: sqlite_utils.Database) -> set[str]:
    cache = getattr(db, "_td_refusals", None)
    version = (db.execute("PRAGMA data_version").fetchone()[0], db.conn.total_changes)
    if cache is not None and cache["version"] == version:
        return cache["refused"]
    if cache is None:
        cache = {"upto": 0, "refused": set()}
    top = db.execute("SELECT MAX(rowid) FROM spans").fetchone()[0] or 0
    if top < cache["upto"]:  # the table was rebuilt: start over
        cache = {"upto": 0, "refused": set()}
    # `+s.kind`: read the table in rowid order (sequential) rather than through the kind index
    sql = (f"SELECT s.trace_id, s.output_text FROM spans s WHERE s.rowid > :lo AND s.rowid <= :hi "
           f"AND +s.kind = 'LLM' AND s.output_text IS NOT NULL AND {_REFUSAL_CANDIDATE}")
    for tid, text in db.execute(sql, {"lo": cache["upto"], "hi": top, "nonword": _ASCII_NONWORD}):
        if is_refusal(text):
            cache["refused"].add(tid)
    cache["upto"] = top
    cache["version"] = version
    try:
        db._td_refusals = cache  # type: ignore[attr-defined]
    except AttributeError:  # an object that takes no attributes: no cache, still correct
        pass
    return cache["refused"]


# ---------------------------------------------------------------------------------------------
# Cohorts


def _check_dimension(dimension: str) -> str:
    if dimension == "agent_name":
        return "agent"
    if not dimension:
        raise FilterError(f"Choose a cohort dimension: {', '.join(COHORT_DIMENSIONS)} or a mapped one")
    return dimension


def _data_version(db: sqlite_utils.Database) -> tuple[int, int]:
    """Changes when anyone commits to the database (other connections: data_version; this one: total_changes)."""
    return db.execute("PRAGMA data_version").fetchone()[0], db.conn.total_changes


_FRAME_BASE = ("duration_ms", "errored", "cost_usd", "has_cost", "score_sum", "n_score", "passed_sum", "n_passed",
               "refused")


def trace_frame(db: sqlite_utils.Database, filters: Filters | None = None, *, evaluator: str | None = None,
                dimensions: Sequence[str] = (), extra_columns: Sequence[str] = ()) -> pd.DataFrame:
    """One row per filtered trace with what the cohort views aggregate: duration_ms, errored, cost_usd,
    has_cost, the trace's evaluation sums (score_sum, n_score, passed_sum, n_passed — of one evaluator or
    all), refused, plus the requested cohort `dimensions` (model/agent as the comma lists) and
    `extra_columns` of traces (start_ns, total_tokens). Computed in one SQL statement (no trace ids leave
    SQLite) and kept on the connection until the data changes."""
    dims = tuple(dict.fromkeys(dimensions))
    extra = tuple(dict.fromkeys(extra_columns))
    key = (repr(filters.to_query_params()) if filters else "", evaluator, dims, extra, _data_version(db))
    cache = getattr(db, "_td_frames", None)
    if cache is not None and key in cache:
        return cache[key]
    refused = json.dumps(sorted(refused_trace_ids(db)))
    where, params = trace_where(filters)
    cols = []
    for d in dims:
        expr = "t.models" if d == "model" else "t.agents" if d == "agent" else _dim_expr(d, "t")
        cols.append(f'{expr} AS "dim:{d}"')
    for c in extra:
        if c not in ("start_ns", "total_tokens"):
            raise ValueError(f"trace_frame extra column must be start_ns or total_tokens, not {c!r}")
        cols.append(f"t.{c}")
    # no `error IS NULL` test: an evaluation that failed carries no score or verdict, so SUM/COUNT skip it
    # anyway, and leaving it out lets SQLite answer from the (trace_id, name, score, passed) index alone
    ev_cond = "name = ?" if evaluator else "1"
    sql = (
        f"SELECT t.duration_ms, t.error_count > 0 AS errored, t.cost_usd, t.cost_usd IS NOT NULL AS has_cost, "
        f"COALESCE(ev.score_sum, 0) AS score_sum, COALESCE(ev.n_score, 0) AS n_score, "
        f"COALESCE(ev.passed_sum, 0) AS passed_sum, COALESCE(ev.n_passed, 0) AS n_passed, "
        f"t.trace_id IN (SELECT value FROM json_each(?)) AS refused"
        + "".join(", " + c for c in cols) +
        f" FROM traces t LEFT JOIN (SELECT trace_id, SUM(score) AS score_sum, COUNT(score) AS n_score, "
        f"SUM(passed) AS passed_sum, COUNT(passed) AS n_passed FROM evaluations WHERE {ev_cond} GROUP BY trace_id) ev "
        f"ON ev.trace_id = t.trace_id WHERE {where}"
    )
    cur = db.execute(sql, [refused, *([evaluator] if evaluator else []), *params])
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    data = list(zip(*rows)) if rows else [()] * len(names)
    def column(name: str, values: Sequence[Any]) -> Any:
        if name in _FRAME_BASE or name == "total_tokens":
            return np.asarray([np.nan if v is None else v for v in values] if name in ("cost_usd", "duration_ms",
                              "total_tokens") else values, dtype=float)
        if name == "start_ns":
            return np.asarray(values, dtype=np.int64)
        return pd.Series(values, dtype=object)

    df = pd.DataFrame({n: column(n, col) for n, col in zip(names, data)})
    if cache is None:
        cache = {}
        try:
            db._td_frames = cache  # type: ignore[attr-defined]
        except AttributeError:
            return df
    if len(cache) >= 6:  # a few recent filter sets (one page's worth); drop the oldest
        cache.pop(next(iter(cache)))
    cache[key] = df
    return df


def _cohort_column(df: pd.DataFrame, dimension: str) -> pd.Series:
    """The cohort of each row (aligned to df's index; repeated index for model/agent, where a trace is in
    every cohort of a model or agent it used); missing values as "(none)"."""
    col = df[f"dim:{dimension}"]
    present = col.notna() & (col.astype(str) != "")
    if dimension in ("model", "agent"):
        return col.where(present, MISSING).astype(str).str.split(",").explode().rename("cohort")
    return col.where(present, MISSING).astype(str).rename("cohort")


def _metrics_by(df: pd.DataFrame, keys: pd.Series) -> pd.DataFrame:
    """The cohort metrics of trace rows grouped by `keys` (aligned to df's index)."""
    g = df.groupby(keys, sort=True)
    sums = g[["errored", "refused", "cost_usd", "has_cost", "score_sum", "n_score", "passed_sum", "n_passed"]].sum()
    n = g.size()
    div = lambda a, b: a / b.where(b > 0)  # noqa: E731
    out = pd.DataFrame({
        "traces": n.astype(int),
        "quality": div(sums["score_sum"], sums["n_score"]),
        "pass_rate": div(sums["passed_sum"], sums["n_passed"]),
        "error_rate": div(sums["errored"], n),
        "refusal_rate": div(sums["refused"], n),
        "latency_p50_ms": g["duration_ms"].quantile(0.5),
        "latency_p95_ms": g["duration_ms"].quantile(0.95),
        "cost_per_trace": div(sums["cost_usd"], sums["has_cost"]),
    })
    out.index.name = "cohort"
    return out


def matrix_from_frame(df: pd.DataFrame, dimension: str, *, include_global: bool = True) -> pd.DataFrame:
    """cohort_matrix over an already fetched trace_frame (many dimensions, one fetch)."""
    cols = ["traces", *COHORT_METRICS]
    if df.empty:
        return pd.DataFrame(columns=cols).rename_axis("cohort")
    cohorts = _cohort_column(df, dimension)
    rows = df.loc[cohorts.index].reset_index(drop=True) if dimension in ("model", "agent") else df
    out = _metrics_by(rows, cohorts.reset_index(drop=True) if rows is not df else cohorts)
    out = out.sort_values("traces", ascending=False, kind="stable")
    if include_global:
        glob = _metrics_by(df, pd.Series("(all)", index=df.index))
        out = pd.concat([glob, out])
    out.index.name = "cohort"
    return out[cols]


def cohort_matrix(
    db: sqlite_utils.Database,
    dimension: str,
    filters: Filters | None = None,
    *,
    evaluator: str | None = None,
    include_global: bool = True,
) -> pd.DataFrame:
    """Metrics (rows = cohorts of `dimension`, most traces first) for the filtered traces; the first row
    "(all)" is the global figure when include_global. Columns: traces, quality, pass_rate, error_rate,
    refusal_rate, latency_p50_ms, latency_p95_ms, cost_per_trace."""
    dimension = _check_dimension(dimension)
    if dimension in ("model", "agent"):  # trace membership: a trace counts in several cohorts
        return matrix_from_frame(trace_frame(db, filters, evaluator=evaluator, dimensions=(dimension,)), dimension,
                                 include_global=include_global)
    return _grouped_matrix(db, dimension, filters, evaluator=evaluator, include_global=include_global)


def _grouped_matrix(db: sqlite_utils.Database, dimension: str, filters: Filters | None, *,
                    evaluator: str | None, include_global: bool) -> pd.DataFrame:
    """cohort_matrix for a one-value-per-trace dimension: sums in SQL GROUP BY cohort; only (cohort,
    duration) pairs come back row by row, for the percentiles. Same figures as matrix_from_frame."""
    cols = ["traces", *COHORT_METRICS]
    where, params = trace_where(filters)
    expr = f"COALESCE(NULLIF(CAST({_dim_expr(dimension, 't')} AS TEXT), ''), '{MISSING}')"
    refused = json.dumps(sorted(refused_trace_ids(db)))
    sums = frame(db, f"SELECT {expr} AS cohort, COUNT(*) AS n, SUM(t.error_count > 0) AS errored, "
                     f"SUM(t.cost_usd) AS cost_usd, COUNT(t.cost_usd) AS has_cost, "
                     f"SUM(t.trace_id IN (SELECT value FROM json_each(?))) AS refused "
                     f"FROM traces t WHERE {where} GROUP BY 1", [refused, *params])
    if sums.empty:
        return pd.DataFrame(columns=cols).rename_axis("cohort")
    ev_cond = "e.name = ?" if evaluator else "1"
    ev = frame(db, f"SELECT {expr} AS cohort, SUM(e.score) AS score_sum, COUNT(e.score) AS n_score, "
                   f"SUM(e.passed) AS passed_sum, COUNT(e.passed) AS n_passed FROM traces t "
                   f"JOIN evaluations e ON e.trace_id = t.trace_id WHERE {ev_cond} AND {where} GROUP BY 1",
               [*([evaluator] if evaluator else []), *params])
    dur = frame(db, f"SELECT {expr} AS cohort, t.duration_ms FROM traces t WHERE {where}", params)
    sums = sums.set_index("cohort").join(ev.set_index("cohort")).fillna(
        {"score_sum": 0, "n_score": 0, "passed_sum": 0, "n_passed": 0})
    dur["duration_ms"] = dur["duration_ms"].astype(float)
    if include_global:
        sums = pd.concat([sums.sum(numeric_only=True).to_frame("(all)").T, sums])
        dur = pd.concat([dur.assign(cohort="(all)"), dur], ignore_index=True)
    n = sums["n"].astype(float)
    div = lambda a, b: sums[a].astype(float) / sums[b].astype(float).where(sums[b] > 0)  # noqa: E731
    q = dur.groupby("cohort")["duration_ms"]
    out = pd.DataFrame({
        "traces": sums["n"].astype(int),
        "quality": div("score_sum", "n_score"),
        "pass_rate": div("passed_sum", "n_passed"),
        "error_rate": sums["errored"].astype(float) / n,
        "refusal_rate": sums["refused"].astype(float) / n,
        "latency_p50_ms": q.quantile(0.5).reindex(sums.index),
        "latency_p95_ms": q.quantile(0.95).reindex(sums.index),
        "cost_per_trace": div("cost_usd", "has_cost"),
    }, index=sums.index)
    head = out.iloc[:1] if include_global else out.iloc[:0]
    body = out.iloc[1:] if include_global else out
    body = body.sort_index().sort_values("traces", ascending=False, kind="stable")
    out = pd.concat([head, body])
    out.index.name = "cohort"
    return out[cols]


def rank_cohorts(matrix: pd.DataFrame, *, min_traces: int = 5, side: str = "both") -> pd.DataFrame:
    """Cohorts of a cohort_matrix (with its "(all)" row) ranked by how far they sit from the global figure.

    Distance per metric is in points for rates/scores and relative (cohort / global - 1) for latency and
    cost, signed so positive = worse; a cohort's distance is its largest |distance| (side="both") or its
    largest worse-side distance (side="worse"), named in worst_metric.
    """
    if side not in ("both", "worse"):
        raise ValueError(f"side must be 'both' or 'worse', not {side!r}")
    cols = ["cohort", "traces", "distance", "direction", "worst_metric", "cohort_value", "global_value"]
    if "(all)" not in matrix.index or len(matrix) < 2:
        return pd.DataFrame(columns=cols)
    glob = matrix.loc["(all)"]
    rows = []
    for cohort, r in matrix.drop(index="(all)").iterrows():
        if r["traces"] < min_traces:
            continue
        best: tuple[float, str] | None = None
        for metric, higher_worse in COHORT_METRICS.items():
            c, g = r[metric], glob[metric]
            if pd.isna(c) or pd.isna(g):
                continue
            if metric in _RELATIVE:
                if g == 0:
                    continue
                d = c / g - 1
            else:
                d = c - g
            d = d if higher_worse else -d
            if abs(d) < 1e-9:  # equal up to float rounding: not a difference
                continue
            if side == "worse" and d <= 0:
                continue
            if best is None or abs(d) > abs(best[0]):
                best = (float(d), metric)
        if best is None:
            continue
        rows.append({"cohort": cohort, "traces": int(r["traces"]), "distance": abs(best[0]),
                     "direction": "worse" if best[0] > 0 else "better", "worst_metric": best[1],
                     "cohort_value": float(r[best[1]]), "global_value": float(glob[best[1]])})
    if not rows:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(rows, columns=cols).sort_values(["distance", "cohort"], ascending=[False, True],
                                                        kind="stable").reset_index(drop=True)


def ranked_cohorts(db: sqlite_utils.Database, dimension: str, filters: Filters | None = None, *,
                   min_traces: int = 5, evaluator: str | None = None, side: str = "both") -> pd.DataFrame:
    return rank_cohorts(cohort_matrix(db, dimension, filters, evaluator=evaluator), min_traces=min_traces,
                        side=side)


def worst_cohorts(
    db: sqlite_utils.Database,
    filters: Filters | None = None,
    dimensions: Sequence[str] = COHORT_DIMENSIONS,
    *,
    top: int = 5,
    min_traces: int = 5,
) -> pd.DataFrame:
    """The cohorts (over several dimensions) that sit furthest on the WORSE side of the global figure."""
    parts = []
    df = trace_frame(db, filters, dimensions=dimensions)
    for dim in dimensions:
        ranked = rank_cohorts(matrix_from_frame(df, dim), min_traces=min_traces, side="worse")
        ranked = ranked[ranked["cohort"] != MISSING]
        if not ranked.empty:
            parts.append(ranked.assign(dimension=dim))
    cols = ["dimension", "cohort", "traces", "worst_metric", "cohort_value", "global_value", "distance"]
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["distance", "dimension", "cohort"], ascending=[False, True, True],
                           kind="stable").head(top)[cols].reset_index(drop=True)


def compare_windows(
    db: sqlite_utils.Database,
    dimension: str,
    window_a: tuple[int, int],
    window_b: tuple[int, int],
    filters: Filters | None = None,
    *,
    metrics: Sequence[str] = tuple(COHORT_METRICS),
    evaluator: str | None = None,
) -> pd.DataFrame:
    """Cohort metrics in window A (before) and window B (after), and B - A. Windows are (start_ns, end_ns),
    applied on top of the filters' other fields. Columns: traces_a, traces_b, then {metric}_a/_b/_delta."""
    base = filters or Filters()
    a = cohort_matrix(db, dimension, base.with_(start_ns=window_a[0], end_ns=window_a[1]), evaluator=evaluator)
    b = cohort_matrix(db, dimension, base.with_(start_ns=window_b[0], end_ns=window_b[1]), evaluator=evaluator)
    index = list(dict.fromkeys([*a.index, *b.index]))
    out = pd.DataFrame(index=pd.Index(index, name="cohort"))
    out["traces_a"] = a["traces"].reindex(index).fillna(0).astype(int)
    out["traces_b"] = b["traces"].reindex(index).fillna(0).astype(int)
    for m in metrics:
        out[f"{m}_a"] = a[m].reindex(index) if m in a else np.nan
        out[f"{m}_b"] = b[m].reindex(index) if m in b else np.nan
        out[f"{m}_delta"] = out[f"{m}_b"] - out[f"{m}_a"]
    return out


# ---------------------------------------------------------------------------------------------
# Health of the monitoring itself


def monitoring_health(db: sqlite_utils.Database, filters: Filters | None = None) -> dict[str, Any]:
    """How trustworthy the data is:
    - trace coverage: share of traces with a complete tree (one root, no orphan spans);
    - span completeness: share of LLM-call spans with a model, token counts, a positive duration, a status
      and the kind LLM. LLM-call spans are those of kind LLM plus spans carrying a model with no kind
      (UNKNOWN) — an LLM call the instrumentation did not type. (UNSET is a status: OpenTelemetry's
      default for a span that did not fail.) `llm_span_fields` gives the share per field;
    - the share of traces with a prompt version."""
    where, params = trace_where(filters)
    n, complete, with_pv = db.execute(
        f"SELECT COUNT(*), SUM(complete), SUM(prompt_version IS NOT NULL AND prompt_version != '') "
        f"FROM traces t WHERE {where}", params).fetchone()
    scoped = filters is not None and not filters.is_empty()
    sub, sub_params = trace_ids_sql(filters)
    has_model = "(model IS NOT NULL AND model != '')"
    has_tokens = "(input_tokens IS NOT NULL OR output_tokens IS NOT NULL OR total_tokens IS NOT NULL)"
    has_status = "(status IS NOT NULL AND status != '')"
    sql = (
        f"SELECT COUNT(*), SUM({has_model}), SUM({has_tokens}), SUM(duration_ms > 0), SUM({has_status}), "
        f"SUM(kind = 'LLM'), SUM({has_model} AND {has_tokens} AND duration_ms > 0 AND {has_status} AND kind = 'LLM') "
        f"FROM spans s WHERE (s.kind = 'LLM' OR ((s.kind IS NULL OR s.kind IN ('UNKNOWN', '')) "
        f"AND s.model IS NOT NULL AND s.model != ''))"
    )
    if scoped:
        sql += f" AND s.trace_id IN ({sub})"
    m, f_model, f_tokens, f_duration, f_status, f_kind, m_complete = db.execute(
        sql, sub_params if scoped else []).fetchone()
    share = lambda part, whole: (part or 0) / whole if whole else None  # noqa: E731
    return {
        "traces": n or 0,
        "trace_coverage": share(complete, n),
        "llm_spans": m or 0,
        "span_completeness": share(m_complete, m),
        "llm_span_fields": {
            "model": share(f_model, m),
            "tokens": share(f_tokens, m),
            "duration": share(f_duration, m),
            "status": share(f_status, m),
            "kind": share(f_kind, m),
        },
        "prompt_version_share": share(with_pv, n),
    }
