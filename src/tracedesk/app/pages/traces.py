"""Traces: a filterable, sortable table; the filters live in the URL, so the view is a shareable link."""
from urllib.parse import urlencode

import streamlit as st

from tracedesk.app import ui


ui.page_setup("Traces")
ws = ui.require_workspace()
filters = ui.sidebar_filters(ws)
total = ws.count_traces(filters)
ui.text_search_note(ws, filters)
ui.stop_if_no_match(total)

params = st.query_params
c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
sort_default = params.get("sort") if params.get("sort") in ws.trace_sort_columns else "start_ns"
sort = c1.selectbox("Sort by", ws.trace_sort_columns, index=ws.trace_sort_columns.index(sort_default))
assert sort is not None  # a fixed, non-empty option list
descending = c2.toggle("Descending", value=params.get("desc", "1") != "0")
size = c3.selectbox("Rows", [50, 100, 250], index=0)
pages = max(1, -(-total // size))
requested = params.get("page", "1")
page = c4.number_input(f"Page (of {pages})", min_value=1, max_value=pages,
                       value=min(pages, max(1, int(requested))) if requested.isdigit() else 1)
ui.set_url_params({**{k: v for k, v in params.to_dict().items() if k not in ("sort", "desc", "page")},
                   "sort": sort, "desc": "1" if descending else "0", "page": str(page)})

table = ws.traces(filters, sort=sort, descending=descending, limit=size, offset=(page - 1) * size, with_evals=True)
table.insert(0, "open", "Trace?trace_id=" + table["trace_id"])
st.caption(f"{total:,} traces match · showing {len(table)} · the URL holds these filters: copy it to share the view.")
with st.expander("Export (CSV)"):
    query = urlencode(filters.to_query_params())
    st.caption("Every matching row, not only this page. For Parquet or big exports: "
               f"`tracedesk export --what spans --filter '{query}' -o spans.parquet`")
    what = st.radio("Rows", ["traces", "spans", "evaluations"], horizontal=True, key="export_what")
    if st.button(f"Prepare {what}.csv", key="export_prepare"):  # built on demand, not on every rerun
        st.session_state["export_csv"] = (what, query, ws.export_bytes(what, filters))
    ready = st.session_state.get("export_csv")
    if ready and ready[:2] == (what, query):
        st.download_button(f"Download {what}.csv ({len(ready[2]) / 1e6:.1f} MB)", ready[2], file_name=f"{what}.csv",
                           mime="text/csv", key="export_download")
event = ui.show_frame(
    table.drop(columns=["start_ns"]),
    on_select="rerun", selection_mode="single-row", key="trace_table",
    column_config={
        "open": st.column_config.LinkColumn("open", display_text="open ↗"),
        "start": st.column_config.DatetimeColumn("start (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "cost_usd": st.column_config.NumberColumn("cost $", format="%.5f"),
        "duration_ms": st.column_config.NumberColumn("duration ms", format="%.0f"),
        "eval_pass_rate": st.column_config.NumberColumn("eval pass", format="%.2f"),
        "min_score": st.column_config.NumberColumn("min score", format="%.2f"),
    },
)
rows = event.selection.rows if event is not None else []
if rows:
    chosen = table.iloc[rows[0]]["trace_id"]
    if st.button(f"Open trace {chosen}", type="primary"):
        st.switch_page(ui.page_file("Trace"), query_params={"trace_id": chosen})
else:
    st.caption("Select a row to open its trace here, or use the **open ↗** link.")
