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
from tracedesk.store.query import to_ns
from weeks.fifth_fixtures import IngestedFifthWeek, fifth_week, fifth_week_db  # noqa: F401  (pytest fixtures)
from weeks.feed_match import feed_name as _feed_name, hit as _hit, incident_by_id as _incident, overlaps as _overlaps

MIN = 60 * 10**9
DAY = 24 * 60 * MIN


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
IN_TOP_MISSES: dict[str, str] = {
    "W5-03": "found (cost_per_trace up on route=support_chat, dated at detectable_from) but ranked #9 of 13, one "
             "place below the top 8: above it is a calendar finding, trace_count down on route=expense_audit since "
             "Tue 03:52 (#4: the nightly batch runs an hour later in UTC after the DST change), which the feed does "
             "not yet read on the cohort's own clock, and W5-05 (#7), whose finding gained answer length and judge "
             "coverage in session 10 (impact 0.0405 vs W5-03's 0.0244)",
}
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
    real = [i for i in incidents if i["page_worthy"]]
    top = feed[:max(5, len(real))]
    rank, _f = _hit(top, _incident(incidents, incident_id))
    assert rank is not None, [f.title() for f in top]


@pytest.mark.parametrize("incident_id", REAL)
def test_fifth_week_start_within_15_minutes_of_detectable_from(feed, incidents, incident_id, request):
    if incident_id in START_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=START_MISSES[incident_id]))
    incident = _incident(incidents, incident_id)
    _rank, hit = _hit(feed, incident)
    assert hit is not None
    assert abs(hit.start_ns - to_ns(incident["detectable_from"])) <= 15 * MIN, (hit.title(), incident["detectable_from"])


def test_fifth_week_noise_ranks_below_every_real_incident(feed, incidents, request):
    """A noise finding is any finding overlapping a blip's window on one of the blip's signals, whatever cohort it
    names, that is not a real incident's hit. A real incident the feed misses entirely does not count here (the
    two tests above report it)."""
    if NOISE_MISS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=NOISE_MISS))
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


def test_fifth_week_quiet_days_yield_at_most_one_finding(fifth_week_db, request):
    if QUIET_MISS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=QUIET_MISS))
    days = fifth_week_db.week.labels()["quiet_days"]
    since = to_ns(f"{min(days)}T00:00:00Z")
    findings = find_changes(connect(fifth_week_db.db), since, to_ns(f"{max(days)}T00:00:00Z") + DAY)
    assert len(findings) <= 1, [f.title() for f in findings]
