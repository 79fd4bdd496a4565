"""Every signal and every aggregation against values computed by hand (tests/alerts_data.build_small)."""
from __future__ import annotations

import numpy as np
import pytest

from alerts_data import NS, T0, build_small
from tracedesk.alerts import parse_rule
from tracedesk.alerts.evaluate import aggregate_windows, evaluate, window_bounds
from tracedesk.alerts.signals import SIGNALS, SampleQuery, register_signal, samples
from tracedesk.alerts.definition import SignalSpec


@pytest.fixture
def db(db_path):
    return build_small(db_path)


def _value(db, signal, aggregation="mean", scope=None, at_s=300, window="5m"):
    # step = window: a step longer than its window is refused (samples between windows would be missed)
    doc = {"tracedesk_alert": 1, "name": "t", "window": window, "step": window, "scope": scope or {},
           "condition": {"signal": signal, "aggregation": aggregation, "comparator": ">", "threshold": 0}}
    [event] = evaluate(db, parse_rule(doc), at_ns=T0 + at_s * NS)
    cond = event["conditions"][0]
    return cond["value"], cond["count"]


# (signal, samples in the window (T0, T0+5m] as listed in build_small's docstring)
SIGNAL_CASES = [
    ({"type": "eval_score", "evaluator": "groundedness"}, [0.9, 0.5, 0.7]),
    ({"type": "duration", "span_kind": "RETRIEVER"}, [100, 300, 500]),
    ({"type": "duration", "span_kind": "TOOL"}, [10, 10]),
    ({"type": "duration", "span_name": "chat"}, [890, 890, 890]),
    ({"type": "trace_duration"}, [2000, 2000, 2000]),
    ({"type": "ttft"}, [200, 400, 300]),
    ({"type": "input_tokens"}, [100, 300, 200]),
    ({"type": "output_tokens"}, [20, 40, 30]),
    ({"type": "cost_per_trace"}, [0.01, 0.03, 0.02]),
    ({"type": "error_rate"}, [0, 1, 0]),  # traces with an ERROR span: B
    ({"type": "error_rate", "span_kind": "TOOL"}, [0, 1]),
    ({"type": "refusal_rate"}, [0, 1, 0]),  # B's answer opens with "I'm sorry, but I can't"
    ({"type": "refusal_rate", "source": "evaluation"}, [0, 1]),
    ({"type": "tool_calls_per_trace"}, [1, 1, 0]),
    ({"type": "llm_calls_per_trace"}, [1, 1, 1]),
    ({"type": "spans_per_trace"}, [4, 4, 3]),
    ({"type": "thumbs_down_rate"}, [0, 1]),
    ({"type": "eval_fail_rate"}, [0, 1, 0, 0, 1, 0, 1]),  # groundedness A B C + refusal A B + user_feedback A B (score-only: verdict from its pass rule)
    ({"type": "eval_fail_rate", "evaluator": "groundedness"}, [0, 1, 0]),
]


@pytest.mark.parametrize("signal, values", SIGNAL_CASES, ids=[repr(c[0]) for c in SIGNAL_CASES])
def test_every_signal_mean_and_count(db, signal, values):
    value, count = _value(db, signal, "mean")
    assert count == len(values)
    assert value == pytest.approx(sum(values) / len(values), abs=1e-6)


def test_pii_rate_reads_each_traces_answer(db):
    # the changes feed's PII signal (not a v1 alert type): B's answer (root output) holds an email address
    from tracedesk.signals import SampleQuery, samples

    frame = samples(db, {"type": "pii_rate"}, SampleQuery({}, (), None, None))
    assert frame["v"].tolist() == [0, 1, 0]


def test_every_builtin_signal_is_covered():
    from tracedesk.alerts.signals import _BUILTINS

    # the v1 signal types (pii_rate has its own test above; the other new signals are checked by hand in
    # tests/test_signals_registry.py)
    assert {c[0]["type"] for c in SIGNAL_CASES} == {spec.type for spec, _ in _BUILTINS}
    assert {spec.type for spec, _ in _BUILTINS} <= set(SIGNALS)


# groundedness in the window: 0.9, 0.5, 0.7 -> sorted .5 .7 .9; pXX = linear interpolation at q*(n-1)
@pytest.mark.parametrize("aggregation, expected", [
    ("mean", 0.7), ("min", 0.5), ("max", 0.9), ("sum", 2.1), ("count", 3), ("rate", 1.0),
    ("p50", 0.7), ("p90", 0.86), ("p95", 0.88), ("p99", 0.896),
])
def test_every_aggregation_by_hand(db, aggregation, expected):
    value, _ = _value(db, {"type": "eval_score", "evaluator": "groundedness"}, aggregation)
    assert value == pytest.approx(expected, abs=1e-9)


