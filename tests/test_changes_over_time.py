"""The landing page's quality-over-time charts (Workspace.signals_over_time) read the traces the sidebar
selects, like every other chart: any filter field, several values of a dimension, and every sample up to the
last one when no end is set."""
from __future__ import annotations

import pytest

import tracedesk
from changes_synth import build
from tracedesk.store.query import Filters

TOOLS = {"a": 1, "b": 3, "c": 5}
COST = {"a": 0.01, "b": 0.02, "c": 0.05}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("over_time") / "o.db")
    # 4 hours, 2 traces an hour per route; route a calls 1 tool per trace, b 3, c 5 (c on model m2)
    build(path, 4, {("a", "t1", "m1"): lambda h: 2, ("b", "t2", "m1"): lambda h: 2, ("c", "t3", "m2"): lambda h: 2},
          lambda seg, h, k: COST[seg[0]], tools=lambda seg, h, k: TOOLS[seg[0]])
    with tracedesk.open(path) as w:
        yield w


def _per_signal(frame):
    return {name: (sorted(set(part["value"])), int(part["n"].sum())) for name, part in frame.groupby("signal")}


@pytest.mark.parametrize("filters, tools, traces", [
    (None, [3.0], 24),
    (Filters(dims={"route": ["a", "b"]}), [2.0], 16),  # two values of one dimension: both, and only them
    (Filters(min_cost=0.04), [5.0], 8),  # a field that is not a cohort dimension
    (Filters(models=["m1"]), [2.0], 16),
    (Filters(dims={"route": ["c"]}, models=["m1"]), [], 0),
])
def test_every_filter_field_applies(ws, filters, tools, traces):
    got = _per_signal(ws.signals_over_time(filters))
    if traces == 0:
        assert got == {}
        return
    assert got == {"refusal rate": ([0.0], traces), "tool calls per trace": (tools, traces)}


def test_cost_per_trace_is_drawn_once_from_the_trace_level_series(ws):
    assert "cost per trace" not in set(ws.signals_over_time(Filters())["signal"])
    assert "cost_per_trace" in ws.timeseries(Filters()).columns


def test_unfiltered_charts_read_the_feeds_stored_samples_and_draw_the_same(tmp_path, monkeypatch):
    """Unfiltered, the charts take the samples the database keeps for the feed (store.feed_samples: at 10M spans
    25 s of CPU reading every answer again became 1.4 s); a filter that selects every trace (from the first start)
    reads the traces themselves, and draws exactly the same series, evaluator scores included."""
    from tracedesk import store
    from tracedesk.analysis.changes import signals_over_time
    from tracedesk.models import Evaluation
    from tracedesk.store import connect
    from tracedesk.store import query as q

    path = str(tmp_path / "stored.db")
    db = build(path, 6, {("a", "t1", "m1"): lambda h: 3, ("b", "t2", "m2"): lambda h: 2 + h % 2},
               lambda seg, h, k: COST[seg[0]], tools=lambda seg, h, k: TOOLS[seg[0]])
    traces = [r[0] for r in db.execute("SELECT trace_id FROM traces ORDER BY start_ns")]
    store.write_evaluations(db, [Evaluation(t, None, "groundedness", score=round(0.3 + 0.1 * (i % 7), 2))
                                 for i, t in enumerate(traces)])
    db = connect(path)
    lo, _hi = q.time_bounds(db)
    raw = signals_over_time(db, Filters(start_ns=lo))
    import tracedesk.signals

    def no_raw_read(*_args, **_kwargs):
        raise AssertionError("an unfiltered chart read the span rows again")
    monkeypatch.setattr(tracedesk.signals, "samples", no_raw_read)
    stored = signals_over_time(db)
    assert stored.to_dict("records") == raw.to_dict("records")
    assert set(stored["signal"]) == {"refusal rate", "tool calls per trace", "groundedness (mean score)"}
    got = _per_signal(stored)
    assert got["tool calls per trace"][1] == 33 and got["refusal rate"] == ([0.0], 33)
    assert got["groundedness (mean score)"][1] == 33
