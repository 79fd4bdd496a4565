"""Benchmark: a full drift report (all four families) over 1M spans.

Builds (once, cached) a SQLite file with ~1M synthetic RAG spans over 7 days, 5 routes, with known
shifts in one route on the last day, then times `drift_report` for the last day against the six days
before: all traffic as one cohort, and per route. Baseline measured in the same run: a bare scan that
only reads the same rows and columns from SQLite into Python (no statistics).

    python benchmarks/drift.py [--spans 1000000] [--db /tmp/tracedesk-drift-bench.db] [--rebuild]
Target: under 3 s per report on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import time

DAY = 86_400 * 10**9
T0 = 1_790_000_000 * 10**9
SPANS_PER_TRACE = 3


def build(path: str, spans: int) -> None:
    from tracedesk.drift.synthetic import write_synthetic

    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    t = time.perf_counter()
    n = write_synthetic(path, spans // SPANS_PER_TRACE, T0, T0 + 7 * DAY,
                        cohorts=("billing", "search", "refunds", "onboarding", "tech-support"),
                        shift_at_ns=T0 + 6 * DAY + DAY // 3, shift_cohort="refunds",
                        shifts=("refusal", "retrieval", "evaluator"), seed=7)
    print(f"built {n:,} spans in {time.perf_counter() - t:.1f} s -> {path}")


def baseline_scan(path: str) -> float:
    """CPU seconds to read every row and column drift looks at, with no sampling and no statistics."""
    import sqlite3

    conn = sqlite3.connect(path)
    t = time.process_time()
    lo = T0
    for sql in (
        "SELECT rowid, start_ns, trace_id, route, length(input_text), input_tokens, length(output_text), "
        "output_tokens, substr(output_text, 1, 300), finish_reason FROM spans WHERE kind = 'LLM' AND start_ns >= ?",
        "SELECT rowid, start_ns, trace_id, route, duration_ms, retrieved_doc_ids, documents FROM spans "
        "WHERE kind = 'RETRIEVER' AND start_ns >= ?",
        "SELECT e.name, e.score, s.start_ns, e.trace_id, s.route FROM evaluations e JOIN spans s "
        "ON s.trace_id = e.trace_id AND s.span_id = e.span_id WHERE s.start_ns >= ?",
    ):
        conn.execute(sql, [lo]).fetchall()
    elapsed = time.process_time() - t
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--db", default="/tmp/tracedesk-drift-bench.db")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    if args.rebuild or not os.path.exists(args.db):
        build(args.db, args.spans)

    from tracedesk import store
    from tracedesk.drift import drift_report

    total = store.stats(store.connect(args.db))["spans"]
    print(f"database: {total:,} spans, {os.path.getsize(args.db) / 1e6:.0f} MB")
    baseline_scan(args.db)  # warm the page cache so both sides read from memory
    base = min(baseline_scan(args.db) for _ in range(2))
    print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(other work on the machine inflates wall time; CPU time is this process alone)")
    print(f"baseline: bare scan of every row/column drift reads   cpu {base:6.2f} s")
    for dimension in (None, "route"):
        walls, cpus = [], []
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            report = drift_report(args.db, since="1d", dimension=dimension)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        wall, cpu = min(walls), min(cpus)
        top = report.drifted[:3]
        print(f"drift report, dimension={dimension or '(all)':<6} {len(report.results):3d} pairs  wall {wall:5.2f} s  "
              f"cpu {cpu:5.2f} s ({cpu / base:.2f}x the bare scan)  target < 3 s: {'OK' if wall < 3 else 'MISSED'}")
        print(f"    sampling: {report.sampling}")
        for r in top:
            print(f"    top: {r.signal} {r.cohort_label} magnitude {r.magnitude:.3f}")


if __name__ == "__main__":
    main()
