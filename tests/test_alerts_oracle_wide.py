"""The data's floor under the wider rule kinds (alerts.oracle_wide), on small synthetic data: per minute (at :30)
for 24 hours (48 for the tests across two signals: their outside spikes then have a full history), one trace per route with an AGENT span and a RETRIEVER span, 500 ms each except where a test
puts something else. Every value is a whole number, so window means are exact and ties are ties."""
from __future__ import annotations

from typing import Callable

from tracedesk.alerts import parse_rule
from tracedesk.alerts.evaluate import backtest
from tracedesk.alerts.oracle_wide import wide_floor
from tracedesk.alerts.states import pages
from tracedesk.models import Span
from tracedesk.store import connect, write_batch

NS = 1_000_000_000
M = 60 * NS
H = 60 * M
T0 = 1_800_000_000 * NS - (1_800_000_000 * NS) % (24 * H)  # midnight
AGENT = {"type": "duration", "span_kind": "AGENT"}
RETR = {"type": "duration", "span_kind": "RETRIEVER"}
START, END = T0 + 14 * H, T0 + 15 * H

Shape = Callable[[int], float]


def _flat(_minute: int) -> float:
    return 500.0


def _db(tmp_path, routes: dict[str, tuple[Shape, Shape]], days: int = 1):
    """routes: route -> (AGENT ms, RETRIEVER ms) as functions of the minute since T0."""
    spans = []
    n = 0
    for route, (agent, retriever) in routes.items():
        for minute in range(days * 24 * 60):
            n += 1
            start = T0 + minute * M + 30 * NS
            tid = f"{n:032x}"
            for i, (kind, ms) in enumerate((("AGENT", agent(minute)), ("RETRIEVER", retriever(minute)))):
                spans.append(Span(span_id=f"{n:012x}{i:04x}", trace_id=tid, name=kind.lower(), kind=kind,
                                  parent_span_id=None if i == 0 else f"{n:012x}0000", start_ns=start,
                                  end_ns=start + int(ms * 1e6), duration_ms=float(ms), service="svc", route=route))
    path = str(tmp_path / "w.db")
    write_batch(connect(path), spans, [])
    return connect(path)


def _incident(m: int) -> bool:
    return 14 * 60 <= m < 15 * 60


#: The incident of the two-day tests: 14:00-15:00 on the second day; the minute of the second day.
START2, END2 = START + 24 * H, END + 24 * H


def _day2(m: int) -> int:
    return m - 24 * 60 if m >= 24 * 60 else -10_000


def test_the_rest_of_the_traffic_separates_what_no_threshold_on_the_cohort_does(tmp_path):
    """06:00-08:00 both routes go to 800 ms together (load on everything: outside, and longer than the incident),
    14:00-15:00 route a alone does. On a's own history every incident evaluation equals (or is below) the
    shared spike's at the same offset, so no threshold, nor an AND of two, separates; a's 5-minute mean minus
    b's at the same time (relative_to.cohort {"route": ["b"]}) reads 0 all week outside and 300 at 14:05."""
    def a(m: int) -> float:
        return 800.0 if _incident(m) or 6 * 60 <= m < 8 * 60 else 500.0

    def b(m: int) -> float:
        return 800.0 if 6 * 60 <= m < 8 * 60 else 500.0

    db = _db(tmp_path, {"a": (a, _flat), "b": (b, _flat)})
    w = wide_floor(db, [(AGENT, "mean", "up")], {"route": ("a",)}, START, END, other_cohort={"route": ("b",)})
    assert w.threshold_step is None
    assert (w.wide_step, w.features, w.kinds, w.kind) == (
        1, ("duration(AGENT): mean - other cohort [5m, min 1]",), ("cohort",), "cohort")
    # a mean signal: 7 windows x 3 minimums x (plain, over / minus the previous hour / day); the same windows x
    # 3 shares; x 3 minimums x (minus, over) the other cohort; per trace 3 lines x 4 windows x (count, rate) x 3
    assert w.columns == {"threshold": 105, "cohort": 42, "adaptive": 21, "trace": 72}
    # without the other cohort there is nothing wider than the thresholds: no floor at all
    w = wide_floor(db, [(AGENT, "mean", "up")], {"route": ("a",)}, START, END)
    assert (w.threshold_step, w.wide_step, w.kind, w.columns["cohort"]) == (None, None, "none", 0)


def test_an_and_across_two_signals_separates_what_neither_does_alone(tmp_path):
    """On the second day, AGENT alone at 2000 ms for 02:00-02:30, RETRIEVER alone for 06:00-06:30 (outside); in
    the incident both are high, on alternate traces (AGENT on even minutes, RETRIEVER on odd ones), so no trace
    has both and each signal's own windows stay at or below its outside spike's at the same offset: only the two
    5-minute means together are unmatched."""
    def agent(m: int) -> float:
        d = _day2(m)
        return 2000.0 if (_incident(d) and d % 2 == 0) or 120 <= d < 150 else 500.0

    def retriever(m: int) -> float:
        d = _day2(m)
        return 2000.0 if (_incident(d) and d % 2 == 1) or 360 <= d < 390 else 500.0

    db = _db(tmp_path, {"a": (agent, retriever)}, days=2)
    w = wide_floor(db, [(AGENT, "mean", "up"), (RETR, "mean", "up")], {"route": ("a",)}, START2, END2)
    assert w.threshold_step is None
    # 14:05: AGENT's (14:00, 14:05] spans at 14:00, :02, :04 (1400 ms), RETRIEVER's :01, :03 (1100 ms); at every
    # outside evaluation one of the two is at 500
    assert (w.wide_step, w.features, w.kinds, w.kind) == (
        1, ("duration(AGENT): mean [5m, min 1]", "duration(RETRIEVER): mean [5m, min 1]"), ("joint", "joint"), "joint")


