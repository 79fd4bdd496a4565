"""The Alerts page under Streamlit's AppTest: builder, live backtest, save, export, import, suggest."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from alerts_data import WEEK_START, H, build_week
from tracedesk.alerts import parse_rule
from tracedesk.alerts.storage import list_rules, save_rule

PAGE = str(Path(__file__).resolve().parent.parent / "src/tracedesk/app/pages/alerts.py")


@pytest.fixture
def week_db(tmp_path, monkeypatch):
    path = str(tmp_path / "week.db")
    build_week(path, hours=72)
    monkeypatch.setenv("TRACEDESK_DB", path)
    return path


def _run():
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def _iso(ns):
    import datetime as dt
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_builder_backtests_and_saves_a_joint_rule(week_db):
    at = _run()
    # no JSON typing: pick the signals, thresholds and scope with widgets
    assert at.selectbox(key="sig0").value == "groundedness score"
    at.selectbox(key="sig1").set_value("RETRIEVER duration (ms)").run()
    at.number_input(key="thr0groundedness score").set_value(0.65)
    at.number_input(key="thr1RETRIEVER duration (ms)").set_value(1000.0)
    at.multiselect[1].set_value(["refunds"])  # Scope: route (after Group by)
    at.text_input[0].set_value("refunds-joint").run()
    assert not at.exception, at.exception
    summary = at.dataframe[0].value
    assert list(summary["episodes"]) == [1, 2, 2]  # joint vs each condition alone (the blips)
    episodes = at.dataframe[1].value
    assert len(episodes) == 1 and episodes["start"][0].startswith("2027-01-04T02:")
    assert len(at.get("arrow_vega_lite_chart")) == 1 or len(at.get("vega_lite_chart")) == 1
    at.button[0].click().run()
    assert [r.name for r in list_rules(week_db)] == ["refunds-joint"]
    assert [d.label for d in at.get("download_button")][:1] == ["Download JSON"]


def test_invalid_builder_values_show_the_path(week_db):
    at = _run()
    at.text_input[0].set_value("bad name!").run()
    assert not at.exception
    assert any("$.name" in e.value for e in at.error)


def test_saved_rules_tab_lists_and_checks(week_db):
    doc = {"tracedesk_alert": 1, "name": "saved-one", "window": "15m", "step": "5m",
           "condition": {"signal": {"type": "eval_score", "evaluator": "groundedness"}, "aggregation": "mean",
                         "comparator": "<", "threshold": 0.95}}
    save_rule(week_db, parse_rule(doc))
    at = _run()
    labels = [e.label for e in at.expander]
    assert "saved-one · medium · FIRING: all" in labels
    assert "Download all (bundle)" in [d.label for d in at.get("download_button")]


def test_suggest_tab_proposes_a_rule(week_db):
    at = _run()
    inputs = {t.label: t for t in at.text_input}
    inputs["Incident start (ISO, UTC)"].set_value(_iso(WEEK_START + 50 * H))
    inputs["Incident end (ISO, UTC)"].set_value(_iso(WEEK_START + 53 * H))
    boxes = {s.label: s for s in at.selectbox}
    boxes["Cohort dimension"].set_value("route").run()
    {s.label: s for s in at.selectbox}["Value"].set_value("refunds").run()
    [b for b in at.button if b.label == "Suggest a rule"][0].click().run()
    assert not at.exception, at.exception
    assert any("false episodes elsewhere: **0**" in m.value for m in at.markdown)
    code = [c.value for c in at.code if '"tracedesk_alert": 1' in c.value]
    rule = parse_rule(json.loads(code[-1]))
    assert {c.signal["type"] for c in rule.leaves()} == {"duration", "eval_score"}
    [b for b in at.button if b.label == "Save suggested rule"][0].click().run()
    assert not at.exception, at.exception
    assert list_rules(week_db) == [rule]


def test_suggest_tab_explains_when_no_rule_is_proposed(tmp_path, monkeypatch):
    """Nothing moved in the marked incident: the tab shows the suggester's explanation and no rule to save."""
    from test_alerts_suggest_tail import H as TH, T0, _build

    monkeypatch.setenv("TRACEDESK_DB", _build(str(tmp_path / "quiet.db"), stalls=False))
    at = _run()
    inputs = {t.label: t for t in at.text_input}
    inputs["Incident start (ISO, UTC)"].set_value(_iso(T0 + 12 * TH))
    inputs["Incident end (ISO, UTC)"].set_value(_iso(T0 + 20 * TH))
    {s.label: s for s in at.selectbox}["Cohort dimension"].set_value("model").run()
    {s.label: s for s in at.selectbox}["Value"].set_value("m").run()
    [b for b in at.button if b.label == "Suggest a rule"][0].click().run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning if w.value.startswith("no signal moved against its baseline")]
    assert not [c for c in at.code if '"tracedesk_alert": 1' in c.value]
    assert "Save suggested rule" not in [b.label for b in at.button]


def test_builder_compares_each_group_with_the_other_groups(week_db):
    """Group by route, one condition against the other routes (relative_to.peers): each route's retriever p95
    over 3x the other route's pages on the three latency incidents of either route, and the saved rule says so."""
    at = _run()
    at.number_input(key="n_conditions").set_value(1).run()
    at.multiselect(key="b_group_by").set_value(["route"]).run()
    at.selectbox(key="sig0").set_value("RETRIEVER duration (ms)").run()
    at.selectbox(key="agg0RETRIEVER duration (ms)").set_value("p95")
    at.selectbox(key="against0RETRIEVER duration (ms)route").set_value("route").run()
    assert not at.exception, at.exception
    at.number_input(key="thr0RETRIEVER duration (ms)route").set_value(3.0)
    at.text_input[0].set_value("retriever-vs-peers").run()
    assert not at.exception, at.exception
    episodes = at.dataframe[1].value
    # LAT-BLIP (refunds, 27-27.5 h), OTHER-ROUTE (billing, 40-42 h), JOINT (refunds, 50-53 h): the 1 h windows
    # page from the first 5-minute evaluation after each starts
    assert [(g, s) for g, s in zip(episodes["group"], episodes["start"])] == [
        ("route=refunds", _iso(WEEK_START + 27 * H + 300 * 10**9)),
        ("route=billing", _iso(WEEK_START + 40 * H + 600 * 10**9)),
        ("route=refunds", _iso(WEEK_START + 50 * H + 300 * 10**9))]
    at.button[0].click().run()
    (rule,) = list_rules(week_db)
    assert rule.condition.relative_to.to_dict() == {"peers": "route", "factor": 3.0}
