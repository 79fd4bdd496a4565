"""Acceptance of the suggester (issue 16) on the fourth labelled week (tests/weeks/fourth_week.py, written from the
spec and real SDK captures before its author read the suggester): given only each page-worthy incident's time
range and cohort, the proposed rule pages within 2 five-minute steps, once, with no false page elsewhere in the
week. The same check as on the other weeks (`_check` of tests/test_alerts_suggest_weeks.py), counted, as on the
third week, from each label's detectable_from (its first trace carrying the incident). Known misses are strict
xfails carrying what was measured for the suggester's rule; no constant is tuned."""
from __future__ import annotations

import pytest

from test_alerts_suggest_weeks import _check
from tracedesk.alerts.evaluate import parse_time
from tracedesk.alerts.suggest import suggest_rule
from weeks.fourth_fixtures import IngestedFourthWeek, fourth_week, fourth_week_db  # noqa: F401  (pytest fixtures)

FOURTH_WEEK_MISSES = {
    "W4-01": "provider=anthropic, 429s from 10:25:36: the suggested error_rate rate > 0.26 at 99.9% confidence "
             "(15m) first pages at 10:45, 3 steps after the 10:30 evaluation (0 false pages, 1 page); the suggester "
             "itself warns 'the rule pages 22 min after the incident start (4 steps)'",
    "W4-06": "model=gpt-4.1, p99 of LLM duration 10.5 s -> 50.5 s with p50/p95 unchanged: suggest_rule raises "
             "ValueError('no signal moved against its baseline in this cohort during the incident'); its candidate "
             "signals compare means or p95, and a 4% tail does not move them",
    "W4-07": "tenant=kiwi-legal, summarization 0.86 -> 0.51: the suggested eval_score(summarization) mean < 0.67 (15m) "
             "first pages at 03:35, 25 steps after detectable_from (01:27:10): the tenant's version-15 summaries are "
             "judged 30-40 minutes apart (01:33, 02:06, 02:46, 03:24, 03:34), and the first 15-minute window holding "
             "two of them closes at 03:35",
    "W4-08": "tenant=lumen-retail (new, no traffic before): the suggested eval_score(faithfulness) mean < "
             "baseline(new tenant vs replaced, 1d) - 0.21 (5m) fires at 03:30, on time, and backtests to one page "
             "(Tue 03:30 -> resolved Wed 04:30), but the suggester counts pages_in_incident = 2 ('it clears between "
             "pages'), and it takes tenant=harbor-home as 'the value it replaced (its traffic fell 38%)': nobody was "
             "replaced, harbor-home's share fell after its Sunday sale",
}


@pytest.mark.parametrize("incident_id", [f"W4-0{k}" for k in range(1, 9)])
def test_fourth_week(fourth_week_db: IngestedFourthWeek, incident_id, request):
    if incident_id in FOURTH_WEEK_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=FOURTH_WEEK_MISSES[incident_id]))
    incidents = fourth_week_db.week.labels()["incidents"]
    incident = next(i for i in incidents if i["id"] == incident_id)
    if incident_id == "W4-06":    # the one incident the suggester refuses: say so rather than crash in _check
        suggest_rule(fourth_week_db.db, parse_time(incident["start"]), parse_time(incident["end"]),
                     incident["cohort"], name=incident_id)
    _check(fourth_week_db.db, incident, incidents, from_ns=parse_time(incident["detectable_from"]))
