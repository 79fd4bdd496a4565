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
"""
from __future__ import annotations

import math

import numpy as np


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
    k = 0
    for x in before[::-1]:
        if not in_regime(float(x), baseline, after, sign, binary=binary, alpha=alpha):
            break
        k += 1
    return k
