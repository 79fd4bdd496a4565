"""tracedesk — the landing page: what changed, where, since when; then the KPIs and quality over time.

Streamlit entry point: `streamlit run app.py` (database: $TRACEDESK_DB or ./tracedesk.db). On first launch
with no database file, the bundled sample week is built so there is something to explore.
"""
import streamlit as st

from tracedesk import charts
from tracedesk.app import ui

ui.page_setup("tracedesk")
path = ui.db_path()
note = ui.ensure_database(path)
ws = ui.require_workspace(path)
if note or ws.is_sample():
    st.info(note or ws.sample_note())

filters = ui.sidebar_filters(ws)
st.caption(f"Database: `{path}` — what changed, where and since when: which cohort, which prompt version, "
           "which agent step. Times are UTC.")

st.subheader("What changed")
# The feed scans every signal and cohort (seconds on a first look at a big store): its place stays at
# the top, and it is filled in once the key figures and charts below are drawn.
feed = st.container()
with feed:
    scanning = st.empty()
    scanning.caption("Scanning every signal and cohort for changes... the key figures below are ready.")

st.subheader("Key figures")
ui.kpi_row(ws.kpis(filters))

st.subheader("Over time")
ts = ws.timeseries(filters)
# two per row: four in a row left each plot a few pixels tall once titles and axes took their share
for pair in (("traces", "error_rate"), ("latency_p95_ms", "cost_per_trace")):
    for col, metric in zip(st.columns(2), pair):
        col.altair_chart(charts.timeseries_chart(ts, metric), width="stretch")
quality = ws.signals_over_time(filters)
names = list(dict.fromkeys(quality["signal"]))  # in the order signals_over_time gives them
for i in range(0, len(names), 2):
    for col, name in zip(st.columns(2), names[i:i + 2]):
        col.altair_chart(charts.changes.signal_chart(quality, name), width="stretch")

st.subheader("Investigate")
c1, c2 = st.columns(2)
with c1:
    st.page_link(ui.page_file("Overview"), label="Overview — KPIs over time, monitoring health")
    st.page_link(ui.page_file("Traces"), label="Traces — filter, sort and share a list of traces")
    st.page_link(ui.page_file("Trace"), label="Trace — spans, waterfall, trajectory graph, scores")
    st.page_link(ui.page_file("Agents"), label="Agents — handoff topology and per-agent figures")
    st.page_link(ui.page_file("Sessions"), label="Sessions — conversations turn by turn, with scores and cost")
    st.page_link(ui.page_file("Cohorts"), label="Cohorts — metrics by cohort; furthest from the global figure")
with c2:
    for page, label in (("Evaluations", "Evaluations — run judges and heuristics"),
                        ("Alerts", "Alerts — joint-condition alerts, backtest, export"),
                        ("Drift", "Drift — score and retrieval drift per cohort"),
                        ("Live", "Live — receive OTLP traffic")):
        st.page_link(ui.page_file(page), label=label)


def _feed_progress(done: int, total: int, what: str) -> None:
    # the first feed after new data reads every row once (seconds on a big store): show how far it is
    text = (f"New data since the last look: updating the feed's stored samples (once) — {what} ({done + 1}/{total})"
            if done < total else "Stored samples up to date; scanning every signal and cohort for changes...")
    scanning.progress(done / max(total, 1), text=text)


with feed:
    findings = ws.changes(filters.start_ns, filters.end_ns, top=10, progress=_feed_progress)
    scanning.empty()
    if not findings:
        st.caption("No signal departs from its own baseline in this range (every signal and cohort was scanned; "
                   "differences that hold over the whole range are not changes).")
    for i, finding in enumerate(findings):
        ui.finding_card(ws, finding, i, expanded=i < 5)
