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
from tracedesk.store.query import to_ns
from weeks.fourth_fixtures import IngestedFourthWeek, fourth_week, fourth_week_db  # noqa: F401  (pytest fixtures)

MIN = 60 * 10**9
DAY = 24 * 60 * MIN

#: labelled registry signals the feed scans under another name (the rest: the same name, or not scanned)
_FEED_ALIASES = {"trace_duration": "trace_latency", "ttft": "ttft"}
_FEED_SIGNALS = {"cost_per_trace", "thumbs_down_rate", "tool_calls_per_trace", "llm_calls_per_trace", "trace_count",
                 "input_tokens", "refusal_rate", "pii_rate", "error_rate"}


def _feed_name(sig: dict[str, Any]) -> str | None:
    """The feed's name of one labelled signal (None: the feed does not scan it: output length, output tokens,
    spans per trace, retrieval score, percentiles other than its own). An LLM call's p99 is its tail: the
    feed's share of calls slower than twice the p99 of their kind (analysis.tails)."""
    name = sig["signal"]
    if name == "eval_score":
        return str(sig["evaluator"])
    if name == "duration":
        if sig["aggregation"] == "p99":
            return "llm_stall_rate" if sig["span_kind"] == "LLM" else None
        return f"{sig['span_kind'].lower()}_latency" if sig["aggregation"] in ("p95", "mean") else None
    if name == "error_rate":
        return {"TOOL": "tool_error_rate", None: "error_rate"}.get(sig.get("span_kind"))
    if name in _FEED_ALIASES:
        return _FEED_ALIASES[name]
    return name if name in _FEED_SIGNALS else None


def _cohorts(incident: dict[str, Any]) -> list[dict[str, str]]:
    return [incident["cohort"], *incident.get("equivalent_cohorts", [])]


def _overlaps(finding: Any, incident: dict[str, Any]) -> bool:
    f_end = finding.end_ns if finding.end_ns is not None else float("inf")
    return bool(finding.start_ns < to_ns(incident["end"]) and to_ns(incident["start"]) < f_end)


def _hit(findings: list[Any], incident: dict[str, Any]) -> tuple[int | None, Any]:
    """(rank, finding) of the first finding naming the incident's cohort (or one equivalent to it, or an alias:
    the same traffic) whose window overlaps the incident's."""
    cohorts = _cohorts(incident)
    for rank, f in enumerate(findings):
        if any(f.cohort == c or c in f.aliases for c in cohorts) and _overlaps(f, incident):
            return rank, f
    return None, None


@pytest.fixture(scope="module")
def feed(fourth_week_db: IngestedFourthWeek) -> list[Any]:
    return find_changes(connect(fourth_week_db.db))


@pytest.fixture(scope="module")
def incidents(fourth_week_db: IngestedFourthWeek) -> list[dict[str, Any]]:
    labels: list[dict[str, Any]] = fourth_week_db.week.labels()["incidents"]
    return labels


def _incident(incidents: list[dict[str, Any]], incident_id: str) -> dict[str, Any]:
    return next(i for i in incidents if i["id"] == incident_id)


