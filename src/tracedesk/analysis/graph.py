"""Trajectory graphs (one trace) and agent topology (many traces) as networkx DiGraphs.

Trajectory: nodes are the spans that are steps of the agent's work — agents, LLM calls, tools,
retrievers, rerankers, embeddings, guardrails — plus every root. Wrapper spans (CHAIN, UNKNOWN,
EVALUATOR) are collapsed: their children hang off the nearest kept ancestor. An edge is a "handoff"
when it enters an agent run by a different agent, otherwise a "call". Nodes carry their execution
order (start time), depth, status and evaluator scores. Broken traces still give a graph: a span whose
parent is missing hangs off a placeholder node (kind MISSING); spans whose parent links form a cycle keep
those edges and are flagged (`in_cycle`), and the layout still places them.
"""
from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import sqlite_utils

from ..store import workbench as store_workbench
from ..store.query import Filters

KEPT_KINDS = frozenset({"AGENT", "LLM", "TOOL", "RETRIEVER", "RERANKER", "EMBEDDING", "GUARDRAIL"})
MISSING_KIND = "MISSING"


def _label(row: dict[str, Any]) -> str:
    kind = row.get("kind")
    if kind == "AGENT" and row.get("agent_name"):
        return str(row["agent_name"])
    if kind == "TOOL" and row.get("tool_name"):
        return str(row["tool_name"])
    if kind == "LLM" and row.get("model"):
        return str(row["model"])
    return str(row.get("name") or row["span_id"])


def _effective_agents(parent: dict[str, str | None], own: dict[str, str | None]) -> dict[str, str | None]:
    """Each span's agent: its own agent_name, else its nearest ancestor's (cycle-safe)."""
    out: dict[str, str | None] = {}
    for sid in own:
        chain = []
        cur: str | None = sid
        seen: set[str] = set()
        found: str | None = None
        while cur is not None and cur in own and cur not in seen:
            if cur in out:
                found = out[cur]
                break
            if own[cur]:
                found = own[cur]
                break
            seen.add(cur)
            chain.append(cur)
            cur = parent.get(cur)
        for c in chain:
            out[c] = found
        if sid not in out:
            out[sid] = found
    return out


