"""How early *could* a quiet threshold rule page on an incident? A lower bound computed from the data.

A detector's delay alone does not say whether a miss is the detector's or the data's. This module
answers, for one signal in one cohort and a marked incident, the earliest evaluation step at which some
threshold rule on that signal pages with no false page anywhere else in the history, by looking at the
rule's inputs themselves:

- **features**: on the evaluation grid, the signal's aggregation over each window of FEATURE_WINDOWS at
  each minimum sample count of FEATURE_MIN_SAMPLES, plain and (mean, rate, count, sum) relative to the
  previous hour and the previous day (the window's value over, and minus, the same aggregation over the
  hour or day before it: relative_to {"window": "1h"|"1d", "offset": window} with a factor or a delta;
  a count's baseline scaled to the window and judged from COUNT_FLOORS samples), and for a rate its
  one-sided Wilson bound at 99% (a rate judged at a confidence).
- **single threshold**: a rule `feature > thr` ("<" when the bad direction is down) with no false page
  puts thr at or beyond the feature's worst value outside the incident, so it first pages at the first
  incident evaluation whose value is beyond that worst value. The earliest over every feature is the
  bound for every single-condition rule of those forms.
- **two thresholds** ("a longer window confirmed by a shorter one", or a plain value confirmed by a
  relative one): an AND of two thresholds pages at incident step k with no false page exactly when no
  outside evaluation is at least as bad as step k on both features (it is not dominated); the earliest
  such k over every pair of features is the bound for every two-condition AND rule of those forms. It is
  never later than the single bound (a pair of one feature with itself is a single threshold).

"Outside" is generous, so the bound stays a lower bound: the evaluations whose longest feature window
does not reach into the incident (or into another incident the caller names as also page-worthy). A
bound later than the target says no rule of these forms meets it on this data; a bound on time with the
detector late says the detector is the one to improve. Steps count from the first evaluation at or
after `from_ns` (the incident start, or the first trace that carries it), as the target does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import sqlite_utils

from ..signals import SampleQuery, samples
from .definition import parse_duration
from .evaluate import NS, aggregate_windows, evaluation_grid, wilson_bound, window_bounds

#: Windows the features aggregate over: the suggester's (5m-1h) and longer ones for slow drifts.
FEATURE_WINDOWS: tuple[str, ...] = ("5m", "10m", "15m", "30m", "1h", "2h", "6h")
FEATURE_MIN_SAMPLES: tuple[int, ...] = (1, 2, 3)
#: The relative features compare a window with the same aggregation over this much history just before
#: it (relative_to {"window": L, "offset": the window}): the last hour (traffic) and the last day.
PREVIOUS: tuple[str, ...] = ("1h", "1d")
#: A relative count is judged only when its baseline held at least this many samples (min_samples).
COUNT_FLOORS: tuple[int, ...] = (1, 3, 5, 10, 15, 20)
WILSON_CONFIDENCE = 0.99
#: Aggregations with relative features (a percentile over a day per evaluation would sort ~a day of
#: samples at every step; percentile signals get the plain features only).
RELATIVE_AGGREGATIONS: tuple[str, ...] = ("mean", "rate", "count", "sum")


@dataclass(frozen=True)
class Bound:
    """The earliest step (None: no step inside the incident) for single and paired thresholds, with the
    feature(s) that reach it and their values there against the worst outside values."""

    signal: dict[str, Any]
    aggregation: str
    direction: str
    single_step: int | None
    single_feature: str | None
    pair_step: int | None
    pair_features: tuple[str, str] | None
    steps: int  # incident evaluations examined
    outside: int  # evaluations judged as outside the incident

    @property
    def step(self) -> int | None:
        return self.pair_step if self.pair_step is not None else self.single_step

    def describe(self) -> str:
        if self.single_step is None and self.pair_step is None:
            return f"none in {self.steps} steps"
        parts = []
        if self.single_step is not None:
            parts.append(f"{self.single_step} ({self.single_feature})")
        else:
            parts.append("single: none")
        if self.pair_step is not None and self.pair_step != self.single_step and self.pair_features:
            parts.append(f"pair {self.pair_step} ({' AND '.join(self.pair_features)})")
        return "; ".join(parts)


def _features(t: np.ndarray, v: np.ndarray, times: np.ndarray, aggregation: str, up: bool,
              windows: Iterable[str], min_samples: Iterable[int]) -> tuple[list[str], np.ndarray]:
    """Feature matrix (evaluations x features), oriented so that larger is worse; NaN where a rule of that
    form would not be judged (fewer samples than its minimum; a relative one: no baseline)."""
    sign = 1.0 if up else -1.0
    names: list[str] = []
    cols: list[np.ndarray] = []

    def add(name: str, col: np.ndarray) -> None:
        names.append(name)
        cols.append(sign * col)

    for win in windows:
        w = parse_duration(win) * NS
        lo, hi = window_bounds(t, times, w)
        value = aggregate_windows(v, lo, hi, aggregation)
        count = (hi - lo).astype(np.float64)
        bases = []
        if aggregation in RELATIVE_AGGREGATIONS:
            for length in PREVIOUS:
                bw = parse_duration(length) * NS
                blo, bhi = window_bounds(t, times - w, bw)
                if aggregation == "count":  # the baseline's count scaled to the window
                    bases.append((length, (bhi - blo) * (w / bw), (bhi - blo).astype(np.float64)))
                else:
                    bases.append((length, aggregate_windows(v, blo, bhi, aggregation), None))
        if aggregation == "count":
            # a count reads 0 for an empty window (traffic that stopped is a value): no minimum on the window;
            # a relative count is judged when its baseline held at least `floor` samples
            add(f"count [{win}]", value)
            for length, base, held in bases:
                for floor in COUNT_FLOORS:
                    ok = held >= floor  # type: ignore[operator]
                    with np.errstate(invalid="ignore", divide="ignore"):
                        add(f"count / previous {length} [{win}, baseline >= {floor}]",
                            np.where(ok & (base > 0), value / base, np.nan))
                    add(f"count - previous {length} [{win}, baseline >= {floor}]", np.where(ok, value - base, np.nan))
            continue
        for ms in min_samples:
            enough = count >= ms
            plain = np.where(enough, value, np.nan)
            add(f"{aggregation} [{win}, min {ms}]", plain)
            for length, base, _held in bases:
                with np.errstate(invalid="ignore", divide="ignore"):
                    add(f"{aggregation} / previous {length} [{win}, min {ms}]",
                        np.where(enough & (base > 0), plain / base, np.nan))
                add(f"{aggregation} - previous {length} [{win}, min {ms}]", plain - base)
            if aggregation == "rate":
                add(f"rate at {WILSON_CONFIDENCE:.0%} confidence [{win}, min {ms}]",
                    np.where(enough, wilson_bound(plain, count, WILSON_CONFIDENCE, upper=not up), np.nan))
    return names, np.column_stack(cols) if cols else np.zeros((len(times), 0))


def earliest_separation(db: sqlite_utils.Database, signal: dict[str, Any], aggregation: str, direction: str,
                        scope: dict[str, tuple[str, ...]], start_ns: int, end_ns: int, *,
                        from_ns: int | None = None, also_incidents: Iterable[tuple[int, int]] = (),
                        step: str = "5m", windows: Iterable[str] = FEATURE_WINDOWS,
                        min_samples: Iterable[int] = FEATURE_MIN_SAMPLES, max_steps: int | None = None,
                        other_groups: Iterable[dict[str, tuple[str, ...]]] = ()) -> Bound:
    """The earliest step (from the first evaluation at or after `from_ns`, default the start) at which a
    threshold rule on `signal` in `scope` pages on the incident [start_ns, end_ns) with no evaluation
    outside it firing: see the module docstring. `also_incidents`: other (start, end) ranges in which a
    page is not false (other page-worthy incidents of the same cohort). A cohort that did not exist before
    the incident has no history to be quiet on: its floor is its first trace's step, unless
    `other_groups`: the other groups of a rule that groups by the cohort's dimensions (every other route, for
    a route's incident): each group's evaluations outside the incident count as outside, so the floor is
    the one of a rule written for every group, not fitted to this one."""
    windows, min_samples = tuple(windows), tuple(min_samples)

    def read(where: dict[str, tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray]:
        frame = samples(db, signal, SampleQuery(scope=where, group_by=(), since_ns=0, until_ns=2**62))
        return frame["t"].to_numpy(np.int64), frame["v"].to_numpy(np.float64)

    t, v = read(scope)
    step_ns = parse_duration(step) * NS
    longest = max(parse_duration(w) for w in windows) * NS
    first_eval = -(-(from_ns if from_ns is not None else start_ns) // step_ns) * step_ns
    empty = Bound(signal, aggregation, direction, None, None, None, None, 0, 0)
    if len(t) == 0:
        return empty
    refs = [r for r in (read(g) for g in other_groups) if len(r[0])]
    lo_t = min([int(t[0])] + [int(r[0][0]) for r in refs])
    hi_t = max([int(t[-1])] + [int(r[0][-1]) for r in refs])
    times = evaluation_grid(lo_t, max(hi_t, end_ns), parse_duration(step))  # as a backtest's grid: the data's range
    names, x = _features(t, v, times, aggregation, direction == "up", windows, min_samples)
    inside = (times >= first_eval) & (times - longest < end_ns)
    if max_steps is not None:
        inside &= times <= first_eval + max_steps * step_ns
    touched = (times > start_ns) & (times - longest < end_ns)
    for a, b in also_incidents:
        touched |= (times > a) & (times - longest < b)
    outside = ~touched
    out_x = x[outside]
    for rt, rv in refs:
        _names, rx = _features(rt, rv, times, aggregation, direction == "up", windows, min_samples)
        out_x = np.vstack([out_x, rx[outside]])
    idx = np.flatnonzero(inside)
    steps = ((times[idx] - first_eval) // step_ns).astype(int)
    single_step, single_feature, pair_step, pair_features = separate(x[idx], steps, out_x, names)
    return Bound(signal, aggregation, direction, single_step, single_feature, pair_step, pair_features,
                 len(idx), int(len(out_x)))


def separate(x_in: np.ndarray, steps: np.ndarray, out_x: np.ndarray, names: list[str],
             pair_limit: int | None = None) -> tuple[int | None, str | None, int | None, tuple[str, str] | None]:
    """The search itself, on feature matrices oriented so that larger is worse (NaN: not judged): the rows of
    the incident's evaluations (`x_in`, at `steps`) against every outside row (`out_x`). The earliest step
    whose row is beyond the worst outside value on one feature (single), and the earliest step whose row is
    not dominated on some pair of features by any one outside row (pair; scanned up to the single step, or
    `pair_limit` rows when that is sooner: a pair cannot be later than a single)."""
    worst = np.nanmax(np.where(np.isfinite(out_x), out_x, -np.inf), axis=0) if len(out_x) else \
        np.full(x_in.shape[1], -np.inf)
    single_step, single_feature = None, None
    beyond = np.isfinite(x_in) & (x_in > worst)
    hit_rows = np.flatnonzero(beyond.any(axis=1))
    if len(hit_rows):
        r = hit_rows[0]
        single_step = int(steps[r])
        single_feature = names[int(np.flatnonzero(beyond[r])[0])]
    # pairs: at step k, D[n, f] = outside n is at least as bad as k on feature f; the pair (i, j) is
    # dominated when some n has both. Scanned only up to the single bound (pairs cannot be later).
    pair_step, pair_features = None, None
    finite_out = np.where(np.isfinite(out_x), out_x, -np.inf).astype(np.float64)
    limit = len(x_in) if single_step is None else int(hit_rows[0]) + 1
    if pair_limit is not None:
        limit = min(limit, pair_limit)
    for r in range(limit):
        row = x_in[r]
        ok = np.flatnonzero(np.isfinite(row))
        if not len(ok):
            continue
        # only the features judged at this row, and only the outside rows at least as bad on one of them
        d = finite_out[:, ok] >= row[ok]
        d = d[d.any(axis=1)].astype(np.float32)
        shared = d.T @ d
        usable = shared == 0
        if usable.any():
            i, j = (int(ok[a]) for a in np.argwhere(usable)[0])
            pair_step, pair_features = int(steps[r]), (names[i], names[j])
            break
    return single_step, single_feature, pair_step, pair_features
