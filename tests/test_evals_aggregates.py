"""The Evaluations page's figures aggregated in SQLite (ws.evals.histogram / by_cohort / review_queue):
exact counts on a hand-made store, equal to the same figures over every evaluation row, and a p10 from
(score, count) pairs equal to pandas' quantile of the expanded sample."""
from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracedesk
from tracedesk import store
from tracedesk.evals import results
from tracedesk.store.eval_views import QUEUE_COLUMNS
from tracedesk.models import Evaluation, Span

T0 = 1_764_000_000_000_000_000


def _trace(i: int, route: str, models: tuple[str, ...]) -> list[Span]:
    t = f"{i:032x}"
    root = Span(t, f"{i:08x}{0:08x}", "agent", kind="AGENT", start_ns=T0 + i * 10**9, end_ns=T0 + i * 10**9 + 10**8,
                duration_ms=100.0, route=route)
    llms = [Span(t, f"{i:08x}{j + 1:08x}", "chat", parent_span_id=root.span_id, kind="LLM", model=m,
                 start_ns=T0 + i * 10**9 + j + 1, end_ns=T0 + i * 10**9 + 10**7, duration_ms=10.0, route=route)
            for j, m in enumerate(models)]
    return [root, *llms]


@pytest.fixture
def db(db_path):
    spans = (_trace(1, "billing", ("gpt-4o",)) + _trace(2, "billing", ("gpt-4o", "claude-3")) +
             _trace(3, "support", ("claude-3",)) + _trace(4, "support", ()))
    t = [f"{i:032x}" for i in range(5)]
    root = lambda i: f"{i:08x}{0:08x}"  # noqa: E731 - the judged span is each trace's root
    evals = [
        Evaluation(t[1], root(1), "g", score=0.05, passed=False, source="judge"),
        Evaluation(t[1], None, "g", score=0.15, passed=False, source="judge"),
        Evaluation(t[2], root(2), "g", score=0.15, passed=True, source="judge"),
        Evaluation(t[2], None, "g", score=1.0, passed=True, source="judge"),
        Evaluation(t[3], root(3), "g", score=0.95, passed=True, source="judge"),
        Evaluation(t[3], None, "g", score=1.2, passed=None, source="imported",
                   metadata={"note": "outside [0, 1]"}),
        Evaluation(t[4], root(4), "g", score=None, error="judge timed out", source="judge"),
        Evaluation(t[4], None, "other", score=0.5, passed=True, source="judge"),
    ]
    conn = store.connect(db_path)
    store.write_batch(conn, spans, evals)
    conn.close()
    return db_path


def test_histogram_counts_each_bin_once_per_cohort(db):
    ws = tracedesk.open(db)
    hist = ws.evals.histogram("g", "route")
    assert hist.to_dict("records") == [
        {"route": "billing", "bin_start": 0.0, "bin_end": 0.1, "count": 1},
        {"route": "billing", "bin_start": 0.1, "bin_end": 0.2, "count": 2},
        {"route": "billing", "bin_start": 0.9, "bin_end": 1.0, "count": 1},  # 1.0 falls in the last bin
        {"route": "support", "bin_start": 0.9, "bin_end": 1.0, "count": 1},  # 1.2 is outside every bin
    ]
    # a trace of two models counts in both (the judged roots carry no model: their trace's list is read)
    by_model = ws.evals.histogram("g", "model")
    assert sorted(map(tuple, by_model[["model", "bin_start", "count"]].values.tolist())) == [
        ("claude-3", 0.1, 1), ("claude-3", 0.9, 2), ("gpt-4o", 0.0, 1), ("gpt-4o", 0.1, 2), ("gpt-4o", 0.9, 1)]
    rows = ws.evals.scores()
    for by in results.COHORT_COLUMNS:  # the same bins as counting every evaluation row
        pd.testing.assert_frame_equal(
            ws.evals.histogram("g", by).sort_values([by, "bin_start"]).reset_index(drop=True),
            results.histogram_counts(results.counts_from_frame(rows, "g", by), by)
            .sort_values([by, "bin_start"]).reset_index(drop=True))
    ws.close()


