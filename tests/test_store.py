"""The store: migrations, atomic idempotent writes, trace summaries, usage de-duplication."""
from __future__ import annotations

import sqlite3

import pytest

from tracedesk.models import Evaluation, Span
from tracedesk.store import MIGRATIONS, connect, stats, write_batch


def _span(span_id, parent=None, trace="t1", **kw):
    base = dict(trace_id=trace, span_id=span_id, parent_span_id=parent, name=span_id, start_ns=1_000,
                end_ns=2_000_000, duration_ms=2.0)
    base.update(kw)
    return Span(**base)


def test_migrations_are_recorded_once(db_path):
    db = connect(db_path)
    names = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert names == [name for name, _ in MIGRATIONS]
    db2 = connect(db_path)  # re-opening applies nothing
    assert db2.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)
    assert db2.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_rewrite_is_idempotent_and_changed_content_replaces(db_path):
    db = connect(db_path)
    spans = [_span("a"), _span("b", "a", kind="LLM", input_tokens=10, output_tokens=5)]
    first = write_batch(db, spans)
    assert (first.inserted, first.unchanged, first.replaced) == (2, 0, 0)
    again = write_batch(db, spans)
    assert (again.inserted, again.unchanged, again.replaced) == (0, 2, 0)
    changed = write_batch(db, [_span("b", "a", kind="LLM", input_tokens=11, output_tokens=5)])
    assert (changed.inserted, changed.unchanged, changed.replaced) == (0, 0, 1)
    assert db.execute("SELECT COUNT(*), SUM(input_tokens) FROM spans").fetchone() == (2, 11)


def test_wrapper_usage_is_not_counted_twice(db_path):
    db = connect(db_path)
    # agent (aggregates 30/12) -> chain (no usage) -> two LLM calls (10/5 and 20/7)
    write_batch(db, [
        _span("agent", kind="AGENT", input_tokens=30, output_tokens=12, cost_usd=0.3),
        _span("chain", "agent", kind="CHAIN"),
        _span("llm1", "chain", kind="LLM", model="m", input_tokens=10, output_tokens=5, cost_usd=0.1),
        _span("llm2", "chain", kind="LLM", model="m", input_tokens=20, output_tokens=7, cost_usd=0.2),
    ])
    row = db.execute("SELECT input_tokens, output_tokens, cost_usd, span_count, llm_calls, root_name, "
                     "complete FROM traces").fetchone()
    assert row == (30, 12, pytest.approx(0.3), 4, 2, "agent", 1)
    s = stats(db)
    assert (s["input_tokens"], s["output_tokens"]) == (30, 12)
    assert s["by_model"] == {"m": {"spans": 2, "input_tokens": 30, "output_tokens": 12, "cost_usd": 0.3}}


def test_orphans_and_cycles_make_an_incomplete_trace(db_path):
    db = connect(db_path)
    write_batch(db, [_span("x", "y"), _span("y", "x"), _span("z", "missing", trace="t2")])
    rows = dict(db.execute("SELECT trace_id, complete FROM traces").fetchall())
    assert rows == {"t1": 0, "t2": 0}


def test_a_failed_batch_leaves_nothing_behind(db_path):
    db = connect(db_path)
    write_batch(db, [_span("a")])
    bad = _span("b")
    bad.start_ns = object()  # not bindable: the insert fails mid-batch
    with pytest.raises(sqlite3.Error):
        write_batch(db, [_span("c"), bad])
    assert [r[0] for r in db.execute("SELECT span_id FROM spans")] == ["a"]


def test_evaluations_are_keyed_and_replaced_not_duplicated(db_path):
    db = connect(db_path)
    ev = Evaluation(trace_id="t1", span_id="a", name="groundedness", score=0.4, source="imported")
    write_batch(db, [_span("a")], [ev])
    ev.score = 0.9
    write_batch(db, [], [ev])
    assert db.execute("SELECT COUNT(*), MAX(score) FROM evaluations").fetchone() == (1, 0.9)
