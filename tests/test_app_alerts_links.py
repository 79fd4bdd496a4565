"""The Alerts page's links: an incident in the URL pre-fills the suggester, and a suggested rule opens in
the builder (same rule, same backtest)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from alerts_data import WEEK_START, H, build_week
from tracedesk.alerts import parse_rule

PAGE = str(Path(__file__).resolve().parent.parent / "src/tracedesk/app/pages/alerts.py")


def _iso(ns):
    import datetime as dt
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def week_db(tmp_path, monkeypatch):
    path = str(tmp_path / "week.db")
    build_week(path, hours=72)
    monkeypatch.setenv("TRACEDESK_DB", path)
    return path


def test_url_prefills_the_suggester_and_the_rule_opens_in_the_builder(week_db):
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.query_params["since"] = _iso(WEEK_START + 50 * H)
    at.query_params["until"] = _iso(WEEK_START + 53 * H)
    at.query_params["cohort.route"] = "refunds"
    at.query_params["cohort.colour"] = "red"
    at.run()
    assert not at.exception, at.exception
    inputs = {t.label: t.value for t in at.text_input}
    assert inputs["Incident start (ISO, UTC)"] == _iso(WEEK_START + 50 * H)
    assert {s.label: s.value for s in at.selectbox}["Value"] == "refunds"
    assert any("'colour' is not one of" in w.value for w in at.warning)
    [b for b in at.button if b.label == "Suggest a rule"][0].click().run()
    assert not at.exception, at.exception
    suggested = parse_rule(__import__("json").loads([c.value for c in at.code if '"tracedesk_alert": 1' in c.value][-1]))
    assert any("false pages outside it: **0**" in m.value for m in at.markdown)
    [b for b in at.button if b.label == "Open in builder"][0].click().run()
    assert not at.exception, at.exception
    # the builder now shows the suggested rule: its name, window, scope and conditions
    assert at.text_input[0].value == suggested.name
    labels = [at.selectbox(key=f"sig{i}").value for i in range(len(suggested.leaves()))]
    assert labels == ["RETRIEVER duration (ms)" if c.signal["type"] == "duration" else "groundedness score"
                      for c in suggested.leaves()]
    assert at.multiselect(key="b_scope_route").value == ["refunds"]
    summary = at.dataframe[0].value
    assert list(summary["episodes"])[0] == 1  # the joint rule, as backtested by the suggester: one episode
