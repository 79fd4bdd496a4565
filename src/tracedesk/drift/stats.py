"""Two-sample tests and divergences with numpy only (scipy is not a dependency).

Every test returns a p-value under the null "both windows come from the same distribution". The
asymptotic formulas are the textbook ones (Kolmogorov distribution with Stephens' small-sample
correction, two-proportion z, Pearson chi-square via the regularized incomplete gamma function);
where no closed form fits (divergences of hashed text, top-k document overlap, change points) a
permutation test with a fixed seed is used, so a report is reproducible run to run.
"""
from __future__ import annotations

import math

import numpy as np

# --------------------------------------------------------------------------------------------
# Numeric samples


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Largest gap between the two empirical CDFs (0 = identical, 1 = disjoint)."""
    a = np.sort(np.asarray(a, dtype=float))
    b = np.sort(np.asarray(b, dtype=float))
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def kolmogorov_sf(lam: float) -> float:
    """P(K > lam) for the Kolmogorov distribution."""
    if lam < 0.2:
        return 1.0
    k = np.arange(1, 101)
    total = float(2.0 * np.sum((-1.0) ** (k - 1) * np.exp(-2.0 * (k * lam) ** 2)))
    return min(1.0, max(0.0, total))


def ks_2samp(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov: (D, asymptotic p-value). Conservative when values tie."""
    d = ks_statistic(a, b)
    ne = a.size * b.size / (a.size + b.size)
    root = math.sqrt(ne)
    return d, kolmogorov_sf((root + 0.12 + 0.11 / root) * d)


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """Standardized mean difference (b - a) / pooled sd; 0 when both are constant and equal."""
    va, vb = float(np.var(a, ddof=1)) if a.size > 1 else 0.0, float(np.var(b, ddof=1)) if b.size > 1 else 0.0
    pooled = math.sqrt(((a.size - 1) * va + (b.size - 1) * vb) / max(1, a.size + b.size - 2))
    diff = float(np.mean(b) - np.mean(a))
    if pooled == 0.0:
        return 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
    return diff / pooled


# --------------------------------------------------------------------------------------------
# Proportions and categories


def normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def two_proportion(k_a: int, n_a: int, k_b: int, n_b: int) -> tuple[float, float]:
    """Cohen's h for the change in a rate, and the two-sided pooled z-test p-value."""
    p_a, p_b = k_a / n_a, k_b / n_b
    h = 2.0 * math.asin(math.sqrt(p_b)) - 2.0 * math.asin(math.sqrt(p_a))
    pooled = (k_a + k_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
    if se == 0.0:
        return h, 1.0
    return h, min(1.0, 2.0 * normal_sf(abs(p_b - p_a) / se))


def _gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) (series below a+1, continued fraction above)."""
    if x <= 0.0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(1000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    # Lentz's continued fraction
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(log_front) * h)


def gamma_sf(shape: float, x: float) -> float:
    """P(X > x) for a Gamma(shape, scale=1) variable."""
    return _gamma_q(shape, x)


def chi2_sf(x: float, dof: int) -> float:
    """P(chi-square with `dof` degrees of freedom > x)."""
    if dof <= 0:
        return 1.0
    return _gamma_q(dof / 2.0, x / 2.0)


def chi2_contingency(counts_a: np.ndarray, counts_b: np.ndarray) -> tuple[float, float]:
    """Pearson chi-square test of homogeneity for two count vectors over the same categories."""
    table = np.vstack([counts_a, counts_b]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    return stat, chi2_sf(stat, table.shape[1] - 1)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Half the L1 distance between two distributions (the KS distance for a binary variable)."""
    p = p / p.sum() if p.sum() else p
    q = q / q.sum() if q.sum() else q
    return float(0.5 * np.abs(p - q).sum())


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (0 = identical, 1 = disjoint support)."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    p = p / p.sum()
    q = q / q.sum()
    m = 0.5 * (p + q)

    def kl(x: np.ndarray) -> float:
        mask = x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / m[mask])))

    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))


def js_divergence_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise JS divergence (bits) between matrices of unnormalized counts."""
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-300)
    q = q / np.maximum(q.sum(axis=1, keepdims=True), 1e-300)
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kp = np.where(p > 0, p * np.log2(p / m), 0.0)
        kq = np.where(q > 0, q * np.log2(q / m), 0.0)
    return np.maximum(0.0, 0.5 * kp.sum(axis=1) + 0.5 * kq.sum(axis=1))


# --------------------------------------------------------------------------------------------
# Resampling


def change_point(
    values: np.ndarray, *, permutations: int = 199, seed: int = 0, max_points: int = 2000
) -> tuple[int, float, float]:
    """Most likely single change in mean of a time-ordered series (CUSUM), with a permutation p-value.

    Returns (index of the first value after the change, p-value, shift in mean after - before).
    Long series are thinned evenly to `max_points` (the index refers to the original series).
    """
    x = np.asarray(values, dtype=float)
    n = x.size
    if n < 8:
        return -1, 1.0, 0.0
    idx = np.arange(n)
    if n > max_points:
        idx = np.linspace(0, n - 1, max_points).astype(int)
    y = x[idx]
    m = y.size

    def cusum_max(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        centred = rows - rows.mean(axis=-1, keepdims=True)
        s = np.cumsum(centred, axis=-1)[..., :-1]
        k = np.arange(1, m)
        # Scale by sqrt(k (m-k) / m) so ends are not favoured (standardized CUSUM).
        scaled = np.abs(s) / np.sqrt(k * (m - k) / m)
        return scaled.max(axis=-1), scaled.argmax(axis=-1)

    sd = y.std()
    if sd == 0.0:
        return -1, 1.0, 0.0
    obs, at = cusum_max(y[None, :])
    rng = np.random.default_rng(seed)
    perms = rng.permuted(np.broadcast_to(y, (permutations, m)), axis=1)
    null, _ = cusum_max(perms)
    p = float((1 + np.sum(null >= obs[0] - 1e-12)) / (1 + permutations))
    split = int(at[0]) + 1
    shift = float(y[split:].mean() - y[:split].mean())
    return int(idx[split]), p, shift


def benjamini_hochberg(pvalues: list[float]) -> list[float]:
    """BH-adjusted q-values (false discovery rate), same order as the input."""
    p = np.asarray(pvalues, dtype=float)
    n = p.size
    if n == 0:
        return []
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out.tolist()
