"""Dating a change that builds up (a ramp) instead of jumping (a step).

The feed's scan finds a window [a, e) whose mean departs from the series' outside; on a step that window
starts at the step. On a linear ramp (a context that grows every hour, a connector that skips more
documents each hour) there is no step: the scan's window starts wherever its z is highest, hours after
the ramp began or before it became large. This module fits both shapes to one series ending at the
window's end `e` (the buckets after it are back at the baseline, as the scan said) and keeps the one a
penalised likelihood prefers:

- step: the baseline level b outside [t1, e), the level c inside;
- ramp: b outside [t1, e), then a straight line from b at t1 to c at t2, then c until e.

A step is a ramp of length 0, so the ramp has one parameter more (t2); with a Gaussian likelihood whose
variance is profiled out, BIC = N ln(SSE / N) + k ln N (N samples; k = 4 for the step: b, c, t1, sigma;
5 for the ramp). The ramp is chosen when its BIC is lower: it must explain the samples better by more
than ln N, the price of the extra parameter, and its slope must hold at least `min_n` samples (the feed's
MIN_N, its fewest samples for a comparison): a step between two sparse buckets, or across hours without
traffic, fits a "ramp" through the gap as well as a step, and the gap says nothing about a slope.
No constant is tuned to a series.

What "start" means for a ramp: a ramp from the baseline has no datable instant where it "starts" to
matter; its onset t1 is where the fitted line leaves the baseline (often hours before anything can be
seen, and the least precisely estimated point of the fit). The feed reports changes of at least
`min_d` standard deviations (changes.MIN_D), so a ramp's start is where the fitted line has moved
`min_d` standard deviations of the baseline's samples away from the baseline (for a 0/1 series: the
rate whose log odds ratio against the baseline is `min_d` on the d scale, as the feed measures rates).
For a step both are the step. The onset and the top (t2) are reported alongside.

Which unit the line is straight in: the feed compares durations, costs and token counts on log scale (a 10x
slowdown of a few spans is one shift), but what builds up does so in the value's own unit: a table that grows
by the same rows every hour adds the same milliseconds to each lookup every hour, a context that grows by a
message per turn the same tokens. A line in milliseconds is a curve on log scale (log(1 + k t) rises fastest
at its start), and a line fitted there leaves the baseline early and crosses min_d early. So such a series is
fitted in its own unit (`log_scale`: the same samples' sums on the feed's log1p scale), and its crossing is
still measured where the feed measures it: the fitted level whose log1p has moved min_d standard deviations of
the baseline's log1p samples (a change that scales every sample by r moves their log by log r).

Everything is in bucket coordinates: bucket i holds the samples of [i, i + 1); a position x is the time
t0 + x * width. The series are bucket sums: count n, sum s and sum of squares q of the compared value
(the feed's grid rows), so the squared error of a fit is exact over the samples, not over bucket means.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Hasselblad & Hedges: a log odds ratio times sqrt(3)/pi is on the scale of Cohen's d (as changes.py)
LOGIT_TO_D = math.sqrt(3.0) / math.pi
#: a search over every (t1, t2) pair costs (e^2)/2 fits; past this many positions per axis the pairs are
#: searched on a coarse grid first, then at full resolution around the best coarse pair
FULL_SEARCH = 96


@dataclass(frozen=True)
class Fit:
    """One shape fitted to a series: the change leaves `baseline` at `onset` and reaches `level` at `top`
    (bucket positions; a step has top == onset), and stays there until the window's end."""

    shape: str  # "step" | "ramp"
    onset: float
    top: float
    baseline: float
    level: float
    sse: float
    bic: float


@dataclass(frozen=True)
class Dating:
    """Both fits of one series, and which one explains it (see the module docstring)."""

    step: Fit
    ramp: Fit | None  # None: no ramp fits (too few buckets, or every ramp moves the wrong way)
    start: float  # where the change counts: the step, or where the ramp has moved min_d baseline sd

    seen: float = 0.0  # samples on the ramp's slope (buckets onset..top)
    min_n: float = 0.0

    @property
    def best(self) -> Fit:
        if self.ramp is not None and self.ramp.bic < self.step.bic and self.seen >= self.min_n:
            return self.ramp
        return self.step

    @property
    def shape(self) -> str:
        return self.best.shape


def _bic(sse: float, n: float, k: int, floor: float) -> float:
    return n * math.log(max(sse, floor) / n) + k * math.log(n)


