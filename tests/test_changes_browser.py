"""The landing page's feed and the shared time filter in a real headless Chromium: an hour-level link
survives a reload unchanged, and a finding's "open these traces" link lists that cohort and window."""
from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

import pytest

import tracedesk
from test_browser import app_db, app_url, browser, load, settle  # noqa: F401  (fixtures and helpers)
from tracedesk.app import ui
from tracedesk.store.query import Filters

pytestmark = pytest.mark.browser


def _filters_of(url: str) -> Filters:
    return Filters.from_query_params({k: v[-1] for k, v in parse_qs(urlparse(url).query).items()})


def test_an_hour_level_link_round_trips_through_reload(app_url, browser):
    params = {"start": "2026-11-18T13:00:00Z", "end": "2026-11-18T17:00:00Z", "route": "refunds"}
    want = Filters.from_query_params(params)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{app_url}/Traces?{urlencode(params)}", wait_until="domcontentloaded", timeout=60_000)
        page.locator('[data-testid="stMain"]').get_by_text("traces match").first.wait_for(timeout=60_000)
        settle(page)
        for _ in range(2):
            got = _filters_of(page.url)
            assert (got.start_ns, got.end_ns, got.dims) == (want.start_ns, want.end_ns, want.dims), page.url
            page.reload(wait_until="domcontentloaded")
            page.locator('[data-testid="stMain"]').get_by_text("traces match").first.wait_for(timeout=60_000)
            settle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        page.close()


def test_a_feed_link_opens_that_cohorts_traces(app_url, app_db, browser):
    ws = tracedesk.open(str(app_db))
    finding = ws.changes()[0]
    params = ui.finding_links(finding)["traces"]
    n = ws.count_traces(Filters.from_query_params(params))
    assert n > 0
    text = load(browser, f"{app_url}/Traces?{urlencode(params)}", "traces match", "changes_feed_link")
    assert f"{n:,} traces match" in text


def test_the_landing_page_lists_the_feed(app_url, app_db, browser):
    ws = tracedesk.open(str(app_db))
    text = load(browser, app_url + "/", "What changed", "changes_home")
    assert ws.changes()[0].title().split(" since ")[0] in text


def _shaded_rows(png: bytes) -> int:
    """How many pixel rows of a chart screenshot hold the finding's shaded window (the cohort colour at 12%
    opacity over white): the rect spans the whole plot area, so this is the height the lines can use."""
    import io

    from PIL import Image

    from tracedesk.charts.changes import COHORT_COLOUR

    r, g, b = (int(COHORT_COLOUR[i:i + 2], 16) for i in (1, 3, 5))
    want = tuple(round(255 - 0.12 * (255 - c)) for c in (r, g, b))
    img = Image.open(io.BytesIO(png)).convert("RGB")
    px = img.load()
    return sum(1 for y in range(img.height)
               if any(all(abs(px[x, y][i] - want[i]) <= 6 for i in range(3)) for x in range(0, img.width, 3)))


def test_a_findings_sparkline_has_room_to_draw_its_lines(app_url, browser):
    """At height 90 Streamlit's fit-to-container layout left the plot 0-20 px tall under its legend and
    axes: every point sat on one line. The plot must be tall enough to read a change off it."""
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    try:
        page.goto(app_url + "/", wait_until="domcontentloaded", timeout=60_000)
        main = page.locator('[data-testid="stMain"]')
        main.get_by_text("What changed").first.wait_for(timeout=60_000)
        settle(page)
        chart = main.locator('[data-testid="stExpander"]').first.locator('[data-testid="stVegaLiteChart"]').first
        chart.wait_for(timeout=60_000)
        page.wait_for_timeout(1500)  # Vega draws after the element exists
        assert _shaded_rows(chart.screenshot()) >= 80
    finally:
        page.close()
