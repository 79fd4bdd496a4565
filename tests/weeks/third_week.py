"""A third labelled week of LLM/agent traffic, written from the spec only (acceptance data).

Written from /work/shared/DESIGN.md, /work/shared/semconv.md, docs/ingest.md, docs/signals.md,
docs/cohorts.md and issues 15/16, without reading tracedesk's analysis or alerts code, the sample
generator or tests/weeks/second_week.py. Stdlib only; imports nothing from tracedesk.

The world: "Waypoint", a B2B travel-and-freight operations suite used by six tenants on three
continents (each tenant's traffic peaks in its own business hours, so the fleet has no single daily
curve). Five services, each exported the way its stack really exports:

| route (as the cohort reads it)     | service            | instrumentation shape                                   |
|------------------------------------|--------------------|---------------------------------------------------------|
| policy_qa                          | policy-assistant   | LangGraph via OpenInference (nodes as CHAIN spans with  |
|                                    |                    | metadata.langgraph_node; RETRIEVER with documents)      |
| trip_planner                       | trip-concierge     | OpenAI Agents SDK via OpenInference ("response" LLM     |
|                                    |                    | spans, "handoff to X" TOOL spans, graph.node.*)         |
| /v1/tickets/{ticket_id}/reply      | support-desk       | FastAPI SERVER root (http.route, no app.route) + OTel   |
|                                    |                    | GenAI 1.3x client spans; message content arrives as     |
|                                    |                    | OTLP *log records* (gen_ai.user.message, gen_ai.choice) |
| shipment_ops                       | freight-ops-agent  | Pydantic AI + Logfire (invoke_agent / chat /            |
|                                    |                    | execute_tool with gen_ai.tool.name, logfire.msg)        |
| invoice_disputes                   | ap-dispute-worker  | Vercel AI SDK (ai.generateText + .doGenerate +          |
|                                    |                    | ai.toolCall) on Amazon Bedrock, a queue worker with no  |
|                                    |                    | HTTP root, exported through a Collector file exporter   |

Evaluations arrive as OTLP log records (`gen_ai.evaluation.result`, with evaluator provenance).

Output per day: `waypoint-traces-DATE.otlp.json.gz` (Python services, OTLP/JSON), `waypoint-logs-DATE.otlp.json.gz`
(evaluation results + GenAI message events), `collector-node-DATE.jsonl` (Node worker, one OTLP request per
line). `incidents.json` holds the labels: the answer key, not traffic (never ingest it).

Deterministic: one random.Random(seed) drawn in a fixed order; gzip mtime 0; JSON with sorted keys.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import random
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

WEEK_START = datetime(2027, 6, 13, tzinfo=timezone.utc)  # a Sunday
DEFAULT_SEED = 20270613
MIN_NS = 60_000_000_000
SEC_NS = 1_000_000_000
MS_NS = 1_000_000

# ---------------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------------

#: tenant -> (traces per weekday at scale 1, UTC hour of its traffic peak, spread in hours)
TENANTS: dict[str, tuple[float, float, float]] = {
    "kestrel-air": (150.0, 9.5, 3.0),        # Frankfurt
    "bluefin-logistics": (165.0, 16.0, 3.2),  # New York
    "orchid-health": (105.0, 19.5, 3.0),      # San Francisco
    "tamarind-foods": (115.0, 3.5, 3.0),      # Singapore
    "marlow-partners": (85.0, 11.0, 2.8),     # London
    "quill-and-co": (110.0, 17.5, 3.4),       # Chicago
}

#: tenant -> route weights (each tenant buys a different mix of the suite)
ROUTE_MIX: dict[str, dict[str, float]] = {
    "kestrel-air": {"policy_qa": 0.42, "trip_planner": 0.30, "helpdesk": 0.18, "shipment_ops": 0.04, "invoice_disputes": 0.06},
    "bluefin-logistics": {"policy_qa": 0.18, "trip_planner": 0.14, "helpdesk": 0.22, "shipment_ops": 0.34, "invoice_disputes": 0.12},
    "orchid-health": {"policy_qa": 0.22, "trip_planner": 0.16, "helpdesk": 0.24, "shipment_ops": 0.04, "invoice_disputes": 0.34},
    "tamarind-foods": {"policy_qa": 0.14, "trip_planner": 0.12, "helpdesk": 0.24, "shipment_ops": 0.40, "invoice_disputes": 0.10},
    "marlow-partners": {"policy_qa": 0.36, "trip_planner": 0.38, "helpdesk": 0.18, "shipment_ops": 0.02, "invoice_disputes": 0.06},
    "quill-and-co": {"policy_qa": 0.26, "trip_planner": 0.28, "helpdesk": 0.28, "shipment_ops": 0.08, "invoice_disputes": 0.10},
}

HELPDESK_ROUTE = "/v1/tickets/{ticket_id}/reply"  # what the cohort `route` reads for support-desk (http.route)
USERS_PER_TENANT = 36
WEEKEND_FACTOR = {5: 0.45, 6: 0.40}  # Saturday, Sunday (datetime.weekday())
NIGHT_FLOOR = 0.07  # share of peak intensity that never goes away (on-call, other time zones)

PROMPTS = {
    "policy_qa": "policy-qa/v14",
    "trip_planner": "tp-2.3.0",
    "trip_planner_new": "tp-2.4.0",
    "helpdesk": "helpdesk-reply@2027.05.3",
    "shipment_ops": "freight-ops-7",
    "invoice_disputes": "dispute-draft-v9",
}

GPT4O_OLD = "gpt-4o-2024-08-06"
GPT4O_NEW = "gpt-4o-2024-11-20"

# ---------------------------------------------------------------------------------------------
# Incidents (times relative to WEEK_START; none starts on a round hour)
# ---------------------------------------------------------------------------------------------


def _t(day: int, hh: int, mm: int) -> int:
    return int((WEEK_START + timedelta(days=day, hours=hh, minutes=mm)).timestamp()) * SEC_NS


INC = {
    # groundedness collapse for one tenant's index shard, with its retriever slowing down
    "W3-01": (_t(3, 7, 52), _t(3, 11, 37)),
    # slow ramp: support-desk appends the whole ticket thread to every call (context bloat)
    "W3-02": (_t(3, 14, 37), _t(4, 21, 10)),
    "W3-02-ramp-end": (_t(4, 20, 37), _t(4, 20, 37)),
    # provider refresh of the gpt-4o alias: refusals up a few points on both routes that call it
    "W3-03": (_t(4, 2, 17), _t(5, 18, 40)),
    # tool-retry loop on shipment_ops (carrier API rejects a service level; pydantic-ai retries)
    "W3-04": (_t(4, 13, 22), _t(4, 16, 35)),
    # new trip-planner prompt, bad from its first trace, rolled back
    "W3-05": (_t(5, 9, 41), _t(5, 15, 8)),
    # one tenant's traffic stops (SSO proxy outage upstream of the agents)
    "W3-06": (_t(5, 14, 47), _t(5, 16, 32)),
    # PII leak: vendor-master sync puts contact details and bank details into one tenant's drafts
    "W3-07": (_t(5, 16, 26), _t(5, 23, 40)),
    # noise that must not page
    "W3-N1": (_t(4, 10, 47), _t(4, 11, 9)),   # vector index compaction: retriever slow for everyone, 22 min
    "W3-N2": (_t(5, 7, 14), _t(5, 7, 44)),    # CDN hiccup: 45% fewer traces for 30 min
    "W3-N3": (_t(4, 16, 33), _t(4, 16, 45)),  # GDS gateway timeouts on hold_fare, 12 min
    "W3-N4": (_t(3, 17, 20), _t(3, 17, 42)),  # one quill-and-co user pastes whole contracts into policy_qa: cost blip
    "W3-N5": (_t(3, 3, 12), _t(3, 3, 24)),    # one tamarind-foods user probing the trip planner: a few refusals
}


def _shape(hour: float, peak: float, spread: float) -> float:
    d = min(abs(hour - peak), 24 - abs(hour - peak))
    return NIGHT_FLOOR + (1 - NIGHT_FLOOR) * math.exp(-0.5 * (d / spread) ** 2)


_NORMS: dict[tuple[float, float], float] = {}


def _norm(peak: float, spread: float) -> float:
    """Minutes-weighted integral of the daily shape, so a tenant's weekday total is its `daily` figure."""
    key = (peak, spread)
    if key not in _NORMS:
        _NORMS[key] = sum(_shape(m / 60.0, peak, spread) for m in range(1440))
    return _NORMS[key]


def active(name: str, t: int) -> bool:
    a, b = INC[name]
    return a <= t < b


def ramp_multiplier(t: int) -> float:
    """Context bloat on support-desk: 1.0 at W3-02's start, RAMP_TOP at ramp end, held until the fix."""
    a, b = INC["W3-02"]
    top_t = INC["W3-02-ramp-end"][0]
    if not a <= t < b:
        return 1.0
    frac = min(1.0, (t - a) / (top_t - a))
    return 1.0 + (RAMP_TOP - 1.0) * frac


