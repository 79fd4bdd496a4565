"""Trajectory graphs and agent topology: expected nodes, edges and order; broken traces still render."""
from __future__ import annotations

import pytest

import tracedesk
import workbench_synth as synth
from tracedesk import charts
from tracedesk.analysis.graph import execution_order, layered_layout, span_tree, topology_frames
from tracedesk.models import Evaluation, Span
from tracedesk.store import write_batch


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    path = tmp_path_factory.mktemp("wbg") / "g.db"
    synth.build(str(path))
    return tracedesk.open(str(path))


def test_multi_agent_trajectory(ws):
    g = ws.trajectory(synth.trace_id(13))
    sid = lambda j: synth.span_id(13, j)  # noqa: E731
    assert [g.nodes[n]["label"] for n in execution_order(g)] == [
        "request", "planner", "gpt-4o-mini", "researcher", "search_docs", "lookup_order", "writer", "gpt-4o"]
    assert {(u, v, d["type"]) for u, v, d in g.edges(data=True)} == {
        (sid(0), sid(1), "call"),  # entering the first agent from a plain root is not a handoff
        (sid(1), sid(2), "call"), (sid(1), sid(3), "handoff"), (sid(1), sid(6), "handoff"),
        (sid(3), sid(4), "call"), (sid(3), sid(5), "call"), (sid(6), sid(7), "call")}
    assert [g.nodes[sid(j)]["depth"] for j in range(8)] == [0, 1, 2, 2, 3, 3, 2, 3]
    assert g.nodes[sid(5)]["status"] == "ERROR" and g.nodes[sid(7)]["score"] == 0.2
    assert g.nodes[sid(7)]["scores"] == {"groundedness": 0.2} and g.nodes[sid(7)]["passed"] is False
    assert g.nodes[sid(4)]["agent"] == "researcher"
    assert g.graph["cycles"] == [] and g.graph["orphans"] == []
    assert ws.trajectory("f" * 32).number_of_nodes() == 0


def test_wrappers_are_collapsed_unless_asked(tmp_path):
    ws = tracedesk.open(str(tmp_path / "w.db"), create=True)
    t = "a" * 32
    write_batch(ws.db, [
        Span(trace_id=t, span_id="1" * 16, name="root", kind="AGENT", agent_name="boss", start_ns=1, end_ns=9),
        Span(trace_id=t, span_id="2" * 16, parent_span_id="1" * 16, name="wrap", kind="CHAIN", start_ns=2, end_ns=8),
        Span(trace_id=t, span_id="3" * 16, parent_span_id="2" * 16, name="llm", kind="LLM", model="m", start_ns=3,
             end_ns=7),
    ])
    g = ws.trajectory(t)
    assert list(g.edges) == [("1" * 16, "3" * 16)]
    assert set(ws.trajectory(t, collapse=False).edges) == {("1" * 16, "2" * 16), ("2" * 16, "3" * 16)}


