"""Calls per trace are two-sided in the changes feed (issue 15, W3-05): a fall (a skipped tool, an agent that
stops early) is a failure as much as a rise (a retry loop). Exact values on small synthetic traffic."""
from __future__ import annotations

import pandas as pd
import pytest

from changes_synth import BASE_NS, HOUR, build
from tracedesk.analysis.changes import detect, feed_signals, find_changes
from tracedesk.store import connect

MIN = 60 * 10**9
A, B = ("A", "acme", "m1"), ("B", "acme", "m1")


def _calls(normal: tuple[int, int], changed: dict[range, tuple[int, int]]):
    """Route A's tool calls: alternately normal[0], normal[1] (k even / odd), or changed[...] in those hours;
    route B always 2 or 4 (mean 3)."""
    def tools(seg, h, k):
        pair = next((c for hours, c in changed.items() if h in hours), normal) if seg == A else (2, 4)
        return pair[k % 2]
    return tools


def _offset(seg) -> int:
    return (hash(seg) % 997) * 1_000_000  # changes_synth's per-segment start offset (hash: per process)


def test_signal_directions():
    by_name = {s.name: s for s in feed_signals([])}
    assert by_name["tool_calls_per_trace"].signs == (1.0, -1.0)
    assert by_name["llm_calls_per_trace"].signs == (1.0, -1.0)
    assert by_name["cost_per_trace"].signs == (1.0,)
    assert {s.name for s in feed_signals([]) if s.bad == "either"} == {"tool_calls_per_trace", "llm_calls_per_trace",
                                                                           "output_length"}


@pytest.mark.parametrize("stored", [False, True])
def test_a_fall_in_tool_calls_is_a_finding_going_down(db_path, stored):
    # 48 h, 20 traces/h per route; route A makes 3 tool calls per trace, 2 in hours 24-29 (a skipped step)
    build(db_path, 48, {A: lambda h: 20, B: lambda h: 20}, lambda seg, h, k: 0.01,
          tools=_calls((3, 3), {range(24, 30): (2, 2)}))
    findings = find_changes(connect(db_path), stored=stored)
    assert [(f.signals, f.cohort, f.direction) for f in findings] == [(["tool_calls_per_trace"], {"route": "A"}, "down")]
    f = findings[0]
    assert (f.baseline, f.current, f.effect) == (3.0, 2.0, -1.0)
    assert (f.n_baseline, f.n_current) == (48 * 20 - 6 * 20, 6 * 20)
    # the window is [24:00, 30:00) on the 5-minute grid; A's traces start every 3 minutes (+ its offset): the
    # start is the first trace that falls (24:00 + offset: the first evidence), the end midway between the last
    # fall (29:57) and the next trace (30:00)
    assert f.start_ns == BASE_NS + 24 * HOUR + _offset(A)
    assert f.end_ns == BASE_NS + 29 * HOUR + 57 * MIN + 90 * 10**9 + _offset(A)
    assert f.details[0]["direction"] == "down" and f.to_dict()["direction"] == "down"
    assert f.title() == "tool_calls_per_trace ↓ on route=A since 2025-11-25T00:00:00Z"


def test_a_rise_and_a_later_fall_of_one_signal_are_two_findings(db_path):
    # 3 calls per trace; a retry loop in hours 8-13 (5 calls), a skipped step in hours 30-35 (2): two incidents
    build(db_path, 48, {A: lambda h: 20, B: lambda h: 20}, lambda seg, h, k: 0.01,
          tools=_calls((3, 3), {range(8, 14): (5, 5), range(30, 36): (2, 2)}))
    findings = find_changes(connect(db_path), stored=False)
    got = sorted((f.start_ns, f.direction, f.current, f.baseline, f.n_baseline) for f in findings)
    # each starts at A's first changed trace (the hour + A's offset); shown baselines are A outside each window
    # (the other change included): (36*20*3 + 120*2) / 840 and (36*20*3 + 120*5) / 840; the fall's test leaves
    # out the rise found before it (n 720, not 840)
    assert got == [(BASE_NS + 8 * HOUR + _offset(A), "up", 5.0, pytest.approx((36 * 20 * 3 + 120 * 2) / 840, abs=1e-12),
                    840),
                   (BASE_NS + 30 * HOUR + _offset(A), "down", 2.0, pytest.approx((36 * 20 * 3 + 120 * 5) / 840, abs=1e-12), 720)]
    assert all(f.cohort == {"route": "A"} and f.signals == ["tool_calls_per_trace"] for f in findings)


def test_a_one_sided_signal_does_not_report_its_good_direction(db_path):
    # cost per trace halves on route A for 6 hours: cheaper is not an incident
    build(db_path, 48, {A: lambda h: 20, B: lambda h: 20},
          lambda seg, h, k: (0.005 if seg == A and 24 <= h < 30 else 0.01) * (1 + k % 2))
    assert find_changes(connect(db_path), stored=False) == []


def _frame(rows: list[tuple[int, float, str, str]]) -> pd.DataFrame:
    return pd.DataFrame({"t": [r[0] for r in rows], "v": [r[1] for r in rows],
                         "route": pd.Series([r[2] for r in rows], dtype=object),
                         "prompt_version": pd.Series([r[3] for r in rows], dtype=object)})


def test_a_new_value_that_is_all_of_the_cohorts_traffic_in_the_window_is_an_alias():
    """W3-05's shape: a prompt version rolled out to one route at 100% for 6 hours, too few traces for the
    (route, version) pair to be a series (8/h x 6 h = 48 < MIN_PAIR_N): the route's finding names it as an alias."""
    rows = []
    for h in range(48):
        for k in range(8):
            new = 24 <= h < 30
            rows.append((BASE_NS + h * HOUR + k * HOUR // 8, 2.0 if new else 3.0, "A", "p2" if new else "p1"))
        for k in range(20):  # route B makes 2 calls: p2 (2 calls) is no fall against all traffic (mean 2.29)
            rows.append((BASE_NS + h * HOUR + k * HOUR // 20 + 1, 2.0, "B", "q1"))
    sig = [s for s in feed_signals([]) if s.name == "tool_calls_per_trace"]
    findings = detect({"tool_calls_per_trace": _frame(rows)}, sig, ["route", "prompt_version"], BASE_NS,
                      BASE_NS + 48 * HOUR)
    assert [(f.cohort, f.direction, f.current, f.baseline, f.aliases) for f in findings] == [
        ({"route": "A"}, "down", 2.0, 3.0, [{"prompt_version": "p2", "route": "A"}])]
    # the same fall with the route's old version still serving part of the window: not the same traffic
    mixed = [(t, v, r, "p1" if (r == "A" and (t - BASE_NS) // HOUR == 24) else p) for t, v, r, p in rows]
    findings = detect({"tool_calls_per_trace": _frame(mixed)}, sig, ["route", "prompt_version"], BASE_NS,
                      BASE_NS + 48 * HOUR)
    assert [(f.cohort, f.direction, f.aliases) for f in findings] == [({"route": "A"}, "down", [])]