def test_by_cohort_and_queue_equal_the_row_computation(db):
    ws = tracedesk.open(db)
    frame = ws.evals.scores()
    table = ws.evals.by_cohort("g", "route")
    assert table.to_dict("records") == [
        {"name": "g", "route": "billing", "n": 4, "mean": pytest.approx(0.3375), "pass_rate": 0.5,
         "p10": pytest.approx(0.08)},
        {"name": "g", "route": "support", "n": 2, "mean": pytest.approx(1.075), "pass_rate": 1.0,
         "p10": pytest.approx(0.975)},
    ]
    for by in results.COHORT_COLUMNS:
        pd.testing.assert_frame_equal(ws.evals.by_cohort("g", by),
                                      results.by_cohort(frame[frame["name"] == "g"], by), rtol=1e-12)
    queue = ws.evals.review_queue(10)
    pd.testing.assert_frame_equal(queue, results.review_queue(frame, 10))
    assert list(queue["score"].fillna(-1)) == [-1, 0.05, 0.15]  # the error first, then failures by score
    assert ws.evals.evaluated() == ["g", "other"]
    ws.close()


def test_the_chart_ships_bins_not_scores(db):
    from tracedesk.charts.evals import score_histogram

    ws = tracedesk.open(db)
    spec = score_histogram(ws.evals.histogram("g", "route"), "g", "route").to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert len(rows) == 4 and {r["count"] for r in rows} == {1, 2}
    ws.close()


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.floats(-5, 5, allow_nan=False), st.integers(1, 6), min_size=1, max_size=12),
       st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0]))
def test_weighted_quantile_is_pandas_quantile_of_the_expanded_sample(counts, q):
    values = sorted(counts)
    expanded = pd.Series([v for v in values for _ in range(counts[v])], dtype=float)
    got = results.weighted_quantile(values, [counts[v] for v in values], q)
    assert math.isclose(got, float(expanded.quantile(q)), rel_tol=1e-12, abs_tol=1e-12)


_EVAL = st.tuples(st.integers(1, 4),  # the judged trace
                  st.booleans(),  # its root span judged (else the trace as a whole: no span, no start)
                  st.sampled_from([None, 0.0, 0.0, 0.1, 0.1, 0.5, 0.9]),  # few scores: ties at every cut
                  st.sampled_from([None, True, False, False]))


@settings(max_examples=60, deadline=None)
@given(st.lists(_EVAL, min_size=0, max_size=14), st.integers(1, 12))
def test_the_queue_cut_in_sql_is_the_row_computation(tmp_path_factory, evals, limit):
    """The SQL queue joins only the rows up to the limit-th (and its ties) to their spans: the same rows, in
    the same order, as sorting every failed or errored evaluation; ties at the cut go by their span's start."""
    path = str(tmp_path_factory.mktemp("queue") / "q.db")
    spans = [s for i in range(1, 5) for s in _trace(i, "billing" if i % 2 else "support", ("gpt-4o",))]
    rows = [Evaluation(f"{i:032x}", f"{i:08x}{0:08x}" if on_span else None, f"g{k % 2}", score=score,
                       passed=None if score is None else passed, error="timed out" if score is None else None,
                       source="judge", metadata={"k": k})
            for k, (i, on_span, score, passed) in enumerate(evals)]
    conn = store.connect(path)
    store.write_batch(conn, spans, rows)
    conn.close()
    ws = tracedesk.open(path)
    got, want = ws.evals.review_queue(limit), results.review_queue(ws.evals.scores(), limit)
    ws.close()
    assert list(got.columns) == list(want.columns) == list(QUEUE_COLUMNS)
    assert _records(got) == _records(want)  # (column types differ where a column holds no value)


def _records(frame):
    return [tuple(None if pd.isna(x) else x for x in row) for row in frame.astype(object).itertuples(index=False)]
