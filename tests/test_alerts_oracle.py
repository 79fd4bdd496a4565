"""The data's floor (alerts.oracle): the earliest step at which a threshold rule with no false page could page,
on small synthetic data: one AGENT span a minute (at :30) for 24 hours, 500 ms except where a test puts an
incident (2000 ms from 14:00 to 15:00), a twin of it, a 10-minute spike in a quiet context or a mild
elevation. Every value is a whole number, so window means are exact and ties are ties."""
from __future__ import annotations

from tracedesk.alerts.oracle import earliest_separation
from tracedesk.models import Span
from tracedesk.store import connect, write_batch

NS = 1_000_000_000
M = 60 * NS
H = 60 * M
T0 = 1_800_000_000 * NS - (1_800_000_000 * NS) % (24 * H)  # midnight
SIG = {"type": "duration", "span_kind": "AGENT"}
START, END = T0 + 14 * H, T0 + 15 * H


def _db(tmp_path, shape):
    spans = []
    for minute in range(24 * 60):
        start = T0 + minute * M + 30 * NS
        ms = float(shape(minute))
        spans.append(Span(span_id=f"{minute + 1:016x}", trace_id=f"{minute + 1:032x}", name="agent", kind="AGENT",
                          start_ns=start, end_ns=start + int(ms * 1e6), duration_ms=ms, service="svc", route="r"))
    path = str(tmp_path / "o.db")
    write_batch(connect(path), spans, [])
    return connect(path)


def _incident(minute: int) -> bool:
    return 14 * 60 <= minute < 15 * 60


def test_an_incident_unlike_anything_else_is_separable_at_its_first_window(tmp_path):
    db = _db(tmp_path, lambda m: 2000 if _incident(m) else 500)
    b = earliest_separation(db, SIG, "mean", "up", {}, START, END)
    # the 14:00 evaluation's window (13:55, 14:00] holds no incident span; 14:05's holds five
    assert (b.single_step, b.single_feature) == (1, "mean [5m, min 1]")
    assert b.pair_step == 1 and b.step == 1
    # outside: the evaluations up to 14:00 (the grid, as a backtest's, runs from 00:05, the first after the
    # first span, to 24:00, the first at or after the last) and from 21:00 (until then a 6-hour window
    # reaches into the incident)
    assert b.outside == 14 * 12 + 3 * 12 + 1


def test_a_twin_outside_leaves_no_threshold_that_separates(tmp_path):
    # the twin (07:00-08:00) has 7 hours of history before it, as the incident has, so even a 6-hour window
    # against the hour before it has a baseline there (at 02:00 it would not: a rule on it could not page)
    db = _db(tmp_path, lambda m: 2000 if _incident(m) or 7 * 60 <= m < 8 * 60 else 500)
    b = earliest_separation(db, SIG, "mean", "up", {}, START, END)
    assert (b.single_step, b.pair_step, b.step) == (None, None, None)
    assert b.describe() == f"none in {b.steps} steps"
    # the twin labelled as another page-worthy incident of the cohort: its pages are not false
    b = earliest_separation(db, SIG, "mean", "up", {}, START, END, also_incidents=[(T0 + 7 * H, T0 + 8 * H)])
    assert (b.single_step, b.single_feature) == (1, "mean [5m, min 1]")


def test_an_and_of_two_windows_separates_before_any_single_threshold(tmp_path):
    """A 10-minute spike to 2000 ms in a quiet hour (300 ms, 02:00-04:00) matches the incident's short windows,
    and a 2-hour elevation to 800 ms (06:00-08:00) tops its long ones: at 14:05 every single threshold is
    matched by one of them, but the 5-minute mean (2000, only the spike reaches it) with the 1-hour mean
    (625 = 55 x 500 + 5 x 2000 over 60; the spike's hour reads at most 583, the elevation's 5 minutes 800)
    is matched by neither. At 14:10 the 15-minute mean (1500) is beyond the spike's (1433) alone."""
    def shape(m: int) -> int:
        if _incident(m) or 120 <= m < 130:
            return 2000
        if 60 <= m < 180:
            return 300
        if 6 * 60 <= m < 8 * 60:
            return 800
        return 500

    db = _db(tmp_path, shape)
    b = earliest_separation(db, SIG, "mean", "up", {}, START, END)
    assert (b.single_step, b.single_feature) == (2, "mean [15m, min 1]")
    assert (b.pair_step, b.pair_features) == (1, ("mean [5m, min 1]", "mean [1h, min 1]"))
    assert b.step == 1


def test_direction_down_and_steps_from_the_first_affected_trace(tmp_path):
    db = _db(tmp_path, lambda m: 100 if _incident(m) else 500)
    b = earliest_separation(db, SIG, "mean", "down", {}, START, END)
    assert (b.single_step, b.single_feature) == (1, "mean [5m, min 1]")
    # counted from 14:03 (the incident's first detectable trace): the first evaluation at or after it is 14:05
    b = earliest_separation(db, SIG, "mean", "down", {}, START, END, from_ns=START + 3 * M)
    assert b.single_step == 0


def test_a_traffic_drop_is_judged_on_counts_with_no_minimum(tmp_path):
    from tracedesk.models import Span as _S  # noqa: F401  (same builder, fewer spans: the gap is the incident)

    spans = []
    for minute in range(24 * 60):
        if _incident(minute):
            continue
        start = T0 + minute * M + 30 * NS
        spans.append(Span(span_id=f"{minute + 1:016x}", trace_id=f"{minute + 1:032x}", name="agent", kind="AGENT",
                          start_ns=start, end_ns=start + 500_000_000, duration_ms=500.0, service="svc", route="r"))
    path = str(tmp_path / "t.db")
    write_batch(connect(path), spans, [])
    b = earliest_separation(connect(path), {"type": "trace_count"}, "count", "down", {}, START, END)
    # 14:05: the 5-minute window is empty, and every window outside held 5 traces (the first ones fewer, but
    # a window ending at 00:05 holds 5 too): an empty 5 minutes is beyond them all
    assert (b.single_step, b.single_feature) == (1, "count [5m]")
