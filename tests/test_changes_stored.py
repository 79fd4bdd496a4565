"""The feed's stored samples (store.feed_samples) after every write path equal a from-scratch read.

Each test writes traffic through one real write path (ingest of OTLP files, the OTLP receiver,
evaluation writes from a judge and a human review, re-ingest of the same file, a late span joining an
old trace), runs the feed once before the write (so stored chunks exist and could go stale) and once
after, and checks that the stored samples, signal by signal and sample by sample, and the findings,
field by field, equal those read from the span, trace and evaluation rows (find_changes(stored=False)).
The writes after the first are told not to bring the samples up to date themselves (ingest
feed_samples=False, the receiver feed_idle=None): the feed's own refresh of the hours they marked is
what is tested here (tests/test_feed_ready.py tests the writers that do it).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from receiver_support import make_receiver, post, traces_body

from tracedesk.analysis.changes import DEFAULT_DIMENSIONS, OWN_DIMENSIONS, feed_signals, find_changes, load_all
from tracedesk.ingest import ingest_paths
from tracedesk.models import Evaluation
from tracedesk.store import connect, query, write_evaluations
from tracedesk.store import feed as store_feed

T0 = 1_763_942_400_000_000_000  # 2025-11-24T00:00:00Z
HOUR = 3_600 * 10**9
MS = 10**6
ROUTES = ("billing", "refunds", "search")


def _attrs(d: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for k, v in d.items():
        if isinstance(v, bool):
            val: dict[str, Any] = {"boolValue": v}
        elif isinstance(v, int):
            val = {"intValue": str(v)}
        elif isinstance(v, float):
            val = {"doubleValue": v}
        else:
            val = {"stringValue": str(v)}
        out.append({"key": k, "value": val})
    return out


def _span(trace: str, span: str, name: str, start: int, dur_ms: float, attrs: dict[str, Any],
          parent: str | None = None, error: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"traceId": trace, "spanId": span, "name": name, "kind": 1,
                           "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + int(dur_ms * MS)),
                           "attributes": _attrs(attrs), "status": {"code": 2} if error else {}}
    if parent:
        out["parentSpanId"] = parent
    return out


def _trace(n: int, hour: int, route: str, tenant: str, slow: bool = False, error: bool = False) -> list[dict[str, Any]]:
    """A CHAIN root, an LLM call (slow: 10x) and a TOOL call of trace n, in `hour`."""
    tid = f"{n:032x}"
    start = T0 + hour * HOUR + (n * 7_919 % 3_500) * 1_000 * MS
    llm_ms = 8_000.0 if slow else 800.0 + (n % 7) * 30
    root = _span(tid, f"{3 * n:016x}", "request", start, llm_ms + 400,
                 {"openinference.span.kind": "CHAIN", "route": route, "tenant": tenant, "prompt_version": "v1"})
    llm = _span(tid, f"{3 * n + 1:016x}", "answer", start + MS, llm_ms,
                {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.token_count.prompt": 100,
                 "llm.token_count.completion": 10 + n % 5, "output.value": f"answer {n % 11}"},
                parent=f"{3 * n:016x}")
    tool = _span(tid, f"{3 * n + 2:016x}", "lookup", start + int(llm_ms * MS) + 2 * MS, 50.0 + n % 13,
                 {"openinference.span.kind": "TOOL", "tool.name": "lookup"}, parent=f"{3 * n:016x}", error=error)
    return [root, llm, tool]


def _week(first_hour: int, hours: int, offset: int = 0) -> list[dict[str, Any]]:
    """Six traces an hour per route; refunds is 10x slower in hours 30..33."""
    spans = []
    n = offset
    for h in range(first_hour, first_hour + hours):
        for r in ROUTES:
            for k in range(6):
                n += 1
                spans += _trace(n, h, r, "acme" if k % 2 else "globex", slow=r == "refunds" and 30 <= h < 34)
    return spans


def _file(tmp_path: Path, name: str, spans: list[dict[str, Any]]) -> str:
    path = tmp_path / name
    path.write_bytes(traces_body(spans))
    return str(path)


def _samples(path: str, stored: bool) -> dict[str, list[tuple[Any, ...]]]:
    """Every feed signal's samples (t, v, cells), in a canonical order."""
    db = connect(path)
    lo, hi = query.time_bounds(db)
    dims = [*DEFAULT_DIMENSIONS, *OWN_DIMENSIONS]
    signals = feed_signals(query.evaluator_names(db))
    frames = load_all(db, signals, dims, lo, hi + 1, stored=stored)
    out = {}
    for name, frame in frames.items():
        cols = ["t", "v", *[d for d in dims if d in frame.columns]]
        rows = [tuple(None if x is None or x != x else x for x in r) for r in frame[cols].astype(object).itertuples(index=False)]
        out[name] = sorted(rows, key=lambda r: json.dumps(r, default=str))
    db.conn.close()
    return out


