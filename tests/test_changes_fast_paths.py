"""The feed's shortcuts compute what the plain computation does (issue 15: the feed on 1M spans under 3 s):
bucket sums of disjoint cohorts from one bincount per family (the same additions in the same order: equal bit for
bit), and the scan's z and d with the pooled moments taken per row (the outside is the row minus the inside)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracedesk.analysis import changes as C

ROUTES = ["billing", "refunds", "search", "a,b"]  # "a,b" makes route a membership-list dimension
MODELS = ["m1", "m2", "m1,m2"]
ODD = ["1", 1, True, 1.0, None]  # cells Python calls equal, and a missing one: cohorts "1", "True", "1.0"


def _frame(draw_rows: list[tuple[int, float, int, int, int, int]], list_routes: bool) -> pd.DataFrame:
    routes = ROUTES if list_routes else ROUTES[:3]
    return pd.DataFrame({
        "t": [r[0] for r in draw_rows], "y": [r[1] for r in draw_rows],
        "route": pd.Series([routes[r[2] % len(routes)] for r in draw_rows], dtype=object),
        "tenant": pd.Series([f"t{r[3]}" for r in draw_rows], dtype=object),
        "model": pd.Series([MODELS[r[4]] for r in draw_rows], dtype=object),
        "odd": pd.Series([ODD[r[5]] for r in draw_rows], dtype=object)})


ROW = st.tuples(st.integers(0, 10_000), st.floats(-5, 50, allow_nan=False), st.integers(0, 3), st.integers(0, 3),
                st.integers(0, 2), st.integers(0, 4))


def _one_per_row(*args: object, **kwargs: object) -> tuple[np.ndarray, list]:
    k = args[4]
    assert isinstance(k, int)
    return np.zeros(k, dtype=bool), []


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=400), st.booleans(), st.booleans())
def test_family_sums_equal_one_bincount_per_row_bit_for_bit(rows, list_routes, pairs):
    frame = _frame(rows, list_routes)
    dims = ["route", "tenant", "model", "odd"]
    # small thresholds' worth of data: lower them so that values and pairs become rows
    old = (C.MIN_SERIES_N, C.MIN_PAIR_N)
    C.MIN_SERIES_N, C.MIN_PAIR_N = 1, 1
    family = C._family_rows
    try:
        fast = C.build_grid(frame, dims, 0, 100, 101, pairs=pairs)
        C._family_rows = _one_per_row  # type: ignore[assignment]
        plain = C.build_grid(frame, dims, 0, 100, 101, pairs=pairs)
    finally:
        C._family_rows = family  # type: ignore[assignment]
        C.MIN_SERIES_N, C.MIN_PAIR_N = old
    assert fast.keys == plain.keys
    for a, b in ((fast.n, plain.n), (fast.s, plain.s), (fast.q, plain.q)):
        assert a.tobytes() == b.tobytes()


def test_families_cover_single_value_dimensions_and_their_pairs_only():
    rows = [(k * 37 % 10_000, float(k % 7), k % 4, k % 3, k % 3, k % 5) for k in range(300)]
    frame = _frame(rows, list_routes=True)
    old = (C.MIN_SERIES_N, C.MIN_PAIR_N)
    C.MIN_SERIES_N, C.MIN_PAIR_N = 1, 1
    seen: list[np.ndarray] = []
    family = C._family_rows

    def spy(*args: object, **kwargs: object) -> tuple[np.ndarray, list]:
        done, families = family(*args, **kwargs)  # type: ignore[arg-type]
        seen.append(done)
        return done, families
    try:
        C._family_rows = spy  # type: ignore[assignment]
        grid = C.build_grid(frame, ["route", "tenant", "model", "odd"], 0, 100, 101)
    finally:
        C._family_rows = family  # type: ignore[assignment]
        C.MIN_SERIES_N, C.MIN_PAIR_N = old
    filled = {grid.keys[i] for i in np.flatnonzero(seen[0])}
    # route and model hold membership lists ("a,b", "m1,m2"): a sample in several rows, one bincount per row
    assert all(dim in ("tenant", "odd") for key in filled for dim, _v in key)
    assert (("tenant", "t0"),) in filled and (("odd", "1"),) in filled
    assert (("odd", "1"), ("tenant", "t2")) in filled
    assert not any(v == "*" for key in filled for _d, v in key)


@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=3, max_size=60), st.integers(1, 50),
       st.sampled_from([1.0, -1.0]))
def test_row_moments_give_the_pooled_z_and_d_of_inside_and_outside(values, cut, sign):
    y = np.array(values)
    cut = min(cut, len(y) - 1)
    n_in, s_in, q_in = np.array([[cut]], dtype=float), np.array([[y[:cut].sum()]]), np.array([[(y[:cut] ** 2).sum()]])
    totals = (np.array([[len(y)]], dtype=float), np.array([[y.sum()]]), np.array([[(y ** 2).sum()]]))
    n_out, s_out, q_out = totals[0] - n_in, totals[1] - s_in, totals[2] - q_in
    z, d = C._stats(n_in, s_in, q_in, n_out, s_out, q_out, sign, totals=totals)
    # the general path (moments of inside + outside per window), on scalars
    z0, d0 = C._stats(n_in[0, 0], s_in[0, 0], q_in[0, 0], n_out[0, 0], s_out[0, 0], q_out[0, 0], sign)
    assert np.allclose(z, z0, rtol=1e-9, atol=1e-9) and np.allclose(d, d0, rtol=1e-9, atol=1e-9)


def test_a_rate_row_gets_the_log_odds_d_without_comparing_windows():
    y = np.array([0.0] * 30 + [1.0] * 6)
    n_in, s_in, q_in = np.array([[6.0]]), np.array([[6.0]]), np.array([[6.0]])
    totals = (np.array([[36.0]]), np.array([[6.0]]), np.array([[6.0]]))
    n_out, s_out, q_out = totals[0] - n_in, totals[1] - s_in, totals[2] - q_in
    z, d = C._stats(n_in, s_in, q_in, n_out, s_out, q_out, 1.0, totals=totals, binary_rows=np.array([[True]]))
    # log odds: inside 6.5/7 -> 13, outside 0.5/31 -> 1/61; times sqrt(3)/pi
    assert float(d[0, 0]) == float(C._rate_d(n_in, s_in, n_out, s_out, 1.0)[0, 0])
    assert abs(float(d[0, 0]) - np.log(13 * 61) * C.LOGIT_TO_D) < 1e-12
    assert y.sum() == 6.0 and float(z[0, 0]) > 0


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 400), st.integers(0, 400), st.integers(0, 4000), st.integers(0, 4000),
       st.sampled_from([1.0, -1.0]), st.sampled_from([0.25, 1.0, 2.5]))
def test_the_scans_rate_effect_test_is_the_log_odds_ratio_reaching_the_bound(s_in, extra_in, s_out, extra_out,
                                                                             sign, bound):
    """The scan asks only whether a rate's effect reaches MIN_D: from products of the smoothed counts, the
    answer _rate_d's logarithms give (away from the bound itself, where rounding may differ)."""
    n_in, n_out = np.array([float(s_in + extra_in)]), np.array([float(s_out + extra_out)])
    d = C._rate_d(n_in, np.array([float(s_in)]), n_out, np.array([float(s_out)]), sign)
    reaches = C._rate_d_at_least(n_in, np.array([float(s_in)]), n_out, np.array([float(s_out)]), sign, bound)
    if abs(d[0] - bound) > 1e-9:
        assert bool(reaches[0]) == bool(d[0] >= bound)


