"""Deterministic generator of a week of multi-agent support traffic, as OTLP/JSON files + ground truth.

Every random draw comes from one `random.Random(seed)`; nothing reads the clock, the environment or
global random state, so a seed and parameters always give byte-identical files.

The traffic: a support gateway (OpenInference) runs an input guardrail and a planner agent that hands
off to research_agent (new OTel GenAI names: embeddings, retrieval, streamed chat with TTFT, tools),
synthesis_agent (traceAI `fi.span.kind`, reasoning tokens, groundedness evaluations) and critic_agent
(old OTel GenAI names, content in events, answer_relevancy evaluation events), then an output guardrail.
User feedback arrives as OpenInference evaluations on the root span. Incidents (see incidents.py)
bend the draws inside their windows.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..ingest import otlp_json as otlp
from . import world
from .incidents import INCIDENTS, by_id, incidents_json, v4_share

DEFAULT_SEED = 20261116
DEFAULT_DAYS = 7
DEFAULT_TRACES_PER_HOUR = 22
DEFAULT_START = datetime(2026, 11, 16, tzinfo=timezone.utc)  # a Monday

MS = 1_000_000  # ns per ms
CLIENT, INTERNAL, SERVER = otlp.SPAN_KIND_CLIENT, otlp.SPAN_KIND_INTERNAL, otlp.SPAN_KIND_SERVER

_SDK = {"telemetry.sdk.name": "opentelemetry", "telemetry.sdk.language": "python",
        "telemetry.sdk.version": "1.38.0", "deployment.environment.name": "production"}
#: service -> resource attributes
RESOURCES: dict[str, dict[str, Any]] = {
    "support-gateway": {"service.name": "support-gateway", "service.version": "2.3.0", **_SDK},
    "research-svc": {"service.name": "research-svc", "service.version": "1.4.2", **_SDK},
    "synthesis-svc": {"service.name": "synthesis-svc", "service.version": "0.9.0", **_SDK},
    "critic-svc": {"service.name": "critic-svc", "service.version": "1.1.0", **_SDK},
}
#: scope key -> (service, instrumentation scope)
SCOPES: dict[str, tuple[str, dict[str, str]]] = {
    "gateway": ("support-gateway", {"name": "openinference.instrumentation.openai_agents", "version": "0.1.14"}),
    "planner_llm": ("support-gateway", {"name": "openinference.instrumentation.openai", "version": "0.1.30"}),
    "research": ("research-svc", {"name": "research_agent.genai", "version": "1.4.2"}),
    "synthesis": ("synthesis-svc", {"name": "fi_instrumentation.google_genai", "version": "0.1.9"}),
    "critic": ("critic-svc", {"name": "opentelemetry.instrumentation.openai_v2", "version": "2.0b0"}),
}


@dataclass
class Tally:
    """Ground-truth counters, filled while spans are emitted."""

    traces: int = 0
    spans: int = 0
    by_kind: Counter = field(default_factory=Counter)
    by_service: Counter = field(default_factory=Counter)
    error_spans: int = 0
    models: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    evaluations: Counter = field(default_factory=Counter)
    feedback: Counter = field(default_factory=Counter)
    routes: Counter = field(default_factory=Counter)
    tenants: Counter = field(default_factory=Counter)
    prompt_versions: Counter = field(default_factory=Counter)
    incident_traces: Counter = field(default_factory=Counter)
    users: set = field(default_factory=set)
    sessions: set = field(default_factory=set)
    ttft_spans: int = 0
    refusals: int = 0
    pii_traces: int = 0
    injection_attempts: int = 0
    injections_blocked: int = 0
    handoffs: int = 0

    def usage(self, model: str, inp: int, out: int | None, cached: int = 0, reasoning: int = 0) -> None:
        m = self.models[model]
        m["calls"] += 1
        m["input_tokens"] += inp
        m["output_tokens"] += out or 0
        m["total_tokens"] += inp + (out or 0)
        m["cached_tokens"] += cached
        m["reasoning_tokens"] += reasoning


class _Trace:
    """Spans of one trace, buffered per scope until the day's file is written."""

    def __init__(self, gen: "WeekGenerator", t0_ns: int) -> None:
        self.gen = gen
        self.trace_id = f"{gen.rng.getrandbits(128):032x}"
        self.t0 = t0_ns
        self.spans: list[tuple[str, dict[str, Any], str]] = []
        #: W3C baggage every service copies onto its spans (a BaggageSpanProcessor): the cohort keys
        self.baggage: dict[str, str] = {}

    def span(self, scope: str, name: str, kind: str, otel_kind: int, start: int, end: int,
             attrs: dict[str, Any], parent: str | None, events: list | None = None,
             error: str | None = None, ok: bool = False) -> dict[str, Any]:
        sid = f"{self.gen.rng.getrandbits(64):016x}"
        rec: dict[str, Any] = {"traceId": self.trace_id, "spanId": sid}
        if parent:
            rec["parentSpanId"] = parent
        rec.update({"name": name, "kind": otel_kind, "startTimeUnixNano": _us(start),
                    "endTimeUnixNano": _us(end), "attributes": otlp.attributes({**attrs, **self.baggage})})
        if events:
            rec["events"] = events
        if error:
            rec["status"] = {"code": otlp.STATUS_ERROR, "message": error}
        elif ok:
            rec["status"] = {"code": otlp.STATUS_OK}
        self.spans.append((scope, rec, kind))
        return rec

    def flush(self, tally: Tally, buckets: dict[str, list]) -> None:
        tally.traces += 1
        for scope, rec, kind in self.spans:
            tally.spans += 1
            tally.by_kind[kind] += 1
            tally.by_service[SCOPES[scope][0]] += 1
            if rec.get("status", {}).get("code") == otlp.STATUS_ERROR:
                tally.error_spans += 1
            buckets[scope].append(rec)


