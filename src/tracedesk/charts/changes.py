"""Charts of the changes feed: a finding's sparkline (its cohort against the rest) and signals over time."""
from __future__ import annotations

import altair as alt
import pandas as pd

from .timeaxis import STRETCHED_HEIGHT, utc_tooltip, utc_x, value_y

COHORT_COLOUR = "#e6550d"
#: No chart title and the legend at the side: a sparkline needs less chrome than STRETCHED_HEIGHT allows for.
SPARKLINE_HEIGHT = STRETCHED_HEIGHT - 60


def finding_sparkline(series: pd.DataFrame, start_ns: int, end_ns: int | None, *, height: int = SPARKLINE_HEIGHT,
                      title: str = "") -> alt.Chart:
    """The cohort (orange) against the rest of the traffic (grey), with the change window shaded."""
    data = series.dropna(subset=["value"]) if len(series) else pd.DataFrame(columns=["bucket", "value", "n", "group"])
    lines = alt.Chart(data).mark_line(point=alt.OverlayMarkDef(size=10)).encode(
        x=utc_x("bucket"), y=alt.Y("value:Q", title=title or None),
        color=alt.Color("group:N", scale=alt.Scale(domain=["cohort", "rest"], range=[COHORT_COLOUR, "#9e9e9e"]),
                        legend=alt.Legend(orient="right", title=None)),
        tooltip=[utc_tooltip("bucket"), "group:N", alt.Tooltip("value:Q", format=".4g"), "n:Q"])
    start = pd.Timestamp(int(start_ns), unit="ns", tz="UTC")
    end = pd.Timestamp(int(end_ns), unit="ns", tz="UTC") if end_ns is not None else (
        data["bucket"].max() if len(data) else start)
    window = alt.Chart(pd.DataFrame({"start": [start], "end": [end]})).mark_rect(opacity=0.12, color=COHORT_COLOUR) \
        .encode(x=utc_x("start"), x2="end:T")
    return (window + lines).properties(height=height)


def signal_chart(series: pd.DataFrame, signal: str, *, height: int = STRETCHED_HEIGHT) -> alt.Chart:
    """One signal of Workspace.signals_over_time (a mean score per evaluator, the refusal rate, tool calls per
    trace) as a line over time, titled with the signal."""
    data = series[(series["signal"] == signal)].dropna(subset=["value"]) if len(series) else \
        pd.DataFrame(columns=["bucket", "signal", "value", "n"])
    return alt.Chart(data, title=signal).mark_line(point=alt.OverlayMarkDef(size=18)).encode(
        x=utc_x("bucket"), y=value_y("value"),
        tooltip=[utc_tooltip("bucket"), alt.Tooltip("value:Q", format=".4g"), "n:Q"],
    ).properties(height=height)
