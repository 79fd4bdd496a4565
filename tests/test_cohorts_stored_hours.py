"""The Overview's and Cohorts page's unfiltered figures from the per-hour cohort aggregates
(analysis.cohort_hours, store.cohort_hours) equal, value for value, the figures metrics computes from
the samples: on the sample week, on the third week (written independently of this code), and after
more data is ingested into a database whose aggregates were built (folded in by the feed's refresh at
the end of the ingest, or left dirty and read from the samples).
"""
from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from weeks.third_fixtures import third_week, third_week_db  # noqa: F401  (pytest fixtures)

from tracedesk.analysis import cohort_hours, metrics
from tracedesk.ingest import ingest_paths
from tracedesk.store import cohort_hours as store_hours
from tracedesk.store import connect, query


def _copy(src: str, dst: Path) -> str:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return str(dst)


def _views(db: Any) -> dict[str, Any]:
    """Every unfiltered figure the first look shows: the Overview's KPIs, over time (hourly and daily
    buckets) and worst cohorts, the matrix of every browse dimension (read together, as the worst
    cohorts read them) and the Cohorts page's default matrix (read alone)."""
    out: dict[str, Any] = {
        "kpis": metrics.kpis(db),
        "timeseries": metrics.timeseries(db),
        "timeseries_1D": metrics.timeseries(db, freq="1D"),
        "worst": metrics.worst_cohorts(db, top=50),
        "matrix:route": metrics.cohort_matrix(db, "route"),
        "health": metrics.monitoring_health(db),
    }
    for dim, matrix in metrics.matrices(db, cohort_hours.DIMENSIONS).items():
        out[f"matrices:{dim}"] = matrix
    # the Cohorts page's two windows: whole days (from the hours' aggregates), and an empty one
    lo, hi = query.time_bounds(db)
    day = 86_400 * 10**9
    first, last = lo // day * day, (hi // day + 1) * day
    mid = first + (last - first) // day // 2 * day
    out["compare"] = metrics.compare_windows(db, "model", (first, mid), (mid, last))
    # the Overview's evaluator table: unfiltered, and over whole days (both from the evaluator rows)
    out["eval_summary"] = metrics.eval_summary(db)
    out["eval_summary_days"] = metrics.eval_summary(db, query.Filters(start_ns=first, end_ns=mid))
    out["compare_empty"] = metrics.compare_windows(db, "route", (first - 2 * day, first - day), (first, mid))
    return out


