"""A fourth labelled week of LLM/agent traffic, written from the spec and from how real SDKs export.

Written from /work/shared/DESIGN.md, /work/shared/semconv.md, docs/ingest.md, docs/cohorts.md, docs/signals.md,
issues 15 and 16, and real exports in tests/captures (Google ADK, OpenAI Agents via Traceloop, Langfuse), before
reading any detector, alert, suggester, sample generator or earlier week's code. It imports nothing from
tracedesk: the week is input a user could have, and the labels say what happened in it.

    from weeks.fourth_week import write_week
    week = write_week(out_dir, seed=20270916)   # 7 days from Thursday 2027-09-16 00:00 UTC
    week.files, week.incidents, week.labels()

Command line: `python tests/weeks/fourth_week.py OUT`.

Five services, each in the shape its stack exports, in five file formats:

| route | service | shape | file |
|---|---|---|---|
| `it_helpdesk` | helpdesk-bot | Google ADK 2.x (`invoke_workflow` root, `invoke_agent`, `generate_content`, `execute_tool transfer_to_agent` handoffs, content on the `gen_ai.client.inference.operation.details` event), baggage copied onto spans | OTLP protobuf, gzip (what an OTLP/HTTP exporter with compression sends), one request per file; Slack-reaction feedback as protobuf log records |
| `product_qa`, `order_status` | storefront | OpenLLMetry/Traceloop: `*.workflow` / `*.task` / `*.tool` spans, `traceloop.association.properties.*`, `anthropic.chat` with Anthropic's own usage counts (input excludes the cached prefix; `cache_read_input_tokens` / `cache_creation_input_tokens` beside it), Pinecone queries with `db.query.result` events | Collector file exporter: JSON Lines mixing trace and log requests (the online Ragas-style judge and thumbs feedback as `gen_ai.evaluation.result` log records) |
| `market_research` | research-crew | CrewAI via OpenInference: `Crew.kickoff` CHAIN, `Task._execute_core` AGENT spans (`agent.name`), litellm `completion` LLM spans, `ToolUsage._use` TOOL spans incl. "Delegate work to coworker"; cohorts in the `metadata` JSON | OTLP/JSON, gzip |
| `meeting_summary` | notetaker | Langfuse SDK v3 (OTel): `langfuse.observation.type`, `usage_details` JSON, `prompt.name` / integer `prompt.version`, `langfuse.trace.metadata.*`; map-reduce generations | a JSON array of OTLP/JSON requests; DeepEval-style judge results as OTLP/JSON log records |
| `code_review` | review-bot | OTel GenAI latest names on an HTTP SERVER root (`POST /webhooks/github`): `invoke_agent pr_reviewer`, `chat claude-sonnet-4-5` with `cache_read.input_tokens` / `cache_creation.input_tokens` inside input, `time_to_first_chunk`, no message content (capture off) | JSON Lines, one OTLP span object per line with plain-object attributes, gzip |
"""
from __future__ import annotations

import gzip
import json
import math
import random
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

UTC = timezone.utc
START = datetime(2027, 9, 16, tzinfo=UTC)          # a Thursday
DAYS = 7
DEFAULT_SEED = 20270916
NS = 1_000_000_000
MIN_NS = 60 * NS
QUIET_DAYS = ["2027-09-16", "2027-09-17"]


def _ts(s: str) -> int:
    """ISO time (UTC) -> Unix ns."""
    return int(datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp()) * NS


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------------------
# The world: tenants in their own time zones, routes with their own daily curves
# ---------------------------------------------------------------------------------------------------------

# tenant -> UTC offset in hours (the local clock decides when its people work or shop)
TENANT_TZ = {
    "harbor-home": 10.0,       # Sydney: B2C homewares
    "koi-outfitters": 9.0,     # Tokyo: B2C apparel, also has an engineering team (code review)
    "mercado-azul": -3.0,      # São Paulo: B2C marketplace, uses the notetaker
    "lumen-retail": 7.0,       # Jakarta: B2C, onboarded mid-week (W4-08)
    "sakura-bank": 9.0,        # Tokyo: IT helpdesk, notetaker
    "tasman-energy": 12.0,     # Auckland: IT helpdesk, research
    "indus-soft": 5.5,         # Bangalore: IT helpdesk, research, notetaker, code review
    "kiwi-legal": 12.0,        # Wellington: research, notetaker (long legal meetings)
}


@dataclass(frozen=True)
class Profile:
    """Traces per local weekday for one (route, tenant), the local-hour curve and the weekend factor."""
    per_day: float
    peaks: tuple[tuple[float, float, float], ...]   # (local hour, width h, weight)
    floor: float
    weekend: float
    monday_morning: float = 1.0                      # Monday 08-12 local multiplier (password resets)
    since: str | None = None                         # first possible trace (a tenant onboarded mid-week)


B2C = ((12.5, 1.5, 0.6), (20.5, 2.0, 1.0))
OFFICE = ((10.5, 1.6, 1.0), (14.5, 1.8, 0.9))
MEETINGS = ((11.0, 1.2, 1.0), (15.5, 1.5, 0.8))
ENGINEERS = ((11.5, 1.5, 0.9), (16.5, 2.0, 1.0))

ROUTES: dict[str, dict[str, Profile]] = {
    "product_qa": {
        "harbor-home": Profile(70, B2C, 0.05, 1.35),
        "koi-outfitters": Profile(60, B2C, 0.05, 1.35),
        "mercado-azul": Profile(55, B2C, 0.05, 1.3),
        "lumen-retail": Profile(45, B2C, 0.05, 1.3, since="2027-09-21T02:55:00"),
    },
    "order_status": {
        "harbor-home": Profile(30, B2C, 0.05, 1.3),
        "koi-outfitters": Profile(30, B2C, 0.05, 1.3),
        "mercado-azul": Profile(28, B2C, 0.05, 1.3),
        "lumen-retail": Profile(18, B2C, 0.05, 1.3, since="2027-09-21T02:55:00"),
    },
    "it_helpdesk": {
        "sakura-bank": Profile(170, OFFICE, 0.02, 0.12, monday_morning=1.6),
        "tasman-energy": Profile(95, OFFICE, 0.02, 0.12, monday_morning=1.6),
        "indus-soft": Profile(120, OFFICE, 0.02, 0.12, monday_morning=1.6),
    },
    "market_research": {
        "tasman-energy": Profile(18, OFFICE, 0.01, 0.1),
        "indus-soft": Profile(24, OFFICE, 0.01, 0.1),
        "kiwi-legal": Profile(20, OFFICE, 0.01, 0.1),
    },
    "meeting_summary": {
        "kiwi-legal": Profile(40, MEETINGS, 0.01, 0.08),
        "sakura-bank": Profile(35, MEETINGS, 0.01, 0.08),
        "indus-soft": Profile(30, MEETINGS, 0.01, 0.08),
        "mercado-azul": Profile(22, MEETINGS, 0.01, 0.08),
    },
    "code_review": {
        "indus-soft": Profile(42, ENGINEERS, 0.04, 0.15),
        "koi-outfitters": Profile(30, ENGINEERS, 0.04, 0.15),
    },
}
USERS_PER_TENANT = 30


def _curve(peaks: tuple[tuple[float, float, float], ...], floor: float, hour: float) -> float:
    v = floor
    for h0, w, a in peaks:
        d = min(abs(hour - h0), 24 - abs(hour - h0))
        v += a * math.exp(-0.5 * (d / w) ** 2)
    return v


def _norm(peaks: tuple[tuple[float, float, float], ...], floor: float) -> float:
    return sum(_curve(peaks, floor, m / 60) for m in range(1440))


# ---------------------------------------------------------------------------------------------------------
# Incidents and blips: windows (UTC), cohorts, what they do
# ---------------------------------------------------------------------------------------------------------