def _feed(path: str, stored: bool) -> list[dict[str, Any]]:
    db = connect(path)
    try:
        return [f.to_dict() for f in find_changes(db, stored=stored)]
    finally:
        db.conn.close()


def _dirty(path: str) -> int:
    db = connect(path)
    try:
        return int(db.execute("SELECT COUNT(*) FROM feed_dirty").fetchone()[0])
    finally:
        db.conn.close()


def _check(path: str) -> tuple[dict[str, list[tuple[Any, ...]]], list[dict[str, Any]]]:
    """The stored feed equals the from-scratch one; returns the samples and findings."""
    feed = _feed(path, stored=True)
    assert _dirty(path) == 0  # the feed brought the stored samples up to date
    db = connect(path)
    assert db.execute("SELECT COUNT(*) FROM feed_chunks").fetchone()[0] > 0
    db.conn.close()
    with mock.patch.object(store_feed, "read_family", side_effect=AssertionError("read rows")):
        stored = _samples(path, stored=True)  # from the chunks only: up to date, no row read
    raw = _samples(path, stored=False)
    assert stored.keys() == raw.keys()
    for name in raw:
        assert stored[name] == raw[name], name
    assert feed == _feed(path, stored=False)
    return stored, feed


def test_ingest_of_new_files_marks_their_hours_and_the_feed_reads_them(tmp_path):
    db = str(tmp_path / "t.db")
    ingest_paths(db, [_file(tmp_path, "a.json", _week(0, 24))])
    before, feed = _check(db)
    assert feed == []  # a quiet day
    ingest_paths(db, [_file(tmp_path, "b.json", _week(24, 24, offset=10_000))], feed_samples=False)
    assert _dirty(db) > 0
    after, feed = _check(db)
    assert len(after["llm_latency"]) == len(before["llm_latency"]) + 24 * 3 * 6
    assert any(f["cohort"] == {"route": "refunds"} and "llm_latency" in f["signals"] for f in feed)


def test_spans_from_the_receiver(tmp_path):
    db = str(tmp_path / "t.db")
    ingest_paths(db, [_file(tmp_path, "a.json", _week(0, 40))])
    before, _feed0 = _check(db)
    r = make_receiver(db, feed_idle=None)
    try:
        answer = post(r, "/v1/traces", traces_body(_week(40, 8, offset=20_000)), {"Content-Type": "application/json"})
        assert answer.status == 200
    finally:
        r.stop()
    assert _dirty(db) > 0
    after, _feed1 = _check(db)
    assert len(after["trace_latency"]) == len(before["trace_latency"]) + 8 * 3 * 6


