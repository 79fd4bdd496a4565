"""Evaluation results as DataFrames for the page and notebooks: by cohort, and a review queue.

The rows come from `store.evals` (no SQL here). pandas is imported here (not by `tracedesk.evals`), so the CLI's `eval run` stays light.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # altair is imported where the chart is drawn
    import altair as alt
import sqlite_utils

from .. import cohorts
from ..errors import EvalError
from ..store import cohort_sql
from ..store import evals as store_evals

COHORT_COLUMNS: tuple[str, ...] = store_evals.SCORE_SPAN_COLUMNS


def scores(db: sqlite_utils.Database, names: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per evaluation with its span's cohort fields (route, tenant, prompt_version, model...)."""
    columns, rows = store_evals.scores(db, names, COHORT_COLUMNS)
    return pd.DataFrame(rows, columns=columns)


def by_cohort(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per evaluator x cohort value: count, mean score, pass rate, p10 (errors excluded)."""
    if by not in COHORT_COLUMNS:
        raise EvalError(f"Cannot group by {by!r}. Valid: {', '.join(COHORT_COLUMNS)}")
    scored = frame[frame["score"].notna()].copy()
    cols = ["name", by, "n", "mean", "pass_rate", "p10"]
    if scored.empty:
        return pd.DataFrame(columns=cols)
    if by != "kind":  # an evaluation whose value is its trace's list counts in each (tracedesk.cohorts)
        scored = cohort_sql.explode(scored, {by: cohorts.resolve(by)})
    scored[by] = scored[by].fillna("(none)")
    scored["passed"] = scored["passed"].astype(float)
    out = scored.groupby(["name", by]).agg(
        n=("score", "size"), mean=("score", "mean"), pass_rate=("passed", "mean"),
        p10=("score", lambda s: s.quantile(0.1)),
    ).reset_index()
    return out.sort_values(["name", "mean", by]).reset_index(drop=True)[cols]


def review_queue(frame: pd.DataFrame, limit: int = 50) -> pd.DataFrame:
    """Worst first: error rows (no score), then failed rows by ascending score."""
    if frame.empty:
        return frame.head(0)
    q = frame[(frame["score"].isna()) | (frame["passed"] == 0)].copy()
    q["_err"] = q["score"].isna()
    q = q.sort_values(["_err", "score", "start_ns"], ascending=[False, True, True], na_position="first")
    keep = ["trace_id", "span_id", "name", "score", "label", "reason", "error", "span_name", "route", "tenant",
            "prompt_version", "model", "judge_model"]
    return q[keep].head(limit).reset_index(drop=True)


def histogram(frame: pd.DataFrame, name: str, by: str) -> alt.Chart:
    """Score distribution of one evaluator (moved to tracedesk.charts.evals.score_histogram)."""
    from ..charts.evals import score_histogram

    return score_histogram(frame, name, by)
