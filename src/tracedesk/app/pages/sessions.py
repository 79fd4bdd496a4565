"""Sessions: conversations (traces sharing a session id) as a chat timeline of their turns, each with its
scores, cost and latency, and the list of conversations under the shared filters."""
from typing import Any

import streamlit as st

from tracedesk.app import ui


def _v(x: Any) -> Any:  # pandas gives NaN for a missing figure; the formatters expect None
    return None if x is None or x != x else x


ui.page_setup("Sessions")
ws = ui.require_workspace()
wanted = st.query_params.get("session")  # read before the sidebar rewrites the URL
filters = ui.sidebar_filters(ws)
table = ws.sessions(filters)
if table.empty:
    st.info("No conversations here: these traces carry no session id.")
    st.caption("Next step: send `session.id` (OpenInference, Langfuse), `gen_ai.conversation.id` (OTel GenAI) "
               "or a `session_id` field (JSON Lines) with each trace; tracedesk groups the turns by it.")
    ui.stop()

st.caption(f"{len(table):,} conversations match (most recent first"
           f"{'; showing the first 500' if len(table) >= 500 else ''}). Pick one to read it turn by turn.")
ids = table["session_id"].tolist()
index = ids.index(wanted) if wanted in ids else 0
chosen = st.selectbox("Conversation", ids, index=index, key="session_pick",
                      format_func=lambda s: f"{s} · {table.set_index('session_id').loc[s, 'turns']} turns")
ui.set_url_params({**filters.to_query_params(), "session": chosen}, keep=("session",))

row = table.set_index("session_id").loc[chosen]
c = st.columns(5)
c[0].metric("Turns", ui.fmt_int(row["turns"]))
c[1].metric("User", str(row["user_id"] or "—") + (f" (+{int(row['users']) - 1})" if row["users"] > 1 else ""))
c[2].metric("Cost", ui.fmt_usd(_v(row["cost_usd"])))
c[3].metric("Mean latency", ui.fmt_ms(_v(row["mean_latency_ms"])))
c[4].metric("Eval pass rate", ui.fmt_pct(_v(row["eval_pass_rate"])))

st.subheader("Conversation")
turns = ws.session(chosen)
for n, turn in enumerate(turns.itertuples(index=False), start=1):
    with st.chat_message("user"):
        st.text(turn.user_input if isinstance(turn.user_input, str) else "(no input recorded)")
        st.caption(f"turn {n} · {turn.start:%Y-%m-%d %H:%M:%S} UTC · user {turn.user_id or '—'}")
    with st.chat_message("assistant"):
        answer = turn.assistant_output if isinstance(turn.assistant_output, str) else None
        st.text(answer or "(no answer recorded)")
        scores = " · ".join(f"{k} {v:.2f}" for k, v in sorted(turn.scores.items()) if v is not None)
        errors = f" · {int(turn.error_count)} error span(s)" if turn.error_count else ""
        st.caption(f"{ui.fmt_ms(_v(turn.duration_ms))} · {ui.fmt_usd(_v(turn.cost_usd))}{errors}"
                   f"{' · ' + scores if scores else ' · not evaluated'} · [open trace ↗](Trace?trace_id={turn.trace_id})")

st.subheader("All conversations")
view = table.drop(columns=["first_ns", "last_ns"])
view.insert(0, "open", "Sessions?session=" + view["session_id"])
ui.show_frame(view, column_config={
    "open": st.column_config.LinkColumn("open", display_text="open ↗"),
    "cost_usd": st.column_config.NumberColumn("cost $", format="%.5f"),
    "mean_latency_ms": st.column_config.NumberColumn("mean latency ms", format="%.0f"),
    "eval_pass_rate": st.column_config.NumberColumn("eval pass", format="%.2f"),
    "min_score": st.column_config.NumberColumn("min score", format="%.2f"),
    "first": st.column_config.DatetimeColumn("first (UTC)", format="YYYY-MM-DD HH:mm"),
    "last": st.column_config.DatetimeColumn("last (UTC)", format="YYYY-MM-DD HH:mm"),
})
