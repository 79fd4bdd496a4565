"""tracedesk: a local-first workbench for LLM and agent traces.

The notebook API lives here. Heavy modules (pandas, altair, litellm) load on first use, so
`import tracedesk` stays cheap for the CLI.
"""
from __future__ import annotations

from .models import CostSource, Evaluation, EvaluationSource, Span, SpanKind, SpanStatus
from .store import connect, default_db_path

__all__ = [
    "CostSource",
    "Evaluation",
    "EvaluationSource",
    "Span",
    "SpanKind",
    "SpanStatus",
    "connect",
    "default_db_path",
]
