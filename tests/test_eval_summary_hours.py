"""The Overview's evaluator table (`ws.eval_summary`, analysis.eval_summary) from the per-hour
per-evaluator aggregates kept with the cohort hours (analysis.cohort_hours): exact figures on a
hand-made store (means as the exact sum rounded once, computed here with fractions), the same frame as
the row path (the evaluations grouped by evaluator and score in SQLite) unfiltered, over whole hours
and days, with filters the aggregates do not answer, on an empty store and on one day; and kept
current by every write: a human's score ingested, a pass rule re-deriving verdicts, an evaluation of
no trace, `tracedesk eval run` (which folds the hours it wrote in at its end)."""
from __future__ import annotations

import json
import math
import sqlite3
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tracedesk import store
from tracedesk.analysis import cohort_hours, feed_ready, metrics
from tracedesk.cli import main as cli
from tracedesk.ingest import ingest_paths
from tracedesk.models import Evaluation, Span
from tracedesk.store import cohort_hours as store_hours
from tracedesk.store import metrics as reads
from tracedesk.store.query import Filters

H = 3_600 * 10**9
#: a whole hour, 2026-11-20 10:00 UTC
T0 = 1_763_632_800 * 10**9
assert T0 % H == 0


def _trace(i: int, start_ns: int, route: str, model: str) -> list[Span]:
    t = f"{i:032x}"
    root = Span(t, f"{i:08x}{0:08x}", "agent", kind="AGENT", start_ns=start_ns, end_ns=start_ns + 10**9,
                duration_ms=1000.0, route=route)
    llm = Span(t, f"{i:08x}{1:08x}", "chat", parent_span_id=root.span_id, kind="LLM", model=model,
               start_ns=start_ns + 10**6, end_ns=start_ns + 5 * 10**8, duration_ms=499.0, route=route)
    return [root, llm]


#: (trace, hour offset, route, model); traces 1-3 in the first hour, 4 in the second, 5 a day later
TRACES = [(1, 0, "billing", "gpt-4o"), (2, 0, "billing", "claude-3"), (3, 0, "support", "gpt-4o"),
          (4, 1, "support", "claude-3"), (5, 26, "billing", "gpt-4o")]


def _evals() -> list[Evaluation]:
    t = {i: f"{i:032x}" for i, *_ in TRACES}
    llm = {i: f"{i:08x}{1:08x}" for i in t}
    out = [
        # ten 0.1s: SQLite's AVG summed them to 0.9999999999999999 and gave 0.09999999999999999
        *(Evaluation(t[1 + k % 5], llm[1 + k % 5], "quality", score=0.1, passed=False, source="judge",
                     metadata={"key": str(k)}) for k in range(10)),
        Evaluation(t[1], llm[1], "quality", score=0.7, passed=True, source="judge", metadata={"key": "a"}),
        Evaluation(t[4], llm[4], "quality", score=None, error="judge timed out", source="judge",
                   metadata={"key": "b"}),
        # a human's score on a span a judge scored: a row of its own (the score that counts is each row's)
        Evaluation(t[1], llm[1], "quality", score=1.0, passed=True, source="human", metadata={"key": "a"}),
        Evaluation(t[2], llm[2], "pii", score=None, passed=True, source="heuristic"),  # a verdict, no score
        Evaluation(t[3], llm[3], "pii", score=0.0, passed=False, source="heuristic"),
        Evaluation(t[5], llm[5], "latency", score=-2.5, passed=None, source="imported"),
    ]
    return out


def _mean(scores: list[float]) -> float:
    return float(sum(map(Fraction, scores)) / len(scores))  # Fraction -> float: correctly rounded


EXPECTED = [
    # imported with a score only: the verdict is derived by the default rule (>= 0.5)
    {"name": "latency", "evaluations": 1, "mean_score": -2.5, "pass_rate": 0.0, "errors": 0},
    {"name": "pii", "evaluations": 2, "mean_score": 0.0, "pass_rate": 0.5, "errors": 0},
    {"name": "quality", "evaluations": 13, "mean_score": _mean([0.1] * 10 + [0.7, 1.0]), "pass_rate": 2 / 12,
     "errors": 1},
]