def test_evaluations_from_a_judge_and_a_human_review(tmp_path):
    db = str(tmp_path / "t.db")
    ingest_paths(db, [_file(tmp_path, "a.json", _week(0, 48))])
    _check(db)
    conn = connect(db)
    traces = [r[0] for r in conn.execute("SELECT trace_id FROM traces ORDER BY trace_id").fetchall()]
    judged = [Evaluation(t, None, "groundedness", score=0.2 if i % 9 == 0 else 0.9, source="judge")
              for i, t in enumerate(traces)]
    reviews = [Evaluation(t, None, "user_feedback", label="thumbs_down" if i % 4 == 0 else "thumbs_up",
                          source="human") for i, t in enumerate(traces[:200])]
    write_evaluations(conn, judged)
    write_evaluations(conn, reviews)
    conn.conn.close()
    assert _dirty(db) > 0
    after, _feed = _check(db)
    assert len(after["groundedness"]) == len(traces)
    assert sum(v for _t, v, *_ in after["thumbs_down_rate"]) == 50
    # a review changed (the same evaluation id, another label): the trace's hour is re-read
    conn = connect(db)
    write_evaluations(conn, [Evaluation(traces[1], None, "user_feedback", label="thumbs_down", source="human")])
    conn.conn.close()
    again, _feed = _check(db)
    assert sum(v for _t, v, *_ in again["thumbs_down_rate"]) == 51


def test_re_ingest_of_the_same_file_changes_nothing(tmp_path):
    db = str(tmp_path / "t.db")
    f = _file(tmp_path, "a.json", _week(0, 48))
    ingest_paths(db, [f])
    before, feed_before = _check(db)
    ingest_paths(db, [f])
    after, feed_after = _check(db)
    assert after == before and feed_after == feed_before


def test_re_ingest_of_a_changed_file_replaces_spans_and_the_feed_follows(tmp_path):
    db = str(tmp_path / "t.db")
    ingest_paths(db, [_file(tmp_path, "a.json", _week(0, 48))])
    before, _feed0 = _check(db)
    # the same span ids, written again with other content: hours 10..13 of billing are now slow too
    changed = []
    n = 0
    for h in range(48):
        for r in ROUTES:
            for k in range(6):
                n += 1
                changed += _trace(n, h, r, "acme" if k % 2 else "globex",
                                  slow=(r == "refunds" and 30 <= h < 34) or (r == "billing" and 10 <= h < 14))
    report = ingest_paths(db, [_file(tmp_path, "a.json", changed)], feed_samples=False)
    assert report.rejected == [] and report.spans_replaced > 0
    assert _dirty(db) > 0
    after, feed = _check(db)
    assert after != before
    assert any(f["cohort"] == {"route": "billing"} and "llm_latency" in f["signals"] for f in feed)


def test_a_late_span_joining_an_old_trace(tmp_path):
    db = str(tmp_path / "t.db")
    ingest_paths(db, [_file(tmp_path, "a.json", _week(0, 48))])
    _check(db)
    conn = connect(db)
    tid, start = conn.execute("SELECT trace_id, start_ns FROM traces ORDER BY start_ns LIMIT 1 OFFSET 5").fetchone()
    n_tool = conn.execute("SELECT COUNT(*) FROM spans WHERE trace_id = ? AND kind = 'TOOL'", [tid]).fetchone()[0]
    conn.conn.close()
    # a failing tool call of that early trace, made three hours into it, arrives later: its own hour is
    # not the trace's, whose summary (error count, end) is recomputed and whose sample is stamped at its start
    late = _span(tid, "ffffffffffff0001", "lookup", start + 3 * HOUR, 70.0,
                 {"openinference.span.kind": "TOOL", "tool.name": "lookup"}, parent=None, error=True)
    late["parentSpanId"] = f"{int(tid, 16) * 3:016x}"
    ingest_paths(db, [_file(tmp_path, "late.json", [late])], feed_samples=False)
    assert _dirty(db) > 0
    after, _feed = _check(db)
    conn = connect(db)
    assert conn.execute("SELECT COUNT(*) FROM spans WHERE trace_id = ? AND kind = 'TOOL'", [tid]).fetchone()[0] == n_tool + 1
    conn.conn.close()
    errors = [s for s in after["error_rate"] if s[0] == start]
    assert [s[1] for s in errors] == [1.0]  # the trace now counts as failed, in the stored samples too


