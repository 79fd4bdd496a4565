"""Failure-biased and uniform sampling: composition, priorities, seed reproducibility."""
from __future__ import annotations

from evals_synth import build, tid

from tracedesk import store
from tracedesk.evals import data
from tracedesk.evals.data import Unit
from tracedesk.evals.sampling import failure_biased, sample, uniform


def unit(i, **kw):
    base = dict(trace_id=tid(i), span_id=f"{i:016x}", kind="LLM", is_root=False, status="OK", duration_ms=100.0,
                cost_usd=0.001, tokens=100, trace_errors=0, trace_duration_ms=1000.0, trace_cost_usd=0.001)
    base.update(kw)
    return Unit(**base)


def population():
    units = [unit(i) for i in range(100)]
    units[5] = unit(5, status="ERROR", trace_errors=1)
    units[7] = unit(7, min_score=0.1)
    units[8] = unit(8, min_score=0.3)
    units[9] = unit(9, min_score=0.9)  # not low
    units[11] = unit(11, bad_feedback=True)
    units[20] = unit(20, trace_duration_ms=50_000.0)
    units[21] = unit(21, trace_duration_ms=40_000.0)
    units[30] = unit(30, trace_cost_usd=2.0)
    units[40] = unit(40, duration_ms=9_000.0)
    return units


def test_failure_biased_fills_by_priority_then_baseline():
    s = failure_biased(population(), 10, seed=1, baseline_share=0.2, tail=0.98)
    assert s.composition == {"error": 1, "low_score": 2, "feedback": 1, "long": 2, "expensive": 1,
                             "outlier": 1, "baseline": 2}
    assert [u.span_id for u in s.units[:7]] == [f"{i:016x}" for i in (5, 7, 8, 11, 20, 21, 30)]
    assert s.reasons[(tid(40), f"{40:016x}")] == "outlier"
    assert s.describe() == ("10 of 100 (failure-biased, seed 1): error 1, low_score 2, feedback 1, long 2, "
                            "expensive 1, outlier 1, baseline 2")


def test_failure_pools_capped_by_budget_keep_baseline_share():
    s = failure_biased(population(), 5, seed=1, baseline_share=0.2)
    assert s.composition["error"] == 1 and s.composition["low_score"] == 2 and s.composition["feedback"] == 1
    assert s.composition["baseline"] == 1 and len(s.units) == 5


def test_seed_reproducible_and_seed_sensitive():
    a = failure_biased(population(), 20, seed=3)
    b = failure_biased(population(), 20, seed=3)
    c = failure_biased(population(), 20, seed=4)
    assert [u.span_id for u in a.units] == [u.span_id for u in b.units]
    assert [u.span_id for u in a.units if a.reasons[(u.trace_id, u.span_id)] == "baseline"] != \
           [u.span_id for u in c.units if c.reasons[(u.trace_id, u.span_id)] == "baseline"]


def test_uniform_and_all():
    u = uniform(population(), 10, seed=2)
    assert len(u.units) == 10 and u.composition["baseline"] == 10
    assert [x.span_id for x in u.units] == [x.span_id for x in uniform(population(), 10, seed=2).units]
    assert len(sample(population(), "all", None).units) == 100
    whole = failure_biased(population(), None)
    assert len(whole.units) == 100 and whole.composition["baseline"] == 100 - 9 + 1  # unit 9 is not low


def test_unknown_strategy():
    import pytest

    with pytest.raises(ValueError, match="Unknown sampling strategy 'random'. Valid: failure-biased, uniform, all"):
        sample(population(), "random", 3)


def test_candidates_read_errors_feedback_and_scores_from_the_store(db_path):
    build(db_path)
    db = store.connect(db_path)
    store.write_evaluations(db, [store.Evaluation(tid(4), "0000000400000002", "groundedness", score=0.2,
                                                  source="judge")])
    units = data.candidates(db, ["LLM"])
    assert len(units) == 18
    by_trace = {u.trace_id: u for u in units}
    assert by_trace[tid(100)].status == "ERROR"
    assert by_trace[tid(3)].bad_feedback is True and by_trace[tid(2)].bad_feedback is False
    assert by_trace[tid(4)].min_score == 0.2
    assert data.candidates(db, ["LLM"], ignore_scores_of=["groundedness"])[4].min_score is None
    roots = data.candidates(db, [], roots=True)
    assert len(roots) == 18 and all(u.is_root and u.kind == "AGENT" for u in roots)
    assert {u.trace_id for u in data.candidates(db, ["LLM"], filters={"route": "billing"})} == \
           {tid(i) for i in range(0, 12, 2)}
    s = failure_biased(units, 4, seed=0, baseline_share=0.25)
    assert s.composition["error"] == 1 and s.composition["low_score"] == 1 and s.composition["feedback"] == 1
    assert s.composition["baseline"] == 1
