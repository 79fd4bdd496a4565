"""Chart builders for the Evaluations page (score counts from `ws.evals.histogram()`)."""
from __future__ import annotations

from typing import Any

import pandas as pd


def score_histogram(bins: pd.DataFrame, name: str, by: str) -> Any:  # -> altair.Chart
    """Score distribution of one evaluator, one colour per cohort value, from pre-counted bins (columns
    `by`, bin_start, bin_end, count): the chart ships one row per bin and cohort, never the scores."""
    import altair as alt

    return (
        alt.Chart(bins)
        .mark_bar(opacity=0.7)
        .encode(
            x=alt.X("bin_start:Q", bin="binned", scale=alt.Scale(domain=[0, 1]), title=f"{name} score"),
            x2="bin_end:Q",
            y=alt.Y("count:Q", stack=None, title="spans"),
            color=alt.Color(f"{by}:N", title=by),
            tooltip=[by, "bin_start", "bin_end", "count"],
        )
        .properties(height=220)
    )
