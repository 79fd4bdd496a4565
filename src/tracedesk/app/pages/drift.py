"""Drift: which (signal, cohort) pairs moved between a reference and a current window, and since when."""
from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from tracedesk.app import ui
from tracedesk.charts.drift import describe_stats, ranked_table, series_chart, trace_url

ui.page_setup("Drift")
ws = ui.require_workspace()  # explains a missing or empty database and stops
filters = ui.sidebar_filters(ws)  # the shared time range fills the current window
st.caption(f"Database: `{ui.db_path()}` · times are ISO 8601 (2026-11-20T12:00Z), Unix times, or a duration back "
           "from the newest span (24h, -7d)")

with st.form("drift"):
    c: Sequence[DeltaGenerator] = st.columns(4)
    since = c[0].text_input("Current since", ui.fmt_time(filters.start_ns) if filters.start_ns else "24h",
                            help="start of the current window (default: the sidebar's time range)")
    until = c[1].text_input("Current until", ui.fmt_time(filters.end_ns) if filters.end_ns else "",
                            help="empty = the newest span")
    ref_since = c[2].text_input("Reference since", "", help="empty = rolling baseline before the current window")
    ref_until = c[3].text_input("Reference until", "", help="empty = the current window's start")
    c = st.columns([1, 2])
    dims = ["(all traffic)"] + ws.drift.dimensions()
    dim = c[0].selectbox("Cohort dimension", dims, index=dims.index("route") if "route" in dims else 0)
    families = c[1].multiselect("Families", ws.drift.families, default=ws.drift.families)
    st.form_submit_button("Compare", type="primary")

with ui.error_boundary(stop=True), st.spinner("Comparing windows…"):  # cached until the data changes
    report = ws.drift.report(since, until, reference_since=ref_since, reference_until=ref_until,
                             dimension=None if dim == "(all traffic)" else dim, families=families or None)

summary = report.to_dict(series=False)["summary"]
ref, cur = report.reference.to_dict(), report.current.to_dict()
m = st.columns(3)
m[0].metric("Drifted pairs", summary["drifted"])
m[1].metric("Pairs compared", summary["pairs"])
m[2].metric("Insufficient samples", summary["insufficient"])
sampled = {f"{family} 1 in {w['stride']}" for family, ws_ in report.sampling.items()
           for w in (ws_.values() if "reference" in ws_ else [ws_]) if w["stride"] > 1}
st.caption(f"Reference {ref['start']} → {ref['end']} · current {cur['start']} → {cur['end']}"
           + (f" · large windows read as a deterministic sample ({', '.join(sorted(sampled))})" if sampled else ""))

for note in report.notes:
    st.info(note)
st.subheader("Most-drifted (signal, cohort) pairs")
st.caption(f"refusal_rate here is the {ui.signal_label('refusal_rate_answer').lower()} (signal refusal_rate_answer); "
           f"the Cohorts page shows the {ui.signal_label('refusal_rate_trace').lower()}.")
st.dataframe(ranked_table(report, 50), hide_index=True, width="stretch")

top = report.drifted[:10] or report.ranked(3)
if not report.drifted:
    st.success("No significant drift between these windows; the closest pairs are shown below.")
for r in top:
    with st.expander(f"{ui.md(r.signal)} · {ui.md(r.cohort_label)} — {ui.md(r.message)}", expanded=r is top[0]):
        st.altair_chart(series_chart(report, r), width="stretch")
        st.caption(describe_stats(r))
        cols = st.columns(2)
        for col, window in zip(cols, ("reference", "current")):
            links = " · ".join(f"[{t[:12]}…]({trace_url(t)})" for t in r.examples.get(window, []))
            col.markdown(f"**Example traces, {window} window:** {links or '—'}")

if report.insufficient:
    with st.expander(f"{len(report.insufficient)} pairs with too few samples to test"):
        st.dataframe(ranked_table(report, None).query("verdict == 'insufficient samples'"), hide_index=True)
