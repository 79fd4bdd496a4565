"""Exact binomial tails, summed in log space: the feed's counts are small (a handful of events) and its rates
tiny (a stall rate of 0.05%), where a normal approximation, or 1 minus the other tail, says nothing."""
from __future__ import annotations

import math


def binomial_lower_tail(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (exact for the feed's counts)."""
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0 if k < n else 1.0
    lp, lq = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)
    terms = [base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq for i in range(k + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): the lower tail of the n - X failures, so that a tail of 1e-9 is not
    lost to 1 - (1 - 1e-9)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return binomial_lower_tail(n - k, n, 1.0 - p)
