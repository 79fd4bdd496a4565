"""Cohort figures without building the exploded frame (analysis.metrics._cohort_figures): each sample
counts once per cohort its membership cell lists, in the order cohort_sql.explode gives, so every figure
equals the exploded frame's (held to exact values here, and to the explode path)."""
from __future__ import annotations

import pandas as pd

from tracedesk import cohorts, signals
from tracedesk.analysis import metrics
from tracedesk.store import cohort_sql

AGGS = ["count", "sum", "mean", "rate", "p50", "p95"]


def _explode_path(frame: pd.DataFrame, name: str, dim: cohorts.Dimension) -> pd.DataFrame:
    exploded = cohort_sql.explode(frame[["v", name]], {name: dim})
    keys = exploded[name].astype(object).where(exploded[name].notna(), metrics.MISSING)
    return signals.figures(exploded, AGGS, keys)


def test_membership_lists_duplicates_and_missing_cells() -> None:
    frame = pd.DataFrame({"v": [1.0, 2.0, 4.0, 8.0, 16.0, 0.0],
                          "model": ["a,b", "b", None, "", " a , a", "b"]})
    got = metrics._cohort_figures(frame, "model", cohorts.BY_NAME["model"], AGGS)
    # (none): 4, 8 | a: 1, 16, 16 (" a , a" lists a twice) | b: 1, 2, 0
    assert list(got.index) == ["(none)", "a", "b"]
    assert got["count"].tolist() == [2.0, 3.0, 3.0]
    assert got["sum"].tolist() == [12.0, 33.0, 3.0]
    assert got["mean"].tolist() == [6.0, 11.0, 1.0]
    assert got["rate"].tolist() == [1.0, 1.0, 2 / 3]
    assert got["p50"].tolist() == [6.0, 16.0, 1.0]
    assert got["p95"].tolist() == [7.8, 16.0, 1.9]
    pd.testing.assert_frame_equal(got, _explode_path(frame, "model", cohorts.BY_NAME["model"]), check_exact=True)


def test_no_list_keeps_values_unsplit_and_family_maps_members() -> None:
    plain = pd.DataFrame({"v": [1.0, 3.0, 5.0], "model": [" a ", "b", " a "]})
    got = metrics._cohort_figures(plain, "model", cohorts.BY_NAME["model"], ["count", "mean"])
    assert list(got.index) == [" a ", "b"]  # no cell lists several: nothing is split or stripped
    assert got["mean"].tolist() == [3.0, 3.0]
    family = pd.DataFrame({"v": [2.0, 4.0, 6.0],
                           "model_family": ["gpt-4o-2024-08-06,gemini-2.5-flash-preview-09-2025", "gpt-4o", None]})
    dim = cohorts.MODEL_FAMILY
    got = metrics._cohort_figures(family, "model_family", dim, AGGS)
    assert list(got.index) == ["(none)", "gemini-2.5-flash", "gpt-4o"]
    assert got["sum"].tolist() == [6.0, 2.0, 6.0]
    pd.testing.assert_frame_equal(got, _explode_path(family, "model_family", dim), check_exact=True)


def test_non_text_cohort_values_take_the_explode_path() -> None:
    dim = cohorts.resolve("tier", bare_mapped=True)
    frame = pd.DataFrame({"v": [1.0, 2.0, 4.0], "tier": pd.Series([2, 1, 2], dtype=object)})
    got = metrics._cohort_figures(frame, "tier", dim, ["count", "mean"])
    assert list(got.index) == [1, 2]
    assert got["mean"].tolist() == [2.0, 2.5]


def test_explode_repeats_each_row_once_per_member_in_order() -> None:
    frame = pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0, 5.0], "model": ["a,b", None, "", " a , a", 7],
                          "route": ["x", "y", "z", "w", "v"]})
    out = cohort_sql.explode(frame, {"model": cohorts.BY_NAME["model"]})
    assert out["v"].tolist() == [1.0, 1.0, 2.0, 3.0, 4.0, 4.0, 5.0]
    assert out["route"].tolist() == ["x", "x", "y", "z", "w", "w", "v"]
    # a missing, empty or non-text cell is one row without a value
    assert out["model"].tolist() == ["a", "b", None, None, "a", "a", None]
    assert list(out.index) == list(range(7))
