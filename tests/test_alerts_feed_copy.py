"""Alert samples served by the copy the database keeps for the changes feed (analysis.feed_copy).

An alert backtest over all of history read every sample of its signals from the span rows (the Alerts page's
default rule at 10M spans: 8.8 s of CPU). For a signal the feed keeps, over dimensions it keeps, the stored
samples are the same rows: here every feed signal under scopes and group-bys (a mapped dimension, a
membership group-by, a span kind's own dimension) gives exactly the registry's frame, the reads it cannot
serve go to the rows, and a backtest gives the same result both ways without reading the rows.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_changes_stored import HOUR, T0, _file, _week

from tracedesk.alerts import parse_rule
from tracedesk.alerts.evaluate import backtest
from tracedesk.analysis import feed_copy
from tracedesk.analysis.changes import feed_wanted
from tracedesk.ingest import ingest_paths
from tracedesk.ingest.dimensions import load_dimensions, save_dimensions
from tracedesk.models import Evaluation
from tracedesk.signals import SampleQuery, samples
from tracedesk.store import connect, write_evaluations

#: (scope, group_by) pairs the copy can serve
SERVED: list[tuple[dict[str, tuple[str, ...]], tuple[str, ...]]] = [
    ({}, ()),
    ({"route": ("billing",)}, ()),
    ({"route": ("billing", "search")}, ("tenant",)),
    ({}, ("route", "tenant")),
    ({"tenant": ("acme",)}, ("model",)),  # a membership dimension, grouped (exploded as the registry does)
    ({"region": ("eu",)}, ("dims.region",)),  # a mapped one, in both spellings
    ({}, ("tool_name",)),  # a span kind's own dimension (only the TOOL signals keep it)
    ({"route": ("nowhere",)}, ()),  # no sample at all
]


def _with_region(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The root spans carry app.region (eu for even traces), a dimension the user mapped."""
    for s in spans:
        if "parentSpanId" not in s:
            s["attributes"].append({"key": "app.region", "value": {"stringValue": "eu" if int(s["traceId"], 16) % 2
                                                                    else "us"}})
    return spans


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("feed_copy")
    path = str(tmp / "t.db")
    db = connect(path)
    save_dimensions(db, {**load_dimensions(db), "region": ["app.region"]})
    db.conn.close()
    ingest_paths(path, [_file(tmp, "a.json", _with_region(_week(0, 36)))])
    db = connect(path)
    traces = [r[0] for r in db.execute("SELECT trace_id FROM traces ORDER BY start_ns")]
    write_evaluations(db, [Evaluation(t, None, "groundedness", score=round(0.3 + 0.1 * (i % 7), 2))
                           for i, t in enumerate(traces)])
    write_evaluations(db, [Evaluation(t, None, "user_feedback", label="thumbs_down" if i % 9 == 0 else "thumbs_up")
                           for i, t in enumerate(traces[::3])])
    from tracedesk.analysis import feed_ready

    assert feed_ready.prepare(db)  # what an ingest does at its end: the copy is current
    db.conn.close()
    return path


def _registry(db: Any, signal: dict[str, Any], scope: dict[str, tuple[str, ...]], group_by: tuple[str, ...],
              since: int | None, until: int | None) -> Any:
    return samples(db, signal, SampleQuery(scope, group_by, since, until)).drop(columns="trace_id")


