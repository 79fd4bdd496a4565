"""Conditions that weigh their evidence: a rate judged at a confidence (the Wilson bound of its k of n
samples, so the samples needed adapt to how far the rate is from the threshold), and per-trace
conditions relative to the group's usual trace (the median trace of the baseline window before it).
Every value is computed by hand from the data built here."""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from alerts_data import NS, T0, build_small
from tracedesk.alerts import AlertValidationError, parse_rule, rule_to_dict
from tracedesk.alerts.evaluate import backtest, evaluate, wilson_bound
from tracedesk.alerts.states import pages
from tracedesk.models import Span
from tracedesk.store import connect, write_batch

M = 60 * NS
REFUSAL = {"type": "refusal_rate"}
TOOL_CALLS = {"type": "tool_calls_per_trace"}


def _doc(condition, **kw):
    return {"tracedesk_alert": 1, "name": "t", "window": "5m", "step": "5m", "condition": condition, **kw}


def test_wilson_bound_matches_its_closed_forms():
    z2 = NormalDist().inv_cdf(0.99) ** 2
    # k = n: the lower bound is n / (n + z^2); k = 0: the upper bound is z^2 / (n + z^2)
    low = wilson_bound(np.array([1.0, 1.0, 0.0]), np.array([1, 4, 4]), 0.99, upper=False)
    assert low[0] == pytest.approx(1 / (1 + z2)) and low[1] == pytest.approx(4 / (4 + z2))
    assert low[2] == pytest.approx(0.0, abs=1e-12)
    high = wilson_bound(np.array([0.0]), np.array([4]), 0.99, upper=True)
    assert high[0] == pytest.approx(z2 / (4 + z2))
    # 3 of 6 at 99.9%, by the textbook formula
    z = NormalDist().inv_cdf(0.999)
    p, n = 0.5, 6
    expected = (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)
    assert wilson_bound(np.array([p]), np.array([n]), 0.999, upper=False)[0] == pytest.approx(expected)
    assert expected == pytest.approx(0.1082, abs=1e-4)  # beyond 0.1: 3 failures in 6 calls page
    # no samples: no bound
    assert np.isnan(wilson_bound(np.array([np.nan]), np.array([0]), 0.99, upper=False)[0])


@pytest.fixture
def small(db_path):
    build_small(db_path)
    return db_path


def test_a_rate_at_a_confidence_needs_the_evidence_the_threshold_asks_for(small):
    # (T0, T0+5m]: gpt-b answers once and refuses (1 of 1); gpt-a answers twice (A, C), no refusal.
    # 1 of 1 at 99%: lower bound 1 / (1 + 2.326^2) = 0.156: beyond 0.1, not beyond 0.2.
    def firing(threshold, **kw):
        doc = _doc({"signal": REFUSAL, "aggregation": "rate", "comparator": ">", "threshold": threshold, **kw},
                   group_by=["model"])
        return {e["group"]["model"]: (e["conditions"][0]["value"], e["firing"])
                for e in evaluate(small, parse_rule(doc), T0 + 5 * M)}

    assert firing(0.2) == {"gpt-a": (0.0, False), "gpt-b": (1.0, True)}
    assert firing(0.1, confidence=0.99) == {"gpt-a": (0.0, False), "gpt-b": (1.0, True)}
    assert firing(0.2, confidence=0.99) == {"gpt-a": (0.0, False), "gpt-b": (1.0, False)}
    # below a threshold at a confidence uses the upper bound: gpt-a's 0 of 2 is < 0.8 (bound 0.73), not < 0.7
    below = _doc({"signal": REFUSAL, "aggregation": "rate", "comparator": "<", "threshold": 0.8, "confidence": 0.99},
                 group_by=["model"])
    assert [e["firing"] for e in evaluate(small, parse_rule(below), T0 + 5 * M)] == [True, False]
    below["condition"]["threshold"] = 0.7
    assert [e["firing"] for e in evaluate(small, parse_rule(below), T0 + 5 * M)] == [False, False]


def test_confidence_is_validated_and_round_trips():
    doc = _doc({"signal": REFUSAL, "aggregation": "rate", "comparator": ">", "threshold": 0.05, "confidence": 0.99})
    rule = parse_rule(doc)
    assert rule.leaves()[0].confidence == 0.99
    assert rule_to_dict(rule)["condition"] == doc["condition"]
    for bad, message in (
        ({"aggregation": "mean"}, "applies to the 'rate' aggregation only"),
        ({"confidence": 1.0}, "must be a number in [0.5, 1)"),
        ({"confidence": True}, "must be a number in [0.5, 1)"),
        ({"comparator": "=="}, "needs a comparator <, <=, > or >="),
    ):
        with pytest.raises(AlertValidationError) as err:
            parse_rule(_doc({**doc["condition"], **bad}))
        assert err.value.errors[0][0] == "$.condition.confidence" and message in err.value.errors[0][1]
    # a per-trace share takes it too, a per-trace count does not
    share = {"traces": {"signal": REFUSAL, "aggregation": "rate", "comparator": ">", "threshold": 0},
             "aggregation": "rate", "comparator": ">", "threshold": 0.1, "confidence": 0.9}
    assert parse_rule(_doc(share)).leaves()[0].confidence == 0.9
    with pytest.raises(AlertValidationError, match="rate' aggregation only"):
        parse_rule(_doc({**share, "aggregation": "count"}))


