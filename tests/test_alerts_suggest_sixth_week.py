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
#: W6-02 (route=kb_answers, the judge's key expired: no groundedness score for 56 answers) meets it since session
#: 13: the suggester ranks on time before robust, so eval_coverage(groundedness) rate < 0.45 at 99% confidence over
#: 30m (step 0) is proposed with a warning that it is fragile (its threshold moved 15% towards the baseline pages
#: ordinary dawn hours where the judge's ~60% sample skipped most traces) naming the earliest robust rule, 11 steps
#: later; before, the robust 1h rule was proposed, 10 steps after the 05:55 evaluation following detectable_from.
SIXTH_WEEK_MISSES: dict[str, str] = {}


@pytest.mark.parametrize("incident_id", [f"W6-0{k}" for k in range(1, 8)])
def test_sixth_week(sixth_week_db: IngestedSixthWeek, incident_id, request):
    if incident_id in SIXTH_WEEK_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=SIXTH_WEEK_MISSES[incident_id]))
    incidents = sixth_week_db.week.labels()["incidents"]
    incident = next(i for i in incidents if i["id"] == incident_id)
    _check(sixth_week_db.db, incident, incidents, from_ns=parse_time(incident["detectable_from"]))


def test_w6_02_a_judge_that_stops_gets_a_coverage_rule(sixth_week_db: IngestedSixthWeek):
    """W6-02 leaves no low score to see, only fewer scores: the suggester proposes the share of traces the judge
    scored, held until it is back at its baseline, and that rule never pages outside the outage. It pages at the
    outage's first evaluation over 30 minutes, a fragile rule (stated, with the earliest robust one)."""
    from tracedesk.alerts.suggest import suggest_rule

    inc = next(i for i in sixth_week_db.week.labels()["incidents"] if i["id"] == "W6-02")
    s = suggest_rule(sixth_week_db.db, parse_time(inc["start"]), parse_time(inc["end"]), inc["cohort"])
    assert s.rule is not None
    [leaf] = s.rule.leaves()
    assert (leaf.signal, leaf.aggregation, leaf.comparator, leaf.threshold, leaf.confidence, leaf.resolve_threshold) \
        == ({"type": "eval_coverage", "evaluator": "groundedness"}, "rate", "<", 0.45, 0.99, 0.59)
    assert (s.rule.window, s.rule.scope, s.false_pages, s.pages_in_incident, s.delay_min) \
        == ("30m", {"route": ("kb_answers",)}, 0, 1, 0.0)
    assert s.fragile_pages == 2
    assert s.robust_alternative == {
        "rule": "eval_coverage(groundedness) rate < baseline(1h 30m ago) x0.12 AND eval_coverage(groundedness) rate "
                "< 0.45 at 99% confidence [1h] (window 30m)", "window": "30m", "delay_steps": 10.6, "false_pages": 0}
    assert s.warnings[0] == (
        "the rule's quiet hangs on where its thresholds sit: moved 15% of the way towards the baseline they page 2 "
        "time(s) outside the incident; the earliest rule that stays quiet so is " + s.robust_alternative["rule"]
        + ", paging 11 step(s) after the incident start")
    [mover] = [m for m in s.movers if m.signal == leaf.signal]
    assert (round(mover.baseline, 3), mover.incident, mover.effect) == (0.593, 0.0, 1.0)

