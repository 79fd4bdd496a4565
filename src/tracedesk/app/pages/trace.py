"""Trace: span tree and waterfall, the selected span's content and scores, the trajectory graph.

A trace of more than ui.TRACE_WHOLE_MAX_SPANS spans is shown a page of spans at a time (reading, decoding
and drawing a 100k-span trace whole took about a minute), with its steps counted instead of the graph."""
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import streamlit as st

from tracedesk import charts
from tracedesk.app import ui

if TYPE_CHECKING:
    import pandas as pd

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
        ui.stop()
    trace_id = picked
wanted_span = st.query_params.get("span_id")
ui.set_url_params({"trace_id": trace_id}, keep=("trace_id", "span_id"))


def header(started: str) -> None:
    """The trace's id, root, start and summary figures (from its `traces` row)."""
    st.caption(f"{ui.md_code(trace_id)} · {ui.md(summary.get('root_name'))} · started {started} UTC")
    cols = st.columns(6)
    cols[0].metric("Duration", ui.fmt_ms(summary.get("duration_ms")))
    cols[1].metric("Spans", ui.fmt_int(summary.get("span_count")))
    cols[2].metric("Errors", ui.fmt_int(summary.get("error_count")))
    cols[3].metric("Tokens", ui.fmt_int(summary.get("total_tokens")))
    cols[4].metric("Cost", ui.fmt_usd(summary.get("cost_usd")))
    cols[5].metric("Complete tree", "yes" if summary.get("complete") else "no",
                   help="One root and no orphan spans.")


def span_detail(rows: "pd.DataFrame", evals: "pd.DataFrame", key: str, label: str) -> None:
    """Pick one of `rows` (the span a link names first), keep it in the URL, show it and the trace-level
    evaluations: the same for a whole trace and for one page of a huge one."""
    labels = {r["span_id"]: ui.span_choice_label(r) for r in rows.to_dict("records")}
    ids = list(labels)
    if key not in st.session_state:  # a link may name the span to show first
        st.session_state[key] = wanted_span if wanted_span in ids else ids[0]
    chosen = st.selectbox(label, ids, key=key, format_func=labels.__getitem__)
    assert chosen is not None  # ids is never empty
    ui.set_url_params({"trace_id": trace_id, "span_id": chosen}, keep=("trace_id", "span_id"))
    ui.render_span(rows[rows["span_id"] == chosen].iloc[0].to_dict(), evals)
    trace_level = evals[evals["span_id"].isna()] if not evals.empty else evals
    if not trace_level.empty:
        st.markdown("**Trace-level evaluations**")
        ui.show_frame(trace_level[["name", "score", "passed", "label", "reason", "source"]])


def paged_trace() -> None:
    """A trace too big to draw whole: one page of spans in start order (the page holding the URL's span
    first), its waterfall and span detail, and the steps counted instead of the trajectory graph."""
    start_ns = summary.get("start_ns")
    header("?" if start_ns is None else
           datetime.fromtimestamp(int(start_ns) // 1_000_000_000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S"))
    size = ui.TRACE_PAGE_SPANS
    page_key = f"page_of_{trace_id}"
    if page_key in st.session_state:
        tp = ws.trace_page(trace_id, size, page=int(st.session_state[page_key]) - 1)
    else:  # first view: the page holding the span a link names
        tp = ws.trace_page(trace_id, size, span_id=wanted_span)
    st.session_state[page_key] = tp.page + 1  # clamped to the last page, should the trace have shrunk
    st.info(f"This trace has {tp.span_count:,} spans; showing spans {tp.first:,}–{tp.last:,} in start order "
            f"(page {tp.page + 1:,} of {tp.page_count:,}, {size:,} spans a page). Traces of more than "
            f"{ui.TRACE_WHOLE_MAX_SPANS:,} spans are shown a page at a time.")
    st.number_input("Page", min_value=1, max_value=tp.page_count, step=1, key=page_key)
    spans, evals = tp.spans, tp.evaluations
    tab_spans, tab_steps = st.tabs(["Spans & waterfall", "Steps"])
    with tab_spans:
        if spans.empty:  # the trace lost spans since its summary was written
            st.warning("No spans on this page.")
            return
        st.altair_chart(charts.waterfall(spans), width="stretch")
        ui.show_frame(spans[["start", "span_id", "parent_span_id", "name", "kind", "status", "duration_ms"]])
        span_detail(spans, evals, f"span_of_{trace_id}_page_{tp.page}", "Span (this page)")
    with tab_steps:
        st.caption(f"The trajectory graph draws one node per step: for {tp.span_count:,} spans it would be "
                   "unreadable and take a minute to lay out, so the trace's agent, LLM, tool and retrieval "
                   "steps are counted by kind and name instead, in order of first appearance.")
        steps = ws.trace_steps(trace_id)
        ui.show_frame(steps[["kind", "step", "spans", "errors", "total_ms", "cost_usd"]])


summary = ws.trace_summary(trace_id) or {}
if (summary.get("span_count") or 0) > ui.TRACE_WHOLE_MAX_SPANS:
    paged_trace()
    ui.stop()

spans = ws.trace(trace_id)
if spans.empty:
    st.warning(f"No trace {ui.md_code(trace_id, limit=80)} in this database.")
    st.info("Next step: check the id, or find the trace on the **Traces** page.")
    ui.stop()

evals = ws.evaluations(trace_id=trace_id)
header(f"{spans['start'].min():%Y-%m-%d %H:%M:%S}")

tab_spans, tab_graph = st.tabs(["Spans & waterfall", "Trajectory graph"])
with tab_spans:
    st.altair_chart(charts.waterfall(spans), width="stretch")
    tree = ws.span_tree(spans)
    span_detail(tree, evals, f"span_of_{trace_id}", "Span")
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
