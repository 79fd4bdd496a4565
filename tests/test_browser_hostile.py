"""Issue 14: everything from a span or a URL is text. A hostile trace (HTML, Markdown, KaTeX, `:red[]`,
a remote image pointing at a local listener, `javascript:` links in every field) is opened in a real
headless Chromium: no request reaches the listener and no injected element exists."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from browser_support import BUSY_JS as _BUSY, CHROMIUM_ARGS, browser, chromium, free_port, serve_app  # noqa: F401

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
TRACE = "abcdef0123456789abcdef0123456789"


class _Listener:
    """Records every request that reaches it: the page must never make one."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def payload(field: str, url: str) -> str:
    return (f"{field} <img src={url}/html-{field}.png onerror=alert(1)> ![img]({url}/md-{field}.png) "
            f"[click](javascript:alert('{field}')) <a href=\"javascript:alert(2)\">a</a> :red[RED{field}] "
            f"$x^{{2}}$ $$\\href{{javascript:alert(3)}}{{k}}$$ **bold** <script>fetch('{url}/js-{field}')</script> "
            f"<{url}/auto-{field}> {url}/bare-{field} www.example.com")


@pytest.fixture(scope="module")
def listener():
    srv = _Listener()
    yield srv
    srv.server.shutdown()


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory, listener):
    from tracedesk.ingest import ingest_paths

    folder = tmp_path_factory.mktemp("hostile")
    u = listener.url
    fields = {k: payload(k, u) for k in ("model", "provider", "agent", "tool", "service", "session_id", "user_id")}
    root = {"trace_id": TRACE, "span_id": "1" * 16, "name": payload("name", u), "kind": "AGENT",
            "start_time": "2026-11-20T10:00:00Z", "duration_ms": 900, "input": payload("input", u),
            "output": payload("output", u), "agent": fields["agent"], "service": fields["service"],
            "session_id": fields["session_id"], "user_id": fields["user_id"],
            "metadata": {"route": payload("route", u), "tenant": payload("tenant", u),
                         "prompt_version": payload("prompt_version", u), "x": payload("attribute", u)}}
    llm = {"trace_id": TRACE, "span_id": "2" * 16, "parent_id": "1" * 16, "name": payload("llm", u),
           "start_time": "2026-11-20T10:00:00.100Z", "duration_ms": 500, "model": fields["model"],
           "provider": fields["provider"], "input": payload("prompt", u), "output": payload("answer", u),
           "input_tokens": 10, "output_tokens": 5, "error": payload("error", u),
           "scores": [{"name": "quality", "score": 0.2, "reason": payload("reason", u)}],
           "metadata": {"route": payload("route", u), "tenant": payload("tenant", u)}}
    tool = {"trace_id": TRACE, "span_id": "3" * 16, "parent_id": "1" * 16, "name": payload("toolspan", u),
            "kind": "TOOL", "tool": fields["tool"], "start_time": "2026-11-20T10:00:00.700Z", "duration_ms": 50}
    path = folder / "hostile.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (root, llm, tool)) + "\n")
    db = folder / "hostile.db"
    report = ingest_paths(str(db), [path])
    assert report.rejected == [] and report.spans == 3
    return db


@pytest.fixture(scope="module")
def app_url(hostile_db):
    with serve_app(hostile_db) as base:
        yield base



#: Elements the payloads would create if any string were interpreted (the listener's port is filled in).
_INJECTED = {
    "remote image": 'img[src*="{host}"]',
    "any image from data": '[data-testid="stMain"] img[src*="png"]',
    "javascript link": 'a[href^="javascript:" i]',
    "link to the listener": 'a[href*="{host}"]',
    "KaTeX": ".katex, .katex-display, math",
    "script": '[data-testid="stMain"] script, [data-testid="stSidebar"] script',
    "a link to example.com": 'a[href*="example.com"]',
}
#: `**bold**` and `:red[RED..]` rendered: an element whose whole text is the payload's inner word.
_RENDERED_JS = """() => [...document.querySelectorAll('strong, em, b, span, h1, h2, h3')]
    .filter(e => { const t = e.textContent.trim(); return t === 'bold' || /^RED[a-z_]+$/.test(t); }).length"""


def injected(page, listener) -> dict[str, int]:
    host = listener.url.split("//", 1)[1]
    found = {name: page.locator(sel.format(host=host)).count() for name, sel in _INJECTED.items()}
    found["markdown rendered from data"] = page.evaluate(_RENDERED_JS)
    return found


CLEAN = {**{name: 0 for name in _INJECTED}, "markdown rendered from data": 0}


