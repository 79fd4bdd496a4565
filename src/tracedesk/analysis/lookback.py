"""Dating a step to the sample: which of the samples just before a change's window already belong to it.

The feed's scan places a change on a bucket grid (a week: 15-minute buckets), and its exact boundary search
picks the start bucket with the highest z. A sparse cohort's first changed sample can sit in the bucket before
that start, among normal samples (including the bucket would dilute the window's mean more than the one
changed sample adds), or alone before a gap of empty buckets: the reported start is then the next changed
sample, half an hour or more after the change became visible (a retry loop whose first looping trace came
32 minutes before the second).

Once the change point is found, the samples before its window are read back one at a time, newest first. A
sample belongs to the new regime when both hold:

- it is beyond what the baseline gives with small probability: the share of the baseline's samples at least
  as bad as it (the empirical one-sided tail, the sample itself counted among them, so it is never 0) is at
  most `alpha` (the feed's ALPHA). No distribution is assumed (tool-call counts are discrete, latencies
  skewed); with the feed's smallest baseline (20 samples) one sample alone can reach 1/20;
- it is more likely under the window's samples than under the baseline's: the likelihood ratio of two
  normals with the window's and the baseline's means and one variance (the feed's z pools the variance of
  inside and outside), which is above 1 exactly when the sample lies past the midpoint of the two means in
  the change's direction (whatever the variance: a window of identical values does not make every other
  value impossible); for a 0/1 series, of a Bernoulli fitted to each (rates smoothed by half a sample, as
  the feed's log odds).

The look-back stops at the first sample consistent with the baseline (failing either test), so under no
change it moves the start with probability at most `alpha` (the tail test alone), and it never skips over a
normal sample. A sample is always compared on the feed's scale (durations as log1p).

A 0/1 series (a rate) is read back by stretches instead: a rate's change is a higher chance of a bad event,
and most of its samples, before and inside the window, are still good ones (a stall wave of 4% leaves 96% of
the calls normal), so a good sample says nothing about which regime it came from and cannot stop the look-back.
What can belong to the change is the stretch from an earlier bad event to the window: read back over the bad
events, newest first, each extends the start to it while the stretch from it to the window

- is beyond what the baseline gives with small probability: the binomial tail of its bad events among its
  samples at the baseline's rate (the share of the baseline's samples that are bad, the stretch counted among
  them, so it is never 0) is at most `alpha`;
- is more likely under the window's rate than under the baseline's (the Bernoulli likelihoods of its samples,
  as above).

A stretch of one bad sample is the sample test above exactly (its tail is the baseline's bad share), so a run of
bad samples just before the window is taken as before. Under no change the last bad event before the window is
a geometric number of samples back, and its stretch's tail is at most `alpha` with probability `alpha`.
"""
from __future__ import annotations

import math

import numpy as np


from .binomial import binomial_upper_tail


def _log_bernoulli(x: float, n: int, ones: float) -> float:
    p = (ones + 0.5) / (n + 1.0)
    return math.log(p) if x >= 0.5 else math.log1p(-p)


def in_regime(x: float, baseline: np.ndarray, after: np.ndarray, sign: float, *, binary: bool,
              alpha: float) -> bool:
    """Whether sample `x` belongs to the regime of `after` rather than `baseline` (see the module docstring);
    `sign` +1 when up is the change's direction."""
    if not len(baseline) or not len(after):
        return False
    tail = float(np.count_nonzero(sign * baseline >= sign * x)) / len(baseline)
    if tail > alpha:
        return False
    if binary:
        lr = (_log_bernoulli(x, len(after), float(after.sum()))
              - _log_bernoulli(x, len(baseline), float(baseline.sum())))
    else:  # one variance for both (as the feed's z): the log likelihood ratio's sign is the side of the midpoint
        lr = sign * (x - 0.5 * (float(baseline.mean()) + float(after.mean())))
    return lr > 0


def regime_samples(before: np.ndarray, baseline: np.ndarray, after: np.ndarray, sign: float, *, binary: bool,
                   alpha: float) -> int:
    """How many of the last samples of `before` (the cohort's samples before the window, oldest first) belong
    to the new regime: read newest first, up to the first that does not. `baseline` holds the samples the
    change is measured against (outside the window, `before` included), `after` the window's samples."""
    if binary:
        return _regime_stretch(before, baseline, after, sign, alpha=alpha)
    k = 0
    for x in before[::-1]:
        if not in_regime(float(x), baseline, after, sign, binary=binary, alpha=alpha):
            break
        k += 1
    return k


def stretch_in_regime(stretch: np.ndarray, baseline: np.ndarray, after: np.ndarray, sign: float, *,
                      alpha: float) -> bool:
    """Whether the 0/1 samples of `stretch` (from a bad event to the window) belong to the regime of `after`
    rather than `baseline` (see the module docstring); bad is 1 when `sign` is +1, 0 when it is -1."""
    if not len(stretch) or not len(baseline) or not len(after):
        return False
    bad = 1.0 if sign > 0 else 0.0
    m = len(stretch)
    k = int(np.count_nonzero((stretch >= 0.5) == (bad >= 0.5)))
    p0 = float(np.count_nonzero((baseline >= 0.5) == (bad >= 0.5))) / len(baseline)
    if binomial_upper_tail(k, m, p0) > alpha:
        return False
    lr = 0.0
    for x, count in ((bad, k), (1.0 - bad, m - k)):
        if count:
            lr += count * (_log_bernoulli(x, len(after), float(after.sum()))
                           - _log_bernoulli(x, len(baseline), float(baseline.sum())))
    return lr > 0


def _regime_stretch(before: np.ndarray, baseline: np.ndarray, after: np.ndarray, sign: float, *,
                    alpha: float) -> int:
    """regime_samples of a 0/1 series: the samples back to the earliest bad event whose stretch to the window
    belongs to the new regime, reading the bad events newest first up to the first whose stretch does not."""
    bad = (before >= 0.5) if sign > 0 else (before < 0.5)
    k = 0
    for j in np.flatnonzero(bad)[::-1]:
        if not stretch_in_regime(before[j:], baseline, after, sign, alpha=alpha):
            break
        k = len(before) - int(j)
    return k
