"""Overview: headline KPIs over time, the worst cohorts beside the global figure, monitoring health."""
import streamlit as st

from tracedesk import charts
from tracedesk.app import ui

ui.page_setup("Overview")
ws = ui.require_workspace()
filters = ui.sidebar_filters(ws)
ui.stop_if_no_match(ws.count_traces(filters))

kpis = ws.kpis(filters)
ui.kpi_row(kpis)

st.subheader("Over time")
metric = st.selectbox("Metric", ["traces", "error_rate", "latency_p95_ms", "latency_p50_ms", "eval_pass_rate",
                                 "cost_per_trace", "total_tokens"], format_func=lambda m: charts.LABELS.get(m, m))
assert metric is not None  # a fixed, non-empty option list
st.altair_chart(charts.timeseries_chart(ws.timeseries(filters), metric), width="stretch")

st.subheader("Worst cohorts: furthest from the global figure (static, over the whole range)")
worst = ws.worst_cohorts(filters, top=6)
if worst.empty:
    st.caption("No cohort (of 5+ traces) sits worse than the global figure.")
else:
    st.caption("A difference that holds over the whole range (a model that always costs more) is not a change: "
               "the landing page lists what changed in time. Rates in points, latency and cost relative; "
               "**Cohorts** has the full matrix.")
    ui.show_frame(ui.worst_display(worst))

st.subheader("Monitoring health")
health = ws.health(filters)
c1, c2, c3 = st.columns(3)
c1.metric("Trace coverage", ui.fmt_pct(health["trace_coverage"]),
          help="Share of traces with one root and no orphan spans (a complete tree).")
c2.metric("LLM span completeness", ui.fmt_pct(health["span_completeness"]),
          help="Share of LLM-call spans with a model, token counts, a duration, a status and kind LLM.")
c3.metric("Traces with a prompt version", ui.fmt_pct(health["prompt_version_share"]))
with st.expander("Which LLM span fields are missing"):
    ui.show_frame([{"field": k, "present": ui.fmt_pct(v)} for k, v in health["llm_span_fields"].items()])

evals = ws.eval_summary(filters)
if not evals.empty:
    st.subheader("Evaluators")
    ui.show_frame(evals, column_config={"mean_score": st.column_config.NumberColumn(format="%.3f"),
                                        "pass_rate": st.column_config.NumberColumn(format="%.3f")})
