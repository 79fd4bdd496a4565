"""Drift on the bundled sample week: the labelled refusal cliff and retrieval reindex come out on top."""
from __future__ import annotations

from datetime import datetime

from tracedesk.drift import drift_report
from tracedesk.drift.load import model_family
from tracedesk.sample import sample_incidents, world


def _incident(incident_id: str) -> dict:
    doc = sample_incidents()
    items = doc["incidents"] if isinstance(doc, dict) else doc
    return next(i for i in items if i["id"] == incident_id)


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * 10**9


def _top_for(report, cohort: str):
    return next(r for r in report.ranked() if r.cohort == cohort)


def test_refusal_cliff_tops_its_model_family_and_spares_the_others(sample_db_path):
    inc = _incident("INC-05")
    assert inc["type"] == "refusal_cliff"
    report = drift_report(sample_db_path, since=inc["start"], until=inc["end"], dimension="model_family")
    affected = model_family(inc["cohort"]["model"])
    assert affected == model_family(world.SYNTHESIS_MODEL) == "gemini-2.5-flash"
    top = report.ranked()[0]
    assert (top.signal, top.cohort, top.drifted) == ("refusal_rate", affected, True)
    assert top.reference_value < 0.02 and top.current_value > 0.2
    # the change point lands within an hour of the labelled start
    assert abs(top.change_point_ns - _ns(inc["start"])) < 3600 * 10**9
    for unaffected in (model_family(world.RESEARCH_MODEL), model_family(world.PLANNER_MODEL)):
        assert _top_for(report, unaffected).signal != "refusal_rate"
        refusal = report.get("refusal_rate", unaffected)
        assert refusal is None or not refusal.drifted


def test_refusal_cliff_by_raw_model_says_the_cohort_is_new(sample_db_path):
    inc = _incident("INC-05")
    report = drift_report(sample_db_path, since=inc["start"], until=inc["end"], dimension="model")
    new = report.get("refusal_rate", inc["cohort"]["model"])
    assert new.insufficient and new.reference_n == 0 and new.current_n > 100
    assert "a new cohort" in new.message
    gone = report.get("refusal_rate", world.SYNTHESIS_MODEL)
    assert gone.insufficient and gone.current_n == 0 and "absent from the current window" in gone.message


def test_retrieval_reindex_tops_every_route(sample_db_path):
    inc = _incident("INC-07")
    assert inc["type"] == "retrieval_drift" and inc["cohort"] == {}  # all routes
    # reference: the rolling baseline, i.e. everything before the reindex
    report = drift_report(sample_db_path, since=inc["start"], until=inc["end"], dimension="route")
    assert report.reference.end_ns == _ns(inc["start"])
    routes = sorted({r.cohort for r in report.results})
    assert routes == ["account", "billing", "onboarding", "refunds", "tech-support"]
    for route in routes:
        top = _top_for(report, route)
        assert top.family == "retrieval" and top.drifted, (route, top.signal)
        overlap = report.get("retrieval_topk_overlap", route)
        assert overlap.drifted and overlap.current_value == 0.0  # the new index shares no document id
        # it started at the reindex: not before it, and by the first time bucket the route had traffic after it
        first_after = min(p["t_ns"] for p in overlap.series if p["window"] == "current")
        assert _ns(inc["start"]) - 3600 * 10**9 <= overlap.change_point_ns <= first_after + report.bucket_ns
        assert report.get("retrieval_score", route).effect < -0.05