def test_every_feed_signal_gives_the_registrys_frame(store_path: str) -> None:
    db = connect(store_path)
    assert len(feed_wanted(db)) == 18  # groundedness and its coverage, thumbs-down, 15 built-in signals
    served = 0
    bounds = [(None, None), (T0 + 5 * HOUR + 17, T0 + 30 * HOUR)]  # inside hours, not on their edges
    for _name, signal, _g in feed_wanted(db):
        for scope, group_by in SERVED:
            for since, until in bounds:
                got = feed_copy.stored_samples(db, signal, scope, group_by, since, until)
                if got is None:
                    assert "tool_name" in group_by and signal.get("span_kind") != "TOOL"
                    continue
                served += 1
                want = _registry(db, signal, scope, group_by, since, until)
                assert list(got.columns) == list(want.columns)
                assert got.astype(object).equals(want.astype(object)), (signal, scope, group_by, since)
    assert served == 18 * 7 * 2 + 2 * 2  # every signal but tool_name's group-by, which the 2 TOOL signals keep
    frame = feed_copy.stored_samples(db, {"type": "duration", "span_kind": "LLM"}, {"route": ("billing",)},
                                     ("dims.region",), None, None)
    assert frame is not None and len(frame) == 36 * 6 and sorted(set(frame["dims.region"])) == ["eu", "us"]


@pytest.mark.parametrize(("signal", "scope", "group_by"), [
    ({"type": "duration", "span_kind": "LLM"}, {"model": ("gpt-4o-mini",)}, ()),  # scope on a membership dimension
    ({"type": "cost_per_trace"}, {}, ("model_family",)),  # derived in Python
    ({"type": "duration", "span_kind": "LLM"}, {"user_id": ("u1",)}, ()),  # a dimension the feed does not keep
    ({"type": "duration", "span_name": "lookup"}, {}, ()),  # parameters the feed does not read
    ({"type": "eval_score", "evaluator": "nobody"}, {}, ()),  # an evaluator with no scores
    ({"type": "cost_per_trace"}, {"not a name!": ("x",)}, ()),  # the registry's read says what is wrong
])
def test_reads_it_cannot_serve_go_to_the_rows(store_path: str, signal: dict[str, Any],
                                              scope: dict[str, tuple[str, ...]], group_by: tuple[str, ...]) -> None:
    db = connect(store_path)
    assert feed_copy.stored_samples(db, signal, scope, group_by, None, None) is None


def test_a_store_without_the_copy_is_not_made_to_build_it(tmp_path: Path) -> None:
    """Ingested with the feed step off, a backtest reads rows rather than build the feed's 13 sets."""
    path = str(tmp_path / "lazy.db")
    ingest_paths(path, [_file(tmp_path, "a.json", _week(0, 3))], feed_samples=False)
    db = connect(path)
    assert feed_copy.stored_samples(db, {"type": "cost_per_trace"}, {}, (), None, None) is None
    assert db.execute("SELECT COUNT(*) FROM feed_sample_sets").fetchone()[0] == 0


G = {"type": "eval_score", "evaluator": "groundedness"}
LLM = {"type": "duration", "span_kind": "LLM"}


def _c(signal: dict[str, Any], agg: str, cmp: str, thr: float, **kw: Any) -> dict[str, Any]:
    return {"signal": signal, "aggregation": agg, "comparator": cmp, "threshold": thr, **kw}


RULES = [
    # the Alerts page's default shape: a judge's mean and a span kind's p95, over all of history
    {"name": "joint", "window": "1h", "step": "15m", "min_samples": 3,
     "condition": {"all": [_c(G, "mean", "<", 0.6), _c(LLM, "p95", ">", 2000)]}},
    {"name": "grouped", "window": "2h", "step": "30m", "group_by": ["route"], "scope": {"tenant": ["acme"]},
     "condition": {"any": [_c(LLM, "p95", ">", 5000),
                           _c({"type": "thumbs_down_rate"}, "rate", ">", 0.05, window="6h")]}},
    {"name": "relative", "window": "1h", "step": "1h", "group_by": ["dims.region"],
     "condition": {"signal": {"type": "cost_per_trace"}, "aggregation": "mean", "comparator": ">",
                   "relative_to": {"offset": "1d", "factor": 1.5}}},
    {"name": "other-cohort", "window": "1h", "step": "1h", "scope": {"route": ["refunds"]},
     "condition": {"signal": LLM, "aggregation": "p95", "comparator": ">",
                   "relative_to": {"cohort": {"route": "billing"}, "factor": 3}}},
]