def _open(browser, url: str, expect: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    page.locator('[data-testid="stMain"]').get_by_text(expect, exact=False).first.wait_for(timeout=60_000)
    for _ in range(2):
        page.wait_for_function(_BUSY, timeout=60_000)
        page.wait_for_timeout(700)
    _assert_no_dialog(page)
    return page


def _assert_no_dialog(page) -> None:
    """No Streamlit modal (e.g. "Page not found") over the page: say which, instead of a click timing out."""
    dialogs = page.locator('[role="dialog"]')
    assert dialogs.count() == 0, f"a dialog covers {page.url}: {dialogs.first.inner_text()!r}"


def _assert_inert(page, listener, *, literal: bool = True) -> None:
    assert injected(page, listener) == CLEAN
    if literal:  # the page prints the span's fields as text: the directive shows as typed
        assert ":red[RED" in page.locator('[data-testid="stMain"]').inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0
    assert listener.hits == []
    _assert_no_dialog(page)


@pytest.mark.parametrize("span", ["1" * 16, "2" * 16, "3" * 16])
def test_trace_page_shows_a_hostile_span_as_text(app_url, browser, listener, span):
    page = _open(browser, f"{app_url}/Trace?trace_id={TRACE}&span_id={span}", "Spans & waterfall")
    try:
        main = page.locator('[data-testid="stMain"]')
        main.get_by_text("Attributes, resource and events").first.click()
        page.wait_for_timeout(800)
        text = main.inner_text()
        assert "![img](" in text and "$x^{2}$" in text  # shown literally, not rendered
        _assert_inert(page, listener)
        # the trajectory graph tab draws names too
        main.get_by_text("Trajectory graph", exact=True).first.click()
        page.wait_for_timeout(1500)
        _assert_inert(page, listener)
    finally:
        page.close()


def test_traces_page_and_sidebar_show_hostile_values_as_text(app_url, browser, listener):
    page = _open(browser, f"{app_url}/Traces", "traces match")
    try:
        _assert_inert(page, listener, literal=False)  # the table is a canvas grid: plain text by design
    finally:
        page.close()


@pytest.mark.parametrize("query,message", [
    ("start=99999999999999999999", "Ignored the filters in the link"),
    ("latency_ms=nan..inf", "Ignored the filters in the link"),
    ("q=" + urllib.parse.quote(payload("url", "http://127.0.0.1:9")), "traces match"),
    ("route=" + urllib.parse.quote("![x](http://127.0.0.1:9/u.png) [j](javascript:alert(1))"), "traces match"),
])
def test_hostile_url_parameters_give_a_message_not_a_traceback(app_url, browser, listener, query, message):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{app_url}/Traces?{query}", wait_until="domcontentloaded", timeout=60_000)
        page.get_by_text(message, exact=False).or_(page.get_by_text("No traces match", exact=False)).first.wait_for(
            timeout=60_000)
        for _ in range(2):
            page.wait_for_function(_BUSY, timeout=60_000)
            page.wait_for_timeout(700)
        assert injected(page, listener) == CLEAN
        assert page.locator('[data-testid="stException"]').count() == 0
        assert listener.hits == []
    finally:
        page.close()


def test_trace_page_with_a_hostile_trace_id_in_the_url(app_url, browser, listener):
    tid = urllib.parse.quote("`![x](http://127.0.0.1:9/t.png)` <img src=x> :red[id]")
    page = _open(browser, f"{app_url}/Trace?trace_id={tid}", "in this database")
    try:
        assert injected(page, listener) == CLEAN
        assert page.locator('[data-testid="stException"]').count() == 0
        assert listener.hits == []
    finally:
        page.close()


@pytest.mark.parametrize("path,expect,canonical", [
    (f"trace?trace_id={TRACE}&span_id={'2' * 16}", "Spans & waterfall", f"/Trace?trace_id={TRACE}&span_id={'2' * 16}"),
    ("traces", "traces match", "/Traces"),
    ("home", "tracedesk", "/"),
])
def test_a_link_in_another_case_opens_its_page_without_a_dialog(app_url, browser, path, expect, canonical):
    """Streamlit matches URL paths exactly and otherwise covers the page with "Page not found"; a typed or
    lower-cased link redirects to the page instead, with its parameters."""
    page = _open(browser, f"{app_url}/{path}", expect)
    try:
        got, want = urllib.parse.urlsplit(page.url), urllib.parse.urlsplit(canonical)
        assert got.path == want.path
        # the link's parameters arrive (the page may add its own, e.g. the Traces page's sort)
        assert urllib.parse.parse_qsl(want.query) == [kv for kv in urllib.parse.parse_qsl(got.query)
                                                      if kv[0] in dict(urllib.parse.parse_qsl(want.query))]
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        page.close()


@pytest.mark.parametrize("entry", ["app.py", "packaged"])
def test_a_deep_link_as_the_servers_first_request_opens_its_page(hostile_db, browser, entry):
    """The first request a fresh server gets is a shared link to a span, through both entry scripts
    (`streamlit run app.py`, and the packaged one `tracedesk app` runs). Streamlit runs the first script run
    of a server whose main script has a `pages/` folder beside it as an old-style multipage app, which
    cannot find /Trace and shows "Page not found"; neither entry may have one."""
    from tracedesk.sample.demo import app_path

    script = "app.py" if entry == "app.py" else str(app_path())
    with serve_app(hostile_db, script) as base:
        page = _open(browser, f"{base}/Trace?trace_id={TRACE}&span_id={'1' * 16}", "Spans & waterfall")
        page.close()
