"""A sixth labelled week of LLM/agent traffic, written from the spec (DESIGN.md, semconv.md, the README's ingest
formats, tests/weeks/README.md's label schema) and from what real SDKs emit, without reading tracedesk's detectors
or the other weeks' generators. Stdlib + orjson only; imports nothing from tracedesk.

Kairos Freight: an APAC logistics / customer-operations SaaS. Tenants in Tokyo, Sapporo, Sydney, Auckland,
Singapore, Manila (and, from Wednesday, Bangkok). Traffic follows each tenant's local business hours; Thursday
2027-04-29 is Showa Day, a public holiday in Japan, so the Japanese tenants send ~20% of a weekday. Six services,
each in its stack's shape:

- shipment_tracking: Pydantic AI through Logfire (`agent run`, `chat gpt-4.1-mini`, `execute_tool track_parcel`),
  usage with `gen_ai.usage.details.*`, cohorts from `logfire.set_baggage` (on every span).
- customs_docs: Google ADK (`invoke_agent`, `call_llm`, `execute_tool`, `gcp.vertex.agent.*`), gemini-2.5-flash.
- support_chat: Vercel AI SDK v6 `ai.streamText` / `ai.streamText.doStream` / `ai.toolCall`, usage with
  `ai.usage.inputTokenDetails.*` / `ai.usage.outputTokenDetails.*`, Anthropic claude-sonnet-4-5.
- kb_answers: LlamaIndex via OpenInference (query CHAIN, EMBEDDING, RETRIEVER, LLM), claude-haiku-4-5.
- dispatch_crew: CrewAI via OpenInference (`Crew.kickoff`, agents, LiteLLM `completion`, delegation tools), gpt-4.1.
- returns_desk: Langfuse's OTel SDK (`langfuse.observation.*`, `usage_details` JSON), claude-sonnet-4-5.

Usage: write_week(out_dir, seed=20270426, scale=1.0) -> Week. Command line: python tests/weeks/sixth_week.py OUT
"""
from __future__ import annotations

import gzip
import json
import math
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

SEED = 20270426
START = datetime(2027, 4, 26, tzinfo=timezone.utc)       # a Monday
DAYS = 7
QUIET_DAYS = ["2027-04-26", "2027-04-27"]
HOLIDAY = {"date": "2027-04-29", "name": "Showa Day", "country": "JP", "tenants": ["sakura-logistics", "hokkai-freight"]}
MIN_NS = 60 * 10**9
SEC_NS = 10**9

#: tenant -> (UTC offset hours, share of the traffic, country)
TENANTS: dict[str, tuple[int, float, str]] = {
    "sakura-logistics": (9, 0.24, "JP"),
    "hokkai-freight": (9, 0.13, "JP"),
    "koala-post": (10, 0.20, "AU"),
    "tasman-couriers": (12, 0.10, "NZ"),
    "lion-city-cargo": (8, 0.19, "SG"),
    "pacific-mart": (8, 0.14, "PH"),
}
NEW_TENANT = "siam-express"       # Bangkok, UTC+7, onboarded during W6-06
NEW_TENANT_SHARE = 0.09

ROUTES = [("shipment_tracking", 0.28), ("kb_answers", 0.22), ("support_chat", 0.19), ("customs_docs", 0.12),
          ("returns_desk", 0.10), ("dispatch_crew", 0.09)]

REFUSALS = ["I'm sorry, but I can't help with that request.",
            "I can’t assist with changing another customer's delivery address.",
            "Unfortunately I'm not able to share that information.",
            "I won't be able to help with this one, as it falls outside what I can do."]
BENIGN = ["Sorry for the delay! ", "I can't wait to get this to you: ", "Apologies for the wait. "]


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ns(dt: datetime) -> int:
    return int(dt.timestamp()) * SEC_NS