RAMP_TOP = 2.6

# ---------------------------------------------------------------------------------------------
# Text: what real users ask and what real models answer
# ---------------------------------------------------------------------------------------------

REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I’m sorry, but I can’t assist with that request.",
    "Sorry, I can't help with making a booking on someone else's behalf without their consent. If you're booking for yourself, I'm happy to help.",
    "I'm unable to help with that request.",
    "I can’t help with that, but I can walk you through the standard process instead.",
    "I apologize, but I'm not able to share details about another person's reservation or account.",
    "Unfortunately, I can't do that. Changes to a ticket that has already been issued need to go through your travel manager.",
    "I'm not able to assist with that. Is there anything else I can help you with?",
    "I won't be able to help with this one, as it may involve sharing personal information.",
    "Sorry — I can’t provide that.",
    "I can't comply with that request.",
    "As an AI assistant, I'm not able to process that request.",
]

#: answers that open like a refusal but are not one
BENIGN_OPENERS = [
    "Sorry for the wait! ",
    "I'm sorry to hear about the delay. ",
    "Unfortunately the 07:40 departure is sold out, but ",
    "I can't wait for you to try the new lounge access: ",
    "Apologies for the confusion earlier. ",
]

POLICY_QUESTIONS = [
    "What is the per-diem for Frankfurt?",
    "Can I expense a seat upgrade on a 7-hour flight?",
    "Do I need pre-approval for a hotel above the nightly cap?",
    "Is rideshare to the airport reimbursable?",
    "How do I claim mileage for a client visit?",
    "What receipts do I need for meals under 25 EUR?",
    "Can I book premium economy for an overnight flight?",
    "Who approves international travel for contractors?",
    "Are airport lounge passes covered?",
    "What's the cancellation policy for non-refundable fares?",
]
POLICY_DOCS = [f"te-handbook-2027#s{s}" for s in ("2.1", "2.4", "3.1", "3.3", "4.2", "4.5", "5.1", "6.2", "7.1", "7.4")]
STALE_DOCS = [f"te-handbook-2019-archive#s{s}" for s in ("1.2", "3.7", "9.1")]

TRIP_REQUESTS = [
    "Book me a flight from Denver to Austin on the 24th, morning departure, aisle seat.",
    "I need a hotel near the Hamburg fair grounds for three nights from Monday.",
    "Move my Thursday return to the last flight out of Boston.",
    "Find a train from London to Paris arriving before 10am on Friday.",
    "Book the same trip as last month to Singapore for two colleagues.",
    "Can you hold a fare SFO to SEA next Tuesday, back Wednesday evening?",
    "I need to be in Lisbon on the 3rd for a 9am meeting, what's my best option?",
]
HELPDESK_TICKETS = [
    "Where is the refund for my cancelled booking WPT-88213?",
    "The app charged my card twice for the same hotel night.",
    "I can't log in since the SSO change, it says my account is locked.",
    "Please update the billing address on our company account.",
    "My expense report has been stuck in 'pending approval' for 9 days.",
    "The invoice PDF for May is missing the VAT line.",
]
FREIGHT_REQUESTS = [
    "Quote and schedule a pickup for 4 pallets from Reno to Boise, liftgate needed.",
    "Rebook tomorrow's LTL pickup in Tacoma to Thursday morning.",
    "Cheapest 2-day option for 180 kg from Singapore to Penang?",
    "Book a reefer truck for 12 pallets of produce, Salinas to Phoenix, Friday.",
    "What's the status of PRO 4471-0923 and can we move delivery to the afternoon?",
]
DISPUTE_REQUESTS = [  # (request, invoice, reason as the draft words it)
    ("Draft a dispute for invoice INV-20931: billed 120 units, PO-5512 says 100.", "INV-20931",
     "it bills 120 units against purchase order PO-5512 for 100"),
    ("Vendor charged the old rate on INV-77310; draft the dispute citing the amended contract.", "INV-77310",
     "it applies the rate superseded by the amended contract of 1 April"),
    ("Duplicate charge on INV-31008 and INV-31009, same shipment. Draft the dispute.", "INV-31009",
     "it duplicates INV-31008 for the same shipment"),
    ("INV-66021 includes a fuel surcharge our contract caps at 8%. Draft a dispute.", "INV-66021",
     "its fuel surcharge exceeds the 8% cap in our contract"),
]
PII_LEAKS = [
    "Remit any credit to the vendor's account IBAN GB82 WEST 1234 5698 7654 32 and copy their AP lead, dana.whitfield@medsupply-partners.com.",
    "For questions, the vendor contact is Ravi Okafor at +1 (415) 555-0142 or r.okafor@medsupply-partners.com.",
    "The vendor's billing contact on file is j.marsh@alpine-surgical.net (direct line 415-555-0199).",
    "Send the signed dispute to accounts.receivable@northgate-medical.com; their remittance IBAN is DE89 3704 0044 0532 0130 00.",
]

# ---------------------------------------------------------------------------------------------
# Span records and OTLP encoding
# ---------------------------------------------------------------------------------------------

KIND_INTERNAL, KIND_SERVER, KIND_CLIENT = 1, 2, 3


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent: str
    name: str
    kind: int
    start: int
    end: int
    attrs: dict[str, Any]
    error: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Log:
    time: int
    trace_id: str
    span_id: str
    event_name: str
    attrs: dict[str, Any]
    body: Any = None


