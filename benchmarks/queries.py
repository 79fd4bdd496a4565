"""Workbench query benchmark: overview KPIs, cohort matrix, every Traces-page filter alone and combined,
trace table page and one trace open (with its trajectory graph) on 100k and 1M spans of the sample
generator's traffic, loaded with `tracedesk ingest` exactly as a user loads it.

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
from tracedesk.store.query import Filters, frame

OUT = Path(__file__).resolve().parent / "out"
TARGETS = {"overview KPIs": 1.0, "cohort matrix": 1.0, "trace table page": 0.5, "trace open + graph": 0.1}


#: spans per sample-generator trace (measured on the bundled week: 66,307 spans / 3,605 traces)
SPANS_PER_TRACE = 18.4


def build(path: Path, n_spans: int) -> None:
    """The way a user builds a database: `tracedesk sample generate` OTLP files, then `tracedesk ingest`
    (no statement of our own: no statistics run by hand, no extra index)."""
    from tracedesk.cli import main as cli

    t = time.perf_counter()
    otlp = path.parent / f"{path.stem}_otlp"
    per_hour = n_spans / SPANS_PER_TRACE / (7 * 24)
    if not otlp.exists():
        assert cli(["sample", "generate", str(otlp), "--days", "7", "--traces-per-hour", f"{per_hour:.1f}",
                    "--seed", "7"]) == 0
    building = Path(str(path) + ".building")
    assert cli(["ingest", str(otlp / "traces-*.json.gz"), "--db", str(building), "--quiet"]) in (0, 1)
    building.rename(path)
    print(f"  built {path.name} in {time.perf_counter() - t:.0f} s", file=sys.stderr)


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
    # every Traces-page filter alone, and all of them at once (count + first page, as the page does)
    model = ws.traces(limit=1)["models"].iloc[0].split(",")[0]
    filters = {
        "model": Filters(models=[model]), "kind": Filters(kinds=["TOOL"]), "status": Filters(statuses=["ERROR"]),
        "agent": Filters(agents=ws.values("agent_name")[:1]),
        "text": Filters(text="refund"), "score": Filters(scores={"groundedness": (None, 0.5)}),
        "latency": Filters(min_latency_ms=2000.0), "route": refunds,
        "combined": Filters(models=[model], kinds=["LLM"], statuses=["OK"], dims={"route": ["refunds"]},
                            scores={"groundedness": (0.0, None)}, text="refund", min_latency_ms=10.0),
    }
    for fname, f in filters.items():
        ops[f"filter {fname}"] = (lambda f=f: (ws.count_traces(f), ws.traces(f, limit=50)))
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
        print(f"\n{n:,} spans requested (sample-generator traffic, ~{n / SPANS_PER_TRACE:,.0f} traces)")
        print(f"  {'operation':32s} {'median':>9s} {'best':>9s} {'target@1M':>10s} {'baseline':>10s} {'speed-up':>9s}")
        for name, secs, best, b in run(n):
            target = f"{TARGETS[name]:.2f} s" if name in TARGETS else ""
            bs = f"{b * 1000:8.1f}ms" if b is not None else ""
            ratio = f"{b / secs:8.1f}x" if b else ""
            print(f"  {name:32s} {secs * 1000:7.1f}ms {best * 1000:7.1f}ms {target:>10s} {bs:>10s} {ratio:>9s}")


if __name__ == "__main__":
    main()
