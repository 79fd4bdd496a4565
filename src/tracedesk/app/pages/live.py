"""Live: receive traces from a running app over OTLP/HTTP, and watch them arrive."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from tracedesk.app import ui

ui.page_setup("Live traces")
db = ui.db_path()
st.caption(f"Database: `{db}`")


def _when(ns: int | None) -> str:
    if not ns:
        return "—"
    return dt.datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


running = ui.live_handle(db).status()
if running is None:
    st.info("No receiver is running for this database. Start one here, or run "
            f"`tracedesk serve --db {db}` in a terminal.")
    with st.form("start"):
        cols = st.columns([2, 1, 2])
        host = cols[0].text_input("Bind address", "127.0.0.1",
                                  help="127.0.0.1 accepts only this machine; 0.0.0.0 the network too")
        port = cols[1].number_input("Port", min_value=0, max_value=65535, value=4318, key="port",
                                    help="4318 is the OTLP/HTTP default; 0 picks a free port")
        token = cols[2].text_input("Bearer token (optional)", type="password")
        if st.form_submit_button("Start receiver", type="primary"):
            with ui.error_boundary():  # port taken, folder missing...: the receiver's own message
                running = ui.live_handle(db).start(host=host, port=int(port), token=token or None)
                st.rerun()
else:
    auth = " · bearer token required" if running.token_required else ""
    st.success(f"Receiver running (pid {running.pid}) since {_when(running.started_ns)}{auth}")
    st.markdown("Point your instrumented app at it:")
    st.code(f"export OTEL_EXPORTER_OTLP_ENDPOINT={running.endpoint}\n"
            "export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", language="bash")
    if st.button("Stop receiver", key="stop"):
        ui.live_handle(db).stop()
        st.rerun()


def _activity() -> None:
    live = ui.live_handle(db)  # `ws.live` once the receiver has created the database
    info = live.status()
    activity = live.activity()
    cols = st.columns(4)
    cols[0].metric("Spans received (all time)", f"{activity.received_spans:,}")
    cols[1].metric(f"Ending in the last {activity.window_s // 60} min", f"{activity.recent_spans:,}")
    counts = (info.counts or {}) if info else {}
    cols[2].metric("Requests this run", f"{counts.get('requests', 0):,}",
                   help=f"rejected records: {counts.get('rejected', 0)}")
    cols[3].metric("Last request", _when(info.last_request_ns if info else None)[11:] or "—")
    if activity.recent.empty:
        st.caption("No spans have arrived through the receiver yet.")
    else:
        frame = activity.recent.copy()
        frame.insert(frame.columns.get_loc("end_ns"), "ended", frame["end_ns"].map(_when))
        frame.insert(0, "open", "Trace?trace_id=" + frame["trace_id"])
        st.dataframe(frame.drop(columns=["end_ns"]), hide_index=True,
                     column_config={"open": st.column_config.LinkColumn("open", display_text="open ↗")})


st.subheader("Recent arrivals")
auto = st.toggle("Refresh every 5 s", value=False, key="auto")
st.button("Refresh now", key="refresh")
if auto:
    st.fragment(run_every=5)(_activity)()
else:
    _activity()
