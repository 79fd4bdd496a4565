"""Small deterministic multi-agent traces for the workbench tests (written through store.write_batch).

Every trace: request (CHAIN root) -> planner (AGENT) -> [plan LLM gpt-4o-mini, researcher (AGENT handoff)
-> [search_docs RETRIEVER, lookup_order TOOL], writer (AGENT handoff) -> answer LLM gpt-4o].
Trace i starts at BASE + i hours. Routes cycle billing/refunds/search, tenants acme/globex, prompt v1 for
i < n/2 else v2. The "incident": refunds traces on v2 have a failing tool (ERROR), a refusal answer,
slow retrieval and groundedness 0.2; every other trace has groundedness 0.9.
"""
from __future__ import annotations

from tracedesk.models import Evaluation, Span
from tracedesk.store import connect, write_batch

BASE_NS = 1_763_942_400_000_000_000  # 2025-11-24T00:00:00Z
HOUR = 3_600_000_000_000
MS = 1_000_000
ROUTES = ("billing", "refunds", "search")
TENANTS = ("acme", "globex")


def trace_id(i: int) -> str:
    return f"{i + 1:032x}"


def span_id(i: int, j: int) -> str:
    return f"{(i + 1) * 100 + j:016x}"


def is_incident(i: int, n: int) -> bool:
    return ROUTES[i % 3] == "refunds" and i >= n // 2


def make_trace(i: int, n: int) -> tuple[list[Span], list[Evaluation]]:
    tid = trace_id(i)
    t0 = BASE_NS + i * HOUR
    route, tenant = ROUTES[i % 3], TENANTS[i % 2]
    pv = "v1" if i < n // 2 else "v2"
    bad = is_incident(i, n)
    common = dict(trace_id=tid, route=route, tenant=tenant, prompt_version=pv, environment="prod",
                  session_id=f"sess{i % 4}", user_id=f"user{i % 5}")
    retr_ms = 900 if bad else 100
    total_ms = 1000 + retr_ms

    def sp(j, parent, name, kind, start_ms, dur_ms, **kw):
        return Span(span_id=span_id(i, j), parent_span_id=span_id(i, parent) if parent is not None else None,
                    name=name, kind=kind, start_ns=t0 + start_ms * MS, end_ns=t0 + (start_ms + dur_ms) * MS,
                    duration_ms=float(dur_ms), status=kw.pop("status", "OK"), **common, **kw)

    answer = "I'm sorry, but I can't help with that refund." if bad else f"Your {route} answer <b>#{i}</b>."
    spans = [
        sp(0, None, "request", "CHAIN", 0, total_ms, input_text=f"question {i} about {route}"),
        sp(1, 0, "planner", "AGENT", 10, total_ms - 20, agent_name="planner"),
        sp(2, 1, "plan", "LLM", 20, 200, model="gpt-4o-mini", input_tokens=100, output_tokens=20,
           cost_usd=0.001, ttft_ms=50.0, agent_name="planner", output_text="plan: research then write"),
        sp(3, 1, "researcher", "AGENT", 230, retr_ms + 200, agent_name="researcher"),
        sp(4, 3, "search_docs", "RETRIEVER", 240, retr_ms, agent_name="researcher",
           documents=[{"id": f"doc{i}", "score": 0.8, "content": "<script>alert(1)</script> refund policy"}]),
        sp(5, 3, "lookup_order", "TOOL", 250 + retr_ms, 100, agent_name="researcher", tool_name="lookup_order",
           tool_arguments='{"order": %d}' % i, tool_result="not found" if bad else '{"status": "shipped"}',
           status="ERROR" if bad else "OK", status_message="order service 500" if bad else None),
        sp(6, 1, "writer", "AGENT", 440 + retr_ms, 500, agent_name="writer"),
        sp(7, 6, "answer", "LLM", 450 + retr_ms, 400, model="gpt-4o", input_tokens=1000, output_tokens=200,
           cost_usd=0.01, ttft_ms=100.0 + i, agent_name="writer", output_text=answer,
           input_messages=[{"role": "user", "content": f"question {i}"}],
           output_messages=[{"role": "assistant", "content": answer}]),
    ]
    evals = [Evaluation(trace_id=tid, span_id=span_id(i, 7), name="groundedness", score=0.2 if bad else 0.9,
                        passed=not bad, label="ungrounded" if bad else "grounded",
                        reason="answer not supported by docs" if bad else "supported", source="heuristic")]
    return spans, evals


def build(path: str, n: int = 24):
    """Write n traces (8 spans, 1 evaluation each) to a new database at path; returns the Database."""
    db = connect(path)
    spans, evals = [], []
    for i in range(n):
        s, e = make_trace(i, n)
        spans += s
        evals += e
    write_batch(db, spans, evals)
    return db
