"""The changes feed's tail signal: which LLM calls stalled (a 0/1 sample per call).

Why: the feed compares durations as means of log durations (a 10x slowdown of a few spans is one shift, not an
outlier) and shows them as p95. A regression of the tail alone is invisible there: when 4% of one model's calls
stall at the provider for 30-75 s (the fourth week's W4-06), p50 and p95 hold, p99 goes 10.5 s -> 50 s, and the
mean log duration moves by ~0.1 sd, far below the feed's one-sd floor.

What: a call *stalls* when it is slower than STALL_FACTOR times the p99 (linear interpolation, numpy's default)
of the calls of its kind over the range the feed reads; its kind is its requested model and its route (what
decides how long a call takes: who answers, and what is asked: a code review's 14k-token prompt and a chat
turn on the same model are different distributions). Each call is then a 0/1 sample, so the feed scans the
share of stalled calls as a rate: the exact binomial tail against the cohort's own share outside the window,
the effect a log odds ratio, every cohort's series a sum of its calls' samples like any other signal (the
parent-minus-child comparisons that name a change's cohort stay sums of disjoint calls).

Why a fixed threshold per kind, and why twice the p99: a threshold per cohort (each cohort against its own p99)
would give one cohort's calls other samples than its parent's, so a parent minus a child would no longer be the
rest's stalls. Twice the p99 is beyond a call's normal tail: a log-normal spread of sd 1 (a heavy one: p99 10x
the median) puts 0.13% of calls past it (sd 0.3: none), so a stall wave of a few percent is a log odds ratio of
3 or more; at the p99 itself, every normal share is 1% and a 4% wave is 1% -> 5%, a log odds ratio of 1.65,
under the feed's one-sd floor (0.9 on the d scale).

Limits: the p99 is taken over the whole range, the change included. It holds while the stalls are under 1% of
their kind's calls in the range (W4-06: 4% of 10 hours of a week, 0.25%); a kind that stalls more often than
that for longer moves its own p99 into the stalls, and its tail change is left to the mean-duration signal
(which a longer, larger wave does move: 5% of calls 5x slower shift the mean log duration by 0.08). A kind
with fewer than MIN_REFERENCE calls in the range has no p99 worth the name: its calls are not samples.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: a call stalls when slower than this many times the p99 of its kind's calls over the range
STALL_FACTOR = 2.0
#: the quantile (percent) the threshold is a multiple of
QUANTILE = 99.0
#: fewest calls of one kind in the range for its p99 to be a reference (one call in a hundred beyond it)
MIN_REFERENCE = 100
#: what makes calls of one kind (columns of the frame; a missing value is a kind of its own)
KIND_DIMENSIONS: tuple[str, ...] = ("model", "route")


def _codes(column: pd.Series) -> np.ndarray:
    """The column's cells as codes (-1: missing): a categorical's own codes, else factorized."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return np.asarray(column.cat.codes, dtype=np.int64)
    codes, _uniques = pd.factorize(column.astype(object), use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64)


def kinds(frame: pd.DataFrame, dims: tuple[str, ...] = KIND_DIMENSIONS) -> np.ndarray:
    """A code per sample: its kind (the cell of every dimension in `dims` the frame has), 0-based."""
    key = np.zeros(len(frame), dtype=np.int64)
    for dim in dims:
        if dim not in frame.columns:
            continue
        codes = _codes(frame[dim]) + 1  # missing (-1) is a kind of its own
        key = key * (int(codes.max(initial=0)) + 1) + codes
    return np.unique(key, return_inverse=True)[1].reshape(-1).astype(np.int64)


def thresholds(values: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Per sample: STALL_FACTOR x the QUANTILE of its kind's values (NaN for a kind of < MIN_REFERENCE samples).

    The quantile is numpy's linear interpolation (np.percentile's default) over each kind's values."""
    out = np.full(len(values), np.nan)
    if not len(values):
        return out
    order = np.lexsort((values, kind))
    k_sorted, v_sorted = kind[order], values[order]
    starts = np.flatnonzero(np.r_[True, k_sorted[1:] != k_sorted[:-1]])
    sizes = np.diff(np.r_[starts, len(values)])
    pos = (sizes - 1) * (QUANTILE / 100.0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, sizes - 1)
    frac = pos - lo
    below, above = v_sorted[starts + lo], v_sorted[starts + hi]
    q = below + (above - below) * frac
    per_kind = np.where(sizes >= MIN_REFERENCE, STALL_FACTOR * q, np.nan)
    out[order] = np.repeat(per_kind, sizes)
    return out


def stalls(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame (columns t, v = a duration, and dimensions) with v = 1.0 for a call slower than its kind's
    threshold, 0.0 otherwise; calls of a kind without a reference (fewer than MIN_REFERENCE) left out."""
    v = frame["v"].to_numpy(np.float64)
    limit = thresholds(v, kinds(frame))
    keep = np.isfinite(limit) & np.isfinite(v)
    out = frame.assign(v=(v > limit).astype(np.float64))
    if not keep.all():
        out = out[keep].reset_index(drop=True)
    return out
