"""File ingest with a parse worker process: the same database, report and progress as the serial path."""
from __future__ import annotations

import gzip
import json
import os

import pytest

from tracedesk.ingest import ingest_paths, parallel
from tracedesk.store import connect

from _ingest_util import T0


def _inputs(tmp_path):
    """Sample traffic (agents, handoffs, three conventions) plus files with bad records."""
    from tracedesk.cli import main

    assert main(["sample", "generate", str(tmp_path / "otlp"), "--days", "1", "--traces-per-hour", "4",
                 "--seed", "11"]) == 0
    files = sorted(str(p) for p in (tmp_path / "otlp").glob("traces-*.json.gz"))
    good = {"trace_id": "ab" * 16, "span_id": "cd" * 8, "name": "chat", "start_ns": T0, "end_ns": T0 + 5_000_000,
            "kind": "LLM", "model": "gpt-4o", "input_tokens": 12, "output_tokens": 3}
    lines = [json.dumps(good), "{not json", json.dumps({**good, "span_id": "ef" * 8, "trace_id": None}),
             json.dumps({**good, "span_id": "12" * 8})]
    (tmp_path / "flat.jsonl").write_text("\n".join(lines) + "\n")
    packed = open(files[0], "rb").read()
    (tmp_path / "cut.json.gz").write_bytes(packed[: len(packed) // 2])  # a copy broken off mid-file
    return [*files, str(tmp_path / "flat.jsonl"), str(tmp_path / "cut.json.gz"), str(tmp_path / "missing.json")]


_SPANS = ("SELECT trace_id, span_id, content_hash, usage_counted, kind, agent_name, handoff_from, handoff_to, "
          "source FROM spans ORDER BY 1, 2")
_TRACES = "SELECT * FROM traces ORDER BY trace_id"


def _contents(path):
    db = connect(path)
    out = (db.execute(_SPANS).fetchall(), db.execute(_TRACES).fetchall(),
           db.execute("SELECT COUNT(*) FROM traces_stale").fetchone()[0])
    db.conn.close()
    return out


def _summary(report):
    return (report.files, report.spans_inserted, report.spans_unchanged, report.spans_replaced, report.evaluations,
            dict(report.by_convention), report.traces, report.incomplete_traces,
            sorted((r.where, r.reason) for r in report.rejected), sorted((w.where, w.reason) for w in report.warnings))


@pytest.mark.parametrize("redact,workers", [(False, 1), (True, 1), (False, 2), (True, 3)])
def test_parse_workers_store_what_the_serial_ingest_stores(tmp_path, redact, workers):
    files = _inputs(tmp_path)
    serial = ingest_paths(str(tmp_path / "serial.db"), files, batch_size=40, workers=0, redact=redact)
    seen: list[tuple[int, int]] = []
    worker = ingest_paths(str(tmp_path / "worker.db"), files, batch_size=40, workers=workers, redact=redact,
                          progress=lambda done, total: seen.append((done, total)))
    assert serial.spans_inserted > 300
    assert _summary(worker) == _summary(serial)
    # every bad record is named (file, line or index) and the good ones around it are kept
    reasons = dict(_summary(worker)[8])
    assert any(w.endswith("flat.jsonl:2") for w in reasons) and any(w.endswith("flat.jsonl:3") for w in reasons)
    assert any(w.endswith("cut.json.gz") for w in reasons) and any(w.endswith("missing.json") for w in reasons)
    assert _contents(str(tmp_path / "worker.db")) == _contents(str(tmp_path / "serial.db"))
    assert _contents(str(tmp_path / "worker.db"))[2] == 0  # nothing left stale
    # progress: in order, ending at the total input size
    assert seen and seen == sorted(seen) and seen[-1][0] == seen[-1][1] == worker.bytes_read
    # re-ingest through the worker: nothing stored twice
    again = ingest_paths(str(tmp_path / "worker.db"), files, batch_size=40, workers=workers, redact=redact)
    assert (again.spans_inserted, again.spans_replaced, again.spans_unchanged) == (0, 0, serial.spans_inserted)
    # the report says the same in the same order (rejections of each file where that file was read)
    assert [(r.where, r.reason) for r in worker.rejected] == [(r.where, r.reason) for r in serial.rejected]


def test_a_dead_parse_worker_stops_the_ingest_with_whole_batches_stored(tmp_path, monkeypatch):
    files = _inputs(tmp_path)[:2]
    ingest_paths(str(tmp_path / "serial.db"), files, batch_size=40, workers=0)
    calls = {"n": 0}
    original = parallel._QueueWriter._send

    def send_then_die(self):
        original(self)
        calls["n"] += 1
        if calls["n"] == 1:  # one batch shipped, then the worker is killed mid-file
            self.q.close()
            self.q.join_thread()
            os._exit(3)

    monkeypatch.setattr(parallel._QueueWriter, "_send", send_then_die)
    with pytest.raises(RuntimeError, match="exit code 3"):
        ingest_paths(str(tmp_path / "worker.db"), files, batch_size=40, workers=1)
    stored = _contents(str(tmp_path / "worker.db"))
    assert 0 < len(stored[0]) < len(_contents(str(tmp_path / "serial.db"))[0])
    monkeypatch.undo()
    # the next run finishes: the same database as one serial run, nothing stored twice
    again = ingest_paths(str(tmp_path / "worker.db"), files, batch_size=40, workers=1)
    assert again.spans_unchanged == len(stored[0])
    assert _contents(str(tmp_path / "worker.db")) == _contents(str(tmp_path / "serial.db"))



def test_automatic_mode_parses_in_a_worker_only_where_forking_is_safe(tmp_path, monkeypatch):
    """A command-line ingest (one thread, two or more cores, enough input) gets the worker; a process
    with other threads (the app, a notebook) or a small input stays serial; 0 and 1 are obeyed."""
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(parallel, "_can_fork", lambda: True)
    big, small = parallel.MIN_PARALLEL_BYTES, parallel.MIN_PARALLEL_BYTES - 1
    assert parallel.use_worker([tmp_path], big, None) and not parallel.use_worker([tmp_path], small, None)
    assert not parallel.use_worker([tmp_path], big, 0) and parallel.use_worker([tmp_path], small, 1)
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 1)
    assert not parallel.use_worker([tmp_path], big, None)
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(parallel, "_can_fork", lambda: False)
    assert not parallel.use_worker([tmp_path], big, None) and parallel.use_worker([tmp_path], big, 1)


def test_parse_workers_are_one_per_core_beside_the_writer_up_to_two_never_more_than_the_files(tmp_path,
                                                                                              monkeypatch):
    files = [tmp_path / f"{i}.json" for i in range(5)]
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 8)
    assert parallel.worker_count(files, None) == parallel.MAX_AUTO_WORKERS == 2
    assert parallel.worker_count(files[:1], None) == 1  # one file is read by one worker
    assert parallel.worker_count(files, 4) == 4 and parallel.worker_count(files, 9) == 5
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)
    assert parallel.worker_count(files, None) == 1 and parallel.worker_count(files, 2) == 2
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 1)
    assert parallel.worker_count(files, None) == 1 and parallel.worker_count(files, 3) == 3


def test_a_row_made_by_a_parse_worker_gives_back_its_span(tmp_path):
    """What the writer relies on when another worker's file stored log messages first: the Span rebuilt
    from a row makes the same row (same bytes, same hash), integers past 64 bits and empty columns too."""
    from tracedesk.models import Span
    from tracedesk.store import span_from_row, span_row

    spans = [Span(trace_id="ab" * 16, span_id="cd" * 8, name="chat", kind="LLM", start_ns=T0, end_ns=T0 + 7,
                  attributes={"big": 2**70, "f": 0.1, "nested": {"k": [1, "é", None]}}, resource={},
                  events=[], input_messages=[{"role": "user", "content": "hi"}], dims={"team": "a"},
                  documents=[{"id": "d1", "score": 0.5}], source="f.json#resourceSpans[0]"),
             Span(trace_id="ab" * 16, span_id="ef" * 8)]
    for span in spans:
        row = span_row(span)
        again = span_from_row(row)
        assert span_row(again) == row
        assert again.attributes == span.attributes and again.retrieved_doc_ids == span.retrieved_doc_ids
