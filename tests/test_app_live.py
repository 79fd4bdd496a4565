"""The Live page under Streamlit's AppTest: start a real receiver, see its endpoint and arrivals, stop it."""
from __future__ import annotations

import http.client
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from receiver_support import llm_span, traces_body
from tracedesk.receiver import find_receiver, stop_receiver

PAGE = str(Path(__file__).resolve().parent.parent / "src/tracedesk/app/pages/live.py")
T1 = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def live_db(db_path, monkeypatch):
    monkeypatch.setenv("TRACEDESK_DB", db_path)
    yield db_path
    stop_receiver(db_path, wait=120)  # never leave a receiver behind, even when the test fails


def _run(at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def _text(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in (*at.markdown, *at.info, *at.success, *at.caption, *at.code))


def test_start_receive_and_stop_from_the_page(live_db):
    at = _run()
    assert "No receiver is running" in _text(at)
    assert [m.value for m in at.metric][:1] == ["0"]
    at.number_input(key="port").set_value(0)  # any free port
    at.button[0].click()  # the form's "Start receiver"
    at = _run(at)
    info = find_receiver(live_db)
    assert info is not None
    assert f"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{info.port}" in _text(at)
    assert f"Receiver running (pid {info.pid})" in _text(at)

    conn = http.client.HTTPConnection("127.0.0.1", info.port, timeout=60)
    conn.request("POST", "/v1/traces", body=traces_body([llm_span(T1, "b7ad6b7169203331")]),
                 headers={"Content-Type": "application/json"})
    assert conn.getresponse().status == 200
    conn.close()
    at.button(key="refresh").click()
    at = _run(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Spans received (all time)"] == "1"
    table = at.dataframe[0].value
    assert list(table["name"]) == ["ChatCompletion"] and list(table["model"]) == ["gpt-4o-mini"]

    at.toggle(key="auto").set_value(True)  # the timed refresh renders the same panel in a fragment
    at = _run(at)
    assert {m.label: m.value for m in at.metric}["Spans received (all time)"] == "1"

    at.button(key="stop").click()
    at = _run(at)
    assert find_receiver(live_db) is None
    assert "No receiver is running" in _text(at)


def test_page_finds_a_receiver_started_elsewhere(live_db):
    from tracedesk.receiver import start_receiver

    info = start_receiver(live_db, port=0, token="t0k", wait=120)
    at = _run()
    text = _text(at)
    assert f"Receiver running (pid {info.pid})" in text and "bearer token required" in text
    assert "t0k" not in text
