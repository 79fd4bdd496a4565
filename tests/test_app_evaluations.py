"""The Evaluations page under Streamlit's AppTest: run checks and a judge, distributions, review queue."""
from __future__ import annotations

from pathlib import Path

import pytest
from evals_synth import build, tid
from fake_llm_server import fake_llm  # noqa: F401  (fixture)
from streamlit.testing.v1 import AppTest

from tracedesk import store
from tracedesk.evals import custom

PAGE = str(Path(__file__).resolve().parent.parent / "src/tracedesk/app/pages/evaluations.py")


@pytest.fixture
def app_db(db_path, monkeypatch):
    build(db_path)
    monkeypatch.setenv("TRACEDESK_DB", db_path)
    return db_path


def _app():
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    return at


def test_empty_state_then_heuristics_run_and_review_queue(app_db):
    at = _app()
    assert at.multiselect(key="evaluators").value == ["pii", "prompt_injection", "refusal"]
    # only the synthetic thumbs-down so far: it is in the review queue already
    assert at.selectbox(key="view_evaluator").options == ["user_feedback"]
    assert list(at.dataframe[1].value["open"]) == [f"Trace?trace_id={tid(3)}"]
    at.selectbox(key="sampling").set_value("all")
    at.button(key="run").click()
    at.run()
    assert not at.exception, at.exception
    assert "0 judge calls (0 retries), 0 cache hits, 0 errors" in at.success[0].value
    assert at.selectbox(key="view_evaluator").value == "pii"
    by_cohort = at.dataframe[0].value
    assert list(by_cohort.columns) == ["name", "route", "n", "mean", "pass_rate", "p10"]
    queue = at.dataframe[1].value
    # worst first, every row links to its trace
    assert set(queue["name"]) == {"pii", "prompt_injection", "refusal", "user_feedback"}
    assert (queue["score"] == 0.0).all()
    assert f"Trace?trace_id={tid(101)}" in set(queue["open"])
    assert f"Trace?trace_id={tid(102)}" in set(queue["open"])
    at.selectbox(key="cohort").set_value("tenant")
    at.run()
    assert not at.exception
    assert list(at.dataframe[0].value.columns)[1] == "tenant"


def test_judge_without_model_shows_error(app_db):
    at = _app()
    at.multiselect(key="evaluators").set_value(["groundedness"])
    at.button(key="run").click()
    at.run()
    assert not at.exception
    assert "need a judge model" in at.error[0].value


def test_judge_run_against_local_server(app_db, fake_llm):
    fake_llm.script("Evaluator: groundedness", '{"score": 0.3, "reason": "unsupported claim"}')
    at = _app()
    at.multiselect(key="evaluators").set_value(["groundedness"])
    at.text_input(key="model").set_value("openai/fake")
    at.text_input(key="api_base").set_value(fake_llm.url)
    at.selectbox(key="sampling").set_value("all")
    at.button(key="run").click()
    at.run()
    assert not at.exception, at.exception
    assert len(fake_llm.calls) == 18  # one LLM span with retrieved context per trace
    assert "18 judge calls (0 retries)" in at.success[0].value
    queue = at.dataframe[1].value
    judged = queue[queue["name"] == "groundedness"]
    assert len(judged) == 18 and set(judged["reason"]) == {"unsupported claim"}


def test_custom_judge_saved_from_the_page(app_db):
    at = _app()
    at.text_input(key="custom_name").set_value("polite_tone")
    at.button(key="save_custom").click()
    at.run()
    assert not at.exception
    assert at.success[0].value == "Saved 'polite_tone': pick it in Evaluators above."
    assert [s["name"] for s in custom.list_specs(store.connect(app_db))] == ["polite_tone"]
    at.run()
    assert "polite_tone" in at.multiselect(key="evaluators").options


def test_no_evaluations_yet_says_what_to_do(db_path, monkeypatch):
    from evals_synth import agent_trace

    store.write_batch(store.connect(db_path), agent_trace(1))
    monkeypatch.setenv("TRACEDESK_DB", db_path)
    at = _app()
    assert at.info[0].value.startswith("No evaluations yet. Pick evaluators above and press **Run evaluators**")
