"""Find evaluators by name: built-in judges and heuristics, plus the database's custom judges.

Lookup is case-insensitive and ignores `_`, `-` and spaces, so "Groundedness", "answer-relevancy"
and "AnswerRelevancy" all work. An unknown name fails with the list of valid ones.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import sqlite_utils

from .base import Evaluator, Info, info
from .heuristics import HEURISTICS, CostSLOEvaluator, LatencySLOEvaluator
from .rubrics import JUDGES
from ..errors import EvalError


class UnknownEvaluator(EvalError):
    pass


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in "_- ")


def builtin() -> list[Evaluator]:
    return [*JUDGES, *HEURISTICS]


def builtin_names() -> set[str]:
    return {e.name for e in builtin()}


def available(db: sqlite_utils.Database | None = None) -> list[Evaluator]:
    """Every evaluator usable now: built-ins, then the database's custom judges."""
    evaluators: list[Evaluator] = builtin()
    if db is not None:
        from .custom import list_specs, to_judge

        evaluators += [to_judge(spec) for spec in list_specs(db)]
    return evaluators


def catalog(db: sqlite_utils.Database | None = None) -> list[Info]:
    return [info(e) for e in available(db)]


def get(
    name: str,
    db: sqlite_utils.Database | None = None,
    *,
    slo_latency_ms: float | None = None,
    slo_cost_usd: float | None = None,
) -> Evaluator:
    """The evaluator called `name`; raises UnknownEvaluator listing the valid names."""
    everything = available(db)
    by_name = {_norm(e.name): e for e in everything}
    found = by_name.get(_norm(name))
    if found is None:
        raise UnknownEvaluator(
            f"Unknown evaluator {name!r}. Available: {', '.join(sorted(e.name for e in everything))}"
        )
    if isinstance(found, LatencySLOEvaluator) and slo_latency_ms is not None:
        found = dataclasses.replace(found, slo_ms=float(slo_latency_ms))
    if isinstance(found, CostSLOEvaluator) and slo_cost_usd is not None:
        found = dataclasses.replace(found, slo_usd=float(slo_cost_usd))
    return found


def resolve(names: Iterable[str | Evaluator], db: sqlite_utils.Database | None = None, **params: float | None,
            ) -> list[Evaluator]:
    """Names (or evaluator objects) to evaluators, without duplicates, in the given order."""
    out: list[Evaluator] = []
    for item in names:
        ev = get(item, db, **params) if isinstance(item, str) else item
        if all(e.name != ev.name for e in out):
            out.append(ev)
    return out
