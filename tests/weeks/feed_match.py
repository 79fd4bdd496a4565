"""Matching a labelled week's incidents to changes-feed findings: one definition for every week's feed acceptance
(which labelled signal the feed scans under which name, and which finding is an incident's)."""
from __future__ import annotations

from typing import Any

from tracedesk.store.query import to_ns

_FEED_ALIASES = {"trace_duration": "trace_latency", "ttft": "ttft"}
_FEED_SIGNALS = {"cost_per_trace", "thumbs_down_rate", "tool_calls_per_trace", "llm_calls_per_trace", "trace_count",
                 "input_tokens", "refusal_rate", "pii_rate", "error_rate"}


def feed_name(sig: dict[str, Any]) -> str | None:
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
