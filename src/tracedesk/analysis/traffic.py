"""Traffic drops for the changes feed: a cohort that sends far fewer traces than the same hours of comparable days.

What is compared: a cohort's traces against the rest of the traffic in the same buckets, i.e. its share
(as odds: cohort / rest). Traffic that every cohort loses at once (nights, weekends, a holiday, a global dip)
moves the rest as much as the cohort, so the ratio cancels it; a tenant whose traffic stops sees its ratio
fall to 0 whatever the weekday. Cohorts do not share one daily shape (tenants in other time zones: one
sends 5% of the traffic at 03:00 UTC and 38% at 15:00), so a window is compared with the SAME clock hours
of the other days in the range (the window shifted by whole days), and only with days of the same kind
(weekday with weekday, Saturday/Sunday with weekend days): a cohort that only works on weekdays is not
"down" on Saturday, and a weekday is not judged by a weekend. A window with no comparable day is not tested. The
kind of a day is read on each series' own clock (cohort_day_kinds: its day runs from the middle of its night), for
the cohort and for the rest its share is taken of, and a day is comparable when it is the same kind for both: a
Wellington tenant's Saturday starts on the UTC Friday, and is not judged by Thursday's same UTC hours.

Test: with C, R the cohort's and the rest's traces in the window and C', R' in its reference (the shifted
windows), under "the cohort's share did not change" C given C + C' is binomial with p = R / (R + R') (the
comparison of two Poisson counts with exposures R and R'); its lower tail is the p-value, times the number
of windows tried for the cohort (Bonferroni, as the feed's other series), and the feed puts it in its one
Benjamini-Hochberg family. Effect: the log odds ratio of the share on the d scale (changes.LOGIT_TO_D, the
feed's rates), so MIN_D means the same here: at least a fall to about 1/6 of the expected traces. A window
must expect MIN_N traces and its reference hold MIN_BASELINE_N of the cohort's (fewer cannot tell a stop
from a quiet hour). Windows: every start x geometric lengths up to one day (a reference is a whole-day
shift, and a longer window would overlap its own), then the boundaries refined.

Two guards: the cohort's own count must fall too, against its count in the same hours of those days (a share
also falls when ANOTHER cohort bursts: the rest grows); and when a single comparable day is the reference (one
day cannot tell "this day fell" from "that day rose": a burst in its hours), the other kind of day, if it holds
min_baseline_n of the cohort's traces in those hours, must show the fall too. Both must move by sibling_z and
sibling_d_share of the drop's d, the feed's "shows the change too".

Start and end: a stop (the window's largest gap between the cohort's traces covers at least half of it) starts at
the cohort's last trace before the gap and ends at its first trace after it; a partial drop at the
window's bounds.

Which cohorts: values of the demand dimensions (who sends traffic: route, tenant) and their pairs. A model or
prompt version's traffic is a routing decision (a rollout moves it to the next value), not demand.
A pair is named by a single value when that single value's own drop overlaps it; a single value is dropped
when one of its pairs holds the drop (the rest of the value shows none) or when another dimension's value
does (route X falls only by tenant T's traces, and T fell).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from . import changes as _feed
from .binomial import binomial_lower_tail

NS_PER_DAY = 86_400 * 10**9
#: who sends traffic (the cohorts a traffic drop is looked for in)
TRAFFIC_DIMENSIONS: tuple[str, ...] = ("route", "tenant")


@dataclass(frozen=True)
class Limits:
    """The constants, by default the feed's own (analysis.changes: one meaning of each)."""

    min_n: int = _feed.MIN_N  # fewest expected traces in a window
    min_baseline_n: int = _feed.MIN_BASELINE_N  # fewest cohort traces in its reference
    min_series_n: int = _feed.MIN_SERIES_N  # traces over the range for a value to be a cohort
    min_pair_n: int = _feed.MIN_PAIR_N
    min_d: float = _feed.MIN_D
    logit_to_d: float = _feed.LOGIT_TO_D
    sibling_z: float = _feed.SIBLING_Z
    sibling_d_share: float = _feed.SIBLING_D_SHARE


