"""A fifth labelled week of LLM/agent traffic (acceptance data), written from the spec only.

Written from /work/shared/DESIGN.md, /work/shared/semconv.md, docs/ingest.md, the label schema of the earlier
weeks (tests/weeks/README.md) and what real SDKs emit (the OpenAI Agents SDK through Logfire, the Vercel AI SDK 5
with @ai-sdk/anthropic, LangChain through OpenInference, Strands Agents on Amazon Bedrock, a homegrown flat JSONL
logger), without reading tracedesk's detectors, its sample generator or the earlier weeks' generators.

The world: Harborline, an HR / payroll / benefits SaaS whose customers are employers in the Americas, in the week
of US daylight-saving's end (Sunday 2027-11-07, 02:00 local) and of open enrolment for 2028 benefits.

    from weeks.fifth_week import write_week
    week = write_week(out_dir)              # seed 20271103, 7 days from Wednesday 2027-11-03 00:00 UTC

Stdlib and orjson only; one random.Random(seed) drawn in a fixed order; gzip with mtime 0: the same arguments
give byte-identical files. `python tests/weeks/fifth_week.py OUT` writes the week to OUT.
"""
from __future__ import annotations

import base64
import gzip
import json
import math
import random
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

SEED = 20271103
START = datetime(2027, 11, 3, tzinfo=timezone.utc)          # a Wednesday
DAYS = 7
QUIET_DAYS = ["2027-11-03", "2027-11-04"]
MIN_NS = 60 * 10**9
SEC_NS = 10**9
MS_NS = 10**6


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * SEC_NS


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // SEC_NS, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_ms(ns: int) -> str:
    return datetime.fromtimestamp(ns / SEC_NS, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------------------------------------------------
# Time zones. US and Canadian zones leave daylight time on Sunday 2027-11-07 at 02:00 local (06:00 UTC in New
# York ... 09:00 UTC in Los Angeles); Mexico City (no DST since 2022) and São Paulo (none since 2019) do not move.

_DST_END = {  # zone: (offset hours before, after, the UTC instant it changes)
    "America/New_York": (-4, -5, _ns("2027-11-07T06:00:00Z")),
    "America/Toronto": (-4, -5, _ns("2027-11-07T06:00:00Z")),
    "America/Chicago": (-5, -6, _ns("2027-11-07T07:00:00Z")),
    "America/Denver": (-6, -7, _ns("2027-11-07T08:00:00Z")),
    "America/Los_Angeles": (-7, -8, _ns("2027-11-07T09:00:00Z")),
    "America/Mexico_City": (-6, -6, 0),
    "America/Sao_Paulo": (-3, -3, 0),
}


def _offset_h(zone: str, t_ns: int) -> int:
    before, after, change = _DST_END[zone]
    return after if change and t_ns >= change else before


def _local(zone: str, t_ns: int) -> datetime:
    return datetime.fromtimestamp(t_ns // SEC_NS, tz=timezone.utc) + timedelta(hours=_offset_h(zone, t_ns))


#: tenant -> (zone, share of the fleet's traffic)
TENANTS = {
    "hudson-capital": ("America/New_York", 0.21),
    "maple-grocers": ("America/Toronto", 0.13),
    "lonestar-logistics": ("America/Chicago", 0.18),
    "rockies-outdoor": ("America/Denver", 0.10),
    "cascadia-health": ("America/Los_Angeles", 0.16),
    "sierra-telecom": ("America/Mexico_City", 0.11),
    "cafe-aurora": ("America/Sao_Paulo", 0.11),
}

#: route -> traces on an ordinary weekday (before open enrolment's growth)
DAILY = {"benefits_qa": 320, "support_chat": 185, "payroll_agent": 180, "hr_helpdesk": 135, "expense_audit": 130}


def _office(h: float) -> float:
    return 0.03 + math.exp(-((h - 10.4) / 1.7) ** 2) + 0.85 * math.exp(-((h - 14.8) / 1.9) ** 2)


def _shape(route: str, h: float, weekend: bool) -> float:
    if route == "benefits_qa":   # employees: office hours and an evening at home
        evening = 0.55 * math.exp(-((h - 20.5) / 1.6) ** 2)
        return 0.4 * (0.35 * _office(h) + evening + 0.03) if weekend else _office(h) + evening
    return 0.1 * _office(h) if weekend else _office(h)


_NORM = {r: sum(_shape(r, m / 60, False) for m in range(1440)) for r in DAILY}


def _growth(route: str, t_ns: int) -> float:
    """Open enrolment (Nov 1-15): benefits questions grow ~6% a day through the week."""
    if route != "benefits_qa":
        return 1.0
    return 1.0 + 0.06 * (t_ns - _ns("2027-11-03T00:00:00Z")) / (86400 * SEC_NS)


# ---------------------------------------------------------------------------------------------------------
# Incidents (times UTC). Effects are keyed on each trace's start (W5-01: on each tool call's start).

W = {  # id: (start, end)
    "W5-01": ("2027-11-08T13:07:00Z", "2027-11-09T17:32:00Z"),   # lookup_timesheet latency ramp
    "W5-02": ("2027-11-07T07:38:00Z", "2027-11-08T19:05:00Z"),   # reasoning effort high, expense_audit
    "W5-03": ("2027-11-05T21:41:00Z", "2027-11-08T15:20:00Z"),   # Anthropic cache writes, support_chat
    "W5-04": ("2027-11-05T14:09:00Z", "2027-11-06T20:45:00Z"),   # stale retriever, benefits_qa
    "W5-05": ("2027-11-06T15:12:00Z", "2027-11-08T16:40:00Z"),   # refusals after hr-2.0, hr_helpdesk
    "W5-06": ("2027-11-05T13:22:00Z", "2027-11-05T15:47:00Z"),   # get_paystub retry loop, payroll_agent
    "W5-07": ("2027-11-08T15:53:00Z", "2027-11-09T11:40:00Z"),   # benefits_qa x gpt-4.1-mini quality
    "W5-08": ("2027-11-09T13:05:00Z", "2027-11-10T00:00:00Z"),   # prompt bqa-v9 canary 10% -> 100%
    "W5-N1": ("2027-11-09T14:22:00Z", "2027-11-09T14:36:00Z"),   # support_chat LLM latency blip
    "W5-N2": ("2027-11-09T03:12:00Z", "2027-11-09T03:24:00Z"),   # one user, benefits refusals
    "W5-N3": ("2027-11-05T16:10:00Z", "2027-11-05T16:30:00Z"),   # one huge expense report
    "W5-N4": ("2027-11-05T18:31:00Z", "2027-11-05T18:43:00Z"),   # calculate_withholding timeouts
    "W5-N5": ("2027-11-08T11:20:00Z", "2027-11-08T11:32:00Z"),   # benefits announcement burst, cafe-aurora
}
WN = {k: (_ns(a), _ns(b)) for k, (a, b) in W.items()}
RAMP_END = _ns("2027-11-09T15:30:00Z")        # W5-01 reaches 9x here and holds until the index is added
CANARY = [(_ns("2027-11-09T13:05:00Z"), 0.10), (_ns("2027-11-09T15:05:00Z"), 0.30),
          (_ns("2027-11-09T18:05:00Z"), 1.0)]
DOCS_2028_PUBLISHED = WN["W5-04"][0]           # the 2028 plan documents go live; the indexer is already broken


def _inside(key: str, t: int) -> bool:
    a, b = WN[key]
    return a <= t < b


def _ramp(t: int) -> float:
    a, b = WN["W5-01"]
    if t < a or t >= b:
        return 1.0
    return 1.0 + 8.0 * min(1.0, (t - a) / (RAMP_END - a))


# ---------------------------------------------------------------------------------------------------------
# Text

REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I’m sorry, but I can’t assist with that request.",
    "I can't provide legal advice about terminating an employee. For guidance on your situation, please contact "
    "your HR business partner or employment counsel.",
    "I’m not able to help with questions about another employee’s compensation.",
    "I'm unable to assist with that. If you have questions about company policy, please reach out to your HR "
    "representative.",
    "Sorry, I can't help with that request.",
    "I can’t help with that, but I can point you to the Employee Handbook section on leave.",
    "I apologize, but I cannot provide guidance on that topic.",
    "Unfortunately, I'm not able to answer that. Please contact HR directly.",
    "I won't be able to help with that one. Is there something else about your benefits I can look up?",
]
BENIGN = [
    "Sorry for the wait! Here's what I found: ",
    "I can't wait to help you get this sorted. ",
    "Unfortunately the October deadline has passed, but you can still make a change within 30 days of a "
    "qualifying life event. ",
    "I'm sorry to hear about your loss. ",
]
BENEFITS_Q = [
    ("What is the deductible on the {plan} plan?", "deductible"),
    ("Does the {plan} plan cover physical therapy?", "coverage"),
    ("How much does adding my spouse to {plan} cost per paycheck?", "premium"),
    ("What's the HSA contribution limit?", "hsa"),
    ("Is my dentist in network for the dental PPO?", "network"),
    ("How do I add a newborn to my coverage?", "life_event"),
]
PLANS = ["Blue PPO", "HDHP Silver", "Kaiser HMO", "Dental PPO", "Vision Plus"]
HR_Q = [
    ("How many PTO days do I accrue per month?", "pto", False),
    ("Can I carry over unused vacation into next year?", "pto", False),
    ("What is the process for terminating an employee in their probation period?", "termination", True),
    ("How is overtime calculated for non-exempt staff in {state}?", "overtime", True),
    ("What should I tell an employee asking about FMLA leave?", "leave", True),
    ("Can I see the salary band for a senior analyst?", "compensation", True),
    ("Where do I update my direct deposit?", "payroll", False),
    ("How do I request parental leave?", "leave", True),
]
STATES = ["NY", "TX", "CA", "CO", "WA", "IL"]
SUPPORT_Q = [
    ("Why was our November invoice higher than October?", "getInvoice"),
    ("How do I add a new pay group for our Canadian staff?", "searchKb"),
    ("An employee can't log in to the mobile app, what should I check?", "searchKb"),
    ("Can you resend invoice {inv}?", "getInvoice"),
    ("How do I turn on SSO with Okta?", None),
]
PAYROLL_Q = [
    ("Why is my net pay lower this period?", ["get_paystub", "calculate_withholding"]),
    ("Show me my last paystub.", ["get_paystub"]),
    ("How many hours did I log last week?", ["lookup_timesheet"]),
    ("Did my overtime from last week get paid?", ["lookup_timesheet", "get_paystub"]),
    ("What would my withholding be if I claim two dependents?", ["calculate_withholding"]),
]


def _clip(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return round(max(lo, min(hi, x)), 3)


# ---------------------------------------------------------------------------------------------------------
# Spans (an internal form, written out per service by the writers below)

@dataclass
class Span:
    trace_id: str
    span_id: str
    parent: str | None
    name: str
    kind: int              # OTLP SpanKind: 1 internal, 2 server, 3 client
    start: int
    end: int
    attrs: dict[str, Any]
    service: str
    status: tuple[int, str] = (0, "")
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Evaluation:
    """One gen_ai.evaluation.result log record."""
    service: str
    trace_id: str
    span_id: str
    time: int
    attrs: dict[str, Any]


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
        labels: dict[str, Any] = json.loads(self.incidents.read_text())
        return labels


class _Gen:
    def __init__(self, seed: int, scale: float) -> None:
        self.rng = random.Random(seed)
        self.scale = scale
        self.spans: list[Span] = []
        self.evals: list[Evaluation] = []
        self.flat: list[tuple[int, dict[str, Any]]] = []      # (trace start, record) for hr-helpdesk
        self.trace_route: dict[str, str] = {}
        self.trace_tenant: dict[str, str] = {}
        self.trace_start: dict[str, int] = {}
        self.cache_warm: dict[str, int] = {}                   # support_chat: last use of the cached prefix (ns)
        self.flat_evals = 0

    # ids -------------------------------------------------------------------------------------------
    def tid(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def sid(self) -> str:
        return f"{self.rng.getrandbits(64) | 1:016x}"

    def lognorm(self, median_ms: float, sigma: float) -> int:
        return int(median_ms * math.exp(self.rng.gauss(0, sigma)) * MS_NS)

    def user(self, tenant: str, pool: str, n: int) -> str:
        return f"{tenant[:3]}-{pool}-{self.rng.randrange(n):03d}"

    def session(self, user: str, t: int) -> str:
        """A session groups one user's requests within a 2-hour block."""
        return f"{user}-{datetime.fromtimestamp(t // SEC_NS, tz=timezone.utc):%Y%m%d}-{(t // (7200 * SEC_NS)) % 12:02d}"

    def register(self, trace_id: str, route: str, tenant: str, t: int) -> None:
        self.trace_route[trace_id] = route
        self.trace_tenant[trace_id] = tenant
        self.trace_start[trace_id] = t

    # arrivals --------------------------------------------------------------------------------------
    def arrivals(self) -> list[tuple[int, str, str, str]]:
        """(start ns, route, tenant, why) of every request of the week, in time order."""
        out: list[tuple[int, str, str, str]] = []
        t0 = _ns("2027-11-03T00:00:00Z")
        for minute in range(DAYS * 1440):
            t = t0 + minute * MIN_NS
            for route, daily in DAILY.items():
                for tenant, (zone, share) in TENANTS.items():
                    loc = _local(zone, t)
                    h = loc.hour + loc.minute / 60
                    lam = daily * share * _shape(route, h, loc.weekday() >= 5) / _NORM[route]
                    lam *= _growth(route, t) * self.scale
                    for _ in range(self._poisson(lam)):
                        out.append((t + self.rng.randrange(60 * 1000) * MS_NS, route, tenant, "organic"))
            # the expense auditor's nightly re-audit of pending reports: weeknights at 02:00 New York time
            ny = _local("America/New_York", t)
            if ny.weekday() < 5 and ny.hour == 2 and ny.minute < 40 and self.rng.random() < 0.6 * self.scale:
                tenant = self.rng.choices(list(TENANTS), [s for _z, s in TENANTS.values()])[0]
                out.append((t + self.rng.randrange(60 * 1000) * MS_NS, "expense_audit", tenant, "nightly"))
        # blips that are extra traffic
        a, _b = WN["W5-N5"]
        for k in range(24):
            out.append((a + int((k * 29 + self.rng.randrange(25)) * SEC_NS), "benefits_qa", "cafe-aurora", "N5"))
        a, _b = WN["W5-N2"]
        for k in range(5):
            out.append((a + (k * 130 + self.rng.randrange(60)) * SEC_NS, "benefits_qa", "cascadia-health", "N2"))
        a, _b = WN["W5-N3"]
        for k in range(2):
            out.append((a + (k * 540 + 90 + self.rng.randrange(60)) * SEC_NS, "expense_audit", "lonestar-logistics",
                        "N3"))
        a, _b = WN["W5-N4"]
        for k in range(3):
            out.append((a + (k * 200 + 40 + self.rng.randrange(60)) * SEC_NS, "payroll_agent", "hudson-capital",
                        "N4"))
        out.sort(key=lambda x: (x[0], x[1], x[2]))
        return out

    def _poisson(self, lam: float) -> int:
        if lam <= 0:
            return 0
        limit, k, p = math.exp(-lam), 0, self.rng.random()
        while p > limit:
            k += 1
            p *= self.rng.random()
        return k

    def run(self) -> None:
        for t, route, tenant, why in self.arrivals():
            getattr(self, route)(t, tenant, why)

    # feedback ----------------------------------------------------------------------------------------
    def feedback(self, service: str, trace_id: str, span_id: str, t: int, p_down: float, p_any: float,
                 source: str = "app") -> None:
        if self.rng.random() >= p_any:
            return
        down = self.rng.random() < p_down
        self.evals.append(Evaluation(service, trace_id, span_id, t + self.rng.randrange(20, 400) * SEC_NS, {
            "event.name": "gen_ai.evaluation.result",
            "gen_ai.evaluation.name": "user_feedback",
            "gen_ai.evaluation.score.value": 0.0 if down else 1.0,
            "gen_ai.evaluation.score.label": "thumbs_down" if down else "thumbs_up",
            "gen_ai.evaluator.id": f"{source}-feedback-widget",
            "gen_ai.evaluator.type": "human",
        }))

    def judge(self, trace_id: str, span_id: str, t: int, name: str, score: float, response_id: str,
              explanation: str, threshold: float | None = None) -> None:
        attrs: dict[str, Any] = {
            "event.name": "gen_ai.evaluation.result",
            "gen_ai.evaluation.name": name,
            "gen_ai.evaluation.score.value": score,
            "gen_ai.response.id": response_id,
            "gen_ai.evaluator.id": f"ragas.{name}",
            "gen_ai.evaluator.version": "0.3.4",
            "gen_ai.evaluator.type": "llm",
            "gen_ai.evaluation.explanation": explanation,
        }
        if threshold is not None:
            attrs["gen_ai.evaluation.score.label"] = "pass" if score >= threshold else "fail"
        self.evals.append(Evaluation("ragas-judge-worker", trace_id, span_id, t + self.rng.randrange(40, 240) * SEC_NS,
                                     attrs))

    def opener(self) -> str:
        return self.rng.choice(BENIGN) if self.rng.random() < 0.03 else ""

    # ===== benefits_qa: LangChain (LCEL retrieval chain) through OpenInference ===========================
    def benefits_qa(self, t: int, tenant: str, why: str) -> None:
        rng = self.rng
        tr = self.tid()
        self.register(tr, "benefits_qa", tenant, t)
        user = "cas-emp-017" if why == "N2" else self.user(tenant, "emp", 90)
        sess = self.session(user, t)
        q_tpl, topic = rng.choice(BENEFITS_Q)
        plan = rng.choice(PLANS)
        # open enrolment: once the 2028 documents are out, a growing share of questions is about next year
        asks_2028 = t >= DOCS_2028_PUBLISHED and rng.random() < min(0.65, 0.3 + 0.25 * (t - DOCS_2028_PUBLISHED)
                                                                      / (86400 * SEC_NS))
        question = q_tpl.format(plan=plan) + (" For 2028." if asks_2028 else "")
        stale = asks_2028 and _inside("W5-04", t)
        version = "bqa-v8"
        if t >= CANARY[0][0]:
            share = [s for a, s in CANARY if a <= t][-1]
            version = "bqa-v9" if rng.random() < share else "bqa-v8"
        model = "gpt-4.1-mini" if rng.random() < 0.22 else "claude-haiku-4-5"
        pair = model == "gpt-4.1-mini" and _inside("W5-07", t)
        n2 = why == "N2"
        k_docs = 3 if version == "bqa-v9" else 5
        md = {"route": "benefits_qa", "tenant": tenant, "open_enrollment": True}
        common = {"session.id": sess, "user.id": user, "metadata": orjson.dumps(md).decode(),
                  "tag.tags": ["open-enrollment-2028"], "llm.prompt_template.version": version}
        root = self.sid()
        ret_ms = self.lognorm(140, 0.3)
        prompt_ms = self.lognorm(2, 0.3)
        year = 2027 if (not asks_2028 or stale) else 2028
        docs = []
        for i in range(k_docs):
            page = rng.randrange(3, 80)
            score = round(0.86 - 0.035 * i + rng.gauss(0, 0.025), 4)
            docs.append((f"spd-{year}-{plan.lower().replace(' ', '-')}#p{page}", score,
                         f"{plan} {year} summary plan description, page {page}: {topic} terms for plan year {year}.",
                         {"plan_year": year, "source": f"s3://harborline-docs/spd/{year}/",
                          "indexed_at": "2027-11-04T03:12:00Z" if year == 2027 else "2027-11-06T21:02:00Z"}))
        in_tok = 650 + k_docs * 410 + rng.randrange(0, 260)
        refuse = n2 and rng.random() < 0.85 or (not n2 and rng.random() < 0.004)
        if refuse:    # the phrasings that fit a benefits question (not the HR-policy ones)
            answer = rng.choice([REFUSALS[k] for k in (0, 1, 3, 5, 7, 9)])
            out_tok = len(answer) // 4 + 3
        else:
            length = rng.randrange(160, 320)
            if version == "bqa-v9":
                length = int(length * 0.55)
            if pair:
                length = int(length * 0.7)
            cite = "" if (pair or version == "bqa-v9") else f" (Source: {docs[0][0]})"
            answer = (self.opener() + f"For the {plan} plan in {year}, the {topic} works as follows: "
                      + "employees pay the listed amount per pay period and the plan covers in-network care. "
                      * max(1, length // 100) + cite)
            out_tok = length
        llm_ms = self.lognorm(550 if model.startswith("claude") else 480, 0.25) + int(out_tok / 95 * 1000) * MS_NS
        t_ret = t + self.lognorm(8, 0.3)
        t_prompt = t_ret + ret_ms + MS_NS
        t_llm = t_prompt + prompt_ms + MS_NS
        t_parse = t_llm + llm_ms + MS_NS
        end = t_parse + 2 * MS_NS
        sv = "benefits-assistant"
        out_doc = orjson.dumps({"output": answer}).decode()
        self.spans.append(Span(tr, root, None, "RunnableSequence", 1, t, end, {
            "openinference.span.kind": "CHAIN", "input.value": orjson.dumps({"input": question}).decode(),
            "input.mime_type": "application/json", "output.value": answer, "output.mime_type": "text/plain",
            **common}, sv))
        ret = {"openinference.span.kind": "RETRIEVER", "input.value": question, **common}
        for i, (doc_id, score, content, meta) in enumerate(docs):
            ret[f"retrieval.documents.{i}.document.id"] = doc_id
            ret[f"retrieval.documents.{i}.document.score"] = score
            ret[f"retrieval.documents.{i}.document.content"] = content
            ret[f"retrieval.documents.{i}.document.metadata"] = orjson.dumps(meta).decode()
        self.spans.append(Span(tr, self.sid(), root, "VectorStoreRetriever", 1, t_ret, t_ret + ret_ms, ret, sv))
        self.spans.append(Span(tr, self.sid(), root, "ChatPromptTemplate", 1, t_prompt, t_prompt + prompt_ms, {
            "openinference.span.kind": "CHAIN", "input.value": orjson.dumps({"question": question}).decode(),
            "input.mime_type": "application/json",
            "llm.prompt_template.template": "You answer employees' benefits questions from the plan documents.\n"
                                            "Context: {context}\nQuestion: {question}",
            "llm.prompt_template.variables": orjson.dumps({"question": question}).decode(), **common}, sv))
        llm_id = self.sid()
        if model.startswith("claude"):
            llm_name, provider, snapshot = "ChatAnthropic", "anthropic", "claude-haiku-4-5-20251001"
            resp_id = f"msg_01{rng.getrandbits(80):020x}"
            ls = {"ls_provider": "anthropic", "ls_model_name": model, "ls_model_type": "chat", "ls_temperature": 0.1}
        else:
            llm_name, provider, snapshot = "ChatOpenAI", "openai", "gpt-4.1-mini-2025-04-14"
            resp_id = f"chatcmpl-{rng.getrandbits(96):024x}"
            ls = {"ls_provider": "openai", "ls_model_name": model, "ls_model_type": "chat", "ls_temperature": 0.1}
        context = "\n".join(d[2] for d in docs)
        self.spans.append(Span(tr, llm_id, root, llm_name, 1, t_llm, t_llm + llm_ms, {
            "openinference.span.kind": "LLM", "llm.model_name": snapshot, "llm.provider": provider,
            "llm.system": provider,
            "llm.invocation_parameters": orjson.dumps({"model": model, "temperature": 0.1,
                                                       "max_tokens": 1024}).decode(),
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": f"You answer employees' benefits questions.\nContext:\n{context}",
            "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": question,
            "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": answer,
            "llm.token_count.prompt": in_tok, "llm.token_count.completion": out_tok,
            "llm.token_count.total": in_tok + out_tok,
            "session.id": sess, "user.id": user, "tag.tags": ["open-enrollment-2028"],
            "llm.prompt_template.version": version,
            "metadata": orjson.dumps({**md, **ls}).decode(),
            "input.value": question, "output.value": answer}, sv))
        self.spans.append(Span(tr, self.sid(), root, "StrOutputParser", 1, t_parse, t_parse + MS_NS, {
            "openinference.span.kind": "CHAIN", "input.value": answer, "output.value": out_doc, **common}, sv))
        # the online judge (~55% of answers): groundedness against the retrieved context, answer correctness
        # against the benefits team's reference answers for the plan year the employee asked about
        if refuse:
            return
        if rng.random() < 0.55:
            g = rng.gauss(0.87, 0.06)
            c = rng.gauss(0.85, 0.08)
            if stale:
                c = rng.gauss(0.32, 0.12)     # grounded in the retrieved (2027) text, wrong for 2028
            if pair:
                g, c = rng.gauss(0.52, 0.12), rng.gauss(0.6, 0.12)
            if version == "bqa-v9":
                g, c = rng.gauss(0.64, 0.1), rng.gauss(0.63, 0.1)
            self.judge(tr, llm_id, t_parse, "groundedness", _clip(g), resp_id,
                       "Claims checked against the retrieved plan documents.")
            self.judge(tr, llm_id, t_parse, "answer_correctness", _clip(c), resp_id,
                       "Compared with the reference answer for the plan year asked about.", threshold=0.6)
        p_down = 0.05
        if stale:
            p_down = 0.38
        elif pair:
            p_down = 0.15
        elif version == "bqa-v9":
            p_down = 0.2
        self.feedback(sv, tr, llm_id, end, p_down, 0.11, "benefits")

    # ===== support_chat: Next.js route handler + Vercel AI SDK 5 streamText with @ai-sdk/anthropic ========
    def support_chat(self, t: int, tenant: str, why: str) -> None:
        rng = self.rng
        tr = self.tid()
        self.register(tr, "support_chat", tenant, t)
        user = self.user(tenant, "admin", 14)
        q_tpl, tool = rng.choice(SUPPORT_Q)
        question = q_tpl.format(inv=f"INV-{rng.randrange(20000, 29999)}")
        busting = _inside("W5-03", t)
        slow = _inside("W5-N1", t)
        prefix = 6150 + rng.randrange(0, 40)          # system prompt + tool definitions
        sv = "console-web"
        meta = {"ai.telemetry.metadata.route": "support_chat", "ai.telemetry.metadata.tenant": tenant,
                "ai.telemetry.metadata.userId": user, "ai.telemetry.metadata.sessionId": self.session(user, t)}
        root = self.sid()
        stream_id = self.sid()
        steps = 2 if tool else 1
        cur = t + self.lognorm(25, 0.3)
        t_stream = cur
        texts: list[str] = []
        in_msgs = 0
        usage_tot = [0, 0, 0]
        step_spans: list[Span] = []
        for step in range(steps):
            final = step == steps - 1
            # the cached prefix (system prompt + tool definitions) is the same for every tenant: the tenant's
            # account summary comes after the cache breakpoint
            last = self.cache_warm.get("prefix")
            if busting:
                # the timestamp in the system prompt differs per request: the first call writes the prefix,
                # a second call of the same request reads what the first wrote
                write, read = (prefix, 0) if step == 0 else (0, prefix)
            elif last is None or cur - last > 5 * 60 * SEC_NS:   # 5-minute TTL expired: write it again
                write, read = prefix, 0
            else:
                write, read = 0, prefix
            self.cache_warm["prefix"] = cur
            uncached = 220 + len(question) // 4 + in_msgs + rng.randrange(0, 120)
            out_tok = rng.randrange(40, 90) if not final else rng.randrange(160, 380)
            ttft = self.lognorm(900, 0.25) + (int(write / 6000 * 650) * MS_NS if write else 0)
            if slow:
                ttft *= 4
            dur = ttft + int(out_tok / 70 * 1000) * MS_NS
            resp_id = f"msg_01{rng.getrandbits(80):020x}"
            if final:
                if rng.random() < 0.004:
                    text = rng.choice(REFUSALS)
                else:
                    text = self.opener() + ("Your November invoice includes 12 new employees added on Oct 18 and "
                                            "the annual ACA filing fee. " if tool == "getInvoice" else
                                            "Go to Settings → Pay groups → New, pick the CAD currency and the "
                                            "province; the first run needs an approval from an owner. ")
                finish = "stop"
            else:
                text = ""
                finish = "tool-calls"
            pm = {"anthropic": {"cacheCreationInputTokens": write,
                                "usage": {"input_tokens": uncached, "output_tokens": out_tok,
                                          "cache_creation_input_tokens": write, "cache_read_input_tokens": read,
                                          "cache_creation": {"ephemeral_5m_input_tokens": write,
                                                             "ephemeral_1h_input_tokens": 0},
                                          "service_tier": "standard"}}}
            attrs = {
                "operation.name": "ai.streamText.doStream support-chat", "ai.operationId": "ai.streamText.doStream",
                "ai.model.id": "claude-sonnet-4-5", "ai.model.provider": "anthropic.messages",
                "ai.telemetry.functionId": "support-chat", **meta,
                "ai.prompt.messages": orjson.dumps([{"role": "system", "content": "You are Harborline's support "
                                                     "assistant for payroll administrators."},
                                                    {"role": "user", "content": [{"type": "text",
                                                                                  "text": question}]}]).decode(),
                "ai.prompt.toolChoice": '{"type":"auto"}',
                "ai.settings.maxRetries": 2,
                "ai.response.finishReason": finish, "ai.response.id": resp_id,
                "ai.response.model": "claude-sonnet-4-5-20250929",
                "ai.response.timestamp": _iso_ms(cur + ttft),
                "ai.response.msToFirstChunk": round(ttft / MS_NS, 1),
                "ai.response.msToFinish": round(dur / MS_NS, 1),
                "ai.response.avgOutputTokensPerSecond": round(out_tok / (dur / SEC_NS), 2),
                "ai.response.providerMetadata": orjson.dumps(pm).decode(),
                "ai.usage.inputTokens": uncached, "ai.usage.outputTokens": out_tok,
                "ai.usage.totalTokens": uncached + out_tok, "ai.usage.cachedInputTokens": read,
                "gen_ai.system": "anthropic.messages", "gen_ai.request.model": "claude-sonnet-4-5",
                "gen_ai.request.max_tokens": 2048, "gen_ai.response.finish_reasons": [finish],
                "gen_ai.response.id": resp_id, "gen_ai.response.model": "claude-sonnet-4-5-20250929",
                "gen_ai.usage.input_tokens": uncached, "gen_ai.usage.output_tokens": out_tok,
            }
            if final:
                attrs["ai.response.text"] = text
                texts.append(text)
            else:
                call_id = f"toolu_01{rng.getrandbits(80):020x}"
                attrs["ai.response.toolCalls"] = orjson.dumps([{"toolCallType": "function", "toolCallId": call_id,
                                                                "toolName": tool,
                                                                "input": '{"query":"' + tool + '"}'}]).decode()
            sp = Span(tr, self.sid(), stream_id, "ai.streamText.doStream", 3, cur, cur + dur, attrs, sv,
                      events=[("ai.stream.firstChunk", cur + ttft, {"ai.response.msToFirstChunk":
                                                                       round(ttft / MS_NS, 1)}),
                              ("ai.stream.finish", cur + dur, {})])
            step_spans.append(sp)
            usage_tot = [usage_tot[0] + uncached, usage_tot[1] + out_tok, usage_tot[2] + read]
            cur += dur + MS_NS
            if not final:
                tdur = self.lognorm(260, 0.4)
                result = ('{"invoice":"INV-2417","total":18234.55,"lines":14}' if tool == "getInvoice"
                          else '{"articles":[{"id":"kb-1182","title":"Pay groups"}]}')
                step_spans.append(Span(tr, self.sid(), stream_id, "ai.toolCall", 1, cur, cur + tdur, {
                    "operation.name": "ai.toolCall support-chat", "ai.operationId": "ai.toolCall",
                    "ai.toolCall.name": tool, "ai.toolCall.id": call_id, "ai.toolCall.args": '{"query":"%s"}' % tool,
                    "ai.toolCall.result": result, "ai.telemetry.functionId": "support-chat", **meta}, sv))
                cur += tdur + MS_NS
                in_msgs += 180
        end_stream = cur
        answer = texts[-1]
        root_attrs = {"http.method": "POST", "http.route": "/api/support/chat", "http.status_code": 200,
                      "http.target": "/api/support/chat", "next.span_type": "BaseServer.handleRequest",
                      "next.route": "/api/support/chat", "next.span_name": "POST /api/support/chat"}
        self.spans.append(Span(tr, root, None, "POST /api/support/chat", 2, t, end_stream + 4 * MS_NS, root_attrs,
                               sv))
        self.spans.append(Span(tr, stream_id, root, "ai.streamText", 1, t_stream, end_stream, {
            "operation.name": "ai.streamText support-chat", "ai.operationId": "ai.streamText",
            "ai.model.id": "claude-sonnet-4-5", "ai.model.provider": "anthropic.messages",
            "ai.telemetry.functionId": "support-chat", **meta,
            "ai.prompt": orjson.dumps({"system": "You are Harborline's support assistant for payroll "
                                                 "administrators.", "messages": [{"role": "user",
                                                                                   "content": question}]}).decode(),
            "ai.settings.maxRetries": 2, "ai.settings.stopWhen": "stepCountIs(5)",
            "ai.response.finishReason": "stop", "ai.response.text": answer,
            "ai.usage.inputTokens": usage_tot[0], "ai.usage.outputTokens": usage_tot[1],
            "ai.usage.totalTokens": usage_tot[0] + usage_tot[1], "ai.usage.cachedInputTokens": usage_tot[2]}, sv))
        self.spans.extend(step_spans)
        self.feedback(sv, tr, step_spans[-1].span_id, end_stream, 0.06, 0.08, "console")

    # ===== payroll_agent: Strands Agents on Amazon Bedrock (Converse) ======================================
    def payroll_agent(self, t: int, tenant: str, why: str) -> None:
        rng = self.rng
        tr = self.tid()
        self.register(tr, "payroll_agent", tenant, t)
        user = "hud-emp-041" if why == "N4" else self.user(tenant, "emp", 60)
        question, tools = rng.choice(PAYROLL_Q)
        if why == "N4":
            question, tools = PAYROLL_Q[4]
        looping = "get_paystub" in tools and _inside("W5-06", t)
        sv = "payroll-agent"
        model = "us.anthropic.claude-sonnet-4-20250514-v1:0"
        # Agent(trace_attributes=...) puts the app's cohort attributes on the agent span only; the cycle,
        # model and tool spans carry Strands' own attributes
        base = {"gen_ai.system": "strands-agents"}
        cohort = {"gen_ai.agent.name": "payroll_assistant", "tenant.id": tenant, "app.route": "payroll_agent",
                  "user.id": user, "session.id": self.session(user, t)}
        root = self.sid()
        cur = t + self.lognorm(6, 0.3)
        in_tok_base = 2400 + rng.randrange(0, 300)
        ctx = 0
        cycles: list[list[str]] = [[tool] for tool in tools]
        if looping:       # the payroll provider answers PENDING: the agent asks again, cycle after cycle
            extra = rng.randrange(4, 8)
            cycles = [["get_paystub"]] * (1 + extra) + [[x] for x in tools if x != "get_paystub"]
        cycles.append([])           # the final cycle answers
        children: list[Span] = []
        usage = [0, 0]
        answer = ""
        failed_once = False
        for ci, cycle_tools in enumerate(cycles):
            cyc_id = self.sid()
            c_start = cur
            chat_in = in_tok_base + ctx
            final = not cycle_tools
            out_tok = rng.randrange(50, 120) if not final else rng.randrange(120, 300)
            chat_ms = self.lognorm(1100, 0.3) + int(out_tok / 60 * 1000) * MS_NS
            chat_id = self.sid()
            if final:
                if looping:
                    answer = ("I wasn't able to retrieve your latest paystub: the payroll provider is still "
                              "processing it. Please try again in a few hours.")
                elif rng.random() < 0.004:
                    answer = rng.choice(REFUSALS)
                else:
                    answer = self.opener() + ("Your net pay went down by $84.12 because your 401(k) contribution "
                                              "rose to 6% and the state withholding table changed on Nov 1.")
            msgs_out = ([{"text": answer}] if final else
                        [{"toolUse": {"toolUseId": f"tooluse_{rng.getrandbits(64):016x}", "name": cycle_tools[0],
                                      "input": {"period": "current"}}}])
            children.append(Span(tr, chat_id, cyc_id, "chat", 3, cur, cur + chat_ms, {
                **base, "gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                "gen_ai.usage.prompt_tokens": chat_in, "gen_ai.usage.input_tokens": chat_in,
                "gen_ai.usage.completion_tokens": out_tok, "gen_ai.usage.output_tokens": out_tok,
                "gen_ai.usage.total_tokens": chat_in + out_tok, "gen_ai.server.time_to_first_token":
                    int(chat_ms / MS_NS * 0.4), "gen_ai.server.request.duration": int(chat_ms / MS_NS)}, sv,
                events=[("gen_ai.user.message", cur, {"content": orjson.dumps([{"text": question}]).decode()}),
                        ("gen_ai.choice", cur + chat_ms, {"message": orjson.dumps(msgs_out).decode(),
                                                          "finish_reason": "end_turn" if final else "tool_use"})]))
            usage = [usage[0] + chat_in, usage[1] + out_tok]
            cur += chat_ms + MS_NS
            for tool in cycle_tools:
                t_ms = {"get_paystub": 420, "lookup_timesheet": 380, "calculate_withholding": 150}[tool]
                dur = self.lognorm(t_ms, 0.35)
                status, result, err = "success", '{"status":"OK"}', None
                if tool == "lookup_timesheet":
                    dur = int(dur * _ramp(cur))
                    result = '{"week":"2027-W44","hours":41.5,"overtime":1.5}'
                if tool == "get_paystub":
                    result = ('{"status":"PENDING","retry_after_s":2}' if looping else
                              '{"status":"OK","net_pay":2311.40,"period_end":"2027-10-31"}')
                if tool == "calculate_withholding":
                    if why == "N4" and not failed_once:
                        dur = 10 * SEC_NS
                        status, err = "error", "TimeoutError: withholding service did not answer in 10s"
                        failed_once = True
                    elif rng.random() < 0.008:
                        status, err = "error", "ValueError: unsupported filing status"
                    else:
                        result = '{"federal":212.33,"state":61.10}'
                tool_id = f"tooluse_{rng.getrandbits(64):016x}"
                children.append(Span(tr, self.sid(), cyc_id, f"execute_tool {tool}", 1, cur, cur + dur, {
                    **base, "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool,
                    "gen_ai.tool.call.id": tool_id, "gen_ai.tool.status": status}, sv,
                    status=(2, err) if err else (0, ""),
                    events=[("gen_ai.tool.message", cur, {"role": "tool", "id": tool_id,
                                                          "content": '{"period":"current"}'}),
                            ("gen_ai.choice", cur + dur, {"message": err or result, "id": tool_id})]))
                cur += dur + MS_NS
                ctx += 220
                if err and why == "N4":       # the agent tries the tool again in the next cycle
                    cycles.insert(ci + 1, ["calculate_withholding"])
            children.append(Span(tr, cyc_id, root, "execute_event_loop_cycle", 1, c_start, cur, {
                **base, "event_loop.cycle_id": f"{rng.getrandbits(122):032x}"}, sv))
            cur += MS_NS
        end = cur
        root_span = Span(tr, root, None, "invoke_agent payroll_assistant", 1, t, end, {
            **base, **cohort, "gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": model,
            "gen_ai.agent.tools": orjson.dumps(["get_paystub", "lookup_timesheet",
                                                "calculate_withholding"]).decode(),
            "gen_ai.usage.prompt_tokens": usage[0], "gen_ai.usage.input_tokens": usage[0],
            "gen_ai.usage.completion_tokens": usage[1], "gen_ai.usage.output_tokens": usage[1],
            "gen_ai.usage.total_tokens": sum(usage)}, sv,
            events=[("gen_ai.user.message", t, {"content": orjson.dumps([{"text": question}]).decode()}),
                    ("gen_ai.choice", end, {"message": answer, "finish_reason": "end_turn"})])
        self.spans.append(root_span)
        self.spans.extend(children)
        self.feedback(sv, tr, root, end, 0.3 if looping else 0.05, 0.09, "payroll")

    # ===== hr_helpdesk: a Go service's own JSONL logger (flat records) ===================================
    def hr_helpdesk(self, t: int, tenant: str, why: str) -> None:
        rng = self.rng
        tr = self.tid()
        self.register(tr, "hr_helpdesk", tenant, t)
        user = self.user(tenant, "mgr", 30)
        q_tpl, topic, sensitive = rng.choice(HR_Q)
        question = q_tpl.format(state=rng.choice(STATES))
        version = "hr-2.0" if _inside("W5-05", t) else "hr-1.9"
        md = {"route": "hr_helpdesk", "tenant": tenant, "prompt_version": version, "region": "us-east-2"}
        refuse = rng.random() < (0.2 if (version == "hr-2.0" and sensitive) else 0.004)
        if refuse:
            answer = rng.choice(REFUSALS)
            out_tok = len(answer) // 4 + 2
        else:
            answer = self.opener() + (f"Per the {tenant} handbook, section 4.2: {topic} requests go through your "
                                      "manager in Workday; allow 5 business days. ")
            out_tok = rng.randrange(120, 260)
        in_tok = 1650 + rng.randrange(0, 400) + (240 if version == "hr-2.0" else 0)
        cost = round(in_tok * 0.4e-6 + out_tok * 1.6e-6, 7)
        kb_ms = int(self.lognorm(95, 0.3) / MS_NS)
        llm_ms = int((self.lognorm(480, 0.25) + int(out_tok / 90 * 1000) * MS_NS) / MS_NS)
        start_ms = t // MS_NS
        root = f"{rng.getrandbits(64):016x}"
        sess = self.session(user, t)
        base = {"trace_id": tr, "session_id": sess, "user_id": user, "service": "hr-helpdesk", "metadata": md}
        total = kb_ms + llm_ms + 6
        self.flat.append((t, {**base, "span_id": root, "name": "handle_question", "kind": "CHAIN",
                              "timestamp": start_ms, "latency_ms": total, "input": question, "output": answer}))
        kb = f"{rng.getrandbits(64):016x}"
        self.flat.append((t, {**base, "span_id": kb, "parent_id": root, "name": "kb_search", "kind": "RETRIEVER",
                              "timestamp": start_ms + 2, "latency_ms": kb_ms, "input": question,
                              "output": f"3 handbook sections on {topic}"}))
        rec: dict[str, Any] = {**base, "span_id": f"{rng.getrandbits(64):016x}", "parent_id": root, "name": "answer",
                               "kind": "LLM", "timestamp": start_ms + kb_ms + 4, "latency_ms": llm_ms,
                               "model": "gpt-4.1-mini", "provider": "openai",
                               "input": [{"role": "system", "content": "You are the HR helpdesk for managers."},
                                         {"role": "user", "content": question}],
                               "output": answer, "prompt_tokens": in_tok, "completion_tokens": out_tok,
                               "cost": cost}
        scores = []
        if not refuse and rng.random() < 0.5:
            scores.append({"name": "groundedness", "score": _clip(rng.gauss(0.86, 0.06)), "source": "judge"})
        if rng.random() < 0.1:
            down = rng.random() < (0.3 if refuse else 0.05)
            scores.append({"name": "user_feedback", "score": 0 if down else 1,
                           "label": "thumbs_down" if down else "thumbs_up", "source": "human"})
        if scores:
            rec["scores"] = scores
            self.flat_evals += len(scores)
        self.flat.append((t, rec))

    # ===== expense_audit: OpenAI Agents SDK instrumented by Logfire (logfire.instrument_openai_agents) ====
    def expense_audit(self, t: int, tenant: str, why: str) -> None:
        rng = self.rng
        tr = self.tid()
        self.register(tr, "expense_audit", tenant, t)
        user = {"nightly": "batch-reaudit", "N3": "lon-emp-008"}.get(why) or self.user(tenant, "emp", 70)
        sv = "expense-auditor"
        high = _inside("W5-02", t)
        receipts = 60 if why == "N3" else rng.randrange(1, 6)
        bag = {"route": "expense_audit", "tenant": tenant, "enduser.id": user,
               "trigger": "nightly" if why == "nightly" else "submission"}
        root = self.sid()
        agent = self.sid()
        cur = t + self.lognorm(4, 0.3)
        t_agent = cur
        children: list[Span] = []

        def schema(props: dict[str, Any]) -> str:
            return orjson.dumps({"type": "object", "properties": props}).decode()

        def responses(parent: str, n_in: int, final: bool, agent_name: str) -> None:
            nonlocal cur
            reasoning = int(rng.gauss(2900, 800)) if high else int(rng.gauss(210, 60))
            reasoning = max(40, reasoning)
            visible = rng.randrange(120, 260) if final else rng.randrange(30, 70)
            out_tok = reasoning + visible
            cached = (n_in // 1024) * 1024 - 1024 if n_in > 2048 else 0
            dur = self.lognorm(700, 0.25) + int(out_tok / 110 * 1000) * MS_NS
            resp_id = f"resp_{rng.getrandbits(128):032x}"
            usage = {"input_tokens": n_in, "input_tokens_details": {"cached_tokens": cached},
                     "output_tokens": out_tok, "output_tokens_details": {"reasoning_tokens": reasoning},
                     "total_tokens": n_in + out_tok}
            response = {"id": resp_id, "model": "gpt-5-mini-2025-08-07", "object": "response", "status": "completed",
                        "reasoning": {"effort": "high" if high else "low", "summary": None},
                        "usage": usage, "service_tier": "default"}
            children.append(Span(tr, self.sid(), parent, "Responses API with {gen_ai.request.model!r}", 1, cur,
                                 cur + dur, {
                "logfire.msg_template": "Responses API with {gen_ai.request.model!r}",
                "logfire.msg": "Responses API with 'gpt-5-mini'", "logfire.span_type": "span",
                "response_id": resp_id, "gen_ai.request.model": "gpt-5-mini",
                "model_settings": orjson.dumps({"reasoning": {"effort": "high" if high else "low"},
                                                "tool_choice": None, "store": None}).decode(),
                "response": orjson.dumps(response).decode(),
                "gen_ai.response.model": "gpt-5-mini-2025-08-07", "gen_ai.system": "openai",
                "gen_ai.operation.name": "chat",
                "gen_ai.usage.input_tokens": n_in, "gen_ai.usage.output_tokens": out_tok,
                "events": orjson.dumps([{"event.name": "gen_ai.user.message", "role": "user",
                                         "content": f"Audit expense report ER-{rng.randrange(10**5)} "
                                                    f"({receipts} receipts) against the travel policy."}]).decode(),
                "logfire.json_schema": schema({"response_id": {}, "gen_ai.request.model": {},
                                               "model_settings": {"type": "object", "title": "ModelSettings",
                                                                  "x-python-datatype": "dataclass"},
                                               "response": {"type": "object", "title": "Response",
                                                            "x-python-datatype": "PydanticModel"},
                                               "gen_ai.response.model": {}, "gen_ai.system": {},
                                               "gen_ai.operation.name": {}, "events": {"type": "array"}}),
                **bag}, sv))
            cur += dur + MS_NS

        def function(parent: str, name: str, inp: dict[str, Any], out: str, ms: float) -> None:
            nonlocal cur
            dur = self.lognorm(ms, 0.35)
            children.append(Span(tr, self.sid(), parent, "Function: {name}", 1, cur, cur + dur, {
                "logfire.msg_template": "Function: {name}", "logfire.msg": f"Function: {name}",
                "logfire.span_type": "span", "name": name, "input": orjson.dumps(inp).decode(), "output": out,
                "mcp_data": "null", "gen_ai.system": "openai",
                "logfire.json_schema": schema({"name": {}, "input": {}, "output": {}, "mcp_data": {"type": "null"},
                                               "gen_ai.system": {}}), **bag}, sv))
            cur += dur + MS_NS

        n_in = 2100 + rng.randrange(0, 300)
        responses(agent, n_in, False, "Receipt Auditor")
        batches = max(1, receipts // 10)
        for b in range(batches):
            function(agent, "fetch_receipts", {"report": "ER", "page": b}, '{"receipts": 10}', 300)
            n_in += 900
        function(agent, "check_policy", {"category": "travel"}, '{"violations": 0}', 180)
        escalate = rng.random() < 0.12
        responses(agent, n_in + 400, not escalate, "Receipt Auditor")
        agent_end = cur
        if escalate:
            children.append(Span(tr, self.sid(), agent, "Handoff: {from_agent} → {to_agent}", 1, cur,
                                 cur + MS_NS, {
                "logfire.msg_template": "Handoff: {from_agent} → {to_agent}",
                "logfire.msg": "Handoff: Receipt Auditor → Escalation Reviewer", "logfire.span_type": "span",
                "from_agent": "Receipt Auditor", "to_agent": "Escalation Reviewer", "gen_ai.system": "openai",
                "logfire.json_schema": schema({"from_agent": {}, "to_agent": {}, "gen_ai.system": {}}), **bag}, sv))
            cur += 2 * MS_NS
            agent_end = cur
            agent2 = self.sid()
            t2 = cur
            responses(agent2, n_in + 700, True, "Escalation Reviewer")
            children.append(Span(tr, agent2, root, "Agent run: {name!r}", 1, t2, cur, {
                "logfire.msg_template": "Agent run: {name!r}", "logfire.msg": "Agent run: 'Escalation Reviewer'",
                "logfire.span_type": "span", "name": "Escalation Reviewer", "handoffs": "[]",
                "tools": '["flag_for_finance"]', "gen_ai.system": "openai", "output_type": "AuditVerdict",
                "logfire.json_schema": schema({"name": {}, "handoffs": {"type": "array"}, "tools": {"type": "array"},
                                               "output_type": {}, "gen_ai.system": {}}), **bag}, sv))
        children.append(Span(tr, agent, root, "Agent run: {name!r}", 1, t_agent, agent_end, {
            "logfire.msg_template": "Agent run: {name!r}", "logfire.msg": "Agent run: 'Receipt Auditor'",
            "logfire.span_type": "span", "name": "Receipt Auditor",
            "handoffs": '["Escalation Reviewer"]', "tools": '["fetch_receipts","check_policy"]',
            "gen_ai.system": "openai", "output_type": "AuditVerdict",
            "logfire.json_schema": schema({"name": {}, "handoffs": {"type": "array"}, "tools": {"type": "array"},
                                           "output_type": {}, "gen_ai.system": {}}), **bag}, sv))
        end = cur + MS_NS
        self.spans.append(Span(tr, root, None, "OpenAI Agents trace: {name}", 1, t, end, {
            "logfire.msg_template": "OpenAI Agents trace: {name}", "logfire.msg": "OpenAI Agents trace: expense-audit",
            "logfire.span_type": "span", "name": "expense-audit", "agent_trace_id": f"trace_{tr}",
            "group_id": f"ER-{rng.randrange(10**6)}", "logfire.json_schema": schema({"name": {}, "agent_trace_id": {},
                                                                                   "group_id": {}}), **bag}, sv))
        self.spans.extend(children)


# ---------------------------------------------------------------------------------------------------------
# Writers

_RESOURCES = {
    "benefits-assistant": ({"service.name": "benefits-assistant", "service.version": "3.14.0",
                            "deployment.environment.name": "prod", "telemetry.sdk.language": "python",
                            "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.37.0"},
                           "openinference.instrumentation.langchain", "0.1.51"),
    "console-web": ({"service.name": "console-web", "service.version": "2027.11.1",
                     "deployment.environment.name": "production", "telemetry.sdk.language": "nodejs",
                     "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "2.1.0",
                     "vercel.region": "iad1", "vercel.runtime": "nodejs"}, "ai", "5.0.60"),
    "payroll-agent": ({"service.name": "payroll-agent", "service.version": "0.9.3",
                       "deployment.environment.name": "prod", "cloud.provider": "aws", "cloud.region": "us-east-1",
                       "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry",
                       "telemetry.sdk.version": "1.36.0"}, "strands.telemetry.tracer", ""),
    "expense-auditor": ({"service.name": "expense-auditor", "service.version": "1.7.2",
                         "deployment.environment.name": "prod", "telemetry.sdk.language": "python",
                         "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.37.0"},
                        "logfire.openai_agents", "4.10.0"),
    "ragas-judge-worker": ({"service.name": "ragas-judge-worker", "service.version": "0.3.4"}, "ragas.online", "0.3.4"),
}


def _value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [_value(x) for x in v]}}
    return {"stringValue": str(v)}


def _kv(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in attrs.items()]


def _b64(hexid: str) -> str:
    return base64.b64encode(bytes.fromhex(hexid)).decode()


_KIND_NAMES = {1: "SPAN_KIND_INTERNAL", 2: "SPAN_KIND_SERVER", 3: "SPAN_KIND_CLIENT"}
_STATUS_NAMES = {0: "STATUS_CODE_UNSET", 1: "STATUS_CODE_OK", 2: "STATUS_CODE_ERROR"}


def _otlp_span(s: Span, proto_json: bool = False) -> dict[str, Any]:
    """One span in OTLP/JSON: hex ids (the OTLP/HTTP JSON encoding), or, with proto_json, as protobuf's
    MessageToJson writes it (base64 ids, enum names, int64 as strings)."""
    ident = _b64 if proto_json else (lambda x: x)
    out: dict[str, Any] = {"traceId": ident(s.trace_id), "spanId": ident(s.span_id)}
    if s.parent:
        out["parentSpanId"] = ident(s.parent)
    out["name"] = s.name
    out["kind"] = _KIND_NAMES[s.kind] if proto_json else s.kind
    out["startTimeUnixNano"] = str(s.start)
    out["endTimeUnixNano"] = str(s.end)
    out["attributes"] = _kv(s.attrs)
    if s.events:
        out["events"] = [{"timeUnixNano": str(t), "name": n, "attributes": _kv(a)} for n, t, a in s.events]
    code, msg = s.status
    if code:
        out["status"] = {"code": _STATUS_NAMES[code] if proto_json else code, **({"message": msg} if msg else {})}
    else:
        out["status"] = {}
    return out


def _traces_request(spans: list[Span], proto_json: bool = False) -> dict[str, Any]:
    by_service: dict[str, list[Span]] = defaultdict(list)
    for s in spans:
        by_service[s.service].append(s)
    rs = []
    for service, group in by_service.items():
        res, scope, version = _RESOURCES[service]
        scope_obj: dict[str, Any] = {"name": scope}
        if version:
            scope_obj["version"] = version
        rs.append({"resource": {"attributes": _kv(res)},
                   "scopeSpans": [{"scope": scope_obj, "spans": [_otlp_span(s, proto_json) for s in group]}]})
    return {"resourceSpans": rs}


def _logs_request(evals: list[Evaluation]) -> dict[str, Any]:
    by_service: dict[str, list[Evaluation]] = defaultdict(list)
    for e in evals:
        by_service[e.service].append(e)
    rl = []
    for service, group in by_service.items():
        res = _RESOURCES[service][0] if service in _RESOURCES else {"service.name": service}
        records = []
        for e in group:
            records.append({"timeUnixNano": str(e.time), "observedTimeUnixNano": str(e.time + 3 * MS_NS),
                            "severityNumber": 9, "severityText": "INFO", "eventName": "gen_ai.evaluation.result",
                            "body": {}, "attributes": _kv(e.attrs), "traceId": e.trace_id, "spanId": e.span_id})
        rl.append({"resource": {"attributes": _kv(res)},
                   "scopeLogs": [{"scope": {"name": "harborline.feedback" if service != "ragas-judge-worker"
                                            else "ragas.online"}, "logRecords": records}]})
    return {"resourceLogs": rl}


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns // SEC_NS, tz=timezone.utc).strftime("%Y-%m-%d")


def write_week(out_dir: "str | Path", seed: int = SEED, scale: float = 1.0, days: int = DAYS) -> Week:
    if days != DAYS:
        raise ValueError(f"days must be 7 (the incidents are laid out on a 7-day calendar), got {days}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    g = _Gen(seed, scale)
    g.run()
    dates = [(START + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(DAYS)]
    files: list[Path] = []
    trace_day = {tr: _day(t) for tr, t in g.trace_start.items()}
    spans_by: dict[tuple[str, str], list[Span]] = defaultdict(list)
    for s in g.spans:
        spans_by[(s.service, trace_day[s.trace_id])].append(s)
    evals_by: dict[tuple[str, str], list[Evaluation]] = defaultdict(list)
    for e in g.evals:
        evals_by[(e.service, trace_day[e.trace_id])].append(e)
    for d in dates:
        # benefits-assistant: OTLP/JSON traces, gzip, one request per day (an OTLP/HTTP capture)
        p = out / f"benefits-assistant-{d}.otlp.json.gz"
        p.write_bytes(_gz(orjson.dumps(_traces_request(spans_by[("benefits-assistant", d)]))))
        files.append(p)
        # the online judge's and the benefits widget's evaluation results: OTLP/JSON logs, gzip
        p = out / f"evaluations-{d}.otlp.json.gz"
        p.write_bytes(_gz(orjson.dumps(_logs_request(evals_by[("ragas-judge-worker", d)]
                                                     + evals_by[("benefits-assistant", d)]))))
        files.append(p)
        # console-web and payroll-agent through one Collector (file exporter): a request per ~2-minute batch of
        # ended spans holding both services' resources, and the feedback logs as their own requests
        lines = []
        batch: dict[int, list[Span]] = defaultdict(list)
        for s in spans_by[("console-web", d)] + spans_by[("payroll-agent", d)]:
            batch[s.end // (120 * SEC_NS)].append(s)
        log_batch: dict[int, list[Evaluation]] = defaultdict(list)
        for e in evals_by[("console-web", d)] + evals_by[("payroll-agent", d)]:
            log_batch[e.time // (600 * SEC_NS)].append(e)
        keyed: list[tuple[int, int, bytes]] = []
        for k, group in batch.items():
            group.sort(key=lambda s: (s.end, s.span_id))
            keyed.append((k * 120, 0, orjson.dumps(_traces_request(group))))
        for k, evs in log_batch.items():
            evs.sort(key=lambda e: (e.time, e.span_id))
            keyed.append((k * 600 + 599, 1, orjson.dumps(_logs_request(evs))))
        keyed.sort(key=lambda x: (x[0], x[1]))
        lines = [b for _k, _o, b in keyed]
        p = out / f"collector-{d}.jsonl"
        p.write_bytes(b"\n".join(lines) + b"\n")
        files.append(p)
        # expense-auditor: one request per day as protobuf's MessageToJson writes it
        p = out / f"expense-auditor-{d}.json"
        p.write_bytes(json.dumps(_traces_request(spans_by[("expense-auditor", d)], proto_json=True),
                                 ensure_ascii=False, indent=1).encode())
        files.append(p)
        # hr-helpdesk: the flat JSONL logger, gzip
        recs = [r for t, r in g.flat if _day(t) == d]
        p = out / f"hr-helpdesk-{d}.jsonl.gz"
        p.write_bytes(_gz(b"\n".join(orjson.dumps(r) for r in recs) + b"\n"))
        files.append(p)
    inc = out / "incidents.json"
    inc.write_text(json.dumps(_labels(g, seed, scale), indent=1, ensure_ascii=False) + "\n")
    by_route = Counter(g.trace_route.values())
    return Week(out_dir=out, files=files, incidents=inc, traces=len(g.trace_route),
                spans=len(g.spans) + sum(1 for _t, _r in g.flat),
                evaluations=len(g.evals) + g.flat_evals,
                traces_by_route=dict(sorted(by_route.items())),
                traces_by_tenant=dict(sorted(Counter(g.trace_tenant.values()).items())),
                traces_by_day=dict(sorted(Counter(trace_day.values()).items())),
                spans_by_service=dict(sorted(Counter([s.service for s in g.spans]
                                                     + ["hr-helpdesk"] * len(g.flat)).items())))


# ---------------------------------------------------------------------------------------------------------
# Labels

def _sig(signal: str, kind: str, aggregation: str, direction: str, registry: dict[str, Any],
         **extra: Any) -> dict[str, Any]:
    return {"signal": signal, "kind": kind, "aggregation": aggregation, "direction": direction,
            "registry": registry, **extra}


def _first(g: _Gen, key: str, route: str, pred: Any = None) -> str:
    """The start of the first trace of `route` inside incident `key`'s window that carries it."""
    a, b = WN[key]
    ts = sorted(t for tr, t in g.trace_start.items() if g.trace_route[tr] == route and a <= t < b
                and (pred is None or pred(tr, t)))
    return _iso_ms(ts[0]) if ts else W[key][0]


def _labels(g: _Gen, seed: int, scale: float) -> dict[str, Any]:
    spans_of: dict[str, list[Span]] = defaultdict(list)
    for s in g.spans:
        if s.service in ("benefits-assistant", "payroll-agent"):
            spans_of[s.trace_id].append(s)

    def has(tr: str, pred: Any) -> bool:
        return any(pred(s) for s in spans_of[tr])

    def stale(tr: str, _t: int) -> bool:
        return has(tr, lambda s: s.name == "VectorStoreRetriever" and "2028" in s.attrs.get("input.value", ""))

    def pair(tr: str, _t: int) -> bool:
        return has(tr, lambda s: s.name == "ChatOpenAI")

    def canary(tr: str, _t: int) -> bool:
        return has(tr, lambda s: s.attrs.get("llm.prompt_template.version") == "bqa-v9")

    def looping(tr: str, _t: int) -> bool:
        return has(tr, lambda s: s.attrs.get("gen_ai.tool.name") == "get_paystub")

    ramp_one_sd = WN["W5-01"][0] + int((0.5 / 8.0) * (RAMP_END - WN["W5-01"][0]))   # 1.5x: one sd of log duration

    def slow_tool(tr: str, _t: int) -> bool:
        return has(tr, lambda s: s.attrs.get("gen_ai.tool.name") == "lookup_timesheet" and s.start >= ramp_one_sd)

    ev = "evaluation"
    incidents = [
        {"id": "W5-01", "type": "slow_ramp", "start": W["W5-01"][0], "end": W["W5-01"][1],
         "detectable_from": _first(g, "W5-01", "payroll_agent", slow_tool), "ramp_end": _iso(RAMP_END),
         "cohort": {"tool_name": "lookup_timesheet"}, "equivalent_cohorts": [],
         "signals": [_sig("duration", "duration", "p95", "up", {"type": "duration", "span_kind": "TOOL"},
                          span_kind="TOOL", baseline_ms=380, during_ms=3400),
                     _sig("trace_duration", "duration", "p95", "up", {"type": "trace_duration"})],
         "page_worthy": True, "should_page": True,
         "description": "Monday's timesheet submissions grow a table whose index was dropped in a migration: "
                        "lookup_timesheet slows linearly from 1x to 9x over 26 hours (ramp_end), then holds until "
                        "the index is rebuilt. No errors; payroll_agent traces take seconds longer. A ramp: its "
                        "onset cannot be dated to the minute, detectable_from is when the tool reaches 1.5x (one "
                        "standard deviation of its log duration)."},
        {"id": "W5-02", "type": "reasoning_cost", "start": W["W5-02"][0], "end": W["W5-02"][1],
         "detectable_from": _first(g, "W5-02", "expense_audit"),
         "cohort": {"route": "expense_audit"}, "equivalent_cohorts": [{"model": "gpt-5-mini"}],
         "signals": [_sig("cost_per_trace", "cost", "mean", "up", {"type": "cost_per_trace"}),
                     _sig("output_tokens", "tokens", "mean", "up", {"type": "output_tokens"}),
                     _sig("duration", "duration", "p95", "up", {"type": "duration", "span_kind": "LLM"},
                          span_kind="LLM")],
         "page_worthy": True, "should_page": True,
         "description": "A config push in the Sunday 02:38 EST maintenance window (the first hour after the DST "
                        "change, when almost no expense reports arrive) sets reasoning effort 'high' on the Receipt "
                        "Auditor: reasoning tokens ~210 -> ~2,900 per Responses call (inside output_tokens; the "
                        "split is only in the `response` JSON Logfire records), cost per trace ~8x, LLM latency "
                        "~4x. Answers unchanged. Starts in a low-traffic hour of a weekend; ends Monday 19:05."},
        {"id": "W5-03", "type": "cache_write_cost", "start": W["W5-03"][0], "end": W["W5-03"][1],
         "detectable_from": _first(g, "W5-03", "support_chat"),
         "cohort": {"route": "support_chat"},
         "equivalent_cohorts": [{"route": "/api/support/chat"}, {"model": "claude-sonnet-4-5"}],
         "signals": [_sig("cost_per_trace", "cost", "mean", "up", {"type": "cost_per_trace"}),
                     _sig("ttft", "duration", "p95", "up", {"type": "ttft"})],
         "page_worthy": True, "should_page": True,
         "description": "A Friday-evening deploy puts the current time into the system prompt, so every request's "
                        "6.2k-token prefix is written to Anthropic's prompt cache (cache_creation_input_tokens, "
                        "1.25x the input price) and never read across requests (cache reads, 0.1x, only between "
                        "the two steps of one request). The AI SDK reports inputTokens without the cache (as "
                        "Anthropic does) and the writes only in ai.response.providerMetadata. Cost per call ~1.9x, "
                        "TTFT +0.65 s on the first step. Fixed Monday 15:20."},
        {"id": "W5-04", "type": "stale_retrieval", "start": W["W5-04"][0], "end": W["W5-04"][1],
         "detectable_from": _first(g, "W5-04", "benefits_qa", stale),
         "cohort": {"route": "benefits_qa"}, "equivalent_cohorts": [],
         "signals": [_sig("eval_score", ev, "mean", "down", {"type": "eval_score", "evaluator": "answer_correctness"},
                          evaluator="answer_correctness"),
                     _sig("thumbs_down_rate", ev, "rate", "up", {"type": "thumbs_down_rate"})],
         "page_worthy": True, "should_page": True,
         "description": "The 2028 plan documents go live Friday 14:09; the indexer has been failing since Thursday, "
                        "so questions about 2028 (30% of benefits questions at first, 55% by Saturday) retrieve the "
                        "2027 documents with ordinary scores and latency. The answers are grounded in what was "
                        "retrieved (groundedness holds) and wrong for 2028: answer_correctness 0.85 -> ~0.32 on "
                        "those, thumbs-down 5% -> 38%. Fixed Saturday 20:45 (2028 documents appear in retrievals)."},
        {"id": "W5-05", "type": "refusal_rise", "start": W["W5-05"][0], "end": W["W5-05"][1],
         "detectable_from": _first(g, "W5-05", "hr_helpdesk"),
         "cohort": {"route": "hr_helpdesk"}, "equivalent_cohorts": [{"prompt_version": "hr-2.0"}],
         "signals": [_sig("refusal_rate", "rate", "rate", "up", {"type": "refusal_rate_answer"}),
                     _sig("thumbs_down_rate", ev, "rate", "up", {"type": "thumbs_down_rate"})],
         "page_worthy": True, "should_page": True,
         "description": "Prompt hr-2.0 (a 'do not give legal advice' guardrail section) ships to 100% on Saturday "
                        "afternoon: gpt-4.1-mini refuses ~20% of manager questions on terminations, overtime, leave "
                        "and compensation (~12% of all), in the phrasings models use (straight and curly "
                        "apostrophes). Weekend traffic is ~10% of a weekday's. Rolled back Monday 16:40."},
        {"id": "W5-06", "type": "tool_retry_loop", "start": W["W5-06"][0], "end": W["W5-06"][1],
         "detectable_from": _first(g, "W5-06", "payroll_agent", looping),
         "cohort": {"route": "payroll_agent"}, "equivalent_cohorts": [{"tool_name": "get_paystub"}],
         "signals": [_sig("tool_calls_per_trace", "count", "mean", "up", {"type": "tool_calls_per_trace"}),
                     _sig("llm_calls_per_trace", "count", "mean", "up", {"type": "llm_calls_per_trace"}),
                     _sig("cost_per_trace", "cost", "mean", "up", {"type": "cost_per_trace"})],
         "page_worthy": True, "should_page": True,
         "description": "The payroll provider backfills paystubs and answers PENDING (HTTP 200, tool status "
                        "success): the Strands agent calls get_paystub again in each event-loop cycle, 5-8 times, "
                        "then gives up. Only traces that need a paystub (~55% of payroll_agent); no span errors."},
        {"id": "W5-07", "type": "pair_quality_drop", "start": W["W5-07"][0], "end": W["W5-07"][1],
         "detectable_from": _first(g, "W5-07", "benefits_qa", pair),
         "cohort": {"route": "benefits_qa", "model": "gpt-4.1-mini"}, "equivalent_cohorts": [],
         "signals": [_sig("eval_score", ev, "mean", "down", {"type": "eval_score", "evaluator": "groundedness"},
                          evaluator="groundedness"),
                     _sig("eval_score", ev, "mean", "down", {"type": "eval_score", "evaluator": "answer_correctness"},
                          evaluator="answer_correctness")],
         "page_worthy": True, "should_page": True,
         "description": "A merge clobbers the gpt-4.1-mini variant of the benefits prompt (the model router sends "
                        "~22% of benefits questions to it): it loses the 'cite the plan document' instruction. "
                        "Groundedness 0.87 -> 0.52 and correctness 0.85 -> 0.60 on that pair only. Diluted in "
                        "each single dimension: benefits_qa's claude traffic is unchanged, and most gpt-4.1-mini "
                        "groundedness samples come from hr_helpdesk, unchanged."},
        {"id": "W5-08", "type": "prompt_version_regression", "start": W["W5-08"][0], "end": W["W5-08"][1],
         "detectable_from": _first(g, "W5-08", "benefits_qa", canary),
         "cohort": {"prompt_version": "bqa-v9"}, "equivalent_cohorts": [], "new_cohort": "prompt_version",
         "replaces": {"prompt_version": "bqa-v8"},
         "rollout": [{"at": _iso(a), "share": s} for a, s in CANARY],
         "signals": [_sig("eval_score", ev, "mean", "down", {"type": "eval_score", "evaluator": "groundedness"},
                          evaluator="groundedness"),
                     _sig("eval_score", ev, "mean", "down", {"type": "eval_score", "evaluator": "answer_correctness"},
                          evaluator="answer_correctness"),
                     _sig("output_length", "length", "mean", "down", {"type": "output_length"})],
         "page_worthy": True, "should_page": True,
         "description": "Benefits prompt bqa-v9 (3 documents instead of 5, 'be concise') rolls out as a canary: 10% "
                        "at 13:05, 30% at 15:05, 100% at 18:05. Groundedness 0.87 -> 0.64, correctness 0.85 -> "
                        "0.63, answers ~45% shorter, thumbs-down 5% -> 20%. Not rolled back by the end of the week."},
        {"id": "W5-N1", "type": "latency_blip", "start": W["W5-N1"][0], "end": W["W5-N1"][1],
         "detectable_from": _first(g, "W5-N1", "support_chat"),
         "cohort": {"route": "support_chat"}, "equivalent_cohorts": [],
         "signals": [_sig("ttft", "duration", "p95", "up", {"type": "ttft"}),
                     _sig("duration", "duration", "p95", "up", {"type": "duration", "span_kind": "LLM"},
                          span_kind="LLM")],
         "page_worthy": False, "should_page": False,
         "description": "14 minutes of slow Anthropic first tokens (~4x) on support_chat; answers and cost normal."},
        {"id": "W5-N2", "type": "refusal_blip", "start": W["W5-N2"][0], "end": W["W5-N2"][1],
         "detectable_from": _first(g, "W5-N2", "benefits_qa"),
         "cohort": {"tenant": "cascadia-health"}, "equivalent_cohorts": [],
         "signals": [_sig("refusal_rate", "rate", "rate", "up", {"type": "refusal_rate_answer"})],
         "page_worthy": False, "should_page": False,
         "description": "One employee asks five times, one evening, about a colleague's medical claims; most are "
                        "refused. One user, 12 minutes."},
        {"id": "W5-N3", "type": "cost_blip", "start": W["W5-N3"][0], "end": W["W5-N3"][1],
         "detectable_from": _first(g, "W5-N3", "expense_audit"),
         "cohort": {"tenant": "lonestar-logistics"}, "equivalent_cohorts": [],
         "signals": [_sig("tool_calls_per_trace", "count", "mean", "up", {"type": "tool_calls_per_trace"}),
                     _sig("cost_per_trace", "cost", "mean", "up", {"type": "cost_per_trace"})],
         "page_worthy": False, "should_page": False,
         "description": "Two expense reports with 60 receipts each (a conference trip): 7 tool calls and ~5x "
                        "input. Normal for what they are."},
        {"id": "W5-N4", "type": "tool_error_blip", "start": W["W5-N4"][0], "end": W["W5-N4"][1],
         "detectable_from": _first(g, "W5-N4", "payroll_agent"),
         "cohort": {"tool_name": "calculate_withholding"}, "equivalent_cohorts": [],
         "signals": [_sig("error_rate", "error_rate", "rate", "up", {"type": "error_rate", "span_kind": "TOOL"},
                          span_kind="TOOL")],
         "page_worthy": False, "should_page": False,
         "description": "Three withholding-service timeouts (10 s) in 12 minutes for one user; the agent retries "
                        "each and succeeds."},
        {"id": "W5-N5", "type": "traffic_burst", "start": W["W5-N5"][0], "end": W["W5-N5"][1],
         "detectable_from": _first(g, "W5-N5", "benefits_qa"),
         "cohort": {"tenant": "cafe-aurora"}, "equivalent_cohorts": [],
         "signals": [_sig("trace_count", "count", "count", "up", {"type": "trace_count"})],
         "page_worthy": False, "should_page": False,
         "description": "An open-enrolment reminder e-mail: 24 extra benefits questions from cafe-aurora's "
                        "employees in 12 minutes. Ordinary answers."},
    ]
    return {"seed": seed, "scale": scale, "days": DAYS, "start": _iso(_ns("2027-11-03T00:00:00Z")),
            "end": _iso(_ns("2027-11-10T00:00:00Z")), "quiet_days": QUIET_DAYS,
            "dst_change": {"zones": ["America/New_York", "America/Toronto", "America/Chicago", "America/Denver",
                                     "America/Los_Angeles"], "local": "2027-11-07T02:00 -> 01:00"},
            "incidents": incidents}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/weeks/fifth_week.py OUT_DIR")
    w = write_week(sys.argv[1])
    print(f"{w.traces} traces, {w.spans} spans, {w.evaluations} evaluations, {len(w.files)} files in {w.out_dir}")
    print(w.traces_by_route)
    print(w.traces_by_day)
