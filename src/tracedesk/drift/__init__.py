"""Drift on trace data: input, output, evaluator and retrieval drift, per cohort.

    from tracedesk.drift import drift_report
    report = drift_report("tracedesk.db", since="24h", dimension="route")
    report.to_frame().head()          # ranked (signal, cohort) pairs
    report.drifted[0].series          # a chart-ready time series; .examples has trace ids per window
"""
from __future__ import annotations

from .report import drift_report
from .result import FAMILIES, DriftConfig, DriftReport, DriftResult
from .windows import DriftError, Window

__all__ = ["FAMILIES", "DriftConfig", "DriftError", "DriftReport", "DriftResult", "Window", "drift_report"]
