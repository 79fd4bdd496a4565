"""`tracedesk ingest` and `tracedesk stats`: summaries, exit codes 0/1/2, TRACEDESK_DB, progress bar."""
from __future__ import annotations

import json
import subprocess
import sys

from _ingest_util import TRACE, dumps, request, span

from tracedesk.cli import main

SPANS = [
    span(TRACE, "1" * 16, "invoke_agent helper", {"gen_ai.operation.name": "invoke_agent",
                                                  "gen_ai.agent.name": "helper"}),
    span(TRACE, "2" * 16, "chat gpt-4o-mini", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                                               "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100},
         parent="1" * 16, status={"code": 2}),
    span(TRACE, "3" * 16, "retrieve", {"openinference.span.kind": "RETRIEVER",
                                       "evaluations.0.evaluation.name": "context relevance",
                                       "evaluations.0.evaluation.score": 1}, parent="1" * 16),
]


def test_ingest_then_stats_json(tmp_path, capsys):
    src = tmp_path / "t.json"
    src.write_bytes(dumps(request(SPANS)))
    db = str(tmp_path / "x.db")
    assert main(["ingest", str(src), "--db", db]) == 0
    out = capsys.readouterr().out
    assert "traces: 1   spans: 3 (new 3, unchanged 0, replaced 0)" in out
    assert "spans per convention: otel_genai 2, openinference 1" in out
    assert "evaluations: 1" in out
    assert main(["stats", "--db", db, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["traces"] == 1 and data["spans"] == 3
    assert data["by_kind"] == {"AGENT": 1, "LLM": 1, "RETRIEVER": 1}
    assert data["by_model"] == {"gpt-4o-mini": {"spans": 1, "input_tokens": 1000, "output_tokens": 100,
                                                "cost_usd": 0.00021}}
    assert (data["input_tokens"], data["output_tokens"], data["evaluations"], data["error_spans"]) == (1000, 100, 1, 1)
    assert main(["stats", "--db", db]) == 0
    assert "1 traces, 3 spans, 1 error spans, 1 evaluations" in capsys.readouterr().out


def test_rejected_records_exit_1_and_name_file_line(tmp_path, capsys):
    src = tmp_path / "mixed.jsonl"
    src.write_text(json.dumps(request(SPANS[:1])) + "\n{not json\n")
    db = str(tmp_path / "x.db")
    assert main(["ingest", str(tmp_path / "*.jsonl"), "--db", db]) == 1
    out = capsys.readouterr().out
    assert "spans: 1 (new 1" in out
    assert f"{src}:2: invalid JSON:" in out
    assert main(["ingest", str(tmp_path / "missing.json"), "--db", db, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["rejected"] == [f"{tmp_path / 'missing.json'}: no such file or directory"]


def test_usage_errors_exit_2(tmp_path, capsys, monkeypatch):
    assert main(["stats", "--db", str(tmp_path / "absent.db")]) == 2
    assert "does not exist; ingest files first" in capsys.readouterr().err
    assert main(["ingest", str(tmp_path), "--db", str(tmp_path / "no" / "dir.db")]) == 2
    assert "folder" in capsys.readouterr().err
    try:
        main(["ingest"])
    except SystemExit as exc:  # argparse: missing PATH
        assert exc.code == 2
    else:
        raise AssertionError("argparse should exit")


def test_tracedesk_db_env_and_progress_bar(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TRACEDESK_DB", str(tmp_path / "env.db"))
    src = tmp_path / "big.jsonl"
    with open(src, "w") as fh:  # > 5 MB so the progress bar shows
        for i in range(1, 3001):
            doc = request([span(f"{i:032x}", f"{i:016x}", "s", {"input.value": "x" * 2000})])
            fh.write(json.dumps(doc) + "\n")
    assert main(["ingest", str(src)]) == 0
    captured = capsys.readouterr()
    assert "100%" in captured.err and "[##############################]" in captured.err
    assert f"into {tmp_path / 'env.db'}" in captured.out
    assert main(["stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["spans"] == 3000


def test_console_script_runs(tmp_path):
    src = tmp_path / "t.json"
    src.write_bytes(dumps(request(SPANS)))
    proc = subprocess.run([sys.executable, "-m", "tracedesk", "ingest", str(src), "--db", str(tmp_path / "c.db")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "spans: 3" in proc.stdout and proc.stderr == ""


def test_ingesting_the_folder_that_holds_the_database_skips_the_database(tmp_path, capsys):
    """`tracedesk ingest . --db traces.db` in the traces' own folder: the database and its -wal/-shm are
    not inputs (they were rejected as 'not a trace file', so every run exited 1)."""
    (tmp_path / "t.json").write_bytes(dumps(request(SPANS)))
    db = str(tmp_path / "traces.db")
    for run in range(2):
        assert main(["ingest", str(tmp_path), "--db", db, "--quiet"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("Ingested 1 file(s)") and "rejected" not in out, out
    assert (tmp_path / "traces.db-wal").exists() or (tmp_path / "traces.db").exists()
    assert "new 0, unchanged 3" in out


def test_stats_into_a_closed_pipe_exits_quietly(tmp_path):
    src = tmp_path / "t.json"
    src.write_bytes(dumps(request(SPANS)))
    db = str(tmp_path / "x.db")
    assert main(["ingest", str(src), "--db", db, "--quiet"]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "tracedesk", "stats", "--db", db], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before stats writes a byte: its writes meet EPIPE
    assert (proc.wait(), proc.stderr.read()) == (0, b"")


def test_a_command_leaves_its_rows_in_the_database_file_itself(tmp_path, capsys):
    """The connection stayed open until exit, so every row stayed in FILE-wal: a copy of FILE alone (how a
    database is shared or backed up) was empty. Each command now closes what it opened."""
    import shutil
    import sqlite3

    src = tmp_path / "t.json"
    src.write_bytes(dumps(request(SPANS)))
    db = tmp_path / "x.db"
    assert main(["ingest", str(src), "--db", str(db)]) == 0
    assert not (tmp_path / "x.db-wal").exists()
    shutil.copy(db, tmp_path / "copy.db")  # the file alone, as a user copies it
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("SELECT COUNT(*) FROM spans").fetchone()[0] == 3
    copy.close()
    assert main(["eval", "run", "--db", str(db), "--evaluator", "refusal"]) in (0, 1)
    capsys.readouterr()
    assert not (tmp_path / "x.db-wal").exists()
    # a handle the caller opened before the command stays open
    from tracedesk.store import connect

    mine = connect(str(db))
    assert main(["stats", "--db", str(db)]) == 0
    assert mine.execute("SELECT COUNT(*) FROM spans").fetchone()[0] == 3
    mine.close()
