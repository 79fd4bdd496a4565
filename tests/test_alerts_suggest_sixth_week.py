"""Acceptance of the suggester (issue 16) on the sixth labelled week (tests/weeks/sixth_week.py, written from the
spec before its author ran the suggester on it): given only each page-worthy incident's time range and cohort,
the proposed rule pages within 2 five-minute steps, once, with no false page elsewhere in the week. The same check
as on the other weeks (`_check` of tests/test_alerts_suggest_weeks.py), counted from each label's detectable_from.
Known misses are strict xfails carrying what was measured for the suggester's rule; no constant is tuned."""
from __future__ import annotations

import pytest

from test_alerts_suggest_weeks import _check
from tracedesk.alerts.evaluate import parse_time
from weeks.sixth_fixtures import IngestedSixthWeek, sixth_week, sixth_week_db  # noqa: F401  (pytest fixtures)

#: measured on main 30e0fd1 after the week was committed (81d666e); W6-03 (thumbs_down_rate > 0.75, 10m: 1 step),
#: W6-04 (input_tokens mean > 6800, 30m: 0), W6-05 (duration(CHAIN) p95 > 22000, 30m: 0), W6-06 (the new tenant's
#: groundedness against the rest of the traffic: 0) and W6-07 (ttft p95 > 2000 AND duration(CHAIN) p95 > 8600, 1h:
#: 1) meet the target. W6-01 meets it since the suggester tries retrieval_score (session 10): retrieval_score mean
#: < 0.65 AND groundedness < 0.68, 7 min after the start; it paged 43 steps late on groundedness alone.
SIXTH_WEEK_MISSES = {
    "W6-02": "route=kb_answers, the judge's key expired: no groundedness score in the window (0 of 56 answers "
             "scored, against ~60% in ordinary hours). Since session 10 the suggester sees it through eval_coverage "
             "(0.593 -> 0) and proposes eval_coverage(groundedness) rate < 0.45 at 99% confidence (1h): 0 false "
             "pages, 1 page, at 06:45, 10 steps after the 05:55 evaluation following detectable_from. The outage "
             "starts at dawn on Showa Day (a few kb_answers traces an hour), and a 99% bound needs ~7 unscored traces "
             "in the window; the same rule over 30m pages at step 0 but is rejected as fragile (15% looser, it pages "
             "ordinary hours where the judge's ~60% sample happened to skip most traces). Not tuned",
}


@pytest.mark.parametrize("incident_id", [f"W6-0{k}" for k in range(1, 8)])
def test_sixth_week(sixth_week_db: IngestedSixthWeek, incident_id, request):
    if incident_id in SIXTH_WEEK_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=SIXTH_WEEK_MISSES[incident_id]))
    incidents = sixth_week_db.week.labels()["incidents"]
    incident = next(i for i in incidents if i["id"] == incident_id)
    _check(sixth_week_db.db, incident, incidents, from_ns=parse_time(incident["detectable_from"]))


def test_w6_02_a_judge_that_stops_gets_a_coverage_rule(sixth_week_db: IngestedSixthWeek):
    """W6-02 leaves no low score to see, only fewer scores: the suggester proposes the share of traces the judge
    scored, held until it is back at its baseline, and that rule never pages outside the outage."""
    from tracedesk.alerts.suggest import suggest_rule

    inc = next(i for i in sixth_week_db.week.labels()["incidents"] if i["id"] == "W6-02")
    s = suggest_rule(sixth_week_db.db, parse_time(inc["start"]), parse_time(inc["end"]), inc["cohort"])
    assert s.rule is not None
    [leaf] = s.rule.leaves()
    assert (leaf.signal, leaf.aggregation, leaf.comparator, leaf.threshold, leaf.confidence, leaf.resolve_threshold) \
        == ({"type": "eval_coverage", "evaluator": "groundedness"}, "rate", "<", 0.45, 0.99, 0.59)
    assert (s.rule.window, s.rule.scope, s.false_pages, s.pages_in_incident, s.delay_min) \
        == ("1h", {"route": ("kb_answers",)}, 0, 1, 53.0)
    [mover] = [m for m in s.movers if m.signal == leaf.signal]
    assert (round(mover.baseline, 3), mover.incident, mover.effect) == (0.593, 0.0, 1.0)
