"""Acceptance of the changes feed (issue 15) on the third labelled week (tests/weeks/third_week.py), written
from the spec by someone who had not read the detector, the sample generator or the second week: the same
checks as on the sample and second weeks, with the same constants. A failure here that the detector's design
explains is a real finding and is marked xfail(strict=True) with the measured reason; no constant is tuned.

"Top 5" becomes the top max(5, page-worthy incidents) = 7, as on the second week: seven page-worthy incidents
cannot all fit in five places."""
from __future__ import annotations

from typing import Any

import pytest

from tracedesk.analysis.changes import find_changes
from tracedesk.store import connect
from tracedesk.store.query import to_ns
from weeks.third_fixtures import IngestedThirdWeek, third_week, third_week_db  # noqa: F401  (pytest fixtures)

MIN = 60 * 10**9
DAY = 24 * 60 * MIN

#: The feed's name of a labelled registry signal (None: the feed does not scan it).
def _feed_name(sig: dict[str, Any]) -> str | None:
    reg = sig["registry"]
    kind = reg["type"]
    if kind == "eval_score":
        return reg["evaluator"]
    if kind == "duration":
        return f"{reg['span_kind'].lower()}_latency"
    if kind == "error_rate":
        return "tool_error_rate" if reg.get("span_kind") == "TOOL" else "error_rate"
    return {"refusal_rate_answer": "refusal_rate", "pii_rate": "pii_rate", "cost_per_trace": "cost_per_trace",
            "thumbs_down_rate": "thumbs_down_rate", "tool_calls_per_trace": "tool_calls_per_trace",
            "llm_calls_per_trace": "llm_calls_per_trace", "trace_count": "trace_count",
            "input_tokens": "input_tokens"}.get(kind)


def _cohorts(incident: dict[str, Any]) -> list[dict[str, str]]:
    return [incident["cohort"], *incident.get("equivalent_cohorts", [])]


def _overlaps(finding, incident) -> bool:
    f_end = finding.end_ns if finding.end_ns is not None else float("inf")
    return finding.start_ns < to_ns(incident["end"]) and to_ns(incident["start"]) < f_end


def _hit(findings, incident):
    """(rank, finding) of the first finding naming the incident's cohort (or one equivalent to it, or an alias:
    the same traffic) whose window overlaps the incident's."""
    cohorts = _cohorts(incident)
    for rank, f in enumerate(findings):
        if any(f.cohort == c or c in f.aliases for c in cohorts) and _overlaps(f, incident):
            return rank, f
    return None, None


@pytest.fixture(scope="module")
def feed(third_week_db: IngestedThirdWeek):
    return find_changes(connect(third_week_db.db))


@pytest.fixture(scope="module")
def incidents(third_week_db: IngestedThirdWeek) -> list[dict[str, Any]]:
    return third_week_db.week.labels()["incidents"]


def _incident(incidents, incident_id):
    return next(i for i in incidents if i["id"] == incident_id)


#: Known misses, each with what was measured (PYTHONPATH=src tracedesk changes --db <third week> --json).
IN_TOP_MISSES: dict[str, str] = {}
START_MISSES = {**IN_TOP_MISSES}


@pytest.mark.parametrize("incident_id", [f"W3-0{k}" for k in range(1, 8)])
def test_third_week_page_worthy_incident_is_near_the_top_with_its_cohort(third_week_db, feed, incidents, incident_id,
                                                                         request):
    if incident_id in IN_TOP_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=IN_TOP_MISSES[incident_id]))
    real = [i for i in incidents if i["page_worthy"]]
    top = feed[:max(5, len(real))]
    rank, _f = _hit(top, _incident(incidents, incident_id))
    assert rank is not None, [f.title() for f in top]


@pytest.mark.parametrize("incident_id", [f"W3-0{k}" for k in range(1, 8)])
def test_third_week_start_within_15_minutes_of_detectable_from(feed, incidents, incident_id, request):
    if incident_id in START_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=START_MISSES[incident_id]))
    incident = _incident(incidents, incident_id)
    _rank, hit = _hit(feed, incident)
    assert hit is not None
    assert abs(hit.start_ns - to_ns(incident["detectable_from"])) <= 15 * MIN, (hit.title(), incident["detectable_from"])


def test_third_week_noise_ranks_below_every_real_incident(feed, incidents):
    """A noise finding is any finding overlapping a blip's window on one of the blip's signals, whatever cohort it
    names (W3-N5's probing user shows as response_model=gpt-4o-2024-08-06), that is not a real incident's hit."""
    real = [i for i in incidents if i["page_worthy"]]
    hits = {id(f) for i in real for f in [_hit(feed, i)[1]] if f is not None}
    worst_real = max(r for r in (_hit(feed, i)[0] for i in real) if r is not None)
    noisy = []
    for blip in (i for i in incidents if not i["page_worthy"]):
        names = {_feed_name(s) for s in blip["signals"]} - {None}
        for rank, f in enumerate(feed):
            if id(f) not in hits and _overlaps(f, blip) and names & set(f.signals):
                noisy.append((rank, blip["id"], f.title()))
    assert all(rank > worst_real for rank, _id, _t in noisy), (worst_real, noisy)


def test_third_week_quiet_days_yield_at_most_one_finding(third_week_db):
    days = third_week_db.week.labels()["quiet_days"]
    since = to_ns(f"{min(days)}T00:00:00Z")
    findings = find_changes(connect(third_week_db.db), since, to_ns(f"{max(days)}T00:00:00Z") + DAY)
    assert len(findings) <= 1, [f.title() for f in findings]