@pytest.fixture
def db_file(tmp_path: Path) -> str:
    path = str(tmp_path / "evals.db")
    db = store.connect(path)
    spans = [s for i, hour, route, model in TRACES for s in _trace(i, T0 + hour * H + 60 * 10**9, route, model)]
    store.write_batch(db, spans, _evals())
    assert cohort_hours.prepare(db)  # as the end of an ingest builds them
    assert store_hours.dirty_ranges(db) == []
    db.close()
    return path


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict("records")


def _same_records(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.keys() == w.keys()
        for k in w:
            same = g[k] == w[k] or (isinstance(w[k], float) and math.isnan(w[k]) and math.isnan(g[k]))
            assert same, (g["name"], k, g[k], w[k])


def _rows_path(db: Any, filters: Filters | None = None) -> pd.DataFrame:
    from tracedesk.analysis import eval_summary

    return eval_summary.frame(eval_summary.from_groups(reads.eval_score_groups(db, filters)))


def _from_aggregates(db: Any, filters: Filters | None, monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    """eval_summary with the row path made to fail: the frame can only come from the aggregates."""
    with monkeypatch.context() as m:
        m.setattr(reads, "eval_score_groups", lambda *a, **k: pytest.fail("read the evaluation rows"))
        return metrics.eval_summary(db, filters)


def test_exact_figures_from_the_aggregates(db_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = store.connect(db_file)
    got = _from_aggregates(db, None, monkeypatch)
    _same_records(_records(got), EXPECTED)
    assert list(got.dtypes.astype(str)) == ["object", "int64", "float64", "float64", "int64"]
    pd.testing.assert_frame_equal(got, _rows_path(db), check_exact=True)
    # the stored rows: one set per (hour of the trace's start, evaluator), three signals each
    hours = {r[0] for r in db.execute("SELECT hour FROM cohort_hours WHERE dim = ?", [cohort_hours.EVAL_DIM])}
    assert hours == {T0 // H, T0 // H + 1, T0 // H + 26}


def test_whole_hour_and_day_windows_from_the_aggregates(db_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = store.connect(db_file)
    day = 86_400 * 10**9
    for lo, hi in [(T0, T0 + H), (T0 + H, T0 + 2 * H), (T0 - 10 * H, T0 + 2 * H), (T0 // day * day, T0 // day * day + day),
                   (T0 + 2 * H, T0 + 3 * H), (T0 + 26 * H, None)]:
        f = Filters(start_ns=lo, end_ns=hi)
        pd.testing.assert_frame_equal(_from_aggregates(db, f, monkeypatch), _rows_path(db, f), check_exact=True)
    first_hour = _records(_from_aggregates(db, Filters(start_ns=T0, end_ns=T0 + H), monkeypatch))
    _same_records(first_hour, [
        {"name": "pii", "evaluations": 2, "mean_score": 0.0, "pass_rate": 0.5, "errors": 0},
        # traces 1-3 hold 6 of the ten 0.1s, the 0.7 and the human's 1.0
        {"name": "quality", "evaluations": 8, "mean_score": _mean([0.1] * 6 + [0.7, 1.0]), "pass_rate": 2 / 8,
         "errors": 0}])
    assert _from_aggregates(db, Filters(start_ns=T0 + 2 * H, end_ns=T0 + 3 * H), monkeypatch).empty


def test_filters_the_aggregates_cannot_answer_read_the_rows(db_file: str) -> None:
    db = store.connect(db_file)
    for f in [Filters(models=["claude-3"]), Filters(dims={"route": ["billing"]}),
              Filters(start_ns=T0 + 1, end_ns=T0 + H)]:  # a window not on whole hours
        assert metrics._stored_eval_tallies(db, f) is None
        pd.testing.assert_frame_equal(metrics.eval_summary(db, f), _rows_path(db, f), check_exact=True)
    billing = _records(metrics.eval_summary(db, Filters(dims={"route": ["billing"]})))
    _same_records(billing, [
        {"name": "latency", "evaluations": 1, "mean_score": -2.5, "pass_rate": 0.0, "errors": 0},
        {"name": "pii", "evaluations": 1, "mean_score": math.nan, "pass_rate": 1.0, "errors": 0},
        # traces 1, 2 and 5: six of the 0.1s, the 0.7 and the human's 1.0
        {"name": "quality", "evaluations": 8, "mean_score": _mean([0.1] * 6 + [0.7, 1.0]), "pass_rate": 2 / 8,
         "errors": 0}])


def test_empty_store_and_store_without_evaluations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = store.connect(str(tmp_path / "empty.db"))
    for frame in (metrics.eval_summary(db), _rows_path(db)):
        assert frame.empty and list(frame.columns) == ["name", "evaluations", "mean_score", "pass_rate", "errors"]
    store.write_batch(db, _trace(1, T0, "billing", "gpt-4o"))
    assert cohort_hours.prepare(db)
    got = _from_aggregates(db, None, monkeypatch)
    assert got.empty
    pd.testing.assert_frame_equal(got, _rows_path(db), check_exact=True)


def test_writes_are_reflected_before_and_after_they_are_folded_in(db_file: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    db = store.connect(db_file)
    t1, s1 = f"{1:032x}", f"{1:08x}{1:08x}"
    # a human's verdict replacing their earlier one (same identity), and a second human score
    store.write_evaluations(db, [
        Evaluation(t1, s1, "quality", score=0.0, passed=False, source="human", metadata={"key": "a"}),
        Evaluation(f"{4:032x}", f"{4:08x}{1:08x}", "quality", score=0.3, passed=False, source="human")])
    dirty = store_hours.dirty_ranges(db)
    assert dirty == [(T0 // H, T0 // H + 1)]
    want = [EXPECTED[0], EXPECTED[1],
            {"name": "quality", "evaluations": 14, "mean_score": _mean([0.1] * 10 + [0.7, 0.0, 0.3]),
             "pass_rate": 1 / 13, "errors": 1}]
    live = _from_aggregates(db, None, monkeypatch)  # the dirty hours counted from their rows
    _same_records(_records(live), want)
    pd.testing.assert_frame_equal(live, _rows_path(db), check_exact=True)
    # the user's pass rule re-deriving a verdict (an UPDATE): the latency score -2.5 passes a -3 floor
    from tracedesk.store import evals as store_evals

    assert store_evals.save_pass_rule(db, "latency", -3.0, "higher") == 1
    want[0] = {**EXPECTED[0], "pass_rate": 1.0}
    _same_records(_records(_from_aggregates(db, None, monkeypatch)), want)
    assert store_hours.dirty_ranges(db) == [(T0 // H, T0 // H + 1), (T0 // H + 26, T0 // H + 26)]
    assert cohort_hours.prepare(db)  # folded in (the feed keeps no set here: prepare clears the marks)
    assert store_hours.dirty_ranges(db) == []
    folded = _from_aggregates(db, None, monkeypatch)
    pd.testing.assert_frame_equal(folded, live.assign(pass_rate=[1.0, *live["pass_rate"][1:]]), check_exact=True)
    pd.testing.assert_frame_equal(folded, _rows_path(db), check_exact=True)
    # the rows folded in are the rows a build from scratch writes
    rows = "SELECT * FROM cohort_hours WHERE dim = '@evaluator' ORDER BY hour, cohort, signal"
    kept = db.execute(rows).fetchall()
    store_hours.drop(db)
    db.conn.commit()
    assert cohort_hours.prepare(db)
    assert db.execute(rows).fetchall() == kept


def test_an_evaluation_of_no_trace_is_counted(db_file: str) -> None:
    db = store.connect(db_file)
    store.write_evaluations(db, [Evaluation("f" * 32, None, "pii", score=1.0, passed=True, source="imported")])
    assert cohort_hours.eval_tallies(db) is None  # in no hour: the rows are counted
    got = _records(metrics.eval_summary(db))
    assert got[1] == {"name": "pii", "evaluations": 3, "mean_score": 0.5, "pass_rate": 2 / 3, "errors": 0}
    # a window holds no such evaluation (its traces have a start): still from the aggregates
    assert cohort_hours.eval_tallies(db, (T0 // H, T0 // H + 1)) is not None


def test_one_day_of_real_traffic_with_a_human_score(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One day of the sample generator's traffic through the ingest, then a human's thumbs-down on one
    of its spans from a JSONL file: the aggregates built and folded in by each ingest give the row path's
    frame, and the human's row is in it."""
    assert cli(["sample", "generate", str(tmp_path / "otlp"), "--days", "1", "--traces-per-hour", "4",
                "--seed", "3"]) == 0
    path = str(tmp_path / "day.db")
    ingest_paths(path, sorted(str(p) for p in (tmp_path / "otlp").glob("traces-*.json.gz")))
    db = store.connect(path)
    assert store_hours.stored_key(db) == cohort_hours.key(db) and store_hours.dirty_ranges(db) == []
    before = _from_aggregates(db, None, monkeypatch)
    assert not before.empty
    pd.testing.assert_frame_equal(before, _rows_path(db), check_exact=True)
    trace_id, span_id, start_ns = db.execute(
        "SELECT trace_id, span_id, start_ns FROM spans WHERE kind = 'LLM' ORDER BY start_ns LIMIT 1").fetchone()
    db.close()
    line = {"trace_id": trace_id, "span_id": span_id, "name": "chat", "kind": "LLM", "start_time": start_ns,
            "scores": [{"name": "user_feedback", "score": 0, "label": "thumbs_down", "source": "human"}]}
    (tmp_path / "feedback.jsonl").write_text(json.dumps(line) + "\n")
    ingest_paths(path, [str(tmp_path / "feedback.jsonl")])
    db = store.connect(path)
    assert store_hours.dirty_ranges(db) == []
    after = _from_aggregates(db, None, monkeypatch)
    pd.testing.assert_frame_equal(after, _rows_path(db), check_exact=True)
    old = before.set_index("name")["evaluations"].get("user_feedback", 0)
    assert after.set_index("name")["evaluations"]["user_feedback"] == old + 1


def test_eval_run_folds_the_hours_it_wrote_in(copy_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`tracedesk eval run` (heuristics: no judge) on the sample week: the hours it wrote are folded into
    the aggregates at its end, and the table is the row path's, with the new evaluator in it."""
    db = store.connect(copy_db)
    assert cohort_hours.prepare(db) and store_hours.dirty_ranges(db) == []
    before = metrics.eval_summary(db)
    db.close()
    assert cli(["eval", "run", "-e", "pii", "--db", copy_db, "--sample", "all", "--quiet"]) == 0
    db = store.connect(copy_db)
    assert store_hours.dirty_ranges(db) == []
    after = _from_aggregates(db, None, monkeypatch)
    pd.testing.assert_frame_equal(after, _rows_path(db), check_exact=True)
    assert "pii" in set(after["name"]) - set(before["name"])


def test_read_only_file_without_the_set_reads_the_rows(db_file: str) -> None:
    import sqlite_utils

    db = store.connect(db_file)
    want = metrics.eval_summary(db)
    store_hours.drop(db)
    db.conn.commit()
    db.close()
    ro = store.connect(sqlite_utils.Database(sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)))
    assert cohort_hours.eval_tallies(ro) is None
    pd.testing.assert_frame_equal(metrics.eval_summary(ro), want, check_exact=True)


def test_pass_rules_table_counts_what_the_rows_count(db_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Evaluations page's rules table (ws.evals.pass_rules) reads the same tallies: from the
    aggregates, equal to the rows' (derived verdicts counted from each row's metadata)."""
    import tracedesk
    from tracedesk.analysis import eval_summary
    from tracedesk.store import evals as store_evals

    ws = tracedesk.open(db_file)
    with monkeypatch.context() as m:
        m.setattr(reads, "eval_score_groups", lambda *a, **k: pytest.fail("read the evaluation rows"))
        got = ws.evals.pass_rules()
    db = store.connect(db_file)
    want = store_evals.evaluator_rules(db, eval_summary.from_groups(reads.eval_score_groups(db, derived=True)))
    assert got == want
    assert [(r["evaluator"], r["evaluations"], r["scored"], r["derived_verdicts"], r["mean_score"], r["pass_rate"])
            for r in got] == [("latency", 1, 1, 1, -2.5, 0.0), ("pii", 2, 1, 0, 0.0, 0.5),
                              ("quality", 13, 12, 0, _mean([0.1] * 10 + [0.7, 1.0]), 2 / 12)]
    ws.close()