def _tool_traces(path, calls_by_minute: dict[int, int], route: str = "billing") -> None:
    """One trace per minute given: an AGENT root at T0 + minute and `calls` TOOL spans under it."""
    db = connect(path)
    spans = []
    for minute, calls in calls_by_minute.items():
        tid = f"{minute:032x}"
        start = T0 + minute * M
        root = Span(trace_id=tid, span_id=f"{minute:04x}000000000000", name="agent", kind="AGENT", start_ns=start,
                    end_ns=start + NS, duration_ms=1000.0, route=route, service="svc")
        spans.append(root)
        for i in range(calls):
            spans.append(Span(trace_id=tid, span_id=f"{minute:04x}0000000001{i:02x}", parent_span_id=root.span_id,
                              name="lookup", kind="TOOL", start_ns=start + (i + 1) * 1_000_000,
                              end_ns=start + (i + 2) * 1_000_000, duration_ms=1.0, route=route, service="svc",
                              tool_name="lookup"))
    write_batch(db, spans, [])


def test_a_per_trace_condition_relative_to_the_groups_usual_trace(db_path):
    # minutes 1-12: 3 tool calls each; minute 13: 4; minute 14: 6. Baseline = median of the traces before
    # the trace's last 75 s boundary (1 h / 48) when it holds >= 10 of them; threshold = 1.5 x median = 4.5.
    # Minute 14 (840 s): boundary 825 s, 13 traces before, median 3: 6 > 4.5 matches. Minute 13 (780 s):
    # boundary 750 s, 12 traces, 4 < 4.5. Minute 10 (600 s): boundary 525 s, only 8 earlier traces: not judged.
    _tool_traces(db_path, {**{m: 3 for m in range(1, 13)}, 13: 4, 14: 6})
    doc = _doc({"traces": {"signal": TOOL_CALLS, "aggregation": "mean", "comparator": ">",
                           "relative_to": {"window": "1h", "factor": 1.5}},
                "aggregation": "count", "comparator": ">=", "threshold": 1, "min_samples": 1},
               group_by=["route"], resolve_after="10m", no_data="keep")
    rule = parse_rule(doc)
    assert rule.leaves()[0].label() == ("traces where tool_calls_per_trace mean > baseline(1h before) x1.5 "
                                        "count >= 1")
    assert rule_to_dict(rule)["condition"] == doc["condition"]
    result = backtest(db_path, rule, times=T0 + 5 * M * np.arange(1, 6))
    [group] = result.groups
    c = group.conditions[0]
    # (0, 5m] and (5m, 10m]: no trace has a baseline yet; (10m, 15m]: minutes 11-14 judged, minute 14 matches
    assert c.counts.tolist() == [0, 0, 4, 0, 0]
    assert [None if np.isnan(v) else v for v in c.values] == [None, None, 1.0, None, None]
    [page] = pages(rule, result)
    assert (page.fired_ns - T0) // M == 15 and page.resolved_ns is None  # no data after: kept firing


def test_per_trace_relative_is_validated():
    inner = {"signal": TOOL_CALLS, "aggregation": "mean", "comparator": ">"}
    for relative, where, message in (
        ({"factor": 1.5}, "$.condition.traces.relative_to.window", "is required inside a per-trace condition"),
        ({"window": "1d", "cohort": {"route": "billing"}, "factor": 1.5}, "$.condition.traces.relative_to.cohort",
         "compared with its own group's earlier traces"),
    ):
        doc = _doc({"traces": {**inner, "relative_to": relative}, "aggregation": "count", "comparator": ">=",
                    "threshold": 1})
        with pytest.raises(AlertValidationError) as err:
            parse_rule(doc)
        assert any(p == where and message in m for p, m in err.value.errors), err.value.errors


def test_the_suggester_tries_a_sparse_rate_at_a_confidence():
    # A rate whose incident windows mostly hold no event has no window threshold that separates it; at a
    # confidence each window counts by its evidence. Windows: 1 of 1, 1 of 5, 0 of 3 (bounds at 99%: 0.156,
    # 0.028, 0; at 99.9%: 0.095, 0.016, 0). Baseline rate 0, incident 0.4: thresholds 0.1 and 0.2.
    from types import SimpleNamespace

    from tracedesk.alerts.suggest import Mover, _confident_options

    mover = Mover({"type": "error_rate", "span_kind": "TOOL"}, "rate", "up", 0.0, 0.4, 0.9)
    series = SimpleNamespace(values=np.array([1.0, 0.2, 0.0]), counts=np.array([1, 5, 3]))
    other = SimpleNamespace(values=np.array([1.0, np.nan, 0.0]), counts=np.array([1, 0, 2]))
    options = _confident_options(mover, series, None, [other], np.ones(3, bool), np.zeros(2, bool))
    got = [(o[0].label(), o[0].resolve_threshold, o[1].tolist(), o[2].tolist()) for o in options]
    assert got == [
        ("error_rate(TOOL) rate > 0.1 at 99% confidence", 0.0, [True, False, False],
         [True, False, False, False, False]),
        ("error_rate(TOOL) rate > 0.2 at 99% confidence", 0.0, [False, False, False], [False] * 5),
        ("error_rate(TOOL) rate > 0.1 at 99.9% confidence", 0.0, [False, False, False], [False] * 5),
        ("error_rate(TOOL) rate > 0.2 at 99.9% confidence", 0.0, [False, False, False], [False] * 5),
    ]
