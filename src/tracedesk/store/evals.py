"""Store access for evaluators: the judge-reply cache table, the custom-judge settings, and the reads
evaluators need (sampling candidates, span inputs, score rows, export rows).

Its migration is listed in `store.migrations.MIGRATIONS` as "m201_eval_cache". It imports nothing from
the store package at module level (the package imports the migration from here).
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlite_utils

from ..models import COLUMN_DIMENSIONS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..analysis.eval_summary import Tally
    from ..evals.thresholds import PassRule
    from ..models import Evaluation

CUSTOM_JUDGES_KEY = "evals.custom_judges"


def m201_eval_cache(db: sqlite_utils.Database) -> None:
    """Judge verdicts keyed by (evaluator version, judge model, inputs): a re-run makes no call."""
    db.execute(
        """
        CREATE TABLE eval_cache (
          key TEXT PRIMARY KEY,
          evaluator TEXT NOT NULL,
          evaluator_version TEXT,
          judge_model TEXT,
          result TEXT NOT NULL,
          created_ns INTEGER
        )
        """
    )


def cache_get(db: sqlite_utils.Database, key: str) -> dict[str, Any] | None:
    row = db.execute("SELECT result FROM eval_cache WHERE key = ?", [key]).fetchone()
    return json.loads(row[0]) if row else None


def cache_put_many(db: sqlite_utils.Database, entries: list[tuple[str, str, str, str, dict[str, Any]]]) -> None:
    """Store (key, evaluator, version, judge_model, result) rows; last write wins."""
    if not entries:
        return
    now = time.time_ns()
    with db.conn:
        db.conn.executemany(
            "INSERT OR REPLACE INTO eval_cache VALUES (?, ?, ?, ?, ?, ?)",
            [(k, name, ver, model, json.dumps(result, default=str), now) for k, name, ver, model, result in entries],
        )


def cache_clear(db: sqlite_utils.Database, evaluator: str | None = None) -> int:
    with db.conn:
        if evaluator is None:
            cur = db.execute("DELETE FROM eval_cache")
        else:
            cur = db.execute("DELETE FROM eval_cache WHERE evaluator = ?", [evaluator])
    return cur.rowcount


def load_custom_judges(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    from . import get_setting

    return list(get_setting(db, CUSTOM_JUDGES_KEY, []) or [])


def save_custom_judges(db: sqlite_utils.Database, judges: list[dict[str, Any]]) -> None:
    from . import set_setting

    set_setting(db, CUSTOM_JUDGES_KEY, judges)


# ---------------------------------------------------------------------------------------------
# Reads for the evaluators: sampling candidates, inputs, results, export

#: Span columns an evaluation run may filter candidates on (equality), besides the time window.
CANDIDATE_FILTER_COLUMNS: tuple[str, ...] = (*COLUMN_DIMENSIONS, "model", "service", "agent_name", "kind",
                                             "trace_id")


def _chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _candidate_where(filters: dict[str, Any] | None, since_ns: int | None,
                     until_ns: int | None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for col, value in (filters or {}).items():
        if col not in CANDIDATE_FILTER_COLUMNS:
            from ..errors import EvalError

            raise EvalError(f"Cannot filter on {col!r}. Valid: {', '.join(CANDIDATE_FILTER_COLUMNS)}")
        if value is None:
            continue
        clauses.append(f"s.{col} = ?")
        params.append(value)
    if since_ns is not None:
        clauses.append("s.start_ns >= ?")
        params.append(since_ns)
    if until_ns is not None:
        clauses.append("s.start_ns < ?")
        params.append(until_ns)
    return (" AND ".join(clauses) or "1"), params


def candidate_rows(db: sqlite_utils.Database, kinds: Sequence[str] | None, *, roots: bool = False,
                   filters: dict[str, Any] | None = None, since_ns: int | None = None,
                   until_ns: int | None = None) -> list[tuple[Any, ...]]:
    """Spans whose kind is in `kinds` (None = every kind), plus each trace's root span if `roots`, in start
    order: (trace_id, span_id, kind, is_root, status, duration_ms, cost_usd, tokens, trace errors,
    trace duration_ms, trace cost_usd)."""
    where, params = _candidate_where(filters, since_ns, until_ns)
    if kinds is None:
        pick = "1"
    else:
        marks = ",".join("?" for _ in kinds) or "NULL"
        pick = f"s.kind IN ({marks})" + (" OR s.span_id = t.root_span_id" if roots else "")
        params = list(kinds) + params
    sql = f"""
        SELECT s.trace_id, s.span_id, s.kind, s.span_id = t.root_span_id, s.status, s.duration_ms, s.cost_usd,
               COALESCE(s.total_tokens, s.input_tokens + s.output_tokens), COALESCE(t.error_count, 0),
               t.duration_ms, t.cost_usd
        FROM spans s JOIN traces t ON t.trace_id = s.trace_id
        WHERE ({pick}) AND {where}
        ORDER BY s.start_ns, s.trace_id, s.span_id
    """
    return db.execute(sql, params).fetchall()


def traces_with_feedback(db: sqlite_utils.Database, labels: Sequence[str]) -> set[str]:
    """Traces with a user_feedback evaluation labelled one of `labels`, or scored 0."""
    return {r[0] for r in db.execute(
        "SELECT DISTINCT trace_id FROM evaluations WHERE name = 'user_feedback' AND "
        f"(label IN ({','.join('?' for _ in labels)}) OR score = 0)", list(labels)).fetchall()}


def lowest_scores(db: sqlite_utils.Database, ignore: Sequence[str]) -> list[tuple[str, str | None, float]]:
    """(trace_id, span_id, lowest score) per scored span, leaving out evaluators named in `ignore`."""
    return db.execute(
        "SELECT trace_id, span_id, MIN(score) FROM evaluations WHERE score IS NOT NULL "
        f"AND name NOT IN ({','.join('?' for _ in ignore)}) GROUP BY trace_id, span_id", list(ignore)
    ).fetchall()


def spans_of_traces(db: sqlite_utils.Database, trace_ids: Sequence[str],
                    columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """`columns` of every span of these traces, by trace then start time (JSON columns as stored text)."""
    from .migrations import SPAN_COLUMN_NAMES

    bad = [c for c in columns if c not in SPAN_COLUMN_NAMES]
    if bad:
        raise ValueError(f"unknown span column(s) {', '.join(bad)}")
    from .blobs import codec, column_sql

    codec(db)  # td_json(): attributes/events are stored deflated, read back as JSON text
    out: list[tuple[Any, ...]] = []
    cols = ", ".join(column_sql(c, "") for c in columns)
    for chunk in _chunks(list(trace_ids)):
        marks = ",".join("?" for _ in chunk)
        out += db.execute(f"SELECT {cols} FROM spans WHERE trace_id IN ({marks}) ORDER BY start_ns, span_id",
                          list(chunk)).fetchall()
    return out


def trace_totals(db: sqlite_utils.Database, trace_ids: Sequence[str]) -> dict[str, tuple[float | None, float | None]]:
    """trace_id -> (duration_ms, cost_usd) from the trace summaries."""
    out: dict[str, tuple[float | None, float | None]] = {}
    for chunk in _chunks(list(trace_ids)):
        marks = ",".join("?" for _ in chunk)
        out.update({r[0]: (r[1], r[2]) for r in db.execute(
            f"SELECT trace_id, duration_ms, cost_usd FROM traces WHERE trace_id IN ({marks})", list(chunk))})
    return out


#: Span columns each score row carries (the cohorts a score can be read by).
SCORE_SPAN_COLUMNS: tuple[str, ...] = (*COLUMN_DIMENSIONS, "model", "kind", "agent_name", "service")


def scores(db: sqlite_utils.Database, names: Iterable[str] | None = None,
           cohort_columns: Sequence[str] = SCORE_SPAN_COLUMNS) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows): one row per evaluation with its span's name, start, duration and cohort fields,
    each read as every evaluation signal reads it (tracedesk.cohorts: span-level dimensions from the judged
    span, else the trace; trace-level ones from the trace); `kind` is the judged span's."""
    bad = [c for c in cohort_columns if c not in SCORE_SPAN_COLUMNS]
    if bad:
        raise ValueError(f"unknown cohort column(s) {', '.join(bad)}; valid: {', '.join(SCORE_SPAN_COLUMNS)}")
    vals = list(names or [])
    where = f"WHERE e.name IN ({','.join('?' for _ in vals)})" if vals else ""
    from .. import cohorts
    from . import cohort_sql

    cohort = ", ".join("s.kind AS kind" if c == "kind" else
                       f"{cohort_sql.eval_value_sql(cohorts.resolve(c), 's', 't', db=db)} AS {c}"
                       for c in cohort_columns)
    sql = f"""
        SELECT e.trace_id, e.span_id, e.name, e.score, e.label, e.passed, e.reason, e.source, e.error,
               e.judge_model, e.judge_cost_usd, e.judge_latency_ms, e.created_ns,
               s.name AS span_name, s.start_ns, s.duration_ms, {cohort}
        FROM evaluations e LEFT JOIN spans s ON s.trace_id = e.trace_id AND s.span_id = e.span_id
        LEFT JOIN traces t ON t.trace_id = e.trace_id
        {where}
    """
    cur = db.execute(sql, vals)
    return [d[0] for d in cur.description], cur.fetchall()


