"""Acceptance of the suggester (issue 16) on the fifth labelled week (tests/weeks/fifth_week.py, written from the
spec before its author ran the suggester on it): given only each page-worthy incident's time range and cohort,
the proposed rule pages within 2 five-minute steps, once, with no false page elsewhere in the week. The same check
as on the other weeks (`_check` of tests/test_alerts_suggest_weeks.py), counted from each label's detectable_from.
Known misses are strict xfails carrying what was measured for the suggester's rule; no constant is tuned."""
from __future__ import annotations

import pytest

from test_alerts_suggest_weeks import _check
from tracedesk.alerts.evaluate import parse_time
from weeks.fifth_fixtures import IngestedFifthWeek, fifth_week, fifth_week_db  # noqa: F401  (pytest fixtures)

#: measured on main 69bb2c8 after the week was committed (e3faaa9); W5-02, W5-05, W5-06, W5-07 (the pair) and
#: W5-08 (the canary) meet the target
FIFTH_WEEK_MISSES = {
    "W5-01": "tool_name=lookup_timesheet, a 26-hour latency ramp: the suggested duration(TOOL) p95 > 1100 (10m) "
             "pages at 17:20, 253 min after the start and 27 steps after the 15:05 evaluation following "
             "detectable_from (15:01:33, the 1.5x point); 0 false pages, 1 page; the suggester warns 'the "
             "cohort's traffic or the signals' movement gives no earlier evidence' (~3.5 lookup_timesheet calls an "
             "hour in the window)",
    "W5-03": "route=support_chat (the stored route since ingest8: 1,009 traces): suggest_rule raises "
             "ValueError('no threshold separates the incident from its baseline in this cohort (the incident's "
             "windows look like ordinary ones)'): ingest surfaces the cache writes of ai.response.providerMetadata "
             "as gen_ai.usage.cache_creation.input_tokens, but no cache-write tokens are stored or priced yet, so "
             "the stored cost per trace falls ($0.0096 -> $0.0084) where the raw usage costs 1.9x per call",
    "W5-04": "route=benefits_qa, stale documents: suggest_rule raises ValueError('no signal moved against its "
             "baseline in this cohort during the incident'), though answer_correctness on the route falls 0.81 -> "
             "0.66 and thumbs-down 4% -> 12% in the window (tests/test_fifth_week.py), and the feed ranks the drop "
             "#1",
}


@pytest.mark.parametrize("incident_id", [f"W5-0{k}" for k in range(1, 9)])
def test_fifth_week(fifth_week_db: IngestedFifthWeek, incident_id, request):
    if incident_id in FIFTH_WEEK_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=FIFTH_WEEK_MISSES[incident_id]))
    incidents = fifth_week_db.week.labels()["incidents"]
    incident = next(i for i in incidents if i["id"] == incident_id)
    _check(fifth_week_db.db, incident, incidents, from_ns=parse_time(incident["detectable_from"]))
