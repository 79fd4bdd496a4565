"""A step's start read back to the sample (analysis.lookback): the samples just before a change's window that
already belong to the new regime (beyond the baseline's ALPHA tail AND more likely under the window's samples)
move the start back; the first sample consistent with the baseline stops it. Exact values."""
from __future__ import annotations

import numpy as np
import pandas as pd

from changes_synth import BASE_NS, HOUR
from tracedesk.analysis.changes import ALPHA, detect, feed_signals
from tracedesk.analysis.lookback import in_regime, regime_samples

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
    return pd.DataFrame({"t": [r[0] for r in rows], "v": [r[1] for r in rows],
                         "route": pd.Series([r[2] for r in rows], dtype=object)})


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
    return pd.DataFrame({"t": [r[0] for r in rows], "v": [r[1] for r in rows],
                         "route": pd.Series([r[2] for r in rows], dtype=object)})


def test_a_step_after_a_gap_starts_at_its_first_changed_sample_not_halfway_through_the_gap():
    sig = [s for s in feed_signals([]) if s.name == "cost_per_trace"]
    findings = detect({"cost_per_trace": _gap_frame()}, sig, ["route"], BASE_NS, BASE_NS + 72 * HOUR)
    assert [(f.cohort, f.n_current) for f in findings] == [({"route": "A"}, 34)]  # 41:33, 41:35 ... 46:55
    # before session 8: halfway between A's last sample before (40:25) and its first changed one (41:33), 40:59,
    # a time no sample supports
    assert findings[0].start_ns == BASE_NS + 41 * HOUR + 33 * MIN
