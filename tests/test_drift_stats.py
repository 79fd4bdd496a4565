"""The numpy-only statistics behind drift: exact reference values and calibration under no shift."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracedesk.drift import stats


def test_chi2_survival_matches_known_critical_values():
    # dof=2 has the closed form exp(-x/2); dof=1 and 10 at their textbook 5% critical values.
    assert stats.chi2_sf(5.991464547107979, 2) == pytest.approx(0.05, rel=1e-9)
    assert stats.chi2_sf(3.0, 2) == pytest.approx(math.exp(-1.5), rel=1e-12)
    assert stats.chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-7)
    assert stats.chi2_sf(18.307038053275146, 10) == pytest.approx(0.05, rel=1e-7)
    assert stats.chi2_sf(0.0, 3) == 1.0


def test_kolmogorov_and_normal_tails():
    assert stats.kolmogorov_sf(1.3580986393225507) == pytest.approx(0.05, rel=1e-6)
    assert stats.kolmogorov_sf(1.6276236115189502) == pytest.approx(0.01, rel=1e-6)
    assert stats.normal_sf(1.959963984540054) == pytest.approx(0.025, rel=1e-12)


def test_ks_statistic_exact():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert stats.ks_statistic(a, a) == 0.0
    assert stats.ks_statistic(a, a + 10) == 1.0
    assert stats.ks_statistic(a, np.array([3.0, 4.0, 5.0, 6.0])) == 0.5


def test_two_proportion_and_cohens_h():
    h, p = stats.two_proportion(10, 100, 10, 100)
    assert h == 0.0 and p == 1.0
    h, p = stats.two_proportion(5, 500, 150, 500)
    assert h == pytest.approx(2 * math.asin(math.sqrt(0.3)) - 2 * math.asin(math.sqrt(0.01)))
    z = 0.29 / math.sqrt(0.155 * 0.845 * (2 / 500))  # pooled two-proportion z
    assert p == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)


def test_divergences():
    assert stats.js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert stats.js_divergence(np.array([3.0, 1.0]), np.array([6.0, 2.0])) == pytest.approx(0.0)
    assert stats.total_variation(np.array([1.0, 1.0]), np.array([3.0, 1.0])) == pytest.approx(0.25)
    rows = stats.js_divergence_rows(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[0.0, 1.0], [2.0, 2.0]]))
    assert rows.tolist() == pytest.approx([1.0, 0.0])


def test_benjamini_hochberg_known_example():
    q = stats.benjamini_hochberg([0.01, 0.04, 0.03, 0.005])
    assert q == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert stats.benjamini_hochberg([]) == []


def test_change_point_finds_the_step_and_not_noise():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0.85, 0.05, 300), rng.normal(0.70, 0.05, 100)])
    at, p, shift = stats.change_point(x)
    assert 295 <= at <= 305
    assert p < 0.01
    assert shift == pytest.approx(-0.15, abs=0.02)
    _at, p_flat, _ = stats.change_point(rng.normal(0.85, 0.05, 400))
    assert p_flat > 0.05


def test_tests_are_calibrated_on_identical_distributions():
    """False-alarm rate of each raw test at 5% on 400 no-shift comparisons (reported, must be <= ~5%)."""
    rng = np.random.default_rng(42)
    trials = 400
    ks = chi = prop = 0
    for _ in range(trials):
        a, b = rng.lognormal(5, 1, 300), rng.lognormal(5, 1, 120)
        ks += stats.ks_2samp(a, b)[1] < 0.05
        ca = np.bincount(rng.integers(0, 4, 300), minlength=4)
        cb = np.bincount(rng.integers(0, 4, 120), minlength=4)
        chi += stats.chi2_contingency(ca, cb)[1] < 0.05
        prop += stats.two_proportion(int(rng.binomial(300, 0.1)), 300, int(rng.binomial(120, 0.1)), 120)[1] < 0.05
    rates = {"ks": ks / trials, "chi2": chi / trials, "two_proportion": prop / trials}
    print("false-alarm rate at alpha=0.05 on identical distributions:", rates)
    assert all(r <= 0.075 for r in rates.values()), rates

_samples = st.lists(st.integers(-5, 5), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(_samples, _samples)
def test_ks_statistic_equals_brute_force_cdf_gap(a, b):
    a_arr, b_arr = np.array(a, dtype=float), np.array(b, dtype=float)
    brute = max(abs(np.mean(a_arr <= x) - np.mean(b_arr <= x)) for x in set(a) | set(b))
    assert stats.ks_statistic(a_arr, b_arr) == pytest.approx(brute)
    assert stats.ks_statistic(a_arr, b_arr) == pytest.approx(stats.ks_statistic(b_arr, a_arr))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=3, max_size=3), st.lists(st.integers(0, 20), min_size=3, max_size=3))
def test_divergences_are_bounded_and_symmetric(p, q):
    p_arr, q_arr = np.array(p, dtype=float) + 0.5, np.array(q, dtype=float) + 0.5
    js = stats.js_divergence(p_arr, q_arr)
    assert 0.0 <= js <= 1.0 and js == pytest.approx(stats.js_divergence(q_arr, p_arr))
    assert 0.0 <= stats.total_variation(p_arr, q_arr) <= 1.0
    assert stats.js_divergence_rows(p_arr[None], q_arr[None])[0] == pytest.approx(js)
