"""One time axis for every chart: UTC, and saying so (tables say UTC; a browser's local time would not)."""
from __future__ import annotations

import altair as alt

TIME_TITLE = "time (UTC)"
TIME_FORMAT = "%m-%d %H:%M"

#: The height to give a time chart that Streamlit stretches to its column. Streamlit draws such a chart with
#: Vega's "fit" autosize, so `height` is the whole chart's: title or legend, axis labels, the UTC axis title
#: and padding take ~130 px of it. At 90-180 px the plot itself was 0-45 px tall and a change could not be
#: read off it (tests/test_changes_browser.py measures a drawn plot's height).
STRETCHED_HEIGHT = 260


def utc_x(field: str, title: str = TIME_TITLE) -> alt.X:
    """An x encoding of a temporal field shown in UTC, whatever the viewer's zone."""
    return alt.X(f"{field}:T", title=title, scale=alt.Scale(type="utc"),
                 axis=alt.Axis(format=TIME_FORMAT, labelAngle=0))


#: Value ticks as plain rounded numbers with thousands separators: Vega's default printed a constant-zero
#: series' one tick as "0.000000" (an error rate of a day without errors).
VALUE_FORMAT = ",~r"


def value_y(field: str, title: str | None = None) -> alt.Y:
    """The y encoding of a quantitative field on a time chart."""
    return alt.Y(f"{field}:Q", title=title, axis=alt.Axis(format=VALUE_FORMAT))


def utc_tooltip(field: str, title: str = TIME_TITLE) -> alt.Tooltip:
    return alt.Tooltip(f"{field}:T", title=title, format="%Y-%m-%d %H:%M", formatType="utc")