INCIDENTS: list[dict[str, Any]] = [
    {"id": "W4-01", "type": "rate_limit_wave", "start": "2027-09-19T10:23:00", "end": "2027-09-19T11:11:00",
     "cohort": {"provider": "anthropic"}, "should_page": True,
     "equivalent_cohorts": [{"model": "claude-sonnet-4-5"}],
     "signals": [{"signal": "error_rate", "kind": "trace", "aggregation": "rate", "direction": "up"},
                 {"signal": "error_rate", "kind": "span", "aggregation": "rate", "direction": "up",
                  "span_kind": "LLM"}],
     "description": "Anthropic answers 429 rate_limit_error to ~45% of calls for 48 minutes during the Sunday "
                    "evening sale in Sydney/Tokyo (storefront traffic x2.5 for harbor-home and koi-outfitters "
                    "09:40-12:40) (storefront, code review and the research crew's claude "
                    "agent); the SDK retries twice with backoff (2-9 s), then the call fails without a response "
                    "model or usage and the storefront workflow fails with it."},
    {"id": "W4-02", "type": "tool_error_burst", "start": "2027-09-20T01:36:00", "end": "2027-09-20T01:57:00",
     "cohort": {"tool_name": "reset_password"}, "should_page": True,
     "equivalent_cohorts": [{"route": "it_helpdesk", "tool_name": "reset_password"}],
     "signals": [{"signal": "error_rate", "kind": "span", "aggregation": "rate", "direction": "up",
                  "span_kind": "TOOL"}],
     "description": "The directory service behind reset_password times out for 21 minutes on Monday morning in "
                    "Tokyo (the week's password-reset peak): 85% of reset_password calls fail with "
                    "DirectoryTimeoutError and the Accounts agent retries the tool once or twice."},
    {"id": "W4-03", "type": "handoff_loop", "start": "2027-09-20T05:14:00", "end": "2027-09-20T08:02:00",
     "cohort": {"tenant": "sakura-bank"}, "should_page": True,
     "equivalent_cohorts": [{"tenant": "sakura-bank", "route": "it_helpdesk"}],
     "signals": [{"signal": "llm_calls_per_trace", "kind": "trace", "aggregation": "mean", "direction": "up"},
                 {"signal": "spans_per_trace", "kind": "trace", "aggregation": "mean", "direction": "up"},
                 {"signal": "cost_per_trace", "kind": "trace", "aggregation": "mean", "direction": "up"},
                 {"signal": "trace_duration", "kind": "trace", "aggregation": "p95", "direction": "up"},
                 {"signal": "error_rate", "kind": "trace", "aggregation": "rate", "direction": "up"}],
     "description": "Accounts agent version accounts-7 (instructions: 'transfer anything that is not about a "
                    "password back to Triage') meets sakura-bank's Japanese tickets: Triage and Accounts hand the "
                    "conversation back and forth 3-7 times; a third of those runs end with ADK's "
                    "LlmCallsLimitExceededError (max_llm_calls=20)."},
    {"id": "W4-04", "type": "empty_retrieval", "start": "2027-09-20T09:37:00", "end": "2027-09-20T12:19:00",
     "cohort": {"route": "product_qa"}, "should_page": True,
     "signals": [{"signal": "eval_score", "kind": "evaluation", "aggregation": "mean", "direction": "down",
                  "evaluator": "faithfulness"},
                 {"signal": "output_length", "kind": "llm", "aggregation": "mean", "direction": "down"},
                 {"signal": "thumbs_down_rate", "kind": "evaluation", "aggregation": "rate", "direction": "up"}],
     "description": "After the nightly reindex the Pinecone namespace alias points at an empty namespace: every "
                    "product_qa query returns 0 matches (no db.query.result events, no error), the answers say "
                    "the product cannot be found, faithfulness falls to ~0.1 and thumbs-down rises."},
    {"id": "W4-05", "type": "cache_miss_cost", "start": "2027-09-21T04:07:00", "end": "2027-09-22T06:52:00",
     "cohort": {"route": "code_review"}, "should_page": True,
     "signals": [{"signal": "cost_per_trace", "kind": "trace", "aggregation": "mean", "direction": "up"},
                 {"signal": "ttft", "kind": "llm", "aggregation": "p95", "direction": "up"}],
     "description": "A deploy puts the current time into the review bot's 12k-token system prompt, so the "
                    "Anthropic prompt cache never hits: cache_read tokens fall from ~85% of input to 0, every call "
                    "writes the cache again, input tokens are unchanged, cost per trace is ~2.3x and time to "
                    "first token doubles. Fixed the next morning."},
    {"id": "W4-06", "type": "tail_latency", "start": "2027-09-21T22:40:00", "end": "2027-09-22T08:55:00",
     "cohort": {"model": "gpt-4.1"}, "should_page": True,
     "signals": [{"signal": "duration", "kind": "span", "aggregation": "p99", "direction": "up",
                  "span_kind": "LLM"}],
     "description": "About 4% of gpt-4.1 calls (the research crew's agents) stall at the provider for 30-75 s; "
                    "the median and p95 barely move, p99 of the LLM span duration goes from ~10 s to > 30 s."},
    {"id": "W4-07", "type": "prompt_version_regression", "start": "2027-09-22T00:31:00",
     "end": "2027-09-23T00:00:00", "cohort": {"tenant": "kiwi-legal"}, "should_page": True,
     "equivalent_cohorts": [{"tenant": "kiwi-legal", "prompt_version": "15"},
                            {"tenant": "kiwi-legal", "route": "meeting_summary"}],
     "signals": [{"signal": "output_length", "kind": "llm", "aggregation": "mean", "direction": "down"},
                 {"signal": "eval_score", "kind": "evaluation", "aggregation": "mean", "direction": "down",
                  "evaluator": "summarization"},
                 {"signal": "output_tokens", "kind": "llm", "aggregation": "mean", "direction": "down"}],
     "description": "Langfuse prompt meeting-summary version 15 ('keep the summary under 150 words') goes to "
                    "100% of the notetaker at 00:31 UTC. Short meetings do not change; kiwi-legal's long legal "
                    "meetings lose their obligations and deadlines: answers 70% shorter, summarization score "
                    "0.86 -> ~0.5. The other tenants' scores are unchanged."},
    {"id": "W4-08", "type": "new_cohort_bad_quality", "start": "2027-09-21T02:55:00",
     "end": "2027-09-23T00:00:00", "cohort": {"tenant": "lumen-retail"}, "should_page": True, "new_cohort": True,
     "equivalent_cohorts": [{"tenant": "lumen-retail", "route": "product_qa"}],
     "signals": [{"signal": "eval_score", "kind": "evaluation", "aggregation": "mean", "direction": "down",
                  "evaluator": "faithfulness"},
                 {"signal": "thumbs_down_rate", "kind": "evaluation", "aggregation": "rate", "direction": "up"},
                 {"signal": "retrieval_score", "kind": "span", "aggregation": "mean", "direction": "down"}],
     "description": "A new tenant, lumen-retail (Jakarta), goes live on the storefront on Tuesday morning with a "
                    "half-indexed catalog: its product_qa queries match generic documents (scores 0.3-0.5 "
                    "against 0.75-0.92), faithfulness ~0.45 against ~0.86 for the other tenants, thumbs-down ~30%. "
                    "It has no traffic before, so there is no own baseline: compare with the other tenants."},
    {"id": "W4-N1", "type": "traffic_burst", "start": "2027-09-18T03:10:00", "end": "2027-09-18T03:16:00",
     "cohort": {"tenant": "koi-outfitters"}, "should_page": False,
     "signals": [{"signal": "trace_count", "kind": "trace", "aggregation": "count", "direction": "up"}],
     "description": "One koi-outfitters shopper refreshes order status 14 times in 6 minutes; every answer is fine."},
    {"id": "W4-N2", "type": "rate_limit_blip", "start": "2027-09-18T10:12:00", "end": "2027-09-18T10:24:00",
     "cohort": {"provider": "anthropic"}, "should_page": False,
     "signals": [{"signal": "error_rate", "kind": "span", "aggregation": "rate", "direction": "up",
                  "span_kind": "LLM"}],
     "description": "Three 429s on storefront product_qa calls in 12 minutes; retried by the user, nothing else moves."},
    {"id": "W4-N3", "type": "cost_blip", "start": "2027-09-21T17:20:00", "end": "2027-09-21T17:50:00",
     "cohort": {"tenant": "mercado-azul"}, "should_page": False,
     "signals": [{"signal": "cost_per_trace", "kind": "trace", "aggregation": "mean", "direction": "up"}],
     "description": "Three recordings of a four-hour board meeting: 6x the transcript, more map steps, 4x cost "
                    "for those traces; summaries and scores normal."},
    {"id": "W4-N4", "type": "latency_blip", "start": "2027-09-20T02:22:00", "end": "2027-09-20T02:46:00",
     "cohort": {"tool_name": "lookup_asset"}, "should_page": False,
     "signals": [{"signal": "duration", "kind": "span", "aggregation": "p95", "direction": "up",
                  "span_kind": "TOOL"}],
     "description": "The CMDB answers lookup_asset ~9x slower for 24 minutes (no errors, answers unchanged)."},
    {"id": "W4-N5", "type": "judge_blip", "start": "2027-09-21T05:05:00", "end": "2027-09-21T05:45:00",
     "cohort": {"route": "meeting_summary"}, "should_page": False,
     "signals": [{"signal": "eval_score", "kind": "evaluation", "aggregation": "mean", "direction": "down",
                  "evaluator": "summarization"}],
     "description": "The judge's model endpoint degrades for a few minutes: it scores the first three "
                    "summaries it judges in the window low (0.2-0.35); the summaries are as good as usual."},
]
_INC = {i["id"]: i for i in INCIDENTS}


def _window(inc_id: str) -> tuple[int, int]:
    inc = _INC[inc_id]
    return _ts(inc["start"]), _ts(inc["end"])


def _inside(inc_id: str, t: int) -> bool:
    a, b = _window(inc_id)
    return a <= t < b


# The Sunday evening sale (Sydney, Tokyo): storefront traffic x2.5 for harbor-home and koi-outfitters; the extra
# load is what trips Anthropic's organisation rate limit (W4-01)
SALE = (_ts("2027-09-19T09:40:00"), _ts("2027-09-19T12:40:00"))
SALE_TENANTS = ("harbor-home", "koi-outfitters")
PROMPT_V15_AT = _ts("2027-09-21T00:31:00") + 24 * 3600 * NS    # Wed 2027-09-22 00:31 UTC


# ---------------------------------------------------------------------------------------------------------
# Spans and log records as the SDKs hold them, before any wire format
# ---------------------------------------------------------------------------------------------------------

INTERNAL, SERVER, CLIENT = 1, 2, 3
UNSET, OK, ERROR = 0, 1, 2


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent: str | None
    name: str
    kind: int
    start: int
    end: int
    attrs: dict[str, Any]
    scope: tuple[str, str]
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    status: int = UNSET
    message: str = ""


@dataclass
class LogRecord:
    t: int
    trace_id: str
    span_id: str
    event_name: str
    attrs: dict[str, Any]
    scope: tuple[str, str]


@dataclass
class Request:
    start: int
    route: str
    tenant: str
    user: str
    session: str


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
    spans_by_service: dict[str, int]

    def labels(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.incidents.read_text())
        return loaded


# ---------------------------------------------------------------------------------------------------------
# Text: short, varied, with the lengths real answers have
# ---------------------------------------------------------------------------------------------------------

WORDS = ("the order ships from our warehouse within two business days and you can track it from your account "
         "page the item is available in three sizes and comes with a one year warranty our return policy allows "
         "free returns within thirty days of delivery please keep the original packaging the product is made of "
         "recycled cotton and can be machine washed at forty degrees").split()
MEETING_WORDS = ("the parties agreed that the settlement deadline moves to the fourteenth and counsel will circulate "
                 "a revised draft the board asked finance to prepare a forecast action items owner due date the "
                 "indemnity clause remains open and legal will review the obligations under section twelve the "
                 "team discussed hiring the budget and the launch timeline risks were noted").split()
REVIEW_WORDS = ("consider extracting this into a helper the null check is missing here this loop is quadratic "
                "prefer a set lookup the error is swallowed log it or re raise the test does not cover the empty "
                "case rename this variable for clarity").split()


def _words(rng: random.Random, vocab: list[str], n: int) -> str:
    return " ".join(rng.choices(vocab, k=max(1, n))).capitalize() + "."


REFUSALS = ["I'm sorry, but I can't help with that request.",
            "I can\u2019t assist with that. Is there anything else about your order I can help with?",
            "Unfortunately I'm not able to provide that information."]
BENIGN = ["Sorry for the wait! ", "I can't wait for you to try it: ", "Apologies for the confusion earlier. "]