def _iso_ns(ns: int) -> str:
    dt = datetime.fromtimestamp(ns // SEC_NS, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{(ns % SEC_NS) // 10**6:03d}Z"


def _at(day: int, hh: int, mm: int) -> int:
    return _ns(START + timedelta(days=day, hours=hh, minutes=mm))


# incident windows (UTC ns); days counted from Monday 2027-04-26
W01 = (_at(4, 0, 43), _at(5, 21, 20))     # Fri 00:43 -> Sat 21:20 embedding swap, koala-post
W02 = (_at(3, 5, 52), _at(3, 11, 26))     # Thu judge outage, kb_answers
W03 = (_at(2, 2, 23), _at(2, 5, 51))      # Wed streaming truncation, support_chat
W04 = (_at(3, 6, 41), _at(4, 8, 10))      # Thu -> Fri context growth, returns_desk
W05 = (_at(4, 4, 8), _at(4, 6, 31))       # Fri handoff loop, dispatch_crew
W06 = (_at(2, 3, 7), _at(7, 0, 0))        # Wed -> end new tenant siam-express
W07 = (_at(3, 1, 12), _at(3, 3, 48))      # Thu anthropic brownout
N1 = (_at(2, 7, 12), _at(2, 7, 24))       # Wed track_parcel latency blip
N2 = (_at(5, 3, 10), _at(5, 3, 22))       # Sat refusal blip, pacific-mart
N3 = (_at(4, 7, 31), _at(4, 7, 51))       # Fri cost blip, lion-city-cargo customs manifests
N4 = (_at(6, 22, 14), _at(6, 22, 26))     # Sun traffic burst, tasman-couriers (Monday morning in Auckland)


def _in(ns: int, win: tuple[int, int]) -> bool:
    return win[0] <= ns < win[1]


@dataclass
class Span:
    service: str
    trace_id: str
    span_id: str
    parent: str | None
    name: str
    kind: int
    start: int
    end: int
    attrs: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass
class Evaluation:
    time: int
    trace_id: str
    span_id: str
    name: str
    score: float
    label: str | None
    service: str


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
    rejected_lines: list[tuple[str, int]]

    def labels(self) -> dict[str, Any]:
        labels: dict[str, Any] = json.loads(self.incidents.read_text())
        return labels


def _curve(local_hour: float, weekday: int, holiday: bool) -> float:
    """Office-hours demand in local time: a 10:30 and a 14:30 bump, low at night; weekends and holidays ~18%."""
    if 8.0 <= local_hour < 19.0:
        v = 0.55 + 0.45 * math.exp(-((local_hour - 10.5) ** 2) / 2.0) + 0.40 * math.exp(-((local_hour - 14.5) ** 2) / 3.0)
    elif 7.0 <= local_hour < 8.0 or 19.0 <= local_hour < 22.0:
        v = 0.25
    else:
        v = 0.04
    if weekday >= 5 or holiday:
        v *= 0.18
    return v


class _Gen:
    def __init__(self, seed: int, scale: float) -> None:
        self.rng = random.Random(seed)
        self.scale = scale
        self.spans: list[Span] = []
        self.evals: list[Evaluation] = []
        self.route_of: dict[str, str] = {}
        self.tenant_of: dict[str, str] = {}
        self.start_of: dict[str, int] = {}
        self.first_effect: dict[str, int] = {}
        self.users = {t: [f"{t[:4]}-u{k:03d}" for k in range(30)] for t in [*TENANTS, NEW_TENANT]}

    # -- helpers -------------------------------------------------------------------------------------------
    def hex(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def logn(self, median: float, sigma: float) -> float:
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

    def mark(self, inc: str, ns: int) -> None:
        if inc not in self.first_effect or ns < self.first_effect[inc]:
            self.first_effect[inc] = ns

    def answer(self, chars: int, refused: bool) -> str:
        if refused:
            return self.rng.choice(REFUSALS)
        words = ["Your", "consignment", "KX-4471", "cleared", "the", "Narita", "hub", "and", "is", "with", "the",
                 "last-mile", "carrier;", "expected", "delivery", "window", "is", "tomorrow", "09:00-12:00.",
                 "The", "customs", "declaration", "lists", "HS", "code", "8471.30", "and", "duty", "is", "prepaid."]
        out = self.rng.choice(BENIGN) if self.rng.random() < 0.03 else ""
        while len(out) < chars:
            out += self.rng.choice(words) + " "
        return out.strip()

    def span(self, service: str, tid: str, parent: str | None, name: str, kind: int, start: int, end: int,
             attrs: dict[str, Any], **kw: Any) -> Span:
        s = Span(service, tid, self.hex(64), parent, name, kind, start, end, attrs, **kw)
        self.spans.append(s)
        return s

    def feedback(self, service: str, tid: str, sid: str, end: int, p_down: float) -> None:
        if self.rng.random() < 0.10:
            down = self.rng.random() < p_down
            self.evals.append(Evaluation(end + int(self.rng.uniform(20, 400) * SEC_NS), tid, sid, "user_feedback",
                                         0.0 if down else 1.0, "thumbs_down" if down else "thumbs_up", service))

    def judge(self, service: str, tid: str, sid: str, end: int, score: float) -> None:
        if self.rng.random() < 0.6:
            self.evals.append(Evaluation(end + int(self.rng.uniform(15, 120) * SEC_NS), tid, sid, "groundedness",
                                         round(min(1.0, max(0.0, score)), 3), None, service))

    def refused(self, tenant: str, user: str, ns: int) -> bool:
        if tenant == "pacific-mart" and _in(ns, N2) and user == self.users[tenant][7]:
            return self.rng.random() < 0.8
        return self.rng.random() < 0.004

    # -- traffic ----------------------------------------------------------------------------------------------
    def run(self) -> None:
        base = 1.75 * self.scale       # traces a minute at the peak of the curve, all tenants
        t0 = _ns(START)
        for minute in range(DAYS * 24 * 60):
            ns0 = t0 + minute * MIN_NS
            for tenant, (off, share, country) in [*TENANTS.items(), (NEW_TENANT, (7, NEW_TENANT_SHARE, "TH"))]:
                if tenant == NEW_TENANT and ns0 < W06[0] - MIN_NS:
                    continue
                local = START + timedelta(minutes=minute, hours=off)
                holiday = country == "JP" and local.strftime("%Y-%m-%d") == HOLIDAY["date"]
                lam = base * share * _curve(local.hour + local.minute / 60, local.weekday(), holiday)
                if tenant == "tasman-couriers" and _in(ns0, N4):
                    lam += 1.7 * self.scale
                for _ in range(self.poisson(lam)):
                    ns = ns0 + int(self.rng.random() * MIN_NS)
                    if tenant == NEW_TENANT and ns < W06[0]:
                        continue
                    self.trace(tenant, ns, burst=tenant == "tasman-couriers" and _in(ns0, N4))

    def trace(self, tenant: str, ns: int, burst: bool) -> None:
        r = self.rng.random()
        route = "shipment_tracking"
        if not burst:
            acc = 0.0
            for name, p in ROUTES:
                acc += p
                if r < acc:
                    route = name
                    break
        user = self.rng.choice(self.users[tenant])
        session = f"{user}-{(ns // (3 * 3600 * SEC_NS))}"
        tid = self.hex(128)
        self.route_of[tid], self.tenant_of[tid], self.start_of[tid] = route, tenant, ns
        getattr(self, "_" + route)(tid, tenant, user, session, ns)

    # anthropic brownout: slower first token, some 529s
    def anthropic_call(self, ns: int, ttft_ms: float) -> tuple[float, bool]:
        if _in(ns, W07):
            self.mark("W6-07", ns)
            return ttft_ms * self.logn(5.0, 0.25), self.rng.random() < 0.08
        return ttft_ms, False

    # -- shipment_tracking: Pydantic AI via Logfire ------------------------------------------------------------
    def _shipment_tracking(self, tid: str, tenant: str, user: str, session: str, ns: int) -> None:
        svc = "shipment-tracker"
        bag = {"app.route": "shipment_tracking", "tenant.id": tenant, "user.id": user, "session.id": session}
        refused = self.refused(tenant, user, ns)
        t = ns + int(self.rng.uniform(2, 8) * 1e6)
        children: list[tuple[str, int, int, dict[str, Any], str | None]] = []
        tot_in = tot_out = 0
        n_tools = 0 if refused else self.rng.choice([1, 1, 1, 2])
        for step in range(n_tools + 1):
            final = step == n_tools
            inp = int(self.logn(1500 + 450 * step, 0.15))
            cached = 1024 if self.rng.random() < 0.55 else 0
            out = int(self.logn(110, 0.3)) if final else int(self.logn(35, 0.2))
            dur = self.logn(420, 0.25) + out / 0.09
            text = self.answer(out * 4, refused) if final else ""
            attrs = {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.provider.name": "openai",
                     "gen_ai.request.model": "gpt-4.1-mini", "gen_ai.response.model": "gpt-4.1-mini-2025-04-14",
                     "gen_ai.usage.input_tokens": inp, "gen_ai.usage.output_tokens": out,
                     "gen_ai.usage.details.cache_read_tokens": cached,
                     "gen_ai.usage.details.reasoning_tokens": 0,
                     "gen_ai.response.finish_reasons": ["stop" if final else "tool_call"],
                     "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Where is my parcel KX-4471?"}]}]),
                     "gen_ai.output.messages": json.dumps([{"role": "assistant", "finish_reason": "stop" if final else "tool_call",
                                                            "parts": [{"type": "text", "content": text}] if final else
                                                            [{"type": "tool_call", "id": f"call_{step}", "name": "track_parcel", "arguments": "{\"ref\": \"KX-4471\"}"}]}]),
                     "logfire.msg": "chat gpt-4.1-mini", "logfire.span_type": "span", "model_request_parameters": "{}",
                     "logfire.json_schema": json.dumps({"type": "object", "properties": {"model_request_parameters": {"type": "object"}}})}
            children.append(("chat gpt-4.1-mini", t, t + int(dur * 1e6), attrs, None))
            t += int(dur * 1e6)
            tot_in, tot_out = tot_in + inp, tot_out + out
            if not final:
                tdur = self.logn(260, 0.3)
                if _in(t, N1) and self.rng.random() < 0.8:
                    tdur *= 6.0
                err = "TimeoutError" if self.rng.random() < 0.008 else None
                children.append(("execute_tool track_parcel", t, t + int(tdur * 1e6),
                                 {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "track_parcel",
                                  "gen_ai.tool.call.id": f"call_{step}", "tool_arguments": "{\"ref\": \"KX-4471\"}",
                                  "tool_response": "{\"status\": \"in_transit\"}", "logfire.msg": "running tool: track_parcel",
                                  "logfire.span_type": "span"}, err))
                t += int(tdur * 1e6)
        end = t + int(2e6)
        root = self.span(svc, tid, None, "agent run", 1, ns, end,
                         {**bag, "gen_ai.agent.name": "tracking_agent", "agent_name": "tracking_agent",
                          "model_name": "gpt-4.1-mini", "logfire.msg": "tracking_agent run", "logfire.span_type": "span",
                          "gen_ai.aggregated_usage.input_tokens": tot_in, "gen_ai.aggregated_usage.output_tokens": tot_out,
                          "final_result": children[-1][3].get("gen_ai.output.messages", "")})
        last = None
        for name, s, e, a, err in children:
            last = self.span(svc, tid, root.span_id, name, 3 if name.startswith("chat") else 1, s, e, {**bag, **a}, error=err)
        assert last is not None
        self.feedback(svc, tid, root.span_id, end, 0.05)

    # -- customs_docs: Google ADK -----------------------------------------------------------------------------
    def _customs_docs(self, tid: str, tenant: str, user: str, session: str, ns: int) -> None:
        svc = "customs-agent"
        bag = {"app.route": "customs_docs", "tenant.id": tenant, "user.id": user, "session.id": session}
        big = tenant == "lion-city-cargo" and _in(ns, N3) and self.rng.random() < 0.7
        inv = f"e-{self.hex(32)}"
        t = ns + int(3e6)
        kids: list[tuple[str, int, int, dict[str, Any], int, str | None]] = []
        tools = ["classify_hs_code", "check_sanctions"] if not big else ["classify_hs_code"] * 5
        for step in range(len(tools) + 1):
            final = step == len(tools)
            inp = int(self.logn(2600 + 700 * step, 0.15) * (5.0 if big else 1.0))
            out = int(self.logn(170, 0.3)) if final else int(self.logn(40, 0.2))
            dur = self.logn(480, 0.25) + out / 0.16
            text = self.answer(out * 4, False) if final else ""
            kids.append(("call_llm", t, t + int(dur * 1e6), {
                "gen_ai.system": "gcp.vertex.agent", "gen_ai.request.model": "gemini-2.5-flash",
                "gen_ai.usage.input_tokens": inp, "gen_ai.usage.output_tokens": out,
                "gen_ai.response.finish_reasons": ["stop"],
                "gcp.vertex.agent.invocation_id": inv, "gcp.vertex.agent.session_id": session,
                "gcp.vertex.agent.event_id": self.hex(32),
                "gcp.vertex.agent.llm_request": json.dumps({"model": "gemini-2.5-flash", "contents": [{"role": "user", "parts": [{"text": "Classify the goods on manifest M-2231"}]}]}),
                "gcp.vertex.agent.llm_response": json.dumps({"content": {"role": "model", "parts": [{"text": text}] if final else [{"function_call": {"name": tools[step], "args": {"item": "laptop"}}}]}, "usage_metadata": {"prompt_token_count": inp, "candidates_token_count": out, "total_token_count": inp + out}}),
            }, 1, None))
            t += int(dur * 1e6)
            if not final:
                tdur = self.logn(330, 0.3)
                kids.append((f"execute_tool {tools[step]}", t, t + int(tdur * 1e6), {
                    "gen_ai.system": "gcp.vertex.agent", "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": tools[step], "gen_ai.tool.description": "Customs helper",
                    "gen_ai.tool.call.id": f"adk-{self.hex(32)}",
                    "gcp.vertex.agent.tool_call_args": json.dumps({"item": "laptop"}),
                    "gcp.vertex.agent.tool_response": json.dumps({"result": "8471.30"}),
                    "gcp.vertex.agent.invocation_id": inv}, 1, "TimeoutError" if self.rng.random() < 0.008 else None))
                t += int(tdur * 1e6)
        end = t + int(2e6)
        root = self.span(svc, tid, None, "invocation", 1, ns, end + int(1e6), {**bag})
        agent = self.span(svc, tid, root.span_id, "invoke_agent customs_agent", 1, ns + int(1e6), end,
                          {**bag, "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "customs_agent",
                           "gen_ai.agent.description": "Prepares customs declarations", "gen_ai.system": "gcp.vertex.agent",
                           "gen_ai.conversation.id": session})
        for name, s, e, a, kind, err in kids:
            self.span(svc, tid, agent.span_id, name, kind, s, e, {**bag, **a}, error=err)
        self.feedback(svc, tid, root.span_id, end, 0.05)

    # -- support_chat: Vercel AI SDK v6 ----------------------------------------------------------------------
    def _support_chat(self, tid: str, tenant: str, user: str, session: str, ns: int) -> None:
        svc = "ops-console"
        meta = {"ai.telemetry.metadata.route": "support_chat", "ai.telemetry.metadata.tenant": tenant,
                "ai.telemetry.metadata.userId": user, "ai.telemetry.metadata.sessionId": session,
                "ai.telemetry.functionId": "support-chat"}
        refused = self.refused(tenant, user, ns)
        new_bad = tenant == NEW_TENANT
        steps = 1 if refused or self.rng.random() < 0.5 else 2
        t = ns + int(4e6)
        calls: list[Span] = []
        tot = Counter[str]()
        truncated = False
        text = ""
        finish = "stop"
        root = self.span(svc, tid, None, "ai.streamText", 1, ns, ns, {
            **meta, "operation.name": "ai.streamText support-chat", "ai.operationId": "ai.streamText",
            "ai.model.id": "claude-sonnet-4-5", "ai.model.provider": "anthropic.messages",
            "ai.prompt": json.dumps({"messages": [{"role": "user", "content": "Can you reroute my pallet to Osaka?"}]}),
            "ai.settings.maxRetries": 2})
        failed = False
        for step in range(steps):
            final = step == steps - 1
            cache_read = 5200 if self.rng.random() < 0.8 else 0
            no_cache = int(self.logn(900 + 500 * step, 0.2))
            cache_write = 0 if cache_read else 5200
            out = int(self.logn(230, 0.3)) if final else int(self.logn(45, 0.2))
            ttft, fail = self.anthropic_call(t, self.logn(620, 0.2))
            gen_ms = out / 0.075
            if final and _in(ns, W03) and ttft + gen_ms > 1800:
                # the edge proxy's 1.8 s idle/stream cap cuts the SSE stream; the SDK keeps what arrived
                kept = max(8, int((1800 - ttft) * 0.075 * self.rng.uniform(0.6, 1.0)))
                self.mark("W6-03", ns)
                truncated, out, gen_ms = True, kept, 1800 - ttft
            dur = ttft + gen_ms
            ai_in = no_cache + cache_read + cache_write
            a: dict[str, Any] = {**meta, "operation.name": "ai.streamText.doStream support-chat",
                                 "ai.operationId": "ai.streamText.doStream", "ai.model.id": "claude-sonnet-4-5",
                                 "ai.model.provider": "anthropic.messages", "gen_ai.system": "anthropic.messages",
                                 "gen_ai.request.model": "claude-sonnet-4-5"}
            s = self.span(svc, tid, root.span_id, "ai.streamText.doStream", 3, t, t + int(dur * 1e6), a)
            if fail:
                s.error = "AI_APICallError: Overloaded"
                a["ai.response.finishReason"] = "error"
                s.end = t + int(ttft * 1e6)
                s.events.append({"name": "exception", "time": s.end, "attributes": {
                    "exception.type": "AI_APICallError", "exception.message": "Overloaded (529 overloaded_error)"}})
                failed = True
                t = s.end
                break
            seg = self.answer(out * 4, refused) if final else ""
            if truncated:
                seg = seg[: out * 4]
            a.update({"gen_ai.response.model": "claude-sonnet-4-5-20250929", "ai.response.model": "claude-sonnet-4-5-20250929",
                      "ai.response.id": f"msg_{self.hex(64)}", "gen_ai.response.id": f"msg_{self.hex(64)}",
                      "ai.response.msToFirstChunk": round(ttft, 1), "ai.response.msToFinish": round(dur, 1),
                      "ai.response.avgOutputTokensPerSecond": round(out / max(dur / 1000, 0.001), 2),
                      "ai.response.text": seg,
                      "ai.response.finishReason": ("unknown" if truncated else "stop") if final else "tool-calls"})
            if not truncated:
                a.update({"ai.usage.inputTokens": ai_in, "ai.usage.outputTokens": out,
                          "ai.usage.totalTokens": ai_in + out,
                          "ai.usage.inputTokenDetails.noCacheTokens": no_cache,
                          "ai.usage.inputTokenDetails.cacheReadTokens": cache_read,
                          "ai.usage.inputTokenDetails.cacheWriteTokens": cache_write,
                          "ai.usage.outputTokenDetails.textTokens": out,
                          "ai.usage.outputTokenDetails.reasoningTokens": 0,
                          "ai.usage.cachedInputTokens": cache_read,
                          "gen_ai.usage.input_tokens": ai_in, "gen_ai.usage.output_tokens": out})
                tot.update({"in": ai_in, "out": out, "nc": no_cache, "cr": cache_read, "cw": cache_write})
            else:
                # the stream ended before Anthropic's final message_delta: the SDK never saw the usage
                finish = "unknown"
            s.events.append({"name": "ai.stream.firstChunk", "time": t + int(ttft * 1e6),
                             "attributes": {"ai.response.msToFirstChunk": round(ttft, 1)}})
            calls.append(s)
            t = s.end
            if final:
                text = seg
            else:
                tdur = self.logn(240, 0.3)
                self.span(svc, tid, root.span_id, "ai.toolCall", 1, t, t + int(tdur * 1e6), {
                    **meta, "operation.name": "ai.toolCall support-chat", "ai.operationId": "ai.toolCall",
                    "ai.toolCall.name": "lookup_order", "ai.toolCall.id": f"toolu_{self.hex(64)}",
                    "ai.toolCall.args": "{\"order\": \"PO-88123\"}", "ai.toolCall.result": "{\"status\": \"booked\"}"},
                    error="TimeoutError" if self.rng.random() < 0.008 else None)
                t += int(tdur * 1e6)
        root.end = t + int(2e6)
        root.attrs.update({"ai.response.text": text, "ai.response.finishReason": "error" if failed else finish})
        if failed:
            root.error = "AI_APICallError: Overloaded"
        if tot:
            root.attrs.update({"ai.usage.inputTokens": tot["in"], "ai.usage.outputTokens": tot["out"],
                               "ai.usage.totalTokens": tot["in"] + tot["out"],
                               "ai.usage.inputTokenDetails.noCacheTokens": tot["nc"],
                               "ai.usage.inputTokenDetails.cacheReadTokens": tot["cr"],
                               "ai.usage.inputTokenDetails.cacheWriteTokens": tot["cw"]})
        p_down = 0.04 + (0.30 if truncated else 0.0) + (0.20 if new_bad else 0.0)
        self.feedback(svc, tid, root.span_id, root.end, p_down)

    # -- kb_answers: LlamaIndex via OpenInference ---------------------------------------------------------------
    def _kb_answers(self, tid: str, tenant: str, user: str, session: str, ns: int) -> None:
        svc = "kb-service"
        meta = {"metadata": json.dumps({"route": "kb_answers", "tenant": tenant}), "session.id": session, "user.id": user}
        refused = self.refused(tenant, user, ns)
        swapped = tenant == "koala-post" and _in(ns, W01)
        thai = tenant == NEW_TENANT
        q = "What is the cut-off for same-day pickup in Yokohama?"
        t = ns + int(2e6)
        emb_model = "text-embedding-3-small"
        if swapped:
            emb_model = "text-embedding-3-large"        # query side swapped before the tenant's re-index finished
            self.mark("W6-01", ns)
        if thai:
            self.mark("W6-06", ns)
        edur = self.logn(85, 0.25)
        kids: list[tuple[str, str, int, int, dict[str, Any], str | None]] = [
            ("embedding", "EMBEDDING", t, t + int(edur * 1e6), {"embedding.model_name": emb_model,
                                                                "embedding.embeddings.0.embedding.text": q}, None)]
        t += int(edur * 1e6)
        rdur = self.logn(110, 0.25)
        if swapped:
            scores = sorted((self.rng.uniform(0.18, 0.42) for _ in range(4)), reverse=True)
            docs = [f"kb-{tenant}-misc-{self.rng.randrange(900):03d}" for _ in range(4)]
        elif thai:
            scores = sorted((self.rng.uniform(0.35, 0.60) for _ in range(4)), reverse=True)
            docs = [f"kb-{tenant}-th-{self.rng.randrange(300):03d}" for _ in range(4)]
        else:
            scores = sorted((self.rng.uniform(0.62, 0.91) for _ in range(4)), reverse=True)
            docs = [f"kb-{tenant}-{self.rng.randrange(120):03d}" for _ in range(4)]
        ra: dict[str, Any] = {"input.value": q}
        for i, (d, sc) in enumerate(zip(docs, scores)):
            ra[f"retrieval.documents.{i}.document.id"] = d
            ra[f"retrieval.documents.{i}.document.score"] = round(sc, 4)
            ra[f"retrieval.documents.{i}.document.content"] = f"Pickup cut-off policy excerpt {d}"
        kids.append(("retrieve", "RETRIEVER", t, t + int(rdur * 1e6), ra, None))
        t += int(rdur * 1e6)
        inp = int(self.logn(2400, 0.15))
        cache_read = 1800 if self.rng.random() < 0.6 else 0
        out = int(self.logn(150, 0.3))
        ttft, fail = self.anthropic_call(t, self.logn(450, 0.2))
        dur = ttft + out / 0.11
        text = self.answer(out * 4, refused)
        la: dict[str, Any] = {"llm.model_name": "claude-haiku-4-5-20251001", "llm.provider": "anthropic",
                              "llm.system": "anthropic",
                              "llm.invocation_parameters": json.dumps({"model": "claude-haiku-4-5", "max_tokens": 1024, "temperature": 0.1}),
                              "llm.input_messages.0.message.role": "system",
                              "llm.input_messages.0.message.content": "Answer from the context only.",
                              "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": q,
                              "input.value": q}
        if fail:
            kids.append(("Anthropic.chat", "LLM", t, t + int(ttft * 1e6), la, "APIStatusError: Error code: 529 - overloaded_error"))
            t += int(ttft * 1e6)
            text = ""
        else:
            la.update({"llm.token_count.prompt": inp + cache_read, "llm.token_count.completion": out,
                       "llm.token_count.total": inp + cache_read + out,
                       "llm.token_count.prompt_details.cache_read": cache_read,
                       "llm.output_messages.0.message.role": "assistant",
                       "llm.output_messages.0.message.content": text, "output.value": text})
            kids.append(("Anthropic.chat", "LLM", t, t + int(dur * 1e6), la, None))
            t += int(dur * 1e6)
        end = t + int(3e6)
        root = self.span(svc, tid, None, "RetrieverQueryEngine.query", 1, ns, end, {
            **meta, "openinference.span.kind": "CHAIN", "input.value": q, "output.value": text},
            error="APIStatusError: overloaded" if fail else None)
        llm_id = root.span_id
        for name, kind, s, e, a, err in kids:
            sp = self.span(svc, tid, root.span_id, name, 1, s, e, {**meta, "openinference.span.kind": kind, **a}, error=err)
            if kind == "LLM":
                llm_id = sp.span_id
        if fail:
            return
        g = self.rng.gauss(0.87, 0.07)
        if swapped:
            g = self.rng.gauss(0.46, 0.12)
        elif thai:
            g = self.rng.gauss(0.52, 0.12)
        if _in(end, W02):
            self.mark("W6-02", ns)       # the judge's key expired: nothing is scored for this window
        else:
            self.judge(svc, tid, llm_id, end, g)
        self.feedback(svc, tid, root.span_id, end, 0.22 if (swapped or thai) else 0.04)

    # -- dispatch_crew: CrewAI via OpenInference ----------------------------------------------------------------
    def _dispatch_crew(self, tid: str, tenant: str, user: str, session: str, ns: int) -> None:
        svc = "dispatch-crew"
        meta = {"metadata": json.dumps({"route": "dispatch_crew", "tenant": tenant}), "session.id": session, "user.id": user}
        loop = _in(ns, W05)
        if loop:
            self.mark("W6-05", ns)
        t = ns + int(5e6)
        root = self.span(svc, tid, None, "Crew.kickoff", 1, ns, ns, {**meta, "openinference.span.kind": "CHAIN",
                                                                      "input.value": "{\"shipment\": \"LCL-7731\"}"})
        agents = ["Dispatcher"]
        bounces = self.rng.randint(5, 8) if loop else (1 if self.rng.random() < 0.35 else 0)
        for b in range(bounces):
            agents.append("Carrier Liaison" if b % 2 == 0 else "Dispatcher")
        text = ""
        for k, role in enumerate(agents):
            last = k == len(agents) - 1
            ag = self.span(svc, tid, root.span_id, f"{role}._execute_core", 1, t, t, {
                **meta, "openinference.span.kind": "AGENT", "graph.node.id": role.lower().replace(" ", "_"),
                "input.value": f"Task for {role}"})
            at = t + int(1e6)
            for call in range(2):
                inp = int(self.logn(1300 + 400 * k, 0.15))
                out = int(self.logn(140 if call else 60, 0.3))
                dur = self.logn(520, 0.25) + out / 0.08
                txt = self.answer(out * 4, False)
                self.span(svc, tid, ag.span_id, "completion", 1, at, at + int(dur * 1e6), {
                    **meta, "openinference.span.kind": "LLM", "llm.model_name": "gpt-4.1-2025-04-14",
                    "llm.provider": "openai", "llm.system": "openai",
                    "llm.invocation_parameters": json.dumps({"model": "gpt-4.1", "temperature": 0.0}),
                    "llm.token_count.prompt": inp, "llm.token_count.completion": out, "llm.token_count.total": inp + out,
                    "llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": "Book a carrier",
                    "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": txt,
                    "output.value": txt})
                at += int(dur * 1e6)
                if call == 0:
                    tool = ("Delegate work to coworker" if role == "Dispatcher" else "Ask question to coworker") \
                        if not last else ("book_carrier" if role == "Dispatcher" else "quote_rate")
                    tdur = self.logn(300, 0.3)
                    self.span(svc, tid, ag.span_id, "ToolUsage._use", 1, at, at + int(tdur * 1e6), {
                        **meta, "openinference.span.kind": "TOOL", "tool.name": tool,
                        "input.value": json.dumps({"coworker": "Carrier Liaison" if role == "Dispatcher" else "Dispatcher"})
                        if "coworker" in tool else "{\"lane\": \"SIN-SYD\"}", "output.value": "ok"},
                        error="TimeoutError" if self.rng.random() < 0.008 else None)
                    at += int(tdur * 1e6)
                text = txt
            ag.end = at + int(1e6)
            ag.attrs["output.value"] = text
            t = ag.end
        root.end = t + int(2e6)
        root.attrs["output.value"] = text
        self.feedback(svc, tid, root.span_id, root.end, 0.15 if loop else 0.04)

    # -- returns_desk: Langfuse OTel SDK ---------------------------------------------------------------------
    def _returns_desk(self, tid: str, tenant: str, user: str, session: str, ns: int) -> None:
        svc = "returns-desk"
        meta = {"langfuse.trace.name": "returns-desk", "langfuse.trace.metadata.route": "returns_desk",
                "langfuse.trace.metadata.tenant": tenant, "langfuse.user.id": user, "langfuse.session.id": session,
                "langfuse.environment": "production"}
        grown = _in(ns, W04)
        if grown:
            self.mark("W6-04", ns)
        refused = self.refused(tenant, user, ns)
        t = ns + int(3e6)
        root = self.span(svc, tid, None, "returns-agent", 1, ns, ns, {**meta, "langfuse.observation.type": "agent",
                                                                       "langfuse.observation.input": "\"I want to return a damaged carton\""})
        text = ""
        failed = False
        for step in range(2):
            final = step == 1
            history = int(self.logn(2600, 0.2))
            if grown:
                history = int(history * self.rng.uniform(3.5, 6.0))   # a release stopped trimming the conversation
            cache_read = 1500 if self.rng.random() < 0.5 else 0
            inp = history + 300 * step
            out = int(self.logn(180 if final else 40, 0.3))
            ttft, fail = self.anthropic_call(t, self.logn(700, 0.2))
            dur = ttft + out / 0.075
            ga: dict[str, Any] = {**meta, "langfuse.observation.type": "generation",
                                  "langfuse.observation.model.name": "claude-sonnet-4-5-20250929",
                                  "langfuse.observation.model.parameters": json.dumps({"max_tokens": 1024, "temperature": 0.2}),
                                  "langfuse.observation.input": json.dumps([{"role": "user", "content": "Return request"}])}
            if fail:
                ga.update({"langfuse.observation.level": "ERROR",
                           "langfuse.observation.status_message": "Error code: 529 - overloaded_error"})
                self.span(svc, tid, root.span_id, "anthropic-messages", 1, t, t + int(ttft * 1e6), ga)
                t += int(ttft * 1e6)
                failed = True
                break
            txt = self.answer(out * 4, refused) if final else ""
            ga.update({"langfuse.observation.output": json.dumps({"role": "assistant", "content": txt}),
                       "langfuse.observation.usage_details": json.dumps({"input": inp, "output": out,
                                                                         "cache_read_input_tokens": cache_read}),
                       "langfuse.observation.completion_start_time": json.dumps(_iso_ns(t + int(ttft * 1e6)))})
            self.span(svc, tid, root.span_id, "anthropic-messages", 1, t, t + int(dur * 1e6), ga)
            t += int(dur * 1e6)
            if not final:
                tdur = self.logn(280, 0.3)
                self.span(svc, tid, root.span_id, "lookup_return", 1, t, t + int(tdur * 1e6), {
                    **meta, "langfuse.observation.type": "tool", "langfuse.observation.input": "{\"order\": \"RT-5521\"}",
                    "langfuse.observation.output": "{\"eligible\": true}"})
                t += int(tdur * 1e6)
            text = txt
        root.end = t + int(2e6)
        root.attrs["langfuse.observation.output"] = json.dumps(text)
        if failed:
            root.attrs["langfuse.observation.level"] = "ERROR"
            return
        self.feedback(svc, tid, root.span_id, root.end, 0.05)


