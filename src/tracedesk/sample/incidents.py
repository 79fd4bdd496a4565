"""The labelled incidents of the sample week: when, where, which signals move, and whether to page.

Times are offsets from the start of the generated period (a Monday, 00:00 UTC), so any start date
gives the same story. `active(...)` is what the generator asks while drawing each trace.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from . import world

HOUR = 3600


@dataclass(frozen=True)
class Incident:
    id: str
    type: str
    start_h: float  # hours after the period start
    end_h: float
    cohort: dict[str, str]
    signals: list[dict[str, Any]]
    should_page: bool
    description: str
    extra: dict[str, Any] = field(default_factory=dict)

    def covers(self, t_s: float, period_start_s: float) -> bool:
        h = (t_s - period_start_s) / HOUR
        return self.start_h <= h < self.end_h

    def to_json(self, period_start: datetime, cap_h: float | None = None) -> dict[str, Any]:
        end_h = self.end_h if cap_h is None else min(self.end_h, cap_h)
        return {
            "id": self.id,
            "type": self.type,
            "start": _iso(period_start + timedelta(hours=self.start_h)),
            "end": _iso(period_start + timedelta(hours=end_h)),
            "cohort": dict(self.cohort),
            "signals": [dict(s) for s in self.signals],
            "should_page": self.should_page,
            "description": self.description,
            **self.extra,
        }


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


D = 24  # hours per day; offsets below read "day * D + hour"

INCIDENTS: tuple[Incident, ...] = (
    Incident(
        "INC-01", "joint_regression", 2 * D + 13, 2 * D + 17, {"route": "refunds"},
        [{"signal": "groundedness", "kind": "evaluation", "aggregation": "mean", "direction": "down",
          "baseline": 0.87, "during": 0.42},
         {"signal": "retriever_latency", "kind": "duration", "span_kind": "RETRIEVER", "aggregation": "p95",
          "direction": "up", "baseline_ms": 250, "during_ms": 2000}],
        True,
        "Vector index for refunds degraded (a replica fell back to a cold disk): retrieval slows ~9x and "
        "returns archived, off-topic passages, so synthesis answers lose grounding. Refunds only.",
    ),
    Incident(
        "INC-02", "latency_blip", 1 * D + 14.5, 1 * D + 15.25, {"route": "billing"},
        [{"signal": "retriever_latency", "kind": "duration", "span_kind": "RETRIEVER", "aggregation": "p95",
          "direction": "up"},
         {"signal": "llm_latency", "kind": "duration", "span_kind": "LLM", "aggregation": "p95",
          "direction": "up"},
         {"signal": "trace_latency", "kind": "duration", "aggregation": "p95", "direction": "up"}],
        False,
        "45-minute slowdown on billing traffic (a noisy neighbour on the vector DB and a slow model region): "
        "retrieval ~10x and LLM calls ~3x slower, answers unchanged. Quality intact: a single-signal blip a "
        "good joint alert should not page on.",
    ),
    Incident(
        "INC-03", "quality_blip", 0 * D + 14.5, 0 * D + 15.5, {"route": "onboarding"},
        [{"signal": "groundedness", "kind": "evaluation", "aggregation": "mean", "direction": "down"}],
        False,
        "One-hour dip in groundedness on onboarding (a stale FAQ page was briefly live); latency normal. "
        "Single signal, self-resolving: should not page.",
    ),
    Incident(
        "INC-04", "tool_retry_loop", 3 * D + 8, 3 * D + 12, {"route": "tech-support"},
        [{"signal": "tool_error_rate", "kind": "error_rate", "span_kind": "TOOL", "direction": "up"},
         {"signal": "cost_per_trace", "kind": "cost", "aggregation": "mean", "direction": "up", "ratio": 3.0},
         {"signal": "llm_calls_per_trace", "kind": "count", "direction": "up"}],
        True,
        "The diagnostics backend times out; research_agent retries run_diagnostics 3-5 times, re-prompting "
        "the model each time with a growing context: cost per tech-support trace roughly triples.",
        {"tool": "run_diagnostics"},
    ),
    Incident(
        "INC-05", "refusal_cliff", 4 * D + 6, 5 * D + 6, {"model": world.SYNTHESIS_MODEL_REFRESHED},
        [{"signal": "refusal_rate", "kind": "rate", "span_kind": "LLM", "direction": "up",
          "baseline": 0.005, "during": 0.3}],
        True,
        f"The provider silently refreshed {world.SYNTHESIS_MODEL}: responses now report "
        f"{world.SYNTHESIS_MODEL_REFRESHED} and synthesis_agent refuses ~30% of ordinary questions. Rolled "
        "back by the provider after 24 hours. All routes, one model.",
        {"requested_model": world.SYNTHESIS_MODEL, "agent": "synthesis_agent"},
    ),
    Incident(
        "INC-06", "prompt_version_regression", 1 * D + 12, 7 * D, {"prompt_version": "synthesis-v4",
                                                                   "tenant": "globex"},
        [{"signal": "groundedness", "kind": "evaluation", "aggregation": "mean", "direction": "down",
          "baseline": 0.87, "during": 0.6},
         {"signal": "user_feedback", "kind": "evaluation", "label": "thumbs_down", "direction": "up"}],
        True,
        "Synthesis prompt synthesis-v4 rolls out (25% Tue 12:00, 60% Wed 00:00, 100% Wed 12:00). Its new "
        "'answer in the customer's language' rule breaks grounding for globex, whose customers write in "
        "German; every other tenant is fine, so global averages barely move.",
        {"rollout": [{"at_hours": 1 * D + 12, "share": 0.25}, {"at_hours": 2 * D, "share": 0.6},
                     {"at_hours": 2 * D + 12, "share": 1.0}]},
    ),
    Incident(
        "INC-07", "retrieval_drift", 5 * D + 3, 7 * D, {},
        [{"signal": "retrieved_documents", "kind": "drift", "direction": "changed"},
         {"signal": "retrieval_score", "kind": "score", "aggregation": "mean", "direction": "down"}],
        False,
        "Knowledge base reindexed Saturday 03:00 with a new chunker: document ids change (kbv2-*), generic "
        "passages (legal notice, release notes) start ranking in the top 4, retrieval scores drop ~0.15. "
        "Answers stay mostly fine: a drift to look at, not a page.",
    ),
    Incident(
        "INC-08", "pii_leak", 5 * D + 12, 6 * D + 6, {"tenant": "initech"},
        [{"signal": "pii", "kind": "evaluation", "direction": "up"}],
        True,
        "A CRM connector change puts customer contact records into synthesis context for initech: answers "
        "leak emails, phone numbers and card numbers (Luhn-valid).",
    ),
    Incident(
        "INC-09", "prompt_injection_campaign", 6 * D + 14, 6 * D + 16, {"tenant": "hooli"},
        [{"signal": "prompt_injection", "kind": "evaluation", "direction": "up"}],
        False,
        "One hooli user sends ~2 dozen prompt-injection attempts ('ignore previous instructions...'). The "
        "input guardrail blocks most of them; a few reach the agents. Worth a ticket, not a page.",
        {"user_id": "usr_hooli_attacker"},
    ),
)

#: Share of traffic on synthesis-v4 at a given hour offset (INC-06 rollout).
def v4_share(hours: float) -> float:
    share = 0.0
    for step in INCIDENTS[5].extra["rollout"]:
        if hours >= step["at_hours"]:
            share = step["share"]
    return share


def by_id(incident_id: str) -> Incident:
    for inc in INCIDENTS:
        if inc.id == incident_id:
            return inc
    raise KeyError(incident_id)


def incidents_json(seed: int, start: datetime, days: int) -> dict[str, Any]:
    """The incidents.json document: only the incidents that overlap the generated period."""
    end_h = days * D
    return {
        "seed": seed,
        "start": _iso(start),
        "end": _iso(start + timedelta(days=days)),
        "incidents": [inc.to_json(start, end_h) for inc in INCIDENTS if inc.start_h < end_h],
    }
