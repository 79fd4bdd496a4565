"""Several signals of one table read in one pass (signals.samples_many / store.samples.shared_samples):
each frame is exactly the frame of the signal's own read (same rows, order, values and dtypes), with
and without cohort dimensions, filters, time bounds and evaluator parameters, whatever plan SQLite
picks (the reads have one canonical order), and the pass really is one SELECT per table."""
from __future__ import annotations

import pandas as pd
import pytest

import tracedesk
from tracedesk import signals
from tracedesk.analysis import metrics
from tracedesk.store import samples as store_samples
from tracedesk.store.query import Filters

SPECS = [{"type": "trace_count"}, {"type": "error_rate"}, {"type": "refusal_rate_trace"},
         {"type": "trace_duration"}, {"type": "cost_per_trace"}, {"type": "tokens_per_trace"},
         {"type": "quality"}, {"type": "eval_pass_rate"}, {"type": "eval_fail_rate"},
         {"type": "quality", "evaluator": "groundedness"}, {"type": "eval_pass_rate", "evaluator": "groundedness"},
         {"type": "error_rate", "span_kind": "TOOL"}, {"type": "duration", "span_kind": "LLM"}, {"type": "ttft"},
         {"type": "eval_coverage", "evaluator": "groundedness"}]


@pytest.fixture(scope="module")
def ws(sample_db_path):
    with tracedesk.open(sample_db_path) as w:
        yield w


def _queries(ws) -> list[signals.SampleQuery]:
    lo, hi = ws.time_bounds()
    model = ws.values("model")[0]
    return [
        signals.SampleQuery({}, ()),
        signals.SampleQuery({}, ("route", "model", "agent_name", "tenant"), explode=False),
        signals.SampleQuery({}, ("model", "route")),  # exploded
        signals.SampleQuery({}, ("route",), filters=Filters(models=[model])),
        signals.SampleQuery({"route": ("refunds", "billing")}, ("agent",), since_ns=lo + (hi - lo) // 3,
                            until_ns=hi - (hi - lo) // 3),
        signals.SampleQuery({}, ("model_family",), filters=Filters(text="refund")),
    ]


def test_each_frame_is_the_signals_own_read(ws) -> None:
    for query in _queries(ws):
        together = signals.samples_many(ws.db, SPECS, query)
        for spec, frame in zip(SPECS, together):
            alone = signals.samples(ws.db, spec, query)
            assert len(alone) > 0 or spec.get("span_kind") or query.scope, (spec, query)
            pd.testing.assert_frame_equal(frame, alone, check_exact=True, obj=f"{spec} {query}")


def test_an_empty_selection_gives_the_empty_frames(ws) -> None:
    query = signals.SampleQuery({}, ("route",), filters=Filters(dims={"route": ["no-such-route"]}))
    for spec, frame in zip(SPECS, signals.samples_many(ws.db, SPECS, query)):
        assert frame.empty
        pd.testing.assert_frame_equal(frame, signals.samples(ws.db, spec, query))


def test_one_select_per_table(ws) -> None:
    statements: list[str] = []
    ws.db.conn.set_trace_callback(statements.append)
    try:
        signals.samples_many(ws.db, [{"type": s} for s in ("trace_count", "error_rate", "refusal_rate_trace",
                                                           "trace_duration", "cost_per_trace", "quality",
                                                           "eval_pass_rate")],
                             signals.SampleQuery({}, ("route", "model")))
    finally:
        ws.db.conn.set_trace_callback(None)
    reads = [s for s in statements if s.startswith("SELECT t.start_ns")]
    assert len(reads) == 2, reads  # one over the traces, one over the evaluations
    assert sum("FROM traces t WHERE" in s for s in reads) == 1
    assert sum("FROM evaluations e" in s for s in reads) == 1


READS = [
    # trace_duration's own query walks idx_traces_duration (its value's index), the others scan the table
    [store_samples.ColumnRead("trace", "t.duration_ms", ("t.duration_ms > ?",), (0,)),
     store_samples.ColumnRead("trace", "1"), store_samples.ColumnRead("trace", "t.duration_ms")],
    # one evaluator's reads may walk the name index, the others not
    [store_samples.ColumnRead("eval", "e.score", ("e.name = ?",), ("groundedness",)),
     store_samples.ColumnRead("eval", "e.passed", ("e.passed IS NOT NULL",)),
     store_samples.ColumnRead("eval", "e.score")],
]


def _reads_and_plans(db, query) -> tuple[list[list[pd.DataFrame]], list[list[str]]]:
    """The frames of each read list in one pass and of each read alone, and the plans SQLite chose."""
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        frames = [store_samples.shared_samples(db, reads, query) for reads in READS]
        frames += [store_samples.shared_samples(db, [r], query) for reads in READS for r in reads]
    finally:
        db.conn.set_trace_callback(None)
    selects = [s for s in statements if s.startswith("SELECT t.start_ns")]
    return frames, [[row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + s).fetchall()] for s in selects]


def test_a_read_alone_is_its_frame_in_the_shared_pass(ws) -> None:
    query = signals.SampleQuery({}, ("route", "model"), explode=False)
    for reads in READS:
        frames = store_samples.shared_samples(ws.db, reads, query)
        for r, frame in zip(reads, frames):
            (alone,) = store_samples.shared_samples(ws.db, [r], query)
            assert len(alone)
            pd.testing.assert_frame_equal(frame, alone, check_exact=True)


def test_the_order_does_not_depend_on_the_plan(sample_db_path, tmp_path) -> None:
    """The same reads on a copy of the database without the indexes SQLite walked: other plans, the
    same frames (rows, order, values, dtypes)."""
    import sqlite3

    copy = tmp_path / "copy.db"
    with sqlite3.connect(sample_db_path) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    query = signals.SampleQuery({}, ("route", "model"), explode=False)
    with tracedesk.open(sample_db_path) as before:
        wanted, plans = _reads_and_plans(before.db, query)
    with sqlite3.connect(copy) as conn:
        for index in ("idx_traces_duration", "idx_traces_start", "idx_evaluations_trace_scores",
                      "idx_evaluations_name_trace", "idx_evaluations_name_score", "idx_evaluations_span"):
            conn.execute(f"DROP INDEX {index}")
    with tracedesk.open(str(copy)) as after:
        got, other_plans = _reads_and_plans(after.db, query)
    changed = [i for i, (a, b) in enumerate(zip(plans, other_plans)) if a != b]
    assert len(changed) >= 4, (plans, other_plans)  # both shared passes and reads of each table alone
    for frames, again in zip(wanted, got):
        for frame, frame_again in zip(frames, again):
            assert len(frame)
            pd.testing.assert_frame_equal(frame_again, frame, check_exact=True)


def test_kpis_and_worst_cohorts_read_each_table_once(sample_db_path) -> None:
    with tracedesk.open(sample_db_path) as w:
        statements: list[str] = []
        # a filter (here one that keeps every trace) takes the path that reads samples: unfiltered figures are
        # sums of the stored per-hour cohort aggregates (store.cohort_hours) and read no sample table at all
        everything = Filters(min_latency_ms=0)
        metrics.kpis(w.db, everything)  # the refusal verdicts and trace totals first
        w.db.conn.set_trace_callback(statements.append)
        try:
            metrics.worst_cohorts(w.db, everything)
        finally:
            w.db.conn.set_trace_callback(None)
    reads = [s for s in statements if s.startswith("SELECT t.start_ns")]
    assert len(reads) == 2, [s[:120] for s in statements]
