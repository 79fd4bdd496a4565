"""The Overview's evaluator table (`ws.eval_summary`): per evaluator, its evaluations, mean score, pass
rate and errors, from counts.

One definition, whichever path the counts come from: the evaluation rows grouped by (evaluator,
distinct score) in SQLite (a filter), or the per-hour per-evaluator aggregates kept with the cohort
hours (analysis.cohort_hours; no filter, or a window of whole hours). Both end in a `Tally` per
evaluator, and the figures are computed from it only:
- evaluations = every stored evaluation row of the evaluator (scored, errored or verdict-only: the
  score that counts is the row's own; a human's row is a row like a judge's);
- mean score = the EXACT sum of the scores over the scored rows, rounded once (`AVG(score)` summed
  floats in row order, so the hours' sums could never give its last bit back);
- pass rate = passed / rows with a verdict (integers, so exact either way); errors = rows with an error.

Why the aggregates: `eval_summary` was one scan of every evaluation row: 3.5 s of the Overview's 5.0 s
first look at 10M spans (session 7).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..store import cohort_hours as _store

COLUMNS = ("name", "evaluations", "mean_score", "pass_rate", "errors")


def units(value: float, count: int = 1) -> int:
    """value * count as an exact integer multiple of 2**-SCALE (the stored sums' unit)."""
    p, q = float(value).as_integer_ratio()  # q is a power of two, at most 2**1074 < 2**SCALE
    return (p * count) << (_store.SCALE - (q.bit_length() - 1))


@dataclass
class Tally:
    """What one evaluator's figures need, over some set of its evaluation rows."""

    rows: int = 0
    errors: int = 0
    scored: int = 0
    score_units: int = 0  # exact sum of the finite scores, in units of 2**-SCALE
    special: list[float] = field(default_factory=list)  # non-finite scores (no exact sum): inf, -inf
    verdicts: int = 0
    passed_units: int = 0
    derived: int = 0  # verdicts derived from the evaluator's pass rule (the Evaluations page's rules table)

    def add_group(self, score: Any, n: int, errors: Any, passed_sum: Any, verdicts: Any, derived: Any = 0) -> None:
        """One (distinct score) group of rows: how many, with an error, the sum of passed, with a verdict,
        with a derived verdict."""
        self.rows += int(n)
        self.errors += int(errors or 0)
        self.verdicts += int(verdicts or 0)
        self.derived += int(derived or 0)
        if passed_sum:
            self.passed_units += units(passed_sum)
        if score is not None:
            self.scored += int(n)
            if math.isfinite(score):
                self.score_units += units(score, int(n))
            else:
                self.special.append(float(score))

    def add(self, other: "Tally") -> None:
        self.rows += other.rows
        self.errors += other.errors
        self.scored += other.scored
        self.score_units += other.score_units
        self.special += other.special
        self.verdicts += other.verdicts
        self.passed_units += other.passed_units
        self.derived += other.derived

    def mean_score(self) -> float:
        if not self.scored:
            return math.nan
        if self.special:  # inf stays inf, inf + -inf is nan, as any float sum of them
            return float(sum(self.special))
        return self.score_units / (self.scored << _store.SCALE)  # int / int: correctly rounded

    def pass_rate(self) -> float:
        return self.passed_units / (self.verdicts << _store.SCALE) if self.verdicts else math.nan


def from_groups(groups: Iterable[tuple[Any, ...]]) -> dict[str, Tally]:
    """Tallies from (name, score, evaluations, errors, passed sum, verdicts, derived) groups
    (store.metrics.eval_score_groups)."""
    out: dict[str, Tally] = {}
    for name, score, n, errors, passed_sum, verdicts, derived in groups:
        out.setdefault(name, Tally()).add_group(score, n, errors, passed_sum, verdicts, derived)
    return out


def frame(tallies: dict[str, Tally]) -> pd.DataFrame:
    """One row per evaluator with at least one evaluation, by name: COLUMNS."""
    names = sorted(n for n, t in tallies.items() if t.rows)
    ts = [tallies[n] for n in names]
    return pd.DataFrame({
        "name": pd.Series(names, dtype=object),
        "evaluations": pd.Series([t.rows for t in ts], dtype="int64"),
        "mean_score": pd.Series([t.mean_score() for t in ts], dtype="float64"),
        "pass_rate": pd.Series([t.pass_rate() for t in ts], dtype="float64"),
        "errors": pd.Series([t.errors for t in ts], dtype="int64"),
    }, columns=list(COLUMNS))