QUESTIONS = {
    "product_qa": ["Is the linen duvet cover machine washable?", "Do the trail runners come in wide fit?",
                   "What is the warranty on the espresso grinder?", "Does this jacket run small?",
                   "Can I get the oak shelf in a darker stain?", "Is the yoga mat latex free?"],
    "order_status": ["Where is my order?", "My parcel says delivered but it is not here",
                     "Can I change the delivery address?", "When will order {oid} arrive?"],
    "it_helpdesk": ["I am locked out of my account", "My laptop will not connect to the VPN",
                    "I need a new monitor for my desk", "Reset my password please", "Outlook keeps crashing"],
    "it_helpdesk_ja": ["パスワードをリセットしてください", "VPNに接続できません", "アカウントがロックされました",
                       "新しいモニターを申請したいです"],
}


# ---------------------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------------------

def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class _Gen:
    def __init__(self, seed: int, scale: float) -> None:
        self.rng = random.Random(seed)
        self.scale = scale
        self.spans: dict[str, dict[str, list[Span]]] = {s: {} for s in SERVICES}   # service -> day -> spans
        self.logs: dict[str, list[LogRecord]] = {s: [] for s in SERVICES}
        self.first_seen: dict[str, int] = {}
        self.cache_last: dict[str, int] = {}        # prompt-cache key -> last call (Anthropic TTL 5 min)
        self.n_traces = 0
        self.n2_left = 3            # W4-N2: three 429s
        self.n5_left = 3            # W4-N5: three low judge scores
        self.by_route: dict[str, int] = {}
        self.by_tenant: dict[str, int] = {}
        self.by_day: dict[str, int] = {}

    # ids -------------------------------------------------------------------------------------------
    def tid(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def sid(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def add(self, service: str, spans: list[Span]) -> None:
        """One trace's spans, filed under the UTC day its first span started."""
        day = _iso(min(s.start for s in spans))[:10]
        self.spans[service].setdefault(day, []).extend(spans)

    def seen(self, inc_id: str, t: int) -> None:
        """The first trace (by start) that shows an incident's effect: the label's detectable_from."""
        if inc_id not in self.first_seen or t < self.first_seen[inc_id]:
            self.first_seen[inc_id] = t

    # traffic ---------------------------------------------------------------------------------------
    def requests(self) -> list[Request]:
        rng = self.rng
        start_ns = int(START.timestamp()) * NS
        out: list[Request] = []
        # per (route, tenant): the expected traces per local minute of the day, normalised to per_day
        table = []
        for route, tenants in ROUTES.items():
            for tenant, p in tenants.items():
                norm = _norm(p.peaks, p.floor)
                per_min = [p.per_day * self.scale * _curve(p.peaks, p.floor, m / 60) / norm for m in range(1440)]
                since = _ts(p.since) if p.since is not None else None
                table.append((route, tenant, p, per_min, int(round(TENANT_TZ[tenant] * 60)), since))
        weekday0 = START.weekday()
        sale_a, sale_b = SALE
        for minute in range(DAYS * 1440):
            t0 = start_ns + minute * MIN_NS
            for route, tenant, p, per_min, offset, since in table:
                if since is not None and t0 < since:
                    continue
                local = minute + offset
                day, m = divmod(local, 1440)
                lam = per_min[m]
                weekday = (weekday0 + day) % 7
                if weekday >= 5:
                    lam *= p.weekend
                elif weekday == 0 and 480 <= m < 720:
                    lam *= p.monday_morning
                if sale_a <= t0 < sale_b and tenant in SALE_TENANTS and route in ("product_qa", "order_status"):
                    lam *= 2.5
                for _ in range(_poisson(rng, lam)):
                    user = f"{tenant[:4]}-u{rng.randrange(USERS_PER_TENANT):02d}"
                    out.append(Request(t0 + rng.randrange(MIN_NS), route, tenant, user,
                                       f"{user}-{(t0 // (3 * 3600 * NS)) % 100000:05d}"))
        # W4-N1: one shopper refreshing order status
        a, _ = _window("W4-N1")
        for k in range(14):
            out.append(Request(a + k * 25 * NS + rng.randrange(5 * NS), "order_status", "koi-outfitters",
                               "koi--u07", "koi--u07-burst"))
            self.seen("W4-N1", a + k * 25 * NS)
        # W4-N3: three recordings of one long board meeting uploaded together
        a, _ = _window("W4-N3")
        for k in range(3):
            out.append(Request(a + (4 + 9 * k) * MIN_NS + rng.randrange(MIN_NS), "meeting_summary", "mercado-azul",
                               "merc-u03", "merc-u03-board"))
        out.sort(key=lambda r: r.start)
        return out

    def count(self, req: Request) -> None:
        self.n_traces += 1
        self.by_route[req.route] = self.by_route.get(req.route, 0) + 1
        self.by_tenant[req.tenant] = self.by_tenant.get(req.tenant, 0) + 1
        day = _iso(req.start)[:10]
        self.by_day[day] = self.by_day.get(day, 0) + 1

    def run(self) -> None:
        for req in self.requests():
            self.count(req)
            BUILDERS[req.route](self, req)


SERVICES = ("helpdesk-bot", "storefront", "research-crew", "notetaker", "review-bot")


# ---------------------------------------------------------------------------------------------------------
# Shared behaviour of providers
# ---------------------------------------------------------------------------------------------------------

ANTHROPIC_429 = ("Error code: 429 - {'type': 'error', 'error': {'type': 'rate_limit_error', 'message': 'This "
                 "request would exceed the rate limit for your organization of 400,000 input tokens per minute. "
                 "For details, refer to: https://docs.claude.com/en/api/rate-limits.'}}")
ANTHROPIC_529 = "Error code: 529 - {'type': 'error', 'error': {'type': 'overloaded_error', 'message': 'Overloaded'}}"


def _anthropic_failure(g: _Gen, t: int, route: str) -> str | None:
    """Whether an Anthropic call starting at t fails, and with which provider message."""
    rng = g.rng
    if _inside("W4-01", t) and rng.random() < 0.45:
        g.seen("W4-01", t)
        return ANTHROPIC_429
    if _inside("W4-N2", t) and route == "product_qa" and g.n2_left > 0 and rng.random() < 0.7:
        g.n2_left -= 1
        g.seen("W4-N2", t)
        return ANTHROPIC_429
    if rng.random() < 0.002:
        return ANTHROPIC_529
    return None


def _cache_tokens(g: _Gen, key: str, t: int, prefix: int, ttl_min: int = 5) -> tuple[int, int]:
    """(cache_read, cache_write) for a call whose first `prefix` input tokens are marked cacheable: a hit when the
    same prefix was sent within the TTL (Anthropic's default 5 minutes, or the 1-hour option), else the call writes
    the cache."""
    last = g.cache_last.get(key)
    g.cache_last[key] = t
    if last is not None and t - last < ttl_min * MIN_NS:
        return prefix, 0
    return 0, prefix


def _exception(t: int, etype: str, message: str) -> tuple[str, int, dict[str, Any]]:
    return ("exception", t, {"exception.type": etype, "exception.message": message,
                             "exception.escaped": "False"})


# ---------------------------------------------------------------------------------------------------------
# it_helpdesk: Google ADK (OTLP protobuf)
# ---------------------------------------------------------------------------------------------------------

ADK_SCOPE = ("gcp.vertex.agent", "2.13.0")
SPECIALISTS = (("Accounts", 0.45), ("Hardware", 0.30), ("Network", 0.25))
SPECIALIST_TOOLS = {
    "Accounts": (("reset_password", 0.85), ("lookup_user", 0.5)),
    "Hardware": (("lookup_asset", 0.8), ("open_ticket", 0.6)),
    "Network": (("check_vpn_status", 0.7), ("open_ticket", 0.4)),
}
ADK_MODEL = {"Triage": "gemini-2.5-flash-lite", "Accounts": "gemini-2.5-flash", "Hardware": "gemini-2.5-flash",
             "Network": "gemini-2.5-flash"}


class _Adk:
    """One ADK run: spans appended in the order the SDK ends them does not matter to OTLP; times do."""

    def __init__(self, g: _Gen, req: Request) -> None:
        self.g, self.req = g, req
        self.trace = g.tid()
        self.root = g.sid()
        self.invocation = "e-" + g.uuid()
        self.baggage = {"tenant.id": req.tenant, "app.route": "it_helpdesk", "user.id": req.user}
        self.spans: list[Span] = []
        self.llm_calls = 0
        self.japanese = req.tenant == "sakura-bank" and g.rng.random() < 0.7
        self.history = 0     # tokens of conversation so far

    def span(self, parent: str, name: str, start: int, end: int, attrs: dict[str, Any]) -> Span:
        s = Span(self.trace, self.g.sid(), parent, name, INTERNAL, start, end,
                 {**attrs, "gen_ai.conversation.id": self.req.session, **self.baggage}, ADK_SCOPE)
        self.spans.append(s)
        return s

    def generate(self, parent: str, agent: str, t: int, text_in: str, text_out: str, out_tokens: int,
                 tool_call: str | None) -> int:
        rng = self.g.rng
        model = ADK_MODEL[agent]
        self.llm_calls += 1
        self.history += 900 + len(text_in) // 3
        inp = 1400 + self.history
        ttft = _lognormal(rng, 420 if model.endswith("lite") else 610, 0.3)
        dur = ttft + out_tokens / (260 if model.endswith("lite") else 180) * 1000
        end = t + int(dur * 1e6)
        cached = (inp // 1024) * 1024 if rng.random() < 0.6 else 0
        out_msg: dict[str, Any] = {"role": "model", "parts": [{"type": "text", "content": text_out}],
                                   "finish_reason": "stop"}
        if tool_call:
            out_msg = {"role": "model", "parts": [{"type": "tool_call", "id": f"adk-{self.g.uuid()}",
                                                   "name": tool_call, "arguments": {}}], "finish_reason": "stop"}
        details = {"gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": text_in}]}], ensure_ascii=False),
            "gen_ai.output.messages": json.dumps([out_msg], ensure_ascii=False)}
        s = self.span(parent, f"generate_content {model}", t, end, {
            "gen_ai.operation.name": "generate_content", "gen_ai.request.model": model,
            "gen_ai.agent.name": agent, "gcp.vertex.agent.event_id": self.g.uuid(),
            "gcp.vertex.agent.invocation_id": self.invocation, "gen_ai.system": "gcp.vertex.agent",
            "gen_ai.response.finish_reasons": ["stop"], "gen_ai.usage.input_tokens": inp,
            "gen_ai.usage.output_tokens": out_tokens, "gen_ai.usage.cache_read.input_tokens": cached,
            "gen_ai.usage.reasoning.output_tokens": int(out_tokens * 0.3) if model == "gemini-2.5-flash" else 0})
        s.events.append(("gen_ai.client.inference.operation.details", end, details))
        return end

    def tool(self, parent: str, agent: str, name: str, t: int, dur_ms: float, args: dict[str, Any],
             result: dict[str, Any] | None, error: str | None = None) -> int:
        end = t + int(dur_ms * 1e6)
        ttype = "TransferToAgentTool" if name == "transfer_to_agent" else "FunctionTool"
        attrs: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                                 "gen_ai.tool.type": ttype, "gen_ai.agent.name": agent,
                                 "gen_ai.tool.call.id": f"adk-{self.g.uuid()}",
                                 "gcp.vertex.agent.event_id": self.g.uuid(),
                                 "gcp.vertex.agent.tool_call_args": json.dumps(args, ensure_ascii=False)}
        if result is not None:
            attrs["gcp.vertex.agent.tool_response"] = json.dumps(result)
        s = self.span(parent, f"execute_tool {name}", t, end, attrs)
        if error:
            s.status, s.message = ERROR, error
            attrs["error.type"] = error.split(":")[0]
            s.events.append(_exception(end, error.split(":")[0], error))
        return end

    def agent(self, name: str, t: int, body: Any) -> tuple[int, str]:
        """An invoke_agent span around `body(span_id, t) -> end`."""
        sid = self.g.sid()
        end = body(sid, t)
        s = Span(self.trace, sid, self.root, f"invoke_agent {name}", INTERNAL, t, end,
                 {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name,
                  "gen_ai.agent.description": AGENT_DESC[name], "gen_ai.conversation.id": self.req.session,
                  **({"gen_ai.agent.version": "accounts-7" if t >= ACCOUNTS_V7_AT else "accounts-6"}
                     if name == "Accounts" else {}), **self.baggage}, ADK_SCOPE)
        self.spans.append(s)
        return end, sid


