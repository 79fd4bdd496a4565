"""Altair chart builders for the workbench: the same charts in the app and in a notebook.

Each builder takes what the Workspace returns (a DataFrame or a networkx graph) and returns an
`alt.Chart`; nothing here queries the database.
"""
from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import networkx as nx
import pandas as pd

from ..analysis.graph import layered_layout, span_tree, topology_layout
from ..analysis.metrics import COHORT_METRICS, MATRIX_COLUMNS, TIMESERIES_COLUMNS, metric_label
from .timeaxis import STRETCHED_HEIGHT, utc_tooltip, utc_x, value_y

STATUS_COLORS = {"ERROR": "#d62728", "OK": "#2ca02c", "UNSET": "#9e9e9e"}
#: node colour classes of the trajectory graph: status first (an error is an error), then score
NODE_CLASSES = ["error", "score < 0.5", "score 0.5-0.8", "score >= 0.8", "ok, not scored", "missing span"]
NODE_COLORS = ["#d62728", "#ff7f0e", "#ffd21f", "#2ca02c", "#9ecae1", "#bdbdbd"]
KIND_SHAPES = {"AGENT": "square", "LLM": "circle", "TOOL": "triangle-up", "RETRIEVER": "diamond",
               "RERANKER": "diamond", "EMBEDDING": "cross", "GUARDRAIL": "triangle-down", "MISSING": "stroke"}

#: Column -> what it shows, from the signal registry (so "refusal rate" says it is a share of traces).
LABELS = {col: metric_label(col) for col in (*MATRIX_COLUMNS, *TIMESERIES_COLUMNS)}


def timeseries_chart(ts: pd.DataFrame, metric: str = "traces", *, height: int = STRETCHED_HEIGHT) -> alt.Chart:
    """A line over time of one column of Workspace.timeseries()."""
    data = ts[["bucket", metric]].dropna() if metric in ts.columns else pd.DataFrame(columns=["bucket", metric])
    title = LABELS.get(metric, metric)
    return (
        alt.Chart(data, title=title)
        .properties(height=height)
        .mark_line(point=alt.OverlayMarkDef(size=18))
        .encode(x=utc_x("bucket"), y=value_y(metric),  # the chart title says what it is
                tooltip=[utc_tooltip("bucket"), alt.Tooltip(f"{metric}:Q", format=",.4~f")])
    )


def cohort_heatmap(matrix: pd.DataFrame, metrics: Sequence[str] | None = None) -> alt.Chart:
    """Cohorts (rows) x metrics (columns) of a cohort_matrix. Colour = how bad a cell is relative to the
    other cohorts on that metric (0 = best, 1 = worst); the cell text is the value itself."""
    metrics = [m for m in (metrics or COHORT_METRICS) if m in matrix.columns]
    rows = []
    for m in metrics:
        col = matrix[m].astype(float)
        lo, hi = col.min(), col.max()
        higher_worse = COHORT_METRICS.get(m, True)
        for cohort, v in col.items():
            if pd.isna(v):
                bad = None
            elif hi == lo:
                bad = 0.0
            else:
                bad = (v - lo) / (hi - lo) if higher_worse else (hi - v) / (hi - lo)
            text = "" if pd.isna(v) else (f"{v:.0f}" if m.endswith("_ms") else f"{v:.4f}" if m == "cost_per_trace"
                                          else f"{v:.0%}" if m.endswith("rate") else f"{v:.2f}")
            rows.append({"cohort": str(cohort), "metric": LABELS.get(m, m), "value": v, "badness": bad,
                         "text": text, "traces": int(matrix.at[cohort, "traces"]) if "traces" in matrix else None})
    data = pd.DataFrame(rows, columns=["cohort", "metric", "value", "badness", "text", "traces"])
    order = [str(c) for c in matrix.index]
    base = alt.Chart(data).encode(
        x=alt.X("metric:N", sort=[LABELS.get(m, m) for m in metrics], title=None, axis=alt.Axis(labelAngle=-20)),
        y=alt.Y("cohort:N", sort=order, title=None),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("badness:Q", scale=alt.Scale(scheme="redyellowgreen", reverse=True, domain=[0, 1]),
                        legend=alt.Legend(title="worse →")),
        tooltip=["cohort", "metric", alt.Tooltip("value:Q", format=",.4~f"), "traces"],
    )
    return (cells + base.mark_text(fontSize=11).encode(text="text:N")).properties(height=alt.Step(30))


