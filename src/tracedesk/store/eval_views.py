"""Aggregates behind the Evaluations page: what is evaluated, score counts per cohort, the review queue.

The page shows a 10-bin histogram, a per-cohort table (n, mean, pass rate, p10) and the 100 worst rows;
shipping every evaluation row to pandas (and the histogram's rows to the browser) cost 9-15 s per render
at 1M spans. Here SQLite groups the rows: one row per (cohort value, distinct score) carries everything
the histogram and the table need, exactly (p10 interpolates between distinct scores, weighted by their
counts), and the queue is sorted and cut in SQL. A cohort value is read as every evaluation signal reads
it (`cohort_sql.eval_value_sql`); lists (a trace's models) are split by the caller
(`cohort_sql.explode`), over these few aggregated rows.
"""
from __future__ import annotations

from typing import Any

import sqlite_utils

from .. import cohorts
from . import cohort_sql

#: Columns of a review-queue row, in order (cohort fields as each evaluation signal reads them).
QUEUE_COLUMNS: tuple[str, ...] = ("trace_id", "span_id", "name", "score", "label", "reason", "error", "span_name",
                                  "route", "tenant", "prompt_version", "model", "judge_model")


def _cohort_sql(by: str, db: sqlite_utils.Database) -> str:
    if by == "kind":
        return "s.kind"
    return cohort_sql.eval_value_sql(cohorts.resolve(by), "s", "t", db=db)


def evaluated_names(db: sqlite_utils.Database) -> list[str]:
    """Evaluators with at least one stored evaluation (scored or not), by name (from the name index)."""
    return [r[0] for r in db.execute("SELECT DISTINCT name FROM evaluations ORDER BY name")]


def score_counts(db: sqlite_utils.Database, name: str, by: str) -> list[tuple[Any, float, int, int, int]]:
    """(cohort value, score, evaluations, passed, with a verdict) per cohort value and distinct score of
    evaluator `name`; evaluations without a score (errors) left out."""
    cohort = _cohort_sql(by, db)
    join = "LEFT JOIN spans s ON s.trace_id = e.trace_id AND s.span_id = e.span_id " if (
        by == "kind" or "s." in cohort) else ""
    sql = (f"SELECT {cohort} AS cohort, e.score, COUNT(*), COALESCE(SUM(e.passed), 0), COUNT(e.passed) "
           f"FROM evaluations e {join}LEFT JOIN traces t ON t.trace_id = e.trace_id "
           f"WHERE e.name = ? AND e.score IS NOT NULL GROUP BY cohort, e.score")
    return [tuple(r) for r in db.execute(sql, [name]).fetchall()]  # type: ignore[misc]


def review_rows(db: sqlite_utils.Database, limit: int) -> list[tuple[Any, ...]]:
    """The review queue, worst first: evaluations that errored (no score), then failed ones by ascending
    score; ties by the judged span's start (unknown first), then storage order. QUEUE_COLUMNS.

    Only the rows up to the `limit`-th by (errored first, score), and the rows tied with it, can make the
    queue: those alone are joined to their span (for the tie order) and trace. Joining every failed
    evaluation before the sort cost 2.3 s at 10M spans (92k of them); the cut is one pass over the
    evaluations and a bounded sort (0.06 s)."""
    if limit <= 0:
        return []
    cut = db.execute("SELECT score IS NOT NULL, score FROM evaluations WHERE score IS NULL OR passed = 0 "
                     "ORDER BY 1, 2 LIMIT 1 OFFSET ?", [int(limit) - 1]).fetchone()
    cut_params: list[Any] = []
    if cut is None:  # fewer rows than the limit: all of them
        rows = "score IS NULL OR passed = 0"
    elif not cut[0]:  # the queue is errored evaluations only
        rows = "score IS NULL"
    else:
        rows, cut_params = "score IS NULL OR (passed = 0 AND score <= ?)", [cut[1]]
    route, tenant, pv, model = (cohort_sql.eval_value_sql(cohorts.resolve(c), "s", "t", db=db)
                                for c in ("route", "tenant", "prompt_version", "model"))
    sql = (f"SELECT e.trace_id, e.span_id, e.name, e.score, e.label, e.reason, e.error, s.name, {route}, {tenant}, "
           f"{pv}, {model}, e.judge_model "
           f"FROM (SELECT rowid AS rid, * FROM evaluations WHERE {rows}) e "
           f"LEFT JOIN spans s ON s.trace_id = e.trace_id AND s.span_id = e.span_id "
           f"LEFT JOIN traces t ON t.trace_id = e.trace_id "
           f"ORDER BY e.score IS NOT NULL, e.score, s.start_ns IS NOT NULL, s.start_ns, e.rid LIMIT ?")
    return [tuple(r) for r in db.execute(sql, [*cut_params, int(limit)]).fetchall()]
