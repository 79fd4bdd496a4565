"""Matching a labelled week's incidents to changes-feed findings: one definition for every week's feed acceptance
(which labelled signal the feed scans under which name, and which finding is an incident's)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracedesk.store.query import to_ns

_FEED_ALIASES = {"trace_duration": "trace_latency", "ttft": "ttft"}
_FEED_SIGNALS = {"cost_per_trace", "thumbs_down_rate", "tool_calls_per_trace", "llm_calls_per_trace", "trace_count",
                 "input_tokens", "refusal_rate", "pii_rate", "error_rate", "output_length"}


def feed_name(sig: dict[str, Any]) -> str | None:
    """The feed's name of one labelled signal (None: the feed does not scan it: output tokens, spans per trace,
    retrieval score, percentiles other than its own). An LLM call's p99 is its tail: the feed's share of calls
    slower than twice the p99 of their kind (analysis.tails); an evaluator's count is its coverage (the share of
    traces it scored)."""
    name = sig["signal"]
    if name == "eval_score":
        return f"{sig['evaluator']}_coverage" if sig.get("aggregation") == "count" else str(sig["evaluator"])
    if name == "duration":
        if sig["aggregation"] == "p99":
            return "llm_stall_rate" if sig["span_kind"] == "LLM" else None
        return f"{sig['span_kind'].lower()}_latency" if sig["aggregation"] in ("p95", "mean") else None
    if name == "error_rate":
        return {"TOOL": "tool_error_rate", None: "error_rate"}.get(sig.get("span_kind"))
    if name in _FEED_ALIASES:
        return _FEED_ALIASES[name]
    return name if name in _FEED_SIGNALS else None


def cohorts(incident: dict[str, Any]) -> list[dict[str, str]]:
    return [incident["cohort"], *incident.get("equivalent_cohorts", [])]


def overlaps(finding: Any, incident: dict[str, Any]) -> bool:
    f_end = finding.end_ns if finding.end_ns is not None else float("inf")
    return bool(finding.start_ns < to_ns(incident["end"]) and to_ns(incident["start"]) < f_end)


def hit(findings: list[Any], incident: dict[str, Any]) -> tuple[int | None, Any]:
    """(rank, finding) of the first finding naming the incident's cohort (or one equivalent to it, or an alias:
    the same traffic) whose window overlaps the incident's."""
    wanted = cohorts(incident)
    for rank, f in enumerate(findings):
        if any(f.cohort == c or c in f.aliases for c in wanted) and overlaps(f, incident):
            return rank, f
    return None, None


def incident_by_id(incidents: list[dict[str, Any]], incident_id: str) -> dict[str, Any]:
    return next(i for i in incidents if i["id"] == incident_id)


# ---------------------------------------------------------------------------------------------
# The checks every labelled week's feed acceptance makes (tests/test_changes_*_week.py), with the same constants

#: how far a finding's start may be from the time its incident became detectable
START_TOLERANCE_NS = 15 * 60 * 10**9
DAY_NS = 24 * 3600 * 10**9


def check_in_top(feed: list[Any], incidents: list[dict[str, Any]], incident_id: str) -> None:
    """The incident is in the top max(5, page-worthy incidents) with its cohort (or an equivalent, or an alias)."""
    real = [i for i in incidents if i["page_worthy"]]
    top = feed[:max(5, len(real))]
    rank, _f = hit(top, incident_by_id(incidents, incident_id))
    assert rank is not None, [f.title() for f in top]


def check_start(feed: list[Any], incidents: list[dict[str, Any]], incident_id: str) -> None:
    """The incident's finding starts within START_TOLERANCE_NS of its label's detectable_from."""
    incident = incident_by_id(incidents, incident_id)
    _rank, found = hit(feed, incident)
    assert found is not None
    assert abs(found.start_ns - to_ns(incident["detectable_from"])) <= START_TOLERANCE_NS, \
        (found.title(), incident["detectable_from"])


def check_noise_below_real(feed: list[Any], incidents: list[dict[str, Any]],
                           name_of: Callable[[dict[str, Any]], str | None] = feed_name) -> None:
    """No noise finding ranks above a real incident's: a noise finding overlaps a blip's window on one of the blip's
    signals (`name_of` a labelled signal: its feed name), whatever cohort it names, and is no real incident's hit.
    A real incident the feed misses entirely does not count here (check_in_top reports it)."""
    real = [i for i in incidents if i["page_worthy"]]
    hits = {id(f) for i in real for f in [hit(feed, i)[1]] if f is not None}
    worst_real = max(r for r in (hit(feed, i)[0] for i in real) if r is not None)
    noisy = []
    for blip in (i for i in incidents if not i["page_worthy"]):
        names = {name_of(s) for s in blip["signals"]} - {None}
        for rank, f in enumerate(feed):
            if id(f) not in hits and overlaps(f, blip) and names & set(f.signals):
                noisy.append((rank, blip["id"], f.title()))
    assert all(rank > worst_real for rank, _id, _t in noisy), (worst_real, noisy)


def check_quiet_days(db_path: str, quiet_days: list[str]) -> None:
    """A comparison of the labelled quiet days yields at most one finding."""
    from tracedesk.analysis.changes import find_changes
    from tracedesk.store import connect

    since = to_ns(f"{min(quiet_days)}T00:00:00Z")
    findings = find_changes(connect(db_path), since, to_ns(f"{max(quiet_days)}T00:00:00Z") + DAY_NS)
    assert len(findings) <= 1, [f.title() for f in findings]