def waterfall(spans: pd.DataFrame, *, color_by: str = "status") -> alt.Chart:
    """Gantt-style timeline of one trace: one bar per span in call-tree order, from its start to its end
    relative to the trace start."""
    tree = span_tree(spans)
    if tree.empty:
        return alt.Chart(pd.DataFrame({"x": []})).mark_bar()
    t0 = tree["start_ns"].min()
    data = pd.DataFrame({
        "row": [f"{i:03d} {lbl}" for i, lbl in enumerate(tree["tree_label"])],
        "span": tree["name"].fillna(tree["span_id"]),
        "kind": tree["kind"].fillna("UNKNOWN"),
        "status": tree["status"].fillna("UNSET"),
        "start_ms": (tree["start_ns"] - t0) / 1e6,
        "end_ms": (tree["end_ns"].fillna(tree["start_ns"]) - t0) / 1e6,
        "duration_ms": tree["duration_ms"],
        "span_id": tree["span_id"],
    })
    if color_by == "status":
        color = alt.Color("status:N", scale=alt.Scale(domain=list(STATUS_COLORS), range=list(STATUS_COLORS.values())))
    else:
        color = alt.Color("kind:N")
    return (
        alt.Chart(data)
        .properties(height=alt.Step(22))
        .mark_bar(cornerRadius=2, minBandSize=2)
        .encode(
            y=alt.Y("row:N", sort=list(data["row"]), title=None,
                    axis=alt.Axis(labelExpr="substring(datum.value, 4)", labelLimit=320, labelOverlap=False)),
            x=alt.X("start_ms:Q", title="ms since trace start"),
            x2="end_ms:Q",
            color=color,
            tooltip=["span", "kind", "status", alt.Tooltip("duration_ms:Q", format=",.1f"), "span_id"],
        )
    )


def _node_class(d: dict) -> str:
    if d.get("kind") == "MISSING":
        return "missing span"
    if d.get("status") == "ERROR":
        return "error"
    s = d.get("score")
    if s is None:
        return "ok, not scored"
    return "score < 0.5" if s < 0.5 else "score 0.5-0.8" if s < 0.8 else "score >= 0.8"


def trajectory_chart(g: nx.DiGraph, *, row_height: int = 26, width: int = 640) -> alt.Chart:
    """Draw a trajectory graph: one row per step in execution order (top to bottom), indented by call
    depth; edges drawn between rows (handoffs thick); nodes coloured by status, then evaluator score."""
    pos = layered_layout(g)
    nodes = pd.DataFrame([
        {"node": n, "x": pos[n][0], "y": pos[n][1], "label": str(d.get("label")), "kind": d.get("kind"),
         "status": d.get("status"), "score": d.get("score"), "class": _node_class(d),
         "duration_ms": d.get("duration_ms"), "agent": d.get("agent") or "",
         "text": f"{d.get('label')} · {str(d.get('kind', '')).lower()}"
                 + (f" · {d['duration_ms']:.0f} ms" if d.get("duration_ms") is not None else "")
                 + (f" · score {d['score']:.2f}" if d.get("score") is not None else "")
                 + (" · ORPHAN" if d.get("orphan") else "") + (" · CYCLE" if d.get("in_cycle") else "")}
        for n, d in g.nodes(data=True)
    ], columns=["node", "x", "y", "label", "kind", "status", "score", "class", "duration_ms", "agent", "text"])
    edges = pd.DataFrame([
        {"x": pos[u][0], "y": pos[u][1], "x2": pos[v][0], "y2": pos[v][1], "type": d.get("type", "call")}
        for u, v, d in g.edges(data=True)
    ], columns=["x", "y", "x2", "y2", "type"])
    height = max(80, row_height * max(1, len(nodes)))
    max_depth = max(3.0, float(nodes["x"].max()) if not nodes.empty else 0.0)
    xs = alt.Scale(domain=[-0.3, max_depth + 4])
    ys = alt.Scale(domain=[-0.5, max(len(nodes) - 0.5, 0.5)], reverse=True)
    edge_layer = alt.Chart(edges).mark_rule(opacity=0.6).encode(
        x=alt.X("x:Q", scale=xs, axis=None), y=alt.Y("y:Q", scale=ys, axis=None), x2="x2:Q", y2="y2:Q",
        strokeWidth=alt.StrokeWidth("type:N", scale=alt.Scale(domain=["call", "handoff"], range=[1, 3]),
                                    legend=alt.Legend(title="edge")),
        strokeDash=alt.StrokeDash("type:N", scale=alt.Scale(domain=["call", "handoff"], range=[[4, 3], [1, 0]]),
                                  legend=None),
    )
    node_layer = alt.Chart(nodes).mark_point(filled=True, size=160, opacity=1).encode(
        x=alt.X("x:Q", scale=xs, axis=None), y=alt.Y("y:Q", scale=ys, axis=None),
        color=alt.Color("class:N", scale=alt.Scale(domain=NODE_CLASSES, range=NODE_COLORS),
                        legend=alt.Legend(title="node")),
        shape=alt.Shape("kind:N", scale=alt.Scale(domain=list(KIND_SHAPES), range=list(KIND_SHAPES.values())),
                        legend=alt.Legend(title="kind")),
        tooltip=["label", "kind", "status", alt.Tooltip("score:Q", format=".2f"),
                 alt.Tooltip("duration_ms:Q", format=",.1f"), "agent", "node"],
    )
    text_layer = alt.Chart(nodes).mark_text(align="left", dx=12, fontSize=11, limit=420).encode(
        x=alt.X("x:Q", scale=xs, axis=None), y=alt.Y("y:Q", scale=ys, axis=None), text="text:N")
    return (edge_layer + node_layer + text_layer).properties(height=height, width=width)


