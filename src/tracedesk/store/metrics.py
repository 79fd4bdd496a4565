"""The reads behind analysis.metrics: trace-summary totals, per-trace matrix inputs, evaluation
counts and monitoring-health counts. Each returns plain rows; analysis.metrics computes on them."""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import sqlite_utils

from . import cohort_sql
from .feed_dirty import NS_PER_HOUR
from .query import Filters, dimension as _dimension, frame, trace_ids_sql, trace_where


def _scoped(filters: Filters | None) -> bool:
    return filters is not None and not filters.is_empty()


def trace_totals(db: sqlite_utils.Database, filters: Filters | None = None) -> tuple[Any, ...]:
    """(spans, error spans, input, output and total tokens, LLM calls) summed over the filtered traces;
    each None when no trace matches."""
    where, params = trace_where(filters)
    row = db.execute(
        "SELECT SUM(span_count), SUM(error_count), SUM(input_tokens), SUM(output_tokens), SUM(total_tokens), "
        f"SUM(llm_calls) FROM traces t WHERE {where}", params,
    ).fetchone()
    return tuple(row)


def evaluation_count(db: sqlite_utils.Database, filters: Filters | None = None) -> int:
    """Evaluation rows attached to the filtered traces (all rows when unfiltered)."""
    if not _scoped(filters):
        return int(db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] or 0)
    sub, params = trace_ids_sql(filters)
    return int(db.execute(f"SELECT COUNT(*) FROM evaluations e WHERE e.trace_id IN ({sub})",
                          params).fetchone()[0] or 0)


def _derived_sql() -> str:
    """1 for a verdict derived from the evaluator's pass rule (store.evals.derive_passed marks it)."""
    from ..evals.thresholds import DERIVED_MARK

    # json_valid first: a malformed metadata text is not derived (json_extract would fail the whole read)
    return (f"COALESCE(SUM(CASE WHEN json_valid(e.metadata) THEN json_extract(e.metadata, '$.passed_from') = "
            f"'{DERIVED_MARK}' END), 0)")


def eval_score_groups(db: sqlite_utils.Database, filters: Filters | None = None, *, derived: bool = False
                      ) -> list[tuple[Any, ...]]:
    """(name, score, evaluations, errors, passed sum, with a verdict, derived verdicts) per evaluator and
    distinct score of the filtered traces' evaluations (all when unfiltered): what analysis.eval_summary
    tallies. derived: count the derived verdicts (each row's metadata read; else 0)."""
    sql = ("SELECT name, score, COUNT(*), SUM(error IS NOT NULL), COALESCE(SUM(passed), 0), COUNT(passed), "
           f"{_derived_sql() if derived else '0'} FROM evaluations e")
    params: list[Any] = []
    if _scoped(filters):
        sub, params = trace_ids_sql(filters)
        sql += f" WHERE e.trace_id IN ({sub})"
    return [tuple(r) for r in db.execute(sql + " GROUP BY name, score", params).fetchall()]


def eval_score_groups_by_hour(db: sqlite_utils.Database, lo: int | None, hi: int | None) -> list[tuple[Any, ...]]:
    """eval_score_groups per hour of the evaluation's trace start, of the hours lo..hi (None: unbounded):
    (hour, then its columns). The hour is the one the feed's dirty marks give an evaluation (its trace's
    start, SQLite's integer division: store.feed_dirty); evaluations of no trace, or of a trace without
    a start, are in no hour."""
    conds, params = ["t.start_ns IS NOT NULL"], []
    if lo is not None:
        conds.append("t.start_ns >= ?")
        params.append(lo * NS_PER_HOUR)
    if hi is not None:
        conds.append("t.start_ns < ?")
        params.append((hi + 1) * NS_PER_HOUR)
    sql = (f"SELECT t.start_ns / {NS_PER_HOUR} AS hour, e.name, e.score, COUNT(*), SUM(e.error IS NOT NULL), "
           f"COALESCE(SUM(e.passed), 0), COUNT(e.passed), {_derived_sql()} "
           "FROM traces t JOIN evaluations e ON e.trace_id = t.trace_id "
           f"WHERE {' AND '.join(conds)} GROUP BY hour, e.name, e.score")
    return [tuple(r) for r in db.execute(sql, params).fetchall()]


def matching_trace_ids(db: sqlite_utils.Database, trace_ids: Iterable[str], filters: Filters | None) -> set[str]:
    """The subset of `trace_ids` whose traces match `filters`."""
    ids = sorted(set(trace_ids))
    if not _scoped(filters) or not ids:
        return set(ids)
    where, params = trace_where(filters)
    return {r[0] for r in db.execute(
        f"SELECT t.trace_id FROM traces t WHERE t.trace_id IN (SELECT value FROM json_each(?)) AND {where}",
        [json.dumps(ids), *params])}


#: Extra trace columns trace_matrix_rows may add after the matrix inputs.
TRACE_EXTRA_COLUMNS = ("start_ns", "total_tokens")


