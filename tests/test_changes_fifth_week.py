"""Acceptance of the changes feed (issue 15) on the fifth labelled week (tests/weeks/fifth_week.py), written
from the spec before its author ran the feed or read the detector, the alerts code, the suggester or the earlier
weeks' generators: the same checks as on the fourth week, with the same constants. A failure that the detector's
design explains is a real finding and is marked xfail(strict=True) with the measured reason; no constant is tuned
and the week is not adjusted.

"Top 5" becomes the top max(5, page-worthy incidents) = 8. The start is checked against each label's
`detectable_from` (the first trace that carries the incident; W5-01's is when its ramp reaches 1.5x). W5-07's
cohort is a pair (route x model): a finding must name both."""
from __future__ import annotations

from typing import Any

import pytest

from tracedesk.analysis.changes import find_changes
from tracedesk.store import connect
from weeks.fifth_fixtures import IngestedFifthWeek, fifth_week, fifth_week_db  # noqa: F401  (pytest fixtures)
from weeks.feed_match import check_in_top, check_noise_below_real, check_quiet_days, check_start



@pytest.fixture(scope="module")
def feed(fifth_week_db: IngestedFifthWeek) -> list[Any]:
    return find_changes(connect(fifth_week_db.db))


@pytest.fixture(scope="module")
def incidents(fifth_week_db: IngestedFifthWeek) -> list[dict[str, Any]]:
    labels: list[dict[str, Any]] = fifth_week_db.week.labels()["incidents"]
    return labels


#: Known misses, each with what was measured (find_changes on the fixture's database, i.e.
#: `tracedesk changes --db <fifth week> --json`: 12 findings, 2.9 s CPU), on main 69bb2c8 after the week was
#: committed (e3faaa9). The feed puts 7 of the 8 incidents in its top 8 (W5-07's pair as model=gpt-4.1-mini x
#: prompt_version=bqa-v8, aliased route=benefits_qa x model: the same traffic in its window), and dates W5-02,
#: W5-06 and W5-08 within 15 minutes. Since session 8's feed8 (a step dated at its first changed sample, not
#: halfway from the cohort's last sample before; composition and traffic rules: 10 findings) W5-05 and W5-07 are
#: dated at detectable_from to the second (route=hr_helpdesk's first trace on hr-2.0, 16:33:53, after 91 minutes
#: without HR traffic; model=gpt-4.1-mini x route=benefits_qa from 15:53:54, a step).
#: With cache writes stored and priced (usage8) W5-03 is found as well (cost_per_trace up on route=support_chat).
#: W5-01's start passes since session 10 (a duration's ramp fitted in milliseconds, where the tool's slowdown is a
#: line, and dated at its first sample after the 1-sd crossing): 15:01:36, 3 s after detectable_from (was 14:00:00).
#: Since session 10 the feed also reads answer length and each judge's coverage: W5-05 (#7: its hr_helpdesk finding
#: gains output_length down and answer_correctness coverage down) enters the top 8 and pushes W5-03 to #9.
#: W5-03 passes since the traffic scan reads a drop whose traces came an hour later as moved (analysis.traffic
#: _moved): expense_audit's nightly batch after the DST end (trace_count down since Tue 03:52, was #4) is no drop
#: any more, and W5-03 ranks #8 of 12.
IN_TOP_MISSES: dict[str, str] = {}
START_MISSES: dict[str, str] = {
    "W5-04": "found as answer_correctness down on all traffic (#3, 0.81 -> 0.63, alias route=benefits_qa) but "
             "dated 17:31:35 (shape 'step'), 3 h 13 min after detectable_from 14:18:25: the stale answers are judged "
             "from 14:20 (0.3x correctness) while only the 2028 questions (30% at first, rising) are wrong, so the "
             "route's mean slides rather than steps",
}
NOISE_MISS = ""
QUIET_MISS = ""

REAL = [f"W5-0{k}" for k in range(1, 9)]


@pytest.mark.parametrize("incident_id", REAL)
def test_fifth_week_page_worthy_incident_is_near_the_top_with_its_cohort(feed, incidents, incident_id, request):
    if incident_id in IN_TOP_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=IN_TOP_MISSES[incident_id]))
    check_in_top(feed, incidents, incident_id)


@pytest.mark.parametrize("incident_id", REAL)
def test_fifth_week_start_within_15_minutes_of_detectable_from(feed, incidents, incident_id, request):
    if incident_id in START_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=START_MISSES[incident_id]))
    check_start(feed, incidents, incident_id)


def test_fifth_week_noise_ranks_below_every_real_incident(feed, incidents, request):
    if NOISE_MISS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=NOISE_MISS))
    check_noise_below_real(feed, incidents)


def test_fifth_week_quiet_days_yield_at_most_one_finding(fifth_week_db, request):
    if QUIET_MISS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=QUIET_MISS))
    check_quiet_days(fifth_week_db.db, fifth_week_db.week.labels()["quiet_days"])
