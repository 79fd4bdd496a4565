"""Per-trace links that no single span can decide: workflow wrappers, handoff sides, duplicate usage.

Pure functions over a trace's rows (the store feeds them and writes the answers back):
- an AGENT span whose agent name was only guessed (its span or workflow name) and that contains an agent
  the SDK named explicitly is a workflow wrapper ("Agent workflow", "Customer support"), not an agent;
- a handoff whose target is unknown (OpenLLMetry's `Triage → unknown.handoff`) goes to the next agent run
  that starts after it; one whose source is unknown comes from the previous agent node under the same
  parent (LangGraph node transitions) or, for a handoff span, from the agent it runs in;
- a handoff target spelled differently from the agent (`transfer_to_billing` -> `Billing`) is matched to
  the trace's agent name;
- a provider-call child repeating its parent's usage (litellm's `raw_gen_ai_request` under
  `litellm_request`) does not displace the parent that carries the reported cost.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class LinkRow:
    span_id: str
    parent_span_id: str | None
    kind: str | None
    agent_name: str | None
    inferred: bool
    start_ns: int
    end_ns: int
    handoff_from: str | None
    handoff_to: str | None


@dataclass
class LinkUpdates:
    demoted: list[str]  # span ids that are workflow wrappers: kind CHAIN, no agent
    handoffs: dict[str, tuple[str | None, str | None]]  # span id -> resolved (from, to), changed rows only


_SEP = re.compile(r"[\s_\-]+")


def _key(name: str) -> str:
    return _SEP.sub("", name).lower()


def resolve_links(rows: list[LinkRow]) -> LinkUpdates:
    by_id = {r.span_id: r for r in rows}
    children: dict[str, list[LinkRow]] = {}
    for r in rows:
        if r.parent_span_id in by_id:
            children.setdefault(r.parent_span_id, []).append(r)  # type: ignore[arg-type]

    def has_named_agent_below(root: LinkRow) -> bool:
        stack, seen = list(children.get(root.span_id, ())), {root.span_id}
        while stack:
            cur = stack.pop()
            if cur.span_id in seen:
                continue
            seen.add(cur.span_id)
            if cur.kind == "AGENT" and not cur.inferred and cur.agent_name:
                return True
            stack.extend(children.get(cur.span_id, ()))
        return False

    demoted = [r.span_id for r in rows if r.kind == "AGENT" and r.inferred and has_named_agent_below(r)]
    gone = set(demoted)
    agents = sorted((r for r in rows if r.kind == "AGENT" and r.agent_name and r.span_id not in gone),
                    key=lambda r: (r.start_ns, r.span_id))
    names = {_key(a.agent_name): a.agent_name for a in agents if a.agent_name}

    def own_agent(r: LinkRow) -> str | None:
        cur: LinkRow | None = by_id.get(r.parent_span_id or "")
        seen: set[str] = set()
        while cur is not None and cur.span_id not in seen:
            if cur.kind == "AGENT" and cur.agent_name and cur.span_id not in gone:
                return cur.agent_name
            seen.add(cur.span_id)
            cur = by_id.get(cur.parent_span_id or "")
        return None

    handoffs: dict[str, tuple[str | None, str | None]] = {}
    for r in rows:
        if r.span_id in gone or (r.handoff_from is None and r.handoff_to is None):
            continue
        src, dst = r.handoff_from, r.handoff_to
        if dst is None and src is not None:
            nxt = next((a for a in agents if a.start_ns >= r.start_ns and a.agent_name != src
                        and a.span_id != r.span_id), None)
            dst = nxt.agent_name if nxt else None
        if src is None and dst is not None:
            if r.kind == "AGENT":
                before = [a for a in agents if a.parent_span_id == r.parent_span_id and a.start_ns < r.start_ns
                          and a.span_id != r.span_id]
                prev = before[-1] if before else None
                src = prev.agent_name if prev is not None and prev.agent_name != r.agent_name else None
            else:
                src = own_agent(r)
        if dst is not None and dst not in names.values():
            dst = names.get(_key(dst), names.get(_key(dst.removeprefix("transfer_to_")), dst))
        if (src, dst) != (r.handoff_from, r.handoff_to):
            handoffs[r.span_id] = (src, dst)
    return LinkUpdates(demoted, handoffs)


@dataclass
class UsageRow:
    span_id: str
    parent_span_id: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_source: str | None


def prefer_reported(rows: list[UsageRow], flags: dict[str, int]) -> dict[str, int]:
    """Adjust usage flags (span id -> counted): when the only counted usage below a span repeats that span's
    usage exactly and the span carries a reported cost the child lacks, count the span instead."""
    by_id = {r.span_id: r for r in rows}
    has_usage = {r.span_id for r in rows if r.input_tokens is not None or r.output_tokens is not None}
    below: dict[str, list[str]] = {}
    for sid in has_usage:
        if not flags.get(sid):
            continue
        cur = by_id[sid].parent_span_id
        seen = {sid}
        while cur in by_id and cur not in seen:
            if cur in has_usage:
                below.setdefault(cur, []).append(sid)
                break
            seen.add(cur)
            cur = by_id[cur].parent_span_id
    out = dict(flags)
    for parent, kids in below.items():
        p = by_id[parent]
        if len(kids) != 1 or out.get(parent) or p.cost_source != "reported":
            continue
        k = by_id[kids[0]]
        if k.cost_source != "reported" and (k.input_tokens, k.output_tokens) == (p.input_tokens, p.output_tokens):
            out[parent], out[k.span_id] = 1, 0
    return out