class _Series:
    """Prefix sums of one series for fits whose change is the fraction h_i of (c - b) in bucket i."""

    def __init__(self, n: np.ndarray, s: np.ndarray, q: np.ndarray, end: int) -> None:
        i = np.arange(len(n), dtype=np.float64)
        pad = np.zeros(1)
        self.p0 = np.concatenate([pad, np.cumsum(n)])
        self.p1 = np.concatenate([pad, np.cumsum(n * i)])
        self.p2 = np.concatenate([pad, np.cumsum(n * i * i)])
        self.q0 = np.concatenate([pad, np.cumsum(s)])
        self.q1 = np.concatenate([pad, np.cumsum(s * i)])
        self.total_n = float(n.sum())
        self.total_s = float(s.sum())
        self.total_q = float(q.sum())
        self.end = end
        # the squared error no fit can remove is the samples' spread within buckets; a noise-free series
        # fits exactly, so SSE is floored (relative to the values' size) before its logarithm
        self.floor = 1e-12 * max(self.total_q, 1e-300)

    def fit(self, t1: np.ndarray, t2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(b, c, sse) of the fits with onsets t1 and tops t2 (integer arrays, t1 <= t2 <= end; t1 == t2 is
        a step): weighted least squares of mu_i = b (1 - h_i) + c h_i on every sample."""
        p0, p1, p2, q0, q1, e = self.p0, self.p1, self.p2, self.q0, self.q1, self.end
        length = (t2 - t1).astype(np.float64)
        inv = np.where(length > 0, 1.0 / np.maximum(length, 1.0), 0.0)
        off = 0.5 - t1
        r0, r1, r2 = p0[t2] - p0[t1], p1[t2] - p1[t1], p2[t2] - p2[t1]
        g0, g1 = q0[t2] - q0[t1], q1[t2] - q1[t1]
        top_n, top_s = p0[e] - p0[t2], q0[e] - q0[t2]
        nh = (r1 + off * r0) * inv + top_n  # sum of n h
        nhh = (r2 + 2 * off * r1 + off * off * r0) * inv * inv + top_n  # sum of n h^2
        sh = (g1 + off * g0) * inv + top_s  # sum of s h
        a = self.total_n - 2 * nh + nhh  # sum of n (1 - h)^2
        m = nh - nhh  # sum of n (1 - h) h
        su = self.total_s - sh  # sum of s (1 - h)
        det = a * nhh - m * m
        with np.errstate(divide="ignore", invalid="ignore"):
            b = (su * nhh - m * sh) / det
            c = (a * sh - m * su) / det
        sse = self.total_q - (b * su + c * sh)
        bad = ~(det > 1e-9 * max(self.total_n, 1.0) ** 2) | ~np.isfinite(sse)
        return b, c, np.where(bad, np.inf, np.maximum(sse, 0.0))


def _steps(series: _Series, sign: float) -> Fit | None:
    e = series.end
    t1 = np.arange(0, e, dtype=np.int64)
    b, c, sse = series.fit(t1, t1)
    sse = np.where((c - b) * sign > 0, sse, np.inf)
    if not len(sse) or not np.isfinite(sse).any():
        return None
    j = int(np.argmin(sse))
    return Fit("step", float(t1[j]), float(t1[j]), float(b[j]), float(c[j]), float(sse[j]),
               _bic(float(sse[j]), series.total_n, 4, series.floor))


def _pairs(lo1: int, hi1: int, lo2: int, hi2: int, stride: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (t1, t2) with lo1 <= t1 <= hi1, lo2 <= t2 <= hi2, t1 < t2 <= end, on a grid of `stride` (the
    window's end always among the tops: a ramp still climbing at the end of the window)."""
    a = np.arange(max(lo1, 0), min(hi1, end - 1) + 1, stride, dtype=np.int64)
    tops = np.arange(max(lo2, 1), min(hi2, end) + 1, stride, dtype=np.int64)
    if lo2 <= end <= hi2 and (not len(tops) or tops[-1] != end):
        tops = np.append(tops, end)
    t1, t2 = np.meshgrid(a, tops, indexing="ij")
    keep = t1 < t2
    return t1[keep], t2[keep]


def _ramps(series: _Series, sign: float) -> Fit | None:
    e = series.end
    if e < 2:
        return None

    def best(t1: np.ndarray, t2: np.ndarray) -> tuple[int, int, float, float, float] | None:
        if not len(t1):
            return None
        b, c, sse = series.fit(t1, t2)
        sse = np.where((c - b) * sign > 0, sse, np.inf)
        if not np.isfinite(sse).any():
            return None
        j = int(np.argmin(sse))
        return int(t1[j]), int(t2[j]), float(b[j]), float(c[j]), float(sse[j])

    if e <= FULL_SEARCH:
        found = best(*_pairs(0, e, 0, e, 1, e))
    else:
        stride = -(-e // FULL_SEARCH)
        coarse = best(*_pairs(0, e, 0, e, stride, e))
        if coarse is None:
            return None
        c1, c2 = coarse[0], coarse[1]
        # the neighbourhood of the coarse optimum at full resolution (two coarse steps each way)
        found = best(*_pairs(c1 - 2 * stride, c1 + 2 * stride, c2 - 2 * stride, c2 + 2 * stride, 1, e))
        if found is None or found[4] > coarse[4]:
            found = coarse
    if found is None:
        return None
    t1, t2, b, c, sse = found
    return Fit("ramp", float(t1), float(t2), b, c, sse, _bic(sse, series.total_n, 5, series.floor))


def _baseline_sd(n: np.ndarray, s: np.ndarray, q: np.ndarray, fit: Fit, end: int) -> float:
    """Standard deviation of the samples outside the change (before its onset and from the window's end)."""
    outside = np.ones(len(n), dtype=bool)
    outside[int(fit.onset):end] = False
    m = float(n[outside].sum())
    if m < 2:
        return math.nan
    mean = float(s[outside].sum()) / m
    return math.sqrt(max(float(q[outside].sum()) / m - mean * mean, 0.0))


def threshold(fit: Fit, sd: float, sign: float, min_d: float, binary: bool, log: bool = False) -> float:
    """The level at which the change has moved min_d from the baseline, in the feed's units of d (`log`: the fit is
    in the values' unit, `sd` that of their log1p)."""
    if binary:  # a rate: min_d on the log-odds scale the feed measures rates on
        p = min(max(fit.baseline, 1e-6), 1 - 1e-6)
        logit = math.log(p / (1 - p)) + sign * min_d / LOGIT_TO_D
        return 1.0 / (1.0 + math.exp(-logit))
    if log:
        return math.expm1(math.log1p(max(fit.baseline, 0.0)) + sign * min_d * sd)
    return fit.baseline + sign * min_d * sd


def date(n: np.ndarray, s: np.ndarray, q: np.ndarray, end: int, sign: float, *, min_d: float = 1.0,
         min_n: float = 10, binary: bool = False,
         log_scale: tuple[np.ndarray, np.ndarray] | None = None) -> Dating | None:
    """Step and ramp fits of one series (bucket count n, sum s, sum of squares q of the compared value)
    whose change ends at bucket `end` (exclusive) and moves in `sign` (+1 up, -1 down); None when no step
    in that direction fits (nothing before or after the window, or no bucket with samples). `log_scale`: the
    bucket sums and sums of squares of the same samples' log1p, for a series the feed compares on log scale
    (n, s, q then hold the values in their own unit: see the module docstring)."""
    n = np.asarray(n, dtype=np.float64)
    s = np.asarray(s, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    end = int(min(max(end, 0), len(n)))
    if end < 1 or n[:end].sum() <= 0 or n.sum() < 3:
        return None
    series = _Series(n, s, q, end)
    step = _steps(series, sign)
    if step is None:
        return None
    ramp = _ramps(series, sign)
    seen = 0.0 if ramp is None else float(n[int(ramp.onset):int(ramp.top)].sum())
    start = step.onset
    if ramp is not None and ramp.bic < step.bic and seen >= min_n:
        sd = _baseline_sd(n, s, q, ramp, end) if log_scale is None else _baseline_sd(n, *log_scale, ramp, end)
        if math.isfinite(sd) or binary:
            level = threshold(ramp, sd, sign, min_d, binary, log=log_scale is not None)
            frac = (level - ramp.baseline) / (ramp.level - ramp.baseline)
            # a ramp whose whole rise is under min_d never counts: dated at its top, where it is largest
            start = ramp.onset + min(max(frac, 0.0), 1.0) * (ramp.top - ramp.onset)
    return Dating(step, ramp, float(start), seen, float(min_n))