def _from_samples(db: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The same views computed from the samples (the aggregates switched off, nothing kept)."""
    with monkeypatch.context() as m:
        m.setattr(metrics, "_stored", lambda *a, **k: None)
        m.setattr(metrics, "_stored_eval_tallies", lambda *a, **k: None)
        for attr in ("_td_frames", "_td_signal_frames"):
            if hasattr(db, attr):
                getattr(db, attr).clear()
        return _views(db)


def _same(new: dict[str, Any], old: dict[str, Any]) -> None:
    assert new.keys() == old.keys()
    for name in new:
        a, b = new[name], old[name]
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
        elif name == "health":
            assert a == b
        else:
            assert a.keys() == b.keys()
            for k in a:
                same = (a[k] == b[k]) or (isinstance(a[k], float) and isinstance(b[k], float)
                                          and math.isnan(a[k]) and math.isnan(b[k]))
                assert same, (name, k, a[k], b[k])


def _check(path: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    db = connect(path)
    kept = cohort_hours.stored(db)
    assert kept is not None, "the aggregates were not built on a writable file"
    assert store_hours.stored_key(db) == cohort_hours.key(db)
    new = _views(db)
    assert kept is cohort_hours.stored(db)  # the figures above came from the aggregates
    _same(new, _from_samples(db, monkeypatch))
    return db


def test_sample_week_figures_equal_the_samples(copy_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = _check(copy_db, monkeypatch)
    kpis = metrics.kpis(db)
    assert kpis["traces"] == db.execute("SELECT COUNT(*) FROM traces").fetchone()[0]


def test_third_week_figures_equal_the_samples(third_week_db: Any, tmp_path: Path,  # noqa: F811
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _check(_copy(third_week_db.db, tmp_path / "third.db"), monkeypatch)


def _split_files(files: list[Path]) -> tuple[list[str], list[str]]:
    """Two days of the third week, one after the other (every file family of each day)."""
    return ([str(f) for f in sorted(files) if "06-13" in f.name],
            [str(f) for f in sorted(files) if "06-14" in f.name])


@pytest.mark.parametrize("feed_samples", [True, False], ids=["folded-by-ingest", "left-dirty"])
def test_figures_after_more_data_is_ingested(third_week: Any, tmp_path: Path,  # noqa: F811
                                             monkeypatch: pytest.MonkeyPatch, feed_samples: bool) -> None:
    first, rest = _split_files(list(third_week.files))
    assert rest, "the third week comes in several files"
    path = str(tmp_path / "grown.db")
    ingest_paths(path, first)  # builds the aggregates at the end (analysis.feed_ready)
    db = connect(path)
    assert store_hours.stored_key(db) == cohort_hours.key(db)
    before = db.execute("SELECT COUNT(*) FROM cohort_hours").fetchone()[0]
    assert before > 0
    db.close()
    rebuilt: list[Any] = []
    real_build = cohort_hours._build
    monkeypatch.setattr(cohort_hours, "_build", lambda d, r, k: rebuilt.append(r) or real_build(d, r, k))
    ingest_paths(path, rest, feed_samples=feed_samples)
    db = connect(path)
    if feed_samples:  # the feed's refresh at the end of the ingest rebuilt the hours it cleared, not the set
        assert rebuilt and all(r is not None for r in rebuilt)
        assert store_hours.dirty_ranges(db) == []
    else:  # nothing folded in: the dirty hours are read from the samples
        assert store_hours.dirty_ranges(db)
    monkeypatch.setattr(cohort_hours, "_build", real_build)
    _check(path, monkeypatch)
    if not feed_samples:  # reads leave the marks to the feed: its refresh folds them in
        from tracedesk.analysis import feed_ready

        assert store_hours.dirty_ranges(connect(path))
        assert feed_ready.prepare(connect(path))
        assert store_hours.dirty_ranges(connect(path)) == []
    fresh = connect(_copy(path, tmp_path / "fresh.db"))
    store_hours.drop(fresh)  # a set built from scratch over all the data holds the same rows
    fresh.conn.commit()
    assert cohort_hours.stored(fresh) is not None
    rows = "SELECT * FROM cohort_hours ORDER BY hour, dim, cohort, signal"
    assert fresh.execute(rows).fetchall() == connect(path).execute(rows).fetchall()


def test_read_only_file_without_aggregates_reads_samples(copy_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite_utils

    db = connect(copy_db)
    expected = {"kpis": metrics.kpis(db), "matrix": metrics.cohort_matrix(db, "model")}
    store_hours.drop(db)
    db.conn.commit()
    db.close()
    ro = connect(sqlite_utils.Database(sqlite3.connect(f"file:{copy_db}?mode=ro", uri=True)))
    assert cohort_hours.stored(ro) is None  # nothing stored, nothing can be: the samples answer
    _same({"kpis": metrics.kpis(ro), "matrix": metrics.cohort_matrix(ro, "model")}, expected)


def test_exact_sums_are_exact() -> None:
    from fractions import Fraction

    rng = np.random.default_rng(7)
    values = np.concatenate([rng.lognormal(-6, 3, 3000), -rng.lognormal(0, 2, 500), [0.0, 5e-324, 1e300]])
    groups = rng.integers(0, 5, len(values))
    sums = store_hours.exact_sums(groups, values, 6)
    for g in range(6):
        exact = sum((Fraction(float(x)) for x in values[groups == g]), Fraction(0))
        assert Fraction(sums[g], 1 << store_hours.SCALE) == exact
        assert store_hours.decode_sum(store_hours.encode_sum(sums[g])) == sums[g]
        assert store_hours.to_float(sums[g]) == math.fsum(values[groups == g])


@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_percentile_is_pandas_quantile(q: float) -> None:
    rng = np.random.default_rng(11)
    for n in (1, 2, 3, 17, 1000):
        v = rng.lognormal(5, 2, n).round(2)
        expected = pd.Series(v).groupby(np.zeros(n)).quantile(q).iloc[0]
        assert cohort_hours._percentile(v.copy(), q) == expected