def build_trajectory(spans: pd.DataFrame, evaluations: pd.DataFrame | None = None, *,
                     collapse: bool = True) -> nx.DiGraph:
    """The trajectory graph of ONE trace from its spans (and evaluations) frames."""
    g = nx.DiGraph()
    if spans.empty:
        return g
    rows = {r["span_id"]: r for r in spans.to_dict("records")}
    g.graph["trace_id"] = next(iter(rows.values()))["trace_id"]
    parent = {sid: _str(r.get("parent_span_id")) for sid, r in rows.items()}
    agent = _effective_agents(parent, {sid: _str(r.get("agent_name")) for sid, r in rows.items()})
    scores: dict[str, dict[str, float]] = defaultdict(dict)
    passes: dict[str, list[bool]] = defaultdict(list)
    if evaluations is not None and not evaluations.empty:
        for ev in evaluations.to_dict("records"):
            sid = ev.get("span_id")
            if sid in rows and ev.get("score") is not None and not pd.isna(ev.get("score")):
                scores[sid][ev["name"]] = float(ev["score"])
            if sid in rows and ev.get("passed") is not None and not pd.isna(ev.get("passed")):
                passes[sid].append(bool(ev["passed"]))
    order = {sid: i for i, sid in enumerate(sorted(rows, key=lambda s: (rows[s].get("start_ns") or 0, s)))}
    missing_parents = {p for p in parent.values() if p is not None and p not in rows}
    roots = {sid for sid, p in parent.items() if p is None or p not in rows}
    keep = {sid for sid, r in rows.items() if not collapse or r.get("kind") in KEPT_KINDS or sid in roots}
    # spans whose parent links loop without reaching a root are kept too, so a cycle is drawn, not lost
    children: dict[str, list[str]] = defaultdict(list)
    for sid, p in parent.items():
        if p is not None and p in rows:
            children[p].append(sid)
    reachable, stack = set(roots), list(roots)
    while stack:
        for c in children.get(stack.pop(), ()):
            if c not in reachable:
                reachable.add(c)
                stack.append(c)
    keep |= set(rows) - reachable

    for sid in sorted(keep, key=order.__getitem__):
        r = rows[sid]
        sc = scores.get(sid, {})
        g.add_node(sid, span_id=sid, label=_label(r), kind=r.get("kind") or "UNKNOWN", name=r.get("name"),
                   status=r.get("status") or "UNSET", status_message=r.get("status_message"),
                   agent=agent.get(sid), start_ns=r.get("start_ns"), duration_ms=r.get("duration_ms"),
                   cost_usd=_num(r.get("cost_usd")), model=r.get("model"), tool_name=r.get("tool_name"),
                   order=order[sid], scores=dict(sc), score=(min(sc.values()) if sc else None),
                   passed=(all(passes[sid]) if passes.get(sid) else None),
                   orphan=parent[sid] is not None and parent[sid] not in rows, in_cycle=False)
    for mp in sorted(missing_parents):
        g.add_node(f"missing:{mp}", span_id=mp, label=f"missing span {mp[:8]}", kind=MISSING_KIND, name=None,
                   status="UNSET", status_message="parent span was never received", agent=None, start_ns=None,
                   duration_ms=None, cost_usd=None, model=None, tool_name=None, order=-1, scores={}, score=None,
                   passed=None, orphan=False, in_cycle=False)

    for sid in keep:
        # nearest kept ancestor (collapsed wrappers are skipped); a cycle stops the walk
        cur = parent.get(sid)
        seen = {sid}
        target = None
        while cur is not None and cur not in seen:
            if cur not in rows:
                target = f"missing:{cur}"
                break
            if cur in keep:
                target = cur
                break
            seen.add(cur)
            cur = parent.get(cur)
        if target is None and cur is not None and cur in seen and cur in keep and cur != sid:
            target = cur
        if target is None:
            continue
        src_agent = g.nodes[target].get("agent")
        handoff = (g.nodes[sid]["kind"] == "AGENT" and src_agent is not None and agent.get(sid) is not None
                   and src_agent != agent.get(sid))
        # an agent entered by the SDK's own handoff signal (side-by-side agents: OpenAI Agents, LangGraph)
        declared = _str(rows[sid].get("handoff_from"))
        if g.nodes[sid]["kind"] == "AGENT" and declared is not None and declared != agent.get(sid):
            handoff = True
        g.add_edge(target, sid, type="handoff" if handoff else "call", order=order[sid])

    cycles = [c for c in nx.simple_cycles(g)] if not nx.is_directed_acyclic_graph(g) else []
    for cyc in cycles:
        for n in cyc:
            g.nodes[n]["in_cycle"] = True
    g.graph["cycles"] = cycles
    g.graph["orphans"] = sorted(n for n, d in g.nodes(data=True) if d.get("orphan"))
    _assign_depth(g)
    return g


def _str(v: Any) -> str | None:
    """A non-empty string or None (pandas may hand back NaN for a missing text value)."""
    return v if isinstance(v, str) and v else None


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def _assign_depth(g: nx.DiGraph) -> None:
    """Depth = BFS distance from a root (in-degree 0); nodes only reachable through a cycle start a new
    root at their earliest member, so every node gets a depth."""
    depth: dict[str, int] = {}
    key = lambda n: (g.nodes[n]["order"], n)  # noqa: E731
    starts = sorted((n for n in g if g.in_degree(n) == 0), key=key)
    pending = sorted(g, key=key)
    while True:
        queue = deque((s, 0) for s in starts if s not in depth)
        for s in starts:
            depth.setdefault(s, 0)
        while queue:
            n, d = queue.popleft()
            for child in sorted(g.successors(n), key=key):
                if child not in depth:
                    depth[child] = d + 1
                    queue.append((child, d + 1))
        rest = [n for n in pending if n not in depth]
        if not rest:
            break
        starts = [rest[0]]
    nx.set_node_attributes(g, depth, "depth")


