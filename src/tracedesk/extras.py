"""Optional extras: which feature needs which package, and the one message that says what to install.

tracedesk installs lean (ingest, store, app, receiver over HTTP). Heavier features live in extras:
`[judges]` (litellm, LLM judges), `[grpc]` (grpcio, the OTLP/gRPC receiver). Parquet export needs pyarrow,
which Streamlit already depends on, so it has no extra; it is checked the same way for installs made
without dependencies. Code that needs one calls `require(name)` first, so a missing package is a sentence
naming the pip command, never an ImportError traceback.

This module imports nothing heavy: it only asks importlib whether a package could be imported.
"""
from __future__ import annotations

import importlib.util

from .errors import TracedeskError

#: extra -> (import name that must be present, what it is for)
EXTRAS: dict[str, tuple[str, str]] = {
    "judges": ("litellm", "LLM judges (tracedesk eval run with a judge, the Evaluations page)"),
    "grpc": ("grpc", "the OTLP/gRPC receiver (tracedesk serve on port 4317)"),
    "parquet": ("pyarrow", "Parquet export (tracedesk export --format parquet, to_parquet)"),
}


class MissingExtra(TracedeskError, ImportError):
    """A feature needs an optional package that is not installed; the message names the pip command."""

    def __init__(self, extra: str) -> None:
        module, purpose = EXTRAS[extra]
        super().__init__(f"{purpose} need(s) the optional package {module!r}, which is not installed: "
                         f"{install_hint(extra)}")
        self.extra = extra


#: packages without an extra of their own (installed with tracedesk's dependencies)
_PLAIN = {"parquet": "pyarrow"}


def install_hint(extra: str) -> str:
    if extra in _PLAIN:
        return f"pip install {_PLAIN[extra]}"
    return f"pip install 'tracedesk[{extra}]'"


def available(extra: str) -> bool:
    """True when the extra's package can be imported (without importing it: litellm takes seconds)."""
    module = EXTRAS[extra][0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(extra: str) -> None:
    """Raise MissingExtra unless the extra's package is installed."""
    if not available(extra):
        raise MissingExtra(extra)
