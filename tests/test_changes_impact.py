"""The changes feed's rank (issue 15): impact = min(d, D_CAP)^2 x share, a loss per touched trace quadratic in the
size of the change (changes.change_impact), so a short outage outranks a long mild drift that touched more
traffic. Exact values on small synthetic frames."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from changes_synth import BASE_NS, HOUR, route_frame
from tracedesk.analysis.changes import D_CAP, change_impact, detect, feed_signals

MIN = 60 * 10**9


def test_the_loss_per_touched_trace_is_the_square_of_the_change_at_its_lower_bound():
    # 18 samples inside and 18 outside: 3 standard errors are 3 x sqrt(2/18) = 1 sd
    assert change_impact(3.0, 18, 18, 0.25) == pytest.approx(2.0 ** 2 * 0.25)
    assert change_impact(2.0, 18, 18, 0.5) == pytest.approx(1.0 * 0.5)
    # capped at D_CAP (a 4-sd and a 40-sd shift are both broken), never below 0
    assert change_impact(40.0, 18, 18, 0.1) == pytest.approx(D_CAP ** 2 * 0.1)
    assert change_impact(0.9, 18, 18, 0.5) == 0.0


def _frame() -> pd.DataFrame:
    """72 h, routes A and B each a sample every 3 minutes, alternately 1 and 3 (mean 2, sd 1). Route A: an outage of
    one hour (40:00-41:00), every sample at 8 or 10 (+7 sd: 20 samples). Route B: a mild shift for 8 hours
    (20:00-28:00), every sample 1.2 higher (160 samples)."""
    rows = []
    for h in range(72):
        for k in range(20):
            base = 1.0 + 2 * (k % 2)
            t = BASE_NS + h * HOUR + k * 3 * MIN
            rows.append((t, base + (7.0 if 40 <= h < 41 else 0.0), "A"))
            rows.append((t + MIN, base + (1.2 if 20 <= h < 28 else 0.0), "B"))
    rows.sort()
    return route_frame(rows)


def test_a_short_severe_outage_outranks_a_long_mild_shift_that_touched_more_traces():
    sig = [s for s in feed_signals([]) if s.name == "cost_per_trace"]
    findings = detect({"cost_per_trace": _frame()}, sig, ["route"], BASE_NS, BASE_NS + 72 * HOUR)
    assert [(f.cohort, f.n_current, f.start_ns) for f in findings] == [
        ({"route": "A"}, 20, BASE_NS + 40 * HOUR), ({"route": "B"}, 160, BASE_NS + 20 * HOUR + MIN)]
    outage, shift = findings
    # shares of the signal's samples (no traffic frame here): 20 and 160 of 2 x 72 x 20
    assert (outage.share, shift.share) == (20 / 2880, 160 / 2880)
    for f in findings:
        d_low = f.d - 3 * math.sqrt(1 / f.n_current + 1 / f.n_baseline)
        assert f.impact == pytest.approx(min(max(d_low, 0.0), D_CAP) ** 2 * f.share, rel=1e-12)
    # the outage is capped: 9 x 20/2880 = 0.0625. The shift is 1.2 over B's pooled sd, sqrt(1 + 1/9 x 8/9 x 1.2^2)
    # = 1.0688: d 1.1228, 0.8713 at its lower bound, so 0.7591 x 160/2880 = 0.0422. As d x share (before
    # session 8) the shift ranked first: 0.8713 x 160/2880 = 0.0484 against 3 x 20/2880 = 0.0208
    assert outage.impact == pytest.approx(D_CAP ** 2 * 20 / 2880, rel=1e-12)
    assert shift.d == pytest.approx(1.2 / math.sqrt(1 + 1 / 9 * 8 / 9 * 1.2 ** 2), rel=1e-9)
    assert shift.impact == pytest.approx((shift.d - 3 * math.sqrt(1 / 160 + 1 / 1280)) ** 2 * 160 / 2880, rel=1e-9)


def test_a_rate_change_touches_its_excess_bad_events_each_a_broken_trace():
    from tracedesk.analysis.changes import excess_share, rate_impact

    # 400 samples of the cohort in the window (150 traces) of a range of 10,000 traces, the rate 0.0005 -> 0.0595:
    # 24 excess bad events, 24 traces touched; at most every trace of the cohort in the window; none when it fell
    assert excess_share(0.059, 400, 150, 10_000) == pytest.approx(23.6 / 10_000)
    assert excess_share(0.5, 400, 150, 10_000) == pytest.approx(150 / 10_000)
    assert excess_share(-0.2, 400, 150, 10_000) == 0.0
    assert rate_impact(0.0059) == pytest.approx(D_CAP ** 2 * 0.0059)


def _rate_frame() -> pd.DataFrame:
    """72 h, routes A and B each a sample every 3 minutes; a sample is 1 (an error) one time in 20. Route A: 30:00-34:00,
    every other sample an error (80 samples, 40 errors)."""
    rows = []
    for h in range(72):
        for k in range(20):
            t = BASE_NS + h * HOUR + k * 3 * MIN
            rows.append((t, 1.0 if (k % 2 == 0 if 30 <= h < 34 else k == 7) else 0.0, "A"))
            rows.append((t + MIN, 1.0 if k == 11 else 0.0, "B"))
    rows.sort()
    return route_frame(rows)


def test_a_rate_finding_counts_the_traffic_its_excess_errors_touched():
    sig = [s for s in feed_signals([]) if s.name == "error_rate"]
    findings = detect({"error_rate": _rate_frame()}, sig, ["route"], BASE_NS, BASE_NS + 72 * HOUR)
    assert [(f.cohort, f.n_current, f.current, f.baseline) for f in findings] == [
        ({"route": "A"}, 79, 40 / 79, 68 / 1361)]  # (the window's last sample, an ordinary 0, is left out)
    f = findings[0]
    # 79 of the 2880 samples, one per trace (no traffic frame), each with 40/79 - 68/1361 excess errors
    assert f.share == pytest.approx(79 / 2880 * (40 / 79 - 68 / 1361), rel=1e-12)
    assert f.impact == pytest.approx(D_CAP ** 2 * f.share, rel=1e-12)