def test_rate_counts_non_zero_samples(db):
    # error_rate per trace: B only -> 1/3; as a sum: 1 error trace
    assert _value(db, {"type": "error_rate"}, "rate") == (pytest.approx(1 / 3, abs=1e-6), 3)
    assert _value(db, {"type": "error_rate"}, "sum") == (1.0, 3)
    # retriever p95 over 100, 300, 500: 300 + 0.9 * 200
    assert _value(db, {"type": "duration", "span_kind": "RETRIEVER"}, "p95") == (480.0, 3)


def test_scope_filters_columns_dims_and_trace_lists(db):
    g = {"type": "eval_score", "evaluator": "groundedness"}
    assert _value(db, g, scope={"route": ["billing"]}) == (0.7, 2)  # A .9, B .5
    assert _value(db, g, scope={"dims.region": ["eu"]}) == (0.8, 2)  # A .9, C .7
    assert _value(db, g, scope={"tenant": ["beta"], "route": ["billing"]}) == (0.5, 1)
    # trace-level signal filtered by model: traces whose model list holds gpt-a (A, C)
    assert _value(db, {"type": "cost_per_trace"}, scope={"model": ["gpt-a"]}) == (0.015, 2)
    assert _value(db, {"type": "ttft"}, scope={"model": ["gpt-b"]}) == (400.0, 1)
    # an evaluation's span-level dimension is its judged span's (here the LLM span's model)
    assert _value(db, g, scope={"model": ["gpt-a"]}) == (0.8, 2)
    assert _value(db, g, scope={"model": ["gpt-b"], "route": ["billing"]}) == (0.5, 1)
    assert _value(db, g, scope={"agent_name": ["planner"]}) == (0.7, 3)  # via the trace's agent list
    assert _value(db, {"type": "ttft"}, scope={"agent_name": ["nobody"]}) == (None, 0)
    assert _value(db, {"type": "spans_per_trace"}, scope={"service": ["svc"]}) == (pytest.approx(11 / 3, abs=1e-6), 3)


def test_window_edges_are_open_on_the_left_closed_on_the_right(db):
    # D starts at T0+400s; its LLM span at +10 ms. A window ending exactly there holds it.
    assert _value(db, {"type": "ttft"}, at_s=400, window="1m") == (None, 0)
    d_llm = 400 * NS + 10_000_000
    doc = {"tracedesk_alert": 1, "name": "t", "window": "1m", "step": "1m",
           "condition": {"signal": {"type": "ttft"}, "aggregation": "max", "comparator": ">", "threshold": 0}}
    [event] = evaluate(db, parse_rule(doc), at_ns=T0 + d_llm)
    assert event["conditions"][0]["value"] == 100.0
    # and a window starting exactly at a sample excludes it: (T0 + d_llm, T0 + d_llm + 60s]
    [event] = evaluate(db, parse_rule(doc), at_ns=T0 + d_llm + 60 * NS)
    assert event["conditions"][0]["count"] == 0


def test_aggregate_windows_matches_numpy_on_overlapping_windows():
    rng = np.random.default_rng(3)
    t = np.sort(rng.integers(0, 10_000, 500))
    v = rng.normal(size=500)
    times = np.arange(0, 10_001, 250)
    lo, hi = window_bounds(t, times, 1000)
    for agg, fn in [("mean", np.mean), ("min", np.min), ("max", np.max), ("sum", np.sum),
                    ("p50", lambda x: np.percentile(x, 50)), ("p90", lambda x: np.percentile(x, 90)),
                    ("p95", lambda x: np.percentile(x, 95)), ("p99", lambda x: np.percentile(x, 99)),
                    ("rate", lambda x: np.mean(x != 0)), ("count", len)]:
        got = aggregate_windows(v, lo, hi, agg)
        for i, (a, b) in enumerate(zip(lo, hi)):
            if a == b:
                assert got[i] == 0 if agg == "count" else np.isnan(got[i])
            else:
                assert got[i] == pytest.approx(fn(v[a:b]), abs=1e-9), (agg, i)


