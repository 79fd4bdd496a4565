"""Acceptance of the changes feed (issue 15) on the sixth labelled week (tests/weeks/sixth_week.py), written from
the spec before its author ran the feed or read the detector, the alerts code, the suggester or the earlier weeks'
generators: the same checks as on the fourth and fifth weeks, with the same constants. A failure that the detector's
design explains is a real finding and is marked xfail(strict=True) with the measured reason; no constant is tuned
and the week is not adjusted.

"Top 5" becomes the top max(5, page-worthy incidents) = 7. The start is checked against each label's
`detectable_from` (the first trace that carries the incident). W6-07's cohort is provider=anthropic, spread over
three routes; W6-02 is an outage of the judge (no scores, not low ones); Thursday is Showa Day, a Japanese holiday."""
from __future__ import annotations

from typing import Any

import pytest

from tracedesk.analysis.changes import find_changes
from tracedesk.store import connect
from weeks.feed_match import check_in_top, check_noise_below_real, check_quiet_days, check_start
from weeks.sixth_fixtures import IngestedSixthWeek, sixth_week, sixth_week_db  # noqa: F401  (pytest fixtures)



@pytest.fixture(scope="module")
def feed(sixth_week_db: IngestedSixthWeek) -> list[Any]:
    return find_changes(connect(sixth_week_db.db))


@pytest.fixture(scope="module")
def incidents(sixth_week_db: IngestedSixthWeek) -> list[dict[str, Any]]:
    labels: list[dict[str, Any]] = sixth_week_db.week.labels()["incidents"]
    return labels


#: Known misses, each with what was measured (find_changes on the fixture's database, i.e.
#: `tracedesk changes --db <sixth week> --json`: 8 findings, 2.0 s CPU), in session 10 after findings on two values
#: of one trace-level dimension stopped merging (analysis.changes._may_share_traffic). In the top 7: #1 W6-07 (named
#: route=kb_answers, alias provider=anthropic, dated 2.1 min after detectable_from), #2 W6-06 (groundedness down on
#: tenant=siam-express, at detectable_from), #3 W6-01 (groundedness & tool calls down on tenant=koala-post, 13.8 min
#: after), #4 W6-04 (input_tokens & cost up on route=returns_desk, at detectable_from), #5 W6-05 (calls, tokens and
#: cost up on route=dispatch_crew, at detectable_from), #6 a calendar finding (trace_count down on
#: tenant=sakura-logistics, Wed 21:45 -> Thu 16:30: Showa Day), #7 W6-07 again on route=returns_desk (the
#: brownout's other Claude route). Before that, W6-01 and W6-05 were folded into W6-06's and W6-04's findings as
#: aliases and dated 45.6 h and 21.4 h early.
#: Since session 10 the feed also reads each judge's coverage and answer length: W6-02 is #5
#: (groundedness_coverage down on route=kb_answers) and W6-03 #6 (output_length down on route=support_chat, dated at
#: detectable_from); W6-05 moves to #7 (10 findings).
IN_TOP_MISSES: dict[str, str] = {}
START_MISSES: dict[str, str] = {
    "W6-02": "found (#5, groundedness_coverage down on route=kb_answers, 0 scored in the window) but dated 06:09:05, "
             "15.6 min after detectable_from 05:53:28: the two unscored kb_answers traces before it (05:53:28, "
             "05:57:59) are no evidence on their own at dawn on Showa Day, where the judge scored 7 of the hour's 17 "
             "traces before the outage (two misses in a row: 0.6^2 = 0.36 under that rate)",
}
NOISE_MISS = ""
QUIET_MISS = ""

REAL = [f"W6-0{k}" for k in range(1, 8)]


@pytest.mark.parametrize("incident_id", REAL)
def test_sixth_week_page_worthy_incident_is_near_the_top_with_its_cohort(feed, incidents, incident_id, request):
    if incident_id in IN_TOP_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=IN_TOP_MISSES[incident_id]))
    check_in_top(feed, incidents, incident_id)


@pytest.mark.parametrize("incident_id", REAL)
def test_sixth_week_start_within_15_minutes_of_detectable_from(feed, incidents, incident_id, request):
    if incident_id in START_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=START_MISSES[incident_id]))
    check_start(feed, incidents, incident_id)


def test_sixth_week_noise_ranks_below_every_real_incident(feed, incidents, request):
    if NOISE_MISS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=NOISE_MISS))
    check_noise_below_real(feed, incidents)


def test_sixth_week_quiet_days_yield_at_most_one_finding(sixth_week_db, request):
    if QUIET_MISS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=QUIET_MISS))
    check_quiet_days(sixth_week_db.db, sixth_week_db.week.labels()["quiet_days"])
