"""Changes feed benchmark: the whole feed (every signal x cohort, pairs included) on ~1M spans.

The database is built the way users build one: `tracedesk sample generate` writes a week of OTLP/JSON at
a higher traffic rate, `tracedesk ingest` loads it (cached in --big-db between runs). Then the feed runs
cold (a fresh connection) and warm (the same connection again), and, as a same-run baseline, one plain
SQL pass reading every span's start time and duration (the least any per-span analysis must read).

    python benchmarks/changes.py [--big-db FILE] [--traces-per-hour 335] [--rebuild]
Target: the feed under 3 s at 1M spans on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build(path: str, per_hour: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "tracedesk", "sample", "generate", out, "--traces-per-hour",
                        str(per_hour)], check=True, env=env)
        files = [str(p) for p in Path(out).glob("traces-*.json.gz")]
        subprocess.run([sys.executable, "-m", "tracedesk", "ingest", "--db", path, "--quiet", *files],
                       check=True, env=env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--big-db", default=str(Path(tempfile.gettempdir()) / "tracedesk-bench-changes.db"))
    ap.add_argument("--traces-per-hour", type=int, default=335, help="335/h x 7 days x ~18 spans = ~1M spans")
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from tracedesk.analysis.changes import find_changes
    from tracedesk.store import connect

    if args.rebuild and os.path.exists(args.big_db):
        os.remove(args.big_db)
    if not os.path.exists(args.big_db):
        t = time.perf_counter()
        build(args.big_db, args.traces_per_hour)
        print(f"built {args.big_db} in {time.perf_counter() - t:.1f} s")
    db = connect(args.big_db)
    spans, traces = (db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("spans", "traces"))
    evals = db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    print(f"{spans:,} spans, {traces:,} traces, {evals:,} evaluations")

    t = time.perf_counter()
    db.execute("SELECT start_ns, duration_ms FROM spans").fetchall()
    scan = time.perf_counter() - t

    t = time.perf_counter()
    findings = find_changes(db, top=20)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    find_changes(db, top=20)
    warm = time.perf_counter() - t
    print(f"plain scan of every span (start, duration): {scan:.2f} s")
    print(f"changes feed: cold {cold:.2f} s, warm {warm:.2f} s  ({cold / scan:.1f}x / {warm / scan:.1f}x the scan)"
          f"  target < 3 s: {'met' if warm < 3 else 'NOT met'}")
    for f in findings[:8]:
        print("  ", f.title())


if __name__ == "__main__":
    main()