def execution_order(g: nx.DiGraph) -> list[str]:
    """Node ids in execution (start time) order; placeholders for missing spans first."""
    return sorted(g, key=lambda n: (g.nodes[n]["order"], n))


def layered_layout(g: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """(x, y) per node: x = depth in the call tree, y = execution order (one row per node), so a trace with
    hundreds of steps reads top to bottom like a call log instead of a hairball."""
    return {n: (float(g.nodes[n].get("depth", 0)), float(i)) for i, n in enumerate(execution_order(g))}


def trajectory(db: sqlite_utils.Database, trace_id: str, *, collapse: bool = True) -> nx.DiGraph:
    """The trajectory graph of one stored trace (an empty graph if the trace id is unknown)."""
    spans, evs = store_workbench.trajectory_frames(db, trace_id)
    return build_trajectory(spans, evs, collapse=collapse)


def graph_frames(g: nx.DiGraph) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(nodes, edges) of a graph as DataFrames — for tables and charts."""
    nodes = pd.DataFrame([{"node": n, **{k: v for k, v in d.items() if k != "scores"}} for n, d in g.nodes(data=True)])
    edges = pd.DataFrame([{"source": u, "target": v, **d} for u, v, d in g.edges(data=True)],
                         columns=["source", "target", "type", "order"] if not g.number_of_edges() else None)
    return nodes, edges


# ---------------------------------------------------------------------------------------------
# Agent topology over many traces


def build_agent_topology(spans: pd.DataFrame, evaluations: pd.DataFrame | None = None) -> nx.DiGraph:
    """Aggregate agent graph. Nodes = agents with invocations, traces, error_rate, latency_mean_ms,
    latency_p95_ms (of the agent run's top span), cost_per_run (counted usage of the spans in its runs),
    mean_score (evaluations on spans in its runs), entries (runs started with no agent above).
    Edges A -> B = handoffs (a run of B started inside a run of A): count, failed (B's run had an ERROR
    span), failure_rate."""
    g = nx.DiGraph()
    if spans.empty:
        return g
    ev_by_span: dict[tuple[str, str], list[float]] = defaultdict(list)
    if evaluations is not None and not evaluations.empty:
        for t, s, score in evaluations[["trace_id", "span_id", "score"]].itertuples(index=False):
            if s is not None and score is not None and not pd.isna(score):
                ev_by_span[(t, s)].append(float(score))
    runs: dict[str, dict[str, Any]] = defaultdict(lambda: {"runs": 0, "traces": set(), "errors": 0, "durations": [],
                                                           "cost": 0.0, "scores": [], "entries": 0})
    edges: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    # plain dicts per trace: pandas' per-group overhead would dominate at thousands of traces
    by_trace: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    cols = list(spans.columns)
    for values in zip(*(spans[c].tolist() for c in cols)):
        r = dict(zip(cols, values))
        by_trace[r["trace_id"]][r["span_id"]] = r
    for trace_id, rows in by_trace.items():
        parent = {sid: _str(r["parent_span_id"]) for sid, r in rows.items()}
        agent = _effective_agents(parent, {sid: _str(r["agent_name"]) for sid, r in rows.items()})
        # a run starts where the effective agent changes
        run_of: dict[str, str] = {}
        starts = []
        for sid, r in rows.items():
            a = agent[sid]
            if a is None:
                continue
            p = parent.get(sid)
            if p is None or p not in rows or agent.get(p) != a:
                starts.append(sid)
        start_set = set(starts)
        for sid in rows:
            if agent[sid] is None:
                continue
            cur: str | None = sid
            seen: set[str | None] = set()
            while cur is not None and cur not in start_set and cur not in seen:
                seen.add(cur)
                cur = parent.get(cur)
                if cur is None or cur not in rows:
                    break
            if cur is not None and cur in start_set:
                run_of[sid] = cur
        run_err: dict[str, bool] = defaultdict(bool)
        run_cost: dict[str, float] = defaultdict(float)
        run_scores: dict[str, list[float]] = defaultdict(list)
        for sid, run in run_of.items():
            r = rows[sid]
            if r["status"] == "ERROR":
                run_err[run] = True
            cost = r.get("cost_usd")
            if r.get("usage_counted") and cost is not None and cost == cost:  # (NaN != NaN)
                run_cost[run] += float(cost)
            run_scores[run].extend(ev_by_span.get((trace_id, sid), ()))
        explicit = _explicit_handoffs(rows, starts, agent)
        for run in starts:
            a = agent[run]
            assert a is not None  # a run starts only where an agent is set
            st = runs[a]
            st["runs"] += 1
            st["traces"].add(trace_id)
            st["errors"] += int(run_err[run])
            if rows[run].get("duration_ms") is not None:
                st["durations"].append(float(rows[run]["duration_ms"]))
            st["cost"] += run_cost[run]
            st["scores"].extend(run_scores[run])
            p = parent.get(run)
            # the SDK's own handoff signal wins over nesting (agents that run side by side hand off too)
            src = explicit.get(run) or (agent.get(p) if p in rows else None)
            if src is None:
                st["entries"] += 1
            else:
                e = edges[(src, a)]
                e[0] += 1
                e[1] += int(run_err[run])
    for a, st in sorted(runs.items()):
        d = np.asarray(st["durations"], dtype=float)
        g.add_node(a, invocations=st["runs"], traces=len(st["traces"]),
                   error_rate=st["errors"] / st["runs"] if st["runs"] else None,
                   latency_mean_ms=float(d.mean()) if d.size else None,
                   latency_p95_ms=float(np.percentile(d, 95)) if d.size else None,
                   cost_per_run=st["cost"] / st["runs"] if st["runs"] else None,
                   mean_score=float(np.mean(st["scores"])) if st["scores"] else None,
                   entries=st["entries"])
    for (src, dst), (count, failed) in sorted(edges.items()):
        g.add_edge(src, dst, count=count, failed=failed, failure_rate=failed / count)
    return g


def _explicit_handoffs(rows: dict[str, dict[str, Any]], starts: list[str],
                       agent: dict[str, str | None]) -> dict[str, str]:
    """Run start span -> the agent that handed off to it, from the stored handoff_from/handoff_to columns.

    A handoff recorded on the target agent's own span enters that run; one recorded on a handoff span
    enters the first run of the target that starts at or after it. Several signals for one run (a handoff
    span AND an agent-graph parent) are one handoff."""
    if "handoff_to" not in next(iter(rows.values()), {}):
        return {}
    runs_of: dict[str, list[tuple[int, str]]] = defaultdict(list)
    start_set = set(starts)
    for run in starts:
        runs_of[str(agent[run])].append((int(rows[run].get("start_ns") or 0), run))
    for lst in runs_of.values():
        lst.sort()
    out: dict[str, str] = {}
    for sid, r in rows.items():
        src, dst = _str(r.get("handoff_from")), _str(r.get("handoff_to"))
        if src is None or dst is None or src == dst or dst not in runs_of:
            continue
        if sid in start_set and agent.get(sid) == dst:
            target = sid
        else:
            t0 = int(r.get("start_ns") or 0)
            later = [run for start, run in runs_of[dst] if start >= t0 and run not in out]
            if not later:
                continue
            target = later[0]
        out.setdefault(target, src)
    return out


def agent_topology(db: sqlite_utils.Database, filters: Filters | None = None, *,
                   max_traces: int = 5_000) -> nx.DiGraph:
    """Agent topology over the filtered traces that name an agent (the most recent `max_traces` of them; the
    graph's `sampled_traces` / `matched_traces` attributes say how many were used of how many matched)."""
    from ..store.query import count_traces

    matched = count_traces(db, filters)
    spans, evs = store_workbench.topology_frames(db, filters, max_traces)
    g = build_agent_topology(spans, evs)
    g.graph["matched_traces"] = matched
    g.graph["sampled_traces"] = int(spans["trace_id"].nunique()) if not spans.empty else 0
    g.graph["max_traces"] = max_traces
    return g


def topology_frames(g: nx.DiGraph) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(agents, handoffs) tables of an agent topology."""
    agents = pd.DataFrame([{"agent": n, **d} for n, d in g.nodes(data=True)],
                          columns=["agent", "invocations", "traces", "error_rate", "latency_mean_ms",
                                   "latency_p95_ms", "cost_per_run", "mean_score", "entries"])
    handoffs = pd.DataFrame([{"from_agent": u, "to_agent": v, **d} for u, v, d in g.edges(data=True)],
                            columns=["from_agent", "to_agent", "count", "failed", "failure_rate"])
    return agents, handoffs


def topology_layout(g: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Layers by shortest handoff distance from the entry agents (x), spread within a layer (y)."""
    entries = [n for n, d in g.nodes(data=True) if d.get("entries")] or [n for n in g if g.in_degree(n) == 0]
    entries = entries or list(g)[:1]
    layer: dict[str, int] = {}
    queue = deque((n, 0) for n in sorted(entries))
    while queue:
        n, d = queue.popleft()
        if n in layer:
            continue
        layer[n] = d
        for m in sorted(g.successors(n)):
            if m not in layer:
                queue.append((m, d + 1))
    for n in sorted(g):
        layer.setdefault(n, max(layer.values(), default=-1) + 1)
    by_layer: dict[int, list[str]] = defaultdict(list)
    for n in sorted(g):
        by_layer[layer[n]].append(n)
    pos = {}
    for x, members in by_layer.items():
        for i, n in enumerate(members):
            pos[n] = (float(x), float(i) - (len(members) - 1) / 2)
    return pos


def nodes_in(g: nx.DiGraph, kinds: Iterable[str]) -> list[str]:
    wanted = set(kinds)
    return [n for n in execution_order(g) if g.nodes[n]["kind"] in wanted]


def span_tree(spans: pd.DataFrame) -> pd.DataFrame:
    """One trace's spans in call-tree order (depth-first, children by start time) with `depth` and an
    indented `tree_label`. Orphans and spans caught in a parent cycle are listed too, at top level."""
    if spans.empty:
        return spans.assign(depth=pd.Series(dtype=int), tree_label=pd.Series(dtype=str))
    recs = spans.to_dict("records")
    ids = {r["span_id"] for r in recs}
    key = {r["span_id"]: (r.get("start_ns") or 0, r["span_id"]) for r in recs}
    children: dict[str | None, list[str]] = defaultdict(list)
    for r in recs:
        p = _str(r.get("parent_span_id"))
        children[p if p in ids else None].append(r["span_id"])
    order: list[tuple[str, int]] = []
    seen: set[str] = set()

    def walk(roots: list[str]) -> None:
        stack = [(s, 0) for s in sorted(roots, key=key.__getitem__, reverse=True)]
        while stack:
            sid, d = stack.pop()
            if sid in seen:
                continue
            seen.add(sid)
            order.append((sid, d))
            stack.extend((c, d + 1) for c in sorted(children.get(sid, ()), key=key.__getitem__, reverse=True))

    walk(children.get(None, []))
    rest = sorted(ids - seen, key=key.__getitem__)  # only reachable through a cycle
    while rest:
        walk([rest[0]])
        rest = [s for s in rest if s not in seen]
    pos = {sid: i for i, (sid, _) in enumerate(order)}
    depth = dict(order)
    out = spans.assign(depth=spans["span_id"].map(depth).astype(int))
    out = out.iloc[sorted(range(len(out)), key=lambda i: pos[out["span_id"].iat[i]])].reset_index(drop=True)
    out["tree_label"] = ["\u00a0\u00a0" * d + f"{n or s}" for d, n, s in zip(out["depth"], out["name"], out["span_id"])]
    return out
