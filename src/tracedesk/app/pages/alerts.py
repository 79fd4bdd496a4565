"""Alerts: build a joint-condition rule (no JSON typing), backtest it live, save, export, import, suggest."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from tracedesk.app import ui
from tracedesk.charts.alerts import backtest_chart, episodes_frame, summary_frame

ui.page_setup("Alerts")
ws = ui.require_workspace(allow_empty=True)
al = ws.alerts  # backtests and evaluations are cached until the data changes
# an incident link (?since=&until=&cohort.DIM= or cohort=dim:value) is read before the sidebar rewrites the URL
since0, until0, cohort0, problems = al.incident_from_params(st.query_params)
_kept = st.session_state.get("_alerts_incident")  # the sidebar keeps since/until in the URL, drops cohort.*
if _kept and not cohort0 and (not since0 or _kept[:2] == (since0, until0)):
    since0, until0, cohort0 = _kept
st.session_state["_alerts_incident"] = (since0, until0, cohort0)
filters = ui.sidebar_filters(ws)  # shared with every page

build, saved, imported, suggest = st.tabs(["Build & backtest", "Saved rules", "Import", "Suggest from incident"])
def _kw(key: str, **default: Any) -> dict[str, Any]:
    """A widget's key, plus its default unless the session already holds a value (an opened rule)."""
    return {"key": key} if key in st.session_state else {"key": key, **default}


def _open_in_builder(rule: ui.AlertRule) -> None:  # pages import only ui and charts
    # a callback: it runs before the builder's widgets exist, so it may set their values
    try:
        st.session_state.update(al.builder_session(rule))
    except ValueError as exc:
        st.session_state["_alerts_open_error"] = str(exc)


