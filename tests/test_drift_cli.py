"""`tracedesk drift` end to end through the real CLI dispatcher."""
from __future__ import annotations

import json

import pytest

from tracedesk.cli import main
from tracedesk.drift.synthetic import write_synthetic

DAY = 86_400 * 10**9
T0 = 1_790_000_000 * 10**9


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("clidrift") / "drift.db")
    write_synthetic(path, 1000, T0, T0 + 7 * DAY, shift_at_ns=T0 + 6 * DAY, shift_cohort="search",
                    shifts=("evaluator",), seed=4)
    return path


def test_json_report(cli_db, capsys):
    code = main(["drift", "--db", cli_db, "--since", "1d", "--dimension", "route", "--family", "evaluator",
                 "--json", "--series"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dimension"] == "route" and doc["families"] == ["evaluator"]
    assert doc["summary"] == {"pairs": 2, "drifted": 1, "insufficient": 0}
    top = doc["results"][0]
    assert (top["signal"], top["cohort"], top["drifted"]) == ("eval:groundedness", "search", True)
    assert top["reference_n"] + top["current_n"] == sum(p["n"] for p in top["series"])
    assert len(top["examples"]["current"]) == 3 and top["change_point"].startswith("2026-09-27")
    assert doc["current"]["end_ns"] - doc["current"]["start_ns"] == DAY


def test_text_table_and_fail_on_drift(cli_db, capsys):
    assert main(["drift", "--db", cli_db, "--dimension", "route", "--fail-on-drift"]) == 1
    out = capsys.readouterr().out
    assert "eval:groundedness" in out and "route=search" in out and "DRIFT since 2026-09-27" in out
    assert main(["drift", "--db", cli_db, "--dimension", "route", "--family", "retrieval", "--fail-on-drift"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--dimension", "colour"], "Unknown dimension 'colour'"),
    (["--since", "last tuesday"], "is not a time"),
    (["--min-samples", "1"], "--min-samples must be at least 2"),
    (["--alpha", "5"], "--alpha must be between 0 and 1"),
])
def test_usage_errors_exit_2_without_traceback(cli_db, capsys, argv, message):
    assert main(["drift", "--db", cli_db, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_database(tmp_path, capsys):
    assert main(["drift", "--db", str(tmp_path / "nope.db")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()


def test_empty_windows_are_explained(cli_db, capsys):
    assert main(["drift", "--db", cli_db, "--since", "2030-01-01", "--until", "2030-01-02", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["results"] == [] and doc["summary"]["pairs"] == 0
    assert "No LLM spans in the current window: input/output drift needs them." in doc["notes"]
    assert "No RETRIEVER spans in the current window: retrieval drift needs them." in doc["notes"]
    assert main(["drift", "--db", cli_db, "--since", "2030-01-01", "--until", "2030-01-02"]) == 0
    assert "note: No LLM spans in the current window" in capsys.readouterr().out
