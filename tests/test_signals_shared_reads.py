"""Several signals of one table read in one pass (signals.samples_many / store.samples.shared_samples):
each frame is exactly the frame of the signal's own read (same rows, order, values and dtypes), with
and without cohort dimensions, filters, time bounds and evaluator parameters, and the pass really is
one SELECT per table."""
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
         {"type": "error_rate", "span_kind": "TOOL"}, {"type": "duration", "span_kind": "LLM"}, {"type": "ttft"}]


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


@pytest.mark.parametrize("reads", [
    # trace_duration's own query walks idx_traces_duration (its value's index): rows by value, rowid
    [store_samples.ColumnRead("trace", "t.duration_ms", ("t.duration_ms > ?",), (0,)),
     store_samples.ColumnRead("trace", "1"), store_samples.ColumnRead("trace", "t.duration_ms")],
    # one evaluator's reads may walk the name index, the others not
    [store_samples.ColumnRead("eval", "e.score", ("e.name = ?",), ("groundedness",)),
     store_samples.ColumnRead("eval", "e.passed", ("e.passed IS NOT NULL",)),
     store_samples.ColumnRead("eval", "e.score")],
])
def test_a_read_whose_plan_differs_gets_its_own_order(ws, reads) -> None:
    query = signals.SampleQuery({}, ("route", "model"), explode=False)
    own = [store_samples.sample_sql(ws.db, r.source, r.value_sql, list(r.where), list(r.params), query)
           for r in reads]
    plans = [store_samples._plan(ws.db, sql, params) for sql, params in own]
    if reads[0].source == "trace":
        assert "idx_traces_duration" in plans[0][0] and "idx_traces_duration" not in plans[1][0]
    frames = store_samples.shared_samples(ws.db, reads, query)
    for r, frame in zip(reads, frames):
        alone = store_samples.query_samples(ws.db, r.source, r.value_sql, list(r.where), list(r.params), query)
        assert len(alone)
        pd.testing.assert_frame_equal(frame, alone, check_exact=True)


def test_kpis_and_worst_cohorts_read_each_table_once(sample_db_path) -> None:
    with tracedesk.open(sample_db_path) as w:
        statements: list[str] = []
        metrics.kpis(w.db)  # the refusal verdicts and trace totals first
        w.db.conn.set_trace_callback(statements.append)
        try:
            metrics.worst_cohorts(w.db)
        finally:
            w.db.conn.set_trace_callback(None)
    reads = [s for s in statements if s.startswith("SELECT t.start_ns")]
    assert len(reads) == 2, reads
