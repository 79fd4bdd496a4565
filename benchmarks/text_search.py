"""Text filter benchmark (issue 14 item 8): Unicode case folding (td_fold + instr) against the ASCII-only
lower() LIKE it replaced, on the bundled sample week, same run, same queries.

    python benchmarks/text_search.py
    python benchmarks/text_search.py --db COPY.db [--build] [--drop]   (issue 13: the text index)

With --db: on a copy of a big database (it is written: migrated, and indexed with --build), the CPU time
of the Traces page's first text search (count + first page of 50, kept matches dropped before each) by
the span scan and by the text index (store.text_index), the index's build CPU per span and its bytes
per span (dbstat), and that both give the same traces.

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


SEARCHES = ["refund", "REFUND", "sorry", "zzz-no-match", "école", "order status", "the"]


def first_search(db, f) -> tuple[int, float, list[str]]:
    from tracedesk.store import query

    query.forget_text_matches(db)
    t0 = time.process_time()
    n = query.count_traces(db, f)
    page = query.traces(db, f, limit=50)["trace_id"].tolist()
    return n, time.process_time() - t0, page


def index_bytes(db) -> int:
    from tracedesk.store import text_index

    names = [text_index.FTS + sfx for sfx in ("_data", "_idx", "_config")] + [
        text_index.DOCS, f"idx_{text_index.DOCS}_trace", text_index.STATE, text_index.STALE]
    marks = ",".join("?" for _ in names)
    return int(db.execute(f"SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN ({marks})", names).fetchone()[0])


def on_database(path: str, build: bool, drop: bool) -> None:
    from tracedesk.store import text_index
    from tracedesk.store.query import Filters

    t0 = time.process_time()
    db = connect(path)
    print(f"open + migrate: {time.process_time() - t0:.1f} s CPU")
    spans = db.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
    print(f"{spans:,} spans; text index present: {text_index.present(db)}")
    filters = [Filters(text=q) for q in SEARCHES] + [Filters(text="refund", models=["gpt-4o-mini"]),
                                                    Filters(text="sorry", statuses=["ERROR"])]
    if drop and text_index.present(db):
        text_index.drop(db)
    scan = {}
    if not text_index.present(db):
        for f in filters:
            scan[repr(f)] = first_search(db, f)
            n, cpu, _ = scan[repr(f)]
            print(f"scan   {f.text!r:>16} {'+' if f.models or f.statuses else ' '} {n:>8,} traces {cpu:7.2f} s CPU")
    if build:
        t0 = time.process_time()
        read = text_index.build(db)
        cpu = time.process_time() - t0
        print(f"build: {read:,} spans in {cpu:.1f} s CPU = {cpu / max(read, 1) * 1e6:.1f} us per span")
    if not text_index.present(db):
        return
    size = index_bytes(db)
    print(f"index bytes: {size:,} = {size / spans:.1f} B per span; {text_index.stats(db)}")
    for f in filters:
        n, cpu, page = first_search(db, f)
        same = ""
        if repr(f) in scan:
            ratio = cpu / max(scan[repr(f)][1], 1e-9)
            same = f" (scan/index same traces: {scan[repr(f)][0] == n and scan[repr(f)][2] == page}; x{ratio:.4f})"
        print(f"index  {f.text!r:>16} {'+' if f.models or f.statuses else ' '} {n:>8,} traces {cpu:7.3f} s CPU{same}")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", help="a COPY of a big database (written: migrated, indexed with --build)")
    ap.add_argument("--build", action="store_true", help="build the text index (after timing the scan)")
    ap.add_argument("--drop", action="store_true", help="drop an index the copy has first (time the scan)")
    a = ap.parse_args()
    if a.db:
        on_database(a.db, a.build, a.drop)
    else:
        main()
