"""Per-signal comparisons of a reference and a current sample, each producing a `DriftResult`.

Every function takes the rows of ONE cohort: `times` (ns), the signal's values, `current` (bool mask:
row is in the current window) and `row_ids` (rowids of the rows, resolved to example trace ids at the
end of the report), and fills effect, significance, sample sizes, a time series for charts and
example rows from both windows.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from . import stats
from .result import DriftConfig, DriftResult
from .windows import Window, iso

_ROLLING = 6  # buckets in the rolling mean of a series
_KS_95 = 1.358  # Kolmogorov 95% quantile: the KS distance noise alone reaches 5% of the time, per sqrt(n_eff)


@dataclass
class Context:
    config: DriftConfig
    reference: Window
    current: Window
    dimension: str | None
    bucket_ns: int

    def new(self, signal: str, family: str, cohort: str, kind: str, n_ref: int, n_cur: int, unit: str = "") -> DriftResult:
        r = DriftResult(signal=signal, family=family, dimension=self.dimension, cohort=cohort, kind=kind,
                        reference_n=int(n_ref), current_n=int(n_cur), unit=unit)
        need = self.config.min_samples
        if n_ref < need or n_cur < need:
            r.insufficient = True
            r.message = (f"insufficient samples: reference has {n_ref}, current has {n_cur}; "
                         f"need at least {need} in each window")
            if n_ref == 0 and n_cur:
                r.message += " (a new cohort: nothing to compare it with before the current window)"
            elif n_cur == 0 and n_ref:
                r.message += " (the cohort is absent from the current window)"
        return r


# ---------------------------------------------------------------------------------------------
# Shared pieces


def _series(ctx: Context, times: np.ndarray, values: np.ndarray, current: np.ndarray) -> list[dict]:
    """Mean of `values` per time bucket (both windows); a bucket belongs to the window most of its rows do."""
    if times.size == 0:
        return []
    origin = ctx.reference.start_ns
    b = (times - origin) // ctx.bucket_ns
    keys, inv = np.unique(b, return_inverse=True)
    sums = np.bincount(inv, weights=values)
    counts = np.bincount(inv)
    cur_share = np.bincount(inv, weights=current.astype(float)) / counts
    # Rolling mean over the trailing ROLLING buckets (sample-weighted): the slow slide a noisy
    # per-bucket value hides.
    csum, ccount = np.cumsum(sums), np.cumsum(counts)
    lag = np.searchsorted(keys, keys - _ROLLING + 1)  # first bucket inside each trailing span
    prev_sum = np.where(lag > 0, csum[np.maximum(lag - 1, 0)], 0.0)
    prev_count = np.where(lag > 0, ccount[np.maximum(lag - 1, 0)], 0)
    rolling = (csum - prev_sum) / np.maximum(ccount - prev_count, 1)
    out = []
    for k, s, c, w, roll in zip(keys.tolist(), sums.tolist(), counts.tolist(), cur_share.tolist(), rolling.tolist()):
        t = origin + k * ctx.bucket_ns
        out.append({"t_ns": t, "time": iso(t), "value": s / c, "rolling": roll, "n": c,
                    "window": "current" if w >= 0.5 else "reference"})
    return out


def _pick(row_ids: np.ndarray, order: np.ndarray, k: int) -> list[int]:
    # 3k candidates: several rows may share a trace, and trace ids are deduplicated later
    return [int(x) for x in row_ids[order[: 3 * k]]]


def _examples(ctx: Context, row_ids: np.ndarray, values: np.ndarray, current: np.ndarray,
              direction: float) -> dict[str, list[int]]:
    """Current: the rows furthest in the direction of the drift. Reference: the most typical rows."""
    k = ctx.config.examples
    cur_idx = np.flatnonzero(current)
    ref_idx = np.flatnonzero(~current)
    out: dict[str, list[int]] = {"reference": [], "current": []}
    if cur_idx.size:
        sign = 1.0 if direction >= 0 else -1.0
        order = cur_idx[np.argsort(-sign * values[cur_idx], kind="stable")]
        out["current"] = _pick(row_ids, order, k)
    if ref_idx.size:
        centre = np.median(values[ref_idx])
        order = ref_idx[np.argsort(np.abs(values[ref_idx] - centre), kind="stable")]
        out["reference"] = _pick(row_ids, order, k)
    return out


def _clean_rows(times: npt.ArrayLike, values: npt.ArrayLike, current: npt.ArrayLike, row_ids: npt.ArrayLike
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=float)
    keep = ~np.isnan(values)
    return (np.asarray(times, dtype=np.int64)[keep], values[keep], np.asarray(current, dtype=bool)[keep],
            np.asarray(row_ids, dtype=np.int64)[keep])


# ---------------------------------------------------------------------------------------------
# Numeric and rate signals


def numeric(ctx: Context, signal: str, family: str, cohort: str, times: npt.ArrayLike, values: npt.ArrayLike, current: npt.ArrayLike,
            row_ids: npt.ArrayLike,
            *, unit: str = "") -> DriftResult:
    """A continuous value (length, tokens, latency, score): KS distance + Cohen's d."""
    times, values, current, row_ids = _clean_rows(times, values, current, row_ids)
    ref, cur = values[~current], values[current]
    r = ctx.new(signal, family, cohort, "numeric", ref.size, cur.size, unit)
    r.reference_value = float(ref.mean()) if ref.size else None
    r.current_value = float(cur.mean()) if cur.size else None
    r.series = _series(ctx, times, values, current)
    if r.reference_value is not None and r.current_value is not None:
        r.effect = r.current_value - r.reference_value
        r.details = {
            "reference_median": float(np.median(ref)), "current_median": float(np.median(cur)),
            "reference_p95": float(np.percentile(ref, 95)), "current_p95": float(np.percentile(cur, 95)),
            "relative_change": (r.effect / abs(r.reference_value)) if r.reference_value else None,
        }
    r.examples = _examples(ctx, row_ids, values, current, r.effect or 0.0)
    if r.insufficient:
        return r
    d, p = stats.ks_2samp(ref, cur)
    r.magnitude, r.p_value = d, p
    r.rank_score = max(0.0, d - _KS_95 * np.sqrt((ref.size + cur.size) / (ref.size * cur.size)))
    r.effect_size, r.effect_size_name = stats.cohens_d(ref, cur), "cohen_d"
    r._raw = (times, values)
    return r