def test_orphans_and_cycles_still_render(tmp_path):
    ws = tracedesk.open(str(tmp_path / "b.db"), create=True)
    t = "b" * 32
    write_batch(ws.db, [
        Span(trace_id=t, span_id="1" * 16, name="root", kind="AGENT", agent_name="a", start_ns=1, end_ns=9),
        # orphan: its parent never arrived
        Span(trace_id=t, span_id="2" * 16, parent_span_id="9" * 16, name="late tool", kind="TOOL", start_ns=2, end_ns=3),
        # a parent cycle between two wrappers, with an LLM call under one of them
        Span(trace_id=t, span_id="3" * 16, parent_span_id="4" * 16, name="x", kind="CHAIN", start_ns=4, end_ns=5),
        Span(trace_id=t, span_id="4" * 16, parent_span_id="3" * 16, name="y", kind="CHAIN", start_ns=5, end_ns=6),
        Span(trace_id=t, span_id="5" * 16, parent_span_id="4" * 16, name="llm", kind="LLM", start_ns=6, end_ns=7,
             status="ERROR"),
    ], [Evaluation(trace_id=t, span_id="5" * 16, name="groundedness", score=0.1)])
    g = ws.trajectory(t)
    assert set(g.nodes) == {"1" * 16, "2" * 16, "3" * 16, "4" * 16, "5" * 16, "missing:" + "9" * 16}
    assert ("missing:" + "9" * 16, "2" * 16) in g.edges and g.nodes["2" * 16]["orphan"] is True
    assert g.graph["orphans"] == ["2" * 16]
    assert {frozenset(c) for c in g.graph["cycles"]} == {frozenset({"3" * 16, "4" * 16})}
    assert g.nodes["3" * 16]["in_cycle"] and g.nodes["4" * 16]["in_cycle"] and not g.nodes["5" * 16]["in_cycle"]
    assert ("4" * 16, "5" * 16) in g.edges
    pos = layered_layout(g)
    assert sorted(y for _, y in pos.values()) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert all("depth" in d for _, d in g.nodes(data=True))
    spec = charts.trajectory_chart(g).to_dict()
    nodes = [d for k, d in spec["datasets"].items() if d and "class" in d[0]][0]
    classes = {r["label"]: r["class"] for r in nodes}
    assert classes["llm"] == "error" and classes["missing span 99999999"] == "missing span"
    tree = span_tree(ws.trace(t))  # the span tree lists every span too, cycle members at top level
    assert sorted(tree["span_id"]) == ["1" * 16, "2" * 16, "3" * 16, "4" * 16, "5" * 16]
    assert charts.waterfall(ws.trace(t)).to_dict()["data"]


def test_sixty_step_trace_gets_one_row_per_step(tmp_path):
    ws = tracedesk.open(str(tmp_path / "big.db"), create=True)
    t = "c" * 32
    spans = [Span(trace_id=t, span_id=f"{1:016x}", name="agent", kind="AGENT", agent_name="loop", start_ns=0, end_ns=10**9)]
    for i in range(2, 62):
        spans.append(Span(trace_id=t, span_id=f"{i:016x}", parent_span_id=f"{1:016x}", name=f"tool{i}", kind="TOOL",
                          tool_name="search", start_ns=i * 1000, end_ns=i * 1000 + 500))
    write_batch(ws.db, spans)
    g = ws.trajectory(t)
    assert g.number_of_nodes() == 61 and g.number_of_edges() == 60
    assert [g.nodes[n]["order"] for n in execution_order(g)] == list(range(61))
    spec = charts.trajectory_chart(g).to_dict()
    assert spec["height"] == 26 * 61


def test_agent_topology(ws):
    g = ws.agent_topology()
    assert set(g.edges) == {("planner", "researcher"), ("planner", "writer")}
    assert g.edges["planner", "researcher"] == {"count": 24, "failed": 4, "failure_rate": pytest.approx(4 / 24)}
    assert g.edges["planner", "writer"] == {"count": 24, "failed": 0, "failure_rate": 0.0}
    r = g.nodes["researcher"]
    assert (r["invocations"], r["traces"], r["entries"]) == (24, 24, 0)
    assert r["error_rate"] == pytest.approx(4 / 24)
    assert r["latency_mean_ms"] == pytest.approx((20 * 300 + 4 * 1100) / 24)
    assert g.nodes["planner"]["entries"] == 24 and g.nodes["planner"]["cost_per_run"] == pytest.approx(0.001)
    assert g.nodes["writer"]["cost_per_run"] == pytest.approx(0.01)
    assert g.nodes["writer"]["mean_score"] == pytest.approx((20 * 0.9 + 4 * 0.2) / 24)
    assert g.nodes["planner"]["mean_score"] is None
    agents, handoffs = topology_frames(g)
    assert list(agents["agent"]) == ["planner", "researcher", "writer"] and len(handoffs) == 2
    assert g.graph["matched_traces"] == 24 and g.graph["sampled_traces"] == 24
    filtered = ws.agent_topology(tracedesk.Filters(dims={"route": ["billing"]}))
    assert filtered.edges["planner", "researcher"]["failed"] == 0
    assert charts.topology_chart(g).to_dict()["layer"]
