"""tracedesk.signals: every signal is fully described, the new ones give hand-computed values on
tests/alerts_data.build_small, the two refusal signals differ as documented, v1 names keep loading."""
from __future__ import annotations

import pandas as pd
import pytest

from alerts_data import NS, T0, build_small
from tracedesk import signals
from tracedesk.alerts import parse_rule
from tracedesk.alerts.evaluate import backtest, evaluate
from tracedesk.signals import SIGNALS, SampleQuery, aggregate, samples


@pytest.fixture
def db(db_path):
    return build_small(db_path)


def test_every_signal_is_fully_described():
    signals.load_providers()
    required = {"eval_score", "eval_pass_rate", "quality", "refusal_rate_trace", "refusal_rate_answer", "error_rate",
                "duration", "trace_duration", "ttft", "tokens_per_trace", "cost_per_trace", "tool_calls_per_trace",
                "llm_calls_per_trace", "retrieval_score", "retrieval_new_docs", "retrieval_topk_overlap",
                "input_length", "output_length", "trace_count", "refusal_rate"}
    assert required <= set(SIGNALS)
    for s in SIGNALS.values():
        assert s.label and s.definition.endswith("."), s.name
        assert s.bad in ("up", "down") and s.level in signals.LEVELS and s.aggregation in signals.AGGREGATIONS
        assert s.spec.default_comparator == (">" if s.bad == "up" else "<")
    assert "LLM answers" in SIGNALS["refusal_rate_answer"].label and "traces" in SIGNALS["refusal_rate_trace"].label
    assert signals.canonical("refusal_rate") == "refusal_rate_answer" and signals.canonical("ttft") == "ttft"


def _window(db, signal, aggregation, at_s=300):
    doc = {"tracedesk_alert": 1, "name": "t", "window": "5m", "step": "5m",
           "condition": {"signal": signal, "aggregation": aggregation, "comparator": ">", "threshold": 0}}
    [event] = evaluate(db, parse_rule(doc), at_ns=T0 + at_s * NS)
    return event["conditions"][0]["value"], event["conditions"][0]["count"]


# window (T0, T0+5m] holds traces A, B, C (see alerts_data.build_small)
NEW_CASES = [
    ({"type": "quality"}, "mean", [0.9, 0.5, 0.7, 1.0, 0.0, 1.0, 0.0]),  # groundedness, feedback, refusal
    ({"type": "quality", "evaluator": "groundedness"}, "mean", [0.9, 0.5, 0.7]),
    ({"type": "eval_pass_rate"}, "mean", [1, 0, 1, 1, 0, 1, 0]),  # + user_feedback A B (score-only: derived)
    ({"type": "eval_pass_rate", "evaluator": "groundedness"}, "mean", [1, 0, 1]),
    ({"type": "refusal_rate_answer"}, "rate", [0, 1, 0]),
    ({"type": "refusal_rate_trace"}, "mean", [0, 1, 0]),
    ({"type": "tokens_per_trace"}, "mean", [120, 340, 230]),
    ({"type": "trace_count"}, "count", [1, 1, 1]),
    ({"type": "output_length"}, "mean", [len("Sure, here it is."), len("I'm sorry, but I can't help with that."), 2]),
    ({"type": "input_length"}, "mean", []),  # build_small writes no inputs
]


@pytest.mark.parametrize("signal, aggregation, values", NEW_CASES, ids=[repr(c[0]) for c in NEW_CASES])
def test_new_signals_by_hand(db, signal, aggregation, values):
    value, count = _window(db, signal, aggregation)
    assert count == len(values)
    if values:
        assert value == pytest.approx(aggregate(values, aggregation), abs=1e-6)
    else:
        assert value is None


def test_refusal_per_trace_and_per_answer_differ_when_a_trace_answers_twice(db_path):
    from tracedesk.models import Span
    from tracedesk.store import connect, write_batch

    db = connect(db_path)
    tid = "e" * 32
    write_batch(db, [Span(trace_id=tid, span_id=f"{i:016x}", kind="LLM", start_ns=T0 + 60 * NS + i, end_ns=T0 + 61 * NS,
                          output_text=text) for i, text in enumerate(["I'm sorry, but no.", "Here it is.", "Done."])]
                + [Span(trace_id="f" * 32, span_id="f" * 16, kind="LLM", start_ns=T0 + 70 * NS, end_ns=T0 + 71 * NS,
                        output_text="Fine.")])
    assert _window(db, {"type": "refusal_rate_answer"}, "rate") == (pytest.approx(0.25), 4)
    assert _window(db, {"type": "refusal_rate_trace"}, "mean") == (0.5, 2)


def test_v1_refusal_rate_is_the_per_answer_signal(db):
    old = samples(db, {"type": "refusal_rate"}, SampleQuery({}, ("route",)))
    new = samples(db, {"type": "refusal_rate_answer"}, SampleQuery({}, ("route",)))
    assert old.equals(new) and len(old) == 4
    ev = samples(db, {"type": "refusal_rate", "source": "evaluation"}, SampleQuery({}, ()))
    assert list(ev["v"]) == [0.0, 1.0]


def test_trace_count_reads_zero_for_an_empty_window(db):
    assert _window(db, {"type": "trace_count"}, "count", at_s=1800) == (0.0, 0)
    doc = {"tracedesk_alert": 1, "name": "quiet", "window": "5m", "step": "5m", "min_samples": 3,
           "condition": {"signal": {"type": "trace_count"}, "aggregation": "count", "comparator": "<", "threshold": 1}}
    result = backtest(db, parse_rule(doc), since_ns=T0 + 300 * NS, until_ns=T0 + 1200 * NS)
    # windows ending T0+5m (3 traces), +10m (D), +15m and +20m (none): the last two fire
    assert list(result.groups[0].conditions[0].values) == [3.0, 1.0, 0.0, 0.0]
    assert [(e.start_ns - T0) // NS for e in result.episodes] == [900]


def test_samples_name_their_trace_and_follow_filters(db):
    from tracedesk.store.query import Filters

    frame = samples(db, {"type": "ttft"}, SampleQuery({}, (), filters=Filters(dims={"route": ["billing"]})))
    assert sorted(frame["v"]) == [100.0, 200.0, 400.0]
    assert sorted(frame["trace_id"]) == [f"{n:032x}" for n in (1, 2, 4)]


def test_aggregate_matches_the_alert_window_aggregation():
    import numpy as np

    from tracedesk.alerts.evaluate import aggregate_windows

    v = np.array([0.3, 0.0, 2.5, 1.0, 0.7])
    for agg in signals.AGGREGATIONS:
        window = aggregate_windows(v, np.array([0]), np.array([len(v)]), agg)[0]
        assert aggregate(v, agg) == pytest.approx(window, abs=1e-12), agg
    assert aggregate([], "count") == 0 and np.isnan(aggregate([], "sum")) and np.isnan(aggregate([], "mean"))
    for agg in signals.AGGREGATIONS:  # the grouped form gives the same figures
        assert signals.figures(pd.DataFrame({"v": v}), [agg])[agg].iloc[0] == pytest.approx(aggregate(v, agg), abs=1e-12)