def rate(ctx: Context, signal: str, family: str, cohort: str, times: npt.ArrayLike, flags: npt.ArrayLike, current: npt.ArrayLike,
         row_ids: npt.ArrayLike) -> DriftResult:
    """A 0/1 flag per row (refusal, JSON output...): change in rate, Cohen's h, two-proportion z-test."""
    times, flags, current, row_ids = _clean_rows(times, flags, current, row_ids)
    ref, cur = flags[~current], flags[current]
    r = ctx.new(signal, family, cohort, "rate", ref.size, cur.size, "rate")
    r.reference_value = float(ref.mean()) if ref.size else None
    r.current_value = float(cur.mean()) if cur.size else None
    r.series = _series(ctx, times, flags, current)
    if r.reference_value is not None and r.current_value is not None:
        r.effect = r.current_value - r.reference_value
        r.details = {"reference_count": int(ref.sum()), "current_count": int(cur.sum())}
    r.examples = _examples(ctx, row_ids, flags, current, r.effect or 0.0)
    p_ref, p_cur = r.reference_value, r.current_value
    # an empty window (possible with min_samples=0) has no rate to test
    if r.insufficient or r.effect is None or p_ref is None or p_cur is None:
        return r
    h, p = stats.two_proportion(int(ref.sum()), ref.size, int(cur.sum()), cur.size)
    r.magnitude, r.p_value = abs(r.effect), p
    se = np.sqrt(p_ref * (1 - p_ref) / ref.size + p_cur * (1 - p_cur) / cur.size)
    r.rank_score = max(0.0, abs(r.effect) - 1.96 * float(se))
    r.effect_size, r.effect_size_name = h, "cohen_h"
    r._raw = (times, flags)
    return r


def locate_change(ctx: Context, r: DriftResult) -> None:
    """When did it start? A CUSUM change point over both windows, in time order."""
    if r._raw is None:
        return
    times, values = r._raw
    order = np.argsort(times, kind="stable")
    at, p, _shift = stats.change_point(values[order], permutations=ctx.config.permutations,
                                       seed=ctx.config.seed)
    if at >= 0:
        r.change_point_p = p
        if p <= ctx.config.alpha:  # a change point is only named when the step is significant
            r.change_point_ns = int(times[order][at])


# ---------------------------------------------------------------------------------------------
# Categorical signals


