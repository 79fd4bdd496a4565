"""Altair charts and tables for alerts (no streamlit): signals over time, thresholds, episodes."""
from __future__ import annotations

import altair as alt

from .timeaxis import utc_tooltip, utc_x
import pandas as pd

from ..alerts.evaluate import BacktestResult, Episode, group_label


def _episode_frame(episodes: list[Episode], label: str) -> pd.DataFrame:
    return pd.DataFrame({
        "start": pd.to_datetime([e.window_start_ns for e in episodes], unit="ns", utc=True),
        "end": pd.to_datetime([e.end_ns for e in episodes], unit="ns", utc=True),
        "group": [group_label(e.group) for e in episodes],
        "fired": label,
    })


def backtest_chart(result: BacktestResult, group: str | None = None, width: int = 900) -> alt.VConcatChart:
    """One panel per condition: its windowed value (line), threshold (dashed rule), joint episodes
    (red bands) and that condition's own episodes (grey bands) — the noise the joint rule removes."""
    frame = result.frame()
    if group is None and not frame.empty:
        group = frame["group"].iloc[0]
    frame = frame[frame["group"] == group]
    panels = []
    for i, leaf in enumerate(result.rule.leaves()):
        cid = f"c{i}"
        data = frame[frame["condition"] == cid]
        alone = _episode_frame([e for e in result.condition_episodes.get(cid, []) if group_label(e.group) == group],
                               "this condition alone")
        joint = _episode_frame([e for e in result.episodes if group_label(e.group) == group], "joint rule")
        bands = pd.concat([alone, joint], ignore_index=True)
        base = alt.Chart(data).encode(x=utc_x("time"))
        line = base.mark_line(point=False).encode(
            y=alt.Y("value:Q", title=leaf.label().rsplit(" ", 2)[0]),
            tooltip=[utc_tooltip("time"), alt.Tooltip("value:Q", format=".4g"), "count:Q"])
        rule = alt.Chart(pd.DataFrame({"threshold": [float(leaf.threshold)]})).mark_rule(
            strokeDash=[6, 4], color="#d62728").encode(y="threshold:Q")
        layers = [line, rule]
        if not bands.empty:
            layers.insert(0, alt.Chart(bands).mark_rect(opacity=0.25).encode(
                x="start:T", x2="end:T",
                color=alt.Color("fired:N", scale=alt.Scale(domain=["joint rule", "this condition alone"],
                                                           range=["#d62728", "#7f7f7f"]), title="fired")))
        panels.append(alt.layer(*layers).properties(title=leaf.label(), width=width, height=140))
    return alt.vconcat(*panels).resolve_scale(color="shared")


def summary_frame(result: BacktestResult) -> pd.DataFrame:
    """Joint rule vs each condition alone: episodes and firing evaluations."""
    return pd.DataFrame(result.summary())


def episodes_frame(result: BacktestResult) -> pd.DataFrame:
    rows = []
    for e in result.episodes:
        d = e.to_dict()
        rows.append({"group": group_label(e.group), "start": d["start"], "end": d["end"],
                     "evaluations": e.evaluations,
                     **{v["label"]: v["value"] for v in e.values.values()}})
    return pd.DataFrame(rows)
