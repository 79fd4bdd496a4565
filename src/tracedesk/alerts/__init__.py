"""Joint-condition alerts: a portable JSON definition, evaluation, backtest, suggestion, webhook.

`definition` is light (no pandas); `evaluate`, `suggest` and `signals` load numpy/pandas on first use.
"""
from __future__ import annotations

from typing import Any

from .definition import (
    AGGREGATIONS,
    COMPARATORS,
    SEVERITIES,
    AlertRule,
    AlertValidationError,
    Condition,
    Group,
    dumps_bundle,
    dumps_rule,
    loads,
    parse_document,
    parse_rule,
    rule_to_dict,
    schema,
)

_LAZY = {
    "backtest": "evaluate", "evaluate": "evaluate", "BacktestResult": "evaluate", "Episode": "evaluate",
    "suggest_rule": "suggest", "register_signal": "signals", "SIGNALS": "signals",
}

__all__ = [
    "AGGREGATIONS", "COMPARATORS", "SEVERITIES", "AlertRule", "AlertValidationError", "Condition", "Group",
    "dumps_bundle", "dumps_rule", "loads", "parse_document", "parse_rule", "rule_to_dict", "schema",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
