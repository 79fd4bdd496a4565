"""tracedesk — Streamlit entry point: `streamlit run app.py` (database: $TRACEDESK_DB or ./tracedesk.db).

On first launch with no database file, the bundled sample week is built so there is something to explore.
"""
import streamlit as st

from tracedesk.app import ui


ui.page_setup("tracedesk")
path = ui.db_path()
note = ui.ensure_database(path)
ws = ui.require_workspace(path)
if note or ws.is_sample():
    st.info(note or ws.sample_note())

st.caption(f"Database: `{path}` — where quality, cost and latency broke together: which cohort, which "
           "prompt version, which agent step.")
kpis = ws.kpis()
ui.kpi_row(kpis)

st.subheader("Investigate")
c1, c2 = st.columns(2)
with c1:
    st.page_link(ui.page_file("Overview"), label="Overview — KPIs over time, worst cohorts, monitoring health")
    st.page_link(ui.page_file("Traces"), label="Traces — filter, sort and share a list of traces")
    st.page_link(ui.page_file("Trace"), label="Trace — spans, waterfall, trajectory graph, scores")
    st.page_link(ui.page_file("Agents"), label="Agents — handoff topology and per-agent figures")
    st.page_link(ui.page_file("Cohorts"), label="Cohorts — metrics by route / tenant / model / prompt version")
with c2:
    for page, label in (("Evaluations", "Evaluations — run judges and heuristics"),
                        ("Alerts", "Alerts — joint-condition alerts, backtest, export"),
                        ("Drift", "Drift — score and retrieval drift per cohort"),
                        ("Live", "Live — receive OTLP traffic")):
        st.page_link(ui.page_file(page), label=label)

worst = ws.worst_cohorts(top=3)
if not worst.empty:
    st.subheader("Furthest from the global figure")
    ui.show_frame(ui.worst_display(worst))
