"""Every page of the navigation in headless Chromium on the two stores a new user meets first and the sample
week never shows: an empty database (just created, nothing ingested) and one day of traffic (too short for
the feed's day-over-day baselines). Each page must draw its title and say what it can, with no exception
box (issue 15: "no exception on empty or single-day data")."""
from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import BUSY_JS, browser, serve_app  # noqa: F401

import tracedesk
from changes_synth import build
from tracedesk.app.main import PAGES as NAVIGATION

pytestmark = pytest.mark.browser

PAGES = [""] + [url for _file, _title, url, _icon in NAVIGATION if url]


def _page_text(browser, url: str) -> str:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        main = page.locator('[data-testid="stMain"]')
        main.locator("h1").first.wait_for(timeout=60_000)
        for _ in range(2):  # a rerun (the URL written back) starts a moment after the first run ends
            page.wait_for_function(BUSY_JS, timeout=60_000)
            page.wait_for_timeout(500)
        boxes = page.locator('[data-testid="stException"]')
        assert boxes.count() == 0, (url, boxes.first.inner_text())
        return main.inner_text()
    finally:
        page.close()


@pytest.fixture(scope="module")
def empty_url(tmp_path_factory):
    db = tmp_path_factory.mktemp("empty") / "empty.db"
    tracedesk.open(str(db), create=True).close()
    with serve_app(db) as base:
        yield base


@pytest.fixture(scope="module")
def one_day(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("one_day") / "one_day.db"
    # two routes, one of which costs three times more in the afternoon: something a feed could say
    build(str(db), 24, {("billing", "acme", "m1"): lambda h: 6, ("search", "globex", "m2"): lambda h: 4},
          lambda seg, h, k: 0.03 if seg[0] == "billing" and h >= 14 else 0.01)
    return db


@pytest.fixture(scope="module")
def one_day_url(one_day):
    with serve_app(one_day) as base:
        yield base


@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_an_empty_database(empty_url, browser, page):
    text = _page_text(browser, f"{empty_url}/{page}")
    assert text.strip()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_one_day_of_traffic(one_day_url, one_day, browser, page):
    text = _page_text(browser, f"{one_day_url}/{page}")
    assert text.strip()
    if page == "Traces":
        assert f"{tracedesk.open(str(one_day)).count_traces():,} traces match" in text
