"""AppTest: the Sessions page (chat timeline per conversation), users and sessions in the Cohorts page,
tags in the sidebar, and the Traces page's CSV export, on a real ingested file."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import sessions_data as data
from test_app_pages import run as run_repo_page
import tracedesk

REPO = Path(__file__).resolve().parents[1]
PAGES = REPO / "src" / "tracedesk" / "app" / "pages"


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app_sessions")
    return data.build(str(tmp / "s.db"), tmp)


def run(page: str, db: str, monkeypatch, params: dict[str, str] | None = None) -> AppTest:
    """One page of the app on `db` (the workbench tests' runner, given the page's file name)."""
    return run_repo_page(str((PAGES / page).relative_to(REPO)), db, monkeypatch, params)


def texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def test_sessions_page_shows_the_conversation_as_turns(db, monkeypatch):
    at = run("sessions.py", db, monkeypatch, {"session": "conv-a"})
    assert at.selectbox(key="session_pick").value == "conv-a"
    assert texts(at) == ["Where is my order 1042?", "It shipped on Monday.", "Can I change the address?",
                         "Yes, until it leaves the depot.", "Thanks!", "You're welcome."]
    assert [m.value for m in at.metric][:3] == ["3", "alice", "$0.0110"]
    captions = [c.value for c in at.caption]
    assert any(c.startswith("1,000 ms · $0.0040 · helpfulness 0.90 · [open trace") for c in captions)
    assert any("1,500 ms · $0.0010 · not evaluated" in c for c in captions)
    # another conversation: its error and its missing answer are shown as such
    at.selectbox(key="session_pick").set_value("conv-b").run()
    assert texts(at) == ["Refund invoice INV-7?", "Refund issued: 3-5 days.", "It has not arrived",
                         "(no answer recorded)"]
    assert any("1 error span(s)" in c.value for c in at.caption)
    assert at.query_params["session"] in ("conv-b", ["conv-b"])


def test_sessions_page_follows_the_filters_and_says_when_there_is_none(db, monkeypatch, tmp_path):
    at = run("sessions.py", db, monkeypatch, {"tag": "web"})
    assert at.selectbox(key="session_pick").options == ["conv-b · 2 turns"]
    at = run("sessions.py", db, monkeypatch, {"user_id": "carol"})  # carol's one turn has no session
    assert [i.value for i in at.info] == ["No conversations here: these traces carry no session id."]


def test_tags_in_the_sidebar_filter_the_traces(db, monkeypatch):
    at = run("traces.py", db, monkeypatch)
    tags = at.multiselect(key="tdf_tags")
    assert tags.options == ["beta", "mobile", "web"]
    tags.set_value(["mobile"]).run()
    assert not at.exception
    assert any(c.value.startswith("2 traces match") for c in at.caption)
    assert at.query_params["tag"] in ("mobile", ["mobile"])


def test_cohorts_page_offers_users_and_sessions(db, monkeypatch):
    at = run("cohorts.py", db, monkeypatch)
    box = at.selectbox[0]
    assert box.options[-2:] == ["user id", "session id"]  # shown with spaces
    box.set_value("user_id").run()
    assert not at.exception
    assert "Metrics by user id" in [s.value for s in at.subheader]


def test_traces_page_exports_the_filtered_rows_as_csv(db, monkeypatch):
    at = run("traces.py", db, monkeypatch, {"user_id": "alice"})
    at.radio(key="export_what").set_value("spans").run()
    at.button(key="export_prepare").click().run()
    assert not at.exception
    payload = at.session_state["export_csv"]
    assert payload[0] == "spans" and "user_id=alice" in payload[1]
    rows = list(csv.DictReader(io.StringIO(payload[2].decode())))
    with tracedesk.open(db) as ws:
        expected = sorted(ws.spans(tracedesk.Filters(dims={"user_id": ["alice"]}))["span_id"])
    assert sorted(r["span_id"] for r in rows) == expected
    assert {r["user_id"] for r in rows} == {"alice"} and len(rows) == 3
