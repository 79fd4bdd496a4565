"""Bad input: a clear message naming where and why, every good record stored, never a half-written database."""
from __future__ import annotations

import json
import os

import pytest
from _ingest_util import T0, TRACE, dumps, request, span

from tracedesk.ingest import ingest_paths, parse_bytes
from tracedesk.ingest import pipeline as pipeline_mod
from tracedesk.store import connect

GOOD = span(TRACE, "1" * 16, "good", {"gen_ai.operation.name": "chat"})


def _one_bad(bad_span):
    result = parse_bytes(dumps(request([GOOD, bad_span])), "f.json")
    assert [s.name for s in result.spans] == ["good"]
    assert len(result.rejected) == 1
    rej = result.rejected[0]
    assert rej.where == "f.json#resourceSpans[0].scopeSpans[0].spans[1]"
    return rej.reason


def test_truncated_json_and_good_files_in_the_same_run(db_path, tmp_path):
    (tmp_path / "good.json").write_bytes(dumps(request([GOOD])))
    (tmp_path / "cut.json").write_bytes(dumps(request([GOOD]))[:-25])
    report = ingest_paths(db_path, [tmp_path / "good.json", tmp_path / "cut.json"])
    assert report.spans_inserted == 1
    assert [str(r) for r in report.rejected] == [
        f"{tmp_path / 'cut.json'}: truncated or invalid JSON: unexpected end of data at the end of the input "
        f"(is the file complete?)"]


@pytest.mark.parametrize("payload,reason", [
    (b"[1, 2]", "expected a JSON object, got int"),
    (b'{"spans": []}', "unrecognized JSON object (keys: spans)"),
    (b'{"resourceSpans": {"oops": 1}}', "expected 'resourceSpans' to be a list"),
    (b"", "input is empty"),
])
def test_wrong_top_level_shape(payload, reason):
    result = parse_bytes(payload, "w.json")
    assert result.spans == []
    assert len(result.rejected) >= 1 and reason in result.rejected[0].reason


def test_span_without_ids():
    bad = dict(GOOD, spanId="")
    assert _one_bad(bad) == "span has no spanId"
    bad = {k: v for k, v in GOOD.items() if k != "traceId"}
    assert _one_bad(bad) == "span has no traceId"


def test_ids_of_the_wrong_length():
    assert _one_bad(dict(GOOD, spanId="abc123")) == (
        "spanId 'abc123' is neither 16 hex digits nor base64 of 8 bytes")
    assert "traceId" in _one_bad(dict(GOOD, traceId="0af7651916cd43dd8448eb211c80319c00"))


def test_end_before_start():
    bad = dict(GOOD, startTimeUnixNano=str(T0 + 10), endTimeUnixNano=str(T0))
    assert _one_bad(bad) == f"endTimeUnixNano {T0} is before startTimeUnixNano {T0 + 10}"


def test_ten_megabyte_attribute_is_truncated_and_reported(db_path, tmp_path):
    big = span(TRACE, "2" * 16, "big", {"input.value": "x" * 10_000_000})
    path = tmp_path / "big.json"
    path.write_bytes(dumps(request([GOOD, big])))
    report = ingest_paths(db_path, [path])
    assert (report.spans_inserted, report.rejected) == (2, [])
    assert [str(w) for w in report.warnings] == [
        f"{path}#resourceSpans[0].scopeSpans[0].spans[1]: attribute 'input.value' has 10,000,000 characters; "
        f"stored the first 1,000,000"]
    length = connect(db_path).execute("SELECT length(input_text) FROM spans WHERE name='big'").fetchone()[0]
    assert length == 1_000_000 + len("…[truncated by tracedesk]")


def test_invalid_utf8_keeps_the_records(db_path, tmp_path):
    line_ok = dumps(request([GOOD]))
    bad = dumps(request([span(TRACE, "3" * 16, "PLACEHOLDER", {})])).replace(b"PLACEHOLDER", b"caf\xe9")
    path = tmp_path / "enc.jsonl"
    path.write_bytes(line_ok + b"\n" + bad + b"\n")
    report = ingest_paths(db_path, [path])
    assert (report.spans_inserted, report.rejected) == (2, [])
    assert [str(w) for w in report.warnings] == [f"{path}:2: invalid UTF-8 replaced with U+FFFD"]
    assert connect(db_path).execute("SELECT name FROM spans WHERE span_id = ?", ["3" * 16]).fetchone()[0] == "caf\ufffd"
    # the same inside a single JSON document
    result = parse_bytes(bad, "doc.json")
    assert ([s.name for s in result.spans], [str(w) for w in result.warnings]) == (
        ["caf\ufffd"], ["doc.json: invalid UTF-8 replaced with U+FFFD"])