def _any(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, (list, tuple)):
        return {"arrayValue": {"values": [_any(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": _any(x)} for k, x in v.items()]}}
    return {"stringValue": str(v)}


def _kv(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _any(v)} for k, v in d.items()]


def _span_json(s: Span, enum_names: bool) -> dict[str, Any]:
    kinds = {1: "SPAN_KIND_INTERNAL", 2: "SPAN_KIND_SERVER", 3: "SPAN_KIND_CLIENT"}
    # keys in the protobuf field order, as the OTLP exporters and the Collector write them
    out: dict[str, Any] = {"traceId": s.trace_id, "spanId": s.span_id}
    if s.parent:
        out["parentSpanId"] = s.parent
    out.update({
        "name": s.name,
        "kind": kinds[s.kind] if enum_names else s.kind,
        "startTimeUnixNano": str(s.start),
        "endTimeUnixNano": str(s.end),
        "attributes": _kv(s.attrs),
    })
    if s.events:
        out["events"] = [
            {"timeUnixNano": str(e["time"]), "name": e["name"], "attributes": _kv(e.get("attrs", {}))} for e in s.events
        ]
    out["status"] = {"code": 2, "message": s.error} if s.error else {"code": 0}
    return out


SERVICES: dict[str, dict[str, Any]] = {
    "policy-assistant": {
        "resource": {"service.name": "policy-assistant", "service.version": "3.8.2", "deployment.environment.name": "prod",
                     "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.33.1"},
        "scope": ("openinference.instrumentation.langchain", "0.1.43"),
    },
    "trip-concierge": {
        "resource": {"service.name": "trip-concierge", "service.version": "2027.6.1", "deployment.environment.name": "prod",
                     "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.33.1"},
        "scope": ("openinference.instrumentation.openai_agents", "1.0.4"),
    },
    "support-desk": {
        "resource": {"service.name": "support-desk", "service.version": "14.2.0", "deployment.environment.name": "prod",
                     "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.31.0",
                     "host.name": "support-desk-7c9f6d-xk2lp"},
        "scope": ("opentelemetry.instrumentation.openai_v2", "2.1b0"),
    },
    "freight-ops-agent": {
        "resource": {"service.name": "freight-ops-agent", "service.version": "0.19.3", "deployment.environment.name": "prod",
                     "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.34.0"},
        "scope": ("pydantic-ai", "1.0.10"),
    },
    "ap-dispute-worker": {
        "resource": {"service.name": "ap-dispute-worker", "service.version": "1.12.0", "deployment.environment.name": "prod",
                     "telemetry.sdk.language": "nodejs", "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "2.0.1",
                     "process.runtime.name": "nodejs", "process.runtime.version": "22.16.0"},
        "scope": ("ai", "4.3.16"),
    },
}
#: scope for support-desk's hand-written tool spans (the openai-v2 instrumentation makes none)
SUPPORT_TOOL_SCOPE = ("support_desk.tools", "14.2.0")


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------


@dataclass
class Week:
    out_dir: Path
    files: list[Path]
    incidents: Path
    traces: int
    spans: int
    evaluations: int
    traces_by_route: dict[str, int]
    traces_by_tenant: dict[str, int]
    traces_by_day: dict[str, int]

    def labels(self) -> dict[str, Any]:
        return json.loads(self.incidents.read_text())


class _Gen:
    def __init__(self, seed: int, days: int, scale: float) -> None:
        self.rng = random.Random(seed)
        self.days = days
        self.scale = scale
        self.spans: list[tuple[str, Span]] = []  # (service, span)
        self.tool_scope_spans: list[Span] = []
        self.logs: list[tuple[str, Log]] = []
        self.traces_by_route: dict[str, int] = {}
        self.traces_by_tenant: dict[str, int] = {}
        self.traces_by_day: dict[str, int] = {}
        # measurements the labels carry (what the generator itself put into the data)
        self.affected: dict[str, int] = {k: 0 for k in INC}
        self.helpdesk_input_tokens: list[tuple[int, int, float]] = []  # (t, tokens, multiplier)
        self.gpt4o_answers: list[tuple[int, bool]] = []
        self.expected_missing = 0.0
        self.first: dict[str, int] = {}  # incident -> start of the first trace (or call) showing it

    def hit(self, iid: str, t: int) -> None:
        """One trace carrying incident iid's symptom; the first one dates when the data can first show it."""
        self.affected[iid] += 1
        self.first[iid] = min(self.first.get(iid, t), t)

    def saw_snapshot(self, snapshot: str, t: int) -> None:
        if snapshot == GPT4O_NEW:
            self.first["W3-03"] = min(self.first.get("W3-03", t), t)

    # -- ids and draws -------------------------------------------------------------------------
    def hex_id(self, nbytes: int) -> str:
        return f"{self.rng.getrandbits(nbytes * 8):0{nbytes * 2}x}"

    def lognorm(self, median: float, sigma: float) -> float:
        return median * math.exp(self.rng.gauss(0.0, sigma))

    def poisson(self, lam: float) -> int:
        if lam <= 0:
            return 0
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def pick(self, weights: dict[str, float]) -> str:
        r = self.rng.random() * sum(weights.values())
        for k, w in weights.items():
            r -= w
            if r <= 0:
                return k
        return k

    def clip01(self, x: float) -> float:
        return round(min(1.0, max(0.0, x)), 3)

    # -- traffic ---------------------------------------------------------------------------------
    def intensity(self, tenant: str, t: int) -> float:
        """Expected traces per minute for one tenant at time t, incidents included."""
        lam = self._intensity_raw(tenant, t)
        if tenant == "bluefin-logistics" and active("W3-06", t):
            return 0.0
        if active("W3-N2", t):
            lam *= 0.55
        return lam

    def _intensity_raw(self, tenant: str, t: int) -> float:
        daily, peak, spread = TENANTS[tenant]
        dt = datetime.fromtimestamp(t / SEC_NS, tz=timezone.utc)
        hour = dt.hour + dt.minute / 60.0
        return daily * self.scale * _shape(hour, peak, spread) / _norm(peak, spread) * WEEKEND_FACTOR.get(dt.weekday(), 1.0)

    def run(self) -> None:
        start_ns = int(WEEK_START.timestamp()) * SEC_NS
        # one user's bursts on top of the Poisson traffic (the noise blips W3-N4 and W3-N5)
        extra: dict[int, list[tuple[int, str, str, str, str]]] = {}
        n4, n5 = INC["W3-N4"][0], INC["W3-N5"][0]
        for off in (1.5, 7.0, 13.2, 19.0):
            ts = n4 + int(off * MIN_NS)
            extra.setdefault((ts - start_ns) // MIN_NS, []).append((ts, "policy_qa", "quill-and-co", "quill-u21", "paste"))
        for off in (0.4, 2.1, 4.5, 6.3, 8.8, 11.0):
            ts = n5 + int(off * MIN_NS)
            extra.setdefault((ts - start_ns) // MIN_NS, []).append((ts, "trip_planner", "tamarind-foods", "tamarind-u13", "probe"))
        for minute in range(self.days * 1440):
            t0 = start_ns + minute * MIN_NS
            for tenant in TENANTS:
                n = self.poisson(self.intensity(tenant, t0))
                for _ in range(n):
                    t = t0 + int(self.rng.random() * MIN_NS)
                    route = self.pick(ROUTE_MIX[tenant])
                    user = f"{tenant.split('-')[0]}-u{self.rng.randrange(USERS_PER_TENANT):02d}"
                    self.trace(route, tenant, user, t)
            for ts, route, tenant, user, flag in extra.get(minute, []):
                self.trace(route, tenant, user, ts, flag)
        # what the traffic-drop tenant would have sent (the label's expected count)
        a, b = INC["W3-06"]
        self.expected_missing = sum(self._intensity_raw("bluefin-logistics", a + m * MIN_NS) for m in range((b - a) // MIN_NS))
        self.affected["W3-N2"] = sum(1 for _, sp in self.spans if not sp.parent and active("W3-N2", sp.start))

    def trace(self, route: str, tenant: str, user: str, t: int, flag: str = "") -> None:
        block = (t // SEC_NS) // (3 * 3600)
        session = "sess_" + hashlib.sha1(f"{user}:{block}".encode()).hexdigest()[:16]
        ctx: dict[str, Any] = {"tenant": tenant, "user": user, "session": session, "trace_id": self.hex_id(16)}
        if flag:
            ctx[flag] = True
        getattr(self, "_" + route)(ctx, t)
        key = HELPDESK_ROUTE if route == "helpdesk" else route
        self.traces_by_route[key] = self.traces_by_route.get(key, 0) + 1
        self.traces_by_tenant[tenant] = self.traces_by_tenant.get(tenant, 0) + 1
        day = datetime.fromtimestamp(t / SEC_NS, tz=timezone.utc).date().isoformat()
        self.traces_by_day[day] = self.traces_by_day.get(day, 0) + 1

    # -- pieces shared by routes ------------------------------------------------------------------
    def llm_time(self, t: int, ttft_median_ms: float, out_tokens: int, tps: float) -> tuple[int, int, float]:
        ttft = self.lognorm(ttft_median_ms, 0.35)
        dur = ttft + out_tokens / tps * 1000.0 * math.exp(self.rng.gauss(0, 0.15))
        return t, t + int(dur * MS_NS), ttft

    def refusal_chance(self, model_snapshot: str, t: int) -> float:
        if model_snapshot == GPT4O_NEW:
            return 0.048
        return 0.007

    def answer_text(self, body: str) -> str:
        if self.rng.random() < 0.03:
            return self.rng.choice(BENIGN_OPENERS) + body[0].lower() + body[1:]
        return body

    def evaluation(self, svc: str, ctx: dict[str, Any], span_id: str, t: int, name: str, score: float | None,
                   label: str | None, explanation: str | None, evaluator: tuple[str, str, str]) -> None:
        attrs: dict[str, Any] = {"gen_ai.evaluation.name": name}
        if score is not None:
            attrs["gen_ai.evaluation.score.value"] = float(score)
        if label is not None:
            attrs["gen_ai.evaluation.score.label"] = label
        if explanation:
            attrs["gen_ai.evaluation.explanation"] = explanation
        attrs["gen_ai.evaluator.id"], attrs["gen_ai.evaluator.version"], attrs["gen_ai.evaluator.type"] = evaluator
        self.logs.append((svc, Log(t, ctx["trace_id"], span_id, "gen_ai.evaluation.result", attrs)))

    def feedback(self, svc: str, ctx: dict[str, Any], span_id: str, t: int, p_down: float) -> None:
        if self.rng.random() >= 0.11:
            return
        down = self.rng.random() < p_down
        self.evaluation(svc, ctx, span_id, t + int(self.lognorm(90, 0.8) * SEC_NS), "user_feedback", 0.0 if down else 1.0,
                        "thumbs_down" if down else "thumbs_up", None, ("widget.feedback", "2", "human"))

    # -- policy_qa: LangGraph via OpenInference ------------------------------------------------------
    def _policy_qa(self, ctx: dict[str, Any], t: int) -> None:
        svc, tid = "policy-assistant", ctx["trace_id"]
        meta = {"route": "policy_qa", "tenant_id": ctx["tenant"], "thread_id": ctx["session"]}
        common = {"session.id": ctx["session"], "user.id": ctx["user"]}
        q = self.rng.choice(POLICY_QUESTIONS)
        incident = ctx["tenant"] == "kestrel-air" and active("W3-01", t)
        blip = active("W3-N1", t)
        root_id = self.hex_id(8)
        spans: list[Span] = []
        cur = t + int(self.lognorm(4, 0.3) * MS_NS)

        def node(name: str, step: int, start: int) -> Span:
            m = dict(meta, langgraph_step=step, langgraph_node=name, langgraph_triggers=[f"branch:to:{name}"],
                     langgraph_path=["__pregel_pull", name], langgraph_checkpoint_ns=f"{name}:{self.hex_id(4)}")
            return Span(tid, self.hex_id(8), root_id, name, KIND_INTERNAL, start, start,
                        {"openinference.span.kind": "CHAIN", "metadata": json.dumps(m, sort_keys=True), **common})

        # 1. rewrite the question
        n1 = node("rewrite_query", 1, cur)
        rw_in, rw_out = int(self.lognorm(210, 0.2)), int(self.lognorm(28, 0.3))
        a, b, _ = self.llm_time(cur + MS_NS, 320, rw_out, 95)
        rewritten = "per diem / reimbursement rule: " + q.lower().rstrip("?")
        llm1 = Span(tid, self.hex_id(8), n1.span_id, "ChatOpenAI", KIND_INTERNAL, a, b, {
            "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini-2024-07-18", "llm.provider": "openai", "llm.system": "openai",
            "llm.invocation_parameters": json.dumps({"model": "gpt-4o-mini", "temperature": 0.0}),
            "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": "Rewrite the employee's question as a search query over the T&E handbook.",
            "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": q,
            "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": rewritten,
            "llm.token_count.prompt": rw_in, "llm.token_count.completion": rw_out, "llm.token_count.total": rw_in + rw_out,
            "metadata": json.dumps(dict(meta, langgraph_node="rewrite_query", ls_model_name="gpt-4o-mini"), sort_keys=True), **common})
        n1.end = b + MS_NS
        spans += [n1, llm1]
        cur = n1.end + MS_NS
        # 2. retrieve
        n2 = node("retrieve", 2, cur)
        e_a = cur + MS_NS
        e_b = e_a + int(self.lognorm(45, 0.3) * MS_NS)
        emb_tokens = int(self.lognorm(22, 0.2))
        emb = Span(tid, self.hex_id(8), n2.span_id, "OpenAIEmbeddings", KIND_INTERNAL, e_a, e_b, {
            "openinference.span.kind": "EMBEDDING", "embedding.model_name": "text-embedding-3-large",
            "embedding.embeddings.0.embedding.text": rewritten, "llm.token_count.prompt": emb_tokens, "llm.token_count.total": emb_tokens,
            "metadata": json.dumps(meta, sort_keys=True), **common})
        r_ms = self.lognorm(150, 0.3)
        if incident:
            r_ms = self.lognorm(1900, 0.45)
        elif blip:
            r_ms = self.lognorm(620, 0.3)
        r_a = e_b + MS_NS
        r_b = r_a + int(r_ms * MS_NS)
        k = 4
        if incident and self.rng.random() < 0.8:
            docs = self.rng.sample(STALE_DOCS, 2) + self.rng.sample(POLICY_DOCS, 2)
            scores = sorted((round(self.rng.uniform(0.42, 0.61), 4) for _ in range(k)), reverse=True)
        else:
            docs = self.rng.sample(POLICY_DOCS, k)
            scores = sorted((round(self.rng.uniform(0.71, 0.93), 4) for _ in range(k)), reverse=True)
        rattrs: dict[str, Any] = {"openinference.span.kind": "RETRIEVER", "input.value": rewritten,
                                  "metadata": json.dumps(dict(meta, ls_retriever_name="pgvector", ls_vector_store_provider="PGVector"), sort_keys=True), **common}
        for i, (d, s) in enumerate(zip(docs, scores)):
            rattrs[f"retrieval.documents.{i}.document.id"] = d
            rattrs[f"retrieval.documents.{i}.document.score"] = s
            rattrs[f"retrieval.documents.{i}.document.content"] = f"[{d}] Employees may claim ... (section text, {self.rng.randrange(300, 900)} chars)"
            rattrs[f"retrieval.documents.{i}.document.metadata"] = json.dumps({"source": d.split("#")[0], "tenant": ctx["tenant"]})
        ret = Span(tid, self.hex_id(8), n2.span_id, "VectorStoreRetriever", KIND_INTERNAL, r_a, r_b, rattrs)
        n2.end = r_b + MS_NS
        spans += [n2, emb, ret]
        cur = n2.end + MS_NS
        # 3. generate
        n3 = node("generate", 3, cur)
        g_in, g_out = int(self.lognorm(1850, 0.2) * (4.2 if ctx.get("paste") else 1.0)), int(self.lognorm(210, 0.3))
        if ctx.get("paste"):
            self.hit("W3-N4", t)
        a, b, _ = self.llm_time(cur + MS_NS, 700, g_out, 80)
        if incident:
            body = self.rng.choice([
                "Seat upgrades are reimbursable on any flight over four hours, and no pre-approval is needed.",
                "Per the travel policy, lounge passes and premium cabins are covered for all employees.",
                "You can claim mileage at 0.58 per mile for any trip, including your commute.",
                "Hotels above the cap are fine as long as you keep the receipt.",
            ])
        else:
            body = f"Per section {docs[0].split('#s')[1]} of the 2027 T&E handbook: " + self.rng.choice([
                "upgrades are reimbursable only on flights over 8 hours and need your cost-center owner's approval.",
                "the Frankfurt per-diem is 58 EUR for meals and incidentals; hotels follow the city cap of 190 EUR.",
                "rideshare to and from the airport is reimbursable; keep the itemized receipt.",
                "meals under 25 EUR need no receipt, but you must log the attendees for client meals.",
                "non-refundable fares can be cancelled for a credit that stays with the traveller for 12 months.",
            ])
        answer = self.answer_text(body)
        refused = self.rng.random() < self.refusal_chance("gemini", t)
        if refused:
            answer = self.rng.choice(REFUSALS)
        llm3 = Span(tid, self.hex_id(8), n3.span_id, "ChatGoogleGenerativeAI", KIND_INTERNAL, a, b, {
            "openinference.span.kind": "LLM", "llm.model_name": "gemini-2.5-pro", "llm.provider": "google", "llm.system": "vertexai",
            "llm.invocation_parameters": json.dumps({"model": "gemini-2.5-pro", "temperature": 0.2, "max_output_tokens": 1024}),
            "llm.prompt_template.template": "Answer ONLY from the context.\n{context}\n\nQuestion: {question}",
            "llm.prompt_template.version": PROMPTS["policy_qa"],
            "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": "You answer employees' questions about Waypoint's travel and expense policy. Cite the section.",
            "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": q,
            "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": answer,
            "output.value": answer,
            "llm.token_count.prompt": g_in, "llm.token_count.completion": g_out, "llm.token_count.total": g_in + g_out,
            "metadata": json.dumps(dict(meta, langgraph_node="generate", ls_model_name="gemini-2.5-pro"), sort_keys=True), **common})
        n3.end = b + MS_NS
        spans += [n3, llm3]
        root = Span(tid, root_id, "", "LangGraph", KIND_INTERNAL, t, n3.end + 2 * MS_NS, {
            "openinference.span.kind": "CHAIN", "input.value": json.dumps({"messages": [{"role": "user", "content": q}]}),
            "input.mime_type": "application/json",
            "output.value": json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": answer}]}),
            "output.mime_type": "application/json", "metadata": json.dumps(meta, sort_keys=True), **common})
        self.spans += [(svc, s) for s in [root] + spans]
        if incident:
            self.hit("W3-01", t)
        if blip:
            self.hit("W3-N1", t)
        # online judge on ~70% of answers, a few seconds to a minute after
        if self.rng.random() < 0.7 and not refused:
            g = self.rng.gauss(0.43 if incident else 0.87, 0.12 if incident else 0.07)
            expl = ("The answer states a rule the retrieved sections do not contain." if g < 0.6
                    else "Every claim is supported by the cited section.")
            self.evaluation(svc, ctx, llm3.span_id, root.end + int(self.lognorm(25, 0.5) * SEC_NS), "groundedness",
                            self.clip01(g), None, expl, ("ragas.faithfulness", "0.2.15", "llm"))
        self.feedback(svc, ctx, llm3.span_id, root.end, 0.22 if incident else 0.05)

    # -- trip_planner: OpenAI Agents SDK via OpenInference ---------------------------------------------
    def _trip_planner(self, ctx: dict[str, Any], t: int) -> None:
        svc, tid = "trip-concierge", ctx["trace_id"]
        new_prompt = active("W3-05", t)
        pv = PROMPTS["trip_planner_new" if new_prompt else "trip_planner"]
        meta = json.dumps({"route": "trip_planner", "tenant": ctx["tenant"]}, sort_keys=True)
        common = {"session.id": ctx["session"], "user.id": ctx["user"], "metadata": meta, "llm.prompt_template.version": pv}
        req = self.rng.choice(TRIP_REQUESTS)
        root_id = self.hex_id(8)
        spans: list[Span] = []
        cur = t + 2 * MS_NS
        # triage agent
        tri = Span(tid, self.hex_id(8), root_id, "Triage Agent", KIND_INTERNAL, cur, cur, {
            "openinference.span.kind": "AGENT", "llm.system": "openai", "graph.node.id": "Triage Agent", "agent.name": "Triage Agent", **common})
        ti, to = int(self.lognorm(520, 0.15)), int(self.lognorm(18, 0.2))
        a, b, _ = self.llm_time(cur + MS_NS, 380, to, 90)
        r1 = self._agents_response(tid, tri.span_id, a, b, "gpt-4o-mini", "gpt-4o-mini-2024-07-18", req, None,
                                   "transfer_to_booking_agent", ti, to, common)
        ho_a = b + MS_NS
        ho = Span(tid, self.hex_id(8), tri.span_id, "handoff to Booking Agent", KIND_INTERNAL, ho_a, ho_a + MS_NS // 2, {
            "openinference.span.kind": "TOOL", "llm.system": "openai", **common})
        tri.end = ho.end + MS_NS
        spans += [tri, r1, ho]
        cur = tri.end + MS_NS
        # booking agent
        bk = Span(tid, self.hex_id(8), root_id, "Booking Agent", KIND_INTERNAL, cur, cur, {
            "openinference.span.kind": "AGENT", "llm.system": "openai", "graph.node.id": "Booking Agent",
            "graph.node.parent_id": "Triage Agent", "agent.name": "Booking Agent", **common})
        spans.append(bk)
        in_tokens = int(self.lognorm(1350, 0.18))
        cur += MS_NS
        snapshot = GPT4O_NEW if active("W3-03", cur) else GPT4O_OLD
        self.saw_snapshot(snapshot, cur)
        refuse_p = 0.7 if ctx.get("probe") else self.refusal_chance(snapshot, cur)
        refused = self.rng.random() < refuse_p
        tool_calls = 0
        answer = ""
        if refused:
            out = int(self.lognorm(32, 0.3))
            a, b, _ = self.llm_time(cur, 520, out, 70)
            answer = self.rng.choice(REFUSALS)
            spans.append(self._agents_response(tid, bk.span_id, a, b, "gpt-4o", snapshot, req, answer, None, in_tokens, out, common))
            final_id = spans[-1].span_id
            cur = b
            if active("W3-03", a):
                self.hit("W3-03", t)
            if ctx.get("probe"):
                self.hit("W3-N5", t)
        else:
            steps = ["search_flights"] if new_prompt else ["search_flights", "hold_fare"]
            for tool in steps:
                out = int(self.lognorm(45, 0.25))
                a, b, _ = self.llm_time(cur, 520, out, 70)
                spans.append(self._agents_response(tid, bk.span_id, a, b, "gpt-4o", snapshot, req, None, tool, in_tokens, out, common))
                ta = b + MS_NS
                dur = self.lognorm(780 if tool == "search_flights" else 420, 0.35)
                err = ""
                if tool == "hold_fare" and active("W3-N3", ta) and self.rng.random() < 0.8:
                    dur, err = 10_000.0, "GDSGatewayTimeout: upstream did not answer within 10s"
                    self.hit("W3-N3", t)
                elif self.rng.random() < 0.006:
                    err = "ToolError: fare no longer available"
                tool_attrs = {"openinference.span.kind": "TOOL", "llm.system": "openai", "tool.name": tool,
                              "input.value": json.dumps({"request": req[:60]}), "input.mime_type": "application/json",
                              "output.value": "" if err else json.dumps({"ok": True, "fare_id": self.hex_id(4)}), **common}
                spans.append(Span(tid, self.hex_id(8), bk.span_id, tool, KIND_INTERNAL, ta, ta + int(dur * MS_NS), tool_attrs, err,
                                  [{"time": ta + int(dur * MS_NS), "name": "exception", "attrs": {"exception.type": err.split(":")[0],
                                                                                                  "exception.message": err}}] if err else []))
                tool_calls += 1
                cur = spans[-1].end + MS_NS
                in_tokens += int(self.lognorm(260, 0.2))
            out = int(self.lognorm(150, 0.3))
            a, b, _ = self.llm_time(cur, 520, out, 70)
            if new_prompt:
                body = "Done! Your seat is confirmed and ticketed. You'll receive the e-ticket shortly."
            else:
                body = self.rng.choice(["I've held fare ", "Fare on hold: ", "Held for you: "]) + \
                    f"{self.hex_id(3).upper()} until 18:00 tomorrow. Reply 'ticket it' and I'll issue it under your travel policy."
            answer = self.answer_text(body)
            spans.append(self._agents_response(tid, bk.span_id, a, b, "gpt-4o", snapshot, req, answer, None, in_tokens, out, common))
            final_id = spans[-1].span_id
            cur = b
        self.gpt4o_answers.append((cur, refused))
        bk.end = cur + MS_NS
        root = Span(tid, root_id, "", "Trip concierge", KIND_INTERNAL, t, bk.end + MS_NS, {
            "openinference.span.kind": "AGENT", **{k: v for k, v in common.items() if k != "llm.prompt_template.version"},
            "llm.prompt_template.version": pv})
        self.spans += [(svc, s) for s in [root] + spans]
        if new_prompt:
            self.hit("W3-05", t)
        # online judge: did the agent do what it says it did?
        if self.rng.random() < 0.5:
            if refused:
                ok = False
            elif new_prompt:
                ok = self.rng.random() < 0.52
            else:
                ok = self.rng.random() < 0.94
            self.evaluation(svc, ctx, final_id, root.end + int(self.lognorm(40, 0.5) * SEC_NS), "booking_correctness",
                            1.0 if ok else 0.0, "pass" if ok else "fail",
                            None if ok else "The reply claims an action no tool call performed.", ("waypoint.judges.booking", "3", "llm"))
        self.feedback(svc, ctx, final_id, root.end, 0.30 if new_prompt else (0.25 if refused else 0.05))

    def _agents_response(self, tid: str, parent: str, a: int, b: int, req_model: str, resp_model: str, user_msg: str,
                         answer: str | None, tool: str | None, tin: int, tout: int, common: dict[str, Any]) -> Span:
        attrs: dict[str, Any] = {
            "openinference.span.kind": "LLM", "llm.system": "openai", "llm.provider": "openai",
            "llm.model_name": resp_model,
            "llm.invocation_parameters": json.dumps({"model": req_model, "temperature": 0.3, "parallel_tool_calls": False}),
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "You are Waypoint's booking agent. Use tools; never claim a booking you did not make.",
            "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": user_msg,
            "llm.token_count.prompt": tin, "llm.token_count.completion": tout, "llm.token_count.total": tin + tout,
            "llm.output_messages.0.message.role": "assistant",
            **common,
        }
        cached = (tin // 128) * 128 // 2 if tin > 1024 else 0
        if cached:
            attrs["llm.token_count.prompt_details.cache_read"] = cached
        if answer is not None:
            attrs["llm.output_messages.0.message.contents.0.message_content.type"] = "text"
            attrs["llm.output_messages.0.message.contents.0.message_content.text"] = answer
            attrs["output.value"] = json.dumps({"id": "resp_" + self.hex_id(12), "model": resp_model, "object": "response",
                                                "output": [{"type": "message", "role": "assistant",
                                                            "content": [{"type": "output_text", "text": answer}]}]})
            attrs["output.mime_type"] = "application/json"
        if tool is not None:
            call_id = "call_" + self.hex_id(12)
            attrs["llm.output_messages.0.message.tool_calls.0.tool_call.id"] = call_id
            attrs["llm.output_messages.0.message.tool_calls.0.tool_call.function.name"] = tool
            attrs["llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments"] = json.dumps({"query": user_msg[:40]})
        return Span(tid, self.hex_id(8), parent, "response", KIND_INTERNAL, a, b, attrs)

    # -- helpdesk: FastAPI + OTel GenAI 1.3x, content as log records --------------------------------------
    def _helpdesk(self, ctx: dict[str, Any], t: int) -> None:
        svc, tid = "support-desk", ctx["trace_id"]
        ticket = self.rng.choice(HELPDESK_TICKETS)
        base = {"tenant.id": ctx["tenant"], "enduser.pseudo.id": ctx["user"], "session.id": ctx["session"],
                "prompt.version": PROMPTS["helpdesk"]}
        root_id = self.hex_id(8)
        spans: list[Span] = []
        logs: list[Log] = []
        cur = t + int(self.lognorm(6, 0.3) * MS_NS)
        mult = ramp_multiplier(t)
        snapshot = GPT4O_NEW if active("W3-03", cur) else GPT4O_OLD
        n_tools = 1 if self.rng.random() < 0.7 else 2
        history = ""
        final_id = ""
        refused = False
        for turn in range(n_tools + 1):
            last = turn == n_tools
            self.saw_snapshot(snapshot, cur)
            tin = int(self.lognorm(880 if turn == 0 else 1150, 0.28) * mult)
            self.helpdesk_input_tokens.append((cur, tin, mult))
            tout = int(self.lognorm(170 if last else 40, 0.3))
            a, b, _ = self.llm_time(cur, 450, tout, 75)
            if last and self.rng.random() < self.refusal_chance(snapshot, a):
                refused = True
                answer = self.rng.choice(REFUSALS)
                if active("W3-03", a):
                    self.hit("W3-03", t)
            elif last:
                answer = self.answer_text(self.rng.choice([
                    "Thanks for flagging this. I've checked booking WPT-88213: the refund was issued on the 9th and should reach your card within 5-7 business days.",
                    "I can see the duplicate charge. I've reversed the second hotel night; you'll see the credit in 3 business days.",
                    "Your account was locked by the SSO migration. I've unlocked it; please sign in again with your company login.",
                    "I've updated the billing address. The next invoice will show the new address.",
                    "Your report was waiting on an approver who is out of office. I've routed it to the backup approver.",
                ]))
            sid = self.hex_id(8)
            attrs: dict[str, Any] = {
                "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": snapshot, "gen_ai.response.id": "chatcmpl-" + self.hex_id(12),
                "gen_ai.response.finish_reasons": ["stop"] if last else ["tool_calls"],
                "gen_ai.usage.input_tokens": tin, "gen_ai.usage.output_tokens": tout,
                "gen_ai.request.temperature": 0.2, "server.address": "api.openai.com", "server.port": 443, **base,
            }
            spans.append(Span(tid, sid, root_id, "chat gpt-4o", KIND_CLIENT, a, b, attrs))
            # content is captured as log records (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true)
            logs.append(Log(a, tid, sid, "gen_ai.system.message", {"gen_ai.system": "openai"},
                            {"content": "You are Waypoint's support assistant. Be precise; never invent account data."}))
            logs.append(Log(a, tid, sid, "gen_ai.user.message", {"gen_ai.system": "openai"}, {"content": ticket + history}))
            if last:
                logs.append(Log(b, tid, sid, "gen_ai.choice", {"gen_ai.system": "openai"},
                                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}))
                final_id = sid
            else:
                tool = ["lookup_booking", "lookup_account"][turn % 2]
                call_id = "call_" + self.hex_id(12)
                logs.append(Log(b, tid, sid, "gen_ai.choice", {"gen_ai.system": "openai"},
                                {"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "tool_calls": [
                                    {"id": call_id, "type": "function", "function": {"name": tool, "arguments": "{\"ref\": \"WPT-88213\"}"}}]}}))
                ta = b + MS_NS
                tb = ta + int(self.lognorm(210, 0.4) * MS_NS)
                err = "ToolTimeout: CRM did not answer" if self.rng.random() < 0.005 else ""
                tspan = Span(tid, self.hex_id(8), root_id, f"execute_tool {tool}", KIND_INTERNAL, ta, tb, {
                    "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool, "gen_ai.tool.call.id": call_id,
                    "gen_ai.tool.type": "function", **base}, err)
                self.tool_scope_spans.append(tspan)
                history += f"\n[tool {tool}] status=ok rows=1"
                b = tb
            cur = b + MS_NS
        self.gpt4o_answers.append((cur, refused))
        root = Span(tid, root_id, "", f"POST {HELPDESK_ROUTE}", KIND_SERVER, t, cur + int(self.lognorm(8, 0.3) * MS_NS), {
            "http.request.method": "POST", "http.route": HELPDESK_ROUTE, "url.path": f"/v1/tickets/{self.rng.randrange(10**6, 10**7)}/reply",
            "url.scheme": "https", "http.response.status_code": 200, "server.address": "support.waypoint.example",
            "user_agent.original": "waypoint-web/5.3", **base})
        self.spans += [(svc, s) for s in [root] + spans]
        self.logs += [(svc, lg) for lg in logs]
        if INC["W3-02"][0] <= t < INC["W3-02"][1]:
            self.hit("W3-02", t)
        self.feedback(svc, ctx, final_id, root.end, 0.2 if refused else 0.06)

    # -- shipment_ops: Pydantic AI + Logfire ----------------------------------------------------------------
    def _shipment_ops(self, ctx: dict[str, Any], t: int) -> None:
        svc, tid = "freight-ops-agent", ctx["trace_id"]
        req = self.rng.choice(FREIGHT_REQUESTS)
        loop = active("W3-04", t)
        root_id = self.hex_id(8)
        spans: list[Span] = []
        cur = t + 3 * MS_NS
        msgs: list[dict[str, Any]] = [{"role": "system", "parts": [{"type": "text", "content": "You are a freight operations agent."}]},
                                      {"role": "user", "parts": [{"type": "text", "content": req}]}]
        plan = ["get_carrier_rates"]
        if loop:
            plan += ["get_carrier_rates"] * (3 + (self.rng.random() < 0.5))
        plan += ["book_pickup"]
        tin_total = tout_total = 0
        tin = int(self.lognorm(820, 0.2))
        for i, tool in enumerate(plan + [""]):
            tout = int(self.lognorm(60 if tool else 190, 0.3))
            reasoning = int(tout * self.rng.uniform(0.5, 1.6))
            tout_all = tout + reasoning
            a, b, _ = self.llm_time(cur, 900, tout_all, 110)
            out_parts: list[dict[str, Any]]
            if tool:
                call_id = "call_" + self.hex_id(12)
                out_parts = [{"type": "tool_call", "id": call_id, "name": tool,
                              "arguments": {"service_level": "EXPRESS_SAVER" if loop else "STANDARD", "pallets": 4}}]
            else:
                answer = self.answer_text(self.rng.choice([
                    "Booked: pickup confirmed for tomorrow 08:00-12:00, PRO 4471-1180, $612.40 all-in with liftgate.",
                    "Rescheduled to Thursday 09:00-13:00. The carrier confirmed; no re-delivery fee.",
                    "Cheapest 2-day option is 214.80 SGD via the Penang consolidator; booked, pickup 15:00 today.",
                    "Reefer booked for Friday 06:00, set to 2°C; driver details will follow by 17:00 Thursday.",
                ]))
                out_parts = [{"type": "text", "content": answer}]
            chat = Span(tid, self.hex_id(8), root_id, "chat o4-mini", KIND_CLIENT, a, b, {
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.system": "openai",
                "gen_ai.request.model": "o4-mini", "gen_ai.response.model": "o4-mini-2025-04-16",
                "gen_ai.usage.input_tokens": tin, "gen_ai.usage.output_tokens": tout_all,
                "gen_ai.usage.details.reasoning_tokens": reasoning,
                "gen_ai.input.messages": json.dumps(msgs), "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": out_parts,
                                                                                                   "finish_reason": "tool_call" if tool else "stop"}]),
                "logfire.msg": "chat o4-mini", "logfire.span_type": "span", "logfire.json_schema": "{\"type\":\"object\"}",
                "model_request_parameters": json.dumps({"function_tools": [{"name": "get_carrier_rates"}, {"name": "book_pickup"}]}),
                "server.address": "api.openai.com"})
            spans.append(chat)
            tin_total += tin
            tout_total += tout_all
            cur = b + MS_NS
            if not tool:
                break
            retry = loop and tool == "get_carrier_rates" and i < len(plan) - 2
            ta = cur
            tb = ta + int(self.lognorm(640 if tool == "get_carrier_rates" else 380, 0.35) * MS_NS)
            result = ("Carrier API returned 422: unknown service level 'EXPRESS_SAVER' for lane. Fix the errors and try again."
                      if retry else json.dumps({"carrier": "Ridgeline Freight", "quote_usd": 612.4, "transit_days": 2}))
            err = ""
            if not loop and self.rng.random() < 0.004:
                err = "httpx.ReadTimeout: carrier API"
            spans.append(Span(tid, self.hex_id(8), root_id, f"execute_tool {tool}", KIND_INTERNAL, ta, tb, {
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool, "gen_ai.tool.call.id": call_id,
                "tool_arguments": json.dumps(out_parts[0]["arguments"]), "tool_response": result,
                "logfire.msg": f"running tool: {tool}", "logfire.span_type": "span"}, err))
            msgs = msgs + [{"role": "assistant", "parts": out_parts},
                           {"role": "user", "parts": [{"type": "tool_call_response", "id": call_id, "name": tool, "result": result}]}]
            tin += int(self.lognorm(430, 0.2))
            cur = tb + MS_NS
        root = Span(tid, root_id, "", "invoke_agent shipment_agent", KIND_INTERNAL, t, cur + 2 * MS_NS, {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "shipment_agent", "agent_name": "shipment_agent",
            "model_name": "o4-mini", "logfire.msg": "shipment_agent run", "logfire.span_type": "span",
            "gen_ai.aggregated_usage.input_tokens": tin_total, "gen_ai.aggregated_usage.output_tokens": tout_total,
            "final_result": out_parts[0].get("content", ""), "route": "shipment_ops", "tenant_id": ctx["tenant"],
            "session.id": ctx["session"], "user.id": ctx["user"], "prompt_version": PROMPTS["shipment_ops"]})
        self.spans += [(svc, s) for s in [root] + spans]
        if loop:
            self.hit("W3-04", t)
        self.feedback(svc, ctx, spans[-1].span_id, root.end, 0.12 if loop else 0.04)

    # -- invoice_disputes: Vercel AI SDK on Bedrock, Collector file exporter -----------------------------
    def _invoice_disputes(self, ctx: dict[str, Any], t: int) -> None:
        svc, tid = "ap-dispute-worker", ctx["trace_id"]
        req, invoice, reason = self.rng.choice(DISPUTE_REQUESTS)
        model = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
        leak = ctx["tenant"] == "orchid-health" and active("W3-07", t) and self.rng.random() < 0.85
        tel = {"ai.telemetry.functionId": "invoice-dispute-draft", "ai.telemetry.metadata.route": "invoice_disputes",
               "ai.telemetry.metadata.tenant": ctx["tenant"], "ai.telemetry.metadata.userId": ctx["user"],
               "ai.telemetry.metadata.sessionId": ctx["session"], "ai.telemetry.metadata.promptVersion": PROMPTS["invoice_disputes"],
               "ai.model.id": model, "ai.model.provider": "amazon-bedrock"}
        root_id = self.hex_id(8)
        spans: list[Span] = []
        cur = t + MS_NS
        tin = int(self.lognorm(1450, 0.22))
        t_in_total = t_out_total = 0
        body = ""
        for step in range(2):
            last = step == 1
            tout = int(self.lognorm(360 if last else 55, 0.3))
            a, b, ttft = self.llm_time(cur, 610, tout, 120)
            attrs: dict[str, Any] = {
                "operation.name": "ai.generateText.doGenerate invoice-dispute-draft", "ai.operationId": "ai.generateText.doGenerate",
                **tel, "gen_ai.system": "amazon-bedrock", "gen_ai.request.model": model, "gen_ai.response.model": model,
                "gen_ai.usage.input_tokens": tin, "gen_ai.usage.output_tokens": tout,
                "ai.usage.promptTokens": tin, "ai.usage.completionTokens": tout,
                "ai.response.finishReason": "stop" if last else "tool-calls", "ai.response.id": "msg_bdrk_" + self.hex_id(10),
                "ai.response.model": model, "ai.response.timestamp": datetime.fromtimestamp(b / SEC_NS, tz=timezone.utc).isoformat(),
                "ai.prompt.format": "messages",
                "ai.prompt.messages": json.dumps([{"role": "system", "content": "Draft a firm, polite invoice dispute."},
                                                  {"role": "user", "content": [{"type": "text", "text": req}]}]),
                "gen_ai.request.max_tokens": 1200, "gen_ai.request.temperature": 0.3,
            }
            if last:
                body = (f"Dear Accounts Receivable team,\n\nWe are disputing invoice {invoice}: {reason}. Our records (PO and "
                        "receiving log attached) do not support the billed amount. Please issue a corrected invoice or a credit "
                        "memo within 10 business days.")
                if leak:
                    body += "\n\n" + self.rng.choice(PII_LEAKS)
                elif self.rng.random() < 0.004:
                    body += "\n\nPlease reply to disputes@waypoint-ap.com with any questions."
                attrs["ai.response.text"] = body
            else:
                attrs["ai.response.toolCalls"] = json.dumps([{"toolCallType": "function", "toolCallId": "tooluse_" + self.hex_id(8),
                                                              "toolName": "fetch_invoice", "args": "{\"invoice\": \"INV\"}"}])
            spans.append(Span(tid, self.hex_id(8), root_id, "ai.generateText.doGenerate", KIND_CLIENT, a, b, attrs))
            t_in_total += tin
            t_out_total += tout
            cur = b + MS_NS
            if not last:
                tb = cur + int(self.lognorm(160, 0.4) * MS_NS)
                spans.append(Span(tid, self.hex_id(8), root_id, "ai.toolCall", KIND_INTERNAL, cur, tb, {
                    "operation.name": "ai.toolCall invoice-dispute-draft", "ai.operationId": "ai.toolCall", **tel,
                    "ai.toolCall.name": "fetch_invoice", "ai.toolCall.id": "tooluse_" + self.hex_id(8),
                    "ai.toolCall.args": "{\"invoice\": \"INV\"}", "ai.toolCall.result": json.dumps({"lines": 3, "total": 18420.5})}))
                cur = tb + MS_NS
                tin += int(self.lognorm(520, 0.2))
        root = Span(tid, root_id, "", "ai.generateText", KIND_INTERNAL, t, cur + MS_NS, {
            "operation.name": "ai.generateText invoice-dispute-draft", "ai.operationId": "ai.generateText", **tel,
            "ai.prompt": json.dumps({"system": "Draft a firm, polite invoice dispute.", "prompt": req}),
            "ai.response.text": body, "ai.response.finishReason": "stop", "ai.settings.maxRetries": 2, "ai.settings.maxSteps": 4,
            "ai.usage.promptTokens": t_in_total, "ai.usage.completionTokens": t_out_total})
        self.spans += [(svc, s) for s in [root] + spans]
        if leak:
            self.hit("W3-07", t)

    # -- output ----------------------------------------------------------------------------------------------
    def write(self, out: Path) -> list[Path]:
        out.mkdir(parents=True, exist_ok=True)
        files: list[Path] = []
        day_of = lambda ns: datetime.fromtimestamp(ns / SEC_NS, tz=timezone.utc).date().isoformat()  # noqa: E731
        trace_day: dict[str, str] = {}
        for _, s in self.spans:
            if not s.parent:
                trace_day[s.trace_id] = day_of(s.start)
        days = sorted(set(trace_day.values()))
        for day in days:
            py: dict[str, list[Span]] = {}
            node: list[Span] = []
            for svc, s in self.spans:
                if trace_day[s.trace_id] != day:
                    continue
                if svc == "ap-dispute-worker":
                    node.append(s)
                else:
                    py.setdefault(svc, []).append(s)
            tools = [s for s in self.tool_scope_spans if trace_day[s.trace_id] == day]
            resource_spans = []
            for svc in sorted(py):
                scopes = [{"scope": {"name": SERVICES[svc]["scope"][0], "version": SERVICES[svc]["scope"][1]},
                           "spans": [_span_json(s, enum_names=False) for s in py[svc]]}]
                if svc == "support-desk" and tools:
                    scopes.append({"scope": {"name": SUPPORT_TOOL_SCOPE[0], "version": SUPPORT_TOOL_SCOPE[1]},
                                   "spans": [_span_json(s, enum_names=False) for s in tools]})
                resource_spans.append({"resource": {"attributes": _kv(SERVICES[svc]["resource"])}, "scopeSpans": scopes})
            p = out / f"waypoint-traces-{day}.otlp.json.gz"
            _write_gz(p, {"resourceSpans": resource_spans})
            files.append(p)
            # logs: evaluation results and GenAI message events, one resource per service
            by_svc: dict[str, list[Log]] = {}
            for svc, lg in self.logs:
                if trace_day.get(lg.trace_id) == day:
                    by_svc.setdefault(svc, []).append(lg)
            resource_logs = []
            for svc in sorted(by_svc):
                recs = []
                for lg in by_svc[svc]:
                    rec: dict[str, Any] = {"timeUnixNano": str(lg.time), "observedTimeUnixNano": str(lg.time),
                                           "traceId": lg.trace_id, "spanId": lg.span_id, "eventName": lg.event_name,
                                           "severityNumber": 9, "attributes": _kv({"event.name": lg.event_name, **lg.attrs})}
                    if lg.body is not None:
                        rec["body"] = _any(lg.body)
                    recs.append(rec)
                resource_logs.append({"resource": {"attributes": _kv(SERVICES[svc]["resource"])},
                                      "scopeLogs": [{"scope": {"name": "waypoint.telemetry"}, "logRecords": recs}]})
            p = out / f"waypoint-logs-{day}.otlp.json.gz"
            _write_gz(p, {"resourceLogs": resource_logs})
            files.append(p)
            # node worker through a Collector file exporter: one request per ~90 spans, enum-named kinds
            lines = []
            for i in range(0, len(node), 90):
                chunk = node[i:i + 90]
                lines.append(json.dumps({"resourceSpans": [{"resource": {"attributes": _kv(SERVICES["ap-dispute-worker"]["resource"])},
                                                            "scopeSpans": [{"scope": {"name": "ai", "version": "4.3.16"},
                                                                            "spans": [_span_json(s, enum_names=True) for s in chunk]}]}]},
                                        separators=(",", ":")))
            p = out / f"collector-node-{day}.jsonl"
            p.write_text("\n".join(lines) + "\n")
            files.append(p)
        return files


def _write_gz(path: Path, doc: dict[str, Any]) -> None:
    raw = json.dumps(doc, separators=(",", ":")).encode()
    with open(path, "wb") as fh:
        with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, compresslevel=6) as gz:
            gz.write(raw)


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / SEC_NS, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ramp_detectable_from(gen: _Gen) -> int:
    """When the ramp's mean shift reaches one standard deviation of the per-call input tokens outside it."""
    a, b = INC["W3-02"]
    base = [tok for (t, tok, m) in gen.helpdesk_input_tokens if m == 1.0]
    mean = sum(base) / len(base)
    sd = math.sqrt(sum((x - mean) ** 2 for x in base) / (len(base) - 1))
    frac = (sd / mean) / (RAMP_TOP - 1.0)
    top_t = INC["W3-02-ramp-end"][0]
    return a + int(frac * (top_t - a))


def labels(gen: _Gen, seed: int, days: int, scale: float) -> dict[str, Any]:
    # equivalent_cohorts: cohorts that name the same affected traffic for the labelled signals (the symptom only
    # exists on that route, or the new snapshot is the requested model during the window); a finding naming one of
    # them names the incident's owner as well as the label's cohort does.
    def inc(iid: str, typ: str, cohort: dict[str, str], signals: list[dict[str, Any]], page: bool, desc: str,
            detectable: int | None = None, end: int | None = None, **extra: Any) -> dict[str, Any]:
        s, e = INC[iid]
        if detectable is None:  # the first trace (W3-03: the first call on the new snapshot) that carries it
            detectable = max(s, gen.first.get(iid, s))
        d = {"id": iid, "type": typ, "cohort": cohort, "signals": signals, "start": _iso(s),
             "detectable_from": _iso(detectable if detectable is not None else s), "end": _iso(end if end is not None else e),
             "page_worthy": page, "should_page": page, "description": desc, "affected_traces": gen.affected[iid]}
        d.update(extra)
        return d

    def sig(signal: str, kind: str, direction: str, aggregation: str, registry: dict[str, Any], **kw: Any) -> dict[str, Any]:
        """A labelled signal in the sample's label shape (signal, kind, aggregation, direction, span_kind?), plus
        `registry`: the same signal named as tracedesk's signal registry names it (docs/signals.md)."""
        return {"signal": signal, "kind": kind, "direction": direction, "aggregation": aggregation, **kw,
                "registry": registry}

    grounded = sig("groundedness", "evaluation", "down", "mean", {"type": "eval_score", "evaluator": "groundedness"})
    retriever = sig("duration", "duration", "up", "p95", {"type": "duration", "span_kind": "RETRIEVER"}, span_kind="RETRIEVER")
    cost = sig("cost_per_trace", "cost", "up", "mean", {"type": "cost_per_trace"})
    refusals = sig("refusal_rate", "rate", "up", "rate", {"type": "refusal_rate_answer"})
    thumbs = sig("thumbs_down_rate", "rate", "up", "rate", {"type": "thumbs_down_rate"})

    ramp_det = _ramp_detectable_from(gen)
    incidents = [
        inc("W3-01", "joint_regression", {"tenant": "kestrel-air"},
            [grounded, retriever], True,
            "kestrel-air's pgvector shard fails over to a lagging replica that still serves the 2019 handbook: retriever ~13x slower "
            "and groundedness ~0.43 vs ~0.87, on policy_qa (the only route with retrieval) for that tenant only.", route="policy_qa",
            equivalent_cohorts=[{"route": "policy_qa", "tenant": "kestrel-air"}]),
        inc("W3-02", "slow_ramp", {"route": HELPDESK_ROUTE},
            [sig("input_tokens", "tokens", "up", "mean", {"type": "input_tokens"}), cost,
             sig("tokens_per_trace", "tokens", "up", "mean", {"type": "tokens_per_trace"})], True,
            f"support-desk appends the whole ticket thread to every call: input tokens grow linearly to {RAMP_TOP}x over 30 h, "
            "held 33 min, then a fix ships. The route is the FastAPI http.route (no app.route attribute is set). detectable_from is "
            "when the mean shift reaches one standard deviation of per-call input tokens outside the window.",
            detectable=ramp_det, ramp_end=_iso(INC["W3-02-ramp-end"][0]), ramp_top=RAMP_TOP),
        inc("W3-03", "refusal_cliff", {"model": "gpt-4o"},
            [refusals, sig("refusal_rate_trace", "rate", "up", "mean", {"type": "refusal_rate_trace"})], True,
            f"The gpt-4o alias is refreshed from {GPT4O_OLD} to {GPT4O_NEW} (keyed on each LLM call's start): refusals on gpt-4o "
            "answers go from ~0.7% to ~4.8% on trip_planner and the support desk, worded as real models word them. Ends when the "
            "team pins the old snapshot.", response_model_before=GPT4O_OLD, response_model_during=GPT4O_NEW,
            routes=["trip_planner", HELPDESK_ROUTE], equivalent_cohorts=[{"model": GPT4O_NEW}, {"response_model": GPT4O_NEW}]),
        inc("W3-04", "tool_retry_loop", {"route": "shipment_ops"},
            [cost, sig("tool_calls_per_trace", "count", "up", "mean", {"type": "tool_calls_per_trace"}),
             sig("llm_calls_per_trace", "count", "up", "mean", {"type": "llm_calls_per_trace"})], True,
            "The carrier API starts rejecting service level EXPRESS_SAVER; pydantic-ai retries get_carrier_rates 3-4 times per run "
            "(tool spans stay OK: the rejection is a retry prompt, not an exception), so chat calls and input tokens per trace ~3x.",
            tool="get_carrier_rates"),
        inc("W3-05", "prompt_version_regression", {"prompt_version": PROMPTS["trip_planner_new"]},
            [sig("booking_correctness", "evaluation", "down", "mean", {"type": "eval_score", "evaluator": "booking_correctness"}),
             thumbs, sig("tool_calls_per_trace", "count", "down", "mean", {"type": "tool_calls_per_trace"})], True,
            f"{PROMPTS['trip_planner_new']} replaces {PROMPTS['trip_planner']} on trip_planner at 100% (no canary) and is worse from "
            "its first trace: the booking agent skips hold_fare and claims the seat is ticketed. Rolled back after 5.5 h.",
            replaces=PROMPTS["trip_planner"], route="trip_planner", new_cohort=True,
            equivalent_cohorts=[{"route": "trip_planner", "prompt_version": PROMPTS["trip_planner_new"]}]),
        inc("W3-06", "traffic_drop", {"tenant": "bluefin-logistics"},
            [sig("trace_count", "count", "down", "count", {"type": "trace_count"})], True,
            "bluefin-logistics' SSO proxy fails upstream of every agent: no trace at all from that tenant for 1 h 45 min in its "
            "business hours.", expected_traces=round(gen.expected_missing, 1)),
        inc("W3-07", "pii_leak", {"tenant": "orchid-health"},
            [sig("pii", "evaluation", "up", "rate", {"type": "pii_rate"})], True,
            "A vendor-master sync puts vendor contacts (emails, phone numbers) and bank details (IBAN) into orchid-health's dispute "
            "drafts on invoice_disputes (85% of its drafts in the window; its other routes are clean).", route="invoice_disputes",
            equivalent_cohorts=[{"route": "invoice_disputes", "tenant": "orchid-health"}]),
        inc("W3-N1", "latency_blip", {"route": "policy_qa"}, [retriever], False,
            "Vector index compaction: retriever ~4x slower for every tenant for 22 minutes; documents and groundedness unchanged."),
        inc("W3-N2", "traffic_dip", {}, [sig("trace_count", "count", "down", "count", {"type": "trace_count"})], False,
            "CDN hiccup: 45% fewer traces for 30 minutes, every tenant and route."),
        inc("W3-N3", "tool_error_blip", {"tool_name": "hold_fare"}, [sig("error_rate", "error_rate", "up", "rate", {"type": "error_rate", "span_kind": "TOOL"}, span_kind="TOOL")], False,
            "GDS gateway timeouts on hold_fare for 8 minutes (10 s timeouts, a handful of calls)."),
        inc("W3-N4", "cost_blip", {"tenant": "quill-and-co"}, [cost], False,
            "One quill-and-co user pastes whole contracts into policy_qa: 4x input tokens on 4 traces in 22 minutes."),
        inc("W3-N5", "refusal_blip", {"tenant": "tamarind-foods"}, [refusals], False,
            "One tamarind-foods user probing the trip planner: 6 requests in 12 minutes, most refused, then nothing."),
    ]
    return {
        "week": "third",
        "start": _iso(int(WEEK_START.timestamp()) * SEC_NS),
        "end": _iso(int((WEEK_START + timedelta(days=days)).timestamp()) * SEC_NS),
        "seed": seed, "days": days, "scale": scale,
        "quiet_days": ["2027-06-14", "2027-06-15"],
        "incidents": incidents,
    }


def write_week(out_dir: str | Path, seed: int = DEFAULT_SEED, days: int = 7, scale: float = 1.0) -> Week:
    """Generate the week into out_dir: data files (ingest these) and incidents.json (the answer key)."""
    if days != 7:
        raise ValueError("the third week's incidents are placed on a 7-day calendar; days must be 7")
    out = Path(out_dir)
    gen = _Gen(seed, days, scale)
    gen.run()
    files = gen.write(out)
    lab = labels(gen, seed, days, scale)
    inc_path = out / "incidents.json"
    inc_path.write_text(json.dumps(lab, indent=2, sort_keys=True) + "\n")
    n_eval = sum(1 for _, lg in gen.logs if lg.event_name == "gen_ai.evaluation.result")
    n_traces = sum(gen.traces_by_route.values())
    return Week(out, files, inc_path, n_traces, len(gen.spans) + len(gen.tool_scope_spans), n_eval,
                dict(sorted(gen.traces_by_route.items())), dict(sorted(gen.traces_by_tenant.items())),
                dict(sorted(gen.traces_by_day.items())))


def main(argv: Iterable[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python tests/weeks/third_week.py OUT_DIR", file=sys.stderr)
        return 2
    w = write_week(args[0])
    print(json.dumps({"traces": w.traces, "spans": w.spans, "evaluations": w.evaluations, "by_route": w.traces_by_route,
                      "by_tenant": w.traces_by_tenant, "by_day": w.traces_by_day}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
