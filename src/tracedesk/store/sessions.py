"""Sessions (conversations) and their turns: the SQL behind `ws.sessions()` / `ws.session()`.

A session is every trace sharing a `session_id` (OpenInference `session.id`, `gen_ai.conversation.id`,
Langfuse `session.id`, ...; normalized at ingest). Each trace is one turn: the user's input and the
assistant's output are the root span's, or, where the root carries none (many instrumentations put the
text on the LLM spans only), the first input and the last LLM/agent output inside the trace.
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd
import sqlite_utils

from .query import Filters, frame, resolved_where

SESSION_COLUMNS = ("session_id", "user_id", "users", "turns", "first_ns", "last_ns", "cost_usd",
                   "total_tokens", "mean_latency_ms", "errors", "evals", "eval_pass_rate", "min_score")


def sessions(db: sqlite_utils.Database, filters: Filters | None = None, *, limit: int = 500) -> pd.DataFrame:
    """One row per session among the matching traces, most recent activity first."""
    # a text search is answered once, from the matches the connection keeps: the walk and the page both read it
    where, params = resolved_where(db, filters)
    recent = _recent_sessions(db, where, params, int(limit))
    # the sessions that can make the page, when a walk found them: their traces and evaluations alone are
    # summed (10M spans, 544k traces: every session and every evaluation grouped took 4.8 s of CPU)
    scope, scope_params = ("", []) if recent is None else (
        "AND t.session_id IN (SELECT value FROM json_each(?))", [json.dumps(recent)])
    sql = f"""
        WITH ev AS (SELECT e.trace_id, COUNT(*) AS n, SUM(e.passed) AS passed, COUNT(e.passed) AS judged,
                           MIN(e.score) AS min_score FROM evaluations e
                    {"" if recent is None else "WHERE e.trace_id IN (SELECT t.trace_id FROM traces t WHERE 1 " + scope + ")"}
                    GROUP BY e.trace_id)
        SELECT t.session_id, MIN(t.user_id) AS user_id, COUNT(DISTINCT t.user_id) AS users,
               COUNT(*) AS turns, MIN(t.start_ns) AS first_ns, MAX(t.start_ns) AS last_ns,
               SUM(t.cost_usd) AS cost_usd, SUM(t.total_tokens) AS total_tokens,
               AVG(t.duration_ms) AS mean_latency_ms, SUM(t.error_count) AS errors,
               COALESCE(SUM(ev.n), 0) AS evals, 1.0 * SUM(ev.passed) / NULLIF(SUM(ev.judged), 0) AS eval_pass_rate,
               MIN(ev.min_score) AS min_score
        FROM traces t LEFT JOIN ev ON ev.trace_id = t.trace_id
        WHERE t.session_id IS NOT NULL AND t.session_id != '' AND {where} {scope}
        GROUP BY t.session_id ORDER BY last_ns DESC, t.session_id LIMIT ?"""
    df = frame(db, sql, [*scope_params, *params, *scope_params, int(limit)])
    for col, src in (("first", "first_ns"), ("last", "last_ns")):
        df[col] = pd.to_datetime(df[src], unit="ns", utc=True)
    return df


#: matching traces read per step of the walk for the most recent sessions
_WALK_ROWS = 2_000


def _recent_sessions(db: sqlite_utils.Database, where: str, params: list[Any], limit: int) -> list[str] | None:
    """The sessions that can be among the `limit` most recently active ones of the matching traces: walking the
    traces newest first, every session met until `limit` were, and those tied with the last of them (the
    page's order then settles the ties). None when the walk reads every matching trace first (a session whose
    traces carry no start may then belong to the page: the page reads every session)."""
    if limit <= 0:
        return None
    cur = db.execute(f"SELECT t.session_id, t.start_ns FROM traces t WHERE t.session_id IS NOT NULL "
                     f"AND t.session_id != '' AND t.start_ns IS NOT NULL AND {where} ORDER BY t.start_ns DESC",
                     params)
    seen: dict[str, None] = {}
    boundary: int | None = None
    while rows := cur.fetchmany(_WALK_ROWS):
        for session_id, start_ns in rows:
            if boundary is not None and start_ns < boundary:
                cur.close()
                return list(seen)
            if session_id not in seen:
                seen[session_id] = None
                if len(seen) == limit:
                    boundary = start_ns
    return None


TURN_COLUMNS = ("trace_id", "start_ns", "root_name", "user_id", "duration_ms", "cost_usd", "total_tokens",
                "error_count", "user_input", "assistant_output")


def session_turns(db: sqlite_utils.Database, session_id: str) -> pd.DataFrame:
    """The traces of one session in time order, each with its user input and assistant output."""
    sql = """
        SELECT t.trace_id, t.start_ns, t.root_name, t.user_id, t.duration_ms, t.cost_usd, t.total_tokens,
               t.error_count,
               COALESCE(NULLIF(r.input_text, ''),
                        (SELECT s.input_text FROM spans s WHERE s.trace_id = t.trace_id
                           AND s.input_text IS NOT NULL AND s.input_text != ''
                         ORDER BY s.start_ns, s.span_id LIMIT 1)) AS user_input,
               COALESCE(NULLIF(r.output_text, ''),
                        (SELECT s.output_text FROM spans s WHERE s.trace_id = t.trace_id
                           AND s.kind IN ('LLM', 'AGENT') AND s.output_text IS NOT NULL AND s.output_text != ''
                         ORDER BY s.end_ns DESC, s.span_id DESC LIMIT 1)) AS assistant_output
        FROM traces t LEFT JOIN spans r ON r.trace_id = t.trace_id AND r.span_id = t.root_span_id
        WHERE t.session_id = ?
        ORDER BY t.start_ns, t.trace_id"""
    df = frame(db, sql, [session_id])
    df.insert(0, "start", pd.to_datetime(df["start_ns"], unit="ns", utc=True))
    return df


def turn_scores(db: sqlite_utils.Database, session_id: str) -> list[tuple[Any, ...]]:
    """(trace_id, evaluator, mean score, passed count, judged count) of one session's evaluations."""
    return db.execute(
        """SELECT e.trace_id, e.name, AVG(e.score), SUM(e.passed), COUNT(e.passed) FROM evaluations e
           WHERE e.trace_id IN (SELECT trace_id FROM traces WHERE session_id = ?)
           GROUP BY e.trace_id, e.name ORDER BY e.trace_id, e.name""", [session_id]).fetchall()
