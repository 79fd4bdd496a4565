"""`tracedesk eval ...` end to end (in-process), the OTLP/JSON export, and lazy litellm."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from evals_synth import build, tid
from fake_llm_server import fake_llm  # noqa: F401  (fixture)

from tracedesk import store
from tracedesk.cli import main


@pytest.fixture
def db(db_path):
    build(db_path)
    return db_path


def test_run_with_judge_and_heuristics_prints_summary(db, fake_llm, capsys):
    fake_llm.script("Evaluator: groundedness", '{"score": 0.25, "reason": "unsupported"}')
    rc = main(["eval", "run", "--db", db, "--evaluator", "groundedness,pii", "refusal", "--model",
               "openai/fake", "--api-base", fake_llm.url, "--api-key", "test", "--limit", "6",
               "--concurrency", "2", "--seed", "1"])
    out, err = capsys.readouterr()
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == "sample: 6 of 72 (failure-biased, seed 1): error 2, feedback 3, baseline 1"
    assert "judge calls (0 retries), 0 cache hits, 0 errors" in lines[1]
    assert [line.split()[0] for line in lines[2:5]] == ["groundedness", "pii", "refusal"]
    assert err.splitlines()[-1].startswith("[##############################] ")  # the progress bar, on stderr
    d = store.connect(db)
    n_calls = len(fake_llm.calls)
    assert d.execute("SELECT COUNT(*) FROM evaluations WHERE name = 'groundedness'").fetchone()[0] == n_calls
    # the same command again is answered from the cache
    main(["eval", "run", "--db", db, "-e", "groundedness", "pii", "refusal", "--model", "openai/fake",
          "--api-base", fake_llm.url, "--limit", "6", "--seed", "1", "-q"])
    out, err = capsys.readouterr()
    assert len(fake_llm.calls) == n_calls and f"0 judge calls (0 retries), {n_calls} cache hits" in out
    assert err == ""


def test_budget_flags_stop_the_run(db, fake_llm, capsys):
    rc = main(["eval", "run", "--db", db, "-e", "toxicity", "--model", "openai/fake", "--api-base", fake_llm.url,
               "--sample", "uniform", "--max-calls", "2", "--concurrency", "1", "-q"])
    out = capsys.readouterr().out
    assert rc == 0 and len(fake_llm.calls) == 2
    assert out.splitlines()[-1] == "stopped early: max calls (2) reached"


@pytest.mark.parametrize("argv,message", [
    (["-e", "groundednes"], "Unknown evaluator 'groundednes'. Available: answer_refusal,"),
    (["-e", "groundedness"], "LLM judges (groundedness) need a judge model: pass --model"),
    (["-e", "pii", "--concurrency", "0"], "--concurrency must be at least 1, got 0"),
    (["-e", "pii", "--limit", "-1"], "--limit must be 0 or more, got -1"),
])
def test_usage_errors_exit_2_without_traceback(db, capsys, argv, message):
    assert main(["eval", "run", "--db", db, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tracedesk eval: ") and message in err and "Traceback" not in err


def test_missing_database_is_a_usage_error(tmp_path, capsys):
    missing = str(tmp_path / "nope.db")
    assert main(["eval", "run", "--db", missing, "-e", "pii"]) == 2
    assert f"no database at '{missing}'; ingest traces first" in capsys.readouterr().err


def test_list(capsys):
    assert main(["eval", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["name", "family", "scope", "applies", "to", "version", "description"]
    assert len(out) == 1 + 20 and out[1].split()[:3] == ["groundedness", "judge", "span"]


def test_export_otlp_json_evaluation_events(db, tmp_path, capsys):
    main(["eval", "run", "--db", db, "-e", "pii", "--sample", "all", "-q"])
    capsys.readouterr()
    out = tmp_path / "evals.json"
    assert main(["eval", "export", "--db", db, str(out), "-e", "pii"]) == 0
    d = store.connect(db)
    n = d.execute("SELECT COUNT(*) FROM evaluations WHERE name = 'pii'").fetchone()[0]
    assert capsys.readouterr().out == f"wrote {n} evaluation events to {out}\n"
    doc = json.loads(out.read_text())
    records = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    assert len(records) == n and all(r["eventName"] == "gen_ai.evaluation.result" for r in records)
    bad = [r for r in records if r["traceId"] == tid(101) and r["spanId"] == "0000006500000002"]
    attrs = {a["key"]: a["value"] for a in bad[0]["attributes"]}
    assert attrs["gen_ai.evaluation.name"] == {"stringValue": "pii"}
    assert attrs["gen_ai.evaluation.score.value"] == {"doubleValue": 0.0}
    assert attrs["gen_ai.evaluation.score.label"] == {"stringValue": "pii_found"}
    assert attrs["gen_ai.evaluation.explanation"] == {"stringValue": "found email in output, phone in output"}
    assert attrs["tracedesk.evaluation.passed"] == {"boolValue": False}
    assert attrs["gen_ai.evaluation.evaluator.source"] == {"stringValue": "heuristic"}


def test_custom_judge_commands(db, tmp_path, capsys):
    assert main(["eval", "custom", "add", "--db", db, "--name", "polite_tone",
                 "--rubric", "Is {output} polite?", "--threshold", "0.8"]) == 0
    assert main(["eval", "custom", "add", "--db", db, "--name", "x", "--rubric", "{answer}"]) == 2
    exported = tmp_path / "judges.json"
    assert main(["eval", "custom", "export", "--db", db, str(exported)]) == 0
    other = str(tmp_path / "other.db")
    assert main(["eval", "custom", "import", "--db", other, str(exported)]) == 0
    capsys.readouterr()
    assert main(["eval", "custom", "list", "--db", other]) == 0
    assert capsys.readouterr().out == "polite_tone              threshold 0.8   Is {output} polite?\n"
    assert main(["eval", "list", "--db", other]) == 0
    assert "polite_tone" in capsys.readouterr().out
    assert main(["eval", "custom", "remove", "--db", other, "polite_tone"]) == 0
    assert main(["eval", "custom", "remove", "--db", other, "polite_tone"]) == 2


def test_help_and_parser_do_not_import_litellm():
    code = ("import sys, tracedesk.cli as c; c.build_parser(); import tracedesk.evals, tracedesk.evals.runner; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('litellm', 'openai')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