def trace_matrix_rows(db: sqlite_utils.Database, filters: Filters | None, *, refused: Iterable[str],
                      evaluator: str | None, dimensions: Sequence[str],
                      extra_columns: Sequence[str]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows): one row per filtered trace with duration_ms, errored, cost_usd, has_cost,
    the trace's evaluation sums (score_sum, n_score, passed_sum, n_passed — of `evaluator` or all),
    refused (trace id in `refused`), then a `dim:NAME` column per dimension (the trace-level value;
    membership dimensions as comma lists) and the requested extra trace columns. One statement: no
    trace ids leave SQLite except the refused set going in."""
    cols = []
    for d in dimensions:
        cols.append(f'{cohort_sql.trace_value_sql(_dimension(d), "t", db)} AS "dim:{d}"')
    for c in extra_columns:
        if c not in TRACE_EXTRA_COLUMNS:
            raise ValueError(f"extra column must be one of {', '.join(TRACE_EXTRA_COLUMNS)}, not {c!r}")
        cols.append(f"t.{c}")
    where, params = trace_where(filters)
    # no `error IS NULL` test: an evaluation that failed carries no score or verdict, so SUM/COUNT skip it
    # anyway, and leaving it out lets SQLite answer from the (trace_id, name, score, passed) index alone
    ev_cond = "name = ?" if evaluator else "1"
    sql = (
        "SELECT t.duration_ms, t.error_count > 0 AS errored, t.cost_usd, t.cost_usd IS NOT NULL AS has_cost, "
        "COALESCE(ev.score_sum, 0) AS score_sum, COALESCE(ev.n_score, 0) AS n_score, "
        "COALESCE(ev.passed_sum, 0) AS passed_sum, COALESCE(ev.n_passed, 0) AS n_passed, "
        "t.trace_id IN (SELECT value FROM json_each(?)) AS refused"
        + "".join(", " + c for c in cols) +
        " FROM traces t LEFT JOIN (SELECT trace_id, SUM(score) AS score_sum, COUNT(score) AS n_score, "
        f"SUM(passed) AS passed_sum, COUNT(passed) AS n_passed FROM evaluations WHERE {ev_cond} GROUP BY trace_id) ev "
        f"ON ev.trace_id = t.trace_id WHERE {where}"
    )
    cur = db.execute(sql, [json.dumps(sorted(set(refused))), *([evaluator] if evaluator else []), *params])
    return [d[0] for d in cur.description], cur.fetchall()


def trace_health_counts(db: sqlite_utils.Database, filters: Filters | None = None) -> tuple[Any, Any, Any]:
    """(traces, traces with a complete tree, traces with a prompt version) among the filtered traces."""
    where, params = trace_where(filters)
    row = db.execute(
        "SELECT COUNT(*), SUM(complete), SUM(prompt_version IS NOT NULL AND prompt_version != '') "
        f"FROM traces t WHERE {where}", params).fetchone()
    return row[0], row[1], row[2]


def llm_span_field_counts(db: sqlite_utils.Database, filters: Filters | None = None) -> tuple[Any, ...]:
    """Over LLM-call spans (kind LLM, or untyped spans carrying a model) of the filtered traces:
    (spans, with a model, with token counts, with a positive duration, with a status, of kind LLM,
    with all of these)."""
    has_model = "(model IS NOT NULL AND model != '')"
    has_tokens = "(input_tokens IS NOT NULL OR output_tokens IS NOT NULL OR total_tokens IS NOT NULL)"
    has_status = "(status IS NOT NULL AND status != '')"
    sql = (
        f"SELECT COUNT(*), SUM({has_model}), SUM({has_tokens}), SUM(duration_ms > 0), SUM({has_status}), "
        f"SUM(kind = 'LLM'), SUM({has_model} AND {has_tokens} AND duration_ms > 0 AND {has_status} AND kind = 'LLM') "
        "FROM spans s WHERE (s.kind = 'LLM' OR ((s.kind IS NULL OR s.kind IN ('UNKNOWN', '')) "
        "AND s.model IS NOT NULL AND s.model != ''))"
    )
    params: list[Any] = []
    if _scoped(filters):
        sub, params = trace_ids_sql(filters)
        sql += f" AND s.trace_id IN ({sub})"
    return tuple(db.execute(sql, params).fetchone())


def llm_span_field_counts_by_hour(db: sqlite_utils.Database, lo: int | None, hi: int | None,
                                  no_start: bool = False) -> list[tuple[Any, ...]]:
    """llm_span_field_counts of all spans per start hour (hour, then the seven counts), of the hours
    lo..hi (None: unbounded); no_start: the one row of the spans without a start time (hour None)."""
    has_model = "(model IS NOT NULL AND model != '')"
    has_tokens = "(input_tokens IS NOT NULL OR output_tokens IS NOT NULL OR total_tokens IS NOT NULL)"
    has_status = "(status IS NOT NULL AND status != '')"
    hour = f"s.start_ns / {NS_PER_HOUR}"
    conds = ["(s.kind = 'LLM' OR ((s.kind IS NULL OR s.kind IN ('UNKNOWN', '')) AND s.model IS NOT NULL "
             "AND s.model != ''))"]
    params: list[Any] = []
    if no_start:
        conds.append("s.start_ns IS NULL")
    else:
        conds.append("s.start_ns IS NOT NULL")
        if lo is not None:
            conds.append("s.start_ns >= ?")
            params.append(lo * NS_PER_HOUR)
        if hi is not None:
            conds.append("s.start_ns < ?")
            params.append((hi + 1) * NS_PER_HOUR)
    sql = (f"SELECT {'NULL' if no_start else hour}, COUNT(*), SUM({has_model}), SUM({has_tokens}), "
           f"SUM(duration_ms > 0), SUM({has_status}), SUM(kind = 'LLM'), SUM({has_model} AND {has_tokens} AND "
           f"duration_ms > 0 AND {has_status} AND kind = 'LLM') FROM spans s WHERE {' AND '.join(conds)}"
           + ("" if no_start else f" GROUP BY {hour}"))
    return [tuple(r) for r in db.execute(sql, params).fetchall() if r[1]]