def test_signals_can_be_registered(db):
    from tracedesk.alerts.signals import query_samples

    def compute(db_, params, q):
        return query_samples(db_, "span", "s.duration_ms / 1000.0", ["s.kind = 'RETRIEVER'"], [], q)

    register_signal(SignalSpec("retriever_seconds", "Retriever seconds"), compute)
    try:
        assert _value(db, {"type": "retriever_seconds"}, "max") == (0.5, 3)
        frame = samples(db, {"type": "retriever_seconds"}, SampleQuery({}, ("route",)))
        assert list(frame["route"]) == ["billing", "billing", "search", "billing"]
    finally:
        SIGNALS.pop("retriever_seconds")
        from tracedesk.alerts.definition import SIGNAL_SPECS
        SIGNAL_SPECS.pop("retriever_seconds")


def test_dimensions_on_the_root_span_only_reach_child_spans_through_the_trace(db_path):
    from tracedesk.models import Evaluation, Span
    from tracedesk.store import connect, write_batch

    db = connect(db_path)
    spans = []
    for n, (route, ms) in enumerate([("billing", 100.0), ("search", 300.0), ("billing", 500.0)]):
        tid = f"{n + 1:032x}"
        spans += [Span(trace_id=tid, span_id=f"{n + 1:015x}1", kind="CHAIN", route=route, tenant="acme",
                       dims={"region": "eu"}, start_ns=T0 + 60 * NS, end_ns=T0 + 61 * NS, duration_ms=1000.0),
                  Span(trace_id=tid, span_id=f"{n + 1:015x}2", parent_span_id=f"{n + 1:015x}1", kind="RETRIEVER",
                       start_ns=T0 + 60 * NS, end_ns=T0 + 61 * NS, duration_ms=ms, model=None)]
    write_batch(db, spans, [Evaluation(trace_id=f"{1:032x}", span_id=f"{1:015x}2", name="groundedness", score=0.4)])
    r = {"type": "duration", "span_kind": "RETRIEVER"}
    assert _value(db, r, "max", scope={"route": ["billing"]}) == (500.0, 2)
    assert _value(db, r, "max", scope={"dims.region": ["eu"], "tenant": ["acme"]}) == (500.0, 3)
    assert _value(db, {"type": "eval_score", "evaluator": "groundedness"}, scope={"route": ["billing"]}) == (0.4, 1)
    frame = samples(db, r, SampleQuery({}, ("route",)))
    assert sorted(zip(frame["route"], frame["v"])) == [("billing", 100.0), ("billing", 500.0), ("search", 300.0)]


def test_percentiles_in_chunks_match_one_pass(monkeypatch):
    import tracedesk.alerts.evaluate as ev

    rng = np.random.default_rng(9)
    t = np.sort(rng.integers(0, 100_000, 3000))
    v = rng.normal(size=3000)
    times = np.arange(0, 100_001, 500)
    lo, hi = window_bounds(t, times, 20_000)  # 40x overlap
    whole = {agg: aggregate_windows(v, lo, hi, agg) for agg in ("min", "max", "p50", "p99")}
    monkeypatch.setattr(ev, "_CHUNK", 1000)  # many small chunks
    for agg, expected in whole.items():
        np.testing.assert_array_equal(aggregate_windows(v, lo, hi, agg), expected)
    assert np.isnan(whole["p50"][0]) and not np.isnan(whole["p50"][1])


@pytest.mark.parametrize("overlap", [40, 1])
def test_windows_sorted_by_rank_give_the_lexsorted_values(overlap):
    """Overlapping windows sort (window, rank) integer keys over samples ranked once; the values are exactly
    those of sorting each window's values (ties and repeats included), and sparse windows that leave samples
    out take the direct path."""
    import tracedesk.alerts.evaluate as ev

    rng = np.random.default_rng(11)
    t = np.sort(rng.integers(0, 100_000, 4000))
    v = rng.choice([0.5, 1.0, 2.0, 250.0, 1e6], size=4000)  # ties everywhere
    times = np.arange(0, 100_001, 500 * overlap)
    lo, hi = window_bounds(t, times, 20_000 if overlap > 1 else 300)
    sizes = hi - lo
    keep = np.flatnonzero(sizes)
    for agg in ("min", "max", "p50", "p90", "p95", "p99"):
        direct = ev._ordered_stats(v, lo[keep], sizes[keep], agg)
        ranked = ev._ordered_stats(v, lo[keep], sizes[keep], agg, ev._Ranked(v, 0, len(v)))
        np.testing.assert_array_equal(ranked, direct)
        got = aggregate_windows(v, lo, hi, agg)
        np.testing.assert_array_equal(got[keep], direct)
        assert np.isnan(got[sizes == 0]).all()