def test_strided_starts_are_views() -> None:
    assert C._run(np.arange(0, 600, 5)) == slice(0, 596, 5)
    assert C._run(np.array([0, 5, 11])) is None
    assert C._run(np.arange(3, 40)) == slice(3, 40)


def test_a_long_change_is_dated_to_its_bucket_though_long_windows_start_on_a_stride() -> None:
    """A window of 60 buckets starts every 6th bucket in the scan; the best start among its neighbours and
    _refine's exact boundaries date a shift from bucket 203 to 263 exactly."""
    assert _scanned_and_refined(seed=7, shifted=(203, 263)) == (203, 263)


def _scanned_and_refined(seed: int, shifted: tuple[int, int], nb: int = 672) -> tuple[int, int]:
    """The (start, end) bucket the scan then _refine give one series of nb buckets of 20 standard normal samples,
    shifted by 1.5 sd over buckets [shifted[0], shifted[1])."""
    rng = np.random.default_rng(seed)
    y = rng.normal(0.0, 1.0, (1, nb * 20))
    y[0, shifted[0] * 20:shifted[1] * 20] += 1.5
    n = np.full((1, nb), 20.0)
    s = y.reshape(1, nb, 20).sum(axis=2)
    q = (y * y).reshape(1, nb, 20).sum(axis=2)
    cums = C._cums(n, s, q)
    parents = np.full((1, 2), -1, dtype=np.int64)
    best = C._scan(cums, cums, parents, np.array([0]), nb, 1.0)[0]
    refined = C._refine(cums, cums, parents, [best], nb, 1.0)[0]
    return refined.a, refined.e


def test_since_starts_stand_for_every_start_once() -> None:
    """The "since a, still going" windows start a tenth of their length apart (each the last start before
    the window one stride longer), every start from 1 to nb - 1 stood for by exactly one: the same Bonferroni
    count as scanning them all."""
    starts, stands_for = C._since_starts(672)
    assert len(starts) == 59 and starts[0] == 7 and list(starts[-12:]) == list(range(660, 672))
    assert list(stands_for[:4]) == [7, 60, 55, 50] and int(stands_for.sum()) == 671
    assert list(np.diff(starts)) == [C._stride(672 - int(a)) for a in starts[1:]]
    assert [list(C._since_starts(nb)[0]) for nb in (1, 2, 3)] == [[], [1], [1, 2]]


@pytest.mark.parametrize("change_at", [140, 401, 630, 661])
def test_an_ongoing_change_is_dated_to_its_bucket_though_since_windows_start_on_a_stride(change_at) -> None:
    """A shift that lasts to the end of the range, from any bucket: the since-window scan keeps the best start
    between its strided neighbours, and _refine dates it exactly, the window still open (e == nb). (From bucket
    134 or earlier it would cover more than ONGOING_SHARE of the series: no finding.)"""
    assert _scanned_and_refined(seed=change_at, shifted=(change_at, 672)) == (change_at, 672)
