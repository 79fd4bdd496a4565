"""Evaluators attached to spans: LLM judges (litellm), deterministic checks, failure-biased sampling.

Notebook use::

    from tracedesk import evals
    report = evals.run("traces.db", evals.RunConfig(["groundedness", "pii"], model="gpt-4o-mini", limit=200))
    print("\\n".join(report.lines()))

Importing this package is cheap: litellm loads only when a judge is actually called, pandas only
with `tracedesk.evals.results`.
"""
from __future__ import annotations

from .base import EvalInput, Evaluator, Info, Score
from .registry import UnknownEvaluator, available, catalog, get, resolve
from .runner import RunConfig, RunReport, run
from .sampling import STRATEGIES, Sample

__all__ = [
    "EvalInput", "Evaluator", "Info", "RunConfig", "RunReport", "STRATEGIES", "Sample", "Score",
    "UnknownEvaluator", "available", "catalog", "get", "resolve", "run",
]