@pytest.mark.parametrize("doc", RULES, ids=[r["name"] for r in RULES])
def test_a_backtest_is_the_same_from_the_copy_without_reading_rows(store_path: str, doc: dict[str, Any],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rule = parse_rule({"tracedesk_alert": 1, **doc})
    with monkeypatch.context() as m:
        m.setattr(feed_copy, "stored_samples", lambda *_a, **_k: None)
        from_rows = backtest(connect(store_path), rule)
    import tracedesk.alerts.evaluate as evaluate

    def no_rows(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("read the sample rows")
    monkeypatch.setattr(evaluate, "samples", no_rows)
    from_copy = backtest(connect(store_path), rule)
    assert len(from_rows.times) > 0 and from_rows.frame()["value"].notna().any()
    assert from_copy.frame().equals(from_rows.frame())
    assert [e.to_dict() for e in from_copy.episodes] == [e.to_dict() for e in from_rows.episodes]
    assert {k: [e.to_dict() for e in v] for k, v in from_copy.condition_episodes.items()} == \
        {k: [e.to_dict() for e in v] for k, v in from_rows.condition_episodes.items()}


def test_the_slow_hours_page(store_path: str) -> None:
    """The copy's answer is the one the data asks for: refunds' LLM calls 10x slower in hours 30..33."""
    rule = parse_rule({"tracedesk_alert": 1, "name": "slow", "window": "1h", "step": "1h", "group_by": ["route"],
                       "condition": _c(LLM, "p95", ">", 5000)})
    result = backtest(connect(store_path), rule)
    assert [(e.group, (e.start_ns - T0) // HOUR, (e.end_ns - T0) // HOUR) for e in result.episodes] == [
        ({"route": "refunds"}, 31, 34)]


def test_a_long_lived_connection_keeps_the_latest_reads_only(store_path: str) -> None:
    """The app's connection serves one backtest or suggestion after another, each over its own range: the
    stored frames it keeps per data version are the latest KEPT_READS, not one per range ever asked."""
    from tracedesk.store import feed, feed_samples

    db = connect(store_path)
    for hour in range(20):
        assert feed_copy.stored_samples(db, {"type": "cost_per_trace"}, {}, (), T0 + hour * HOUR, T0 + 30 * HOUR) is not None
    kept = [k for k in feed.frames_cache(db) if isinstance(k, tuple) and k[:1] == ("stored",)]
    assert len(kept) == feed_samples.KEPT_READS
    assert kept[-1][2] == T0 + 19 * HOUR  # the latest range is among them


def test_a_stale_copy_is_not_brought_up_to_date_by_a_backtest(tmp_path: Path) -> None:
    """After a write the copy has hours marked dirty: a backtest (a headless `alerts check` beside the receiver)
    reads rows, writes nothing and takes no write lock; the next feed (or the receiver when idle) updates it."""
    path = str(tmp_path / "t.db")
    ingest_paths(path, [_file(tmp_path, "a.json", _week(0, 3))])
    ingest_paths(path, [_file(tmp_path, "b.json", _week(3, 1, offset=10_000))], feed_samples=False)
    db = connect(path)
    dirty = db.execute("SELECT COUNT(*) FROM feed_dirty").fetchone()[0]
    chunks = db.execute("SELECT COUNT(*) FROM feed_chunks").fetchone()[0]
    assert dirty > 0
    assert feed_copy.stored_samples(db, {"type": "cost_per_trace"}, {}, (), None, None) is None
    rule = parse_rule({"tracedesk_alert": 1, "name": "cost", "window": "1h", "step": "1h",
                       "condition": _c({"type": "cost_per_trace"}, "mean", ">", 1.0)})
    assert len(backtest(db, rule).times) > 0
    assert db.execute("SELECT COUNT(*) FROM feed_dirty").fetchone()[0] == dirty
    assert db.execute("SELECT COUNT(*) FROM feed_chunks").fetchone()[0] == chunks