AGENT_DESC = {"Triage": "Routes IT requests to the right specialist.", "Accounts": "Passwords, accounts, access.",
              "Hardware": "Laptops, monitors, peripherals.", "Network": "VPN, Wi-Fi, connectivity."}
ACCOUNTS_V7_AT = _ts("2027-09-20T05:10:00")
MAX_LLM_CALLS = 20


def _helpdesk(g: _Gen, req: Request) -> None:
    rng = g.rng
    run = _Adk(g, req)
    question = rng.choice(QUESTIONS["it_helpdesk_ja" if run.japanese else "it_helpdesk"])
    r, acc = rng.random(), 0.0
    specialist = SPECIALISTS[-1][0]
    for name, share in SPECIALISTS:
        acc += share
        if r < acc:
            specialist = name
            break
    if "password" in question.lower() or "パスワード" in question or "locked" in question:
        specialist = "Accounts"
    looping = (_inside("W4-03", req.start) and req.tenant == "sakura-bank" and specialist == "Accounts"
               or _inside("W4-03", req.start) and req.tenant == "sakura-bank" and rng.random() < 0.5)
    if looping:
        specialist = "Accounts"
        g.seen("W4-03", req.start)
    bounces = (MAX_LLM_CALLS if rng.random() < 0.33 else rng.randint(3, 7)) if looping else 0
    t = req.start + int(_lognormal(rng, 40, 0.3) * 1e6)
    failed = ""
    outcome = "resolved"

    def triage(sid: str, t0: int) -> int:
        t1 = run.generate(sid, "Triage", t0 + 3_000_000, question, "", 18, "transfer_to_agent")
        return run.tool(sid, "Triage", "transfer_to_agent", t1 + 1_000_000, _lognormal(rng, 2, 0.3),
                        {"agent_name": specialist}, None)

    t, _ = run.agent("Triage", t, triage)
    for _ in range(bounces):
        if run.llm_calls >= MAX_LLM_CALLS:
            break

        def accounts_back(sid: str, t0: int) -> int:
            t1 = run.generate(sid, "Accounts", t0 + 3_000_000, question, "", 22, "transfer_to_agent")
            return run.tool(sid, "Accounts", "transfer_to_agent", t1 + 1_000_000, _lognormal(rng, 2, 0.3),
                            {"agent_name": "Triage"}, None)

        t, _ = run.agent("Accounts", t + 2_000_000, accounts_back)
        if run.llm_calls >= MAX_LLM_CALLS:
            break
        t, _ = run.agent("Triage", t + 2_000_000, triage)
    if run.llm_calls >= MAX_LLM_CALLS:
        failed = (f"LlmCallsLimitExceededError: Max number of llm calls limit of `{MAX_LLM_CALLS}` exceeded")
    else:
        def work(sid: str, t0: int) -> int:
            nonlocal outcome
            t1 = t0 + 2_000_000
            for tool, p in SPECIALIST_TOOLS[specialist]:
                if rng.random() >= p:
                    continue
                t1 = run.generate(sid, specialist, t1, question, "", 25, tool)
                attempts = 1
                while True:
                    err = None
                    dur = _lognormal(rng, {"reset_password": 900, "lookup_user": 160, "lookup_asset": 240,
                                           "open_ticket": 420, "check_vpn_status": 300}[tool], 0.35)
                    if tool == "lookup_asset" and _inside("W4-N4", t1):
                        dur *= 9
                        g.seen("W4-N4", req.start)
                    if tool == "reset_password" and _inside("W4-02", t1) and rng.random() < 0.85:
                        err, dur = "DirectoryTimeoutError: LDAP bind to ldaps://dir.corp:636 timed out after 10s", \
                            10_000 + rng.random() * 150
                        g.seen("W4-02", req.start)
                    elif rng.random() < 0.01:
                        err = f"ToolError: {tool} returned HTTP 503"
                    result = None if err else {"status": "ok", "ticket": f"INC{rng.randrange(10**6):06d}"}
                    t1 = run.tool(sid, specialist, tool, t1 + 1_000_000, dur, {"user": req.user}, result, err)
                    if err is None or attempts >= 1 + (tool == "reset_password") * rng.randint(1, 2):
                        break
                    attempts += 1
                    t1 = run.generate(sid, specialist, t1, "retry", "", 20, tool)
                if err:
                    outcome = "unresolved"
            answer = ("I couldn't reset your password right now; I've opened ticket INC for the service desk."
                      if outcome == "unresolved" else
                      rng.choice(["Done: your password has been reset, check your email for the link.",
                                  "I've raised a request for a new monitor; delivery takes 3-5 days.",
                                  "Your VPN profile is refreshed. Reconnect with the GlobalProtect client.",
                                  "パスワードをリセットしました。メールをご確認ください。"]))
            return run.generate(sid, specialist, t1 + 1_000_000, question, answer, 40 + len(answer) // 4, None)

        t, _ = run.agent(specialist, t + 2_000_000, work)
    end = t + int(_lognormal(rng, 30, 0.3) * 1e6)
    root = Span(run.trace, run.root, None, "invoke_workflow Triage", INTERNAL, req.start, end,
                {"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "Triage",
                 "gen_ai.conversation.id": req.session, **run.baggage}, ADK_SCOPE)
    if failed:
        root.status, root.message = ERROR, failed
        root.events.append(_exception(end, failed.split(":")[0], failed))
    run.spans.append(root)
    g.add("helpdesk-bot", run.spans)
    # Slack reactions on the bot's answer: a human verdict, arriving minutes later as a log record
    if rng.random() < 0.15:
        bad = 0.55 if failed or bounces else (0.4 if outcome == "unresolved" else 0.08)
        down = rng.random() < bad
        g.logs["helpdesk-bot"].append(LogRecord(
            end + int(rng.uniform(1, 20) * MIN_NS), run.trace, run.root, "gen_ai.evaluation.result",
            {"gen_ai.evaluation.name": "user_feedback", "gen_ai.evaluation.score.value": 0.0 if down else 1.0,
             "gen_ai.evaluation.score.label": "thumbs_down" if down else "thumbs_up",
             "gen_ai.evaluator.type": "human", "gen_ai.evaluator.id": "slack-reactions",
             "slack.reaction": "-1" if down else "+1"}, ("helpdesk-bot.feedback", "1.4.0")))


# ---------------------------------------------------------------------------------------------------------
# product_qa / order_status: OpenLLMetry (Traceloop) on Anthropic, Pinecone (Collector JSON Lines)
# ---------------------------------------------------------------------------------------------------------

TL_SDK = ("traceloop.sdk", "0.47.3")
TL_ANTHROPIC = ("opentelemetry.instrumentation.anthropic", "0.47.3")
TL_OPENAI = ("opentelemetry.instrumentation.openai.v1", "0.47.3")
TL_PINECONE = ("opentelemetry.instrumentation.pinecone", "0.47.3")
SF_MODELS = {"product_qa": ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
             "order_status": ("claude-haiku-4-5", "claude-haiku-4-5-20251001")}
SF_SYSTEM = {"product_qa": "You are the {tenant} shopping assistant. Answer only from the catalog excerpts.",
             "order_status": "You are the {tenant} order desk. Use get_order before answering."}


def _storefront(g: _Gen, req: Request) -> None:
    rng = g.rng
    trace, root_id = g.tid(), g.sid()
    assoc = {"traceloop.association.properties.tenant": req.tenant,
             "traceloop.association.properties.route": req.route,
             "traceloop.association.properties.user_id": req.user,
             "traceloop.association.properties.session_id": req.session,
             "traceloop.association.properties.locale": {"harbor-home": "en-AU", "koi-outfitters": "ja-JP",
                                                         "mercado-azul": "pt-BR", "lumen-retail": "id-ID"}[req.tenant]}
    spans: list[Span] = []
    question = rng.choice(QUESTIONS[req.route]).replace("{oid}", f"#{rng.randrange(10**7):07d}")
    t = req.start + int(_lognormal(rng, 15, 0.3) * 1e6)
    context = ""
    n_docs = 0
    top_score: float | None = None
    empty = req.route == "product_qa" and _inside("W4-04", req.start)
    new_tenant = req.tenant == "lumen-retail"
    if req.route == "product_qa":
        # embed the question
        e_end = t + int(_lognormal(rng, 120, 0.3) * 1e6)
        spans.append(Span(trace, g.sid(), root_id, "openai.embeddings", CLIENT, t, e_end, {
            "llm.request.type": "embedding", "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "text-embedding-3-small", "gen_ai.response.model": "text-embedding-3-small",
            "gen_ai.usage.prompt_tokens": 8 + len(question) // 4, "llm.usage.total_tokens": 8 + len(question) // 4,
            "gen_ai.prompt.0.content": question, **assoc}, TL_OPENAI))
        task_id = g.sid()
        q_start = e_end + 1_000_000
        q_end = q_start + int(_lognormal(rng, 85, 0.35) * 1e6)
        events: list[tuple[str, int, dict[str, Any]]] = []
        if empty:
            g.seen("W4-04", req.start)
        else:
            n_docs = 5
            if new_tenant:
                g.seen("W4-08", req.start)
                scores = sorted((rng.uniform(0.3, 0.5) for _ in range(n_docs)), reverse=True)
                ids = [f"kb-generic-{rng.randrange(40):02d}" for _ in range(n_docs)]
            else:
                scores = sorted((rng.uniform(0.75, 0.92) for _ in range(n_docs)), reverse=True)
                ids = [f"sku-{req.tenant[:3]}-{rng.randrange(4000):04d}" for _ in range(n_docs)]
            top_score = scores[0]
            for i, (doc, sc) in enumerate(zip(ids, scores)):
                text = _words(rng, WORDS, 25)
                context += f"[{doc}] {text}\n"
                events.append(("db.query.result", q_end, {
                    "db.query.result.id": doc, "db.query.result.score": round(sc, 4),
                    "db.query.result.metadata": json.dumps({"tenant": req.tenant, "rank": i}),
                    "db.query.result.document": text}))
        ns = f"catalog-{req.tenant}-v{'2027-09-20' if _ts('2027-09-20T09:37:00') <= req.start else '2027-09-19'}"
        spans.append(Span(trace, g.sid(), task_id, "pinecone.query", CLIENT, q_start, q_end, {
            "db.system": "pinecone", "db.operation": "query", "db.vector.query.top_k": 5,
            "pinecone.query.namespace": ns, "pinecone.query.include_metadata": True,
            "db.response.returned_rows": n_docs, **assoc}, TL_PINECONE, events))
        spans.append(Span(trace, task_id, root_id, "search_catalog.task", INTERNAL, q_start - 500_000,
                          q_end + 400_000, {"traceloop.span.kind": "task", "traceloop.entity.name": "search_catalog",
                                            "traceloop.workflow.name": req.route,
                                            "traceloop.entity.input": json.dumps({"args": [question], "kwargs": {}}),
                                            "traceloop.entity.output": json.dumps({"matches": n_docs}), **assoc},
                          TL_SDK))
        t = q_end + 1_000_000
    else:
        tool_end = t + int(_lognormal(rng, 180, 0.3) * 1e6)
        order = {"order_id": f"{rng.randrange(10**7):07d}", "status": rng.choice(["shipped", "packed", "delivered"]),
                 "eta": "2027-09-2" + str(rng.randrange(3, 9))}
        context = json.dumps(order)
        spans.append(Span(trace, g.sid(), root_id, "get_order.tool", INTERNAL, t, tool_end, {
            "traceloop.span.kind": "tool", "traceloop.entity.name": "get_order",
            "traceloop.workflow.name": req.route,
            "traceloop.entity.input": json.dumps({"args": [], "kwargs": {"user": req.user}}),
            "traceloop.entity.output": context, **assoc}, TL_SDK))
        t = tool_end + 1_000_000
    # the answer
    model, snapshot = SF_MODELS[req.route]
    system = SF_SYSTEM[req.route].format(tenant=req.tenant)
    llm_id = g.sid()
    prefix = 2200 if req.route == "product_qa" else 900        # cached system prompt + policy block
    fresh = 60 + len(question) // 4 + len(context) // 4
    failure = _anthropic_failure(g, t, req.route)
    attrs: dict[str, Any] = {"llm.request.type": "chat", "gen_ai.system": "Anthropic",
                             "gen_ai.request.model": model, "gen_ai.request.max_tokens": 1024,
                             "gen_ai.request.temperature": 0.3, "llm.is_streaming": False,
                             "gen_ai.prompt.0.role": "system", "gen_ai.prompt.0.content": system,
                             "gen_ai.prompt.1.role": "user",
                             "gen_ai.prompt.1.content": (f"<catalog>\n{context}</catalog>\n" if context else "")
                             + question,
                             "traceloop.prompt.key": f"{req.route}-answer",
                             "traceloop.prompt.version": 23 if req.route == "product_qa" else 9,
                             "traceloop.prompt.managed": True, **assoc}
    events = []
    if failure:
        dur = rng.uniform(2000, 9000) if "429" in failure else rng.uniform(400, 1500)
        status, message = ERROR, failure
        events.append(_exception(t + int(dur * 1e6),
                                 "anthropic.RateLimitError" if "429" in failure else "anthropic.InternalServerError",
                                 failure))
        answer = ""
    else:
        status, message = UNSET, ""
        if empty:
            answer = rng.choice(["I couldn't find that product in our catalog. Could you share the product name "
                                 "or SKU?", "Sorry, I don't have details on that item right now."])
            out_tok = 30 + rng.randrange(15)
        else:
            lead = rng.choice(BENIGN) if rng.random() < 0.03 else ""
            refusal = rng.random() < 0.004
            answer = rng.choice(REFUSALS) if refusal else lead + _words(rng, WORDS, rng.randint(35, 90))
            out_tok = len(answer) // 4 + 5
        read, write = _cache_tokens(g, f"{req.route}:{req.tenant}", t, prefix)
        ttft = _lognormal(rng, 700 if req.route == "product_qa" else 380, 0.3) + (400 if write else 0)
        dur = ttft + out_tok / (70 if req.route == "product_qa" else 150) * 1000
        attrs.update({"gen_ai.response.model": snapshot, "gen_ai.response.id": f"msg_01{g.tid()[:22]}",
                      "gen_ai.usage.prompt_tokens": fresh, "gen_ai.usage.completion_tokens": out_tok,
                      "llm.usage.total_tokens": fresh + read + write + out_tok,
                      "gen_ai.usage.cache_read_input_tokens": read,
                      "gen_ai.usage.cache_creation_input_tokens": write,
                      "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": answer,
                      "gen_ai.completion.0.finish_reason": "end_turn"})
    llm_end = t + int(dur * 1e6)
    llm = Span(trace, llm_id, root_id, "anthropic.chat", CLIENT, t, llm_end, attrs, TL_ANTHROPIC, events,
               status, message)
    spans.append(llm)
    end = llm_end + int(_lognormal(rng, 8, 0.3) * 1e6)
    root = Span(trace, root_id, None, f"{req.route}.workflow", INTERNAL, req.start, end, {
        "traceloop.span.kind": "workflow", "traceloop.entity.name": req.route, "traceloop.workflow.name": req.route,
        "traceloop.entity.input": json.dumps({"args": [question], "kwargs": {}}),
        **({"traceloop.entity.output": json.dumps(answer)} if not failure else {}), **assoc}, TL_SDK)
    if failure:
        root.status, root.message = ERROR, failure
        root.events.append(_exception(end, "anthropic.RateLimitError" if "429" in failure
                                      else "anthropic.InternalServerError", failure))
    spans.append(root)
    g.add("storefront", spans)
    if failure:
        return
    # the online judge (Ragas-style metrics) on 60% of product_qa answers, a few minutes later
    judge_scope = ("storefront-evals", "2.3.1")
    if req.route == "product_qa" and rng.random() < 0.6:
        if empty:
            faith, relev = rng.uniform(0.0, 0.2), rng.uniform(0.25, 0.5)
        elif new_tenant:
            faith, relev = min(1.0, max(0.0, rng.gauss(0.45, 0.12))), rng.uniform(0.5, 0.8)
        else:
            faith, relev = min(1.0, max(0.0, rng.gauss(0.86, 0.07))), min(1.0, rng.gauss(0.88, 0.05))
        te = end + int(rng.uniform(1, 6) * MIN_NS)
        for name, score, expl in (("faithfulness", faith, "claims supported by the retrieved context"),
                                  ("answer_relevancy", relev, "cosine similarity of generated questions")):
            g.logs["storefront"].append(LogRecord(te, trace, llm_id, "gen_ai.evaluation.result", {
                "gen_ai.evaluation.name": name, "gen_ai.evaluation.score.value": round(score, 4),
                "gen_ai.evaluation.explanation": expl, "gen_ai.evaluator.id": f"ragas.{name}",
                "gen_ai.evaluator.version": "0.3.4", "gen_ai.evaluator.type": "llm_judge",
                "gen_ai.response.id": attrs["gen_ai.response.id"]}, judge_scope))
            te += 40_000_000
    if rng.random() < 0.11:
        bad = 0.38 if empty else 0.3 if new_tenant and req.route == "product_qa" else 0.06
        down = rng.random() < bad
        g.logs["storefront"].append(LogRecord(end + int(rng.uniform(0.3, 4) * MIN_NS), trace, root_id,
                                              "gen_ai.evaluation.result", {
            "gen_ai.evaluation.name": "user_feedback", "gen_ai.evaluation.score.value": 0.0 if down else 1.0,
            "gen_ai.evaluation.score.label": "thumbs_down" if down else "thumbs_up",
            "gen_ai.evaluator.type": "human", "gen_ai.evaluator.id": "storefront-widget"}, judge_scope))


# ---------------------------------------------------------------------------------------------------------
# market_research: CrewAI via OpenInference, litellm LLM spans (OTLP/JSON)
# ---------------------------------------------------------------------------------------------------------

OI_CREW = ("openinference.instrumentation.crewai", "0.1.18")
OI_LITELLM = ("openinference.instrumentation.litellm", "0.1.29")
CREW = (("Senior Market Researcher", "gpt-4.1", "openai"),
        ("Data Analyst", "anthropic/claude-sonnet-4-5", "anthropic"),
        ("Report Writer", "gpt-4.1", "openai"))
SNAPSHOT = {"gpt-4.1": "gpt-4.1-2025-04-14", "anthropic/claude-sonnet-4-5": "claude-sonnet-4-5-20250929"}
CREW_TOOLS = ("Search the internet with Serper", "Read website content")
TOPICS = ("battery storage tariffs in New Zealand", "legal tech adoption in APAC law firms",
          "SaaS pricing for Indian mid-market", "offshore wind supply chain", "generative AI in contract review")


def _research(g: _Gen, req: Request) -> None:
    rng = g.rng
    trace, root_id = g.tid(), g.sid()
    meta = json.dumps({"route": "market_research", "tenant": req.tenant, "crew": "research_crew"})
    common = {"metadata": meta, "session.id": req.session, "user.id": req.user}
    topic = rng.choice(TOPICS)
    spans: list[Span] = []
    t = req.start + int(_lognormal(rng, 60, 0.3) * 1e6)
    crew_failed = ""

    def completion(parent: str, t0: int, model: str, provider: str, step: int) -> tuple[int, str]:
        """One litellm completion span; returns (end, error message or '')."""
        inp = 1800 + 900 * step + rng.randrange(400)
        out = rng.randint(180, 700)
        err = ""
        if provider == "anthropic":
            failure = _anthropic_failure(g, t0, "market_research")
            if failure:
                err = "litellm.RateLimitError: AnthropicException - " + failure if "429" in failure else \
                    "litellm.InternalServerError: AnthropicException - " + failure
        if err:
            dur = rng.uniform(1500, 7000)
        else:
            dur = _lognormal(rng, 900, 0.35) + out / 75 * 1000
            if model == "gpt-4.1" and _inside("W4-06", t0) and rng.random() < 0.04:
                dur = rng.uniform(30_000, 75_000)
                g.seen("W4-06", req.start)
        end = t0 + int(dur * 1e6)
        attrs: dict[str, Any] = {
            "openinference.span.kind": "LLM", "llm.provider": provider, "llm.system": provider,
            "llm.invocation_parameters": json.dumps({"model": model, "temperature": 0.7, "stop": ["\nObservation:"]}),
            "input.value": json.dumps({"messages": [{"role": "user", "content": f"Research {topic}"}]}),
            "input.mime_type": "application/json", **common}
        s = Span(trace, g.sid(), parent, "completion", INTERNAL, t0, end, attrs, OI_LITELLM)
        if err:
            s.status, s.message = ERROR, err
            s.events.append(_exception(end, err.split(":")[0], err))
        else:
            text = _words(rng, WORDS, out // 2)
            attrs.update({"llm.model_name": SNAPSHOT[model], "llm.token_count.prompt": inp,
                          "llm.token_count.completion": out, "llm.token_count.total": inp + out,
                          "output.value": text, "output.mime_type": "text/plain",
                          "llm.output_messages.0.message.role": "assistant",
                          "llm.output_messages.0.message.content": text})
        spans.append(s)
        return end, err

    def tool(parent: str, t0: int, name: str) -> int:
        end = t0 + int(_lognormal(rng, 1100 if "Search" in name else 1600, 0.4) * 1e6)
        spans.append(Span(trace, g.sid(), parent, "ToolUsage._use", INTERNAL, t0, end, {
            "openinference.span.kind": "TOOL", "tool.name": name,
            "input.value": json.dumps({"search_query": topic} if "Search" in name else {"website_url":
                                      f"https://example.org/{rng.randrange(999)}"}),
            "output.value": _words(rng, WORDS, 40), **common}, OI_CREW))
        return end

    def agent_task(parent: str, t0: int, role: str, model: str, provider: str) -> tuple[int, str]:
        sid = g.sid()
        t1 = t0 + 2_000_000
        err = ""
        for step in range(rng.randint(2, 4)):
            t1, err = completion(sid, t1, model, provider, step)
            if err:                                     # CrewAI retries a failed LLM call once
                t1, err = completion(sid, t1 + 500_000_000, model, provider, step)
                if err:
                    break
            if step < 2 and rng.random() < 0.7:
                t1 = tool(sid, t1 + 2_000_000, rng.choice(CREW_TOOLS))
            if role == "Report Writer" and step == 0 and rng.random() < 0.2:
                # delegation: the coworker's task runs inside the tool call
                dsid = g.sid()
                d_end, _ = agent_task(dsid, t1 + 2_000_000, "Senior Market Researcher", "gpt-4.1", "openai")
                spans.append(Span(trace, dsid, sid, "ToolUsage._use", INTERNAL, t1 + 1_000_000, d_end + 1_000_000,
                                  {"openinference.span.kind": "TOOL", "tool.name": "Delegate work to coworker",
                                   "input.value": json.dumps({"task": f"Check facts on {topic}",
                                                              "coworker": "Senior Market Researcher"}), **common},
                                  OI_CREW))
                t1 = d_end + 2_000_000
        end = t1 + 3_000_000
        s = Span(trace, sid, parent, "Task._execute_core", INTERNAL, t0, end, {
            "openinference.span.kind": "AGENT", "agent.name": role,
            "input.value": json.dumps({"task": f"{role}: {topic}"}), **common}, OI_CREW)
        if err:
            s.status, s.message = ERROR, err
        else:
            s.attrs["output.value"] = _words(rng, WORDS, 60)
        spans.append(s)
        return end, err

    for role, model, provider in CREW:
        t, crew_failed = agent_task(root_id, t + 5_000_000, role, model, provider)
        if crew_failed:
            break
    end = t + 10_000_000
    root = Span(trace, root_id, None, "Crew.kickoff", INTERNAL, req.start, end, {
        "openinference.span.kind": "CHAIN", "input.value": json.dumps({"topic": topic}),
        "input.mime_type": "application/json", "crew_key": "3f1c9a", "crew_process": "sequential", **common},
        OI_CREW)
    if crew_failed:
        root.status, root.message = ERROR, crew_failed
    else:
        root.attrs["output.value"] = _words(rng, WORDS, 120)
    spans.append(root)
    g.add("research-crew", spans)


# ---------------------------------------------------------------------------------------------------------
# meeting_summary: Langfuse SDK v3 over OTel (a JSON array of OTLP requests), DeepEval-style judge logs
# ---------------------------------------------------------------------------------------------------------

LF_SCOPE = ("langfuse-sdk", "3.6.1")
LF_MODEL = "gpt-4.1-mini-2025-04-14"


def _usage(prompt: int, completion: int, cached: int) -> str:
    return json.dumps({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                       "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                       "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                     "accepted_prediction_tokens": 0,
                                                     "rejected_prediction_tokens": 0}})


def _summaries(g: _Gen, req: Request) -> None:
    rng = g.rng
    trace, root_id = g.tid(), g.sid()
    legal = req.tenant == "kiwi-legal"
    minutes = rng.uniform(50, 110) if legal else rng.uniform(15, 45)
    board = req.session.endswith("-board")
    if board:
        minutes *= 6
        g.seen("W4-N3", req.start)
    transcript_tokens = int(minutes * 160)
    version = 15 if req.start >= PROMPT_V15_AT else 14
    common = {"user.id": req.user, "session.id": req.session}
    spans: list[Span] = []
    t = req.start + int(_lognormal(rng, 30, 0.3) * 1e6)
    f_end = t + int(_lognormal(rng, 350, 0.3) * 1e6)
    spans.append(Span(trace, g.sid(), root_id, "fetch_transcript", INTERNAL, t, f_end, {
        "langfuse.observation.type": "span", "langfuse.observation.input": json.dumps({"meeting_id": g.uuid()}),
        "langfuse.observation.output": json.dumps({"tokens": transcript_tokens}), **common}, LF_SCOPE))
    t = f_end + 2_000_000
    chunks = max(1, math.ceil(transcript_tokens / 6000))
    for _ in range(chunks):
        inp = min(6000, transcript_tokens) + 350
        out = rng.randint(250, 420)
        end = t + int((_lognormal(rng, 500, 0.3) + out / 95 * 1000) * 1e6)
        spans.append(Span(trace, g.sid(), root_id, "OpenAI-generation", INTERNAL, t, end, {
            "langfuse.observation.type": "generation", "langfuse.observation.model.name": LF_MODEL,
            "langfuse.observation.model.parameters": json.dumps({"temperature": 0.2, "max_tokens": 800}),
            "langfuse.observation.usage_details": _usage(inp, out, 0),
            "langfuse.observation.input": json.dumps([{"role": "user", "content": "Summarise this part."}]),
            "langfuse.observation.output": json.dumps({"role": "assistant",
                                                       "content": _words(rng, MEETING_WORDS, out // 2)}),
            **common}, LF_SCOPE))
        t = end + 1_000_000
    # the final summary, from the managed prompt
    if legal:
        words = rng.randint(90, 130) if version == 15 else rng.randint(330, 440)
    else:
        words = rng.randint(90, 140) if version == 15 else rng.randint(100, 160)
    if version == 15 and legal:
        g.seen("W4-07", req.start)
    summary = _words(rng, MEETING_WORDS, words)
    out = len(summary) // 4 + 10
    inp = chunks * 380 + 900
    gen_id = g.sid()
    end = t + int((_lognormal(rng, 550, 0.3) + out / 95 * 1000) * 1e6)
    spans.append(Span(trace, gen_id, root_id, "OpenAI-generation", INTERNAL, t, end, {
        "langfuse.observation.type": "generation", "langfuse.observation.model.name": LF_MODEL,
        "langfuse.observation.model.parameters": json.dumps({"temperature": 0.2, "max_tokens": 1500}),
        "langfuse.observation.prompt.name": "meeting-summary", "langfuse.observation.prompt.version": version,
        "langfuse.observation.usage_details": _usage(inp, out, 768 if rng.random() < 0.5 else 0),
        "langfuse.observation.input": json.dumps([{"role": "system", "content": "Summarise the meeting."},
                                                  {"role": "user", "content": "<chunk summaries>"}]),
        "langfuse.observation.output": json.dumps({"role": "assistant", "content": summary}),
        "langfuse.observation.completion_start_time": json.dumps(_iso(t + 600_000_000)), **common}, LF_SCOPE))
    end += 5_000_000
    spans.append(Span(trace, root_id, None, "summarize_meeting", INTERNAL, req.start, end, {
        "langfuse.observation.type": "span", "langfuse.internal.is_app_root": True,
        "langfuse.trace.name": "summarize_meeting", "langfuse.trace.metadata.tenant": req.tenant,
        "langfuse.trace.metadata.route": "meeting_summary", "langfuse.environment": "production",
        "langfuse.release": "notetaker@3.8.2", "langfuse.trace.tags": ["notetaker", req.tenant],
        "langfuse.observation.output": summary[:200], **common}, LF_SCOPE))
    g.add("notetaker", spans)
    # DeepEval SummarizationMetric, run by a worker on 70% of summaries
    if rng.random() < 0.7:
        if version == 15 and legal:
            score = min(1.0, max(0.0, rng.gauss(0.5, 0.1)))
        else:
            score = min(1.0, max(0.0, rng.gauss(0.86, 0.06)))
        if _inside("W4-N5", req.start) and g.n5_left > 0:
            g.n5_left -= 1
            score = rng.uniform(0.2, 0.35)
            g.seen("W4-N5", req.start)
        g.logs["notetaker"].append(LogRecord(end + int(rng.uniform(1, 6) * MIN_NS), trace, gen_id,
                                             "gen_ai.evaluation.result", {
            "gen_ai.evaluation.name": "summarization", "gen_ai.evaluation.score.value": round(score, 4),
            "gen_ai.evaluation.score.label": "pass" if score >= 0.5 else "fail",
            "gen_ai.evaluation.explanation": f"The score is {score:.2f} because "
            + ("the summary omits obligations and deadlines from the transcript." if score < 0.6 else
               "the summary covers the key points without contradictions."),
            "gen_ai.evaluator.id": "deepeval.SummarizationMetric", "gen_ai.evaluator.version": "3.6.2",
            "gen_ai.evaluator.type": "llm_judge"}, ("notetaker-evals", "0.9.0")))


# ---------------------------------------------------------------------------------------------------------
# code_review: OTel GenAI latest names on Anthropic, one span object per JSON line
# ---------------------------------------------------------------------------------------------------------

GENAI_ANTHROPIC = ("opentelemetry.instrumentation.anthropic", "0.3b0")
APP_SCOPE = ("review_bot.agent", "2.4.0")
HTTP_SCOPE = ("opentelemetry.instrumentation.fastapi", "0.58b0")
REVIEW_PREFIX = 12_288          # the cached system prompt: style guide + repository conventions


def _code_review(g: _Gen, req: Request) -> None:
    rng = g.rng
    trace, root_id, agent_id = g.tid(), g.sid(), g.sid()
    base = {"tenant.id": req.tenant, "app.route": "code_review", "user.id": req.user}
    repo = f"{req.tenant}/{rng.choice(['api', 'web', 'billing', 'infra', 'mobile'])}"
    spans: list[Span] = []
    t = req.start + int(_lognormal(rng, 20, 0.3) * 1e6)
    d_end = t + int(_lognormal(rng, 450, 0.4) * 1e6)
    diff_tokens = int(_lognormal(rng, 2600, 0.5))
    spans.append(Span(trace, g.sid(), agent_id, "execute_tool fetch_diff", INTERNAL, t, d_end, {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "fetch_diff", "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": f"toolu_{g.tid()[:24]}", **base}, APP_SCOPE))
    t = d_end + 2_000_000
    failed = ""
    busted = _inside("W4-05", req.start)
    if busted:
        g.seen("W4-05", req.start)
    for i in range(rng.randint(1, 3)):
        inp = REVIEW_PREFIX + diff_tokens // (i + 1) + 200 * i
        out = rng.randint(250, 900)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.request.max_tokens": 4096,
            "gen_ai.request.temperature": 0.0, "gen_ai.request.stream": True, **base}
        failure = _anthropic_failure(g, t, "code_review")
        s = Span(trace, g.sid(), agent_id, "chat claude-sonnet-4-5", CLIENT, t, t, attrs, GENAI_ANTHROPIC)
        if failure:
            dur = rng.uniform(2000, 9000) if "429" in failure else rng.uniform(300, 1200)
            s.status, s.message = ERROR, failure
            attrs["error.type"] = "rate_limit_error" if "429" in failure else "overloaded_error"
            s.events.append(_exception(t + int(dur * 1e6), "anthropic.RateLimitError" if "429" in failure
                                       else "anthropic.InternalServerError", failure))
            failed = failure
        else:
            if busted:          # the prefix now starts with a timestamp: nothing is ever read from the cache
                read, write = 0, REVIEW_PREFIX
                g.cache_last.pop("review", None)
            else:
                # the bot asks for the 1-hour cache TTL: reviews arrive minutes to an hour apart
                read, write = _cache_tokens(g, "review", t, REVIEW_PREFIX, ttl_min=60)
            ttft = _lognormal(rng, 900, 0.25) + (write / REVIEW_PREFIX) * _lognormal(rng, 1100, 0.2)
            dur = ttft + out / 65 * 1000
            attrs.update({"gen_ai.response.model": "claude-sonnet-4-5-20250929",
                          "gen_ai.response.id": f"msg_01{g.tid()[:22]}",
                          "gen_ai.response.finish_reasons": ["end_turn"],
                          "gen_ai.usage.input_tokens": inp, "gen_ai.usage.output_tokens": out,
                          "gen_ai.usage.cache_read.input_tokens": read,
                          "gen_ai.usage.cache_creation.input_tokens": write,
                          "gen_ai.response.time_to_first_chunk": round(ttft / 1000, 3)})
        s.end = t + int(dur * 1e6)
        spans.append(s)
        t = s.end + 3_000_000
        if failed:
            break
    if not failed:
        c_end = t + int(_lognormal(rng, 380, 0.3) * 1e6)
        spans.append(Span(trace, g.sid(), agent_id, "execute_tool post_review_comment", INTERNAL, t, c_end, {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "post_review_comment",
            "gen_ai.tool.type": "function", "gen_ai.tool.call.id": f"toolu_{g.tid()[:24]}", **base}, APP_SCOPE))
        t = c_end
    agent = Span(trace, agent_id, root_id, "invoke_agent pr_reviewer", INTERNAL, req.start + 10_000_000, t + 1_000_000,
                 {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "pr_reviewer",
                  "gen_ai.agent.id": "agt_pr_reviewer", "gen_ai.agent.version": "2.4.0",
                  "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5", **base},
                 APP_SCOPE)
    end = t + 4_000_000
    root = Span(trace, root_id, None, "POST /webhooks/github", SERVER, req.start, end, {
        "http.request.method": "POST", "http.route": "/webhooks/github", "url.path": "/webhooks/github",
        "url.scheme": "https", "http.response.status_code": 500 if failed else 200,
        "user_agent.original": "GitHub-Hookshot/7a3f0c1", "vcs.repository.name": repo,
        "vcs.change.id": str(rng.randrange(100, 9000)), **base}, HTTP_SCOPE)
    if failed:
        agent.status, agent.message = ERROR, failed
        root.status = ERROR
        root.attrs["error.type"] = "500"
    spans += [agent, root]
    g.add("review-bot", spans)


BUILDERS = {"it_helpdesk": _helpdesk, "product_qa": _storefront, "order_status": _storefront,
            "market_research": _research, "meeting_summary": _summaries, "code_review": _code_review}

RESOURCES: dict[str, dict[str, Any]] = {
    "helpdesk-bot": {"service.name": "helpdesk-bot", "service.version": "5.2.0", "deployment.environment.name": "prod",
                     "cloud.provider": "gcp", "cloud.region": "asia-northeast1",
                     "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry",
                     "telemetry.sdk.version": "1.38.0"},
    "storefront": {"service.name": "storefront-assistant", "service.version": "2027.09.14",
                   "deployment.environment": "production", "telemetry.sdk.language": "python",
                   "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.37.0",
                   "host.name": "sf-assist-7c9d"},
    "research-crew": {"service.name": "research-crew", "service.version": "0.9.4",
                      "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry",
                      "telemetry.sdk.version": "1.36.0", "openinference.project.name": "research"},
    "notetaker": {"service.name": "notetaker", "service.version": "3.8.2", "telemetry.sdk.language": "python",
                  "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.38.0"},
    "review-bot": {"service.name": "review-bot", "service.version": "2.4.0", "deployment.environment.name": "prod",
                   "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry",
                   "telemetry.sdk.version": "1.39.1", "k8s.namespace.name": "bots"},
}
EVAL_RESOURCE = {"service.name": "notetaker-evals", "service.version": "0.9.0", "telemetry.sdk.language": "python"}


# ---------------------------------------------------------------------------------------------------------
# Wire formats
# ---------------------------------------------------------------------------------------------------------

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


def _kv(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _av(v)} for k, v in d.items()]


def _json_span(s: Span) -> dict[str, Any]:
    out: dict[str, Any] = {"traceId": s.trace_id, "spanId": s.span_id}
    if s.parent:
        out["parentSpanId"] = s.parent
    out.update({"name": s.name, "kind": s.kind, "startTimeUnixNano": str(s.start),
                "endTimeUnixNano": str(s.end), "attributes": _kv(s.attrs)})
    if s.events:
        out["events"] = [{"timeUnixNano": str(t), "name": n, "attributes": _kv(a)} for n, t, a in s.events]
    out["status"] = {"code": s.status, **({"message": s.message} if s.message else {})}
    return out


def _by_scope(items: list[Any]) -> dict[tuple[str, str], list[Any]]:
    groups: dict[tuple[str, str], list[Any]] = {}
    for it in items:
        groups.setdefault(it.scope, []).append(it)
    return groups


def _trace_request(resource: dict[str, Any], spans: list[Span]) -> dict[str, Any]:
    return {"resourceSpans": [{"resource": {"attributes": _kv(resource)}, "scopeSpans": [
        {"scope": {"name": n, "version": v}, "spans": [_json_span(s) for s in group]}
        for (n, v), group in _by_scope(spans).items()]}]}


def _json_log(r: LogRecord) -> dict[str, Any]:
    return {"timeUnixNano": str(r.t), "observedTimeUnixNano": str(r.t + 150_000_000), "severityNumber": 9,
            "severityText": "INFO", "eventName": r.event_name, "traceId": r.trace_id, "spanId": r.span_id,
            "attributes": _kv(r.attrs)}


def _logs_request(resource: dict[str, Any], records: list[LogRecord]) -> dict[str, Any]:
    return {"resourceLogs": [{"resource": {"attributes": _kv(resource)}, "scopeLogs": [
        {"scope": {"name": n, "version": v}, "logRecords": [_json_log(r) for r in group]}
        for (n, v), group in _by_scope(records).items()]}]}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def _pb_value(v: Any) -> Any:
    c = _common_pb2()
    if isinstance(v, bool):
        return c.AnyValue(bool_value=v)
    if isinstance(v, int):
        return c.AnyValue(int_value=v)
    if isinstance(v, float):
        return c.AnyValue(double_value=v)
    if isinstance(v, (list, tuple)):
        return c.AnyValue(array_value=c.ArrayValue(values=[_pb_value(x) for x in v]))
    return c.AnyValue(string_value=str(v))


_COMMON_PB2: Any = None


def _common_pb2() -> Any:
    global _COMMON_PB2
    if _COMMON_PB2 is None:
        from opentelemetry.proto.common.v1 import common_pb2

        _COMMON_PB2 = common_pb2
    return _COMMON_PB2


def _pb_kv(d: dict[str, Any]) -> list[Any]:
    c = _common_pb2()
    return [c.KeyValue(key=k, value=_pb_value(v)) for k, v in d.items()]


def _pb_traces(resource: dict[str, Any], spans: list[Span]) -> bytes:
    """An OTLP/HTTP protobuf body, as the Python SDK's exporter sends it (opentelemetry-proto is a dependency of
    tracedesk itself, so using it here adds nothing to the test environment)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1 import common_pb2 as c
    from opentelemetry.proto.resource.v1 import resource_pb2 as r
    from opentelemetry.proto.trace.v1 import trace_pb2 as t

    scope_spans = []
    for (name, version), group in _by_scope(spans).items():
        pb_spans = []
        for s in group:
            pb_spans.append(t.Span(
                trace_id=bytes.fromhex(s.trace_id), span_id=bytes.fromhex(s.span_id),
                parent_span_id=bytes.fromhex(s.parent) if s.parent else b"", name=s.name, kind=s.kind,  # type: ignore[arg-type]
                start_time_unix_nano=s.start, end_time_unix_nano=s.end, attributes=_pb_kv(s.attrs),
                events=[t.Span.Event(time_unix_nano=et, name=en, attributes=_pb_kv(ea)) for en, et, ea in s.events],
                status=t.Status(code=s.status, message=s.message)))  # type: ignore[arg-type]
        scope_spans.append(t.ScopeSpans(scope=c.InstrumentationScope(name=name, version=version), spans=pb_spans))
    req = ExportTraceServiceRequest(resource_spans=[t.ResourceSpans(
        resource=r.Resource(attributes=_pb_kv(resource)), scope_spans=scope_spans)])
    data: bytes = req.SerializeToString(deterministic=True)
    return data


def _pb_logs(resource: dict[str, Any], records: list[LogRecord]) -> bytes:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1 import common_pb2 as c
    from opentelemetry.proto.logs.v1 import logs_pb2 as lg
    from opentelemetry.proto.resource.v1 import resource_pb2 as r

    scope_logs = []
    for (name, version), group in _by_scope(records).items():
        scope_logs.append(lg.ScopeLogs(scope=c.InstrumentationScope(name=name, version=version), log_records=[
            lg.LogRecord(time_unix_nano=x.t, observed_time_unix_nano=x.t + 150_000_000, severity_number=9,  # type: ignore[arg-type]
                         severity_text="INFO", event_name=x.event_name, trace_id=bytes.fromhex(x.trace_id),
                         span_id=bytes.fromhex(x.span_id), attributes=_pb_kv(x.attrs)) for x in group]))
    req = ExportLogsServiceRequest(resource_logs=[lg.ResourceLogs(resource=r.Resource(attributes=_pb_kv(resource)),
                                                                  scope_logs=scope_logs)])
    data: bytes = req.SerializeToString(deterministic=True)
    return data


def _plain_span(s: Span, resource: dict[str, Any]) -> dict[str, Any]:
    """One span object per line: attributes as a plain object, enum names (a homegrown exporter's shape)."""
    out: dict[str, Any] = {"traceId": s.trace_id, "spanId": s.span_id}
    if s.parent:
        out["parentSpanId"] = s.parent
    out.update({"name": s.name, "kind": ["SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
                                         "SPAN_KIND_CLIENT"][s.kind],
                "startTimeUnixNano": s.start, "endTimeUnixNano": s.end, "attributes": s.attrs,
                "status": {"code": ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"][s.status],
                           **({"message": s.message} if s.message else {})},
                "resource": resource, "scope": {"name": s.scope[0], "version": s.scope[1]}})
    if s.events:
        out["events"] = [{"name": n, "timeUnixNano": t, "attributes": a} for n, t, a in s.events]
    return out


def _collector_lines(resource: dict[str, Any], spans: list[Span], logs: list[LogRecord]) -> bytes:
    """The Collector's file exporter: one OTLP request per line, trace and log batches interleaved by the time the
    batch processor flushed them (every 100 spans or 40 log records here)."""
    lines: list[tuple[int, int, bytes]] = []
    spans = sorted(spans, key=lambda s: (s.end, s.span_id))
    for i in range(0, len(spans), 100):
        batch = spans[i:i + 100]
        lines.append((batch[-1].end, 0, _dumps(_trace_request(resource, batch))))
    logs = sorted(logs, key=lambda r: (r.t, r.span_id))
    for i in range(0, len(logs), 40):
        batch_l = logs[i:i + 40]
        lines.append((batch_l[-1].t, 1, _dumps(_logs_request(EVAL_RESOURCE_SF, batch_l))))
    lines.sort(key=lambda x: (x[0], x[1]))
    return b"".join(line + b"\n" for _, _, line in lines)


EVAL_RESOURCE_SF = {"service.name": "storefront-evals", "service.version": "2.3.1", "telemetry.sdk.language": "python"}


def _day_logs(records: list[LogRecord]) -> dict[str, list[LogRecord]]:
    out: dict[str, list[LogRecord]] = {}
    for r in records:
        out.setdefault(_iso(r.t)[:10], []).append(r)
    return out


def _labels(g: _Gen, seed: int, scale: float) -> dict[str, Any]:
    incidents = []
    for inc in INCIDENTS:
        row = dict(inc)
        row["start"] = inc["start"] + "Z"
        row["end"] = inc["end"] + "Z"
        row["page_worthy"] = inc["should_page"]
        # each signal also as a registry entry (docs/signals.md), the form the third week's labels carry
        row["signals"] = [{**sig, "registry": {"type": sig["signal"], **{k: sig[k] for k in ("evaluator", "span_kind")
                                                                        if k in sig}}} for sig in inc["signals"]]
        first = g.first_seen.get(inc["id"])
        row["detectable_from"] = _iso(first) if first is not None else None
        incidents.append(row)
    return {"week": "fourth", "start": _iso(int(START.timestamp()) * NS),
            "end": _iso(int((START + timedelta(days=DAYS)).timestamp()) * NS), "seed": seed, "days": DAYS,
            "scale": scale, "quiet_days": QUIET_DAYS, "incidents": incidents}


def write_week(out_dir: "str | Path", seed: int = DEFAULT_SEED, scale: float = 1.0, days: int = DAYS) -> Week:
    """Write the week's data files and incidents.json into out_dir (deterministic for a seed and scale)."""
    if days != DAYS:
        raise ValueError(f"days must be {DAYS}: the incidents are placed on fixed dates of the week")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    g = _Gen(seed, scale)
    g.run()
    files: list[Path] = []
    n_spans = 0
    by_service: dict[str, int] = {}
    n_evals = sum(len(v) for v in g.logs.values())

    def put(name: str, data: bytes) -> None:
        path = out / name
        path.write_bytes(data)
        files.append(path)

    day_logs = {svc: _day_logs(g.logs[svc]) for svc in SERVICES}
    for d in range(DAYS):
        day = (START + timedelta(days=d)).strftime("%Y-%m-%d")
        for svc in SERVICES:
            spans = g.spans[svc].get(day, [])
            n_spans += len(spans)
            by_service[svc] = by_service.get(svc, 0) + len(spans)
            logs = day_logs[svc].get(day, [])
            res = RESOURCES[svc]
            if svc == "helpdesk-bot":
                put(f"helpdesk-{day}.otlp.pb.gz", _gz(_pb_traces(res, spans)))
                if logs:
                    put(f"helpdesk-feedback-{day}.otlp.pb", _pb_logs({**res, "service.name": "helpdesk-feedback"},
                                                                     logs))
            elif svc == "storefront":
                put(f"storefront-collector-{day}.jsonl", _collector_lines(res, spans, logs))
            elif svc == "research-crew":
                put(f"research-{day}.otlp.json.gz", _gz(_dumps(_trace_request(res, spans))))
            elif svc == "notetaker":
                # the notetaker's exporter flushes every 50 spans; the day's requests saved as one JSON array
                spans = sorted(spans, key=lambda s: (s.end, s.span_id))
                batches = [_trace_request(res, spans[i:i + 50]) for i in range(0, len(spans), 50)]
                put(f"notetaker-{day}.json", _dumps(batches))
                if logs:
                    put(f"notetaker-evals-{day}.otlp.json.gz", _gz(_dumps(_logs_request(EVAL_RESOURCE, logs))))
            else:
                spans = sorted(spans, key=lambda s: (s.end, s.span_id))
                put(f"review-bot-{day}.spans.jsonl.gz",
                    _gz(b"".join(_dumps(_plain_span(s, res)) + b"\n" for s in spans)))
    labels = out / "incidents.json"
    labels.write_text(json.dumps(_labels(g, seed, scale), indent=1, ensure_ascii=False) + "\n")
    return Week(out_dir=out, files=files, incidents=labels, traces=g.n_traces, spans=n_spans, evaluations=n_evals,
                traces_by_route=dict(sorted(g.by_route.items())), traces_by_tenant=dict(sorted(g.by_tenant.items())),
                traces_by_day=dict(sorted(g.by_day.items())), spans_by_service=by_service)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/weeks/fourth_week.py OUT_DIR")
    w = write_week(sys.argv[1])
    print(json.dumps({"files": len(w.files), "traces": w.traces, "spans": w.spans, "evaluations": w.evaluations,
                      "traces_by_route": w.traces_by_route, "traces_by_tenant": w.traces_by_tenant,
                      "traces_by_day": w.traces_by_day, "spans_by_service": w.spans_by_service}, indent=1))
