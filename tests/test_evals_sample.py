"""Deterministic evaluators on the bundled sample week: they find its PII leak and injection campaign."""
from __future__ import annotations

import json
import sqlite3

import pytest

from tracedesk import store
from tracedesk.evals import RunConfig, run
from tracedesk.sample.demo import sample_dir


@pytest.fixture
def week(sample_db_path, tmp_path):
    """A private copy of the sample database (the session fixture is shared and read-only)."""
    path = str(tmp_path / "week.db")
    src, dst = sqlite3.connect(sample_db_path), sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    return store.connect(path)


def truth():
    return json.loads((sample_dir() / "ground_truth.json").read_text())


def failing_traces(db, name):
    return db.execute(
        "SELECT e.trace_id, s.tenant FROM evaluations e JOIN spans s USING (trace_id, span_id) "
        "WHERE e.name = ? AND e.source = 'heuristic' AND e.passed = 0", [name]).fetchall()


def test_pii_leak_incident_found_exactly(week):
    # INC-08: answers to tenant initech carry an email, a phone and a Luhn-valid card
    report = run(week, RunConfig(["pii"], sample="all", filters={"tenant": "initech"}))
    assert report.errors == 0
    rows = failing_traces(week, "pii")
    assert len({t for t, _ in rows}) == truth()["pii_traces"]
    reasons = {r[0] for r in week.execute("SELECT reason FROM evaluations WHERE name = 'pii' AND passed = 0")}
    assert reasons == {"found email in output, credit_card in output, phone in output",
                       "found email in input, credit_card in input, phone in input"}


def test_pii_clean_elsewhere(week):
    run(week, RunConfig(["pii"], sample="all", filters={"tenant": "hooli", "kind": "LLM"}))
    assert failing_traces(week, "pii") == []
    assert week.execute("SELECT COUNT(*) FROM evaluations WHERE name = 'pii' AND passed = 1").fetchone()[0] > 1000


def test_injection_attempts_found_exactly(week):
    # every attempt (INC-09's campaign on hooli plus stray ones) enters through the request CHAIN span
    run(week, RunConfig(["prompt_injection"], sample="all", filters={"kind": "CHAIN"}))
    rows = failing_traces(week, "prompt_injection")
    assert len(rows) == len({t for t, _ in rows}) == truth()["injection_attempts"]
    assert sum(1 for _, tenant in rows if tenant == "hooli") > 20
