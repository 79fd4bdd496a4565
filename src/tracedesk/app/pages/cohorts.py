"""Cohorts: metrics against one dimension as a heatmap, cohorts ranked by distance from the global
figure, and the same matrix compared between two time windows."""
import datetime as dt

import streamlit as st

from tracedesk import charts
from tracedesk.app import ui

ui.page_setup("Cohorts")
ws = ui.require_workspace()
filters = ui.sidebar_filters(ws)
ui.stop_if_no_match(ws.count_traces(filters))

c1, c2 = st.columns(2)
dims = ws.dimensions() + [d for d in ("user_id", "session_id") if ws.has_values(d)]  # cost/quality by user
if not dims:
    st.info("These traces carry no cohort dimension (route, tenant, prompt version, model, agent...).")
    st.caption("Next step: map your attributes to dimensions at ingest (see docs/ingest.md).")
    ui.stop()
dimension = c1.selectbox("Dimension", dims, index=dims.index("route") if "route" in dims else 0,
                         format_func=lambda d: d.replace("_", " "))
evaluators = ws.evaluator_names()
evaluator = c2.selectbox("Quality = mean score of", ["(all evaluators)", *evaluators])
evaluator = None if evaluator == "(all evaluators)" else evaluator

matrix = ws.cohort_matrix(dimension, filters, evaluator=evaluator)
st.subheader(f"Metrics by {ui.md(dimension.replace('_', ' '))}")
st.caption("Colour compares cohorts on each metric (red = worst of them); the first row is the global figure.")
st.altair_chart(charts.cohort_heatmap(matrix), width="stretch")

st.subheader("Furthest from the global figure")
st.caption("Static: each cohort against the global figure over the whole range (what changed in time is on "
           "the landing page).")
ranked = ws.ranked_cohorts(dimension, filters, evaluator=evaluator, min_traces=5)
if ranked.empty:
    st.caption("No cohort has 5 or more traces to rank.")
else:
    st.altair_chart(charts.ranked_bar(ranked), width="stretch")
    ui.show_frame(ranked)

st.subheader("Compare two time windows")
window_a, window_b = ui.comparison_windows(ws)
first, last = window_a[0], window_b[1]
w1, w2 = st.columns(2)
a = w1.date_input("Window A (before)", window_a, min_value=first, max_value=last)
b = w2.date_input("Window B (after)", window_b, min_value=first, max_value=last)
if len(a) != 2 or len(b) != 2:
    st.caption("Pick a start and an end day for both windows.")
    ui.stop()
day = dt.timedelta(days=1)
cmp = ws.compare_windows(dimension, (a[0], a[1] + day), (b[0], b[1] + day), filters, evaluator=evaluator)
metric = st.selectbox("Metric", ["quality", "pass_rate", "error_rate", "refusal_rate", "latency_p95_ms",
                                 "latency_p50_ms", "cost_per_trace"], format_func=lambda m: charts.LABELS.get(m, m))
view = cmp[["traces_a", "traces_b", f"{metric}_a", f"{metric}_b", f"{metric}_delta"]]
ui.show_frame(view.reset_index().sort_values(f"{metric}_delta", key=abs, ascending=False, na_position="last"))
