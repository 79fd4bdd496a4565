"""tracedesk — Streamlit entry point: `streamlit run app.py` (database: $TRACEDESK_DB or ./tracedesk.db).

On first launch with no database file, the bundled sample week is built so there is something to explore.
"""
from pathlib import Path

import streamlit as st

from tracedesk import ui

ui.page_setup("tracedesk")
path = ui.db_path()
note = ui.ensure_database(path)
ws = ui.require_workspace(path)
if note or ws.is_sample():
    from tracedesk.sample import sample_note

    st.info(sample_note())

st.caption(f"Database: `{path}` — where quality, cost and latency broke together: which cohort, which "
           "prompt version, which agent step.")
kpis = ws.kpis()
ui.kpi_row(kpis)

st.subheader("Investigate")
c1, c2 = st.columns(2)
with c1:
    st.page_link("pages/1_Overview.py", label="Overview — KPIs over time, worst cohorts, monitoring health")
    st.page_link("pages/2_Traces.py", label="Traces — filter, sort and share a list of traces")
    st.page_link("pages/3_Trace.py", label="Trace — spans, waterfall, trajectory graph, scores")
    st.page_link("pages/4_Agents.py", label="Agents — handoff topology and per-agent figures")
    st.page_link("pages/5_Cohorts.py", label="Cohorts — metrics by route / tenant / model / prompt version")
with c2:
    for page, label in (("pages/6_Evaluations.py", "Evaluations — run judges and heuristics"),
                        ("pages/7_Alerts.py", "Alerts — joint-condition alerts, backtest, export"),
                        ("pages/8_Drift.py", "Drift — score and retrieval drift per cohort"),
                        ("pages/9_Live.py", "Live — receive OTLP traffic")):
        if (Path(__file__).parent / page).exists():
            st.page_link(page, label=label)

worst = ws.worst_cohorts(top=3)
if not worst.empty:
    st.subheader("Furthest from the global figure")
    ui.show_frame(ui.worst_display(worst))
