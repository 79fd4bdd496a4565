"""tracedesk export / ws.export: spans, traces and evaluations of any filter to CSV and Parquet, in chunks."""
from __future__ import annotations

import csv
import sys

import pyarrow.parquet as pq
import pytest

import sessions_data as data
import tracedesk
from tracedesk import Filters
from tracedesk.cli import main


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    return data.build(str(tmp / "s.db"), tmp)


def read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_cli_csv_with_url_filters_streams_in_chunks(db, tmp_path, capsys):
    out = tmp_path / "spans.csv"
    assert main(["export", "--db", db, "--what", "spans", "--filter", "user_id=alice&tag=mobile",
                 "--chunk-rows", "1", "-o", str(out)]) == 0
    assert capsys.readouterr().err.strip() == f"wrote 2 spans to {out} (csv, 2 chunk(s))"
    rows = read_csv(out)
    assert [r["input_text"] for r in rows] == ["Where is my order 1042?", "Can I change the address?"]
    assert rows[0]["cost_usd"] == "0.004" and rows[0]["session_id"] == "conv-a"
    with tracedesk.open(db) as ws:
        assert list(rows[0]) == ws.export_columns("spans")


def test_parquet_traces_and_evaluations_match_the_store(db, tmp_path):
    with tracedesk.open(db) as ws:
        report = ws.export("traces", str(tmp_path / "t.parquet"), filters=Filters(dims={"session_id": ["conv-b"]}),
                           chunk_rows=1)
    assert (report.rows, report.chunks, report.format) == (2, 2, "parquet")
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.num_rows == 2 and table.schema.field("start_ns").type == "int64"
    assert table.column("cost_usd").to_pylist() == [0.02, 0.03]
    assert table.column("error_count").to_pylist() == [0, 1]
    assert main(["export", "--db", db, "--what", "evaluations", "-o", str(tmp_path / "e.pq")]) == 0
    ev = pq.read_table(tmp_path / "e.pq").to_pylist()
    assert sorted((r["name"], r["score"], r["passed"]) for r in ev) == [
        ("helpfulness", 0.4, 0), ("helpfulness", 0.8, 1), ("helpfulness", 0.9, 1)]


def test_empty_export_is_a_readable_file_with_the_columns(db, tmp_path):
    with tracedesk.open(db) as ws:
        ws.export("spans", str(tmp_path / "none.parquet"), filters=Filters(tags=["nope"]))
        ws.export("spans", str(tmp_path / "none.csv"), filters=Filters(tags=["nope"]))
    table = pq.read_table(tmp_path / "none.parquet")
    assert table.num_rows == 0 and "trace_id" in table.schema.names
    assert (tmp_path / "none.csv").read_text().startswith("trace_id,span_id,")


def test_spans_frame_to_parquet_round_trips(db, tmp_path):
    """docs/workbench.md: ws.spans(...).to_parquet(...) for a notebook."""
    import pandas as pd

    with tracedesk.open(db) as ws:
        frame = ws.spans(Filters(dims={"user_id": ["bob"]}))
    frame.to_parquet(tmp_path / "bob.parquet")
    assert pd.read_parquet(tmp_path / "bob.parquet")["trace_id"].tolist() == frame["trace_id"].tolist()


def test_export_errors_name_the_fix(db, tmp_path, capsys, monkeypatch):
    assert main(["export", "--db", db, "--filter", "cost=abc", "-o", str(tmp_path / "x.csv")]) == 2
    assert "Filter cost='abc'" in capsys.readouterr().err
    # a mistyped key exported every row (the app's URL reader ignores keys it does not know)
    assert main(["export", "--db", db, "--filter", "rout=billing", "-o", str(tmp_path / "x.csv")]) == 2
    assert capsys.readouterr().err.startswith("tracedesk export: Unknown filter 'rout'; the keys are: start/end")
    assert not (tmp_path / "x.csv").exists()
    assert main(["export", "--db", str(tmp_path / "missing.db"), "-o", str(tmp_path / "x.csv")]) == 3
    assert "No database at" in capsys.readouterr().err
    assert main(["export", "--db", db, "-o", str(tmp_path / "no" / "x.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    # without pyarrow (an install made with --no-deps): the message names the package; no file is left
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "pyarrow" else real(n, *a))
    assert main(["export", "--db", db, "--format", "parquet", "-o", str(tmp_path / "x.parquet")]) == 3
    assert "pip install pyarrow" in capsys.readouterr().err
    assert not (tmp_path / "x.parquet").exists()
