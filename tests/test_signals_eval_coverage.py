"""eval_coverage: the share of traces an evaluator scored. A judge that stops (an expired key, a stalled
queue) leaves no low score behind, only this share falling, so it is read per trace, not per evaluation."""
from __future__ import annotations

import pandas as pd

from evals_synth import T0, agent_trace, tid
from tracedesk import signals, store
from tracedesk.models import Evaluation
from tracedesk.signals import SampleQuery

MIN = 60_000_000_000


def _db(path: str):
    """Eight traces a minute apart, alternating billing (even) and support (odd): groundedness scores
    traces 0, 1, 2 and 5; trace 3's judge call failed (an evaluation with an error, no score); trace 4 has
    only a relevance score; 6 and 7 were never judged."""
    spans = [s for i in range(8) for s in agent_trace(i, route="billing" if i % 2 == 0 else "support")]
    evals = [Evaluation(tid(i), None, "groundedness", score=0.9) for i in (0, 1, 2, 5)]
    evals += [Evaluation(tid(3), None, "groundedness", error="judge timed out"),
              Evaluation(tid(4), None, "relevance", score=0.8),
              Evaluation(tid(5), None, "groundedness", score=0.4)]  # a second score counts the trace once
    db = store.connect(path)
    store.write_batch(db, spans, evals)
    return db


def test_one_sample_per_trace_one_when_scored(tmp_path) -> None:
    db = _db(str(tmp_path / "t.db"))
    frame = signals.samples(db, {"type": "eval_coverage", "evaluator": "groundedness"}, SampleQuery({}, ()))
    assert frame["trace_id"].tolist() == [tid(i) for i in range(8)]
    assert frame["v"].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    assert frame["t"].tolist() == [T0 + i * MIN for i in range(8)]
    assert signals.aggregate(frame["v"].to_numpy(), "rate") == 0.5


def test_scope_time_bounds_and_a_second_read_in_the_same_pass(tmp_path) -> None:
    """The evaluator's name is a bound parameter of the value expression, which the shared pass writes in its
    SELECT and its WHERE: with a scope, time bounds and another trace read in the same SELECT, each read keeps
    its own values."""
    db = _db(str(tmp_path / "t.db"))
    query = SampleQuery({"route": ("billing",)}, ("route",), since_ns=T0, until_ns=T0 + 6 * MIN)
    coverage, count = signals.samples_many(
        db, [{"type": "eval_coverage", "evaluator": "groundedness"}, {"type": "trace_count"}], query)
    assert coverage["trace_id"].tolist() == [tid(2), tid(4), tid(6)]  # t > since: trace 0 is out
    assert coverage["v"].tolist() == [1.0, 0.0, 0.0]
    assert count["v"].tolist() == [1.0, 1.0, 1.0]
    pd.testing.assert_frame_equal(coverage, signals.samples(db, {"type": "eval_coverage",
                                                                 "evaluator": "groundedness"}, query))
    relevance = signals.samples(db, {"type": "eval_coverage", "evaluator": "relevance"}, query)
    assert relevance["v"].tolist() == [0.0, 1.0, 0.0]


def test_the_evaluator_is_required() -> None:
    import pytest

    from tracedesk.alerts import parse_rule
    from tracedesk.alerts.definition import AlertValidationError

    with pytest.raises(AlertValidationError, match="evaluator"):
        parse_rule({"name": "judge-stopped", "window": "1h",
                    "condition": {"signal": {"type": "eval_coverage"}, "aggregation": "rate",
                                  "comparator": "<", "threshold": 0.3}})


def test_the_feed_reads_coverage_beside_the_trace_summaries_with_the_registrys_rows(tmp_path) -> None:
    """The changes feed reads coverage in its one pass over the traces (store.feed): the rows and values the
    registry's reader gives, with and without a cohort and time bounds."""
    from tracedesk.store.feed import signal_frames

    db = _db(str(tmp_path / "t.db"))
    coverage = {"type": "eval_coverage", "evaluator": "groundedness"}
    for group_by, since, until in (((), None, None), (("route",), T0, T0 + 6 * MIN)):
        wanted = [("groundedness_coverage", coverage, group_by), ("traces", {"type": "trace_count"}, group_by),
                  ("relevance_coverage", {"type": "eval_coverage", "evaluator": "relevance"}, group_by)]
        frames = signal_frames(db, wanted, since, until)
        for name, signal, _g in wanted:
            expected = signals.samples(db, signal, SampleQuery({}, group_by, since_ns=since, until_ns=until))
            got = frames[name]
            assert got["t"].tolist() == expected["t"].tolist()
            assert got["v"].tolist() == expected["v"].tolist()
            for dim in group_by:
                assert got[dim].astype(object).tolist() == expected[dim].tolist()
    # traces 1-6 (t > since): groundedness scored 1, 2 and 5; relevance only 4
    assert frames["groundedness_coverage"]["v"].tolist() == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    assert frames["relevance_coverage"]["v"].tolist() == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
