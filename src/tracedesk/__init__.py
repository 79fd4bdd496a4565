"""tracedesk: a local-first workbench for LLM and agent traces.

The notebook API lives here. Heavy modules (pandas, altair, litellm) load on first use, so
`import tracedesk` stays cheap for the CLI.
"""
from __future__ import annotations

from typing import Any

from .errors import TracedeskError
from .models import CostSource, Evaluation, EvaluationSource, Span, SpanKind, SpanStatus

__all__ = [
    "CostSource",
    "Evaluation",
    "EvaluationSource",
    "Span",
    "SpanKind",
    "SpanStatus",
    "TracedeskError",
    "Filters",
    "Workspace",
    "connect",
    "default_db_path",
    "open",
]

# Loaded on first use (they pull in pandas / networkx): name -> (module, attribute).
_LAZY = {
    "connect": (".store", "connect"),  # sqlite_utils imports pandas: keep it off `tracedesk --help`
    "default_db_path": (".store", "default_db_path"),
    "open": (".workspace", "open"),
    "Workspace": (".workspace", "Workspace"),
    "Filters": (".store.query", "Filters"),
}


def __getattr__(name: str) -> Any:  # PEP 562: keeps `import tracedesk` cheap
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module, __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tracedesk' has no attribute {name!r}")