def categorical(ctx: Context, signal: str, family: str, cohort: str, times: npt.ArrayLike, labels: Iterable[Any],
                current: npt.ArrayLike, row_ids: npt.ArrayLike) -> DriftResult:
    """A label per row (finish reason, language): total variation + chi-square. The values shown are
    the share of the category whose share changed most."""
    labels = np.asarray([("(none)" if v is None else str(v)) for v in labels], dtype=object)
    current = np.asarray(current, dtype=bool)
    times = np.asarray(times, dtype=np.int64)
    row_ids = np.asarray(row_ids, dtype=np.int64)
    cats, codes = np.unique(labels, return_inverse=True)
    ref_counts = np.bincount(codes[~current], minlength=cats.size)
    cur_counts = np.bincount(codes[current], minlength=cats.size)
    n_ref, n_cur = int(ref_counts.sum()), int(cur_counts.sum())
    r = ctx.new(signal, family, cohort, "categorical", n_ref, n_cur, "share")
    if n_ref and n_cur:
        ref_share, cur_share = ref_counts / n_ref, cur_counts / n_cur
        top = int(np.argmax(np.abs(cur_share - ref_share)))
        flags = (codes == top).astype(float)
        r.reference_value, r.current_value = float(ref_share[top]), float(cur_share[top])
        r.effect = r.current_value - r.reference_value
        r.details = {
            "category": str(cats[top]),
            "reference_shares": {str(c): float(s) for c, s in zip(cats, ref_share) if s > 0},
            "current_shares": {str(c): float(s) for c, s in zip(cats, cur_share) if s > 0},
        }
        r.series = _series(ctx, times, flags, current)
        r.examples = _examples(ctx, row_ids, flags, current, r.effect)
        if not r.insufficient:
            r.magnitude = stats.total_variation(ref_counts.astype(float), cur_counts.astype(float))
            _chi, r.p_value = stats.chi2_contingency(ref_counts, cur_counts)
            r.effect_size, r.effect_size_name = r.magnitude, "total_variation"
            r.rank_score = max(0.0, r.magnitude - _KS_95 * np.sqrt((n_ref + n_cur) / (n_ref * n_cur)))
            r._raw = (times, flags)
    return r


# ---------------------------------------------------------------------------------------------
# Hashed text (topic mix)


def topic(ctx: Context, cohort: str, times: np.ndarray, matrix: np.ndarray, current: np.ndarray, row_ids: np.ndarray,
          texts: Sequence[str]) -> DriftResult:
    """Jensen-Shannon divergence of the hashed bag-of-words of prompts, permutation-tested.

    Sampling noise alone gives a positive divergence, so the magnitude is the divergence beyond the
    mean of the permutation null (what two random halves of the same traffic would show)."""
    current = np.asarray(current, dtype=bool)
    times = np.asarray(times, dtype=np.int64)
    row_ids = np.asarray(row_ids, dtype=np.int64)
    keep = matrix.sum(axis=1) > 0
    matrix, current, times, row_ids = matrix[keep], current[keep], times[keep], row_ids[keep]
    texts = [t for t, k in zip(texts, keep) if k]
    n_ref, n_cur = int((~current).sum()), int(current.sum())
    r = ctx.new("input_topic_mix", "input", cohort, "divergence", n_ref, n_cur, "js_divergence")
    if not n_ref or not n_cur:
        return r
    ref_dist = matrix[~current].sum(axis=0)
    observed = stats.js_divergence(ref_dist, matrix[current].sum(axis=0))
    # Per-row divergence from the reference mix: a time series and which prompts are most unlike it.
    row_div = stats.js_divergence_rows(matrix, np.broadcast_to(ref_dist, matrix.shape))
    r.series = _series(ctx, times, row_div, current)
    r.examples = _examples(ctx, row_ids, row_div, current, 1.0)
    r.details = {"words_gained": _gained_words(texts, current)}
    r.current_value = observed
    r.effect_size, r.effect_size_name = observed, "js_divergence"
    if r.insufficient:
        return r
    m32 = matrix.astype(np.float32)
    total = m32.sum(axis=0)

    def statistic(labels: np.ndarray) -> np.ndarray:
        cur_sum = labels.astype(np.float32) @ m32
        return stats.js_divergence_rows(cur_sum.astype(float), (total - cur_sum).astype(float))

    p, null_mean, null_hi = _permute(ctx, statistic, observed, current)
    r.reference_value = null_mean
    r.effect = observed - null_mean
    r.magnitude = max(0.0, observed - null_mean)
    r.rank_score = max(0.0, observed - null_hi)
    r.p_value = p
    r._raw = (times, row_div)
    return r


def _gained_words(texts: Sequence[str], current: np.ndarray, k: int = 8) -> list[str]:
    from .text import _WORD_RE

    ref: Counter[str] = Counter()
    cur: Counter[str] = Counter()
    for text, is_cur in zip(texts, current):
        (cur if is_cur else ref).update(set(_WORD_RE.findall(text.lower())))
    n_ref, n_cur = max(1, int((~current).sum())), max(1, int(current.sum()))
    scored = [((c / n_cur) - (ref.get(w, 0) / n_ref), w) for w, c in cur.items() if c >= 3]
    scored.sort(reverse=True)
    return [w for s, w in scored[:k] if s > 0.05]


