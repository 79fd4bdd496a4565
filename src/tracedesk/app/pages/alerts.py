"""Alerts: build a joint-condition rule (no JSON typing), backtest it live, save, export, import, suggest."""
from __future__ import annotations

import os

import streamlit as st

from tracedesk.alerts import AGGREGATIONS, COMPARATORS, SEVERITIES, AlertValidationError, dumps_bundle, dumps_rule, loads
from tracedesk.alerts.builder import (BUILDER_DIMENSIONS, WINDOWS, build_rule, default_choice, dimension_values,
                                      signal_choices)
from tracedesk.charts.alerts import backtest_chart, episodes_frame, summary_frame
from tracedesk.alerts.evaluate import backtest, evaluate, group_label
from tracedesk.alerts.storage import list_rules, save_rule
from tracedesk.alerts.suggest import suggest_from_text
from tracedesk.app import ui
from tracedesk.app.ui import db_path

st.title("Alerts")
db = db_path()
if not os.path.exists(db):
    st.info("No database yet: ingest traces (`tracedesk ingest FILE`) or load the sample from the Overview page.")
    st.stop()


@st.cache_data(show_spinner="Backtesting…", max_entries=32)
def _backtest(path: str, mtime: float, rule_json: str):
    return backtest(path, loads(rule_json)[0])


@st.cache_data(show_spinner=False, max_entries=64)
def _firing(path: str, mtime: float, rule_json: str) -> list[str]:
    return [group_label(e["group"]) for e in evaluate(path, loads(rule_json)[0]) if e["firing"]]


def _show_errors(exc: AlertValidationError) -> None:
    for path, message in exc.errors:
        st.error(f"{ui.md_code(path)}: {ui.md(message)}")


build, saved, imported, suggest = st.tabs(["Build & backtest", "Saved rules", "Import", "Suggest from incident"])
with build:
    c = st.columns(4)
    name = c[0].text_input("Name", "my-alert")
    severity = c[1].selectbox("Severity", SEVERITIES, index=1)
    owner = c[2].text_input("Owner", "")
    combine = c[3].radio("Fire when", ["all", "any"], horizontal=True,
                         format_func={"all": "all conditions hold", "any": "any condition holds"}.get)
    c = st.columns(4)
    window = c[0].selectbox("Window", WINDOWS, index=WINDOWS.index("1h"))
    step = c[1].selectbox("Step", WINDOWS, index=0)
    min_samples = c[2].number_input("Min samples per window", 1, 100_000, 3)
    group_by = c[3].multiselect("Group by", BUILDER_DIMENSIONS)
    c = st.columns(3)
    scope = {dim: c[i].multiselect(f"Scope: {dim}", dimension_values(db, dim)) for i, dim in enumerate(("route", "tenant", "model"))}
    choices = signal_choices(db)
    n = int(st.number_input("Conditions", 1, 6, 2))
    conditions = []
    for i in range(n):
        cc = st.columns([3, 1, 1, 2])
        labels = [ch.label for ch in choices]
        pick = choices[labels.index(cc[0].selectbox(f"Signal {i + 1}", labels, default_choice(choices, i), key=f"sig{i}"))]
        agg = cc[1].selectbox("Aggregation", AGGREGATIONS, AGGREGATIONS.index(pick.aggregation), key=f"agg{i}{pick.label}")
        cmp = cc[2].selectbox("Comparator", COMPARATORS, COMPARATORS.index(pick.comparator), key=f"cmp{i}{pick.label}")
        thr = cc[3].number_input("Threshold", value=float(pick.threshold), key=f"thr{i}{pick.label}", format="%g")
        conditions.append({"signal": pick.signal, "aggregation": agg, "comparator": cmp, "threshold": thr})
    runbook = st.text_input("Runbook / next action", "")
    try:
        rule = build_rule(name=name, conditions=conditions, combine=combine, window=window, step=step, scope=scope,
                          group_by=group_by, min_samples=min_samples, severity=severity, owner=owner, runbook=runbook)
    except AlertValidationError as exc:
        _show_errors(exc)
        st.stop()
    result = _backtest(db, os.path.getmtime(db), dumps_rule(rule))
    st.subheader("Backtest over stored history")
    if len(result.times) == 0:
        st.info("No spans stored yet: the backtest replays history, so ingest traces first.")
    st.caption("Joint rule vs each condition alone: the episodes the joint rule does not page on are the noise it removes.")
    st.dataframe(summary_frame(result), hide_index=True)
    groups = [group_label(g.group) for g in result.groups]
    if groups:
        firing_first = sorted(groups, key=lambda g: -sum(group_label(e.group) == g for e in result.episodes))
        shown = st.selectbox("Group", firing_first) if len(groups) > 1 else groups[0]
        st.altair_chart(backtest_chart(result, shown), width="stretch")
    st.dataframe(episodes_frame(result), hide_index=True)
    c = st.columns(2)
    if c[0].button("Save rule", type="primary"):
        save_rule(db, rule)
        st.success(f"Saved {ui.md(rule.name)}.")
    c[1].download_button("Download JSON", dumps_rule(rule), f"{rule.name}.alert.json", "application/json")