with build:
    extra = st.session_state.get(al.builder_extra_key)
    if extra:
        st.caption("Opened from a suggestion: its per-condition minimum samples, windows, relative thresholds "
                   "(a new cohort against the one it replaced: edit those as JSON) and on-call fields are kept.")
    c: Sequence[DeltaGenerator] = st.columns(4)
    name = c[0].text_input("Name", **_kw("b_name", value="my-alert"))
    severity = c[1].selectbox("Severity", al.severities, **_kw("b_severity", index=1))
    owner = c[2].text_input("Owner", **_kw("b_owner", value=""))
    combine = c[3].radio("Fire when", ["all", "any"], horizontal=True, **_kw("b_combine"),
                         format_func={"all": "all conditions hold", "any": "any condition holds"}.get)
    c = st.columns(4)
    window = c[0].selectbox("Window", al.windows, **_kw("b_window", index=al.windows.index("1h")))
    step = c[1].selectbox("Step", al.windows, **_kw("b_step", index=0))
    min_samples = c[2].number_input("Min samples per window", 1, 100_000, **_kw("b_min_samples", value=3))
    group_by = c[3].multiselect("Group by", al.dimensions, **_kw("b_group_by"))
    c = st.columns(3)
    scope = {dim: c[i].multiselect(f"Scope: {dim}", al.dimension_values(dim), **_kw(f"b_scope_{dim}"))
             for i, dim in enumerate(al.scope_pickers)}
    choices = al.signal_choices()
    labels = [ch.label for ch in choices]
    conditions = []
    for i in range(int(st.number_input("Conditions", 1, 6, **_kw("n_conditions", value=2)))):
        cc = st.columns([3, 1, 1, 2, 2])
        pick = choices[labels.index(cc[0].selectbox(f"Signal {i + 1}", labels, **_kw(f"sig{i}", index=al.default_choice(choices, i))))]
        agg = cc[1].selectbox("Aggregation", al.aggregations, **_kw(f"agg{i}{pick.label}", index=al.aggregations.index(pick.aggregation)))
        cmp = cc[2].selectbox("Comparator", al.comparators, **_kw(f"cmp{i}{pick.label}", index=al.comparators.index(pick.comparator)))
        # grouped: a group may be judged against the other values of a group_by dimension (relative_to.peers)
        peers = cc[4].selectbox("Against", al.against_choices(pick, group_by), format_func=al.against_label,
                                help=al.against_help, **_kw(f"against{i}{pick.label}{'|'.join(group_by)}"))
        thr = cc[3].number_input(al.threshold_label(pick, peers), format="%g",
                                 **_kw(f"thr{i}{pick.label}{peers}", value=al.start_threshold(pick, cmp, peers)))
        conditions.append(al.condition(pick, agg, cmp, thr, peers))
    runbook = st.text_input("Runbook / next action", **_kw("b_runbook", value=""))
    c = st.columns(4)  # on-call states (empty: page while the condition holds, as a v1 rule)
    durations = ["", *al.windows]
    picked = {key: c[i].selectbox(label, durations, key=f"b_{key}", format_func=lambda d: d or "—")
              for i, (key, label) in enumerate((("for", "Pending for"), ("resolve_after", "Resolve after"),
                                                ("renotify", "Renotify every")))}
    picked["no_data"] = c[3].selectbox("No data", ["ok", "alert", "keep"], key="b_no_data")
    conditions, scope, states = al.apply_builder_extra(conditions, scope, extra)
    states = {**{k: v for k, v in picked.items() if v and v != "ok"}, **states}
    with ui.error_boundary(stop=True):  # an invalid rule: each problem with its JSON path
        rule = al.build(name=name, conditions=conditions, combine=combine, window=window, step=step, scope=scope,
                        group_by=group_by, min_samples=min_samples, severity=severity, owner=owner, runbook=runbook,
                        states=states)
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
    # a feed finding's "make an alert" link pre-fills these: ?since=...&until=...&cohort=dim:value (or cohort.dim=value)
    st.caption("Mark when and where things went wrong (or open a link with ?since=…&until=…&cohort.route=…); "
               "tracedesk ranks the signals that moved and proposes the smallest rule that pages on it, quietly.")
    for problem in problems:
        st.warning(ui.md(problem))
    c = st.columns(4)
    start = c[0].text_input("Incident start (ISO, UTC)", since0)
    end = c[1].text_input("Incident end (ISO, UTC)", until0)
    dims = ["(all traffic)", *al.dimensions]
    first = next(iter(cohort0), None)
    dim = c[2].selectbox("Cohort dimension", dims, index=dims.index(first) if first in dims else 0)
    assert dim is not None  # dims is never empty
    options = al.dimension_values(dim) if dim != "(all traffic)" else []
    value = c[3].selectbox("Value", options, index=options.index(cohort0[dim]) if cohort0.get(dim) in options else 0)
    cohort = {**{k: v for k, v in cohort0.items() if k != dim}, **({dim: value} if value else {})}
    if len(cohort) > 1:
        st.caption("Cohort: " + ui.md(", ".join(f"{k}={v}" for k, v in cohort.items())))
    if start and end and st.button("Suggest a rule"):
        with ui.error_boundary():
            st.session_state["_alerts_suggestion"] = al.suggest(start, end, cohort)
    s = st.session_state.get("_alerts_suggestion")
    if s is not None:
        st.write(f"Caught the incident: **{s.caught}** · false episodes elsewhere: **{s.false_episodes}**")
        delay = "—" if s.delay_min is None else f"{s.delay_min:.0f} min"
        st.write(f"Pages after **{delay}** · pages during the incident: **{s.pages_in_incident}** · false pages "
                 f"outside it: **{s.false_pages}** · proposed group_by: **{', '.join(s.group_by) or 'none'}**")
        for w in s.warnings:
            st.warning(ui.md(w))
        st.dataframe([m.to_dict() for m in s.movers[:8]], hide_index=True)
    if s is not None and s.rule is not None:  # else its one warning above says why no rule is proposed
        st.code(al.dumps(s.rule), language="json")
        c = st.columns(3)
        if c[0].button("Save suggested rule"):
            al.save(s.rule)
            st.success(f"Saved {ui.md(s.rule.name)}.")
        c[1].download_button("Download suggested rule", al.dumps(s.rule), f"{s.rule.name}.alert.json")
        c[2].button("Open in builder", on_click=_open_in_builder, args=(s.rule,))
        if st.session_state.get("_alerts_open_error"):
            st.error(ui.md(st.session_state.pop("_alerts_open_error")))
