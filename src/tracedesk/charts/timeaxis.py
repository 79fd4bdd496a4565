"""One time axis for every chart: UTC, and saying so (tables say UTC; a browser's local time would not)."""
from __future__ import annotations

import altair as alt

TIME_TITLE = "time (UTC)"
TIME_FORMAT = "%m-%d %H:%M"


def utc_x(field: str, title: str = TIME_TITLE) -> alt.X:
    """An x encoding of a temporal field shown in UTC, whatever the viewer's zone."""
    return alt.X(f"{field}:T", title=title, scale=alt.Scale(type="utc"),
                 axis=alt.Axis(format=TIME_FORMAT, labelAngle=0))


def utc_tooltip(field: str, title: str = TIME_TITLE) -> alt.Tooltip:
    return alt.Tooltip(f"{field}:T", title=title, format="%Y-%m-%d %H:%M", formatType="utc")
