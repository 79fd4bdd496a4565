"""What evaluators need from the store: sampling candidates and per-span / per-trace inputs.

The rows come from `store.evals` (no SQL here). Inputs are built per trace so a judge can see the whole
trajectory (every step, every tool call with arguments and result) and the retrieved context.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from ..store import evals as store_evals
from .base import EvalInput

#: Span columns a caller may filter candidates on (equality), besides the time window.
FILTER_COLUMNS: tuple[str, ...] = store_evals.CANDIDATE_FILTER_COLUMNS
BAD_FEEDBACK = ("thumbs_down", "escalated")
_MAX_STEPS = 200
_STEP_CHARS = 600


@dataclass(slots=True)
class Unit:
    """One thing that can be judged: a span, or (is_root) its trace as a whole."""

    trace_id: str
    span_id: str
    kind: str
    is_root: bool
    status: str | None
    duration_ms: float | None
    cost_usd: float | None
    tokens: int | None
    trace_errors: int
    trace_duration_ms: float | None
    trace_cost_usd: float | None
    bad_feedback: bool = False
    min_score: float | None = None  # lowest existing score on this span (root: on its trace)


def candidates(
    db: sqlite_utils.Database,
    kinds: Iterable[str] | None,
    *,
    roots: bool = False,
    filters: dict[str, Any] | None = None,
    since_ns: int | None = None,
    until_ns: int | None = None,
    ignore_scores_of: Iterable[str] = (),
) -> list[Unit]:
    """Spans whose kind is in `kinds` (None = every kind), plus every trace's root span if `roots`.

    `ignore_scores_of`: evaluators whose existing scores do not count as "low scores" (a run ignores
    its own earlier results, so re-running the same seed picks the same sample).
    """
    kind_list = sorted(set(kinds)) if kinds is not None else None
    rows = store_evals.candidate_rows(db, kind_list, roots=roots, filters=filters, since_ns=since_ns,
                                      until_ns=until_ns)
    units = [Unit(r[0], r[1], r[2] or "UNKNOWN", bool(r[3]), r[4], r[5], r[6], r[7], r[8], r[9], r[10])
             for r in rows]
    if not units:
        return units
    bad = store_evals.traces_with_feedback(db, BAD_FEEDBACK)
    span_min: dict[tuple[str, str | None], float] = {}
    trace_min: dict[str, float] = {}
    for trace_id, span_id, low in store_evals.lowest_scores(db, ["user_feedback", *ignore_scores_of]):
        span_min[(trace_id, span_id)] = low
        trace_min[trace_id] = min(low, trace_min.get(trace_id, low))
    for u in units:
        u.bad_feedback = u.trace_id in bad
        u.min_score = trace_min.get(u.trace_id) if u.is_root else span_min.get((u.trace_id, u.span_id))
    return units


# ---------------------------------------------------------------------------------------------
# Inputs

_SPAN_FIELDS = ("trace_id", "span_id", "parent_span_id", "name", "kind", "status", "status_message", "start_ns",
                "duration_ms", "model", "agent_name", "tool_name", "cost_usd", "input_text", "output_text",
                "input_messages", "output_messages", "documents", "tool_arguments", "tool_result", "attributes")
_JSON_FIELDS = ("input_messages", "output_messages", "documents", "attributes")


def _load(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _clip(text: str | None, n: int = _STEP_CHARS) -> str:
    text = (text or "").strip().replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


def _tool_calls(messages: list[dict[str, Any]] | None) -> list[tuple[str, str]]:
    calls = []
    for msg in messages or ():
        for tc in msg.get("tool_calls") or ():
            if not isinstance(tc, dict):
                continue
            fn = tc["function"] if isinstance(tc.get("function"), dict) else tc
            name = fn.get("name") or tc.get("name")
            args = fn.get("arguments", tc.get("arguments", ""))
            if name:
                calls.append((str(name), args if isinstance(args, str) else json.dumps(args, default=str)))
    return calls


def _messages_text(messages: list[dict[str, Any]] | None) -> str | None:
    if not messages:
        return None
    lines = [f"{m.get('role', 'user')}: {m.get('content')}" for m in messages if m.get("content")]
    return "\n".join(lines) or None


def _span_input(s: dict[str, Any]) -> str | None:
    if s["kind"] == "TOOL" and s["tool_arguments"]:
        return s["tool_arguments"]
    return s["input_text"] or _messages_text(s["input_messages"])


def _span_output(s: dict[str, Any]) -> str | None:
    if s["kind"] == "TOOL" and s["tool_result"]:
        return s["tool_result"]
    text = s["output_text"] or _messages_text(s["output_messages"])
    calls = _tool_calls(s["output_messages"])
    if calls and not text:
        text = "tool calls: " + "; ".join(f"{n}({a})" for n, a in calls)
    return text


def _docs_text(docs: list[dict[str, Any]] | None) -> list[str]:
    out = []
    for d in docs or ():
        if isinstance(d, dict) and d.get("content"):
            out.append(f"[{d.get('id', '?')}] {d['content']}")
    return out


def _step_line(i: int, s: dict[str, Any]) -> str:
    parts = [f"{i}. [{s['kind']}] {s['name'] or ''}".rstrip()]
    if s["agent_name"]:
        parts.append(f"agent={s['agent_name']}")
    if s["kind"] == "TOOL":
        parts.append(f"tool={s['tool_name'] or s['name']} args={_clip(s['tool_arguments'], 300)}")
        parts.append(f"-> {_clip(s['tool_result'] or s['output_text'], 300)}")
    elif s["kind"] == "LLM":
        if s["model"]:
            parts.append(f"model={s['model']}")
        calls = _tool_calls(s["output_messages"])
        if calls:
            parts.append("calls " + ", ".join(f"{n}({_clip(a, 150)})" for n, a in calls))
        out = s["output_text"] or _messages_text(s["output_messages"])
        if out:
            parts.append(f"-> {_clip(out, 300)}")
    elif s["kind"] in ("RETRIEVER", "RERANKER"):
        ids = [str(d.get("id")) for d in (s["documents"] or []) if isinstance(d, dict)]
        parts.append(f"query={_clip(s['input_text'], 150)} docs={','.join(ids[:10])}")
    if s["status"] == "ERROR":
        parts.append(f"ERROR: {_clip(s['status_message'], 200)}")
    return " ".join(parts)


def _attr(s: dict[str, Any], *keys: str) -> Any:
    attrs = s["attributes"] or {}
    for k in keys:
        if attrs.get(k) not in (None, ""):
            return attrs[k]
    return None


def _tools_text(value: Any) -> str | None:
    """Tool definitions (OpenAI style or names) -> "name1, name2"."""
    if value in (None, ""):
        return None
    if isinstance(value, str) and value[:1] in "[{":
        value = _load(value) or value
    if not isinstance(value, list):
        return str(value)
    names = []
    for t in value:
        if isinstance(t, dict):
            fn = t["function"] if isinstance(t.get("function"), dict) else t
            names.append(str(fn.get("name") or json.dumps(t, default=str)[:100]))
        else:
            names.append(str(t))
    return ", ".join(names)


def _expects_json(s: dict[str, Any]) -> bool:
    v = _attr(s, "gen_ai.output.type", "gen_ai.request.response_format", "llm.response_format",
              "llm.invocation_parameters")
    return isinstance(v, str) and "json" in v.lower()


def load_inputs(db: sqlite_utils.Database, units: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], EvalInput]:
    """EvalInputs for (trace_id, span_id, scope) keys; scope "trace" builds the whole-trace view."""
    wanted: dict[str, list[tuple[str, str, str]]] = {}
    for key in units:
        wanted.setdefault(key[0], []).append(key)
    out: dict[tuple[str, str, str], EvalInput] = {}
    traces = sorted(wanted)
    for start in range(0, len(traces), 500):
        chunk = traces[start : start + 500]
        by_trace: dict[str, list[dict[str, Any]]] = {}
        for row in store_evals.spans_of_traces(db, chunk, _SPAN_FIELDS):
            s = dict(zip(_SPAN_FIELDS, row))
            for f in _JSON_FIELDS:
                s[f] = _load(s[f])
            by_trace.setdefault(s["trace_id"], []).append(s)
        totals = store_evals.trace_totals(db, chunk)
        for trace_id in chunk:
            spans = by_trace.get(trace_id, [])
            for key in wanted[trace_id]:
                built = _build(key, spans, totals.get(trace_id, (None, None)))
                if built is not None:
                    out[key] = built
    return out


def _descendants(spans: list[dict[str, Any]], span_id: str) -> list[dict[str, Any]]:
    children: dict[str | None, list[dict[str, Any]]] = {}
    for x in spans:
        children.setdefault(x["parent_span_id"], []).append(x)
    out, stack, seen = [], [span_id], {span_id}
    while stack:
        for child in children.get(stack.pop(), []):
            if child["span_id"] not in seen:  # cycles in bad data must not loop
                seen.add(child["span_id"])
                out.append(child)
                stack.append(child["span_id"])
    return out


def _build(key: tuple[str, str, str], spans: list[dict[str, Any]], totals: tuple[Any, Any]) -> EvalInput | None:
    trace_id, span_id, scope = key
    by_id = {s["span_id"]: s for s in spans}
    s = by_id.get(span_id)
    if s is None:
        return None
    all_docs = [d for x in spans if x["kind"] in ("RETRIEVER", "RERANKER") for d in _docs_text(x["documents"])]
    root_expected = next((v for x in spans if (v := _attr(x, "expected_tool", "tracedesk.expected_tool"))), None)
    if scope == "trace":
        llms = [x for x in spans if x["kind"] == "LLM"]
        inp = _span_input(s) or (_span_input(llms[0]) if llms else None)
        outp = _span_output(s) or (_span_output(llms[-1]) if llms else None)
        steps = [_step_line(i + 1, x) for i, x in enumerate(spans[:_MAX_STEPS])]
        if len(spans) > _MAX_STEPS:
            steps.append(f"[... {len(spans) - _MAX_STEPS} more steps]")
        called = sorted({x["tool_name"] or x["name"] for x in spans if x["kind"] == "TOOL"}
                        | {n for x in llms for n, _ in _tool_calls(x["output_messages"])})
        return EvalInput(
            trace_id=trace_id, span_id=span_id, kind=s["kind"], name=s["name"] or "", status=s["status"] or "UNSET",
            input=inp, output=outp, context="\n".join(all_docs) or None, trajectory="\n".join(steps),
            expected_tool=root_expected, tool_name=", ".join(called) or None,
            duration_ms=totals[0], cost_usd=totals[1], model=s["model"],
            extra={"tool_result": "\n".join(x["tool_result"] for x in spans if x["tool_result"]) or None},
        )
    own_docs = _docs_text(s["documents"])
    if own_docs:
        context = "\n".join(own_docs)
    else:  # an LLM step sees what its trace retrieved before it
        context = "\n".join(d for x in spans if x["kind"] in ("RETRIEVER", "RERANKER")
                            and (x["start_ns"] or 0) <= (s["start_ns"] or 0) for d in _docs_text(x["documents"]))
    called_text: str | None
    if s["kind"] == "TOOL":
        called_text = s["tool_name"] or s["name"]
    elif s["kind"] in ("AGENT", "CHAIN"):  # an agent "calls" the tools its sub-steps call
        below = _descendants(spans, span_id)
        called_text = ", ".join(sorted({x["tool_name"] or x["name"] for x in below if x["kind"] == "TOOL"}
                                  | {n for x in below for n, _ in _tool_calls(x["output_messages"])})) or None
    else:
        called_text = ", ".join(n for n, _ in _tool_calls(s["output_messages"])) or None
    return EvalInput(
        trace_id=trace_id, span_id=span_id, kind=s["kind"], name=s["name"] or "", status=s["status"] or "UNSET",
        input=_span_input(s), output=_span_output(s), context=context or None,
        expected_tool=_attr(s, "expected_tool", "tracedesk.expected_tool"),
        tool_name=called_text, available_tools=_tools_text(_attr(s, "llm.tools", "gen_ai.tool.definitions")),
        duration_ms=s["duration_ms"], cost_usd=s["cost_usd"], model=s["model"],
        extra={"tool_result": s["tool_result"], "expects_json": _expects_json(s)},
    )
