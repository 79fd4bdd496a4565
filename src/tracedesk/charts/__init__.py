"""Altair chart builders for every feature: `workbench` (overview, traces, agents, cohorts), `alerts`
(backtests) and `drift`. The workbench builders are re-exported here, as `tracedesk.charts.X`.

Loaded on first use (PEP 562): altair takes ~0.5 s to import, and an app page imports this package
before its title and key figures, which need no chart."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names are, for type checkers
    from . import alerts, changes, drift, evals, timeaxis, workbench  # noqa: F401
    from .workbench import *  # noqa: F401,F403
    from .workbench import LABELS  # noqa: F401

_SUBMODULES = ("alerts", "changes", "drift", "evals", "timeaxis", "workbench")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name.startswith("__"):
        raise AttributeError(name)
    workbench = importlib.import_module(f"{__name__}.workbench")
    try:
        value = getattr(workbench, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value
