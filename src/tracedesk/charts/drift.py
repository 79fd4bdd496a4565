"""Altair charts and display tables for drift results (used by the Drift page and notebooks)."""
from __future__ import annotations

import altair as alt

from .timeaxis import STRETCHED_HEIGHT, utc_tooltip, utc_x
import pandas as pd

from ..drift.result import DriftReport, DriftResult


def series_chart(report: DriftReport, result: DriftResult, *, height: int = STRETCHED_HEIGHT) -> alt.Chart:
    """The signal per time bucket (dots, coloured by window), its rolling mean (line), and the change
    point as a dashed rule when one was found."""
    frame = report.series_frame(result)
    title = f"{result.signal} · {result.cohort_label}"
    y_title = {"rate": "rate", "share": "share", "jaccard": "share in reference top-k",
               "js_divergence": "divergence from reference"}.get(result.unit, f"mean {result.unit}".strip())
    base = alt.Chart(frame).encode(
        x=utc_x("time"),
        y=alt.Y("value:Q", title=y_title),
        tooltip=[utc_tooltip("time"), alt.Tooltip("value:Q", format=".4g"), "n:Q", "window:N"],
    )
    colour = alt.Color("window:N", scale=alt.Scale(domain=["reference", "current"], range=["#8c8c8c", "#d62728"]))
    chart = base.mark_circle(size=28, opacity=0.6).encode(color=colour)
    chart += alt.Chart(frame).mark_line().encode(
        x=utc_x("time"), y=alt.Y("rolling:Q", title=y_title),
        tooltip=[utc_tooltip("time"), alt.Tooltip("rolling:Q", format=".4g", title="rolling mean")])
    if result.change_point_ns is not None:
        cp = pd.DataFrame({"time": [pd.to_datetime(result.change_point_ns, unit="ns", utc=True)]})
        chart = chart + alt.Chart(cp).mark_rule(strokeDash=[4, 3], color="#444").encode(x="time:T")
    return chart.properties(title=title, height=height)


def ranked_table(report: DriftReport, limit: int | None = 50) -> pd.DataFrame:
    """Display table of the ranked pairs (insufficient ones last, marked so)."""
    rows = []
    for rank, r in enumerate(report.ranked(limit, include_insufficient=True), start=1):
        rows.append({
            "rank": rank,
            "signal": r.signal,
            "family": r.family,
            "cohort": r.cohort_label,
            "reference": _sig(r.reference_value),
            "current": _sig(r.current_value),
            "magnitude": _sig(r.magnitude, 3),
            "q_value": "" if r.q_value is None else f"{r.q_value:.1e}",
            "n (ref/cur)": f"{r.reference_n}/{r.current_n}",
            "verdict": "drift" if r.drifted else ("insufficient samples" if r.insufficient else "ok"),
            "since": r.change_point or "",
        })
    return pd.DataFrame(rows)


def _sig(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else float(f"{value:.{digits}g}")


def describe_stats(result: DriftResult) -> str:
    """One line under a chart: sample sizes, effect size, p-value, change-point test."""
    parts = [f"n reference {result.reference_n:,} · current {result.current_n:,}"]
    if result.effect_size is not None:
        parts.append(f"{result.effect_size_name} {result.effect_size:.3g}")
    if result.p_value is not None:
        parts.append(f"p {result.p_value:.2g} · q {result.q_value:.2g}")
    if result.change_point_p is not None:
        parts.append(f"change-point p {result.change_point_p:.2g}")
    return " · ".join(parts)


def trace_url(trace_id: str) -> str:
    """Relative link to the Trace page for one trace (works from any page of the app)."""
    return f"Trace?trace_id={trace_id}"
