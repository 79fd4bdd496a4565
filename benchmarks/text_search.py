"""Text filter benchmark (issue 14 item 8): Unicode case folding (td_fold + instr) against the ASCII-only
lower() LIKE it replaced, on the bundled sample week, same run, same queries.

    python benchmarks/text_search.py

Prints, per query, the traces matched by each form and the median of 7 runs of the Traces-page count
query (`count_traces` with a text filter), and the ratio new/old. Also prints the query plan, to show the
text test stays inside the one `trace_id IN (SELECT ...)` sub-query.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

from tracedesk.sample import build_demo_db
from tracedesk.store import connect
from tracedesk.store.query import Filters, trace_where

OUT = Path(__file__).resolve().parent / "out"
QUERIES = ["refund", "REFUND", "école", "sorry", "zzz-no-match"]


def old_where(text: str) -> tuple[str, list[str]]:
    like = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    cond = ("t.trace_id IN (SELECT s.trace_id FROM spans s WHERE (lower(s.name) LIKE ? ESCAPE '\\' OR "
            "lower(s.input_text) LIKE ? ESCAPE '\\' OR lower(s.output_text) LIKE ? ESCAPE '\\'))")
    return cond, [like, like, like]


def timed(db, where: str, params: list[str]) -> tuple[int, float]:
    runs = []
    n = 0
    for _ in range(7):
        t0 = time.perf_counter()
        n = db.execute(f"SELECT COUNT(*) FROM traces t WHERE {where}", params).fetchone()[0]
        runs.append(time.perf_counter() - t0)
    return n, statistics.median(runs)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    path = OUT / "sample_week.db"
    if not path.exists():
        build_demo_db(str(path))
    db = connect(str(path))
    spans = db.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
    traces = db.execute("SELECT COUNT(*) FROM traces").fetchone()[0]
    print(f"sample week: {traces:,} traces, {spans:,} spans")
    print(f"{'query':<14} {'old matches':>11} {'new matches':>11} {'old ms':>8} {'new ms':>8} {'new/old':>8}")
    for q in QUERIES:
        n_old, t_old = timed(db, *old_where(q))
        n_new, t_new = timed(db, *trace_where(Filters(text=q)))
        print(f"{q:<14} {n_old:>11,} {n_new:>11,} {t_old * 1e3:>8.1f} {t_new * 1e3:>8.1f} {t_new / t_old:>8.2f}")
    where, params = trace_where(Filters(text="refund", models=["gpt-4o-mini"]))
    print("query plan (text + model filter):")
    for row in db.execute(f"EXPLAIN QUERY PLAN SELECT COUNT(*) FROM traces t WHERE {where}", params):
        print("  ", row[-1])


if __name__ == "__main__":
    main()
