"""Trace: span tree and waterfall, the selected span's content and scores, the trajectory graph."""
import streamlit as st

from tracedesk import charts
from tracedesk.app import ui

ui.page_setup("Trace")
ws = ui.require_workspace()
filters = ui.sidebar_filters(ws)  # the list of recent traces follows the shared filters

trace_id = st.text_input("Trace id", value=st.query_params.get("trace_id", ""),
                         placeholder="32 hex characters — or pick a recent trace below").strip().lower()
if not trace_id:
    recent = ws.traces(filters, limit=30)
    st.info("Open a trace: paste its id above, pick one here, or select a row on the **Traces** page.")
    picked = st.selectbox("Recent traces", recent["trace_id"], index=None,
                          format_func=lambda t: f"{t} · {recent.set_index('trace_id').at[t, 'root_name']}")
    if not picked:
        st.stop()
    trace_id = picked
wanted_span = st.query_params.get("span_id")
ui.set_url_params({"trace_id": trace_id}, keep=("trace_id", "span_id"))

spans = ws.trace(trace_id)
if spans.empty:
    st.warning(f"No trace {ui.md_code(trace_id, limit=80)} in this database.")
    st.info("Next step: check the id, or find the trace on the **Traces** page.")
    st.stop()

summary = ws.trace_summary(trace_id) or {}
evals = ws.evaluations(trace_id=trace_id)
st.caption(f"{ui.md_code(trace_id)} · {ui.md(summary.get('root_name'))} · started "
           f"{spans['start'].min():%Y-%m-%d %H:%M:%S} UTC")
cols = st.columns(6)
cols[0].metric("Duration", ui.fmt_ms(summary.get("duration_ms")))
cols[1].metric("Spans", ui.fmt_int(summary.get("span_count")))
cols[2].metric("Errors", ui.fmt_int(summary.get("error_count")))
cols[3].metric("Tokens", ui.fmt_int(summary.get("total_tokens")))
cols[4].metric("Cost", ui.fmt_usd(summary.get("cost_usd")))
cols[5].metric("Complete tree", "yes" if summary.get("complete") else "no",
               help="One root and no orphan spans.")

tab_spans, tab_graph = st.tabs(["Spans & waterfall", "Trajectory graph"])
with tab_spans:
    st.altair_chart(charts.waterfall(spans), width="stretch")
    tree = ws.span_tree(spans)
    labels = {r["span_id"]: ui.span_choice_label(r) for r in tree.to_dict("records")}
    ids = list(labels)
    key = f"span_of_{trace_id}"
    if key not in st.session_state:  # a link may name the span to show first
        st.session_state[key] = wanted_span if wanted_span in ids else ids[0]
    chosen = st.selectbox("Span", ids, key=key, format_func=labels.__getitem__)
    assert chosen is not None  # ids is never empty
    ui.set_url_params({"trace_id": trace_id, "span_id": chosen}, keep=("trace_id", "span_id"))
    ui.render_span(tree[tree["span_id"] == chosen].iloc[0].to_dict(), evals)
    trace_level = evals[evals["span_id"].isna()] if not evals.empty else evals
    if not trace_level.empty:
        st.markdown("**Trace-level evaluations**")
        ui.show_frame(trace_level[["name", "score", "passed", "label", "reason", "source"]])
with tab_graph:
    g = ws.trajectory(trace_id)
    notes = []
    if g.graph.get("orphans"):
        notes.append(f"{len(g.graph['orphans'])} span(s) whose parent never arrived hang off a 'missing span' node")
    if g.graph.get("cycles"):
        notes.append(f"{len(g.graph['cycles'])} parent cycle(s) — flagged CYCLE")
    st.caption("Steps top to bottom in execution order, indented by call depth; thick edges are handoffs "
               "between agents. Colour: red = error, else evaluator score. " + "; ".join(notes))
    st.altair_chart(charts.trajectory_chart(g))
