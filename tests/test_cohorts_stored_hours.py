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
from hypothesis import given, settings
from hypothesis import strategies as st
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


_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
_decimals = st.integers(-(10**12), 10**12).flatmap(lambda i: st.sampled_from([i / 1.0, i / 1e3, i / 1e6]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_floats, _decimals), max_size=60) | st.lists(_decimals, min_size=1, max_size=60),
       st.booleans())
def test_value_blobs_give_back_every_value_bit_for_bit(values: list[float], ascending: bool) -> None:
    v = np.sort(np.asarray(values, dtype=np.float64)) if ascending else np.asarray(values, dtype=np.float64)
    back = store_hours.unpack_values(store_hours.pack_values(v, ascending=ascending))
    assert back.dtype == np.float64 and back.tobytes() == v.tobytes()


def test_sorted_durations_are_stored_as_gaps_of_decimal_digits() -> None:
    # ms from millisecond stamps and from a clock of 1/8 ms: ints / 10**3, the gaps 12000, 125 x 299, 950750
    v = np.concatenate([12.0 + np.arange(300) * 0.125, [1000.125]])
    blob = store_hours.pack_values(v, ascending=True)
    assert blob[:3] == bytes([store_hours.ASCENDING_DECIMALS, 3, 4]) and len(blob) == 34
    assert len(store_hours.pack_values(v)) == 401  # the float64s, deflated: smaller than the digits unsorted
    assert store_hours.pack_values(v)[0] == store_hours.FLOATS
    assert store_hours.unpack_values(blob).tolist() == v.tolist()
    # a signal kept in sample order (not ascending) is never stored as gaps
    assert store_hours.pack_values(np.array([3.0, 1.0, 2.0] * 100), ascending=True)[:3] == bytes(
        [store_hours.DECIMALS, 0, 1])
    assert store_hours.pack_values(np.array([0.1 + 0.2, 1.0] * 100))[0] == store_hours.FLOATS  # 0.30000000000000004


def test_the_sample_weeks_stored_durations_are_gaps(copy_db: str) -> None:
    import zlib

    db = connect(copy_db)
    assert cohort_hours.stored(db) is not None
    layouts: dict[tuple[str, int], int] = {}
    stored, as_floats = 0, 0
    for signal, blob in db.execute("SELECT signal, vals FROM cohort_hours WHERE vals IS NOT NULL AND "
                                   "signal IN ('trace_duration', 'ttft')"):
        layouts[(signal, blob[0])] = layouts.get((signal, blob[0]), 0) + 1
        if signal == "trace_duration":
            stored += len(blob)
            as_floats += len(zlib.compress(store_hours.unpack_values(blob).astype("<f8").tobytes(), 1))
    # the generator's durations are whole milliseconds: every cohort-hour's but one (a lone trace, where the
    # float is shorter) are gaps; its TTFTs are rarely decimals of 9 digits or fewer
    assert layouts == {("trace_duration", store_hours.ASCENDING_DECIMALS): 3582, ("trace_duration", store_hours.FLOATS): 1,
                       ("ttft", store_hours.FLOATS): 164, ("ttft", store_hours.ASCENDING_DECIMALS): 4}
    assert stored < as_floats / 2  # 189,815 B against 400,719 as the float64s deflated (the previous layout)


def test_the_whole_set_is_built_in_pieces_and_holds_the_rows_of_one_read(copy_db: str, monkeypatch: pytest.MonkeyPatch
                                                                          ) -> None:
    from tracedesk.store import feed_samples

    def build(piece_traces: int) -> tuple[list[Any], list[Any], list[tuple[int | None, int | None]]]:
        db = connect(copy_db)
        reads: list[tuple[int | None, int | None]] = []
        frames = cohort_hours._frames
        monkeypatch.setattr(feed_samples, "PIECE_TRACES", piece_traces)
        monkeypatch.setattr(cohort_hours, "_frames", lambda d, lo, hi: reads.append((lo, hi)) or frames(d, lo, hi))
        with store_hours.write_transaction(db):
            assert cohort_hours._build(db, None, cohort_hours.key(db))
        monkeypatch.undo()
        rows = db.execute("SELECT * FROM cohort_hours ORDER BY hour, dim, cohort, signal").fetchall()
        members = db.execute("SELECT * FROM cohort_hour_members ORDER BY hour, dim, signal").fetchall()
        db.conn.close()
        return rows, members, reads

    whole = build(10**9)
    pieces = build(500)  # the sample week: 3,605 traces over 168 hours
    assert whole[2] == [(None, None)]
    assert len(pieces[2]) == 8 and pieces[2][0][0] is None and pieces[2][-1][1] is None
    assert all(b + 1 == c for (_a, b), (c, _d) in zip(pieces[2], pieces[2][1:]))  # adjacent, no hour left out
    assert pieces[0] == whole[0] and pieces[1] == whole[1] and len(whole[0]) > 1000


def test_the_aggregates_are_keyed_by_the_files_that_decide_a_verdict():
    """The per-hour aggregates depend on refusal and PII verdicts, so their key digests the checkers' code: the
    same modules the feed's stored samples key (store.feed_samples._checkers), not the verdicts' storage, whose
    change rebuilt every set for nothing (64 s at 10M spans)."""
    from pathlib import Path

    from tracedesk.analysis import refusals
    from tracedesk.ingest import redact

    root = Path(cohort_hours.__file__).resolve().parent.parent
    assert {root.joinpath(*p) for p in cohort_hours.CHECKER_FILES} == {Path(refusals.__file__).resolve(),
                                                                       Path(redact.__file__).resolve()}
