"""Evaluation results as DataFrames for the page and notebooks: by cohort, and a review queue.

The rows come from `store.evals` (no SQL here). pandas is imported here (not by `tracedesk.evals`), so the CLI's `eval run` stays light.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # altair is imported where the chart is drawn
    import altair as alt
import sqlite_utils

from .. import cohorts
from ..errors import EvalError
from ..store import cohort_sql
from ..store import eval_views
from ..store import evals as store_evals

COHORT_COLUMNS: tuple[str, ...] = store_evals.SCORE_SPAN_COLUMNS
#: The score histogram's bins: [0, 0.1), [0.1, 0.2), ... [0.9, 1.0] (the last one closed, as Vega-Lite bins).
HISTOGRAM_BINS = 10


def scores(db: sqlite_utils.Database, names: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per evaluation with its span's cohort fields (route, tenant, prompt_version, model...)."""
    columns, rows = store_evals.scores(db, names, COHORT_COLUMNS)
    return pd.DataFrame(rows, columns=columns)


def by_cohort(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per evaluator x cohort value: count, mean score, pass rate, p10 (errors excluded)."""
    _check_by(by)
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


def _check_by(by: str) -> None:
    if by not in COHORT_COLUMNS:
        raise EvalError(f"Cannot group by {by!r}. Valid: {', '.join(COHORT_COLUMNS)}")


def score_counts(db: sqlite_utils.Database, name: str, by: str) -> pd.DataFrame:
    """Evaluator `name`'s scored evaluations as (by, score, n, passed, judged) rows, one per cohort value
    and distinct score (grouped in SQLite); a row whose cohort is a list (a trace's models) counts in each
    of its cohorts, a missing cohort is "(none)"."""
    _check_by(by)
    frame = pd.DataFrame(eval_views.score_counts(db, name, by), columns=[by, "score", "n", "passed", "judged"])
    if by != "kind":
        frame = cohort_sql.explode(frame, {by: cohorts.resolve(by)})
    frame[by] = frame[by].astype(object).where(frame[by].notna(), "(none)")
    return frame.astype({"score": float, "n": "int64", "passed": "int64", "judged": "int64"})


def _lerp(a: float, b: float, t: float) -> float:
    # numpy's linear interpolation (pandas' quantile default), written the way numpy rounds it
    return a if a == b else (b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t)


def weighted_quantile(scores: Sequence[float], counts: Sequence[int], q: float) -> float:
    """The q-quantile (linear interpolation, numpy's default) of the sample holding each distinct score
    `counts` times; scores ascending."""
    total = int(sum(counts))
    h = (total - 1) * q
    lo = int(math.floor(h))
    below, at_lo, at_hi = 0, None, None
    for value, c in zip(scores, counts):
        if at_lo is None and lo < below + c:
            at_lo = value
        if lo + 1 < below + c:
            at_hi = value
            break
        below += c
    assert at_lo is not None
    return float(at_lo) if at_hi is None else _lerp(float(at_lo), float(at_hi), h - lo)


def by_cohort_counts(counts: pd.DataFrame, name: str, by: str) -> pd.DataFrame:
    """by_cohort() from score_counts() rows: the same table (n, mean, pass_rate, p10 per cohort value)
    without the evaluation rows."""
    cols = ["name", by, "n", "mean", "pass_rate", "p10"]
    if counts.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for value, g in counts.groupby(by, sort=False):
        g = g.sort_values("score", kind="stable")
        n = int(g["n"].sum())
        judged = int(g["judged"].sum())
        rows.append({"name": name, by: value, "n": n, "mean": float((g["score"] * g["n"]).sum() / n),
                     "pass_rate": g["passed"].sum() / judged if judged else float("nan"),
                     "p10": weighted_quantile(g["score"].tolist(), g["n"].tolist(), 0.1)})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["name", "mean", by]).reset_index(drop=True)


def histogram_counts(counts: pd.DataFrame, by: str, bins: int = HISTOGRAM_BINS) -> pd.DataFrame:
    """Scores in [0, 1] counted per bin and cohort value: columns by, bin_start, bin_end, count (a score
    outside [0, 1] is outside every bin, as on the chart's axis)."""
    inside = counts[(counts["score"] >= 0) & (counts["score"] <= 1)]
    cols = [by, "bin_start", "bin_end", "count"]
    if inside.empty:
        return pd.DataFrame(columns=cols)
    # Vega-Lite's rule: floor((v - start) / step) with a little slack, the top edge in the last bin
    index = (inside["score"] * bins + 1e-9).apply(math.floor).clip(0, bins - 1).astype(int)
    out = inside.groupby([inside[by], index.rename("bin")])["n"].sum().reset_index()
    out["bin_start"] = out["bin"] / bins
    out["bin_end"] = (out["bin"] + 1) / bins
    return out.rename(columns={"n": "count"})[cols].astype({"count": "int64"})


def review_queue_rows(db: sqlite_utils.Database, limit: int = 50) -> pd.DataFrame:
    """review_queue() sorted and cut in SQLite (the same rows, in the same order)."""
    frame = pd.DataFrame(eval_views.review_rows(db, limit), columns=list(eval_views.QUEUE_COLUMNS))
    return frame.astype({"score": float})


def review_queue(frame: pd.DataFrame, limit: int = 50) -> pd.DataFrame:
    """Worst first: error rows (no score), then failed rows by ascending score (eval_views.QUEUE_COLUMNS)."""
    keep = list(eval_views.QUEUE_COLUMNS)
    if frame.empty:
        return frame.reindex(columns=keep).head(0)
    q = frame[(frame["score"].isna()) | (frame["passed"] == 0)].copy()
    q["_err"] = q["score"].isna()
    q = q.sort_values(["_err", "score", "start_ns"], ascending=[False, True, True], na_position="first")
    return q[keep].head(limit).reset_index(drop=True).astype({"score": float})


def counts_from_frame(frame: pd.DataFrame, name: str, by: str) -> pd.DataFrame:
    """score_counts() computed from scores() rows (notebooks holding the rows; the tests' reference)."""
    _check_by(by)
    scored = frame[(frame["name"] == name) & frame["score"].notna()]
    passed = scored["passed"].astype(float)
    rows = pd.DataFrame({by: scored[by], "score": scored["score"].astype(float), "n": 1,
                         "passed": passed.fillna(0), "judged": passed.notna().astype(int)})
    if by != "kind":
        rows = cohort_sql.explode(rows, {by: cohorts.resolve(by)})
    rows[by] = rows[by].astype(object).where(rows[by].notna(), "(none)")
    out = rows.groupby([by, "score"], sort=False)[["n", "passed", "judged"]].sum().reset_index()
    return out.astype({"score": float, "n": "int64", "passed": "int64", "judged": "int64"})


def histogram(frame: pd.DataFrame, name: str, by: str) -> alt.Chart:
    """Score distribution of one evaluator from scores() rows (tracedesk.charts.evals.score_histogram)."""
    from ..charts.evals import score_histogram

    return score_histogram(histogram_counts(counts_from_frame(frame, name, by), by), name, by)
