"""Schema for the workbench's reads: indexes only (the workbench never writes data).

Appended to `store.MIGRATIONS` as "m401_workbench_indexes". Imports nothing from store.py at module level.
"""
from __future__ import annotations

import sqlite_utils


def m401_workbench_indexes(db: sqlite_utils.Database) -> None:
    # TTFT percentiles walk LLM spans in ttft order straight from this index (no table reads).
    db.execute("CREATE INDEX IF NOT EXISTS idx_spans_kind_ttft ON spans (kind, ttft_ms)")
    # Latency percentiles and "slowest first" trace tables read traces in duration order.
    db.execute("CREATE INDEX IF NOT EXISTS idx_traces_duration ON traces (duration_ms)")
    # Evaluator pass rates per cohort join evaluations to traces by trace id with score/passed at hand.
    db.execute("CREATE INDEX IF NOT EXISTS idx_evaluations_trace_scores ON evaluations (trace_id, name, score, passed)")
