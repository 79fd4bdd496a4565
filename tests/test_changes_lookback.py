"""A step's start read back to the sample (analysis.lookback): the samples just before a change's window that
already belong to the new regime (beyond the baseline's ALPHA tail AND more likely under the window's samples)
move the start back; the first sample consistent with the baseline stops it. Exact values."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from changes_synth import BASE_NS, HOUR, route_frame
from tracedesk.analysis.changes import ALPHA, detect, feed_signals
from tracedesk.analysis.binomial import binomial_upper_tail
from tracedesk.analysis.lookback import in_regime, regime_samples, stretch_in_regime

MIN = 60 * 10**9


def test_a_value_no_baseline_sample_reaches_and_nearer_the_window_belongs_to_it():
    baseline = np.array([2.0] * 40 + [5.0])  # the candidate (5) is one of the baseline's samples
    after = np.array([5.0, 6.0] * 10)
    assert in_regime(5.0, baseline, after, 1.0, binary=False, alpha=ALPHA)  # tail 1/41
    assert not in_regime(2.0, baseline, after, 1.0, binary=False, alpha=ALPHA)  # tail 41/41
    # the same sample against a change going down (the window at 1): not beyond the baseline that way
    assert not in_regime(5.0, baseline, np.array([1.0] * 20), -1.0, binary=False, alpha=ALPHA)


def test_the_tail_is_the_share_of_baseline_samples_at_least_as_bad():
    baseline = np.arange(1.0, 21.0)  # 1..20: 20 is beyond 19 of them (tail 1/20), 19 beyond 18 (tail 2/20)
    after = np.array([25.0] * 10)  # the midpoint of the means (10.5, 25) is 17.75: both are past it
    assert in_regime(20.0, baseline, after, 1.0, binary=False, alpha=0.05)
    assert not in_regime(19.0, baseline, after, 1.0, binary=False, alpha=0.05)
    assert in_regime(19.0, baseline, after, 1.0, binary=False, alpha=0.1)


def test_a_baseline_outlier_nearer_the_baseline_than_the_window_is_not_the_change():
    baseline = np.arange(1.0, 21.0)  # mean 10.5; the window at 100: the midpoint is 55.25
    assert not in_regime(20.0, baseline, np.array([100.0] * 10), 1.0, binary=False, alpha=0.05)
    assert in_regime(20.0, baseline, np.array([29.0] * 10), 1.0, binary=False, alpha=0.05)  # midpoint 19.75


def test_a_rate_takes_an_event_the_baseline_rarely_has():
    baseline = np.array([0.0] * 40 + [1.0])  # one refusal in 41 answers (tail 1/41)
    after = np.array([1.0, 0.0] * 5)
    assert in_regime(1.0, baseline, after, 1.0, binary=True, alpha=ALPHA)
    assert not in_regime(0.0, baseline, after, 1.0, binary=True, alpha=ALPHA)
    # at a 1-in-10 base rate one refusal is nothing unusual
    common = np.array([0.0] * 36 + [1.0] * 4)
    assert not in_regime(1.0, common, after, 1.0, binary=True, alpha=ALPHA)


def test_the_look_back_stops_at_the_first_normal_sample():
    baseline = np.array([2.0] * 80 + [5.0, 6.0, 6.0])  # tails: 5 is 3/83, 6 is 2/83
    after = np.array([6.0] * 12)
    assert regime_samples(np.array([2.0, 2.0, 5.0, 6.0]), baseline, after, 1.0, binary=False, alpha=ALPHA) == 2
    # an odd sample behind a normal one is not reached: the normal one stops the look-back
    assert regime_samples(np.array([6.0, 2.0, 6.0]), baseline, after, 1.0, binary=False, alpha=ALPHA) == 1
    assert regime_samples(np.array([2.0]), baseline, after, 1.0, binary=False, alpha=ALPHA) == 0
    assert regime_samples(np.array([]), baseline, after, 1.0, binary=False, alpha=ALPHA) == 0


def _loop_frame() -> pd.DataFrame:
    """72 h: route A a trace every 15 min (hh:01, :16, :31, :46) making 2 tool calls, route B every 10 min
    making 1 or 3. A retry loop on A: its first looping trace (5 calls) at 40:24, after two normal ones at
    40:21 and 40:22 in the same 5-minute bucket; then a lull (no A trace 40:30-41:15); from 41:16 to 47:00
    every A trace loops (6 calls)."""
    rows = []
    for h in range(72):
        for k in range(4):
            t = BASE_NS + h * HOUR + (1 + 15 * k) * MIN
            if not BASE_NS + 40 * HOUR + 30 * MIN <= t < BASE_NS + 41 * HOUR + 15 * MIN:
                rows.append((t, 6.0 if BASE_NS + 41 * HOUR <= t < BASE_NS + 47 * HOUR else 2.0, "A"))
        for k in range(6):
            rows.append((BASE_NS + h * HOUR + (10 * k + 3) * MIN, 1.0 + 2 * (k % 2), "B"))
    rows += [(BASE_NS + 40 * HOUR + 21 * MIN, 2.0, "A"), (BASE_NS + 40 * HOUR + 22 * MIN, 2.0, "A"),
             (BASE_NS + 40 * HOUR + 24 * MIN, 5.0, "A")]
    rows.sort()
    return route_frame(rows)


def test_a_retry_loop_starts_at_its_first_looping_trace_not_after_the_lull():
    sig = [s for s in feed_signals([]) if s.name == "tool_calls_per_trace"]
    findings = detect({"tool_calls_per_trace": _loop_frame()}, sig, ["route"], BASE_NS, BASE_NS + 72 * HOUR)
    assert [(f.cohort, f.direction, f.current, f.n_current) for f in findings] == [({"route": "A"}, "up", 6.0, 23)]
    f = findings[0]
    # the scan's window starts at the 40:25 bucket (the 40:20 one holds two normal traces: it would dilute the
    # window), whose first trace is 41:16. The 40:24 trace's 5 calls are beyond all but one baseline sample
    # (itself) and past the midpoint of 2.01 and 6: the start is that trace, the first evidence (not halfway from
    # the normal trace before it, 40:22, as dated before session 8)
    assert f.start_ns == BASE_NS + 40 * HOUR + 24 * MIN
    assert f.details[0]["start"] == "2025-11-25T16:24:00Z"


def _gap_frame() -> pd.DataFrame:
    """72 h, route A a sample every 10 minutes (hh:05, :15, ... :55), alternately 1 and 3; route B every 6 minutes,
    the same values. A sends nothing from 40:25 to 41:33; from 41:33 (its first sample after the gap, 41:33,
    then its usual 41:35, 41:45 ...) to 47:00 every A sample is 8 or 10 (W4-07's shape: a sparse tenant's first summary on
    the new prompt version an hour after its last on the old one)."""
    rows = []
    for h in range(72):
        for k in range(6):
            t = BASE_NS + h * HOUR + (5 + 10 * k) * MIN
            if not BASE_NS + 40 * HOUR + 25 * MIN < t < BASE_NS + 41 * HOUR + 33 * MIN:
                rows.append((t, 1.0 + 2 * (k % 2), "A"))
        for k in range(10):
            rows.append((BASE_NS + h * HOUR + (6 * k + 2) * MIN, 1.0 + 2 * (k % 2), "B"))
    rows.append((BASE_NS + 41 * HOUR + 33 * MIN, 8.0, "A"))
    rows = [(t, v + 7.0 if r == "A" and BASE_NS + 41 * HOUR + 35 * MIN <= t < BASE_NS + 47 * HOUR else v, r)
            for t, v, r in rows]
    rows.sort()
    return route_frame(rows)


def test_a_step_after_a_gap_starts_at_its_first_changed_sample_not_halfway_through_the_gap():
    sig = [s for s in feed_signals([]) if s.name == "cost_per_trace"]
    findings = detect({"cost_per_trace": _gap_frame()}, sig, ["route"], BASE_NS, BASE_NS + 72 * HOUR)
    assert [(f.cohort, f.n_current) for f in findings] == [({"route": "A"}, 34)]  # 41:33, 41:35 ... 46:55
    # before session 8: halfway between A's last sample before (40:25) and its first changed one (41:33), 40:59,
    # a time no sample supports
    assert findings[0].start_ns == BASE_NS + 41 * HOUR + 33 * MIN


# ---------------------------------------------------------------------------------------------
# A rate read back by stretches


def test_the_binomial_upper_tail_is_exact_for_a_tiny_rate():
    assert binomial_upper_tail(1, 44, 1 / 1976) == pytest.approx(1 - (1975 / 1976) ** 44, rel=1e-12)
    assert binomial_upper_tail(2, 3, 0.5) == pytest.approx(0.5, rel=1e-12)
    assert binomial_upper_tail(3, 3, 1e-6) == pytest.approx(1e-18, rel=1e-9)  # not lost to 1 - (1 - 1e-18)
    assert binomial_upper_tail(0, 5, 0.1) == 1.0 and binomial_upper_tail(6, 5, 0.1) == 0.0


def test_a_lone_stall_before_normal_calls_belongs_to_the_wave_when_the_stretch_is_rare_and_likelier_in_it():
    # W4-06's shape: the model's baseline holds one stall in 1,976 calls (the lone one, counted among them), the
    # window 9 in 152; the stretch from the lone stall to the window is it and 43 normal calls
    baseline = np.array([0.0] * 1975 + [1.0])
    after = np.array([1.0] * 9 + [0.0] * 143)
    stretch = np.array([1.0] + [0.0] * 43)
    # tail 1 - (1975/1976)^44 = 0.0220 <= 0.05; log LR 1 x ln(9.5/153 / (1.5/1977)) + 43 x ln((143.5/153) / (1975.5/1977))
    # = 4.405 - 2.724 > 0
    assert stretch_in_regime(stretch, baseline, after, 1.0, alpha=ALPHA)
    # the normal calls are no evidence either way, so they do not stop the look-back: the lone stall is reached
    before = np.array([0.0] * 500 + [1.0] + [0.0] * 43)
    assert in_regime(0.0, baseline, after, 1.0, binary=True, alpha=ALPHA) is False
    assert regime_samples(before, baseline, after, 1.0, binary=True, alpha=ALPHA) == 44
    # 102 calls back the same stall is no longer rare for the baseline: tail 1 - (1975/1976)^103 = 0.0508
    far = np.array([0.0] * 500 + [1.0] + [0.0] * 102)
    assert regime_samples(far, baseline, after, 1.0, binary=True, alpha=ALPHA) == 0


def test_a_stretch_rare_for_the_baseline_but_too_quiet_for_the_window_is_not_the_change():
    # one event in 4,000 at baseline; 151 calls with one event: tail 1 - (3999/4000)^151 = 0.0370, but a window at
    # 9 in 152 expects 9: log LR ln((9.5/153) / (1.5/4001)) + 150 ln((143.5/153) / (3999.5/4001)) = 5.110 - 9.559 < 0
    baseline = np.array([0.0] * 3999 + [1.0])
    after = np.array([1.0] * 9 + [0.0] * 143)
    assert not stretch_in_regime(np.array([1.0] + [0.0] * 150), baseline, after, 1.0, alpha=ALPHA)


def test_the_stretches_are_read_newest_first_up_to_the_first_that_is_not_the_change():
    baseline = np.array([0.0] * 1000 + [1.0] * 3)
    after = np.array([1.0, 0.0, 0.0] * 10)
    # a run of events just before the window is taken as one sample at a time did (each stretch of events only)
    assert regime_samples(np.array([0.0] * 50 + [1.0, 1.0]), baseline, after, 1.0, binary=True, alpha=ALPHA) == 2
    # the event 4 calls back is (tail of 2 in 5 at 3/1003: 8.9e-5); the one 300 calls before it is not
    # (3 in 305: tail 0.064), so the look-back stops there although nothing beyond is tried
    before = np.array([1.0] + [0.0] * 299 + [1.0, 0.0, 0.0, 1.0, 0.0])
    assert regime_samples(before, baseline, after, 1.0, binary=True, alpha=ALPHA) == 5
    # a rate whose bad direction is down (0 is the bad value): the same reading, mirrored
    assert regime_samples(1.0 - before, 1.0 - baseline, 1.0 - after, -1.0, binary=True, alpha=ALPHA) == 5


def _wave_frame(lone_h: int) -> pd.DataFrame:
    """72 h: route A a call every 5 minutes (hh:02, :07, ...), route B two minutes after each, never failing. A's
    error wave: from 41:00 to 47:00 every sixth call fails (41:17, 41:47, ...), and one call fails alone at
    lone_h:02, before a stretch of normal calls."""
    rows = []
    for j in range(72 * 12):
        t = BASE_NS + j * 5 * MIN + 2 * MIN
        k = (t - BASE_NS - 41 * HOUR) // (5 * MIN)
        bad = t == BASE_NS + lone_h * HOUR + 2 * MIN or (BASE_NS + 41 * HOUR <= t < BASE_NS + 47 * HOUR and k % 6 == 3)
        rows += [(t, 1.0 if bad else 0.0, "A"), (t + 2 * MIN, 0.0, "B")]
    return route_frame(rows)


def test_an_error_wave_starts_at_its_lone_first_error_before_normal_calls():
    sig = [s for s in feed_signals([]) if s.name == "error_rate"]
    findings = detect({"error_rate": _wave_frame(40)}, sig, ["route"], BASE_NS, BASE_NS + 72 * HOUR)
    assert [(f.cohort, f.n_current, f.n_baseline) for f in findings] == [({"route": "A"}, 67, 797)]
    # the window is 41:17-46:47 (12 of 67 calls fail); before session 10 the start was its first call, 41:17, since
    # the call before it is a normal one. The stretch 40:02-41:12 (15 calls, 1 failed) has a tail of
    # 1 - (796/797)^15 = 0.0187 at A's baseline rate, and log LR ln((12.5/68) / (1.5/798)) + 14 ln((55.5/68) /
    # (796.5/798)) = 4.583 - 2.817 > 0: the start is the lone failure
    assert findings[0].start_ns == BASE_NS + 40 * HOUR + 2 * MIN


def test_a_lone_error_too_far_before_the_wave_does_not_move_its_start():
    sig = [s for s in feed_signals([]) if s.name == "error_rate"]
    findings = detect({"error_rate": _wave_frame(38)}, sig, ["route"], BASE_NS, BASE_NS + 72 * HOUR)
    assert [(f.cohort, f.n_current) for f in findings] == [({"route": "A"}, 67)]
    # 38:02-41:12 is 39 calls with 1 failure: tail 1 - (796/797)^39 = 0.0478, rare enough, but 38 normal calls are
    # likelier at the baseline's rate (log LR 4.583 - 38 x 0.2012 < 0): the start stays at the window's first call
    assert findings[0].start_ns == BASE_NS + 41 * HOUR + 17 * MIN
