"""Workbench query benchmark: overview KPIs, cohort matrix, trace table page and one trace open (with
its trajectory graph) on 100k and 1M synthetic agent spans.

    python benchmarks/queries.py            # both sizes (the 1M database takes a few minutes to build once)
    python benchmarks/queries.py --sizes 100000

Databases are cached in benchmarks/out/. Each figure is the median (and best) of several runs, beside a
baseline measured in the same run: the same answer computed the naive way, by aggregating the spans
table (what a store without the per-trace summary table would do).
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import tracedesk
from tracedesk.models import Evaluation, Span
from tracedesk.store.query import Filters, frame
from tracedesk.store import connect, write_batch

OUT = Path(__file__).resolve().parent / "out"
T0 = 1_763_942_400_000_000_000
WEEK_NS = 7 * 86_400 * 10**9
MS = 10**6
ROUTES = ["billing", "refunds", "search", "orders", "account", "shipping"]
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet"]
TARGETS = {"overview KPIs": 1.0, "cohort matrix": 1.0, "trace table page": 0.5, "trace open + graph": 0.1}


def make_trace(rng: random.Random, i: int) -> tuple[list[Span], list[Evaluation]]:
    """10 spans: request -> planner -> [plan LLM, researcher -> [retrieve, tool, LLM], writer -> [LLM, tool],
    critic LLM]."""
    tid = f"{rng.getrandbits(128):032x}"
    start = T0 + rng.randrange(WEEK_NS)
    route = ROUTES[i % len(ROUTES)]
    dims = dict(route=route, tenant=f"tenant{rng.randrange(20)}", prompt_version=rng.choice(["v1", "v2", "v3"]),
                environment="prod", session_id=f"s{rng.randrange(50_000)}", user_id=f"u{rng.randrange(5_000)}")
    bad = rng.random() < 0.05
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(10)]
    plan = [  # (parent index, name, kind, agent, offset ms, duration ms, model)
        (None, "request", "CHAIN", None, 0, 3000, None),
        (0, "planner", "AGENT", "planner", 5, 2990, None),
        (1, "plan", "LLM", "planner", 10, 300, MODELS[1]),
        (1, "researcher", "AGENT", "researcher", 320, 1200, None),
        (3, "search_docs", "RETRIEVER", "researcher", 330, rng.randint(50, 900), None),
        (3, "lookup", "TOOL", "researcher", 1000, 100, None),
        (3, "summarize", "LLM", "researcher", 1110, 400, rng.choice(MODELS)),
        (1, "writer", "AGENT", "writer", 1530, 1400, None),
        (7, "answer", "LLM", "writer", 1540, rng.randint(400, 1300), MODELS[0]),
        (7, "critic", "LLM", "writer", 2500, 300, MODELS[2]),
    ]
    spans = []
    for j, (p, name, kind, agent, off, dur, model) in enumerate(plan):
        llm = kind == "LLM"
        text = ("I'm sorry, but I can't help with that." if bad and name == "answer"
                else f"{name} output for request {i}: " + "lorem ipsum dolor sit amet " * 6) if llm else None
        spans.append(Span(
            trace_id=tid, span_id=ids[j], parent_span_id=ids[p] if p is not None else None, name=name, kind=kind,
            status="ERROR" if bad and name == "lookup" else "OK", start_ns=start + off * MS,
            end_ns=start + (off + dur) * MS, duration_ms=float(dur), model=model, agent_name=agent,
            tool_name="lookup" if kind == "TOOL" else None,
            input_tokens=rng.randint(200, 2000) if llm else None, output_tokens=rng.randint(20, 400) if llm else None,
            cost_usd=rng.random() * 0.01 if llm else None, ttft_ms=float(rng.randint(80, 900)) if llm else None,
            input_text=f"question {i} about {route}" if j == 0 else None, output_text=text, **dims))
    evals = [Evaluation(trace_id=tid, span_id=ids[8], name="groundedness", score=0.2 if bad else rng.uniform(0.6, 1),
                        passed=not bad, source="heuristic")]
    return spans, evals


def build(path: Path, n_spans: int) -> None:
    rng = random.Random(7)
    db = connect(str(path) + ".building")
    n_traces = n_spans // 10
    t = time.perf_counter()
    for lo in range(0, n_traces, 2000):
        spans, evals = [], []
        for i in range(lo, min(n_traces, lo + 2000)):
            s, e = make_trace(rng, i)
            spans += s
            evals += e
        write_batch(db, spans, evals)
        print(f"\r  building {path.name}: {lo + 2000:,}/{n_traces:,} traces", end="", file=sys.stderr)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.execute("ANALYZE")
    db.conn.close()
    Path(str(path) + ".building").rename(path)
    print(f"\r  built {path.name} ({n_spans:,} spans) in {time.perf_counter() - t:.0f} s", file=sys.stderr)


def timed(fn, repeat: int = 5) -> tuple[float, float]:
    """(median, best) of `repeat` runs after one warm-up run (page cache, statement cache)."""
    fn()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), min(runs)


def baselines(db):
    """The same answers computed from the spans table alone."""
    per_trace = ("SELECT trace_id, MIN(start_ns) AS start_ns, (MAX(end_ns) - MIN(start_ns)) / 1e6 AS duration_ms, "
                 "SUM(status = 'ERROR') AS errors, SUM(cost_usd) AS cost, MAX(route) AS route FROM spans GROUP BY trace_id")

    def kpis():
        df = frame(db, per_trace)
        return len(df), df["duration_ms"].quantile([0.5, 0.95, 0.99]), (df["errors"] > 0).mean(), df["cost"].mean()

    def cohorts():
        df = frame(db, per_trace)
        return df.groupby("route").agg({"duration_ms": ["median", lambda s: s.quantile(0.95)], "errors": "mean"})

    def table():
        return frame(db, per_trace + " ORDER BY start_ns DESC LIMIT 50")

    return {"overview KPIs": kpis, "cohort matrix": cohorts, "trace table page": table}


def run(n_spans: int) -> list[tuple[str, float, float | None]]:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"queries_{n_spans}.db"
    if not path.exists():
        build(path, n_spans)
    ws = tracedesk.open(str(path))
    tid = ws.traces(limit=1, offset=ws.count_traces() // 2)["trace_id"].iloc[0]
    refunds = Filters(dims={"route": ["refunds"]})

    def open_trace():
        ws.trace(tid)
        ws.evaluations(trace_id=tid)
        return ws.trajectory(tid)

    def fresh(fn):
        """Drop the per-filter frames the workspace keeps, so the figure is a first look at a filter set
        (the refusal check of every LLM output stays cached: it is paid once per open, see 'cold')."""
        def run_fresh():
            ws.db.__dict__.pop("_td_frames", None)
            return fn()
        return run_fresh

    ops = {
        "overview KPIs": lambda: ws.kpis(),
        "cohort matrix": fresh(lambda: ws.cohort_matrix("route")),
        "cohort matrix, again": lambda: ws.cohort_matrix("route"),
        "trace table page": lambda: (ws.count_traces(), ws.traces(limit=50, with_evals=True)),
        "trace open + graph": open_trace,
        # not targets, reported for context
        "overview KPIs, route=refunds": lambda: ws.kpis(refunds),
        "trace table, route=refunds": lambda: (ws.count_traces(refunds), ws.traces(refunds, limit=50, with_evals=True)),
        "cohort matrix by model": fresh(lambda: ws.cohort_matrix("model")),
        "worst cohorts (6 dimensions)": fresh(lambda: ws.worst_cohorts()),
        "monitoring health": lambda: ws.health(),
        "time series": fresh(lambda: ws.timeseries()),
        "agent topology (5k traces)": lambda: ws.agent_topology(),
    }
    # the first cohort matrix on a freshly opened workspace also runs the refusal text check over every
    # LLM output (cached afterwards, and extended only by new spans): reported on its own
    t = time.perf_counter()
    tracedesk.open(str(path)).cohort_matrix("route")
    cold = time.perf_counter() - t
    base = baselines(ws.db)
    base["cohort matrix, again"] = base["cohort matrix"]
    base["trace open + graph"] = lambda: frame(ws.db, "SELECT * FROM spans WHERE trace_id = ?", [tid])
    rows = []
    for name, fn in ops.items():
        secs = timed(fn, repeat=5 if name in TARGETS or n_spans <= 200_000 else 3)
        b = timed(base[name], repeat=1 if n_spans > 200_000 else 3)[0] if name in base else None
        rows.append((name, *secs, b))
    rows.insert(3, ("cohort matrix, cold (first open)", cold, cold, None))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = ap.parse_args()
    for n in args.sizes:
        print(f"\n{n:,} spans ({n // 10:,} traces)")
        print(f"  {'operation':32s} {'median':>9s} {'best':>9s} {'target@1M':>10s} {'baseline':>10s} {'speed-up':>9s}")
        for name, secs, best, b in run(n):
            target = f"{TARGETS[name]:.2f} s" if name in TARGETS else ""
            bs = f"{b * 1000:8.1f}ms" if b is not None else ""
            ratio = f"{b / secs:8.1f}x" if b else ""
            print(f"  {name:32s} {secs * 1000:7.1f}ms {best * 1000:7.1f}ms {target:>10s} {bs:>10s} {ratio:>9s}")


if __name__ == "__main__":
    main()