def test_a_feed_over_other_dimensions_reads_rows_and_leaves_the_stored_samples(tmp_path):
    db = str(tmp_path / "t.db")
    ingest_paths(db, [_file(tmp_path, "a.json", _week(0, 48))])
    _check(db)
    conn = connect(db)
    sets = conn.execute("SELECT id, key FROM feed_sample_sets ORDER BY id").fetchall()
    find_changes(conn, dimensions=["route"])
    assert conn.execute("SELECT id, key FROM feed_sample_sets ORDER BY id").fetchall() == sets
    conn.conn.close()


def test_a_write_landing_while_the_feed_reads_rows_is_not_lost(tmp_path):
    db = str(tmp_path / "t.db")
    ingest_paths(db, [_file(tmp_path, "a.json", _week(0, 40))])
    _check(db)
    ingest_paths(db, [_file(tmp_path, "b.json", _week(40, 4, offset=30_000))], feed_samples=False)  # hours to re-read
    real = store_feed.read_family
    calls = []

    def read_then_someone_writes(*args: Any, **kw: Any) -> Any:
        out = real(*args, **kw)
        if not calls:  # another connection commits more traffic while the refresh is reading
            ingest_paths(db, [_file(tmp_path, "c.json", _week(44, 2, offset=40_000))], feed_samples=False)
        calls.append(1)
        return out

    with mock.patch.object(store_feed, "read_family", side_effect=read_then_someone_writes):
        conn = connect(db)
        find_changes(conn)
        conn.conn.close()
    assert _dirty(db) == 0
    after, _feed = _check(db)  # c.json's hours are in the chunks too (the refresh ran again, locked)
    assert len(after["trace_latency"]) == 46 * 3 * 6


def test_triggers_lost_with_a_rebuilt_table_are_put_back_and_the_samples_rebuilt(tmp_path):
    from tracedesk.store.feed_dirty import TRIGGERS

    db = str(tmp_path / "t.db")
    ingest_paths(db, [_file(tmp_path, "a.json", _week(0, 40))])
    _check(db)
    conn = connect(db)
    for name in TRIGGERS:  # what rebuilding the spans/traces/evaluations tables in a migration does
        conn.execute(f"DROP TRIGGER {name}")
    # and one left by an earlier version of the module
    conn.execute("CREATE TRIGGER feed_dirty_old AFTER INSERT ON spans BEGIN SELECT 1; END")
    conn.conn.commit()
    conn.conn.close()
    ingest_paths(db, [_file(tmp_path, "b.json", _week(40, 4, offset=30_000))])  # marks nothing
    after, _feed = _check(db)
    assert len(after["trace_latency"]) == 44 * 3 * 6
    conn = connect(db)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()}
    conn.conn.close()
    assert {n for n in names if n.startswith("feed_dirty_")} == set(TRIGGERS)


def test_a_read_of_signals_the_store_does_not_keep_is_refused(tmp_path):
    """`kept` names every set the database keeps; reading something outside it would rebuild nothing and
    read nothing right, so it is an error that names the rule."""
    from tracedesk.store.feed_samples import stored_frames

    path = str(tmp_path / "t.db")
    ingest_paths(path, [_file(tmp_path, "a.json", _week(0, 2))])
    db = connect(path)
    kept = [("llm_latency", {"type": "duration", "span_kind": "LLM"}, ("route",))]
    with pytest.raises(ValueError, match="among the kept ones"):
        stored_frames(db, [("llm_latency", {"type": "duration", "span_kind": "LLM"}, ("tenant",))], None, None,
                      kept=kept)
    db.conn.close()
