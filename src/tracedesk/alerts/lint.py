"""Warnings for a valid rule that names what the data does not hold: an evaluator never stored
(`groundednes`), a scope value no trace has (`biling`), a signal with no sample in the evaluated range.
Such a rule validates and would silently never fire; `alerts check` prints these on stderr."""
from __future__ import annotations

import difflib
from typing import Any

import sqlite_utils

from ..store import alerts as store_alerts
from .definition import AlertRule, Condition, TraceCondition


def _signals(rule: AlertRule) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for leaf in rule.leaves():
        if isinstance(leaf, TraceCondition):
            out.extend(c.signal for c in leaf.inner())
        else:
            out.append(leaf.signal)
    return out


def _hint(value: str, known: list[str]) -> str:
    close = difflib.get_close_matches(value, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else (f"; stored: {', '.join(sorted(known)[:12])}" if known else "")


def _value_exists(db: sqlite_utils.Database, dim: str, value: str) -> bool:
    if dim.startswith("dims.") or dim in store_alerts.SCOPE_VALUE_COLUMNS:
        return store_alerts.dimension_value_exists(db, dim, value)
    # any other cohort dimension (provider, response_model, agent, ...): the cohort definitions' SQL
    from ..store.query import distinct_values

    return value in distinct_values(db, dim, 1_000_000)


def missing_values(db: sqlite_utils.Database, where: str, scope: dict[str, Any]) -> list[str]:
    """'<where> route='biling' matches no trace or span in this database (did you mean 'billing'?)' for each
    scope value the data does not hold."""
    from ..store.query import distinct_values

    out = []
    for dim, values in scope.items():
        for value in values:
            if not _value_exists(db, dim, value):
                try:
                    known = distinct_values(db, dim[5:] if dim.startswith("dims.") else dim, 1000)
                except ValueError:  # a dimension the value lister does not know: no hint
                    known = []
                out.append(f"{where} {dim}={value!r} matches no trace or span in this database"
                           f"{_hint(str(value), [str(k) for k in known])}")
    return out


def lint(db: sqlite_utils.Database, rule: AlertRule, result: Any = None) -> list[str]:
    """Problems of `rule` against the data in `db` (and, given a backtest result, signals without samples)."""
    out: list[str] = []
    evaluators = store_alerts.evaluator_names(db)
    seen: set[str] = set()
    for sig in _signals(rule):
        name = sig.get("evaluator")
        if sig["type"] == "thumbs_down_rate":
            name = "user_feedback"
        if name and name not in evaluators and name not in seen:
            seen.add(name)
            out.append(f"{rule.name}: evaluator {name!r} has no evaluations in this database{_hint(name, list(evaluators))}; "
                       f"the condition can never fire")
    scopes = [("scope", rule.scope)]
    for leaf in rule.leaves():
        if isinstance(leaf, Condition) and leaf.relative_to is not None and leaf.relative_to.cohort:
            scopes.append(("relative_to.cohort", leaf.relative_to.cohort))
    for where, scope in scopes:
        out.extend(f"{rule.name}: {problem}" for problem in missing_values(db, where, scope))
    if result is not None and result.groups:
        for i, leaf in enumerate(rule.leaves()):
            if all(int(g.conditions[i].counts.sum()) == 0 for g in result.groups):
                out.append(f"{rule.name}: condition c{i} ({leaf.label()}) has no samples in the evaluated range")
    elif result is not None:
        out.append(f"{rule.name}: no data in the evaluated range for its scope")
    return out
