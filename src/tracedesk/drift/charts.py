"""Altair charts and display tables for drift results (used by the Drift page and notebooks)."""
from __future__ import annotations

import altair as alt
import pandas as pd

from .result import DriftReport, DriftResult


def series_chart(report: DriftReport, result: DriftResult, *, height: int = 180) -> alt.Chart:
    """The signal per time bucket, coloured by window, with the change point as a rule when found."""
    frame = report.series_frame(result)
    title = f"{result.signal} · {result.cohort_label}"
    y_title = {"rate": "rate", "share": "share", "jaccard": "share in reference top-k",
               "js_divergence": "divergence from reference"}.get(result.unit, f"mean {result.unit}".strip())
    base = alt.Chart(frame).encode(
        x=alt.X("time:T", title=None),
        y=alt.Y("value:Q", title=y_title),
        tooltip=[alt.Tooltip("time:T"), alt.Tooltip("value:Q", format=".4g"), "n:Q", "window:N"],
    )
    chart = base.mark_line(point=True).encode(
        color=alt.Color("window:N", scale=alt.Scale(domain=["reference", "current"], range=["#8c8c8c", "#d62728"]))
    )
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
            "reference": r.reference_value,
            "current": r.current_value,
            "magnitude": r.magnitude,
            "q_value": r.q_value,
            "n (ref/cur)": f"{r.reference_n}/{r.current_n}",
            "verdict": "drift" if r.drifted else ("insufficient samples" if r.insufficient else "ok"),
            "since": r.change_point or "",
        })
    return pd.DataFrame(rows)


def trace_url(trace_id: str) -> str:
    """Relative link to the Trace page for one trace (works from any page of the app)."""
    return f"Trace?trace_id={trace_id}"
