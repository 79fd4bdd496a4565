"""Agents: who hands off to whom over the filtered traces, how often handoffs fail, per-agent figures."""
import streamlit as st

from tracedesk import charts
from tracedesk.app import ui

ui.page_setup("Agents")
ws = ui.require_workspace()
filters = ui.sidebar_filters(ws)
ui.stop_if_no_match(ws.count_traces(filters))

g = ws.agent_topology(filters)
if g.number_of_nodes() == 0:
    st.info("None of the matching traces names an agent (no span carries an agent name).")
    st.caption("Next step: map your framework's agent attribute at ingest, or pick other filters.")
    ui.stop()
if g.graph["sampled_traces"] >= g.graph["max_traces"]:
    st.caption(f"Computed over the {g.graph['sampled_traces']:,} most recent of the {g.graph['matched_traces']:,} "
               "matching traces; narrow the filters to see the rest.")
st.altair_chart(charts.topology_chart(g), width="stretch")

agents, handoffs = ws.topology_frames(g)
left, right = st.columns(2)
with left:
    st.subheader("Per agent")
    ui.show_frame(agents, column_config={
        "error_rate": st.column_config.NumberColumn("error rate", format="%.3f"),
        "latency_mean_ms": st.column_config.NumberColumn("mean latency ms", format="%.0f"),
        "latency_p95_ms": st.column_config.NumberColumn("p95 latency ms", format="%.0f"),
        "cost_per_run": st.column_config.NumberColumn("cost / run $", format="%.5f"),
        "mean_score": st.column_config.NumberColumn("mean score", format="%.3f"),
    })
with right:
    st.subheader("Handoffs")
    if handoffs.empty:
        st.caption("No handoffs between agents in these traces.")
    else:
        ui.show_frame(handoffs.sort_values("count", ascending=False),
                      column_config={"failure_rate": st.column_config.NumberColumn("failure rate", format="%.3f")})
st.caption("A handoff is a run of one agent started inside a run of another; it failed when the receiving "
           "run had an ERROR span. Cost per run counts each LLM call once.")
