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
#: 1) meet the target
SIXTH_WEEK_MISSES = {
    "W6-01": "tenant=koala-post, an embedding swap (groundedness 0.86 -> 0.47 on its kb answers): the suggested "
             "eval_score(groundedness) mean < 0.58 (15m) pages at Fri 04:25, 222 min after the start and 43 steps "
             "after the 00:50 evaluation following detectable_from (00:49:32); 0 false pages, 1 page; the suggester "
             "warns 'the cohort's traffic or the signals' movement gives no earlier evidence' (1-6 koala-post "
             "groundedness scores an hour in the first hours)",
    "W6-02": "route=kb_answers, the judge's key expired: no groundedness score in the window (no data, not low "
             "scores); the suggester proposes no rule: 'no signal moved against its baseline' (15 signals compared; "
             "closest duration(EMBEDDING) p95 0.12, thumbs_down_rate 0.10, output_tokens 0.08): it compares the "
             "samples' values (AUC, p99 tail), and groundedness has no sample in the window; the rule language's "
             "count aggregation and no_data: alert are not proposed",
}


@pytest.mark.parametrize("incident_id", [f"W6-0{k}" for k in range(1, 8)])
def test_sixth_week(sixth_week_db: IngestedSixthWeek, incident_id, request):
    if incident_id in SIXTH_WEEK_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=SIXTH_WEEK_MISSES[incident_id]))
    incidents = sixth_week_db.week.labels()["incidents"]
    incident = next(i for i in incidents if i["id"] == incident_id)
    _check(sixth_week_db.db, incident, incidents, from_ns=parse_time(incident["detectable_from"]))
