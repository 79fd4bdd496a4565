"""The landing page ("what changed") and the shared time filter in AppTest: feed first, links that
select the right traces, hour-level ranges that survive reruns exactly, empty and one-day stores."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import tracedesk
from changes_synth import build
from tracedesk.app import ui
from tracedesk.store.query import Filters
from tracedesk.timeutil import parse_time

REPO = Path(__file__).resolve().parents[1]
HOME = str(REPO / "app.py")
OVERVIEW = str(REPO / "src/tracedesk/app/pages/overview.py")


def run(page: str, db: str, monkeypatch, params: dict[str, str] | None = None) -> AppTest:
    monkeypatch.setenv("TRACEDESK_DB", db)
    at = AppTest.from_file(page, default_timeout=120)
    for k, v in (params or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_home_shows_the_feed_first_on_the_sample(sample_db_path, monkeypatch):
    at = run(HOME, sample_db_path, monkeypatch)
    ws = tracedesk.open(sample_db_path)
    findings = ws.changes(top=10)
    assert [h.value for h in at.subheader][:3] == ["What changed", "Key figures", "Over time"]
    labels = [e.label for e in at.expander]
    assert labels[:len(findings)] == [f"{i + 1}. {f.title()}" for i, f in enumerate(findings)]
    assert "model=gemini-2.5-flash-preview-09-2025" in labels[0]


def test_feed_links_select_the_cohort_and_window(sample_db_path):
    ws = tracedesk.open(sample_db_path)
    finding = next(f for f in ws.changes() if f.cohort == {"route": "refunds"})
    links = ui.finding_links(finding)
    f = Filters.from_query_params(links["traces"])
    assert f.dims == {"route": ["refunds"]} and f.start_ns == finding.start_ns and f.end_ns == finding.end_ns
    traces = ws.traces(f)
    assert len(traces) > 0 and set(traces["route"]) == {"refunds"}
    assert traces["start_ns"].min() >= finding.start_ns and traces["start_ns"].max() < finding.end_ns
    assert links["alert"] == {"since": links["alert"]["since"], "until": links["alert"]["until"],
                              "cohort.route": "refunds"}
    # the Alerts page reads the same link back
    from tracedesk.alerts.builder import incident_from_params

    assert incident_from_params(links["alert"]) == (links["alert"]["since"], links["alert"]["until"],
                                                    {"route": "refunds"}, [])
    assert parse_time(links["alert"]["since"]) == finding.start_ns


@pytest.mark.parametrize("start, end", [("2026-11-18T13:00:00Z", "2026-11-18T17:00:00Z"),
                                        ("1795093200123456789", "1795107600987654321")])
def test_an_hour_level_link_survives_reruns_exactly(sample_db_path, monkeypatch, start, end):
    at = run(OVERVIEW, sample_db_path, monkeypatch, {"start": start, "end": end, "route": "refunds"})
    want = Filters.from_query_params({"start": start, "end": end, "route": "refunds"})
    for _ in range(2):
        got = Filters.from_query_params(dict(at.query_params))
        assert (got.start_ns, got.end_ns, got.dims) == (want.start_ns, want.end_ns, want.dims)
        at.run()
        assert not at.exception
    ws = tracedesk.open(sample_db_path)
    traces = [m.value for m in at.metric if m.label == "Traces"][0]
    assert traces == f"{ws.count_traces(want):,}"


def test_quick_range_last_6h(sample_db_path, monkeypatch):
    at = run(OVERVIEW, sample_db_path, monkeypatch)
    at.sidebar.selectbox(key="tdf_quick").set_value("Last 6 h").run()
    ws = tracedesk.open(sample_db_path)
    _lo, hi = ws.time_bounds()
    got = Filters.from_query_params(dict(at.query_params))
    assert got.start_ns == hi + 1 - 6 * 3600 * 10**9 and got.end_ns is None


def test_empty_and_one_day_stores(tmp_path, monkeypatch):
    empty = str(tmp_path / "empty.db")
    tracedesk.open(empty, create=True).close()
    run(HOME, empty, monkeypatch)
    one_day = str(tmp_path / "one_day.db")
    build(one_day, 24, {("billing", "acme", "m1"): lambda h: 2}, lambda seg, h, k: 0.01)
    at = run(HOME, one_day, monkeypatch)
    assert at.subheader[0].value == "What changed"