def test_parent_that_never_arrives_and_cycles_make_incomplete_traces(db_path, tmp_path):
    other = "1" * 32
    spans = [span(TRACE, "a" * 16, "orphan", {}, parent="f" * 16),
             span(other, "b" * 16, "x", {}, parent="c" * 16), span(other, "c" * 16, "y", {}, parent="b" * 16)]
    path = tmp_path / "o.json"
    path.write_bytes(dumps(request(spans)))
    report = ingest_paths(db_path, [path])
    assert (report.spans_inserted, report.traces, report.incomplete_traces, report.rejected) == (3, 2, 2, [])
    rows = connect(db_path).execute("SELECT trace_id, complete, orphan_count FROM traces ORDER BY trace_id").fetchall()
    assert rows == [(TRACE, 0, 1), (other, 0, 0)]  # the cycle has no root


def test_duplicate_span_ids_last_write_wins_and_is_counted(db_path, tmp_path):
    first = span(TRACE, "d" * 16, "first", {"gen_ai.usage.input_tokens": 1})
    second = span(TRACE, "d" * 16, "second", {"gen_ai.usage.input_tokens": 2})
    path = tmp_path / "dup.json"
    path.write_bytes(dumps(request([first, second])))
    report = ingest_paths(db_path, [path])
    assert (report.spans_inserted, report.spans_replaced) == (1, 1)
    assert connect(db_path).execute("SELECT name, input_tokens FROM spans").fetchall() == [("second", 2)]
    path.write_bytes(dumps(request([first])))
    report = ingest_paths(db_path, [path])
    assert (report.spans_inserted, report.spans_replaced) == (0, 1)
    assert connect(db_path).execute("SELECT name FROM spans").fetchall() == [("first",)]


def test_non_existent_paths_and_empty_globs(db_path, tmp_path):
    report = ingest_paths(db_path, [tmp_path / "nope.json", str(tmp_path / "*.otlp")])
    assert [str(r) for r in report.rejected] == [f"{tmp_path / 'nope.json'}: no such file or directory",
                                                 f"{tmp_path / '*.otlp'}: no file matches this pattern"]
    assert report.files == 0


def test_unreadable_file_is_reported_and_others_stored(db_path, tmp_path, monkeypatch):
    locked = tmp_path / "locked.json"
    locked.write_bytes(dumps(request([GOOD])))
    os.chmod(locked, 0)
    if os.geteuid() == 0:  # root ignores file modes: make open() refuse like the OS would for a user
        real_open = open

        def guarded(path, *a, **kw):
            if str(path) == str(locked):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *a, **kw)

        monkeypatch.setattr(pipeline_mod, "open", guarded, raising=False)
    ok = tmp_path / "ok.json"
    ok.write_bytes(dumps(request([span(TRACE, "2" * 16, "ok", {})])))
    report = ingest_paths(db_path, [locked, ok])
    assert [str(r) for r in report.rejected] == [f"{locked}: cannot read file: Permission denied"]
    assert report.spans_inserted == 1


def test_corrupt_gzip_is_reported(db_path, tmp_path):
    import gzip

    data = gzip.compress(b"\n".join(dumps(request([span(TRACE, f"{i:016x}", "s", {})])) for i in range(1, 2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    report = ingest_paths(db_path, [path])
    assert len(report.rejected) == 1 and report.rejected[0].reason.startswith("stopped reading:")


def test_interrupted_ingest_keeps_whole_batches_and_previous_state(db_path, tmp_path):
    before = tmp_path / "before.json"
    before.write_bytes(dumps(request([span("9" * 32, "9" * 16, "previous", {})])))
    ingest_paths(db_path, [before])
    lines = [json.dumps(request([span(f"{t:032x}", f"{t:016x}", "s", {}) for t in range(b * 10 + 1, b * 10 + 11)]))
             for b in range(50)]
    big = tmp_path / "big.jsonl"
    big.write_text("\n".join(lines) + "\n")
    calls = []

    def interrupt(done, total):
        calls.append(done)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_paths(db_path, [big], progress=interrupt, batch_size=40)
    db = connect(db_path)
    n = db.execute("SELECT COUNT(*) FROM spans WHERE name = 's'").fetchone()[0]
    assert 0 < n < 500 and n % 40 == 0  # whole batches only
    assert db.execute("SELECT COUNT(*) FROM traces").fetchone()[0] == n + 1  # summaries match the spans
    assert db.execute("SELECT name FROM spans WHERE trace_id = ?", ["9" * 32]).fetchone()[0] == "previous"


def test_text_that_is_not_a_trace_file():
    result = parse_bytes(b"# notes\nnot json", "notes.md")
    assert [str(r) for r in result.rejected] == [
        "notes.md: not a trace file: neither JSON (OTLP/JSON, JSON Lines, flat records) nor OTLP protobuf; "
        "see docs/ingest.md for the formats"]


def test_jsonl_may_start_with_blank_and_non_object_lines(tmp_path):
    good = {"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331", "name": "kept",
            "start_time": "2026-11-16T10:00:00Z", "end_time": "2026-11-16T10:00:01Z"}
    path = tmp_path / "m.jsonl"
    path.write_text('\n\n"text"\n' + json.dumps(good) + "\n")
    db = connect(str(tmp_path / "t.db"))
    report = ingest_paths(db, [str(path)])
    assert [r[0] for r in db.execute("SELECT name FROM spans")] == ["kept"]
    assert [r.where for r in report.rejected] == [f"{path}:3"]
