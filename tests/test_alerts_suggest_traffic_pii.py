"""The suggester's traffic-drop (trace_count against the cohort's last hour) and PII (pii_rate) candidates, on
small synthetic data: two tenants send one trace every minute (at :30) for 12 hours; tenant "a" goes silent
or leaks an email address in its answers from hour 6 to hour 7."""
from __future__ import annotations

import numpy as np
import pytest

from tracedesk.alerts import dumps_rule, parse_rule, rule_to_dict
from tracedesk.alerts.evaluate import backtest
from tracedesk.alerts.suggest import _traffic_ratio, candidate_signals, suggest_rule
from tracedesk.models import Span
from tracedesk.store import connect, write_batch

NS = 1_000_000_000
M = 60 * NS
H = 60 * M
T0 = 1_800_000_000 * NS - (1_800_000_000 * NS) % H  # on the hour


def _build(path: str, *, silent: bool = False, leak: bool = False, leak_at: tuple[int, ...] = (),
           a_every: int = 1, hours: int = 12) -> str:
    spans = []
    n = 0
    for tenant in ("a", "b"):
        for minute in range(hours * 60):
            start = T0 + minute * M + 30 * NS
            inside = tenant == "a" and 6 * 60 <= minute < 7 * 60
            if tenant == "a" and minute % a_every:
                continue
            if silent and inside:
                continue
            n += 1
            leaks = (leak and inside) or (tenant == "a" and minute in leak_at)
            answer = "Write to bob.jones@example.com for the refund." if leaks else "Your refund is on its way."
            spans.append(Span(span_id=f"{n:016x}", trace_id=f"{n:032x}", name="agent", kind="AGENT", start_ns=start,
                              end_ns=start + 500 * 1_000_000, duration_ms=500.0, service="svc", route="refunds",
                              tenant=tenant, output_text=answer))
    write_batch(connect(path), spans, [])
    return path


def test_traffic_ratio_is_the_window_count_over_the_last_hour_scaled():
    t = T0 + np.arange(180, dtype=np.int64) * M + 30 * NS  # one a minute for 3 hours
    times = np.array([T0 + 90 * M, T0 + 200 * M, T0 + 30 * M], dtype=np.int64)
    ratio, expected = _traffic_ratio(t, times, 15 * M)
    # 90 min: 15 traces in (75, 90], 60 in (15, 75] -> 15 expected; 200 min: none in the window (the last trace is at 179.5), 55 in (125, 185]
    # -> 13.75 expected; 30 min: the hour before holds the 15 traces of (0, 15]
    assert expected.tolist() == [15.0, 13.75, 3.75]
    assert ratio.tolist() == [1.0, 0.0, 4.0]


def test_both_are_candidates(tmp_path):
    db = connect(_build(str(tmp_path / "w.db")))
    names = [s["type"] for s, _agg in candidate_signals(db)]
    assert {"pii_rate", "trace_count"} <= set(names)
    assert dict((s["type"], agg) for s, agg in candidate_signals(db))["trace_count"] == "count"


def test_a_tenant_that_goes_silent_gets_a_traffic_drop_rule(tmp_path):
    db = _build(str(tmp_path / "silent.db"), silent=True)
    s = suggest_rule(db, T0 + 6 * H, T0 + 7 * H, {"tenant": "a"})
    top = s.movers[0]
    assert (top.signal, top.direction, top.baseline, top.incident, top.effect) == ({"type": "trace_count"}, "down",
                                                                                  1.0, 0.0, 1.0)
    [leaf] = s.rule.leaves()
    assert leaf.signal == {"type": "trace_count"} and leaf.comparator == "<"
    assert leaf.relative_to is not None and leaf.relative_to.window == "1h" and leaf.relative_to.offset == s.rule.window
    assert s.rule.scope == {"tenant": ("a",)}
    # regular traffic never dips elsewhere: one page, on time, nothing else (tenant b included)
    assert (s.caught, s.false_pages, s.pages_in_incident, s.reference_false_pages) == (True, 0, 1, 0)
    assert s.delay_min == pytest.approx(float(s.rule.window_s // 60))  # the first window holding no trace
    # a valid rule document that backtests the same way
    again = parse_rule(rule_to_dict(s.rule))
    assert dumps_rule(again) == dumps_rule(s.rule)
    assert [e.start_ns for e in backtest(db, again).episodes] == [e.start_ns for e in s.backtest.episodes]
    assert len(s.backtest.episodes) == 1


def test_a_tenant_leaking_pii_gets_a_pii_rule(tmp_path):
    db = _build(str(tmp_path / "leak.db"), leak=True)
    s = suggest_rule(db, T0 + 6 * H, T0 + 7 * H, {"tenant": "a"})
    top = s.movers[0]
    assert (top.signal, top.direction, top.baseline, top.incident, top.effect) == ({"type": "pii_rate"}, "up",
                                                                                  0.0, 1.0, 1.0)
    assert [c.signal["type"] for c in s.rule.leaves()] == ["pii_rate"]
    assert (s.caught, s.false_pages, s.pages_in_incident, s.reference_false_pages) == (True, 0, 1, 0)
    assert s.delay_min is not None and s.delay_min <= 10
    assert s.rule.resolve_after == "1h"  # a leak in every trace: the usual resolve
    # traffic did not move: no traffic mover
    assert "trace_count" not in [m.signal["type"] for m in s.movers]


def test_a_sparse_leak_resolves_only_after_its_longest_gap(tmp_path):
    """A quiet tenant (one trace every 30 minutes, for 16 hours) leaks in 5 of its 10 answers inside the marked 6h-11h: at
    6:00:30, 6:30:30, then 9:00:30, 9:30:30 and 10:30:30 (the longest gap 150 minutes). Resolved after 1 h
    clear, the rule pages twice (6:05 and 9:05); the suggester resolves after the longest gap rounded up to
    whole hours (3h): one page, from the 6:05 evaluation until 3 h after the last leak left the window."""
    from tracedesk.alerts.states import pages

    db = _build(str(tmp_path / "sparse.db"), leak_at=(360, 390, 540, 570, 630), a_every=30, hours=16)
    s = suggest_rule(db, T0 + 6 * H, T0 + 11 * H, {"tenant": "a"})
    assert [c.signal["type"] for c in s.rule.leaves()] == ["pii_rate"]
    assert s.rule.resolve_after == "3h" and s.rule.scope == {"tenant": ("a",)}
    assert (s.caught, s.false_pages, s.pages_in_incident, s.delay_min) == (True, 0, 1, 5.0)
    w = s.rule.window_s * NS
    step = 5 * M
    clear = -(-(T0 + 10 * H + 30 * M + 30 * NS + w) // step) * step  # the first window without 10:30:30
    found = pages(s.rule, backtest(db, s.rule))
    assert [(p.fired_ns - T0, p.resolved_ns) for p in found] == [(6 * H + 5 * M, clear + 3 * H)]
    # the same rule resolving after 1 h pages twice
    quick = parse_rule({**rule_to_dict(s.rule), "resolve_after": "1h"})
    assert [p.fired_ns - T0 for p in pages(quick, backtest(db, quick))] == [6 * H + 5 * M, 9 * H + 5 * M]
