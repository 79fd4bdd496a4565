"""Sessions (conversations) and their turns: the SQL behind `ws.sessions()` / `ws.session()`.

A session is every trace sharing a `session_id` (OpenInference `session.id`, `gen_ai.conversation.id`,
Langfuse `session.id`, ...; normalized at ingest). Each trace is one turn: the user's input and the
assistant's output are the root span's, or, where the root carries none (many instrumentations put the
text on the LLM spans only), the first input and the last LLM/agent output inside the trace.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
import sqlite_utils

from .query import Filters, frame, trace_where

SESSION_COLUMNS = ("session_id", "user_id", "users", "turns", "first_ns", "last_ns", "cost_usd",
                   "total_tokens", "mean_latency_ms", "errors", "evals", "eval_pass_rate", "min_score")


def sessions(db: sqlite_utils.Database, filters: Filters | None = None, *, limit: int = 500) -> pd.DataFrame:
    """One row per session among the matching traces, most recent activity first."""
    where, params = trace_where(filters)
    sql = f"""
        WITH ev AS (SELECT trace_id, COUNT(*) AS n, SUM(passed) AS passed, COUNT(passed) AS judged,
                           MIN(score) AS min_score FROM evaluations GROUP BY trace_id)
        SELECT t.session_id, MIN(t.user_id) AS user_id, COUNT(DISTINCT t.user_id) AS users,
               COUNT(*) AS turns, MIN(t.start_ns) AS first_ns, MAX(t.start_ns) AS last_ns,
               SUM(t.cost_usd) AS cost_usd, SUM(t.total_tokens) AS total_tokens,
               AVG(t.duration_ms) AS mean_latency_ms, SUM(t.error_count) AS errors,
               COALESCE(SUM(ev.n), 0) AS evals, 1.0 * SUM(ev.passed) / NULLIF(SUM(ev.judged), 0) AS eval_pass_rate,
               MIN(ev.min_score) AS min_score
        FROM traces t LEFT JOIN ev ON ev.trace_id = t.trace_id
        WHERE t.session_id IS NOT NULL AND t.session_id != '' AND {where}
        GROUP BY t.session_id ORDER BY last_ns DESC, t.session_id LIMIT ?"""
    df = frame(db, sql, [*params, int(limit)])
    for col, src in (("first", "first_ns"), ("last", "last_ns")):
        df[col] = pd.to_datetime(df[src], unit="ns", utc=True)
    return df


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