def topology_chart(g: nx.DiGraph, *, width: int = 640, height: int = 360) -> alt.Chart:
    """Agent topology: agents placed by handoff distance from the entry agent; edge width = handoff count,
    edge colour = handoff failure rate; node colour = agent run error rate, size = invocations."""
    pos = topology_layout(g)
    nodes = pd.DataFrame([
        {"agent": n, "x": pos[n][0], "y": pos[n][1], **{k: d.get(k) for k in
         ("invocations", "error_rate", "latency_mean_ms", "cost_per_run", "mean_score")}}
        for n, d in g.nodes(data=True)
    ], columns=["agent", "x", "y", "invocations", "error_rate", "latency_mean_ms", "cost_per_run", "mean_score"])
    edges = pd.DataFrame([
        {"from": u, "to": v, "x": pos[u][0], "y": pos[u][1], "x2": pos[v][0], "y2": pos[v][1],
         "xm": (pos[u][0] + pos[v][0]) / 2, "ym": (pos[u][1] + pos[v][1]) / 2 + 0.08,
         "count": d["count"], "failure_rate": d["failure_rate"],
         "text": f"{d['count']} ({d['failure_rate']:.0%} failed)"}
        for u, v, d in g.edges(data=True)
    ], columns=["from", "to", "x", "y", "x2", "y2", "xm", "ym", "count", "failure_rate", "text"])
    xmax = max([p[0] for p in pos.values()] + [1.0])
    ymax = max([abs(p[1]) for p in pos.values()] + [1.0])
    xs = alt.Scale(domain=[-0.5, xmax + 0.7])
    ys = alt.Scale(domain=[-ymax - 0.6, ymax + 0.6])
    enc = dict(x=alt.X("x:Q", scale=xs, axis=None), y=alt.Y("y:Q", scale=ys, axis=None))
    edge_layer = alt.Chart(edges).mark_rule(opacity=0.75).encode(
        **enc, x2="x2:Q", y2="y2:Q",
        strokeWidth=alt.StrokeWidth("count:Q", scale=alt.Scale(range=[1.5, 9]), legend=None),
        color=alt.Color("failure_rate:Q", scale=alt.Scale(scheme="orangered", domain=[0, 1]),
                        legend=alt.Legend(title="handoff failure")),
        tooltip=["from", "to", "count", alt.Tooltip("failure_rate:Q", format=".1%")],
    )
    edge_text = alt.Chart(edges).mark_text(fontSize=10, color="#555").encode(
        x=alt.X("xm:Q", scale=xs, axis=None), y=alt.Y("ym:Q", scale=ys, axis=None), text="text:N")
    node_layer = alt.Chart(nodes).mark_circle(opacity=1, stroke="#333", strokeWidth=1).encode(
        **enc,
        size=alt.Size("invocations:Q", scale=alt.Scale(range=[300, 1800]), legend=None),
        fill=alt.Fill("error_rate:Q", scale=alt.Scale(scheme="redyellowgreen", reverse=True, domain=[0, 0.5]),
                      legend=alt.Legend(title="agent error rate")),
        tooltip=["agent", "invocations", alt.Tooltip("error_rate:Q", format=".1%"),
                 alt.Tooltip("latency_mean_ms:Q", format=",.0f"), alt.Tooltip("cost_per_run:Q", format=".5f"),
                 alt.Tooltip("mean_score:Q", format=".2f")],
    )
    labels = alt.Chart(nodes).mark_text(dy=-26, fontSize=12, fontWeight="bold").encode(**enc, text="agent:N")
    return (edge_layer + edge_text + node_layer + labels).properties(width=width, height=height)


def ranked_bar(ranked: pd.DataFrame) -> alt.Chart:
    """Horizontal bars of rank_cohorts(): distance from the global figure, coloured worse/better."""
    data = ranked.assign(label=ranked["cohort"].astype(str) + " · " + ranked["worst_metric"].map(lambda m: LABELS.get(m, m)))
    return alt.Chart(data).mark_bar().properties(height=alt.Step(26)).encode(
        y=alt.Y("label:N", sort=list(data["label"]), title=None, axis=alt.Axis(labelLimit=280)),
        x=alt.X("distance:Q", title="distance from global (points, or relative for latency/cost)"),
        color=alt.Color("direction:N", scale=alt.Scale(domain=["worse", "better"], range=["#d62728", "#2ca02c"])),
        tooltip=["cohort", "traces", "worst_metric", alt.Tooltip("cohort_value:Q", format=",.4~f"),
                 alt.Tooltip("global_value:Q", format=",.4~f"), alt.Tooltip("distance:Q", format=".3f")],
    )