def test_a_per_trace_and_counts_traces_where_both_signals_are_beyond_their_usual_line(tmp_path):
    """The same outside spikes, but in the incident both signals are high on the *same* traces: a trace with
    AGENT and RETRIEVER both above the cohort's 90th percentile before the incident (500 ms: each spike is 30
    of the 2,280 minutes before it) exists only in the incident; it is a single column, the earliest form."""
    def agent(m: int) -> float:
        d = _day2(m)
        return 2000.0 if _incident(d) or 120 <= d < 150 else 500.0

    def retriever(m: int) -> float:
        d = _day2(m)
        return 2000.0 if _incident(d) or 360 <= d < 390 else 500.0

    specs = [(AGENT, "mean", "up"), (RETR, "mean", "up")]
    db = _db(tmp_path, {"a": (agent, retriever), "b": (_flat, _flat)}, days=2)
    w = wide_floor(db, specs, {"route": ("a",)}, START2, END2)
    # a threshold needs the incident to outlast a spike: at 14:35 a window holds 35 high minutes, a spike's 30
    assert w.threshold_step == 7
    assert (w.wide_step, w.kind) == (1, "trace")
    assert w.features == ("traces where duration(AGENT) > q0.9 before (500) AND duration(RETRIEVER) > q0.9 before "
                          "(500): count [5m, min 1]",)
    # grouped with route b (flat): b's evaluations are outside too, and b never has such a trace
    g = wide_floor(db, specs, {"route": ("a",)}, START2, END2, other_groups=[{"route": ("b",)}])
    assert (g.wide_step, g.features) == (1, w.features)
    assert g.outside == 2 * w.outside


def test_steps_count_from_from_ns_and_max_steps_bounds_the_search(tmp_path):
    def a(m: int) -> float:
        return 800.0 if _incident(m) or 6 * 60 <= m < 8 * 60 else 500.0

    def b(m: int) -> float:
        return 800.0 if 6 * 60 <= m < 8 * 60 else 500.0

    db = _db(tmp_path, {"a": (a, _flat), "b": (b, _flat)})
    args = ([(AGENT, "mean", "up")], {"route": ("a",)}, START, END)
    w = wide_floor(db, *args, other_cohort={"route": ("b",)}, from_ns=START + 3 * M)
    assert w.wide_step == 0  # the 14:05 evaluation is the first at or after 14:03
    w = wide_floor(db, *args, other_cohort={"route": ("b",)}, max_steps=0)
    assert (w.wide_step, w.steps, w.describe()) == (None, 1, "none in 1 steps")


def test_peers_compare_every_group_with_the_pooled_others(tmp_path):
    """Grouped, relative_to.cohort names one fixed list for every group; 'peers' (relative_to.peers) gives each
    group the pooled other groups. Three routes: the shared 06:00-08:00 load on all, route a alone in the
    incident: a's 5-minute mean minus b's and c's pooled reads 300 at 14:05; b's and c's (their peers include
    a) read at most 0 outside, and 0 or below during the incident. The rule the floor stands for, written in
    the language and backtested, pages there and nowhere else."""
    def a(m: int) -> float:
        return 800.0 if _incident(m) or 6 * 60 <= m < 8 * 60 else 500.0

    def shared(m: int) -> float:
        return 800.0 if 6 * 60 <= m < 8 * 60 else 500.0

    db = _db(tmp_path, {"a": (a, _flat), "b": (shared, _flat), "c": (shared, _flat)})
    others = [{"route": ("b",)}, {"route": ("c",)}]
    args = ([(AGENT, "mean", "up")], {"route": ("a",)}, START, END)
    w = wide_floor(db, *args, other_groups=others, peers=True)
    assert w.threshold_step is None
    assert (w.wide_step, w.features, w.kind) == (1, ("duration(AGENT): mean - peers [5m, min 1]",),
                                                 "peers")
    assert w.columns["peers"] == 42 and w.columns["cohort"] == 0
    # without peers nothing else the language expresses for every group separates
    assert wide_floor(db, *args, other_groups=others).wide_step is None
    rule = parse_rule({"tracedesk_alert": 1, "name": "peers", "window": "5m", "step": "5m", "group_by": ["route"],
                       "min_samples": 1, "condition": {"signal": AGENT, "aggregation": "mean", "comparator": ">",
                                                       "relative_to": {"peers": "route", "delta": 150}}})
    found = pages(rule, backtest(db, rule))
    assert [(p.group, p.fired_ns) for p in found] == [({"route": "a"}, START + 5 * M)]