def _permute(ctx: Context, statistic: Callable[[np.ndarray], Any], observed: float, rows_current: np.ndarray) -> tuple[float, float, float]:
    """Permutation test of a "larger = more drift" statistic: (p-value, null mean, null 97.5% quantile).

    Window labels are shuffled over the pooled rows. With a few hundred permutations the smallest
    attainable p is ~1/200, too coarse to survive the false-discovery adjustment over a whole report;
    when the observed value is beyond every permuted one, the tail is extrapolated from a gamma fitted
    to the null's mean and variance (divergences are chi-square-like)."""
    rng = np.random.default_rng(ctx.config.seed)
    base = np.asarray(rows_current, dtype=bool)
    labels = rng.permuted(np.broadcast_to(base, (ctx.config.permutations, base.size)), axis=1)
    null = np.asarray(statistic(labels), dtype=float)
    exceed = int(np.sum(null >= observed - 1e-12))
    p = (1 + exceed) / (1 + null.size)
    mean, var = float(null.mean()), float(null.var())
    if exceed == 0 and var > 0 and mean > 0:
        p = min(p, stats.gamma_sf(mean * mean / var, observed / (var / mean)))
    return p, mean, float(np.quantile(null, 0.975))


# ---------------------------------------------------------------------------------------------
# Retrieval: which documents come back


def _top_masks(counts: np.ndarray, k: int) -> np.ndarray:
    """Row-wise boolean mask of the k most frequent documents (present ones only; ties -> lower code)."""
    counts = np.atleast_2d(counts)
    n_docs = counts.shape[1]
    key = counts.astype(np.int64) * (n_docs + 1) + (n_docs - np.arange(n_docs))  # unique per row
    mask = np.zeros(counts.shape, dtype=bool)
    kk = min(k, n_docs)
    top = np.argpartition(-key, kk - 1, axis=1)[:, :kk]
    np.put_along_axis(mask, top, True, axis=1)
    return mask & (counts > 0)


def _jaccard_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    union = (a | b).sum(axis=1)
    return np.where(union == 0, 1.0, (a & b).sum(axis=1) / np.maximum(union, 1))