# -- writers ------------------------------------------------------------------------------------------------------
def _kv(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for k, v in attrs.items():
        if isinstance(v, bool):
            val: dict[str, Any] = {"boolValue": v}
        elif isinstance(v, int):
            val = {"intValue": str(v)}
        elif isinstance(v, float):
            val = {"doubleValue": v}
        elif isinstance(v, list):
            val = {"arrayValue": {"values": [{"stringValue": str(x)} for x in v]}}
        else:
            val = {"stringValue": str(v)}
        out.append({"key": k, "value": val})
    return out


SCOPES = {"shipment-tracker": ("pydantic-ai", "1.0.14"), "customs-agent": ("gcp.vertex.agent", "1.15.1"),
          "ops-console": ("ai", "6.0.40"), "kb-service": ("openinference.instrumentation.llama_index", "4.3.4"),
          "dispatch-crew": ("openinference.instrumentation.crewai", "0.1.11"),
          "returns-desk": ("langfuse-sdk", "3.6.1")}


def _otlp_span(s: Span) -> dict[str, Any]:
    d: dict[str, Any] = {"traceId": s.trace_id, "spanId": s.span_id, "name": s.name, "kind": s.kind,
                         "startTimeUnixNano": str(s.start), "endTimeUnixNano": str(s.end), "attributes": _kv(s.attrs)}
    if s.parent:
        d["parentSpanId"] = s.parent
    events = list(s.events)
    if s.error and not any(e["name"] == "exception" for e in events):
        events.append({"name": "exception", "time": s.end,
                       "attributes": {"exception.type": s.error.split(":")[0], "exception.message": s.error}})
    if events:
        d["events"] = [{"name": e["name"], "timeUnixNano": str(e["time"]), "attributes": _kv(e["attributes"])}
                       for e in events]
    d["status"] = {"code": 2, "message": s.error} if s.error else {"code": 0}
    return d


def _resource(service: str) -> dict[str, Any]:
    return {"attributes": _kv({"service.name": service, "service.namespace": "kairos", "deployment.environment.name": "prod",
                               "cloud.region": "ap-northeast-1" if service != "returns-desk" else "ap-southeast-2",
                               "telemetry.sdk.language": "nodejs" if service == "ops-console" else "python"})}


def _request(spans: list[Span]) -> dict[str, Any]:
    by: dict[str, list[Span]] = {}
    for s in spans:
        by.setdefault(s.service, []).append(s)
    rs = []
    for svc in sorted(by):
        name, ver = SCOPES[svc]
        rs.append({"resource": _resource(svc), "scopeSpans": [{"scope": {"name": name, "version": ver},
                                                              "spans": [_otlp_span(s) for s in by[svc]]}]})
    return {"resourceSpans": rs}


def _gz(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
        gz.write(data)


def _labels(g: _Gen, seed: int, scale: float) -> dict[str, Any]:
    def inc(id_: str, type_: str, win: tuple[int, int], cohort: dict[str, str], signals: list[dict[str, Any]],
            page: bool, desc: str, **extra: Any) -> dict[str, Any]:
        det = g.first_effect.get(id_, win[0])
        d = {"id": id_, "type": type_, "start": _iso_ns(win[0]).replace(".000Z", "Z"),
             "end": _iso_ns(win[1]).replace(".000Z", "Z"), "detectable_from": _iso_ns(det),
             "cohort": cohort, "equivalent_cohorts": extra.pop("equivalent_cohorts", []), **extra,
             "signals": signals, "page_worthy": page, "should_page": page, "description": desc}
        return d

    def sig(signal: str, kind: str, agg: str, direction: str, **p: Any) -> dict[str, Any]:
        return {"signal": signal, "kind": kind, "aggregation": agg, "direction": direction,
                "registry": {"type": signal, **p}, **p}

    grd = sig("eval_score", "evaluation", "mean", "down", evaluator="groundedness")
    thumbs = sig("thumbs_down_rate", "feedback", "rate", "up")
    incidents = [
        inc("W6-01", "embedding_swap", W01, {"tenant": "koala-post"},
            [sig("retrieval_score", "retrieval", "mean", "down"), grd, thumbs], True,
            "koala-post's knowledge-base queries are embedded with text-embedding-3-large while its index still holds "
            "text-embedding-3-small vectors (a half-finished re-index): top retrieval scores 0.62-0.91 -> 0.18-0.42, "
            "unrelated documents, groundedness 0.87 -> ~0.46, thumbs-down 4% -> 22% on kb_answers. Other tenants unchanged.",
            equivalent_cohorts=[{"route": "kb_answers", "tenant": "koala-post"}]),
        inc("W6-02", "judge_outage", W02, {"route": "kb_answers"},
            [sig("eval_score", "evaluation", "count", "down", evaluator="groundedness")], True,
            "The groundedness judge's API key expires: no kb_answers answer finished in the window is scored (no data, "
            "not low scores). Traffic, answers and feedback are unchanged. Starts on Showa Day (Japanese traffic ~20%).",
            no_data=True),
        inc("W6-03", "stream_truncation", W03, {"route": "support_chat"},
            [sig("output_length", "length", "mean", "down"), sig("output_tokens", "tokens", "mean", "down"), thumbs],
            True,
            "An edge-proxy change caps streamed responses at 1.8 s: support_chat answers whose stream runs longer are "
            "cut mid-sentence (finishReason 'unknown', no usage reported: Anthropic's final message_delta never arrives). "
            "Answer length ~900 -> ~100 characters on most traces, thumbs-down 4% -> ~30%.",
            equivalent_cohorts=[{"model": "claude-sonnet-4-5"}]),
        inc("W6-04", "context_growth_cost", W04, {"route": "returns_desk"},
            [sig("cost_per_trace", "cost", "mean", "up"), sig("input_tokens", "tokens", "mean", "up")], True,
            "A returns_desk release stops trimming the conversation history: input tokens per call ~2.6k -> ~12k "
            "(3.5-6x), cost per trace ~4x. Answers and latency otherwise unchanged. Rolled back Friday 08:10."),
        inc("W6-05", "handoff_loop", W05, {"route": "dispatch_crew"},
            [sig("llm_calls_per_trace", "calls", "mean", "up"), sig("tool_calls_per_trace", "calls", "mean", "up"),
             sig("cost_per_trace", "cost", "mean", "up")], True,
            "Dispatcher and Carrier Liaison delegate the same task back and forth ('Delegate work to coworker' / "
            "'Ask question to coworker') 5-8 times before the crew gives up: agents per trace ~1.35 -> 6.5-9, LLM and "
            "tool calls and cost ~5x, no span errors."),
        inc("W6-06", "new_tenant_bad_quality", W06, {"tenant": NEW_TENANT},
            [grd, thumbs, sig("retrieval_score", "retrieval", "mean", "down")], True,
            "siam-express (Bangkok) is onboarded Wednesday 10:07 local: its Thai documents were indexed with the English "
            "embedding model, so its kb_answers retrieve weakly (0.35-0.60), groundedness ~0.52, thumbs-down ~25% on "
            "kb_answers and support_chat. A cohort that did not exist before; not fixed by the end of the week.",
            new_cohort="tenant"),
        inc("W6-07", "provider_brownout", W07, {"provider": "anthropic"},
            [sig("ttft", "latency", "p95", "up"), sig("duration", "duration", "p95", "up", span_kind="LLM"),
             sig("error_rate", "errors", "rate", "up")], True,
            "Anthropic brownout: time to first token ~5x on every Claude call (support_chat, kb_answers, returns_desk) "
            "and ~8% of calls fail with 529 overloaded_error. OpenAI and Gemini calls unchanged. Showa Day morning."),
        inc("W6-N1", "latency_blip", N1, {"tool_name": "track_parcel"},
            [sig("duration", "duration", "p95", "up", span_kind="TOOL")], False,
            "The carrier API is slow for 12 minutes: most track_parcel calls ~6x slower, no errors."),
        inc("W6-N2", "refusal_blip", N2, {"tenant": "pacific-mart"},
            [sig("refusal_rate", "refusal", "rate", "up")], False,
            "One pacific-mart user asks for other customers' addresses a few times; most are refused."),
        inc("W6-N3", "cost_blip", N3, {"tenant": "lion-city-cargo"},
            [sig("cost_per_trace", "cost", "mean", "up"), sig("tool_calls_per_trace", "calls", "mean", "up")], False,
            "lion-city-cargo files a few 40-page customs manifests: ~5x input tokens, 5 HS-code lookups each."),
        inc("W6-N4", "traffic_burst", N4, {"tenant": "tasman-couriers"},
            [sig("trace_count", "traffic", "count", "up")], False,
            "A storm warning in Auckland on Monday morning (Sunday 22:14 UTC): ~20 extra shipment_tracking questions."),
    ]
    return {"seed": seed, "scale": scale, "days": DAYS, "start": _ts(START), "end": _ts(START + timedelta(days=DAYS)),
            "quiet_days": QUIET_DAYS, "holiday": HOLIDAY,
            "timezones": {t: f"UTC+{o}" for t, (o, _s, _c) in TENANTS.items()} | {NEW_TENANT: "UTC+7"},
            "incidents": incidents}


def write_week(out_dir: "str | Path", seed: int = SEED, scale: float = 1.0, days: int = DAYS) -> Week:
    if days != DAYS:
        raise ValueError("days must be 7: the incidents are placed on the week's calendar (Showa Day on Thursday)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    g = _Gen(seed, scale)
    g.run()
    day_of = {tid: (START + timedelta(seconds=(ns - _ns(START)) // SEC_NS)).strftime("%Y-%m-%d")
              for tid, ns in g.start_of.items()}
    files: list[Path] = []
    rejected: list[tuple[str, int]] = []
    otlp_services = {"shipment-tracker", "customs-agent", "ops-console"}
    collector_services = {"kb-service", "dispatch-crew"}
    for d in range(DAYS):
        day = (START + timedelta(days=d)).strftime("%Y-%m-%d")
        spans = [s for s in g.spans if day_of[s.trace_id] == day]
        # 1. OTLP/JSON traces, gzip: the Python and Node services behind one gateway exporter
        p = out / f"kairos-otlp-{day}.json.gz"
        _gz(p, orjson.dumps(_request([s for s in spans if s.service in otlp_services])))
        files.append(p)
        # 2. Collector file exporter JSONL (gzip): a request per ~150 ended spans, two services per batch
        col = sorted((s for s in spans if s.service in collector_services), key=lambda s: (s.end, s.span_id))
        lines = [orjson.dumps(_request(col[i:i + 150])) for i in range(0, len(col), 150)]
        name = f"kb-collector-{day}.jsonl.gz"
        if day == "2027-05-01":
            # the collector was killed mid-write: its last line is cut (deliberately bad; reported and skipped)
            lines.append(lines[-1][: len(lines[-1]) // 2])
            rejected.append((name, len(lines)))
        p = out / name
        _gz(p, b"\n".join(lines) + b"\n")
        files.append(p)
        # 3. Langfuse: the returns desk exports straight to an OTLP/JSON file, uncompressed
        p = out / f"returns-langfuse-{day}.json"
        p.write_bytes(orjson.dumps(_request([s for s in spans if s.service == "returns-desk"])))
        files.append(p)
        # 4. evaluation + feedback logs, OTLP/JSON gzip
        evs = [e for e in g.evals if day_of[e.trace_id] == day]
        by: dict[str, list[Evaluation]] = {}
        for e in evs:
            by.setdefault(e.service, []).append(e)
        rl = []
        for svc in sorted(by):
            recs = []
            for e in by[svc]:
                a: dict[str, Any] = {"event.name": "gen_ai.evaluation.result", "gen_ai.evaluation.name": e.name,
                                     "gen_ai.evaluation.score.value": e.score}
                if e.label:
                    a["gen_ai.evaluation.score.label"] = e.label
                if e.name == "groundedness":
                    a["gen_ai.evaluation.explanation"] = "claims supported by the retrieved context"
                recs.append({"timeUnixNano": str(e.time), "observedTimeUnixNano": str(e.time),
                             "eventName": "gen_ai.evaluation.result", "traceId": e.trace_id, "spanId": e.span_id,
                             "attributes": _kv(a), "body": {}})
            rl.append({"resource": _resource(svc), "scopeLogs": [{"scope": {"name": "kairos.evals"}, "logRecords": recs}]})
        p = out / f"evals-{day}.otlp.json.gz"
        _gz(p, orjson.dumps({"resourceLogs": rl}))
        files.append(p)
    labels = _labels(g, seed, scale)
    inc_path = out / "incidents.json"
    inc_path.write_text(json.dumps(labels, indent=2) + "\n")
    return Week(out_dir=out, files=files, incidents=inc_path, traces=len(g.start_of), spans=len(g.spans),
                evaluations=len(g.evals), traces_by_route=dict(sorted(Counter(g.route_of.values()).items())),
                traces_by_tenant=dict(sorted(Counter(g.tenant_of.values()).items())),
                traces_by_day=dict(sorted(Counter(day_of.values()).items())),
                spans_by_service=dict(sorted(Counter(s.service for s in g.spans).items())), rejected_lines=rejected)


if __name__ == "__main__":
    w = write_week(sys.argv[1] if len(sys.argv) > 1 else "/tmp/sixth_week")
    print(w.traces, w.spans, w.evaluations, w.traces_by_route, w.traces_by_day, w.traces_by_tenant)
