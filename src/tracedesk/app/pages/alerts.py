"""Alerts: build a joint-condition rule (no JSON typing), backtest it live, save, export, import, suggest."""
from __future__ import annotations

import streamlit as st

from tracedesk.app import ui
from tracedesk.charts.alerts import backtest_chart, episodes_frame, summary_frame

ui.page_setup("Alerts")
al = ui.require_workspace(allow_empty=True).alerts  # backtests and evaluations are cached until the data changes

build, saved, imported, suggest = st.tabs(["Build & backtest", "Saved rules", "Import", "Suggest from incident"])
with build:
    c = st.columns(4)
    name = c[0].text_input("Name", "my-alert")
    severity = c[1].selectbox("Severity", al.severities, index=1)
    owner = c[2].text_input("Owner", "")
    combine = c[3].radio("Fire when", ["all", "any"], horizontal=True,
                         format_func={"all": "all conditions hold", "any": "any condition holds"}.get)
    c = st.columns(4)
    window = c[0].selectbox("Window", al.windows, index=al.windows.index("1h"))
    step = c[1].selectbox("Step", al.windows, index=0)
    min_samples = c[2].number_input("Min samples per window", 1, 100_000, 3)
    group_by = c[3].multiselect("Group by", al.dimensions)
    c = st.columns(3)
    scope = {dim: c[i].multiselect(f"Scope: {dim}", al.dimension_values(dim)) for i, dim in enumerate(("route", "tenant", "model"))}
    choices = al.signal_choices()
    labels = [ch.label for ch in choices]
    conditions = []
    for i in range(int(st.number_input("Conditions", 1, 6, 2))):
        cc = st.columns([3, 1, 1, 2])
        pick = choices[labels.index(cc[0].selectbox(f"Signal {i + 1}", labels, al.default_choice(choices, i), key=f"sig{i}"))]
        agg = cc[1].selectbox("Aggregation", al.aggregations, al.aggregations.index(pick.aggregation), key=f"agg{i}{pick.label}")
        cmp = cc[2].selectbox("Comparator", al.comparators, al.comparators.index(pick.comparator), key=f"cmp{i}{pick.label}")
        thr = cc[3].number_input("Threshold", value=float(pick.threshold), key=f"thr{i}{pick.label}", format="%g")
        conditions.append({"signal": pick.signal, "aggregation": agg, "comparator": cmp, "threshold": thr})
    runbook = st.text_input("Runbook / next action", "")
    with ui.error_boundary(stop=True):  # an invalid rule: each problem with its JSON path
        rule = al.build(name=name, conditions=conditions, combine=combine, window=window, step=step, scope=scope,
                        group_by=group_by, min_samples=min_samples, severity=severity, owner=owner, runbook=runbook)
    with st.spinner("Backtesting…"):
        result = al.backtest(rule)
    st.subheader("Backtest over stored history")
    if len(result.times) == 0:
        st.info("No spans stored yet: the backtest replays history, so ingest traces first.")
    st.caption("Joint rule vs each condition alone: the episodes the joint rule does not page on are the noise it removes.")
    st.dataframe(summary_frame(result), hide_index=True)
    groups = [al.group_label(g.group) for g in result.groups]
    if groups:
        firing_first = sorted(groups, key=lambda g: -sum(al.group_label(e.group) == g for e in result.episodes))
        shown = st.selectbox("Group", firing_first) if len(groups) > 1 else groups[0]
        st.altair_chart(backtest_chart(result, shown), width="stretch")
    st.dataframe(episodes_frame(result), hide_index=True)
    c = st.columns(2)
    if c[0].button("Save rule", type="primary"):
        al.save(rule)
        st.success(f"Saved {ui.md(rule.name)}.")
    c[1].download_button("Download JSON", al.dumps(rule), f"{rule.name}.alert.json", "application/json")

with saved:
    rules = al.list()
    if not rules:
        st.info("No saved rules yet: build one and press **Save rule**, or import a file.")
    else:
        for r in rules:
            firing = al.firing(r)
            state = "FIRING: " + ", ".join(ui.md(g, limit=80) for g in firing) if firing else "quiet"
            with st.expander(f"{ui.md(r.name)} · {ui.md(r.severity)} · {state}"):
                st.code(al.dumps(r), language="json")
                st.download_button("Download", al.dumps(r), f"{r.name}.alert.json", key=f"dl-{r.name}")
        st.download_button("Download all (bundle)", al.dumps_bundle(rules), "alerts.bundle.json", "application/json")

with imported:
    upload = st.file_uploader("Alert JSON (one rule or a bundle)", type=["json"])
    if upload is not None:
        with ui.error_boundary():
            new_rules = al.loads(upload.getvalue().decode("utf-8", "replace"))
            st.success(f"Valid: {', '.join(ui.md(r.name) for r in new_rules)}")
            if st.button("Save imported rules"):
                for r in new_rules:
                    al.save(r)
                st.success(f"Saved {len(new_rules)} rule(s).")

with suggest:
    st.caption("Mark when and where things went wrong; tracedesk ranks the signals that moved and proposes a joint rule.")
    c = st.columns(4)
    start = c[0].text_input("Incident start (ISO, UTC)", "")
    end = c[1].text_input("Incident end (ISO, UTC)", "")
    dim = c[2].selectbox("Cohort dimension", ["(all traffic)", *al.dimensions])
    value = c[3].selectbox("Value", al.dimension_values(dim) if dim != "(all traffic)" else [])
    if start and end and st.button("Suggest a rule"):
        with ui.error_boundary():
            st.session_state["_alerts_suggestion"] = al.suggest(start, end, {dim: value} if value else {})
    s = st.session_state.get("_alerts_suggestion")
    if s is not None:
        st.write(f"Caught the incident: **{s.caught}** · false episodes elsewhere: **{s.false_episodes}**")
        st.dataframe([m.to_dict() for m in s.movers[:8]], hide_index=True)
        st.code(al.dumps(s.rule), language="json")
        c = st.columns(2)
        if c[0].button("Save suggested rule"):
            al.save(s.rule)
            st.success(f"Saved {ui.md(s.rule.name)}.")
        c[1].download_button("Download suggested rule", al.dumps(s.rule), f"{s.rule.name}.alert.json")
