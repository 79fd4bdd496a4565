"""The running app in a real headless Chromium: every page of the navigation loads, shows its content and no
exception box. Screenshots go to test-screenshots/ in the repository (or $TRACEDESK_SCREENSHOTS)."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_support import BUSY_JS as _BUSY, CHROMIUM_ARGS, browser, chromium, free_port, serve_app  # noqa: F401

import tracedesk
from tracedesk.store.query import Filters

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("TRACEDESK_SCREENSHOTS") or REPO / "test-screenshots")
from tracedesk.app.main import PAGES as NAVIGATION

PAGES = [url for _file, _title, url, _icon in NAVIGATION if url]
#: text each workbench page shows once rendered (other pages are checked for a title and no exception)
EXPECTED = {
    "": "Investigate",
    "Overview": "Monitoring health",
    "Traces": "traces match",
    "Trace": "Open a trace",
    "Agents": "Per agent",
    "Cohorts": "Furthest from the global figure",
    "Sessions": "Conversation",
}


def url_path(page: str) -> str:
    """Streamlit's URL path of a page (the navigation names each page's URL path)."""
    return page


@pytest.fixture(scope="module")
def app_db(tmp_path_factory, sample_db_path):
    db = tmp_path_factory.mktemp("browser") / "app.db"
    shutil.copy(sample_db_path, db)  # other pages may write (evaluations, alerts): never the shared file
    return db


@pytest.fixture(scope="module")
def app_url(app_db):
    with serve_app(app_db) as base:
        yield base




def settle(page) -> None:
    """Wait until the script run is over: no status widget, no stale or skeleton elements — twice, a
    moment apart, because a rerun (e.g. after the URL is updated) starts a little after the first ends."""
    for _ in range(2):
        page.wait_for_function(_BUSY, timeout=60_000)
        page.wait_for_timeout(700)
    page.wait_for_function(_BUSY, timeout=60_000)


def load(browser, url: str, expect: str | None, shot: str, click: str | None = None) -> str:
    """Open url, wait until the script finished and `expect` (or a title) is shown; screenshot; return the
    main area's text."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        main = page.locator('[data-testid="stMain"]')
        if expect:
            main.get_by_text(expect, exact=False).first.wait_for(timeout=60_000)
        else:
            main.locator("h1").first.wait_for(timeout=60_000)
        settle(page)
        if click:  # e.g. a tab: its content is drawn on demand
            main.get_by_text(click, exact=True).first.click()
            page.wait_for_timeout(1000)
            settle(page)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
            '[data-testid="stException"]').first.inner_text()
        return main.inner_text()
    finally:
        page.close()


def test_every_page_is_found():
    assert {"Overview", "Traces", "Trace", "Agents", "Cohorts"} <= set(PAGES)


def test_home_page(app_url, app_db, browser):
    text = load(browser, app_url + "/", EXPECTED[""], "0_home")
    assert "sample data" in text and f"{tracedesk.open(str(app_db)).count_traces():,}" in text


@pytest.mark.parametrize("page_file", PAGES)
def test_page_renders(app_url, app_db, browser, page_file):
    name = url_path(page_file)
    text = load(browser, f"{app_url}/{name}", EXPECTED.get(name), Path(page_file).stem)
    assert text.strip()
    if name == "Overview":
        assert "Worst cohorts" in text and "Trace coverage" in text
    if name == "Traces":
        assert f"{tracedesk.open(str(app_db)).count_traces():,} traces match" in text


def test_trace_page_draws_the_graph(app_url, app_db, browser):
    ws = tracedesk.open(str(app_db))
    f = Filters(dims={"route": ["refunds"]}, scores={"groundedness": (None, 0.5)})
    trace_id = ws.traces(f, sort="duration_ms", limit=1)["trace_id"].iloc[0]
    url = f"{app_url}/Trace?trace_id={trace_id}"
    text = load(browser, url, "Trajectory graph", "3_Trace_with_id")
    assert "Complete tree" in text and ws.trace_summary(trace_id)["root_name"] in text
    load(browser, url, "Trajectory graph", "3_Trace_graph", click="Trajectory graph")


def test_sessions_page_shows_a_conversation(app_url, app_db, browser):
    with tracedesk.open(str(app_db)) as ws:
        longest = ws.sessions().sort_values(["turns", "session_id"], ascending=[False, True]).iloc[0]
        turns = ws.session(longest["session_id"])
    text = load(browser, f"{app_url}/Sessions?session={longest['session_id']}", "Conversation", "11_Sessions")
    assert len(turns) > 1 and f"turn {len(turns)} ·" in text and f"turn {len(turns) + 1} ·" not in text
    for question in turns["user_input"].dropna():
        assert question.strip().splitlines()[0] in text


def test_user_filter_from_the_url(app_url, app_db, browser):
    with tracedesk.open(str(app_db)) as ws:
        user = ws.values("user_id", limit=1)[0]
        n, total = ws.count_traces(Filters(dims={"user_id": [user]})), ws.count_traces()
    text = load(browser, f"{app_url}/Traces?user_id={user}", "traces match", "2_Traces_user")
    assert f"{n:,} traces match" in text and n < total


def test_filters_from_the_url_apply(app_url, app_db, browser):
    n = tracedesk.open(str(app_db)).count_traces(Filters(dims={"route": ["refunds"]}))
    text = load(browser, f"{app_url}/Traces?route=refunds", "traces match", "2_Traces_filtered")
    assert f"{n:,} traces match" in text
