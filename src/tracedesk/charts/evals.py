"""Chart builders for the Evaluations page (frames from `ws.evals.scores()`)."""
from __future__ import annotations

from typing import Any

import pandas as pd


def score_histogram(frame: pd.DataFrame, name: str, by: str) -> Any:  # -> altair.Chart
    """Score distribution of one evaluator, one colour per cohort value."""
    import altair as alt

    data = frame[(frame["name"] == name) & frame["score"].notna()].copy()
    data[by] = data[by].fillna("(none)")
    return (
        alt.Chart(data)
        .mark_bar(opacity=0.7)
        .encode(
            x=alt.X("score:Q", bin=alt.Bin(extent=[0, 1], step=0.1), title=f"{name} score"),
            y=alt.Y("count():Q", stack=None, title="spans"),
            color=alt.Color(f"{by}:N", title=by),
            tooltip=[by, "count()"],
        )
        .properties(height=220)
    )
