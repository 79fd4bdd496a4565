"""A change on a cohort whose traffic, in its window, mostly is another finding's cohort is that incident seen through
another signal (analysis.changes._merge_contained): the fourth week's route=order_status, answered only by Anthropic,
slowed down while Anthropic answered 429s (W4-01) and ranked as an incident of its own above W4-06. Containment is
measured on the traces, so a route that only partly calls the provider, a change that started first, all traffic as
the host, and cohorts the traces do not carry are all left apart."""
from __future__ import annotations

import numpy as np
import pandas as pd

from tracedesk.analysis.changes import Finding, _merge_contained

BASE_NS = 1_800_000_000 * 10**9
MIN = 60 * 10**9
HOUR = 60 * MIN


def _finding(cohort: dict[str, str], start_min: int, end_min: int, signal: str, impact: float) -> Finding:
    f = Finding([signal], cohort, BASE_NS + start_min * MIN, BASE_NS + end_min * MIN, 1.0, 2.0, 1.0, 1.0, 2.0, 9.0,
                1e-9, 1e-9, 100, 50, 0.1, impact, details=[{"signal": signal, "direction": "up"}])
    f.window_start_ns, f.window_end_ns = BASE_NS - 72 * HOUR, BASE_NS + 96 * HOUR  # a week: 15-minute buckets
    return f


def _traffic(order_status_providers: list[str]) -> pd.DataFrame:
    """One trace a minute for two hours on each of three routes: billing on openai, search on anthropic, and
    order_status cycling through the given providers."""
    rows = []
    for minute in range(120):
        t = BASE_NS + minute * MIN
        rows.append({"t": t, "v": 1.0, "route": "billing", "provider": "openai"})
        rows.append({"t": t, "v": 1.0, "route": "search", "provider": "anthropic"})
        rows.append({"t": t, "v": 1.0, "route": "order_status",
                     "provider": order_status_providers[minute % len(order_status_providers)]})
    return pd.DataFrame(rows)


def _cohorts(findings: list[Finding]) -> list[dict[str, str]]:
    return [f.cohort for f in findings]


def test_a_route_answered_only_by_the_failing_provider_is_its_alias() -> None:
    provider = _finding({"provider": "anthropic"}, 0, 60, "error_rate", 0.05)
    route = _finding({"route": "order_status"}, 20, 61, "trace_latency", 0.03)
    merged = _merge_contained([route, provider], _traffic(["anthropic"]))
    assert _cohorts(merged) == [{"provider": "anthropic"}]
    assert merged[0].aliases == [{"route": "order_status"}]
    assert merged[0].signals == ["error_rate", "trace_latency"] and merged[0].impact == 0.05


def test_a_route_mostly_on_another_provider_stays_an_incident_of_its_own() -> None:
    provider = _finding({"provider": "anthropic"}, 0, 60, "error_rate", 0.05)
    route = _finding({"route": "order_status"}, 20, 61, "trace_latency", 0.03)
    # half of order_status's traces call anthropic: under NESTED_OVERLAP (0.6) of them
    merged = _merge_contained([route, provider], _traffic(["anthropic", "openai"]))
    assert _cohorts(merged) == [{"provider": "anthropic"}, {"route": "order_status"}]
    # two in three do
    merged = _merge_contained([_finding({"provider": "anthropic"}, 0, 60, "error_rate", 0.05),
                               _finding({"route": "order_status"}, 20, 61, "trace_latency", 0.03)],
                              _traffic(["anthropic", "anthropic", "openai"]))
    assert _cohorts(merged) == [{"provider": "anthropic"}]


def test_a_change_that_started_first_or_outside_the_window_is_not_folded() -> None:
    traffic = _traffic(["anthropic"])
    # the route moved 40 minutes before the provider's errors (more than a 15-minute bucket): its own incident
    early = _merge_contained([_finding({"provider": "anthropic"}, 40, 100, "error_rate", 0.05),
                              _finding({"route": "order_status"}, 0, 70, "trace_latency", 0.03)], traffic)
    assert _cohorts(early) == [{"provider": "anthropic"}, {"route": "order_status"}]
    # most of the route's window lies after the provider's: overlap share 10/50 < NESTED_OVERLAP
    later = _merge_contained([_finding({"provider": "anthropic"}, 0, 60, "error_rate", 0.05),
                              _finding({"route": "order_status"}, 50, 100, "trace_latency", 0.03)], traffic)
    assert _cohorts(later) == [{"provider": "anthropic"}, {"route": "order_status"}]


def test_the_larger_impact_hosts_and_all_traffic_never_does() -> None:
    traffic = _traffic(["anthropic"])
    # the route has the larger impact: the provider's traffic is not mostly the route's, so neither folds
    both = _merge_contained([_finding({"provider": "anthropic"}, 0, 60, "error_rate", 0.02),
                             _finding({"route": "order_status"}, 0, 60, "trace_latency", 0.03)], traffic)
    assert _cohorts(both) == [{"route": "order_status"}, {"provider": "anthropic"}]
    everyone = _merge_contained([_finding({}, 0, 100, "answer_correctness", 0.05),
                                 _finding({"route": "order_status"}, 20, 60, "cost_per_trace", 0.03)], traffic)
    assert _cohorts(everyone) == [{}, {"route": "order_status"}]


def test_cohorts_the_traces_do_not_carry_and_no_traffic_are_left_alone() -> None:
    tool = _finding({"tool_name": "lookup"}, 20, 60, "tool_latency", 0.03)
    provider = _finding({"provider": "anthropic"}, 0, 60, "error_rate", 0.05)
    assert _cohorts(_merge_contained([tool, provider], _traffic(["anthropic"]))) == [
        {"provider": "anthropic"}, {"tool_name": "lookup"}]
    route = _finding({"route": "order_status"}, 20, 61, "trace_latency", 0.03)
    assert _cohorts(_merge_contained([route, provider], None)) == [{"route": "order_status"},
                                                                  {"provider": "anthropic"}]
    empty = _traffic(["anthropic"]).assign(t=np.int64(BASE_NS + 200 * HOUR))  # no trace in the route's window
    assert _cohorts(_merge_contained([route, provider], empty)) == [{"provider": "anthropic"},
                                                                   {"route": "order_status"}]