def retrieval_docs(ctx: Context, cohort: str, times: np.ndarray, docs: np.ndarray, current: np.ndarray,
                   row_ids: np.ndarray) -> list[DriftResult]:
    """Top-k overlap (Jaccard of each window's most-retrieved documents) and the share of current
    retrievals returning documents never retrieved in the reference window.

    `docs` is an (n, rank_depth) array of document ids (None where fewer came back): only the
    documents that rank first count, which is what a reindex changes."""
    cfg = ctx.config
    current = np.asarray(current, dtype=bool)
    times = np.asarray(times, dtype=np.int64)
    row_ids = np.asarray(row_ids, dtype=np.int64)
    docs = np.asarray(docs, dtype=object).reshape(len(times), -1)
    codes_flat, names = pd.factorize(docs.ravel(), use_na_sentinel=True)
    codes = codes_flat.reshape(docs.shape)  # -1 = no document at that rank
    valid = codes >= 0
    has_docs = valid.any(axis=1)
    n_docs = max(1, len(names))
    k = cfg.top_k
    overlap = ctx.new("retrieval_topk_overlap", "retrieval", cohort, "overlap", int((~current & has_docs).sum()),
                      int((current & has_docs).sum()), "jaccard")
    new_docs = ctx.new("retrieval_new_docs", "retrieval", cohort, "rate", overlap.reference_n, overlap.current_n,
                       "share")
    if not overlap.reference_n or not overlap.current_n:
        return [overlap, new_docs]

    def window_counts(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes[mask][valid[mask]], minlength=n_docs)

    ref_counts, cur_counts = window_counts(~current & has_docs), window_counts(current & has_docs)
    ref_top, cur_top = _top_masks(ref_counts, k)[0], _top_masks(cur_counts, k)[0]
    jac = float(_jaccard_rows(ref_top[None], cur_top[None])[0])
    new_share = float(cur_counts[ref_counts == 0].sum() / max(1, cur_counts.sum()))

    # Permutation null, vectorized over permutations: shuffle window labels across (thinned) retrievals.
    idx = np.flatnonzero(has_docs)
    parts = []
    for mask in (~current[idx], current[idx]):
        sel = idx[mask]
        if sel.size > cfg.max_retrievals:
            sel = sel[np.linspace(0, sel.size - 1, cfg.max_retrievals).astype(int)]
        parts.append(sel)
    idx = np.concatenate(parts)
    base = current[idx]
    rng = np.random.default_rng(cfg.seed)
    labels = rng.permuted(np.broadcast_to(base, (cfg.permutations, base.size)), axis=1)  # (P, m)
    occ_row, occ_rank = np.nonzero(valid[idx])
    occ_doc = codes[idx][occ_row, occ_rank]
    occ_cur = labels[:, occ_row]  # (P, occurrences)
    perm = np.repeat(np.arange(cfg.permutations), occ_doc.size)
    flat_doc = np.tile(occ_doc, cfg.permutations)
    cur_flag = occ_cur.ravel()
    size = cfg.permutations * n_docs
    null_cur = np.bincount(perm[cur_flag] * n_docs + flat_doc[cur_flag], minlength=size).reshape(-1, n_docs)
    null_ref = np.bincount(perm[~cur_flag] * n_docs + flat_doc[~cur_flag], minlength=size).reshape(-1, n_docs)
    null_jac_a = _jaccard_rows(_top_masks(null_ref, k), _top_masks(null_cur, k))
    null_new_a = (np.where(null_ref == 0, null_cur, 0).sum(axis=1) / np.maximum(1, null_cur.sum(axis=1)))

    # Per-retrieval values for the series and examples.
    safe = np.where(valid, codes, 0)
    is_new = ((ref_counts[safe] == 0) & valid).any(axis=1).astype(float)
    top_hit = (ref_top[safe] & valid).sum(axis=1) / np.maximum(1, valid.sum(axis=1))
    sel = has_docs
    ref_names, cur_names = set(names[ref_top].tolist()), set(names[cur_top].tolist())

    overlap.reference_value = float(null_jac_a.mean())
    overlap.current_value = jac
    overlap.effect = jac - overlap.reference_value
    overlap.effect_size, overlap.effect_size_name = 1.0 - jac, "jaccard_distance"
    overlap.details = {
        "top_k": k, "rank_depth": docs.shape[1],
        "vanished": sorted(ref_names - cur_names)[:20],
        "appeared": sorted(cur_names - ref_names)[:20],
        "reference_value_is": "expected overlap under no drift (permutation mean)",
        "series_value": "share of each retrieval's top documents that are in the reference top-k",
    }
    overlap.series = _series(ctx, times[sel], top_hit[sel], current[sel])
    overlap.examples = _examples(ctx, row_ids[sel], top_hit[sel], current[sel], -1.0)

    new_docs.reference_value = float(null_new_a.mean())
    new_docs.current_value = new_share
    new_docs.effect = new_share - new_docs.reference_value
    new_docs.effect_size, new_docs.effect_size_name = new_docs.effect, "share_difference"
    new_docs.details = {
        "new_documents": int(((cur_counts > 0) & (ref_counts == 0)).sum()),
        "vanished_documents": int(((ref_counts > 0) & (cur_counts == 0)).sum()),
        "reference_documents": int((ref_counts > 0).sum()),
        "current_documents": int((cur_counts > 0).sum()),
        "reference_value_is": "expected share under no drift (permutation mean)",
    }
    new_docs.series = _series(ctx, times[sel], is_new[sel], current[sel])
    new_docs.examples = _examples(ctx, row_ids[sel], is_new[sel], current[sel], 1.0)

    if not overlap.insufficient:
        exceed = int(np.sum(null_jac_a <= jac + 1e-12))
        p = (1 + exceed) / (1 + cfg.permutations)
        sd = float(null_jac_a.std())
        if exceed == 0 and sd > 0:
            p = min(p, stats.normal_sf((overlap.reference_value - jac) / sd))
        overlap.p_value = p
        overlap.magnitude = max(0.0, overlap.reference_value - jac)
        overlap.rank_score = max(0.0, float(np.quantile(null_jac_a, 0.025)) - jac)
        overlap._raw = (times[sel], top_hit[sel])
    if not new_docs.insufficient:
        exceed = int(np.sum(null_new_a >= new_share - 1e-12))
        p = (1 + exceed) / (1 + cfg.permutations)
        sd = float(null_new_a.std())
        if exceed == 0 and sd > 0:
            p = min(p, stats.normal_sf((new_share - new_docs.reference_value) / sd))
        new_docs.p_value = p
        new_docs.magnitude = max(0.0, new_docs.effect)
        new_docs.rank_score = max(0.0, new_share - float(np.quantile(null_new_a, 0.975)))
        new_docs._raw = (times[sel], is_new[sel])
    return [overlap, new_docs]
