"""First look benchmark: the data calls of Home / Overview / Cohorts on a workspace opened just now.

Each call runs once in a fresh process (nothing kept on the connection yet), in the order the pages make
them, then once more (warm: the page reads kept per data version). Prints CPU and wall seconds per call;
on a machine shared with other jobs CPU time is the figure to compare.

    python benchmarks/first_look.py DB [--calls refused_trace_ids,kpis,worst_cohorts,...]
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import tracedesk
from tracedesk.analysis import metrics
from tracedesk.store import samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", help="a tracedesk database (read only; use a copy of a shared one)")
    parser.add_argument("--calls", default="refused_trace_ids,kpis,worst_cohorts,cohort_matrix,timeseries",
                        help="comma list, in this order")
    args = parser.parse_args()
    db = tracedesk.open(args.db).db
    calls: dict[str, Callable[[], Any]] = {
        "refused_trace_ids": lambda: samples.refused_trace_ids(db),
        "kpis": lambda: metrics.kpis(db),
        "worst_cohorts": lambda: metrics.worst_cohorts(db),
        "cohort_matrix": lambda: metrics.cohort_matrix(db, "model"),
        "timeseries": lambda: metrics.timeseries(db),
    }
    names = [n for n in args.calls.split(",") if n]
    unknown = [n for n in names if n not in calls]
    if unknown:
        parser.error(f"unknown call(s) {', '.join(unknown)}; valid choices: {', '.join(calls)}")
    for label in ("first", "warm"):
        for name in names:
            cpu, wall = time.process_time(), time.perf_counter()
            calls[name]()
            print(f"{label:5} {name:18} {time.process_time() - cpu:6.2f} s CPU {time.perf_counter() - wall:6.2f} s wall")


if __name__ == "__main__":
    main()