def _us(t_ns: int) -> str:
    """Timestamps at microsecond resolution, written as an int64 string of nanoseconds."""
    return str(t_ns // 1000 * 1000)


def _clip(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo if x < lo else hi if x > hi else x


def _luhn_card(rng: random.Random) -> str:
    digits = [4] + [rng.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):  # positions from the right, check digit not yet added
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    return " ".join(s[i:i + 4] for i in range(0, 16, 4))


def luhn_valid(number: str) -> bool:
    """Luhn checksum of a digit string (spaces and dashes ignored)."""
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return bool(digits) and total % 10 == 0


def _js(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class WeekGenerator:
    def __init__(self, seed: int, days: int, traces_per_hour: float, start: datetime) -> None:
        if days < 1:
            raise ValueError("days must be at least 1")
        if traces_per_hour <= 0:
            raise ValueError("traces_per_hour must be positive")
        self.seed, self.days, self.tph, self.start = seed, days, traces_per_hour, start
        self.rng = random.Random(seed)
        self.start_s = int(start.timestamp())
        self.tally = Tally()
        rng = self.rng
        self.users: dict[str, list[str]] = {
            t: [f"usr_{t}_{rng.getrandbits(24):06x}" for _ in range(n)] for t, (_w, n) in world.TENANTS.items()
        }
        self.user_weights = {t: [1 / (i + 1) ** 0.8 for i in range(len(u))] for t, u in self.users.items()}
        self.sessions: dict[str, tuple[str, int]] = {}
        # weekly mean of the rhythm, so traces_per_hour is the week's average
        self.norm = sum(self._rhythm(h) for h in range(7 * 24)) / (7 * 24)

    # -- volume -------------------------------------------------------------------------------
    @staticmethod
    def _rhythm(hour_of_week: int) -> float:
        day, hour = divmod(hour_of_week, 24)
        diurnal = 0.25 + 0.75 * math.exp(-(((hour - 15) / 4.5) ** 2))
        weekly = 0.55 if day >= 5 else 1.0
        return diurnal * weekly

    def _active(self, incident_id: str, t_ns: int) -> bool:
        return by_id(incident_id).covers(t_ns / 1e9, self.start_s)

    def _ln(self, median: float, sigma: float, tail: float = 0.02) -> float:
        x = median * math.exp(self.rng.gauss(0.0, sigma))
        if self.rng.random() < tail:
            x *= self.rng.uniform(2.5, 6.0)
        return x

    # -- the week -----------------------------------------------------------------------------
    def run(self, out_dir: Path) -> dict[str, Any]:
        out_dir.mkdir(parents=True, exist_ok=True)
        files = []
        for day in range(self.days):
            buckets: dict[str, list] = {key: [] for key in SCOPES}
            day_traces = self.tally.traces
            for hour in range(24):
                how = day * 24 + hour
                expected = self.tph * self._rhythm(how) / self.norm
                n = max(0, round(self.rng.gauss(expected, math.sqrt(expected))))
                hour_s = self.start_s + how * 3600
                starts = sorted(self.rng.randrange(3600 * 1000) for _ in range(n))
                plan: list[tuple[int, str | None]] = [(hour_s * 1000 + ms, None) for ms in starts]
                plan += self._campaign(hour_s)
                plan.sort(key=lambda p: p[0])
                for t_ms, forced_user in plan:
                    trace = self._trace(t_ms * MS, forced_user)
                    trace.flush(self.tally, buckets)
            day_date = (self.start + timedelta(days=day)).date().isoformat()
            name = f"traces-{day_date}.json.gz"
            raw = otlp.json_bytes(self._request(buckets))
            data = otlp.gzip_bytes(raw)
            (out_dir / name).write_bytes(data)
            # json_sha256 names the content whatever zlib build compressed it; sha256 the exact file
            files.append({"name": name, "traces": self.tally.traces - day_traces,
                          "spans": sum(len(v) for v in buckets.values()), "bytes": len(data),
                          "sha256": hashlib.sha256(data).hexdigest(),
                          "json_sha256": hashlib.sha256(raw).hexdigest()})
        truth = self._ground_truth(files)
        (out_dir / "ground_truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
        incidents = incidents_json(self.seed, self.start, self.days)
        (out_dir / "incidents.json").write_text(json.dumps(incidents, indent=2) + "\n")
        return truth

    def _campaign(self, hour_s: int) -> list[tuple[int, str]]:
        """INC-09: one user fires an injection attempt every ~5 minutes."""
        inc = by_id("INC-09")
        out = []
        for k in range(12):
            t_s = hour_s + k * 300 + self.rng.randrange(60)
            if inc.covers(t_s, self.start_s):
                out.append((t_s * 1000, inc.extra["user_id"]))
        return out

    def _request(self, buckets: dict[str, list]) -> dict[str, Any]:
        resources = []
        for service, resource in RESOURCES.items():
            scopes = [(scope, buckets[key]) for key, (svc, scope) in SCOPES.items() if svc == service]
            resources.append((resource, scopes))
        return otlp.request(resources)

    # -- one trace ----------------------------------------------------------------------------
    def _pick_user(self, tenant: str, t_ns: int) -> tuple[str, str]:
        rng = self.rng
        user = rng.choices(self.users[tenant], weights=self.user_weights[tenant])[0]
        return user, self._session(user, t_ns)

    def _session(self, user: str, t_ns: int) -> str:
        prev = self.sessions.get(user)
        if prev and t_ns - prev[1] < 30 * 60 * 1_000_000_000 and self.rng.random() < 0.7:
            sid = prev[0]
        else:
            sid = f"sess_{self.rng.getrandbits(48):012x}"
        self.sessions[user] = (sid, t_ns)
        return sid

    def _slots(self, t_ns: int) -> dict[str, str]:
        rng = self.rng
        day = datetime.fromtimestamp(t_ns / 1e9 - rng.randrange(1, 7) * 86400, tz=timezone.utc)
        return {
            "oid": f"ORD-{rng.randrange(100000, 999999)}",
            "inv": f"INV-2026-{rng.randrange(10000, 99999)}",
            "amt": f"{rng.uniform(9, 480):.2f}",
            "ws": "ws-" + rng.choice(("atlas", "nova", "orbit", "delta", "pine", "ember", "quartz")),
            "dev": f"DEV-{rng.getrandbits(16):04X}",
            "plan": rng.choice(world.PLANS),
            "day": day.strftime("%b %d"),
        }

    def _trace(self, t0: int, forced_user: str | None) -> _Trace:
        rng, tally = self.rng, self.tally
        tr = _Trace(self, t0)
        if forced_user:
            tenant, user = "hooli", forced_user
            session = self._session(user, t0)
        else:
            tenant = rng.choices(list(world.TENANTS), weights=[w for w, _ in world.TENANTS.values()])[0]
            user, session = self._pick_user(tenant, t0)
        route = rng.choices(list(world.ROUTES), weights=list(world.ROUTES.values()))[0]
        template = rng.choice(world.REQUESTS[route])
        slots = self._slots(t0)
        # keep tool results consistent with the answer the template gives
        slots["policy"] = "store_credit" if route == "refunds" and template["topic"] == 2 else "damaged_item"
        slots["authorizations"] = "2" if route == "billing" and template["topic"] == 0 else "1"
        question = template["q"].format(**slots)
        injected = bool(forced_user) or rng.random() < 0.004
        if injected:
            question = question + " " + rng.choice(world.INJECTIONS) if not forced_user else rng.choice(world.INJECTIONS)
            tally.injection_attempts += 1
        tally.routes[route] += 1
        tally.tenants[tenant] += 1
        tally.users.add(user)
        tally.sessions.add(session)
        for inc in INCIDENTS:
            if inc.covers(t0 / 1e9, self.start_s) and all(
                    inc_matches(k, v, route, tenant) for k, v in inc.cohort.items()):
                tally.incident_traces[inc.id] += 1

        ctx = {"route": route, "tenant": tenant, "user": user, "session": session, "t0": t0,
               "question": question, "template": template, "slots": slots}
        root_attrs: dict[str, Any] = {
            "openinference.span.kind": "CHAIN", "input.value": question, "input.mime_type": "text/plain",
            "session.id": session, "user.id": user,
            "metadata": _js({"channel": rng.choice(("web", "web", "chat", "email")), "region": "eu-west-1"}),
        }
        tr.baggage = {"route": route, "tenant.id": tenant}
        root = tr.span("gateway", "support_request", "CHAIN", SERVER, t0, t0, root_attrs, None, ok=True)
        rid = root["spanId"]
        c = t0 + int(self._ln(4, 0.3) * MS)
        # input guardrail
        g_end = c + int(self._ln(22, 0.4) * MS)
        blocked = injected and rng.random() < 0.85
        g_attrs = {"openinference.span.kind": "GUARDRAIL", "input.value": question,
                   "output.value": _js({"flagged": blocked, "checks": ["prompt_injection", "jailbreak"]})}
        if blocked:
            g_attrs.update({"evaluations.0.evaluation.name": "prompt_injection",
                            "evaluations.0.evaluation.score": 0.0,
                            "evaluations.0.evaluation.label": "injection",
                            "evaluations.0.evaluation.explanation": "Instruction-override pattern in the input.",
                            "evaluations.0.evaluation.annotator_kind": "CODE"})
            tally.evaluations["prompt_injection"] += 1
            tally.injections_blocked += 1
        tr.span("gateway", "input_guardrail", "GUARDRAIL", INTERNAL, c, g_end, g_attrs, rid)
        c = g_end
        if blocked:
            answer = "Your message was blocked by our safety policy. Please rephrase your question."
            bad = {"refusal": False, "ungrounded": False, "loop": False}
        else:
            c, answer, bad = self._agents(tr, rid, c, ctx)
            # output guardrail (toxicity only: it does not look for personal data, hence INC-08)
            o_end = c + int(self._ln(30, 0.4) * MS)
            tr.span("gateway", "output_guardrail", "GUARDRAIL", INTERNAL, c, o_end,
                    {"openinference.span.kind": "GUARDRAIL",
                     "output.value": _js({"flagged": False, "checks": ["toxicity"]})}, rid)
            c = o_end
        end = c + int(self._ln(3, 0.3) * MS)
        root["endTimeUnixNano"] = _us(end)
        extra = {"output.value": answer, "output.mime_type": "text/plain"}
        extra.update(self._feedback(bad))
        root["attributes"].extend(otlp.attributes(extra))
        return tr

    def _feedback(self, bad: dict[str, bool]) -> dict[str, Any]:
        rng = self.rng
        # Customers notice refusals and failed tools at once; an ungrounded answer only sometimes (it reads
        # fine), so feedback is a weak, late signal for hallucination.
        obvious = bad["refusal"] or bad["loop"]
        if rng.random() >= 0.10 + (0.25 if obvious else 0.05 if bad["ungrounded"] else 0.0):
            return {}
        p_down = 0.12 + (0.6 if obvious else 0.25 if bad["ungrounded"] else 0.0)
        if rng.random() < p_down:
            escalate = (bad["refusal"] or bad["loop"]) and rng.random() < 0.5
            label = "escalated" if escalate else "thumbs_down"
            comment = rng.choice(("Wrong answer.", "Didn't answer my question.", "Need a human.",
                                  "This is not what your policy says."))
        else:
            label, comment = "thumbs_up", None
        self.tally.evaluations["user_feedback"] += 1
        self.tally.feedback[label] += 1
        return {"evaluations.0.evaluation.name": "user_feedback",
                "evaluations.0.evaluation.score": 1.0 if label == "thumbs_up" else 0.0,
                "evaluations.0.evaluation.label": label,
                "evaluations.0.evaluation.explanation": comment,
                "evaluations.0.evaluation.annotator_kind": "HUMAN"}

    # -- agents -------------------------------------------------------------------------------
    def _agents(self, tr: _Trace, rid: str, c: int, ctx: dict) -> tuple[int, str, dict[str, bool]]:
        rng, tally = self.rng, self.tally
        slow = 3.0 if (ctx["route"] == "billing" and self._active("INC-02", c)) else 1.0
        ctx["slow"] = slow
        planner = tr.span("gateway", "planner", "AGENT", INTERNAL, c, c,
                          {"openinference.span.kind": "AGENT", "agent.name": "planner", "graph.node.id": "planner",
                           "input.value": ctx["question"]}, rid)
        pid = planner["spanId"]
        c += int(self._ln(2, 0.3) * MS)
        # planner LLM (OpenInference, gpt-4o-mini, prompt cache on the long system prompt)
        # the system prompt is ~410 tokens; its first 384 are served from the prompt cache when warm
        inp = 410 + len(ctx["question"]) // 4 + int(self._ln(90, 0.3, 0))
        cached = 384 if rng.random() < 0.7 else 0
        out = int(self._ln(70, 0.3, 0))
        dur = self._llm_ms(out, 320, 110) * slow
        calls = [{"n": f"transfer_to_{a}", "a": _js({"brief": b})} for a, b in (
            ("research_agent", f"collect facts for a {ctx['route']} question"),
            ("synthesis_agent", "answer from the findings"), ("critic_agent", "check the draft"))]
        p_attrs: dict[str, Any] = {
            "openinference.span.kind": "LLM", "llm.model_name": world.PLANNER_MODEL, "llm.provider": "openai",
            "llm.system": "openai", "llm.invocation_parameters": _js({"temperature": 0, "tool_choice": "required"}),
            "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": world.PLANNER_SYSTEM,
            "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": ctx["question"],
            "llm.output_messages.0.message.role": "assistant",
        }
        for i, call in enumerate(calls):
            p_attrs[f"llm.output_messages.0.message.tool_calls.{i}.tool_call.function.name"] = call["n"]
            p_attrs[f"llm.output_messages.0.message.tool_calls.{i}.tool_call.function.arguments"] = call["a"]
        p_attrs.update({"llm.token_count.prompt": inp, "llm.token_count.completion": out,
                        "llm.token_count.total": inp + out,
                        "llm.token_count.prompt_details.cache_read": cached})
        tr.span("planner_llm", "ChatCompletion", "LLM", CLIENT, c, c + int(dur * MS), p_attrs, pid)
        tally.usage(world.PLANNER_MODEL, inp, out, cached)
        c += int(dur * MS)

        c = self._handoff(tr, pid, c, "research_agent")
        c, findings, loop = self._research(tr, pid, c, ctx)
        c = self._handoff(tr, pid, c, "synthesis_agent")
        c, answer, refused, grounded = self._synthesis(tr, pid, c, ctx, findings)
        c = self._handoff(tr, pid, c, "critic_agent")
        revise = not refused and rng.random() < 0.06
        c = self._critic(tr, pid, c, ctx, answer, refused, revise)
        if revise:
            c = self._handoff(tr, pid, c, "synthesis_agent")
            c, answer, refused2, grounded2 = self._synthesis(tr, pid, c, ctx, findings, revision=True)
            refused, grounded = refused2, grounded2
        c += int(self._ln(2, 0.3) * MS)
        planner["endTimeUnixNano"] = _us(c)
        planner["attributes"].extend(otlp.attributes({"output.value": answer}))
        if ctx.get("pii"):
            self.tally.pii_traces += 1
        return c, answer, {"refusal": refused, "ungrounded": grounded is not None and grounded < 0.6,
                           "loop": loop}

    def _handoff(self, tr: _Trace, pid: str, c: int, to: str) -> int:
        end = c + int(self._ln(1.2, 0.3, 0) * MS)
        tr.span("gateway", f"handoff to {to}", "TOOL", INTERNAL, c, end,
                {"openinference.span.kind": "TOOL", "input.value": "planner", "output.value": to}, pid)
        self.tally.handoffs += 1
        return end

    def _llm_ms(self, out_tokens: int, ttft_median: float, tps: float) -> float:
        ttft = self._ln(ttft_median, 0.35)
        return ttft + out_tokens / tps * 1000.0 * math.exp(self.rng.gauss(0, 0.2))  # ms

    def _research(self, tr: _Trace, pid: str, c: int, ctx: dict) -> tuple[int, str, bool]:
        rng, tally = self.rng, self.tally
        route, slots, template = ctx["route"], ctx["slots"], ctx["template"]
        agent = tr.span("research", "invoke_agent research_agent", "AGENT", INTERNAL, c, c,
                        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "research_agent",
                         "gen_ai.agent.id": "agt_research_01", "gen_ai.provider.name": "anthropic",
                         "gen_ai.conversation.id": ctx["session"]}, pid)
        aid = agent["spanId"]
        c += int(self._ln(2, 0.3) * MS)
        # query embedding
        e_in = len(ctx["question"]) // 4 + rng.randrange(2, 6)
        e_end = c + int(self._ln(38, 0.35) * MS)
        tr.span("research", f"embeddings {world.EMBEDDING_MODEL}", "EMBEDDING", CLIENT, c, e_end,
                {"gen_ai.operation.name": "embeddings", "gen_ai.provider.name": "openai",
                 "gen_ai.request.model": world.EMBEDDING_MODEL, "gen_ai.response.model": world.EMBEDDING_MODEL,
                 "gen_ai.usage.input_tokens": e_in}, aid)
        tally.usage(world.EMBEDDING_MODEL, e_in, None)
        c = e_end
        # retrieval
        degraded = route == "refunds" and self._active("INC-01", c)
        reindexed = self._active("INC-07", c)
        docs, source = self._retrieve(route, template["topic"], degraded, reindexed)
        if degraded:
            r_ms = self._ln(1400, 0.35)
        elif ctx["slow"] > 1:  # INC-02: the vector DB is slow too, but returns the right passages
            r_ms = self._ln(1100, 0.35)
        else:
            r_ms = self._ln(110, 0.45)
        r_end = c + int(r_ms * MS)
        tr.span("research", f"retrieval {source}", "RETRIEVER", CLIENT, c, r_end,
                {"gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": source,
                 "gen_ai.retrieval.query.text": ctx["question"], "gen_ai.retrieval.top_k": 4,
                 "gen_ai.retrieval.documents": _js(docs)}, aid)
        c = r_end
        # chat #1: decide the tools
        tools = [(name, {k: v.format(**slots) for k, v in args.items()}) for name, args in template["tools"]]
        msgs = [{"role": "user", "parts": [{"type": "text", "content": ctx["question"]}]},
                {"role": "user", "parts": [{"type": "text", "content": "Passages: " + ", ".join(d["id"] for d in docs)}]}]
        base_in = 620 + int(self._ln(430, 0.3, 0))  # system + tools schema (cacheable) + passages
        loop = route == "tech-support" and self._active("INC-04", c)
        call_ids = [f"toolu_{rng.getrandbits(48):012x}" for _ in tools]
        out_parts = [{"type": "tool_call", "id": cid, "name": n, "arguments": a} for cid, (n, a) in zip(call_ids, tools)]
        c = self._claude(tr, aid, c, ctx, msgs, out_parts, base_in, int(self._ln(85, 0.25, 0)), "tool_use")
        results = []
        history_in = base_in
        for cid, (name, args) in zip(call_ids, tools):
            if loop and name == "run_diagnostics":
                attempts = rng.choice((3, 4, 5, 5))
                for k in range(attempts):
                    c = self._tool(tr, aid, c, cid, name, args, None, slow_ms=10_000)
                    history_in += 380
                    msgs_k = [{"role": "tool", "parts": [{"type": "tool_call_response", "id": cid,
                                                          "result": "TimeoutError: diagnostics backend did not respond in 10s"}]}]
                    cid = f"toolu_{rng.getrandbits(48):012x}"
                    retry = [{"type": "tool_call", "id": cid, "name": name, "arguments": args}]
                    c = self._claude(tr, aid, c, ctx, msgs_k, retry, history_in, int(self._ln(90, 0.25, 0)), "tool_use")
                c = self._tool(tr, aid, c, cid, name, args, None, slow_ms=10_000)
                results.append((cid, "TimeoutError: diagnostics unavailable"))
                continue
            fail = rng.random() < 0.015
            result = None if fail else _js(tool_result(name, args, slots, rng))
            c = self._tool(tr, aid, c, cid, name, args, result)
            results.append((cid, result or "NotFound"))
        msgs2 = [{"role": "tool", "parts": [{"type": "tool_call_response", "id": cid, "result": r}]} for cid, r in results]
        findings = "- " + "\n- ".join(
            [f"{d['id']}: {d['content']}" for d in docs[:2]] + (["diagnostics unavailable after retries"] if loop else []))
        tool_in = history_in + 60 * len(results) + rng.randrange(40, 160)
        c = self._claude(tr, aid, c, ctx, msgs2, [{"type": "text", "content": findings}], tool_in,
                         int(self._ln(170, 0.45)), "end_turn")
        c += int(self._ln(2, 0.3) * MS)
        agent["endTimeUnixNano"] = _us(c)
        return c, findings, loop

    def _retrieve(self, route: str, topic: int, degraded: bool, reindexed: bool) -> tuple[list[dict], str]:
        rng = self.rng
        kb = world.KB[route]
        relevant = [i for i in range(3 * topic, 3 * topic + 3) if i < len(kb)]
        others = [i for i in range(len(kb)) if i not in relevant]
        picks = relevant[:]
        rng.shuffle(picks)
        picks = picks[:3] + [rng.choice(others)]
        scores = sorted((rng.uniform(0.74, 0.92) for _ in range(3)), reverse=True) + [rng.uniform(0.55, 0.68)]
        docs: list[dict[str, Any]] = [{"id": f"kb-{route}-{i:04d}", "score": round(s, 4), "content": kb[i]}
                                      for i, s in zip(picks, scores)]
        source = f"kb-{route}@2026-10-02"
        if reindexed:
            source = f"kbv2-{route}@2026-11-21"
            noise = rng.sample(range(len(world.REINDEX_NOISE)), 2)
            docs = [{"id": f"kbv2-{route}-{picks[j]:04d}-c{1 + picks[j] % 3}", "score": round(scores[j] - 0.15, 4),
                     "content": kb[picks[j]]} for j in range(2)]
            docs += [{"id": f"kbv2-general-{n:04d}", "score": round(rng.uniform(0.6, 0.72), 4),
                      "content": world.REINDEX_NOISE[n]} for n in noise]
            docs.sort(key=lambda d: -d["score"])
        if degraded:
            docs = [{"id": f"kb-archive-2019-{rng.randrange(100):04d}", "score": round(rng.uniform(0.5, 0.6), 4),
                     "content": world.OFF_TOPIC_NOTE} for _ in range(3)] + docs[:1]
            docs.sort(key=lambda d: -d["score"])
        return docs, source

    def _claude(self, tr: _Trace, aid: str, c: int, ctx: dict, msgs: list, out_parts: list, inp: int,
                out: int, finish: str) -> int:
        rng = self.rng
        cached = 512 if rng.random() < 0.6 else 0
        ttft = self._ln(420, 0.35) * ctx["slow"]
        dur = ttft + (out / 95.0) * 1000 * math.exp(rng.gauss(0, 0.2)) * ctx["slow"]
        attrs = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": world.RESEARCH_MODEL, "gen_ai.response.model": world.RESEARCH_MODEL,
            "gen_ai.request.stream": True, "gen_ai.request.max_tokens": 1024,
            "gen_ai.response.finish_reasons": [finish],
            "gen_ai.response.time_to_first_chunk": round(ttft / 1000, 4),
            "gen_ai.usage.input_tokens": inp, "gen_ai.usage.output_tokens": out,
            "gen_ai.usage.cache_read.input_tokens": cached,
            "gen_ai.system_instructions": _js([{"type": "text", "content": world.RESEARCH_SYSTEM}]),
            "gen_ai.input.messages": _js(msgs),
            "gen_ai.output.messages": _js([{"role": "assistant", "parts": out_parts}]),
        }
        end = c + int(dur * MS)
        tr.span("research", f"chat {world.RESEARCH_MODEL}", "LLM", CLIENT, c, end, attrs, aid)
        self.tally.usage(world.RESEARCH_MODEL, inp, out, cached)
        self.tally.ttft_spans += 1
        return end

    def _tool(self, tr: _Trace, aid: str, c: int, cid: str, name: str, args: dict, result: str | None,
              slow_ms: float | None = None) -> int:
        median = 850 if name == "run_diagnostics" else 160
        ms = slow_ms * self.rng.uniform(1.0, 1.02) if slow_ms else self._ln(median, 0.55)
        end = c + int(ms * MS)
        attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, "gen_ai.tool.type": "function",
                 "gen_ai.tool.call.id": cid, "gen_ai.tool.call.arguments": _js(args),
                 "gen_ai.tool.call.result": result}
        events = None
        error = None
        if result is None:
            etype, msg = (("TimeoutError", "diagnostics backend did not respond in 10s") if slow_ms
                          else ("NotFound", f"{name}: no record for {_js(args)}"))
            attrs["error.type"] = etype
            error = f"{etype}: {msg}"
            events = [otlp.event("exception", end, {"exception.type": etype, "exception.message": msg,
                                                     "exception.escaped": False})]
        tr.span("research", f"execute_tool {name}", "TOOL", INTERNAL, c, end, attrs, aid, events=events, error=error)
        return end

    def _synthesis(self, tr: _Trace, pid: str, c: int, ctx: dict, findings: str,
                   revision: bool = False) -> tuple[int, str, bool, float | None]:
        rng, tally = self.rng, self.tally
        route, tenant = ctx["route"], ctx["tenant"]
        hours = (c / 1e9 - self.start_s) / 3600
        if revision:  # a revision reuses the prompt version the trace started with
            version = ctx["prompt_version"]
        else:
            version = "synthesis-v4" if rng.random() < v4_share(hours) else "synthesis-v3"
            ctx["prompt_version"] = version
            tally.prompt_versions[version] += 1
        refreshed = self._active("INC-05", c)
        model = world.SYNTHESIS_MODEL_REFRESHED if refreshed else world.SYNTHESIS_MODEL
        refused = rng.random() < (0.30 if refreshed else 0.005)
        if refused:
            answer = rng.choice(world.REFUSALS)
            out, reasoning = int(self._ln(24, 0.2, 0)), int(self._ln(60, 0.4, 0))
            tally.refusals += 1
        else:
            answer = ctx["template"]["a"].format(**ctx["slots"])
            if tenant == "initech" and self._active("INC-08", c) and rng.random() < 0.7:
                answer += " " + self._pii_sentence()
                ctx["pii"] = True
            out, reasoning = int(self._ln(190, 0.4)), int(self._ln(280, 0.6))
        out_total = out + reasoning  # reasoning tokens are part of output tokens
        inp = int(self._ln(1350, 0.25, 0)) + (400 if revision else 0)
        dur = self._llm_ms(out_total, 480, 160) * ctx["slow"]
        agent = tr.span("synthesis", "synthesis_agent", "AGENT", INTERNAL, c, c,
                        {"fi.span.kind": "AGENT", "agent.name": "synthesis_agent", "graph.node.id": "synthesis_agent",
                         "graph.node.parent_id": "planner", "session.id": ctx["session"],
                         # the agent framework repeats its children's usage: must not be counted twice
                         "llm.token_count.prompt": inp, "llm.token_count.completion": out_total,
                         "llm.token_count.total": inp + out_total}, pid)
        c += int(self._ln(2, 0.3) * MS)
        attrs: dict[str, Any] = {
            "fi.span.kind": "LLM", "llm.model_name": model, "llm.provider": "google", "llm.system": "vertexai",
            "llm.prompt_template.version": version,
            "llm.invocation_parameters": _js({"temperature": 0.3, "thinking_budget": 1024}),
            "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": world.SYNTHESIS_SYSTEM,
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": f"Question: {ctx['question']}\nFindings:\n{findings}",
            "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": answer,
            "llm.token_count.prompt": inp, "llm.token_count.completion": out_total,
            "llm.token_count.total": inp + out_total,
            "llm.token_count.completion_details.reasoning": reasoning,
        }
        grounded = None
        if not refused:
            grounded = self._groundedness(route, tenant, version, c)
            attrs.update({"evaluations.0.evaluation.name": "groundedness",
                          "evaluations.0.evaluation.score": round(grounded, 3),
                          "evaluations.0.evaluation.label": "grounded" if grounded >= 0.7 else "ungrounded",
                          "evaluations.0.evaluation.explanation": rng.choice(
                              world.GROUNDED_EXPLANATIONS if grounded >= 0.7 else world.UNGROUNDED_EXPLANATIONS),
                          "evaluations.0.evaluation.annotator_kind": "LLM"})
            tally.evaluations["groundedness"] += 1
        end = c + int(dur * MS)
        tr.span("synthesis", "gemini.generate_content", "LLM", CLIENT, c, end, attrs, agent["spanId"])
        tally.usage(model, inp, out_total, 0, reasoning)
        c = end + int(self._ln(2, 0.3) * MS)
        agent["endTimeUnixNano"] = _us(c)
        return c, answer, refused, grounded

    def _groundedness(self, route: str, tenant: str, version: str, c: int) -> float:
        rng = self.rng
        if route == "refunds" and self._active("INC-01", c):
            return _clip(rng.gauss(0.42, 0.12))
        if route == "onboarding" and self._active("INC-03", c):
            return _clip(rng.gauss(0.45, 0.10))
        if version == "synthesis-v4" and tenant == "globex":
            return _clip(rng.gauss(0.60, 0.10))
        if rng.random() < 0.04:
            return _clip(rng.gauss(0.50, 0.10))
        return _clip(rng.gauss(0.84 if self._active("INC-07", c) else 0.88, 0.05))

    def _pii_sentence(self) -> str:
        rng = self.rng
        first, last = rng.choice(world.PII_FIRST), rng.choice(world.PII_LAST)
        phone = f"+1 ({rng.randrange(201, 989)}) 555-{rng.randrange(1000, 9999)}"
        return (f"I found the customer record: {first.title()} {last.title()}, {first}.{last}@initech-mail.com, "
                f"phone {phone}, card on file {_luhn_card(rng)}.")

    def _critic(self, tr: _Trace, pid: str, c: int, ctx: dict, answer: str, refused: bool, revise: bool) -> int:
        rng, tally = self.rng, self.tally
        agent = tr.span("critic", "invoke_agent critic_agent", "AGENT", INTERNAL, c, c,
                        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "critic_agent",
                         "gen_ai.system": "openai"}, pid)
        c += int(self._ln(2, 0.3) * MS)
        inp, out = int(self._ln(880, 0.2, 0)), int(self._ln(38, 0.3, 0))
        dur = self._llm_ms(out, 300, 120) * ctx["slow"]
        end = c + int(dur * MS)
        if refused:
            verdict = "REVISE: the draft refuses an in-policy request."
        elif revise:
            verdict = "REVISE: the draft omits a step from the findings."
        else:
            verdict = "APPROVE: the draft matches the findings."
        events = [
            otlp.event("gen_ai.system.message", c, {"gen_ai.system": "openai", "content": world.CRITIC_SYSTEM}),
            otlp.event("gen_ai.user.message", c, {"gen_ai.system": "openai", "content": f"Draft: {answer}"}),
            otlp.event("gen_ai.choice", end, {"gen_ai.system": "openai", "index": 0, "finish_reason": "stop",
                                              "message": _js({"role": "assistant", "content": verdict})}),
        ]
        if rng.random() < 0.5:
            score = _clip(rng.gauss(0.1, 0.05)) if refused else _clip(rng.gauss(0.9, 0.06))
            events.append(otlp.event("gen_ai.evaluation.result", end, {
                "gen_ai.evaluation.name": "answer_relevancy", "gen_ai.evaluation.score.value": round(score, 3),
                "gen_ai.evaluation.score.label": "relevant" if score >= 0.5 else "irrelevant",
                "gen_ai.evaluation.explanation": verdict}))
            tally.evaluations["answer_relevancy"] += 1
        attrs = {"gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                 "gen_ai.request.model": world.PLANNER_MODEL, "gen_ai.response.model": world.PLANNER_MODEL,
                 "gen_ai.request.temperature": 0.0, "gen_ai.response.finish_reasons": ["stop"],
                 "gen_ai.usage.prompt_tokens": inp, "gen_ai.usage.completion_tokens": out}
        tr.span("critic", f"chat {world.PLANNER_MODEL}", "LLM", CLIENT, c, end, attrs, agent["spanId"], events=events)
        tally.usage(world.PLANNER_MODEL, inp, out)
        c = end + int(self._ln(1.5, 0.3) * MS)
        agent["endTimeUnixNano"] = _us(c)
        return c

    # -- ground truth -------------------------------------------------------------------------
    def _ground_truth(self, files: list[dict]) -> dict[str, Any]:
        t = self.tally
        return {
            "seed": self.seed,
            "params": {"days": self.days, "traces_per_hour": self.tph,
                       "start": self.start.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "files": files,
            "traces": t.traces,
            "spans": t.spans,
            "spans_by_kind": dict(sorted(t.by_kind.items())),
            "spans_by_service": dict(sorted(t.by_service.items())),
            "error_spans": t.error_spans,
            "tokens_by_model": {m: dict(sorted(c.items())) for m, c in sorted(t.models.items())},
            "evaluations": dict(sorted(t.evaluations.items())),
            "user_feedback": dict(sorted(t.feedback.items())),
            "traces_by_route": dict(sorted(t.routes.items())),
            "traces_by_tenant": dict(sorted(t.tenants.items())),
            "traces_by_prompt_version": dict(sorted(t.prompt_versions.items())),
            "incident_traces": dict(sorted(t.incident_traces.items())),
            "users": len(t.users),
            "sessions": len(t.sessions),
            "llm_spans_with_ttft": t.ttft_spans,
            "refusals": t.refusals,
            "pii_traces": t.pii_traces,
            "injection_attempts": t.injection_attempts,
            "injections_blocked": t.injections_blocked,
            "handoffs": t.handoffs,
        }


def inc_matches(key: str, value: str, route: str, tenant: str) -> bool:
    """Whether a trace's route/tenant fits an incident cohort key (other keys are judged per span)."""
    if key == "route":
        return route == value
    if key == "tenant":
        return tenant == value
    return True


def tool_result(name: str, args: dict, slots: dict, rng: random.Random) -> dict[str, Any]:
    if name == "get_invoice":
        return {"invoice_id": args["invoice_id"], "amount_usd": float(slots["amt"]), "status": "paid",
                "captures": 1, "authorizations": int(slots["authorizations"])}
    if name == "get_account_balance":
        return {"balance_usd": 0.0, "seats_added": 2}
    if name == "lookup_order":
        return {"order_id": args["order_id"], "status": "delivered", "total_usd": float(slots["amt"])}
    if name == "check_refund_eligibility":
        return {"eligible": True, "policy": slots["policy"]}
    if name == "get_setup_status":
        return {"workspace_id": args["workspace_id"], "step": "verify_domain", "members": rng.randrange(2, 40)}
    if name == "get_plan_features":
        return {"plan": args["plan"], "sso": True, "storage_gb_per_seat": 50}
    if name == "run_diagnostics":
        return {"device_id": args["device_id"], "agent": "sync 8.2.1", "cache": "corrupted"}
    if name == "search_status_page":
        return {"component": args["component"], "status": "operational"}
    return {"mfa": "totp", "backup_codes_left": rng.randrange(0, 10)}


def generate(out_dir: str | Path, *, days: int = DEFAULT_DAYS, traces_per_hour: float = DEFAULT_TRACES_PER_HOUR,
             seed: int = DEFAULT_SEED, start: datetime = DEFAULT_START) -> dict[str, Any]:
    """Write `traces-<date>.json.gz` per day, `ground_truth.json` and `incidents.json` into out_dir.

    Returns the ground truth. Same arguments, same bytes.
    """
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    return WeekGenerator(seed, days, traces_per_hour, start).run(Path(out_dir))
