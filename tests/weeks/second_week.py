"""A second labelled week of LLM/agent traffic, written from the spec (DESIGN.md, semconv.md, the README's
ingest formats and the label schema of the sample's incidents.json), not from tracedesk's sample generator.

It is acceptance data for the changes feed, alerts and heuristics: other services, routes, tenants, models,
providers, conventions, rates and incident shapes than the sample, so a detector tuned to one week shows it.
The module is self-contained (stdlib + orjson) and imports nothing from tracedesk: it emits what real
instrumentations emit, whether or not tracedesk reads all of it yet.

    from weeks.second_week import write_week
    week = write_week(tmp_path)          # -> WeekFiles: files, incidents.json, exact counts

The world (see tests/weeks/README.md for the story):
- claims       claims-copilot, OTel GenAI latest names (invoke_agent / chat / execute_tool / retrieval),
               planner -> transfer_to_<specialist> -> specialist; scores as gen_ai.evaluation.result span events
- onboarding,  onboarding-flow, OpenLLMetry/Traceloop (workflow / agent / tool / handoff spans, openai.chat,
  kyc          anthropic.chat, gemini.generate_content); scores as gen_ai.evaluation.result OTLP log records
- search       search-gateway, OpenInference (CHAIN / EMBEDDING / RETRIEVER / RERANKER / LLM), written as
               Collector file-exporter JSON Lines; scores as flattened evaluations.{i}.evaluation.*
- escalations  escalations-desk, a homegrown logger writing flat JSONL records with `scores`

Every random draw comes from one `random.Random(seed)` in a fixed order; gzip is written with mtime 0, so
the same arguments give byte-identical files.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

DEFAULT_SEED = 20270308
WEEK_START = datetime(2027, 3, 8, tzinfo=timezone.utc)  # a Monday
#: Expected traces per 7 days at scale 1.0 (Poisson, so the realised count differs a little).
TRACES_PER_WEEK = 4200

NS = 1_000_000_000
MS = 1_000_000
MINUTE = 60 * NS
HOUR = 60 * MINUTE
DAY = 24 * HOUR
T0 = int(WEEK_START.timestamp()) * NS

# ---------------------------------------------------------------------------------------------
# The world

TENANTS: tuple[tuple[str, float], ...] = (
    ("northwind", 0.24), ("contoso", 0.22), ("wayne-ent", 0.16), ("tyrell", 0.14), ("soylent", 0.13),
    ("umbrella", 0.11),
)
ROUTES: tuple[tuple[str, float], ...] = (
    ("claims", 0.30), ("onboarding", 0.17), ("kyc", 0.15), ("search", 0.28), ("escalations", 0.10),
)
SERVICES = {"claims": "claims-copilot", "onboarding": "onboarding-flow", "kyc": "onboarding-flow",
            "search": "search-gateway", "escalations": "escalations-desk"}
PROMPT_VERSIONS = {"claims": "claims-answer@7", "onboarding": "onb-2027.02", "kyc": "kyc-v3.1",
                   "search": "search-v12", "escalations": "esc-reply-v5"}
NEW_KYC_PROMPT = "kyc-v3.2"
#: Mean groundedness / answer relevance of each route when nothing is wrong.
GROUNDEDNESS = {"claims": 0.86, "onboarding": 0.88, "search": 0.83, "escalations": 0.85}
RELEVANCE = {"claims": 0.84, "kyc": 0.87}

# requested model -> (response model, provider per convention, ttft median ms, output tokens/s, $/in, $/out)
MODELS: dict[str, dict[str, Any]] = {
    "gpt-4.1-mini": {"response": "gpt-4.1-mini-2025-04-14", "ttft": 380, "tps": 95,
                     "price": (0.4e-6, 1.6e-6), "genai": "openai", "traceloop": "openai"},
    "gpt-4.1": {"response": "gpt-4.1-2025-04-14", "ttft": 620, "tps": 58, "price": (2e-6, 8e-6),
                "flat": "openai"},
    "claude-sonnet-4-5": {"response": "claude-sonnet-4-5-20250929", "ttft": 650, "tps": 62,
                          "price": (3e-6, 15e-6), "genai": "anthropic", "traceloop": "Anthropic"},
    "gemini-2.5-flash": {"response": "gemini-2.5-flash", "ttft": 420, "tps": 140, "price": (0.3e-6, 2.5e-6),
                         "traceloop": "Google", "openinference": ("google", "vertexai")},
    "anthropic.claude-3-5-haiku-20241022-v1:0": {"response": "anthropic.claude-3-5-haiku-20241022-v1:0",
                                                 "ttft": 520, "tps": 80, "price": (0.8e-6, 4e-6),
                                                 "flat": "bedrock"},
    "text-embedding-3-small": {"response": "text-embedding-3-small", "price": (0.02e-6, 0.0)},
}
REFRESHED_SNAPSHOT = "claude-sonnet-4-5-20260219"

CLAIMS_SPECIALISTS = (("coverage_specialist", 0.50), ("payout_specialist", 0.35), ("fraud_screener", 0.15))
SPECIALIST_TOOL = {"coverage_specialist": "policy_lookup", "payout_specialist": "policy_lookup",
                   "fraud_screener": "fraud_score"}

#: How models actually decline (straight and curly apostrophes, apologies, redirects). Low base rate.
REFUSAL_PHRASES: tuple[str, ...] = (
    "I'm sorry, but I can't help with that request.",
    "I\u2019m not able to help with that.",
    "I can't assist with that. If you have questions about your policy, I'm happy to help.",
    "I apologize, but I cannot provide advice on that.",
    "Unfortunately, I\u2019m unable to share that information.",
    "I won't be able to help with this one. Please contact a licensed adjuster.",
    "Sorry, I can\u2019t do that.",
    "I'm unable to process this request as it may involve sensitive personal data.",
    "That's not something I can help with, but I can connect you with a specialist.",
    "I must decline to answer that.",
)
#: Apologies and "can't" that are NOT refusals, prefixed to ordinary answers (a detector must not count them).
BENIGN_OPENERS: tuple[str, ...] = (
    "Sorry for the wait! ", "Apologies for the confusion earlier \u2014 ", "I can't wait to get this sorted: ",
    "Sorry about that. ", "Unfortunately the first upload was blurry, but the second one works. ",
)
REFUSAL_BASE = {"claude-sonnet-4-5": 0.010}
REFUSAL_OTHER = 0.004

#: (question, answer) pairs per route; both are filled from the same slot values, so an answer is about its
#: question (text heuristics such as answer relevance see coherent pairs).
CLAIMS_QA = (
    ("Is water damage from a burst pipe covered under policy {pol}?",
     "Under policy {pol}, sudden and accidental discharge of water from a burst pipe is covered; gradual leaks "
     "are excluded (section 4.2). Your ${ded} deductible applies."),
    ("What's the status of claim {clm}? I submitted photos on Monday.",
     "Claim {clm} is in review: your photos arrived and an adjuster is assigned. Expect a decision within 5 "
     "business days."),
    ("How much will I get back for the windshield repair on claim {clm}?",
     "For claim {clm} the approved windshield repair is ${amt}; after your ${ded} deductible you will receive "
     "${net}."),
    ("My car was hit in a parking lot, do I need a police report to file?",
     "A police report is not required to file for parking-lot damage, but photos and the other driver's "
     "details speed the claim up. Your ${ded} deductible applies."),
    ("Can I add the rental car costs to claim {clm}?",
     "Yes: rental costs can be added to claim {clm} up to $40 a day for 14 days under your transportation "
     "cover."),
    ("Why was my deductible applied twice on claim {clm}?",
     "On claim {clm} the ${ded} deductible was applied once per incident: the glass and the body damage were "
     "filed as two incidents. I've asked the adjuster to merge them."),
)
ONBOARDING_QA = (
    ("How do I set up a business account for my bakery?",
     "You can open a business account in about 10 minutes: have your company number, a director's ID and "
     "proof of address ready."),
    ("Which documents do I need to open a joint account?",
     "For a joint account both holders verify their identity with a passport or driving licence; each gets "
     "an invitation link."),
    ("Can I onboard as a sole trader without a company number?",
     "Yes: sole traders can onboard with a personal ID and proof of trading such as a recent invoice."),
    ("I never received the verification email, what now?",
     "I've resent the verification email to the address on file; the link expires in 24 hours."),
    ("Can my accountant get read-only access during setup?",
     "Yes: add your accountant as a viewer under Team once the account is open; viewers cannot move money."),
)
KYC_QA = (
    ("Here's my passport scan, can you verify my identity?",
     "Your passport {doc} is verified: the name and date of birth match your application."),
    ("My proof of address is a utility bill from February, is that OK?",
     "A utility bill dated within the last 3 months is accepted, so your February bill is fine."),
    ("Why was my ID rejected? It's a valid driving licence.",
     "Your driving licence {doc} was rejected because the photo was cut off at the edge; please upload a scan "
     "showing all four corners."),
    ("Can I use a residence permit instead of a passport?",
     "Yes, a residence permit is accepted as ID when you add a proof of address."),
)
SEARCH_QA = (
    ("refund policy for annual plans", "Annual plans can be refunded pro rata within 30 days of renewal [kb-{d1}]."),
    ("how to reset two-factor authentication",
     "Go to Settings > Security > Two-factor and choose Reset; you'll need a backup code [kb-{d1}]."),
    ("export invoices as csv", "Invoices export as CSV from Billing > History > Export [kb-{d1}]."),
    ("api rate limits enterprise tier",
     "Enterprise API keys allow 3,000 requests per minute, burstable to 5,000 [kb-{d1}]."),
    ("change billing address", "Change the billing address under Billing > Details > Address [kb-{d1}]."),
    ("sso setup with okta",
     "Set up SSO with Okta under Settings > Security > SAML: paste the Okta metadata URL [kb-{d1}]."),
    ("data retention after deleting a workspace",
     "After a workspace is deleted its data is retained for 30 days, then erased [kb-{d1}]."),
    ("add a team member with admin rights",
     "Invite the member under Team > Invite and pick the Admin role [kb-{d1}]."),
)
ESCALATION_QA = (
    ("Customer threatens to cancel after a third failed payout on claim {clm}; needs a supervisor reply.",
     "Draft: We're sorry the payout on {clm} failed again. A supervisor has released it manually; you'll see "
     "it within 24 hours, and we've waived this month's fee."),
    ("Complaint: an agent promised a callback about {clm} that never happened.",
     "Draft: You should have had a call back about {clm}. I've booked one for tomorrow 10:00 with a senior "
     "adjuster and noted the delay on your file."),
    ("Repeated double charge on card ending {last4}; customer wants a refund today.",
     "Draft: The duplicate charge on the card ending {last4} is refunded today; banks take 3-5 days to show it."),
)


# ---------------------------------------------------------------------------------------------
# Incidents (times are offsets from WEEK_START; none on a round hour)

def _at(day: int, hhmm: str) -> int:
    h, m = hhmm.split(":")
    return T0 + day * DAY + int(h) * HOUR + int(m) * MINUTE


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Incident:
    id: str
    type: str
    start: int
    end: int | None  # None: lasts until the end of the generated range
    cohort: dict[str, str]
    signals: tuple[dict[str, Any], ...]
    should_page: bool
    description: str
    extra: dict[str, Any] = field(default_factory=dict)

    def active(self, t: int) -> bool:
        return self.start <= t and (self.end is None or t < self.end)

    def label(self, range_end: int) -> dict[str, Any]:
        end = range_end if self.end is None else min(self.end, range_end)
        out: dict[str, Any] = {
            "id": self.id, "type": self.type, "start": _iso(self.start), "end": _iso(end),
            "cohort": dict(self.cohort), "signals": [dict(s) for s in self.signals],
            "should_page": self.should_page, "description": self.description,
        }
        out.update(self.extra)
        return out


DECLINE_RAMP_NS = 30 * HOUR
DECLINE_DEPTH = 0.34

INCIDENTS: tuple[Incident, ...] = (
    Incident(
        "W2-01", "gradual_quality_decline", _at(2, "06:26"), _at(3, "16:43"), {"tenant": "northwind"},
        ({"signal": "groundedness", "kind": "evaluation", "aggregation": "mean", "direction": "down",
          "baseline": 0.86, "during": 0.52},),
        True,
        "northwind's knowledge-base connector starts skipping updated documents: every hour more of its "
        "retrieved context is stale, so groundedness slides from ~0.86 to ~0.52 over 30 hours on every route "
        "northwind uses, then holds until the connector is fixed. No latency or error change: a slow "
        "decline, not a step.",
        {"shape": "linear_ramp", "ramp_hours": 30, "ramp_end": _iso(_at(2, "06:26") + 30 * HOUR),
         # A ramp from zero has no datable onset: the time the slide reaches 0.1 is when it can first be seen.
         "detectable_from": _iso(_at(2, "06:26") + int(0.1 / 0.34 * 30 * HOUR))},
    ),
    Incident(
        "W2-02", "tool_retry_loop", _at(2, "13:47"), _at(2, "16:52"), {"route": "claims"},
        ({"signal": "tool_calls_per_trace", "kind": "count", "span_kind": "TOOL", "aggregation": "mean",
          "direction": "up"},
         {"signal": "cost_per_trace", "kind": "cost", "aggregation": "mean", "direction": "up"},
         {"signal": "llm_calls_per_trace", "kind": "count", "span_kind": "LLM", "aggregation": "mean",
          "direction": "up"}),
        True,
        "A pagination change in the policy service makes policy_lookup return status 'partial' with no items "
        "(HTTP 200, no error). Claims specialists call it 4-7 times, re-prompting claude-sonnet-4-5 with a "
        "growing context each time: tool calls and cost per claims trace roughly triple. No span errors.",
        {"tool": "policy_lookup"},
    ),
    Incident(
        "W2-03", "refusal_cliff", _at(3, "04:38"), _at(4, "01:12"), {"model": "claude-sonnet-4-5"},
        ({"signal": "refusal_rate", "kind": "rate", "span_kind": "LLM", "direction": "up",
          "baseline": 0.01, "during": 0.10},
         {"signal": "answer_relevance", "kind": "evaluation", "aggregation": "mean", "direction": "down"}),
        True,
        "Anthropic refreshes the snapshot behind claude-sonnet-4-5: responses report "
        f"{REFRESHED_SNAPSHOT} instead of claude-sonnet-4-5-20250929 and ~10% of ordinary answers are "
        "refusals (stop reason 'refusal') instead of ~1%. The requested model never changes; rolled back "
        "after ~20 h. Affects claims (OTel GenAI, provider 'anthropic') and onboarding (Traceloop, "
        "'Anthropic').",
        {"requested_model": "claude-sonnet-4-5", "response_model_before": "claude-sonnet-4-5-20250929",
         "response_model_during": REFRESHED_SNAPSHOT},
    ),
    Incident(
        "W2-04", "joint_regression", _at(3, "10:19"), _at(3, "14:22"), {"route": "search"},
        ({"signal": "retriever_latency", "kind": "duration", "span_kind": "RETRIEVER", "aggregation": "p95",
          "direction": "up", "baseline_ms": 150, "during_ms": 2200},
         {"signal": "groundedness", "kind": "evaluation", "aggregation": "mean", "direction": "down",
          "baseline": 0.83, "during": 0.48},
         {"signal": "retrieval_score", "kind": "score", "aggregation": "mean", "direction": "down"}),
        True,
        "The search vector index fails over to a replica with a stale, unsharded index: vector_search is "
        "~12x slower and returns archived, low-scoring passages, so answers lose grounding. Search only.",
    ),
    Incident(
        "W2-05", "prompt_version_regression", _at(4, "10:05"), None, {"prompt_version": NEW_KYC_PROMPT},
        ({"signal": "answer_relevance", "kind": "evaluation", "aggregation": "mean", "direction": "down",
          "baseline": 0.87, "during": 0.62},
         {"signal": "user_feedback", "kind": "evaluation", "label": "thumbs_down", "direction": "up"},
         {"signal": "field_extraction", "kind": "evaluation", "aggregation": "pass_rate", "direction": "down"}),
        True,
        f"kyc prompt {NEW_KYC_PROMPT} replaces kyc-v3.1 (deployed Fri 10:05 as a canary on 30% of kyc traffic, "
        "100% from Fri 14:05; the label starts at its first trace). Its shortened instructions drop 'quote "
        "the document field you checked': answers get vaguer (relevance ~0.87 -> ~0.62), thumbs-down "
        "~5% -> ~30%, and it uses ~25% fewer input tokens (cheaper, which hides it on cost). "
        "The cohort did not exist before the rollout.",
        {"replaces": {"prompt_version": "kyc-v3.1"}, "route": "kyc", "deployed_at": _iso(_at(4, "10:05")),
         "rollout": [{"at": _iso(_at(4, "10:05")), "share": 0.3}, {"at": _iso(_at(4, "14:05")), "share": 1.0}]},
    ),
    Incident(
        "W2-06", "tool_error_spike", _at(5, "11:07"), _at(5, "12:31"), {"tool": "customer_profile"},
        ({"signal": "tool_error_rate", "kind": "error_rate", "span_kind": "TOOL", "direction": "up",
          "baseline": 0.012, "during": 0.45},),
        True,
        "The CRM behind customer_profile times out (5 s) for ~1.5 h on Saturday: the tool fails on ~45% of "
        "calls on every route that uses it (claims, onboarding, kyc, escalations); agents answer without the "
        "profile.",
        {"routes": ["claims", "onboarding", "kyc", "escalations"]},
    ),
    Incident(
        "W2-N1", "latency_blip", _at(2, "15:12"), _at(2, "15:32"), {"route": "search"},
        ({"signal": "llm_latency", "kind": "duration", "span_kind": "LLM", "aggregation": "p95", "direction": "up"},
         {"signal": "trace_latency", "kind": "duration", "aggregation": "p95", "direction": "up"}),
        False,
        "20 minutes of slow model responses on search (a Vertex AI region brown-out): generate_answer ~3x "
        "slower, retrieval, answers and scores unchanged. A single-signal lookalike of W2-04: should not page.",
    ),
    Incident(
        "W2-N2", "traffic_dip", _at(4, "16:33"), _at(4, "17:13"), {},
        ({"signal": "trace_count", "kind": "count", "direction": "down"},),
        False,
        "A CDN hiccup drops ~28% of requests for 40 minutes, across all routes; what arrives is normal. "
        "Should not page.",
        {"traffic_factor": 0.72},
    ),
    Incident(
        "W2-N3", "cost_blip", _at(4, "12:47"), _at(4, "13:17"), {"tenant": "contoso"},
        ({"signal": "cost_per_trace", "kind": "cost", "aggregation": "mean", "direction": "up"},
         {"signal": "input_tokens", "kind": "count", "span_kind": "LLM", "aggregation": "mean", "direction": "up"}),
        False,
        "contoso pastes long documents into its questions for 30 minutes on Friday lunchtime: ~2.5x input "
        "tokens on final answers, on every route. Real usage, not a fault: should not page.",
        {"input_token_factor": 2.5},
    ),
)
QUIET_DAYS = (0, 1)  # Monday and Tuesday: nothing injected at all



INC = {i.id: i for i in INCIDENTS}


def _decline(t: int, tenant: str) -> float:
    """How far northwind's groundedness has slid (0..DECLINE_DEPTH) at time t."""
    inc = INC["W2-01"]
    if tenant != "northwind" or not inc.active(t):
        return 0.0
    return DECLINE_DEPTH * min(1.0, (t - inc.start) / DECLINE_RAMP_NS)


