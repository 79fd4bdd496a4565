"""The Drift page through Streamlit's AppTest, on a real SQLite file with a known shift."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tracedesk.drift.synthetic import write_synthetic

PAGE = str(Path(__file__).resolve().parents[1] / "src/tracedesk/app/pages/drift.py")
DAY = 86_400 * 10**9
T0 = 1_790_000_000 * 10**9


@pytest.fixture(scope="module")
def drift_db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("appdrift") / "drift.db")
    write_synthetic(path, 1200, T0, T0 + 7 * DAY, shift_at_ns=T0 + 6 * DAY, shift_cohort="billing",
                    shifts=("refusal",), seed=2)
    return path


def _run(monkeypatch, db: str) -> AppTest:
    monkeypatch.setenv("TRACEDESK_DB", db)
    return AppTest.from_file(PAGE, default_timeout=60).run()


def test_page_ranks_the_shift_and_links_example_traces(monkeypatch, drift_db):
    at = _run(monkeypatch, drift_db)
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Drifted pairs"] != "0"
    table = at.dataframe[0].value
    first = table.iloc[0]
    assert (first["signal"], first["cohort"], first["verdict"]) in {
        ("refusal_rate", "route=billing", "drift"), ("output_length", "route=billing", "drift"),
        ("output_tokens", "route=billing", "drift")}
    assert set(table.loc[table["verdict"] == "drift", "cohort"]) == {"route=billing"}
    labels = [e.label for e in at.expander]
    assert any(label.startswith("refusal_rate · route=billing — drifted") for label in labels)
    links = [m.value for m in at.markdown if "Example traces" in m.value]
    assert any("current window" in v and "(Trace?trace_id=" in v for v in links)
    assert any("reference window" in v and "(Trace?trace_id=" in v for v in links)


def test_page_all_traffic_and_bad_time_input(monkeypatch, drift_db):
    at = _run(monkeypatch, drift_db)
    at.selectbox[0].set_value("(all traffic)")
    at.button[0].click().run()
    assert not at.exception
    assert set(at.dataframe[0].value["cohort"]) == {"all"}
    at.text_input[0].set_value("yesterday")
    at.button[0].click().run()
    assert not at.exception
    assert "is not a time" in at.error[0].value


def test_page_without_database(monkeypatch, tmp_path):
    at = _run(monkeypatch, str(tmp_path / "missing.db"))
    assert not at.exception
    assert "No tracedesk database at" in at.warning[0].value
    assert "tracedesk ingest" in at.info[0].value


def test_page_on_the_sample_week_by_model_family(monkeypatch, sample_db_path):
    at = _run(monkeypatch, sample_db_path)
    assert not at.exception
    assert "model_family" in at.selectbox[0].options
    at.selectbox[0].set_value("model_family")
    from tracedesk.sample import sample_incidents

    doc = sample_incidents()
    cliff = next(i for i in (doc["incidents"] if isinstance(doc, dict) else doc) if i["type"] == "refusal_cliff")
    at.text_input[0].set_value(cliff["start"])
    at.text_input[1].set_value(cliff["end"])
    at.button[0].click().run()
    assert not at.exception
    first = at.dataframe[0].value.iloc[0]
    assert (first["signal"], first["cohort"], first["verdict"]) == ("refusal_rate", "model_family=gemini-2.5-flash",
                                                                    "drift")