with saved:
    rules = list_rules(db)
    if not rules:
        st.info("No saved rules yet: build one and press **Save rule**, or import a file.")
    else:
        for r in rules:
            firing = _firing(db, os.path.getmtime(db), dumps_rule(r))
            state = "FIRING: " + ", ".join(ui.md(g, limit=80) for g in firing) if firing else "quiet"
            with st.expander(f"{ui.md(r.name)} · {ui.md(r.severity)} · {state}"):
                st.code(dumps_rule(r), language="json")
                st.download_button("Download", dumps_rule(r), f"{r.name}.alert.json", key=f"dl-{r.name}")
        st.download_button("Download all (bundle)", dumps_bundle(rules), "alerts.bundle.json", "application/json")

with imported:
    upload = st.file_uploader("Alert JSON (one rule or a bundle)", type=["json"])
    if upload is not None:
        try:
            new_rules = loads(upload.getvalue().decode("utf-8", "replace"))
        except AlertValidationError as exc:
            _show_errors(exc)
        else:
            st.success(f"Valid: {', '.join(ui.md(r.name) for r in new_rules)}")
            if st.button("Save imported rules"):
                for r in new_rules:
                    save_rule(db, r)
                st.success(f"Saved {len(new_rules)} rule(s).")

with suggest:
    st.caption("Mark when and where things went wrong; tracedesk ranks the signals that moved and proposes a joint rule.")
    c = st.columns(4)
    start = c[0].text_input("Incident start (ISO, UTC)", "")
    end = c[1].text_input("Incident end (ISO, UTC)", "")
    dim = c[2].selectbox("Cohort dimension", ["(all traffic)", *BUILDER_DIMENSIONS])
    value = c[3].selectbox("Value", dimension_values(db, dim) if dim != "(all traffic)" else [])
    if start and end and st.button("Suggest a rule"):
        try:
            st.session_state["_alerts_suggestion"] = suggest_from_text(db, start, end, {dim: value} if value else {})
        except ValueError as exc:
            st.error(str(exc))
    s = st.session_state.get("_alerts_suggestion")
    if s is not None:
        st.write(f"Caught the incident: **{s.caught}** · false episodes elsewhere: **{s.false_episodes}**")
        st.dataframe([m.to_dict() for m in s.movers[:8]], hide_index=True)
        st.code(dumps_rule(s.rule), language="json")
        c = st.columns(2)
        if c[0].button("Save suggested rule"):
            save_rule(db, s.rule)
            st.success(f"Saved {ui.md(s.rule.name)}.")
        c[1].download_button("Download suggested rule", dumps_rule(s.rule), f"{s.rule.name}.alert.json")