@dataclass
class Drop:
    """The best window of one cohort's traffic (buckets [a, e))."""

    cohort: dict[str, str]
    row: int
    a: int
    e: int
    observed: int  # the cohort's traces in the window
    expected: float  # C' x R / R': what its share on the comparable days predicts
    rest: int  # the other traces in the window
    ref_cohort: int  # C': the cohort's traces in the reference windows
    ref_rest: int
    z: float
    d: float
    tries: int  # windows tested (Bonferroni)
    p: float  # one-sided, times tries, at most 1


def day_kinds(t0: int, width: int, nb: int) -> np.ndarray:
    """Per bucket: 1 on Saturday/Sunday (UTC), else 0 (1970-01-01 was a Thursday)."""
    day = (t0 + np.arange(nb, dtype=np.int64) * width) // NS_PER_DAY
    return ((day + 3) % 7 >= 5).astype(np.int8)


def _night_middles(counts: np.ndarray, t0: int, width: int) -> np.ndarray:
    """Per cohort row of counts (K, B): the time of day (ns after 00:00 UTC) its day starts at (cohort_day_kinds)."""
    k, nb = counts.shape
    bpd = max(1, NS_PER_DAY // width)
    times = t0 + np.arange(nb, dtype=np.int64) * width
    tod = (times % NS_PER_DAY) // width
    profile = np.zeros((k, bpd))
    for j in range(bpd):  # (a few dozen columns: one sum per time of day)
        profile[:, j] = counts[:, tod == j].sum(axis=1)
    half = max(1, bpd // 2)
    ext = np.concatenate([np.zeros((k, 1)), np.cumsum(np.concatenate([profile, profile[:, :half]], axis=1), axis=1)],
                         axis=1)
    stretch = ext[:, half:half + bpd] - ext[:, :bpd]  # traces in the half-day starting at each time of day
    low = stretch.min(axis=1)
    middle = np.zeros(k, dtype=np.int64)
    for row in np.flatnonzero(low <= profile.sum(axis=1) / 4.0):
        quiet = np.flatnonzero(stretch[row] <= low[row] + 1e-9)
        # the run of equally quiet starts, read circularly from the first start after a louder one
        louder = np.flatnonzero(stretch[row] > low[row] + 1e-9)
        origin = int(louder[-1]) + 1 if louder.size else 0
        run = np.sort((quiet - origin) % bpd)
        j = (origin + int(run[(len(run) - 1) // 2])) % bpd
        middle[row] = (j * width + half * width // 2) % NS_PER_DAY
    return middle


def _cohort_days(counts: np.ndarray, t0: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per cohort row of counts (K, B) and bucket: (the number of the cohort's own day holding it, named by the UTC
    day that holds its middle; the bucket that day starts in, which may lie before the range)."""
    nb = counts.shape[1]
    times = t0 + np.arange(nb, dtype=np.int64) * width
    middle = _night_middles(counts, t0, width)[:, None]
    late = middle >= NS_PER_DAY // 2  # a day starting after noon UTC is named by the next UTC day
    day = (times[None, :] - middle) // NS_PER_DAY + late
    start = (day - late) * NS_PER_DAY + middle
    return day, (start - t0) // width


def cohort_day_kinds(counts: np.ndarray, t0: int, width: int) -> np.ndarray:
    """Per cohort row of counts (K, B) and bucket: 1 on the cohort's own Saturday or Sunday, else 0.

    A cohort's day runs from the middle of its night to the next: the middle of the quietest half-day of its
    traffic by time of day over the range (of the run of equally quiet ones: a night of 14 empty hours is centred
    on its 7th), when that half holds at most half of a flat day's share of its traces (1/4: the cohort has a
    night). A day is named by the UTC day that holds its middle (its busy hours). So a Wellington office's
    Saturday starts at about 13:00 UTC on the UTC Friday (01:00 local), a route served from Tokyo, Auckland and
    Bangalore starts its Saturday in the hours all three sleep, and a cohort without a night (busy around the
    clock) keeps the UTC day."""
    day, _start = _cohort_days(counts, t0, width)
    return ((day + 3) % 7 >= 5).astype(np.int8)


def pair_kinds(counts: np.ndarray, total: np.ndarray, t0: int, width: int) -> np.ndarray:
    """Per cohort row (K, B) and bucket: 2 x the kind of the cohort's own day + the kind of the rest's (the other
    traffic, total - counts, read the same way): cohort_day_kinds of each."""
    own = cohort_day_kinds(counts, t0, width)
    rest = cohort_day_kinds(np.maximum(total[None, :] - counts, 0.0), t0, width)
    return (2 * own + rest).astype(np.int8)


def cohort_counts(frame: pd.DataFrame, dims: Sequence[str], t0: int, width: int, nb: int,
                  limits: Limits = Limits(), pairs: bool = True
                  ) -> tuple[list[dict[str, str]], np.ndarray, np.ndarray, dict[tuple[tuple[str, str], ...], np.ndarray]]:
    """(cohorts, their traces per bucket (K, B), all traces per bucket (B,), each cohort's sample mask) of a
    frame with one row per trace (columns t, *dims). Values with min_series_n traces (pairs: min_pair_n)."""
    b = ((frame["t"].to_numpy(np.int64) - t0) // width).clip(0, nb - 1)
    total = np.bincount(b, minlength=nb).astype(np.float64)
    singles: dict[str, dict[str, np.ndarray]] = {}
    for dim in dims:
        if dim not in frame.columns:
            continue
        codes, uniques = pd.factorize(frame[dim].astype(object), use_na_sentinel=True)
        per = np.bincount(codes[codes >= 0], minlength=len(uniques))
        kept = sorted((str(v), i) for i, v in enumerate(uniques)
                      if isinstance(v, str) and v != "" and per[i] >= limits.min_series_n)
        if kept:
            singles[dim] = {v: codes == i for v, i in kept}
    masks: dict[tuple[tuple[str, str], ...], np.ndarray] = {}
    for dim, values in singles.items():
        for v, m in values.items():
            masks[((dim, v),)] = m
    if pairs:
        masks.update(_feed.pair_masks(singles, lambda m: int(m.sum()), limits.min_pair_n))
    keys = list(masks)
    counts = np.zeros((len(keys), nb))
    for row, key in enumerate(keys):
        counts[row] = np.bincount(b[masks[key]], minlength=nb)
    return [dict(k) for k in keys], counts, total, masks


def _lengths(limit: int) -> list[int]:
    out, x = [], 1.0
    while int(x) <= limit:
        if int(x) not in out:
            out.append(int(x))
        x *= 1.4
    if limit not in out:
        out.append(limit)
    return out


def first_buckets(counts: np.ndarray) -> np.ndarray:
    """Per cohort row of counts (K, B): the bucket of its first trace (B for a cohort without any)."""
    seen = counts > 0
    return np.where(seen.any(axis=1), seen.argmax(axis=1), counts.shape[1])


def _evaluate(cc: np.ndarray, cr: np.ndarray, kinds: np.ndarray, bpd: int, a: np.ndarray, e: np.ndarray,
              limits: Limits, first: np.ndarray | None = None, day_start: np.ndarray | None = None
              ) -> tuple[np.ndarray, ...]:
    """Per cohort row (cc, cr: cumulative cohort / rest counts, rows x (B + 1)) and window [a, e) (1-D, shared
    by every row, or 2-D rows x windows): observed, rest, reference cohort and rest counts, z, d, tested.

    `first` (rows,): each cohort's first bucket (first_buckets). A cohort that did not exist yet sent no
    traffic rather than less: no window and no reference day of it starts before its first trace (a tenant
    onboarded on a Tuesday was read as "down" over the days before, its absence against its later share).

    `day_start` (rows x B): the first bucket of the cohort's own day holding each bucket (_cohort_days); with it, a
    window whose traffic moved by an hour rather than fell (_moved) is no drop. Without it no move is looked for."""
    nb = cc.shape[1] - 1
    a2 = a if a.ndim == 2 else np.broadcast_to(a[None, :], (cc.shape[0], a.size))
    e2 = e if e.ndim == 2 else np.broadcast_to(e[None, :], (cc.shape[0], e.size))
    born = np.zeros((cc.shape[0], 1), dtype=np.int64) if first is None else first.astype(np.int64)[:, None]

    def take(c: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return np.take_along_axis(c, np.clip(idx, 0, nb), 1)

    obs = take(cc, e2) - take(cc, a2)
    rest = take(cr, e2) - take(cr, a2)
    # the kind of each bucket's day per row (pair_kinds: rows x B, 2 x the cohort's own + the rest's), or one set
    # for every row (B,: UTC days, for both)
    kinds2 = kinds if kinds.ndim == 2 else np.broadcast_to(3 * kinds[None, :], (cc.shape[0], nb))

    def kind(idx: np.ndarray) -> np.ndarray:
        return np.take_along_axis(kinds2, np.clip(idx, 0, nb - 1), 1)

    k_first = kind(a2)
    k_last = kind(e2 - 1)
    ref_c, ref_r, other_c, other_r, days = (np.zeros(obs.shape) for _ in range(5))
    sames: list[tuple[int, np.ndarray]] = []  # (offset in buckets, which windows take that day as a reference)
    for shift in range(-(nb // bpd) - 1, nb // bpd + 2):
        if shift == 0:
            continue
        sa, se = a2 + shift * bpd, e2 + shift * bpd
        inside = (sa >= born) & (se <= nb)
        s_first, s_last = kind(sa), kind(se - 1)
        # comparable: the same kind of day at both ends for the cohort AND for the rest its share is taken of
        # (the share cancels the rest's weekly pattern only between days of one kind for it too); the other
        # kind of day (the single-day guard): the cohort's other kind at both ends
        same = inside & (s_first == k_first) & (s_last == k_last)
        other = inside & ((s_first >> 1) != (k_first >> 1)) & ((s_last >> 1) != (k_last >> 1))
        if not (same.any() or other.any()):
            continue
        if same.any():
            sames.append((shift * bpd, same))
        c_in, r_in = take(cc, se) - take(cc, sa), take(cr, se) - take(cr, sa)
        ref_c += np.where(same, c_in, 0.0)
        ref_r += np.where(same, r_in, 0.0)
        days += same & (r_in > 0)
        other_c += np.where(other, c_in, 0.0)
        other_r += np.where(other, r_in, 0.0)
    expected, z, d = _score(obs, rest, ref_c, ref_r, limits)
    tested = ((expected >= limits.min_n) & (ref_c >= limits.min_baseline_n) & (rest > 0) & np.isfinite(z)
              & (a2 >= born))
    # one comparable day alone cannot tell "this day fell" from "that day rose" (a burst in the reference's
    # hours): then the other kind of day, when it has enough of the cohort's traffic to judge, must show the
    # drop too (sibling_z, sibling_d_share of it), measured on the cohort's share at the same hours
    _e, z_o, d_o = _score(obs, rest, other_c, other_r, limits)
    judged = (days == 1) & (other_c >= limits.min_baseline_n) & (other_r > 0)
    agrees = (-z_o >= limits.sibling_z) & (d_o >= limits.sibling_d_share * d)
    # and the cohort's own count must fall too, against its count in the same hours of those days (per day): a
    # share also falls when another cohort bursts (the rest grows), and that is not this cohort's drop
    with np.errstate(divide="ignore", invalid="ignore"):
        per_day = 1.0 / (1.0 + days)
        n_abs = obs + ref_c
        z_abs = (obs - n_abs * per_day) / np.sqrt(n_abs * per_day * (1 - per_day))
        d_abs = -limits.logit_to_d * (np.log(obs + 0.5) - np.log((ref_c + 0.5) / np.maximum(days, 1)))
    fell = (-z_abs >= limits.sibling_z) & (d_abs >= limits.sibling_d_share * d)
    z = np.where(tested & (d >= limits.min_d) & ~(judged & ~agrees) & fell, z, np.inf)
    if day_start is not None:
        # a drop whose traces came an hour early or late (a job on a local clock after a daylight-saving change)
        # is no drop: only the windows still standing are read again (few), one flat index per window
        rows_i, cols_i = np.nonzero(np.isfinite(z))
        if rows_i.size:
            a_i = a2[rows_i, cols_i]
            moved = _moved(cc, bpd, rows_i, a_i, e2[rows_i, cols_i], born[rows_i, 0],
                           day_start[rows_i, np.clip(a_i, 0, nb - 1)], [(k, m[rows_i, cols_i]) for k, m in sames],
                           limits)
            z[rows_i[moved], cols_i[moved]] = np.inf
    return obs, rest, ref_c, ref_r, expected, z, d, tested


#: how far a schedule moves when its clock does: daylight saving moves a job on local time by one hour in UTC
#: (either way; zones without it do not move, a half-hour zone's job moves by one hour too), whatever the offset
MOVE_NS = 3_600 * 10**9


def _moved(cc: np.ndarray, bpd: int, rows: np.ndarray, a: np.ndarray, e: np.ndarray, born: np.ndarray,
           d0: np.ndarray, sames: Sequence[tuple[int, np.ndarray]], limits: Limits) -> np.ndarray:
    """Per window (flat: its cohort row, bounds [a, e), the cohort's first bucket, the first bucket of the cohort's
    day holding a, and per reference day its offset and whether the window takes it): whether its traffic moved
    by MOVE_NS (one bucket at least) rather than fell.

    Read the window's day s later (s = +-MOVE_NS) and compare it with the reference days that had the window's
    traffic, on the cohort's own count per day: it moved when, so read, no loss is left (a) in the window (the
    traces it lacks came s later), (b) s before it (what the window holds is what the reference had s before: a
    cohort whose traffic simply stopped had traffic then), and (c) over the cohort's whole day (the same daily
    volume: an outage of the first hour of a day that starts sharply looks moved by (a) and (b), but its day is
    an hour short). A loss is what the drop tests call one (the sibling rule): sibling_z, and at least
    sibling_d_share of the traces the window lacks per day. And (e) the move must explain the window: on those
    days, (b)'s span held that much less s before than at its own time (an edge of the traffic that the move
    carried away; with few traces "no loss" alone proves nothing). So a batch that ran an hour later is no drop,
    one that ran an hour later at half its size is (half its traces are gone), and one that did not run is."""
    nb = cc.shape[1] - 1

    def count(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return cc[rows, np.clip(hi, 0, nb)] - cc[rows, np.clip(lo, 0, nb)]

    def kept(cur: np.ndarray, ref: np.ndarray, n: np.ndarray, lacks: np.ndarray) -> np.ndarray:
        # cur ~ Binomial(cur + ref, 1 / (1 + n)) when the n reference days hold as much per day (the `fell` test)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 1.0 / (1.0 + n)
            total = cur + ref
            z = (cur - total * p) / np.sqrt(total * p * (1 - p))
            loss = ref / n - cur
        lost = (-z >= limits.sibling_z) & (loss >= limits.sibling_d_share * lacks)
        return (n > 0) & ~lost

    step = max(1, int(round(MOVE_NS * bpd / NS_PER_DAY)))
    obs = count(a, e)
    held = [(k, same, np.where(same, count(a + k, e + k), 0.0)) for k, same in sames]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (sum((c for _k, _s, c in held), np.zeros(rows.size))
                / sum((m for _k, m, _c in held), np.zeros(rows.size)))
    # the reference days that had the window's traffic: nearer the reference's mean there than the window's count
    # (a day already on the new clock lacks it as the window does, and says nothing of where it went: with it, a
    # batch moved at half its size would match the mean of two days before the change and two after)
    had = [(k, same & (c > (obs + mean) / 2)) for k, same, c in held]
    ref_w = sum((np.where(m, c, 0.0) for (_k, m), (_k2, _s, c) in zip(had, held)), np.zeros(rows.size))
    n_w = sum((m for _k, m in had), np.zeros(rows.size))
    with np.errstate(divide="ignore", invalid="ignore"):
        lacks = np.where(n_w > 0, ref_w / n_w, 0.0) - obs  # the traces the window lacks per day
    out = np.zeros(rows.size, dtype=bool)
    for s in (step, -step):
        # the cohort's day read s later, cut to the range (and to the cohort's life): the same cut of each
        # reference day that fits whole
        lo, hi = np.maximum(d0, born - s), np.minimum(d0 + bpd, nb - s)
        fits = (a + s >= born) & (e + s <= nb) & (hi > lo)
        # (b) leaves out the first |s| of a window longer than 2|s| read later (the last |s| read earlier): a
        # window holding the change itself has its first hour on the old clock (the reference's traffic s before it
        # is the current's, just before the window: a batch-only cohort's 24 h between two batches 25 h apart)
        if s > 0:
            b_lo, b_hi = np.maximum(a, np.minimum(a + s, e - s)), e
        else:
            b_lo, b_hi = a, np.minimum(e, np.maximum(e + s, a - s))
        ref_b, ref_b0, n_b, ref_d, n_d = (np.zeros(rows.size) for _ in range(5))
        for k, same in had:
            # a reference day already on the window's clock has there what the window should: the lower reading
            ok_b = same & (b_lo - s + k >= born) & (b_hi - s + k <= nb)
            at = count(b_lo + k, b_hi + k)
            ref_b += np.where(ok_b, np.minimum(count(b_lo - s + k, b_hi - s + k), at), 0.0)
            ref_b0 += np.where(ok_b, at, 0.0)
            n_b += ok_b
            ok_d = same & (lo + k >= born) & (hi + k <= nb)
            ref_d += np.where(ok_d, count(lo + k, hi + k), 0.0)
            n_d += ok_d
        # (e) and the reference days had there far fewer s before than at the time: the window's traffic has an
        # edge a move can carry away (with few traces, "no loss" in (a)-(c) alone proves nothing: a quiet hour of
        # a smooth profile is not an hour a move emptied)
        with np.errstate(divide="ignore", invalid="ignore"):
            z_e = (ref_b - ref_b0) / np.sqrt(ref_b + ref_b0)
            edge = (-z_e >= limits.sibling_z) & ((ref_b0 - ref_b) / n_b >= limits.sibling_d_share * lacks)
        out |= (fits & edge & kept(count(a + s, e + s), ref_w, n_w, lacks) & kept(count(b_lo, b_hi), ref_b, n_b, lacks)
                & kept(count(lo + s, hi + s), ref_d, n_d, lacks))
    return out


def _score(obs: np.ndarray, rest: np.ndarray, ref_c: np.ndarray, ref_r: np.ndarray, limits: Limits
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """expected, z (normal approximation of the conditional binomial; negative: fewer) and d of a cohort's
    count against a reference (see the module docstring)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(ref_r > 0, ref_c * rest / ref_r, 0.0)
        pi = rest / (rest + ref_r)
        n = obs + ref_c
        z = (obs - n * pi) / np.sqrt(n * pi * (1 - pi))
        d = -limits.logit_to_d * (np.log((obs + 0.5) / (rest + 0.5)) - np.log((ref_c + 0.5) / (ref_r + 0.5)))
    return expected, z, d


def scan(cohorts: Sequence[dict[str, str]], counts: np.ndarray, total: np.ndarray, t0: int, width: int,
         limits: Limits = Limits()) -> list[Drop]:
    """The best window (most negative z with d >= min_d) of every cohort's traffic, refined, with its p
    (exact binomial tail x windows tried). Cohorts without a testable window are left out."""
    nb = counts.shape[1]
    bpd = NS_PER_DAY // width
    if bpd < 1 or nb <= bpd or not len(cohorts):  # no whole-day shift inside the range: no reference
        return []
    kinds = pair_kinds(counts, total, t0, width)
    day_start = _cohort_days(counts, t0, width)[1]
    first = first_buckets(counts)
    pad = np.zeros((counts.shape[0], 1))
    cc = np.concatenate([pad, np.cumsum(counts, axis=1)], axis=1)
    cr = np.concatenate([pad, np.cumsum(total[None, :] - counts, axis=1)], axis=1)
    rows = counts.shape[0]
    best = np.full(rows, np.inf)
    best_a = np.zeros(rows, dtype=np.int64)
    best_e = np.zeros(rows, dtype=np.int64)
    tries = np.zeros(rows, dtype=np.int64)
    for length in _lengths(bpd):
        starts = np.arange(0, nb - length + 1)
        scored = _evaluate(cc, cr, kinds, bpd, starts, starts + length, limits, first, day_start)
        z, tested = scored[5], scored[7]
        tries += tested.sum(axis=1)
        i = np.argmin(z, axis=1)
        zi = z[np.arange(rows), i]
        better = zi < best
        best = np.where(better, zi, best)
        best_a = np.where(better, starts[i], best_a)
        best_e = np.where(better, starts[i] + length, best_e)
    out = []
    for row in (int(r) for r in np.flatnonzero(np.isfinite(best))):
        a, e = int(best_a[row]), int(best_e[row])
        one_c, one_r, one_first, one_kinds = cc[row:row + 1], cr[row:row + 1], first[row:row + 1], kinds[row:row + 1]
        one_day = day_start[row:row + 1]
        for _ in range(4):  # the best start for the end, then the best end for that start
            moved = False
            starts = np.arange(max(0, e - bpd), e)
            z = _evaluate(one_c, one_r, one_kinds, bpd, starts, np.full(starts.size, e), limits, one_first,
                          one_day)[5][0]
            if z.min() < best[row] - 1e-12:
                a, best[row], moved = int(starts[np.argmin(z)]), float(z.min()), True
            ends = np.arange(a + 1, min(nb, a + bpd) + 1)
            z = _evaluate(one_c, one_r, one_kinds, bpd, np.full(ends.size, a), ends, limits, one_first,
                          one_day)[5][0]
            if z.min() < best[row] - 1e-12:
                e, best[row], moved = int(ends[np.argmin(z)]), float(z.min()), True
            if not moved:
                break
        obs, rest, ref_c, ref_r, expected, z, d, _t = (x[0, 0] for x in _evaluate(
            one_c, one_r, one_kinds, bpd, np.array([a]), np.array([e]), limits, one_first, one_day))
        k, m = int(round(obs)), int(round(obs + ref_c))
        p_one = binomial_lower_tail(k, m, float(rest / (rest + ref_r)))
        out.append(Drop(dict(cohorts[row]), int(row), a, e, k, float(expected), int(round(rest)), int(round(ref_c)),
                        int(round(ref_r)), float(z), float(d), int(tries[row]),
                        min(1.0, p_one * max(int(tries[row]), 1))))
    return out


def shows_drop(counts: np.ndarray, total: np.ndarray, t0: int, width: int, a: int, e: int, d_ref: float,
               limits: Limits = Limits()) -> bool:
    """Whether traffic `counts` (B,) drops over [a, e) by sibling_z and sibling_d_share of d_ref (the test a
    cohort's rest must fail for the drop to be the cohort's own)."""
    nb = counts.shape[0]
    bpd = NS_PER_DAY // width
    pad = np.zeros((1, 1))
    cc = np.concatenate([pad, np.cumsum(counts)[None, :]], axis=1)
    cr = np.concatenate([pad, np.cumsum(total - counts)[None, :]], axis=1)
    limits_rest = replace(limits, min_d=limits.sibling_d_share * d_ref)
    z = _evaluate(cc, cr, pair_kinds(counts[None, :], total, t0, width), bpd, np.array([a]), np.array([e]), limits_rest,
                  first_buckets(counts[None, :]), _cohort_days(counts[None, :], t0, width)[1])[5][0, 0]
    return bool(-z >= limits.sibling_z)


def _order(x: Drop) -> int:
    dim = next(iter(x.cohort))
    return TRAFFIC_DIMENSIONS.index(dim) if dim in TRAFFIC_DIMENSIONS else len(TRAFFIC_DIMENSIONS)


def _larger(y: Drop, x: Drop) -> bool:
    """y lost more traces than x (ties: the earlier dimension)."""
    return (y.expected - y.observed, -_order(y)) > (x.expected - x.observed, -_order(x))


def _overlap(x: Drop, y: Drop) -> bool:
    return x.a < y.e and y.a < x.e


def prune(drops: Sequence[Drop], masks: dict[tuple[tuple[str, str], ...], np.ndarray], b: np.ndarray,
          total: np.ndarray, t0: int, width: int, limits: Limits = Limits()) -> list[Drop]:
    """The drops that name their own cohort (module docstring: which cohorts). `b`: each sample's bucket."""
    nb = total.shape[0]

    def key(x: Drop) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(x.cohort.items()))

    def rest_drops(x: Drop, without: np.ndarray) -> bool:
        m = masks[key(x)] & ~without
        return shows_drop(np.bincount(b[m], minlength=nb).astype(np.float64), total, t0, width, x.a, x.e, x.d, limits)

    singles = [x for x in drops if len(x.cohort) == 1]
    pairs = [x for x in drops if len(x.cohort) == 2]
    kept_singles = []
    for x in singles:
        dim = next(iter(x.cohort))
        inner = [y for y in pairs if set(x.cohort.items()) < set(y.cohort.items()) and _overlap(x, y)]
        # another dimension's value explains x only if it lost more traces (or as many, and comes first in
        # TRAFFIC_DIMENSIONS: one traffic seen as a route and as a tenant is named once)
        across = [y for y in singles if next(iter(y.cohort)) != dim and _overlap(x, y) and _larger(y, x)]
        held = [y for y in inner if not rest_drops(x, masks[key(y)])]
        held += [y for y in across if not rest_drops(x, masks[key(y)])]
        if not held:
            kept_singles.append(x)
    out = list(kept_singles)
    for y in pairs:
        parent_named = any(set(x.cohort.items()) < set(y.cohort.items()) and _overlap(x, y) for x in kept_singles)
        if not parent_named:
            out.append(y)
    return out


def bounds(times: np.ndarray, lo: int, hi: int, ongoing: bool) -> tuple[int, int | None]:
    """(start, end or None) of a drop over [lo, hi) from the cohort's sorted trace times: a stop (the largest
    gap between its traces overlapping the window covers at least half of it) runs from its last trace
    before the gap to its first after it (None: none came back before the range ended); else the window."""
    i = int(np.searchsorted(times, lo, side="left"))
    j = int(np.searchsorted(times, hi, side="left"))
    inside = times[i:j]
    edges = np.concatenate([times[i - 1:i] if i > 0 else [lo], inside, times[j:j + 1] if j < len(times) else [hi]])
    gaps = np.diff(edges)
    if gaps.size:
        g = int(np.argmax(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo)))
        covered = min(int(edges[g + 1]), hi) - max(int(edges[g]), lo)
        if 2 * covered >= hi - lo:
            start = int(edges[g])
            came_back = g + 1 < len(edges) - 1 or j < len(times)
            return start, (int(edges[g + 1]) if came_back else None)
    return lo, (None if ongoing else hi)


@dataclass
class TrafficScan:
    """One feed run's traffic: the candidate drops (their p go in the feed's BH family) and what naming
    them and turning them into findings needs."""

    frame: pd.DataFrame  # one row per trace: t, *dims
    drops: list[Drop]
    masks: dict[tuple[tuple[str, str], ...], np.ndarray]
    bucket: np.ndarray  # each row's bucket
    total: np.ndarray
    t0: int
    width: int
    limits: Limits

    @classmethod
    def run(cls, frame: pd.DataFrame, dims: Sequence[str], t0: int, width: int, nb: int, limits: Limits,
            pairs: bool = True) -> "TrafficScan":
        present = [d for d in TRAFFIC_DIMENSIONS if d in dims and d in frame.columns]
        cohorts, counts, total, masks = cohort_counts(frame, present, t0, width, nb, limits, pairs)
        bucket = ((frame["t"].to_numpy(np.int64) - t0) // width).clip(0, nb - 1)
        return cls(frame, scan(cohorts, counts, total, t0, width, limits), masks, bucket, total, t0, width, limits)

    def findings(self, significant: Sequence[tuple[Drop, float]], name: str, label: str, d_cap: float) -> list[Any]:
        """Findings (analysis.changes.Finding) of the significant (drop, q) pairs that name their own cohort."""
        Finding, _iso, _round = _feed.Finding, _feed._iso, _feed._round

        by_id = {id(x): q for x, q in significant}
        kept = prune([x for x, _q in significant], self.masks, self.bucket, self.total, self.t0, self.width,
                     self.limits)
        t = self.frame["t"].to_numpy(np.int64)
        nb = self.total.shape[0]
        out = []
        for x in kept:
            q = by_id[id(x)]
            lo, hi = self.t0 + x.a * self.width, self.t0 + x.e * self.width
            times = np.sort(t[self.masks[tuple(sorted(x.cohort.items()))]])
            start, end = bounds(times, lo, hi, ongoing=x.e >= nb)
            effect = x.observed - x.expected
            n_in, n_out = x.observed + x.rest, x.ref_cohort + x.ref_rest
            # the traces that did not come, as a share of the range's traffic (the others: traces touched)
            share = max(x.expected - x.observed, 0.0) / max(len(t), 1)
            detail = {"signal": name, "label": label, "baseline": _round(x.expected), "current": float(x.observed),
                      "effect": _round(effect), "d": _round(x.d), "q": float(f"{q:.3g}"), "unit": "traces",
                      "aggregation": "count", "direction": "down", "start": _iso(start), "end": _iso(end),
                      "n": {"baseline": n_out, "current": n_in}}
            out.append(Finding([name], dict(x.cohort), start, end, x.expected, float(x.observed), effect,
                               effect / x.expected if x.expected else None, x.d, -x.z, x.p, q, n_out, n_in, share,
                               _feed.change_impact(x.d, n_in, n_out, share, d_cap), "traces", "count", "down", label, [detail]))
        return out