#: Known misses, each with what was measured (find_changes on the fixture's database, i.e.
#: `tracedesk changes --db <fourth week> --json`; 26 findings in all, after the tail signal (llm_stall_rate) and
#: the provider cohorts: W4-01 is #4, error_rate on provider=anthropic 0.006 -> 0.55 from 10:15:32 (10 minutes
#: before its first 429), named by the provider because its models' traffic was all the traffic of those minutes;
#: W4-06 is #8, llm_stall_rate on model=gpt-4.1 (response_model gpt-4.1-2025-04-14, the same calls) 0.0005 -> 0.059)
IN_TOP_MISSES: dict[str, str] = {
    "W4-02": "found with its cohort as an alias: route=it_helpdesk (alias tool_name=reset_password), tool_error_rate "
             "0.007 -> 0.71 and error_rate 0.015 -> 0.33 from 01:31, but ranked #18 of 26: impact = d x share, and "
             "21 minutes hold a small share of the week's helpdesk samples, below week-long mix shifts "
             "(tenant=indus-soft input_tokens #15/#16/#23, tenant=koi-outfitters #13)",
}
START_MISSES: dict[str, str] = {
    "W4-06": "found (#8, llm_stall_rate on model=gpt-4.1 0.0005 -> 0.059) but dated 00:30:04, 87 minutes after "
             "detectable_from 23:02:34: the wave holds 10 stalled calls in 10 hours (4% of ~13 gpt-4.1 calls an "
             "hour), the first alone, 1 h 42 min before the second (00:44:37); the window with the most significant "
             "excess starts at the second's bucket, and the calls just before it are normal ones (lookback stops)",
    "W4-07": "found on tenant=kiwi-legal (#2, summarization 0.85 -> 0.52, aliases prompt_version=15) but dated "
             "00:59:38, 27.5 minutes before detectable_from 01:27:10: the midpoint between the tenant's last "
             "summarization sample on version 14 (00:25:31) and its first on version 15 (01:33:44); the tenant sent "
             "no summary in between",
}
NOISE_MISS = ""
QUIET_MISS = ("8 findings on Thursday-Friday, from how APAC traffic really moves, not from an incident: "
              "trace_count down on tenant=kiwi-legal since Fri 11:31 (23:31 in Wellington: its weekend starts while "
              "the UTC day is a weekday) and on route=it_helpdesk since Fri 21:45 (Saturday morning in Tokyo); "
              "trace_latency up on route=meeting_summary twice (Thu 00:07, Thu 20:03: kiwi-legal's long meetings "
              "fill the NZ morning hours) and on provider=anthropic twice (Thu 04:28, Fri 05:15: the review bot's "
              "and the research crew's long traces are most of anthropic's traffic in the Tokyo/Bangalore morning, "
              "the storefront's short ones in the evening); input_tokens up on tenant=indus-soft since Thu 10:32 and "
              "llm_latency up on tenant=tasman-energy since Fri 02:22 (the tenants' mix of services changes with "
              "their local hours: code review calls carry 14k input tokens, helpdesk calls 3k)")

REAL = [f"W4-0{k}" for k in range(1, 9)]


@pytest.mark.parametrize("incident_id", REAL)
def test_fourth_week_page_worthy_incident_is_near_the_top_with_its_cohort(feed, incidents, incident_id, request):
    if incident_id in IN_TOP_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=IN_TOP_MISSES[incident_id]))
    real = [i for i in incidents if i["page_worthy"]]
    top = feed[:max(5, len(real))]
    rank, _f = _hit(top, _incident(incidents, incident_id))
    assert rank is not None, [f.title() for f in top]


@pytest.mark.parametrize("incident_id", REAL)
def test_fourth_week_start_within_15_minutes_of_detectable_from(feed, incidents, incident_id, request):
    if incident_id in START_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=START_MISSES[incident_id]))
    incident = _incident(incidents, incident_id)
    _rank, hit = _hit(feed, incident)
    assert hit is not None
    assert abs(hit.start_ns - to_ns(incident["detectable_from"])) <= 15 * MIN, (hit.title(), incident["detectable_from"])


def test_fourth_week_noise_ranks_below_every_real_incident(feed, incidents, request):
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


def test_fourth_week_quiet_days_yield_at_most_one_finding(fourth_week_db, request):
    if QUIET_MISS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=QUIET_MISS))
    days = fourth_week_db.week.labels()["quiet_days"]
    since = to_ns(f"{min(days)}T00:00:00Z")
    findings = find_changes(connect(fourth_week_db.db), since, to_ns(f"{max(days)}T00:00:00Z") + DAY)
    assert len(findings) <= 1, [f.title() for f in findings]
