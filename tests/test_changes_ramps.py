"""Dating ramps (tracedesk.analysis.ramps): a hinge fit chosen over the step fit by BIC, on synthetic series
whose onsets, tops and 1-sd crossings follow by arithmetic; and a step is still dated as a step."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changes_synth import BASE_NS, HOUR, build, route_frame
from tracedesk.analysis import ramps
from tracedesk.analysis.changes import MIN_D, detect, feed_signals, find_changes
from tracedesk.store import connect

MIN = 60 * 10**9


def _sums(means: np.ndarray, per_bucket: int = 4, spread: float = 1.0) -> tuple[np.ndarray, ...]:
    """Bucket sums of `per_bucket` samples at mean +- spread (half each): every bucket's mean is exact and
    every sample sits `spread` from it, so the standard deviation of any run of buckets at one level is
    `spread`."""
    n = np.full(len(means), float(per_bucket))
    return n, n * means, n * (means * means + spread * spread)


def _hinge(buckets: int, onset: int, top: int, end: int, base: float, level: float) -> np.ndarray:
    """Bucket means of a line from `base` at edge `onset` to `level` at edge `top`, held until `end`."""
    centre = np.arange(buckets) + 0.5
    h = np.clip((centre - onset) / (top - onset), 0.0, 1.0) if top > onset else (centre >= onset).astype(float)
    h[end:] = 0.0
    return base + (level - base) * h


def test_a_ramp_is_dated_where_it_has_moved_one_sd_and_its_onset_and_top_are_exact():
    n, s, q = _sums(_hinge(100, 30, 50, 70, 10.0, 20.0))
    d = ramps.date(n, s, q, 70, +1.0)
    assert d is not None and d.shape == "ramp"
    assert (d.best.onset, d.best.top) == (30.0, 50.0)
    assert d.best.baseline == pytest.approx(10.0) and d.best.level == pytest.approx(20.0)
    # the baseline's samples have sd 1; the ramp rises 10 over 20 buckets: 1 sd after 2 buckets
    assert d.start == pytest.approx(32.0)
    assert d.ramp is not None and d.ramp.bic < d.step.bic


def test_a_falling_ramp_is_dated_the_same_way_down():
    n, s, q = _sums(_hinge(100, 20, 60, 80, 0.9, 0.5), spread=0.1)
    d = ramps.date(n, s, q, 80, -1.0)
    assert d is not None and d.shape == "ramp" and (d.best.onset, d.best.top) == (20.0, 60.0)
    assert d.start == pytest.approx(20 + 0.1 / 0.4 * 40)  # 1 sd (0.1) of a 0.4 fall over 40 buckets
    # looked for upwards, the same series has no ramp or step to offer (both would move the wrong way)
    up = ramps.date(n, s, q, 80, +1.0)
    assert up is None or up.ramp is None or up.ramp.level > up.ramp.baseline


def test_a_ramp_still_climbing_at_the_end_of_the_range():
    n, s, q = _sums(_hinge(90, 40, 90, 90, 5.0, 10.0), spread=0.5)
    d = ramps.date(n, s, q, 90, +1.0)
    assert d is not None and d.shape == "ramp" and (d.best.onset, d.best.top) == (40.0, 90.0)
    assert d.start == pytest.approx(40 + 0.5 / 5.0 * 50)


def test_a_week_long_grid_is_searched_coarse_then_fine_and_still_exact():
    # 672 buckets (a week at 15 minutes) is past FULL_SEARCH: the coarse grid, then the full resolution around it
    assert 672 > ramps.FULL_SEARCH
    n, s, q = _sums(_hinge(672, 301, 421, 500, 100.0, 260.0), spread=30.0)
    d = ramps.date(n, s, q, 500, +1.0)
    assert d is not None and (d.best.onset, d.best.top) == (301.0, 421.0)
    assert d.start == pytest.approx(301 + 30.0 / 160.0 * 120)


def test_a_step_is_a_step():
    n, s, q = _sums(_hinge(100, 40, 40, 70, 10.0, 20.0))
    d = ramps.date(n, s, q, 70, +1.0)
    assert d is not None and d.shape == "step" and d.start == 40.0 and d.step.onset == 40.0
    assert d.step.level == pytest.approx(20.0) and d.step.baseline == pytest.approx(10.0)


def test_a_slope_seen_on_too_few_samples_is_not_a_ramp():
    # an exact ramp over 5 buckets of 1 sample each: BIC prefers it, but 5 samples (< min_n) show no shape
    means = _hinge(100, 40, 45, 70, 10.0, 20.0)
    n, s, q = _sums(means, per_bucket=4)
    n[40:45], s[40:45], q[40:45] = 1.0, means[40:45], means[40:45] ** 2
    d = ramps.date(n, s, q, 70, +1.0, min_n=10)
    assert d is not None and d.ramp is not None and d.ramp.bic < d.step.bic
    assert d.seen == 5.0 and d.shape == "step" and d.start == d.step.onset


def test_a_rate_counts_from_one_log_odds_d():
    fit = ramps.Fit("ramp", 0.0, 10.0, 0.1, 0.6, 0.0, 0.0)
    level = ramps.threshold(fit, math.nan, +1.0, 1.0, binary=True)
    # logit(0.1) + 1 / (sqrt(3) / pi) = -2.19722 + 1.81380 = -0.38342 -> 0.40530
    assert level == pytest.approx(0.40530, abs=1e-5)


def test_no_data_before_the_end_gives_no_dating():
    n = np.zeros(50)
    n[30:] = 4.0
    s, q = n * 2.0, n * 5.0
    assert ramps.date(n, s, q, 20, +1.0) is None


@settings(max_examples=60, deadline=None)
@given(buckets=st.integers(20, 700), at=st.floats(0.1, 0.7), length=st.floats(0.05, 0.3),
       size=st.floats(1.5, 8.0), per_bucket=st.integers(6, 40), seed=st.integers(0, 2**31 - 1))
def test_a_noisy_step_is_still_dated_as_a_step_within_a_bucket(buckets, at, length, size, per_bucket, seed):
    """Whatever its position, size (in sd) and traffic, a step change in Gaussian noise is dated as a step:
    either the step fit wins (the feed then keeps its own start, placed between the samples around the
    window's edge), or a ramp does whose 1-sd crossing is within one bucket of the step."""
    step = max(1, int(at * buckets))
    end = min(buckets, step + max(2, int(length * buckets)))
    rng = np.random.default_rng(seed)
    i = np.repeat(np.arange(buckets), per_bucket)
    y = rng.normal(0.0, 1.0, len(i)) + np.where((i >= step) & (i < end), size, 0.0)
    n = np.bincount(i, minlength=buckets).astype(float)
    s, q = np.bincount(i, y, buckets), np.bincount(i, y * y, buckets)
    d = ramps.date(n, s, q, end, +1.0, min_d=MIN_D)
    assert d is not None
    assert d.shape == "step" or abs(d.start - step) <= 1.0, (d.start, step, d.best)


@settings(max_examples=40, deadline=None)
@given(buckets=st.integers(30, 700), onset=st.floats(0.05, 0.5), length=st.floats(0.05, 0.4),
       hold=st.floats(0.0, 0.2), rise=st.floats(2.0, 20.0))
def test_a_noise_free_ramp_is_found_exactly_on_any_grid(buckets, onset, length, hold, rise):
    t1 = int(onset * buckets)
    t2 = min(buckets, t1 + max(2, int(length * buckets)))
    end = min(buckets, t2 + int(hold * buckets))
    # the samples spread by a twentieth of the rise around the line: a small noise, so the line is plain
    # (8 samples a bucket: a slope of 2+ buckets holds the min_n = 10 samples a shape needs)
    n, s, q = _sums(_hinge(buckets, t1, t2, end, 50.0, 50.0 + rise), per_bucket=8, spread=rise / 20)
    d = ramps.date(n, s, q, end, +1.0)
    assert d is not None and d.shape == "ramp"
    assert (d.best.onset, d.best.top) == (float(t1), float(t2))
    assert d.start == pytest.approx(t1 + (t2 - t1) / 20)


def _scaled_sums(means: np.ndarray, spread: float = 0.2) -> tuple[np.ndarray, ...]:
    """Bucket sums of two samples a bucket at mean x (1 +- spread), in their own unit, then the same samples' log1p
    sums (s, q): what a duration the feed compares on log scale looks like when every call is scaled by the ramp."""
    lo, hi = means * (1 - spread), means * (1 + spread)
    n = np.full(len(means), 2.0)
    return n, lo + hi, lo * lo + hi * hi, np.log1p(lo) + np.log1p(hi), np.log1p(lo) ** 2 + np.log1p(hi) ** 2


def test_a_ramp_in_milliseconds_is_fitted_in_milliseconds_and_crosses_one_sd_of_the_log_durations():
    # 400 ms calls slow linearly to 9x (3,600 ms) from bucket 30 to 70, held to 90: a line in ms
    n, s, q, sl, ql = _scaled_sums(_hinge(100, 30, 70, 90, 400.0, 3600.0))
    d = ramps.date(n, s, q, 90, +1.0, log_scale=(sl, ql))
    assert d is not None and d.shape == "ramp" and (d.best.onset, d.best.top) == (30.0, 70.0)
    assert d.best.baseline == pytest.approx(400.0) and d.best.level == pytest.approx(3600.0)
    # the baseline's log1p samples are log(321) and log(481), half each: sd = ln(481/321) / 2; the fitted level whose
    # log1p is that far above log1p(400) is 401 sqrt(481/321) - 1 = 489.87 ms, 2.808% of the 3,200 ms rise: 1.123
    # buckets into the 40-bucket slope
    assert d.start == pytest.approx(30 + 40 * (401 * math.sqrt(481 / 321) - 1 - 400) / 3200)
    assert d.start == pytest.approx(31.1233, abs=1e-4)
    # the same samples fitted on log scale, where the line is a curve log(1 + 8 t) steepest at its start: the fit
    # leaves the baseline 5 buckets before the slowdown began, and crosses before it too
    on_log = ramps.date(n, sl, ql, 90, +1.0)
    assert on_log is not None and on_log.shape == "ramp" and on_log.best.onset == 25.0 and on_log.start < 30.0


# ---------------------------------------------------------------------------------------------
# In the feed


def _jitter(seg, h, k):
    return 1.0 + 0.2 * (((h * 7919 + k * 104729 + len(seg[0]) * 31) % 41) - 20) / 20


RAMP_FROM, RAMP_TO, FIXED = 30, 42, 50  # hours: refunds' cost triples linearly 30h -> 42h, held to 50h


def _ramp_cost(seg, h, k, per_hour=8):
    t = h + k / per_hour
    if seg[0] != "refunds" or not RAMP_FROM <= t < FIXED:
        return 0.01 * _jitter(seg, h, k)
    return 0.01 * _jitter(seg, h, k) * (1 + 2 * min(1.0, (t - RAMP_FROM) / (RAMP_TO - RAMP_FROM)))


def test_the_feed_dates_a_cost_ramp_where_it_has_moved_one_sd_and_reports_its_onset(db_path):
    segs = {("billing", "acme", "m1"): lambda h: 8, ("refunds", "acme", "m1"): lambda h: 8,
            ("search", "globex", "m1"): lambda h: 8}
    build(db_path, 72, segs, _ramp_cost)
    findings = find_changes(connect(db_path))
    top = findings[0]
    assert "cost_per_trace" in top.signals and top.cohort == {"route": "refunds"}
    assert top.shape == "ramp" and top.to_dict()["shape"] == "ramp"
    # the reference, by arithmetic on what was written: the sd of refunds' costs outside the ramp, and
    # the time the true line (0.01 x mean jitter x 1..3) has risen by that much
    outside = [_ramp_cost(("refunds",), h, k) for h in range(72) for k in range(8)
               if not RAMP_FROM <= h + k / 8 < FIXED]
    sd, mean = float(np.std(outside)), float(np.mean(outside))
    crossing = BASE_NS + int((RAMP_FROM + sd / (2 * mean) * (RAMP_TO - RAMP_FROM)) * HOUR)
    assert abs(top.start_ns - crossing) <= 15 * MIN, (top.title(), sd, mean)
    assert top.onset_ns is not None and abs(top.onset_ns - (BASE_NS + RAMP_FROM * HOUR)) <= 30 * MIN
    assert top.end_ns is not None and abs(top.end_ns - (BASE_NS + FIXED * HOUR)) <= 15 * MIN
    assert top.details[0]["shape"] == "ramp" and top.to_dict()["onset"] is not None


def _finding(cohort, start_h, end_h, signal):
    from tracedesk.analysis.changes import Finding

    f = Finding([signal], cohort, BASE_NS + start_h * HOUR, BASE_NS + end_h * HOUR, 1.0, 2.0, 1.0, 1.0, 2.0, 9.0,
                1e-9, 1e-9, 100, 50, 0.1, 0.2, details=[{"signal": signal, "direction": "up"}])
    f.window_start_ns, f.window_end_ns = BASE_NS, BASE_NS + 168 * HOUR  # a week: 15-minute buckets
    return f


def test_a_broader_change_that_started_hours_earlier_is_not_folded_into_a_narrower_one():
    """W3-02's context grew on a route from 20:46 while one model on that route only started refusing at 02:17:
    the route's window lies mostly inside the pair's, but the pair had not changed yet: two incidents."""
    from tracedesk.analysis.changes import _merge_nested

    pair = _finding({"route": "r", "response_model": "m2"}, 30, 70, "refusal_rate")
    route = _finding({"route": "r"}, 24, 49, "input_tokens")
    assert {tuple(f.cohort.items()) for f in _merge_nested([pair, route])} == {
        (("route", "r"), ("response_model", "m2")), (("route", "r"),)}
    # started together (within a bucket: 15 minutes on a week), it is the pair's change seen more broadly
    together = _finding({"route": "r"}, 30, 49, "input_tokens")
    together.start_ns -= 10 * MIN
    merged = _merge_nested([pair, together])
    assert [f.cohort for f in merged] == [pair.cohort] and merged[0].signals == ["refusal_rate", "input_tokens"]


def _tool_ramp_frame() -> pd.DataFrame:
    """72 h of tool calls on 5-minute buckets (the feed's width for 72 h): route A two calls a bucket (at +1 and +3
    minutes) at 1.2x and 0.8x of its level, which is 400 ms, then from 30:00 a line in ms to 9x at 50:00 (each
    bucket at the line's value at its centre), held to 60:00; route B two calls a bucket at 480 and 320 ms."""
    rows = []
    for j in range(72 * 12):
        level = 400.0 if not 360 <= j < 720 else 400.0 + 3200.0 * min(1.0, (j + 0.5 - 360) / 240)
        t = BASE_NS + j * 5 * MIN
        rows += [(t + MIN, 1.2 * level, "A"), (t + 3 * MIN, 0.8 * level, "A"), (t + 2 * MIN, 480.0, "B"),
                 (t + 4 * MIN, 320.0, "B")]
    rows.sort()
    return route_frame(rows)


def test_the_feed_dates_a_latency_ramp_at_its_first_call_after_the_one_sd_crossing():
    sig = [x for x in feed_signals([]) if x.name == "tool_latency"]
    findings = detect({"tool_latency": _tool_ramp_frame()}, sig, ["route"], BASE_NS, BASE_NS + 72 * HOUR)
    assert [(f.cohort, f.shape) for f in findings] == [({"route": "A"}, "ramp")]
    f = findings[0]
    assert f.onset_ns == BASE_NS + 30 * HOUR
    # fitted in ms (as the test above): the line crosses 1 sd of the log durations 6.74 buckets into its 240-bucket
    # slope, 30:33:42; A's calls in that bucket are at 30:31 and 30:33, the next at 30:36: the first evidence
    crossing = 360 + 240 * (401 * math.sqrt(481 / 321) - 1 - 400) / 3200
    assert BASE_NS + 366 * 5 * MIN + 3 * MIN < BASE_NS + crossing * 5 * MIN < BASE_NS + 367 * 5 * MIN + MIN
    assert f.start_ns == BASE_NS + 30 * HOUR + 36 * MIN