def _blip_tokens(ctx: "Ctx", in_tok: int) -> int:
    inc = INC["W2-N3"]
    if inc.active(ctx.start) and ctx.tenant == inc.cohort["tenant"]:
        return int(in_tok * inc.extra["input_token_factor"])
    return in_tok


def _kyc_prompt(t: int, rng: random.Random) -> str:
    if t >= _at(4, "14:05"):
        return NEW_KYC_PROMPT
    if t >= _at(4, "10:05"):
        return NEW_KYC_PROMPT if rng.random() < 0.3 else "kyc-v3.1"
    return "kyc-v3.1"


# ---------------------------------------------------------------------------------------------
# Traffic

def _diurnal(hour: float) -> float:
    """Business hours across EU and US (UTC), with a morning EU shoulder; never zero."""
    return 0.16 + math.exp(-(((hour - 14.5) / 4.2) ** 2)) + 0.35 * math.exp(-(((hour - 9.0) / 2.2) ** 2))


def _weekday_factor(day: int) -> float:
    return 0.42 if day % 7 in (5, 6) else 1.0


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _arrivals(rng: random.Random, days: int, scale: float) -> list[int]:
    shape = [_weekday_factor(m // 1440) * _diurnal((m % 1440) / 60) for m in range(7 * 1440)]
    per_minute = TRACES_PER_WEEK * scale / sum(shape)
    dip = INC["W2-N2"]
    out: list[int] = []
    for m in range(days * 1440):
        t = T0 + m * MINUTE
        lam = per_minute * _weekday_factor(m // 1440) * _diurnal((m % 1440) / 60)
        if dip.active(t):
            lam *= dip.extra["traffic_factor"]
        for _ in range(_poisson(rng, lam)):
            out.append(t + rng.randrange(MINUTE // MS) * MS + rng.randrange(1000) * 1000)
    out.sort()
    return out


def _pick(rng: random.Random, items: tuple[tuple[str, float], ...]) -> str:
    x, acc = rng.random() * sum(w for _, w in items), 0.0
    for name, w in items:
        acc += w
        if x < acc:
            return name
    return items[-1][0]


# ---------------------------------------------------------------------------------------------
# Logical spans (convention-neutral), built per route, then encoded by the route's instrumentation

@dataclass
class Ctx:
    route: str
    tenant: str
    user: str
    session: str
    prompt_version: str
    service: str
    start: int


class Trace:
    def __init__(self, rng: random.Random, ctx: Ctx) -> None:
        self.rng = rng
        self.ctx = ctx
        self.trace_id = f"{rng.getrandbits(128) | 1:032x}"
        self.spans: list[dict[str, Any]] = []

    def span(self, parent: dict[str, Any] | None, name: str, kind: str, start: int, end: int,
             **fields: Any) -> dict[str, Any]:
        s: dict[str, Any] = {"id": f"{self.rng.getrandbits(64) | 1:016x}", "parent": parent["id"] if parent else None,
             "name": name, "kind": kind, "start": start, "end": max(end, start + 1000), "error": None,
             "evals": []}
        s.update(fields)
        self.spans.append(s)
        return s


def _lognorm(rng: random.Random, median_ms: float, sigma: float) -> int:
    return int(rng.lognormvariate(math.log(median_ms), sigma) * MS)


def _qa(rng: random.Random, pairs: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """One (question, answer) pair filled from one set of slot values."""
    q, a = rng.choice(pairs)
    ded, amt = rng.choice((100, 250, 500)), rng.choice((580, 720, 915))
    slots = {"pol": f"PL-{rng.randrange(100000, 999999)}", "clm": f"CLM-{rng.randrange(1000000, 9999999)}",
             "ded": ded, "amt": amt, "net": amt - ded, "doc": f"P{rng.randrange(1000000, 9999999)}",
             "d1": rng.randrange(100, 999), "last4": rng.randrange(1000, 9999)}
    return q.format(**slots), a.format(**slots)


def _score(rng: random.Random, mean: float, k: float = 14.0) -> float:
    mean = min(0.97, max(0.03, mean))
    return round(rng.betavariate(mean * k, (1 - mean) * k), 3)


def _llm(tr: Trace, parent: dict[str, Any], name: str, t: int, model: str, in_tok: int, out_tok: int,
         system: str, prompt: str, answer: str, *, slow: float = 1.0, cached: int = 0, stream: bool = False,
         fail: bool = False, refusal: bool = False, **extra: Any) -> dict[str, Any]:
    rng, m = tr.rng, MODELS[model]
    ttft = _lognorm(rng, m["ttft"] * slow, 0.35)
    if fail:
        # Rejected before any response: no response model, no usage.
        kind = rng.choice(("rate_limit", "overloaded"))
        return tr.span(parent, name, "llm", t, t + _lognorm(rng, 300, 0.4), req_model=model, resp_model=None,
                       in_tok=None, out_tok=None, cached=0, system=system, prompt=prompt, answer=None,
                       finish=None, ttft=None, stream=stream,
                       error=("RateLimitError" if kind == "rate_limit" else "InternalServerError",
                              "Error code: 429 - rate limit exceeded" if kind == "rate_limit"
                              else "Error code: 529 - overloaded_error"), **extra)
    gen = int(out_tok / (m["tps"] / slow) * 1000 * MS * rng.uniform(0.85, 1.2))
    resp = m["response"]
    if model == "claude-sonnet-4-5" and INC["W2-03"].active(t):
        resp = REFRESHED_SNAPSHOT
    finish = "refusal" if refusal and model.startswith("claude") else ("stop" if not extra.get("tool_call")
                                                                        else "tool_calls")
    return tr.span(parent, name, "llm", t, t + ttft + gen, req_model=model, resp_model=resp, in_tok=in_tok,
                   out_tok=out_tok, cached=cached, system=system, prompt=prompt, answer=answer, finish=finish,
                   ttft=ttft / MS, stream=stream, refusal=refusal, **extra)


def _tool(tr: Trace, parent: dict[str, Any], tool: str, t: int, args: dict[str, Any], result: Any,
          median_ms: float = 120, error_rate: float = 0.005) -> dict[str, Any]:
    rng = tr.rng
    inc = INC["W2-06"]
    if tool == "customer_profile":
        error_rate = 0.45 if inc.active(t) else 0.012
    if rng.random() < error_rate:
        return tr.span(parent, tool, "tool", t, t + int(rng.uniform(5000, 5060) * MS), tool=tool, args=args,
                       result=None, error=("TimeoutError", f"{tool}: upstream timed out after 5000 ms"))
    return tr.span(parent, tool, "tool", t, t + _lognorm(rng, median_ms, 0.45), tool=tool, args=args,
                   result=result)


def _answer_text(rng: random.Random, answer: str, model: str, t: int) -> tuple[str, bool]:
    """(text, is_refusal): refusals at the model's base rate (x10 on the refreshed snapshot)."""
    p = REFUSAL_BASE.get(model, REFUSAL_OTHER)
    if model == "claude-sonnet-4-5" and INC["W2-03"].active(t):
        p = 0.10
    if rng.random() < p:
        return rng.choice(REFUSAL_PHRASES), True
    text = answer
    if rng.random() < 0.03:
        text = rng.choice(BENIGN_OPENERS) + text
    return text, False


def _quality_evals(rng: random.Random, ctx: Ctx, t: int, refusal: bool, *, grounded: float | None,
                   relevance: float | None) -> list[dict[str, Any]]:
    """Online judge scores (score only, no pass flag) and sometimes user feedback (labelled)."""
    evals: list[dict[str, Any]] = []
    g_score = None
    if grounded is not None and not refusal and rng.random() < 0.8:
        g_score = _score(rng, grounded - _decline(t, ctx.tenant))
        evals.append({"name": "groundedness", "score": g_score, "delay": rng.randint(4, 40),
                      "explanation": "Every claim is supported by the retrieved context." if g_score > 0.7
                      else "Some statements are not supported by the retrieved context."})
    if relevance is not None and rng.random() < 0.7:
        r = _score(rng, 0.15 if refusal else relevance)
        evals.append({"name": "answer_relevance", "score": r, "delay": rng.randint(4, 40)})
    if rng.random() < 0.12:
        base = 0.5 if refusal else 0.06 + 0.9 * max(0.0, 0.82 - (g_score if g_score is not None else 0.82))
        if ctx.prompt_version == NEW_KYC_PROMPT:
            base = 0.30
        elif ctx.route == "kyc":
            base = 0.07
        down = rng.random() < base
        evals.append({"name": "user_feedback", "score": 0.0 if down else 1.0,
                      "label": "thumbs_down" if down else "thumbs_up", "delay": rng.randint(30, 900),
                      "feedback": True})
    return evals


# -- claims: HTTP root, planner -> transfer -> specialist ------------------------------------------

def _claims(tr: Trace) -> None:
    rng, ctx = tr.rng, tr.ctx
    t = ctx.start
    question, reply = _qa(rng, CLAIMS_QA)
    root = tr.span(None, "POST /v2/claims/assist", "http", t, t, http_route="/v2/claims/assist", query=question)
    t += _lognorm(rng, 6, 0.3)
    planner = tr.span(root, "claims_planner", "agent", t, t, agent="claims_planner")
    c = t + _lognorm(rng, 2, 0.3)
    prof = _tool(tr, planner, "customer_profile", c, {"customer_id": ctx.user}, {"tier": rng.choice(
        ("standard", "gold")), "open_claims": rng.randint(0, 3)}, median_ms=95)
    c = prof["end"] + _lognorm(rng, 3, 0.3)
    specialist = _pick(rng, CLAIMS_SPECIALISTS)
    plan = _llm(tr, planner, "chat", c, "gpt-4.1-mini", rng.randint(900, 1600), rng.randint(30, 90),
                "You are the claims planner. Route the customer to one specialist.", question,
                f"transfer_to_{specialist}", tool_call=True)
    c = plan["end"] + _lognorm(rng, 2, 0.3)
    hand = tr.span(planner, f"transfer_to_{specialist}", "handoff", c, c + _lognorm(rng, 1.5, 0.3),
                   tool=f"transfer_to_{specialist}", from_agent="claims_planner", to_agent=specialist,
                   args={}, result={"assistant": specialist})
    planner["end"] = hand["end"] + _lognorm(rng, 1, 0.2)
    t = planner["end"] + _lognorm(rng, 2, 0.3)
    spec = tr.span(root, specialist, "agent", t, t, agent=specialist)
    c = t + _lognorm(rng, 2, 0.3)
    tool = SPECIALIST_TOOL[specialist]
    looping = tool == "policy_lookup" and INC["W2-02"].active(ctx.start)
    calls = rng.randint(4, 7) if looping else (2 if rng.random() < 0.06 else 1)
    context = rng.randint(1800, 2600)
    for i in range(calls):
        step = _llm(tr, spec, "chat", c, "claude-sonnet-4-5", context, rng.randint(40, 90),
                    f"You are the {specialist}. Use tools to look up the policy before answering.", question,
                    tool, tool_call=True, cached=int(context * 0.6) if rng.random() < 0.7 else 0)
        c = step["end"] + _lognorm(rng, 2, 0.3)
        if looping:
            result: Any = {"status": "partial", "items": [], "next_page_token": None}
        elif tool == "policy_lookup":
            result = {"status": "ok", "items": [{"policy": f"PL-{rng.randrange(100000, 999999)}",
                                                 "cover": rng.choice(("comprehensive", "third_party"))}]}
        else:
            result = {"status": "ok", "risk": round(rng.uniform(0.01, 0.4), 2)}
        tl = _tool(tr, spec, tool, c, {"query": question[:60], "page": i + 1}, result, median_ms=140)
        c = tl["end"] + _lognorm(rng, 2, 0.3)
        context += rng.randint(700, 1100)  # the agent re-reads the whole conversation each turn
    docs = [(f"claims-kb/{rng.randrange(1, 4000):05d}", round(rng.uniform(0.62, 0.93), 3)) for _ in range(4)]
    ret = tr.span(spec, "claims-kb", "retriever", c, c + _lognorm(rng, 70, 0.4), query=question, docs=docs,
                  source="claims-kb")
    c = ret["end"] + _lognorm(rng, 2, 0.3)
    answer, refusal = _answer_text(rng, reply, "claude-sonnet-4-5", c)
    in_tok = context + rng.randint(600, 1200)
    in_tok = _blip_tokens(ctx, in_tok)
    out_tok = rng.randint(20, 45) if refusal else rng.randint(180, 520)
    fail = rng.random() < 0.003
    final = _llm(tr, spec, "chat", c, "claude-sonnet-4-5", in_tok, out_tok,
                 f"You are the {specialist}. Answer from the policy and retrieved context only.", question,
                 answer, stream=True, fail=fail, refusal=refusal,
                 cached=int(in_tok * 0.5) if rng.random() < 0.7 else 0)
    if not fail:
        final["evals"] = _quality_evals(rng, ctx, ctx.start, refusal, grounded=GROUNDEDNESS["claims"],
                                        relevance=RELEVANCE["claims"])
    spec["end"] = final["end"] + _lognorm(rng, 1, 0.2)
    root["end"] = spec["end"] + _lognorm(rng, 4, 0.3)
    root["answer"] = final.get("answer")
    if fail:
        root["error"] = ("InternalServerError", "upstream model call failed")
        spec["error"] = final["error"]


# -- onboarding / kyc: Traceloop workflow, planner -> handoff -> specialist -----------------------

def _onboarding(tr: Trace) -> None:
    rng, ctx = tr.rng, tr.ctx
    kyc = ctx.route == "kyc"
    t = ctx.start
    question, reply = _qa(rng, KYC_QA if kyc else ONBOARDING_QA)
    root = tr.span(None, "customer_onboarding", "chain", t, t, query=question)
    t += _lognorm(rng, 3, 0.3)
    planner = tr.span(root, "intake_planner", "agent", t, t, agent="intake_planner")
    c = t + _lognorm(rng, 2, 0.3)
    prof = _tool(tr, planner, "customer_profile", c, {"customer_id": ctx.user},
                 {"segment": rng.choice(("retail", "smb")), "verified": False}, median_ms=95)
    c = prof["end"] + _lognorm(rng, 2, 0.3)
    target = "kyc_specialist" if kyc else "account_setup_specialist"
    plan = _llm(tr, planner, "openai.chat", c, "gpt-4.1-mini", rng.randint(700, 1300), rng.randint(25, 70),
                "You are the onboarding intake planner. Hand off to the right specialist.", question,
                f"transfer_to_{target}", tool_call=True)
    c = plan["end"] + _lognorm(rng, 2, 0.3)
    hand = tr.span(planner, f"intake_planner \u2192 {target}", "handoff", c, c + _lognorm(rng, 1.2, 0.3),
                   from_agent="intake_planner", to_agent=target)
    planner["end"] = hand["end"] + _lognorm(rng, 1, 0.2)
    t = planner["end"] + _lognorm(rng, 2, 0.3)
    spec = tr.span(root, target, "agent", t, t, agent=target)
    c = t + _lognorm(rng, 2, 0.3)
    if kyc:
        ocr = _tool(tr, spec, "document_ocr", c, {"document": "upload_1.jpg"},
                    {"type": rng.choice(("passport", "driving_licence", "utility_bill")), "confidence":
                     round(rng.uniform(0.8, 0.99), 2)}, median_ms=850)
        c = ocr["end"] + _lognorm(rng, 2, 0.3)
        scr = _tool(tr, spec, "sanctions_screen", c, {"name_hash": hashlib.sha1(ctx.user.encode()).hexdigest()[:12]},
                    {"hits": 0}, median_ms=210)
        c = scr["end"] + _lognorm(rng, 2, 0.3)
        model = "gemini-2.5-flash"
        answer, refusal = _answer_text(rng, reply, model, c)
        in_tok = rng.randint(1400, 2400)
        if ctx.prompt_version == NEW_KYC_PROMPT:
            in_tok = int(in_tok * 0.75)
        name = "gemini.generate_content"
    else:
        acct = _tool(tr, spec, "create_account", c, {"segment": "smb", "tenant": ctx.tenant},
                     {"account_id": f"acc_{rng.getrandbits(40):010x}", "status": "pending_verification"},
                     median_ms=300)
        c = acct["end"] + _lognorm(rng, 2, 0.3)
        model = "claude-sonnet-4-5"
        answer, refusal = _answer_text(rng, reply, model, c)
        in_tok = rng.randint(1200, 2100)
        name = "anthropic.chat"
    in_tok = _blip_tokens(ctx, in_tok)
    out_tok = rng.randint(18, 40) if refusal else rng.randint(120, 380)
    fail = rng.random() < 0.003
    final = _llm(tr, spec, name, c, model, in_tok, out_tok,
                 f"You are the {target}. Be precise and cite the document field you checked.", question, answer,
                 fail=fail, refusal=refusal,
                 cached=int(in_tok * 0.4) if model.startswith("claude") and rng.random() < 0.5 else 0)
    if not fail:
        if kyc:
            rel = RELEVANCE["kyc"] - (0.25 if ctx.prompt_version == NEW_KYC_PROMPT else 0.0)
            final["evals"] = _quality_evals(rng, ctx, ctx.start, refusal, grounded=None, relevance=rel)
            if rng.random() < 0.7:
                ok_p = 0.70 if ctx.prompt_version == NEW_KYC_PROMPT else 0.93
                ok = rng.random() < ok_p
                final["evals"].append({"name": "field_extraction", "label": "pass" if ok else "fail",
                                       "score": round(rng.uniform(0.9, 1.0) if ok else rng.uniform(0.3, 0.7), 2),
                                       "delay": rng.randint(4, 40)})
        else:
            final["evals"] = _quality_evals(rng, ctx, ctx.start, refusal, grounded=GROUNDEDNESS["onboarding"],
                                            relevance=None)
    spec["end"] = final["end"] + _lognorm(rng, 1, 0.2)
    root["end"] = spec["end"] + _lognorm(rng, 2, 0.3)
    root["answer"] = final.get("answer")
    if fail:
        spec["error"] = final["error"]
        root["error"] = final["error"]


# -- search: OpenInference RAG pipeline, no agents ---------------------------------------------------

def _search(tr: Trace) -> None:
    rng, ctx = tr.rng, tr.ctx
    t = ctx.start
    query, reply = _qa(rng, SEARCH_QA)
    root = tr.span(None, "search_request", "chain", t, t, query=query)
    c = t + _lognorm(rng, 2, 0.3)
    emb = tr.span(root, "embed_query", "embedding", c, c + _lognorm(rng, 45, 0.35), model="text-embedding-3-small",
                  in_tok=len(query.split()) + 3, query=query)
    c = emb["end"] + _lognorm(rng, 1, 0.3)
    bad = INC["W2-04"].active(ctx.start)
    if bad:
        docs = [(f"archive-{rng.randrange(1, 900):04d}", round(rng.uniform(0.31, 0.58), 3)) for _ in range(8)]
        dur = _lognorm(rng, 1100, 0.45)
    else:
        docs = [(f"kb-{rng.randrange(100, 999)}", round(rng.uniform(0.66, 0.94), 3)) for _ in range(8)]
        dur = _lognorm(rng, 85, 0.4)
    docs.sort(key=lambda d: -d[1])
    ret = tr.span(root, "vector_search", "retriever", c, c + dur, query=query, docs=docs)
    c = ret["end"] + _lognorm(rng, 1, 0.3)
    top = [(d, round(min(0.999, s + rng.uniform(0.0, 0.05)), 3)) for d, s in docs[:4]]
    rr = tr.span(root, "rerank", "reranker", c, c + _lognorm(rng, 60, 0.3), query=query, docs=docs, top=top)
    c = rr["end"] + _lognorm(rng, 1, 0.3)
    answer, refusal = _answer_text(rng, reply, "gemini-2.5-flash", c)
    out_tok = rng.randint(15, 35) if refusal else rng.randint(90, 260)
    slow = 3.0 if INC["W2-N1"].active(ctx.start) else 1.0
    llm = _llm(tr, root, "generate_answer", c, "gemini-2.5-flash", _blip_tokens(ctx, rng.randint(1100, 1900)),
               out_tok, "Answer from the documents; cite them as [kb-id].", query, answer, refusal=refusal, slow=slow,
               fail=rng.random() < 0.003, docs=top)
    if llm["error"] is None:
        g = GROUNDEDNESS["search"] - (0.35 if bad else 0.0)
        llm["evals"] = _quality_evals(rng, ctx, ctx.start, refusal, grounded=g, relevance=None)
        if rng.random() < 0.5:
            hall = rng.random() < (0.45 if bad else 0.06)
            llm["evals"].append({"name": "hallucination", "label": "hallucinated" if hall else "factual",
                                 "score": 0.0 if hall else 1.0, "delay": 0})
    root["end"] = llm["end"] + _lognorm(rng, 2, 0.3)
    root["answer"] = llm.get("answer")
    if llm["error"]:
        root["error"] = llm["error"]


# -- escalations: homegrown flat logs -------------------------------------------------------------

def _escalations(tr: Trace) -> None:
    rng, ctx = tr.rng, tr.ctx
    t = ctx.start
    q, reply = _qa(rng, ESCALATION_QA)
    root = tr.span(None, "handle_escalation", "chain", t, t, query=q)
    c = t + _lognorm(rng, 3, 0.3)
    triage = tr.span(root, "escalation_triage", "agent", c, c, agent="escalation_triage")
    d = c + _lognorm(rng, 2, 0.3)
    prof = _tool(tr, triage, "customer_profile", d, {"customer_id": ctx.user}, {"tier": "gold", "tenure_y": 4},
                 median_ms=95)
    d = prof["end"] + _lognorm(rng, 2, 0.3)
    tri = _llm(tr, triage, "triage", d, "anthropic.claude-3-5-haiku-20241022-v1:0", rng.randint(600, 1100),
               rng.randint(40, 110), "Classify the escalation's severity.", q, "severity: high")
    triage["end"] = tri["end"] + _lognorm(rng, 1, 0.2)
    c = triage["end"] + _lognorm(rng, 2, 0.3)
    ret = tr.span(root, "case_history_search", "retriever", c, c + _lognorm(rng, 120, 0.4),
                  query=q)
    c = ret["end"] + _lognorm(rng, 2, 0.3)
    writer = tr.span(root, "resolution_writer", "agent", c, c, agent="resolution_writer")
    d = c + _lognorm(rng, 2, 0.3)
    answer, refusal = _answer_text(rng, reply, "gpt-4.1", d)
    draft = _llm(tr, writer, "draft_reply", d, "gpt-4.1", _blip_tokens(ctx, rng.randint(1500, 2600)),
                 rng.randint(20, 40) if refusal else rng.randint(150, 420),
                 "Draft an empathetic, specific reply for the supervisor.", q, answer, refusal=refusal,
                 fail=rng.random() < 0.003)
    if draft["error"] is None:
        draft["evals"] = _quality_evals(rng, ctx, ctx.start, refusal, grounded=GROUNDEDNESS["escalations"],
                                        relevance=None)
    writer["end"] = draft["end"] + _lognorm(rng, 1, 0.2)
    root["end"] = writer["end"] + _lognorm(rng, 2, 0.3)
    root["answer"] = draft.get("answer")
    if draft["error"]:
        root["error"] = draft["error"]


FLOWS = {"claims": _claims, "onboarding": _onboarding, "kyc": _onboarding, "search": _search,
         "escalations": _escalations}


# ---------------------------------------------------------------------------------------------
# Encoders: one per instrumentation family

def _av(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, (list, tuple)):
        return {"arrayValue": {"values": [_av(x) for x in v]}}
    return {"stringValue": str(v)}


def _kv(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _av(v)} for k, v in attrs.items() if v is not None]


def _j(v: Any) -> str:
    return orjson.dumps(v).decode()


def _cost(model: str, in_tok: int, out_tok: int) -> tuple[float, float]:
    pin, pout = MODELS[model]["price"]
    return round(in_tok * pin, 8), round(out_tok * pout, 8)


def _otlp_span(s: dict[str, Any], tr: Trace, name: str, kind: str, attrs: dict[str, Any],
               events: list[dict[str, Any]], ok_code: bool) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if s["error"]:
        status = {"code": "STATUS_CODE_ERROR" if ok_code else 2, "message": s["error"][1]}
        events = events + [{"timeUnixNano": str(s["end"]), "name": "exception", "attributes": _kv({
            "exception.type": s["error"][0], "exception.message": s["error"][1], "exception.escaped": False})}]
    elif ok_code:
        status = {"code": "STATUS_CODE_OK"}
    out: dict[str, Any] = {"traceId": tr.trace_id, "spanId": s["id"], "name": name, "kind": kind,
                           "startTimeUnixNano": str(s["start"]), "endTimeUnixNano": str(s["end"]),
                           "attributes": _kv(attrs), "status": status}
    if s["parent"]:
        out["parentSpanId"] = s["parent"]
    if events:
        out["events"] = events
    return out


def _enc_genai(tr: Trace, s: dict[str, Any]) -> dict[str, Any]:
    """OTel GenAI semantic conventions, latest names (gen_ai.provider.name, input/output messages, ...)."""
    ctx, k = tr.ctx, s["kind"]
    # A baggage span processor copies the request's cohort onto every span.
    a: dict[str, Any] = {"app.route": ctx.route, "tenant.id": ctx.tenant, "app.prompt_version": ctx.prompt_version}
    events: list[dict[str, Any]] = []
    if k == "http":
        name, kind = s["name"], "SPAN_KIND_SERVER"
        a.update({"http.request.method": "POST", "http.route": s["http_route"], "url.path": s["http_route"],
                  "http.response.status_code": 500 if s["error"] else 200, "user.id": ctx.user,
                  "server.address": "claims-copilot.internal"})
    elif k == "agent":
        name, kind = f"invoke_agent {s['agent']}", "SPAN_KIND_INTERNAL"
        a.update({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": s["agent"],
                  "gen_ai.agent.id": "agt_" + hashlib.sha1(s["agent"].encode()).hexdigest()[:10],
                  "gen_ai.conversation.id": ctx.session, "user.id": ctx.user})
    elif k == "llm":
        m = MODELS[s["req_model"]]
        name, kind = f"chat {s['req_model']}", "SPAN_KIND_CLIENT"
        a.update({"gen_ai.operation.name": "chat", "gen_ai.provider.name": m["genai"],
                  "gen_ai.request.model": s["req_model"], "gen_ai.request.temperature": 0.2,
                  "gen_ai.request.max_tokens": 1024, "gen_ai.conversation.id": ctx.session,
                  "server.address": "api.anthropic.com" if m["genai"] == "anthropic" else "api.openai.com",
                  "gen_ai.system_instructions": _j([{"type": "text", "content": s["system"]}]),
                  "gen_ai.input.messages": _j([{"role": "user", "parts": [{"type": "text", "content": s["prompt"]}]}])})
        if s["stream"]:
            a["gen_ai.request.stream"] = True
        if s["error"]:
            a["error.type"] = s["error"][0]
        else:
            a.update({"gen_ai.response.model": s["resp_model"],
                      "gen_ai.response.id": ("msg_" if m["genai"] == "anthropic" else "chatcmpl-") + s["id"],
                      "gen_ai.response.finish_reasons": [s["finish"]],
                      "gen_ai.usage.input_tokens": s["in_tok"], "gen_ai.usage.output_tokens": s["out_tok"]})
            if s["cached"]:
                a["gen_ai.usage.cache_read.input_tokens"] = s["cached"]
            if s["stream"]:
                a["gen_ai.response.time_to_first_chunk"] = round(s["ttft"] / 1000, 4)
            if s.get("tool_call"):
                parts = [{"type": "tool_call", "id": "toolu_" + s["id"], "name": s["answer"],
                          "arguments": {}}]
            else:
                parts = [{"type": "text", "content": s["answer"]}]
            a["gen_ai.output.messages"] = _j([{"role": "assistant", "parts": parts, "finish_reason": s["finish"]}])
        for ev in s["evals"]:
            if ev.get("feedback"):
                continue  # user feedback arrives later, as a log record
            events.append({"timeUnixNano": str(s["end"] + ev["delay"] * NS), "name": "gen_ai.evaluation.result",
                           "attributes": _kv({"gen_ai.evaluation.name": ev["name"],
                                              "gen_ai.evaluation.score.value": ev["score"],
                                              "gen_ai.evaluation.score.label": ev.get("label"),
                                              "gen_ai.evaluation.explanation": ev.get("explanation"),
                                              "gen_ai.response.id": a.get("gen_ai.response.id")})})
    elif k in ("tool", "handoff"):
        name, kind = f"execute_tool {s['tool']}", "SPAN_KIND_INTERNAL"
        a.update({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": s["tool"],
                  "gen_ai.tool.type": "function", "gen_ai.tool.call.id": "toolu_" + s["id"],
                  "gen_ai.tool.call.arguments": _j(s["args"])})
        if s["error"]:
            a["error.type"] = s["error"][0]
        else:
            a["gen_ai.tool.call.result"] = _j(s["result"])
    elif k == "retriever":
        name, kind = f"retrieval {s['source']}", "SPAN_KIND_CLIENT"
        a.update({"gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": s["source"],
                  "gen_ai.retrieval.query.text": s["query"], "gen_ai.retrieval.top_k": len(s["docs"]),
                  "gen_ai.retrieval.documents": _j([{"id": d, "score": sc} for d, sc in s["docs"]])})
    else:  # pragma: no cover - every claims span kind is listed above
        raise ValueError(k)
    return _otlp_span(s, tr, name, kind, a, events, ok_code=False)


def _enc_traceloop(tr: Trace, s: dict[str, Any]) -> dict[str, Any]:
    """OpenLLMetry / Traceloop SDK: workflow, agent, tool and handoff spans; flattened prompts on LLM spans."""
    ctx, k = tr.ctx, s["kind"]
    # Traceloop copies association properties and the workflow name onto every span of the workflow.
    a: dict[str, Any] = {"traceloop.workflow.name": "customer_onboarding",
                         "traceloop.association.properties.route": ctx.route,
                         "traceloop.association.properties.tenant": ctx.tenant,
                         "traceloop.association.properties.user_id": ctx.user,
                         "traceloop.association.properties.session_id": ctx.session,
                         "traceloop.association.properties.prompt_version": ctx.prompt_version}
    if k == "chain":
        name, kind = "customer_onboarding.workflow", "SPAN_KIND_INTERNAL"
        a.update({"traceloop.span.kind": "workflow", "traceloop.entity.name": "customer_onboarding",
                  "traceloop.entity.input": _j({"args": [], "kwargs": {"message": s["query"]}}),
                  "traceloop.entity.output": _j(s.get("answer"))})
    elif k == "agent":
        name, kind = f"{s['agent']}.agent", "SPAN_KIND_INTERNAL"
        a.update({"traceloop.span.kind": "agent", "traceloop.entity.name": s["agent"], "gen_ai.agent.name": s["agent"]})
    elif k == "handoff":
        name, kind = f"{s['name']}.handoff", "SPAN_KIND_INTERNAL"
        a.update({"traceloop.span.kind": "handoff", "traceloop.entity.name": s["name"],
                  "gen_ai.handoff.from_agent": s["from_agent"], "gen_ai.handoff.to_agent": s["to_agent"]})
    elif k == "tool":
        name, kind = f"{s['tool']}.tool", "SPAN_KIND_INTERNAL"
        a.update({"traceloop.span.kind": "tool", "traceloop.entity.name": s["tool"],
                  "traceloop.entity.input": _j({"args": [], "kwargs": s["args"]})})
        if not s["error"]:
            a["traceloop.entity.output"] = _j(s["result"])
    elif k == "llm":
        m = MODELS[s["req_model"]]
        name, kind = s["name"], "SPAN_KIND_CLIENT"
        a.update({"llm.request.type": "chat", "gen_ai.system": m["traceloop"], "gen_ai.request.model": s["req_model"],
                  "gen_ai.request.temperature": 0.3, "llm.is_streaming": False,
                  "gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": s["system"],
                  "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": s["prompt"]})
        if not s["error"]:
            in_tok = s["in_tok"]
            if m["traceloop"] == "Anthropic" and s["cached"]:
                # Anthropic's own counts: input_tokens excludes the cached prefix, reported beside it.
                in_tok -= s["cached"]
                a["gen_ai.usage.cache_read_input_tokens"] = s["cached"]
            a.update({"gen_ai.response.model": s["resp_model"], "gen_ai.response.id": "resp_" + s["id"],
                      "gen_ai.usage.input_tokens": in_tok, "gen_ai.usage.output_tokens": s["out_tok"],
                      "llm.usage.total_tokens": s["in_tok"] + s["out_tok"],
                      "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.finish_reason": s["finish"]})
            if s.get("tool_call"):
                a.update({"gen_ai.completion.0.tool_calls.0.id": "call_" + s["id"],
                          "gen_ai.completion.0.tool_calls.0.name": s["answer"],
                          "gen_ai.completion.0.tool_calls.0.arguments": "{}"})
            else:
                a["gen_ai.completion.0.content"] = s["answer"]
    else:  # pragma: no cover
        raise ValueError(k)
    return _otlp_span(s, tr, name, kind, a, [], ok_code=True)


def _enc_openinference(tr: Trace, s: dict[str, Any]) -> dict[str, Any]:
    """OpenInference: span kinds, flattened documents/messages, reported cost, evaluations as attributes."""
    ctx, k = tr.ctx, s["kind"]
    a: dict[str, Any] = {"metadata": _j({"route": ctx.route, "tenant": ctx.tenant, "channel": "help-center"}),
                         "session.id": ctx.session, "user.id": ctx.user, "tag.tags": ["search", "help-center"]}
    if k == "chain":
        a.update({"openinference.span.kind": "CHAIN", "input.value": s["query"], "input.mime_type": "text/plain",
                  "output.value": s.get("answer"), "output.mime_type": "text/plain"})
    elif k == "embedding":
        a.update({"openinference.span.kind": "EMBEDDING", "embedding.model_name": s["model"],
                  "embedding.embeddings.0.embedding.text": s["query"], "llm.token_count.prompt": s["in_tok"],
                  "llm.token_count.total": s["in_tok"]})
    elif k == "retriever":
        a.update({"openinference.span.kind": "RETRIEVER", "input.value": s["query"]})
        for i, (d, sc) in enumerate(s["docs"]):
            a[f"retrieval.documents.{i}.document.id"] = d
            a[f"retrieval.documents.{i}.document.score"] = sc
            a[f"retrieval.documents.{i}.document.content"] = f"Passage {d}: help-center article text."
    elif k == "reranker":
        a.update({"openinference.span.kind": "RERANKER", "reranker.query": s["query"],
                  "reranker.model_name": "rerank-v3.5", "reranker.top_k": len(s["top"])})
        for i, (d, sc) in enumerate(s["docs"]):
            a[f"reranker.input_documents.{i}.document.id"] = d
            a[f"reranker.input_documents.{i}.document.score"] = sc
        for i, (d, sc) in enumerate(s["top"]):
            a[f"reranker.output_documents.{i}.document.id"] = d
            a[f"reranker.output_documents.{i}.document.score"] = sc
    elif k == "llm":
        provider, system = MODELS[s["req_model"]]["openinference"]
        a.update({"openinference.span.kind": "LLM", "llm.provider": provider, "llm.system": system,
                  "llm.invocation_parameters": _j({"temperature": 0.1, "max_output_tokens": 512}),
                  "llm.prompt_template.template": "Answer from the documents: {documents}\n\nQ: {question}",
                  "llm.prompt_template.variables": _j({"question": s["prompt"],
                                                       "documents": [d for d, _ in s["docs"]]}),
                  "llm.prompt_template.version": ctx.prompt_version, "input.value": s["prompt"],
                  "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": s["system"],
                  "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": s["prompt"]})
        if s["error"]:
            a["llm.model_name"] = s["req_model"]
        else:
            pin, pout = _cost(s["req_model"], s["in_tok"], s["out_tok"])
            a.update({"llm.model_name": s["resp_model"], "output.value": s["answer"],
                      "llm.output_messages.0.message.role": "model",
                      "llm.output_messages.0.message.content": s["answer"],
                      "llm.token_count.prompt": s["in_tok"], "llm.token_count.completion": s["out_tok"],
                      "llm.token_count.total": s["in_tok"] + s["out_tok"],
                      "llm.cost.prompt": pin, "llm.cost.completion": pout, "llm.cost.total": round(pin + pout, 8)})
        for i, ev in enumerate(s["evals"]):
            p = f"evaluations.{i}.evaluation."
            a[p + "name"] = ev["name"]
            a[p + "score"] = ev["score"]
            if ev.get("label"):
                a[p + "label"] = ev["label"]
            if ev.get("explanation"):
                a[p + "explanation"] = ev["explanation"]
            a[p + "annotator_kind"] = "HUMAN" if ev.get("feedback") else "LLM"
    else:  # pragma: no cover
        raise ValueError(k)
    return _otlp_span(s, tr, s["name"], "SPAN_KIND_INTERNAL" if k in ("chain", "reranker") else "SPAN_KIND_CLIENT",
                      a, [], ok_code=True)


_FLAT_KIND = {"chain": "CHAIN", "agent": "AGENT", "tool": "TOOL", "llm": "LLM", "retriever": "RETRIEVER"}


def _iso_ms(ns: int) -> str:
    dt = datetime.fromtimestamp(ns // NS, tz=timezone.utc) + timedelta(microseconds=(ns % NS) // 1000)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _enc_flat(tr: Trace, s: dict[str, Any]) -> dict[str, Any]:
    """A homegrown logger's flat record (the README's flat JSONL format)."""
    ctx = tr.ctx
    r: dict[str, Any] = {"trace_id": tr.trace_id, "span_id": s["id"], "name": s["name"], "kind": _FLAT_KIND[s["kind"]],
                         "start_time": _iso_ms(s["start"]), "end_time": _iso_ms(s["end"]), "service": ctx.service,
                         "session_id": ctx.session, "user_id": ctx.user,
                         "metadata": {"route": ctx.route, "tenant": ctx.tenant, "prompt_version": ctx.prompt_version}}
    if s["parent"]:
        r["parent_id"] = s["parent"]
    if s["kind"] == "agent":
        r["agent"] = s["agent"]
    if s["kind"] == "tool":
        r["tool"] = s["tool"]
        r["input"] = _j(s["args"])
        if s["result"] is not None:
            r["output"] = _j(s["result"])
    if s["kind"] in ("chain", "retriever"):
        r["input"] = s["query"]
        if s.get("answer"):
            r["output"] = s["answer"]
    if s["kind"] == "llm":
        r.update({"model": s["resp_model"] or s["req_model"], "provider": MODELS[s["req_model"]]["flat"],
                  "input": [{"role": "system", "content": s["system"]}, {"role": "user", "content": s["prompt"]}]})
        if not s["error"]:
            pin, pout = _cost(s["req_model"], s["in_tok"], s["out_tok"])
            r.update({"output": s["answer"], "input_tokens": s["in_tok"], "output_tokens": s["out_tok"],
                      "cost_usd": round(pin + pout, 8)})
        if s["evals"]:
            r["scores"] = [{k: v for k, v in (("name", ev["name"]), ("score", ev["score"]),
                                               ("label", ev.get("label")),
                                               ("source", "human" if ev.get("feedback") else "llm_judge"))
                            if v is not None} for ev in s["evals"]]
    if s["error"]:
        r["status"] = "error"
        r["error"] = f"{s['error'][0]}: {s['error'][1]}"
    return r


def _eval_logs(tr: Trace, s: dict[str, Any], only_feedback: bool) -> list[dict[str, Any]]:
    """gen_ai.evaluation.result as OTLP log records, emitted by an online judge / feedback service."""
    out = []
    for ev in s["evals"]:
        if only_feedback and not ev.get("feedback"):
            continue
        attrs = {"gen_ai.evaluation.name": ev["name"], "gen_ai.evaluation.score.value": ev["score"],
                 "gen_ai.evaluation.score.label": ev.get("label"),
                 "gen_ai.evaluation.explanation": ev.get("explanation"),
                 "gen_ai.evaluation.evaluator.version": None if ev.get("feedback") else "judge-2027.02"}
        t = s["end"] + ev["delay"] * NS
        out.append({"timeUnixNano": str(t), "observedTimeUnixNano": str(t + 150 * MS), "severityNumber": 9,
                    "severityText": "INFO", "eventName": "gen_ai.evaluation.result", "traceId": tr.trace_id,
                    "spanId": s["id"], "attributes": _kv(attrs)})
    return out


# ---------------------------------------------------------------------------------------------
# Writing

@dataclass
class WeekFiles:
    out_dir: Path
    files: list[Path]
    incidents: Path
    seed: int
    days: int
    scale: float
    traces: int = 0
    spans: int = 0
    evaluations: int = 0
    traces_by_route: dict[str, int] = field(default_factory=dict)
    traces_by_day: dict[str, int] = field(default_factory=dict)
    spans_by_route: dict[str, int] = field(default_factory=dict)
    evaluations_by_name: dict[str, int] = field(default_factory=dict)

    def labels(self) -> dict[str, Any]:
        return orjson.loads(self.incidents.read_bytes())


def _resource(service: str, version: str, sdk_lang: str = "python") -> dict[str, Any]:
    return {"attributes": _kv({"service.name": service, "service.version": version,
                               "deployment.environment.name": "production", "telemetry.sdk.language": sdk_lang,
                               "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.38.0",
                               "host.name": f"{service}-7c9f{len(service)}"})}


def _write(path: Path, data: bytes, compress: bool) -> Path:
    if compress:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    path.write_bytes(data)
    return path


def _user_and_session(rng: random.Random, tenant: str, t: int) -> tuple[str, str]:
    n = rng.randrange(40)
    user = f"{tenant[:3]}-u{n:03d}"
    # A session spans a user's visits within the same 3-hour block.
    block = (t - T0) // (3 * HOUR)
    session = "sess_" + hashlib.blake2b(f"{user}/{block}".encode(), digest_size=8).hexdigest()
    return user, session


def write_week(out_dir: Path, seed: int = DEFAULT_SEED, days: int = 7, scale: float = 1.0) -> WeekFiles:
    """Write `days` days of labelled traffic into out_dir (created if needed); returns what was written."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    week = WeekFiles(out_dir=out_dir, files=[], incidents=out_dir / "incidents.json", seed=seed, days=days,
                     scale=scale)
    by_day: dict[int, list[Trace]] = {d: [] for d in range(days)}
    first_new_prompt: int | None = None
    for t in _arrivals(rng, days, scale):
        route, tenant = _pick(rng, ROUTES), _pick(rng, TENANTS)
        user, session = _user_and_session(rng, tenant, t)
        pv = _kyc_prompt(t, rng) if route == "kyc" else PROMPT_VERSIONS[route]
        tr = Trace(rng, Ctx(route, tenant, user, session, pv, SERVICES[route], t))
        FLOWS[route](tr)
        if pv == NEW_KYC_PROMPT and first_new_prompt is None:
            first_new_prompt = t
        by_day[(t - T0) // DAY].append(tr)

    enc = {"claims": _enc_genai, "onboarding": _enc_traceloop, "kyc": _enc_traceloop,
           "search": _enc_openinference, "escalations": _enc_flat}
    for day, traces in by_day.items():
        date = (WEEK_START + timedelta(days=day)).strftime("%Y-%m-%d")
        claims_spans: list[dict[str, Any]] = []
        onboarding_spans: list[dict[str, Any]] = []
        search_lines: list[bytes] = []
        search_batch: list[dict[str, Any]] = []
        flat_lines: list[bytes] = []
        judge_logs: list[dict[str, Any]] = []
        feedback_logs: list[dict[str, Any]] = []
        for tr in traces:
            route = tr.ctx.route
            week.traces += 1
            week.spans += len(tr.spans)
            week.traces_by_route[route] = week.traces_by_route.get(route, 0) + 1
            week.spans_by_route[route] = week.spans_by_route.get(route, 0) + len(tr.spans)
            week.traces_by_day[date] = week.traces_by_day.get(date, 0) + 1
            for s in tr.spans:
                week.evaluations += len(s["evals"])
                for ev in s["evals"]:
                    week.evaluations_by_name[ev["name"]] = week.evaluations_by_name.get(ev["name"], 0) + 1
            encoded = [enc[route](tr, s) for s in tr.spans]
            if route == "claims":
                claims_spans.extend(encoded)
                for s in tr.spans:
                    feedback_logs.extend(_eval_logs(tr, s, only_feedback=True))
            elif route in ("onboarding", "kyc"):
                onboarding_spans.extend(encoded)
                for s in tr.spans:
                    judge_logs.extend(_eval_logs(tr, s, only_feedback=False))
            elif route == "search":
                search_batch.extend(encoded)
                if len(search_batch) >= 120:  # the Collector's batch processor flushes every ~120 spans
                    search_lines.append(_search_request(search_batch))
                    search_batch = []
            else:
                flat_lines.extend(orjson.dumps(r) for r in encoded)
        if search_batch:
            search_lines.append(_search_request(search_batch))
        traces_doc = {"resourceSpans": [
            {"resource": _resource("claims-copilot", "2.14.1"),
             "scopeSpans": [{"scope": {"name": "claims_copilot.agents", "version": "2.14.1"}, "spans": claims_spans}]},
            {"resource": _resource("onboarding-flow", "0.9.3"),
             "scopeSpans": [{"scope": {"name": "traceloop.tracer", "version": "0.47.3"}, "spans": onboarding_spans}]},
        ]}
        logs_doc = {"resourceLogs": [
            {"resource": _resource("quality-judges", "1.3.0"),
             "scopeLogs": [{"scope": {"name": "online_evals"}, "logRecords": judge_logs}]},
            {"resource": _resource("claims-copilot", "2.14.1"),
             "scopeLogs": [{"scope": {"name": "claims_copilot.feedback"}, "logRecords": feedback_logs}]},
        ]}
        week.files.append(_write(out_dir / f"otlp-traces-{date}.json.gz", orjson.dumps(traces_doc), True))
        week.files.append(_write(out_dir / f"otlp-logs-{date}.json.gz", orjson.dumps(logs_doc), True))
        week.files.append(_write(out_dir / f"search-collector-{date}.jsonl.gz", b"\n".join(search_lines) + b"\n",
                                 True))
        week.files.append(_write(out_dir / f"escalations-{date}.jsonl", b"\n".join(flat_lines) + b"\n", False))

    end = T0 + days * DAY
    labels: dict[str, Any] = {
        "generator": "tests/weeks/second_week.py", "seed": seed, "scale": scale, "days": days,
        "start": _iso(T0), "end": _iso(end),
        "quiet_days": [(WEEK_START + timedelta(days=d)).strftime("%Y-%m-%d") for d in QUIET_DAYS if d < days],
        "incidents": [inc.label(end) for inc in INCIDENTS if inc.start < end],
    }
    for label in labels["incidents"]:
        if label["id"] == "W2-05" and first_new_prompt is not None:
            # A new cohort starts when its first trace arrives, which a 30% canary may delay past the deploy.
            label["start"] = _iso(first_new_prompt)
    week.incidents.write_bytes(orjson.dumps(labels, option=orjson.OPT_INDENT_2))
    return week


def _search_request(spans: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"resourceSpans": [{"resource": _resource("search-gateway", "5.2.0"), "scopeSpans": [
        {"scope": {"name": "openinference.instrumentation.search_gateway", "version": "0.1.18"}, "spans": spans}]}]})


if __name__ == "__main__":  # pragma: no cover - manual use: python tests/weeks/second_week.py OUT
    import sys

    w = write_week(Path(sys.argv[1] if len(sys.argv) > 1 else "second_week_out"))
    print(f"{w.traces} traces, {w.spans} spans, {w.evaluations} evaluations -> {w.out_dir}")
