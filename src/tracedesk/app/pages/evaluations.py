"""Evaluations: run judges and checks on a failure-biased sample, then read scores by cohort and a
review queue (worst first) that links to each trace."""
import os
from collections.abc import Sequence

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from tracedesk.app import ui
from tracedesk.charts.evals import score_histogram

ui.page_setup("Evaluations")
ws = ui.require_workspace()
filters = ui.sidebar_filters(ws)  # shared with every page (the run samples from the whole store)
if ws.evals.judges_missing:  # heuristics still run; say how to get the judges
    st.warning(ws.evals.judges_missing)

with st.form("run"):
    picked = st.multiselect("Evaluators", ws.evals.names(), default=["pii", "prompt_injection", "refusal"],
                            key="evaluators", help="judges need a model; heuristics run locally for free")
    c: Sequence[DeltaGenerator] = st.columns(3)
    model = c[0].text_input("Judge model", os.environ.get("TRACEDESK_JUDGE_MODEL", ""), key="model",
                            help="any litellm model, e.g. gpt-4o-mini (key from OPENAI_API_KEY) or openai/NAME")
    api_base = c[1].text_input("API base (optional)", "", key="api_base",
                               help="OpenAI-compatible server, e.g. http://localhost:11434/v1. The provider key "
                                    "(OPENAI_API_KEY, ...) is never sent to it: set TRACEDESK_JUDGE_API_KEY on the "
                                    "server for a base that needs a key.")
    strategy = c[2].selectbox("Sampling", ws.evals.strategies, key="sampling", help="failure-biased judges errors, "
                              "low scores, thumbs-down and outliers first, plus a uniform baseline")
    c = st.columns(3)
    limit = c[0].number_input("Spans to evaluate", min_value=1, value=200, step=50, key="limit")
    max_usd = c[1].number_input("Max judge spend (USD, 0 = no cap)", min_value=0.0, value=1.0, step=0.5)
    concurrency = c[2].slider("Concurrent judge calls", 1, 32, 4)
    go = st.form_submit_button("Run evaluators", type="primary", key="run")

if go:
    bar = st.progress(0.0, text="sampling…")

    def _progress(done: int, total: int, rep: "ui.RunReport") -> None:  # pages import only ui and charts
        bar.progress(done / max(total, 1), text=f"{done}/{total} · {rep.judge_calls} calls · "
                                                f"{rep.cache_hits} cached · ${rep.cost_usd:.4f}")

    with ui.error_boundary():
        report = ws.evals.run(picked, model=model.strip() or None, api_base=api_base.strip() or None,
                              sample=strategy, limit=int(limit), max_usd=max_usd or None, concurrency=concurrency,
                              progress=_progress)
        bar.progress(1.0, text="done")
        st.session_state["view_evaluator"] = picked[0]  # show what was just run
        st.success(report.lines()[1])
        st.code("\n".join(report.lines()), language=None)

names = ws.evals.evaluated()
if not names:
    st.info("No evaluations yet. Pick evaluators above and press **Run evaluators** "
            "(or run `tracedesk eval run --evaluator pii`).")
    ui.stop()

st.subheader("Score distributions by cohort")
c = st.columns(2)
if st.session_state.get("view_evaluator") not in names:
    st.session_state.pop("view_evaluator", None)
name = c[0].selectbox("Evaluator", names, key="view_evaluator")
by = c[1].selectbox("Cohort", ws.evals.cohort_columns, key="cohort")
assert name is not None and by is not None  # both option lists are non-empty here
st.altair_chart(score_histogram(ws.evals.histogram(name, by), name, by), width="stretch")
ui.show_frame(ws.evals.by_cohort(name, by), column_config={
    "mean": st.column_config.NumberColumn(format="%.3f"), "pass_rate": st.column_config.NumberColumn(format="%.2f"),
    "p10": st.column_config.NumberColumn(format="%.2f")})

st.subheader("Review queue (worst first)")
queue = ws.evals.review_queue(limit=100)
if queue.empty:
    st.success("Nothing failed: every evaluated span passed.")
else:
    queue.insert(0, "open", "Trace?trace_id=" + queue["trace_id"])
    ui.show_frame(queue, column_config={"open": st.column_config.LinkColumn("open", display_text="open ↗"),
                                        "score": st.column_config.NumberColumn(format="%.2f")})

with st.expander("Pass thresholds (score-only evaluations get their verdict here)"):
    rules = ws.evals.pass_rules()
    ui.show_frame(rules)
    with st.form("pass_rule"):
        r = st.columns(3)
        rule_name = r[0].selectbox("Evaluator", [x["evaluator"] for x in rules], key="rule_name")
        rule_threshold = r[1].number_input("Threshold", value=0.5, step=0.05, key="rule_threshold")
        rule_direction = r[2].selectbox("Passes when the score is", ["higher", "lower"], key="rule_direction")
        if st.form_submit_button("Save rule") and rule_name and rule_direction:
            with ui.error_boundary():
                changed = ws.evals.set_pass_rule(rule_name, rule_threshold, rule_direction)
                st.success(f"Saved: {changed} derived verdicts of {ui.md(rule_name)} re-derived.")

with st.expander("Custom judges"):
    with st.form("custom"):
        cname = st.text_input("Name (snake_case)", key="custom_name")
        rubric = st.text_area("Rubric", "Does the {output} answer the {input} politely and completely?",
                              help="placeholders: {input} {output} {context} {trajectory}")
        threshold = st.slider("Pass threshold", 0.0, 1.0, 0.5)
        if st.form_submit_button("Save judge", key="save_custom"):
            with ui.error_boundary():
                ws.evals.add_custom_judge({"name": cname, "rubric": rubric, "threshold": threshold})
                st.success(f"Saved {ui.md(repr(cname))}: pick it in Evaluators above.")
    st.download_button("Export custom judges (JSON)", ws.evals.export_custom_judges(), "custom_judges.json")
