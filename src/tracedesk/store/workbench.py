"""The workbench's store module: its indexes (the workbench never writes data) and the reads of the
workspace and the graphs that are not filter queries (those are in query.py).

The migration is listed in `store.migrations.MIGRATIONS` as "m401_workbench_indexes". Imports nothing from
the store package at module level (the package imports the migration from here).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import sqlite_utils

if TYPE_CHECKING:
    import pandas as pd

    from .query import Filters


def m401_workbench_indexes(db: sqlite_utils.Database) -> None:
    # TTFT percentiles walk LLM spans in ttft order straight from this index (no table reads).
    db.execute("CREATE INDEX IF NOT EXISTS idx_spans_kind_ttft ON spans (kind, ttft_ms)")
    # Latency percentiles and "slowest first" trace tables read traces in duration order.
    db.execute("CREATE INDEX IF NOT EXISTS idx_traces_duration ON traces (duration_ms)")
    # Evaluator pass rates per cohort join evaluations to traces by trace id with score/passed at hand.
    db.execute("CREATE INDEX IF NOT EXISTS idx_evaluations_trace_scores ON evaluations (trace_id, name, score, passed)")


# ---------------------------------------------------------------------------------------------
# Reads for the workspace and the graphs (analysis/graph.py builds the graphs from these frames)

_TRAJECTORY_SPAN_COLUMNS = ("trace_id", "span_id", "parent_span_id", "name", "kind", "status", "status_message",
                            "start_ns", "duration_ms", "cost_usd", "model", "agent_name", "tool_name", "handoff_from")


def has_traces(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT EXISTS (SELECT 1 FROM traces)").fetchone()[0] == 1


def trace_summary(db: sqlite_utils.Database, trace_id: str) -> "pd.DataFrame":
    """The trace summary row of one trace (an empty frame when the id is unknown)."""
    from .query import frame

    return frame(db, "SELECT * FROM traces WHERE trace_id = ?", [trace_id])


def trajectory_frames(db: sqlite_utils.Database, trace_id: str) -> tuple["pd.DataFrame", "pd.DataFrame"]:
    """(spans, evaluations) of one trace, with the columns a trajectory graph reads."""
    from .query import frame

    spans = frame(db, f"SELECT {', '.join(_TRAJECTORY_SPAN_COLUMNS)} FROM spans WHERE trace_id = ?", [trace_id])
    evs = frame(db, "SELECT span_id, name, score, passed FROM evaluations WHERE trace_id = ? AND error IS NULL",
                [trace_id])
    return spans, evs


def topology_frames(db: sqlite_utils.Database, filters: "Filters | None",
                    max_traces: int) -> tuple["pd.DataFrame", "pd.DataFrame"]:
    """(spans, evaluations) of the most recent `max_traces` filtered traces that name an agent."""
    from .query import frame, trace_where

    where, params = trace_where(filters)
    # the ids first, then each trace's spans through the primary key (CROSS JOIN fixes that order)
    ids = (f"WITH ids AS (SELECT t.trace_id FROM traces t WHERE {where} AND t.agents IS NOT NULL "
           f"ORDER BY t.start_ns DESC LIMIT ?) ")
    spans = frame(db, ids + "SELECT s.trace_id, s.span_id, s.parent_span_id, s.kind, s.status, s.agent_name, "
                      "s.duration_ms, s.cost_usd, s.usage_counted, s.start_ns, s.handoff_from, s.handoff_to "
                      "FROM ids CROSS JOIN spans s ON s.trace_id = ids.trace_id",
                  [*params, max_traces])
    evs = frame(db, ids + "SELECT e.trace_id, e.span_id, e.score FROM ids CROSS JOIN evaluations e "
                          "ON e.trace_id = ids.trace_id WHERE e.error IS NULL", [*params, max_traces])
    return spans, evs