EXPORT_COLUMNS: tuple[str, ...] = ("trace_id", "span_id", "name", "score", "label", "passed", "reason",
                                   "evaluator_version", "judge_model", "judge_cost_usd", "judge_latency_ms",
                                   "source", "created_ns", "error")


def evaluation_records(db: sqlite_utils.Database, names: Iterable[str] | None = None,
                       sources: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Stored evaluations (EXPORT_COLUMNS) of these evaluators/sources, oldest first."""
    clauses, params = [], []
    for col, values in (("name", names), ("source", sources)):
        vals = list(values or [])
        if vals:
            clauses.append(f"{col} IN ({','.join('?' for _ in vals)})")
            params += vals
    where = " AND ".join(clauses) or "1"
    sql = (f"SELECT {', '.join(EXPORT_COLUMNS)} FROM evaluations WHERE {where} "
           "ORDER BY created_ns, trace_id, span_id, name")
    return [dict(zip(EXPORT_COLUMNS, r)) for r in db.execute(sql, params).fetchall()]


# ---------------------------------------------------------------------------------------------
# Pass rules: verdicts for score-only evaluations (tracedesk.evals.thresholds)

def pass_rules(db: sqlite_utils.Database) -> "dict[str, PassRule]":
    from ..evals.thresholds import SETTING_KEY, rules_from_setting
    from . import get_setting

    return rules_from_setting(get_setting(db, SETTING_KEY))


def derive_passed(db: sqlite_utils.Database, evaluations: "Sequence[Evaluation]") -> "list[Evaluation]":
    """The evaluations, with a verdict derived from the evaluator's rule where the source gave none."""
    import dataclasses

    from ..evals.thresholds import DERIVED_MARK, rule_for

    if not any(e.passed is None and e.score is not None and e.error is None for e in evaluations):
        return list(evaluations)
    rules = pass_rules(db)
    out = []
    for e in evaluations:
        if e.passed is None and e.score is not None and e.error is None:
            imported = e.source not in ("judge", "heuristic")
            e = dataclasses.replace(e, passed=rule_for(e.name, rules, imported=imported).passes(e.score),
                                    metadata={**(e.metadata or {}), "passed_from": DERIVED_MARK})
        out.append(e)
    return out


def save_pass_rule(db: sqlite_utils.Database, name: str, threshold: float, direction: str) -> int:
    """Store the user's rule for one evaluator and re-derive its score-only verdicts. Returns rows updated."""
    from ..evals.thresholds import DERIVED_MARK, HIGHER, SETTING_KEY, validate_rule
    from . import get_setting, set_setting

    rule = validate_rule(name, threshold, direction)
    stored = dict(get_setting(db, SETTING_KEY) or {})
    stored[name] = {"threshold": rule.threshold, "direction": rule.direction}
    set_setting(db, SETTING_KEY, stored)
    op = ">=" if rule.direction == HIGHER else "<="
    with db.conn:
        cur = db.execute(
            f"UPDATE evaluations SET passed = (score {op} ?) WHERE name = ? AND score IS NOT NULL "
            "AND json_extract(metadata, '$.passed_from') = ?", [rule.threshold, name, DERIVED_MARK])
    return int(cur.rowcount)


def evaluator_rules(db: sqlite_utils.Database, counts: "Mapping[str, Tally]") -> list[dict[str, Any]]:
    """Every evaluator with stored evaluations: its rule (and where it comes from) and, from its tally
    (analysis.eval_summary: the Overview's evaluator table counts the same rows), its evaluations, scores,
    derived verdicts, mean score and pass rate (None without a score / a verdict)."""
    import math

    from ..evals.thresholds import rule_for

    rules = pass_rules(db)
    out = []
    for name in sorted(n for n, t in counts.items() if t.rows):
        t = counts[name]
        rule = rule_for(name, rules)
        mean, pass_rate = t.mean_score(), t.pass_rate()
        out.append({"evaluator": name, "rule": rule.describe(), "threshold": rule.threshold,
                    "direction": rule.direction, "origin": rule.origin, "evaluations": t.rows, "scored": t.scored,
                    "derived_verdicts": t.derived, "mean_score": None if math.isnan(mean) else mean,
                    "pass_rate": None if math.isnan(pass_rate) else pass_rate})
    return out
