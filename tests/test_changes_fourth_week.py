"""Acceptance of the changes feed (issue 15) on the fourth labelled week (tests/weeks/fourth_week.py), written
from the spec and real SDK captures before its author read the detector, the alerts code, the suggester or the
earlier weeks' generators: the same checks as on the other weeks, with the same constants. A failure that the
detector's design explains is a real finding and is marked xfail(strict=True) with the measured reason; no
constant is tuned.

"Top 5" becomes the top max(5, page-worthy incidents) = 8: eight page-worthy incidents cannot fit in five places.
The start is checked against each label's `detectable_from` (the first trace that carries the incident)."""
from __future__ import annotations

from typing import Any

import pytest

from tracedesk.analysis.changes import find_changes
from tracedesk.store import connect
from weeks.fourth_fixtures import IngestedFourthWeek, fourth_week, fourth_week_db  # noqa: F401  (pytest fixtures)
from weeks.feed_match import check_in_top, check_noise_below_real, check_quiet_days, check_start



@pytest.fixture(scope="module")
def feed(fourth_week_db: IngestedFourthWeek) -> list[Any]:
    return find_changes(connect(fourth_week_db.db))


@pytest.fixture(scope="module")
def incidents(fourth_week_db: IngestedFourthWeek) -> list[dict[str, Any]]:
    labels: list[dict[str, Any]] = fourth_week_db.week.labels()["incidents"]
    return labels


#: Known misses, each with what was measured (find_changes on the fixture's database, i.e.
#: `tracedesk changes --db <fourth week> --json`; 8 findings in all since session 8 (22 before: changes a mix of
#: the cohort's parts explains, and traffic read against the UTC weekday instead of the cohort's own, are no
#: findings); after main's a20e1f4, which stopped a tenant that first appears mid-week (lumen-retail) from reading
#: as 'trace_count down' before it existed and made the all-traffic faithfulness drop of W4-04 alias
#: route=product_qa: W4-03, W4-04 and W4-08 pass since. W4-02 passes since session 8's impact (#8, was #15), W4-07's
#: start since a step is dated at its first changed sample (6.6 min after detectable_from), the quiet days since
#: the two rules above (0 findings, were 6).
#: With session 8's tail signal (llm_stall_rate) and provider cohorts (tail8), W4-01 is found too (#4, error_rate
#: on provider=anthropic) and W4-06 is found, below the top 8. W4-06's start passes since session 10 (a rate read
#: back by stretches, analysis.lookback): the stretch from its first stalled call to the window, 44 calls of which 1
#: stalled, has a binomial tail of 0.022 at the model's baseline rate (1 in 1,976) and is likelier at the window's
#: (9 in 152): dated 23:02:34, detectable_from to the second (was 00:30:09). W4-06 ranks #8 since session 16
#: (was #9, below the top 8): route=order_status's latency during W4-01's 429 retries (#7 before, no label), whose
#: traces all call Anthropic, is W4-01's alias (changes._merge_contained).
IN_TOP_MISSES: dict[str, str] = {}
START_MISSES: dict[str, str] = {}
NOISE_MISS = ""
QUIET_MISS = ""

REAL = [f"W4-0{k}" for k in range(1, 9)]


@pytest.mark.parametrize("incident_id", REAL)
def test_fourth_week_page_worthy_incident_is_near_the_top_with_its_cohort(feed, incidents, incident_id, request):
    if incident_id in IN_TOP_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=IN_TOP_MISSES[incident_id]))
    check_in_top(feed, incidents, incident_id)


@pytest.mark.parametrize("incident_id", REAL)
def test_fourth_week_start_within_15_minutes_of_detectable_from(feed, incidents, incident_id, request):
    if incident_id in START_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=START_MISSES[incident_id]))
    check_start(feed, incidents, incident_id)


def test_fourth_week_noise_ranks_below_every_real_incident(feed, incidents, request):
    if NOISE_MISS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=NOISE_MISS))
    check_noise_below_real(feed, incidents)


def test_fourth_week_quiet_days_yield_at_most_one_finding(fourth_week_db, request):
    if QUIET_MISS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=QUIET_MISS))
    check_quiet_days(fourth_week_db.db, fourth_week_db.week.labels()["quiet_days"])
