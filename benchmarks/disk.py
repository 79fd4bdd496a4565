"""Where a tracedesk database's bytes go: pages per table and index (SQLite's `dbstat`) and the average
stored length of each spans/traces column, all per span.

    python benchmarks/disk.py DB [DB ...]      # e.g. a database built by `tracedesk ingest` (read only)

Per table/index: bytes of its pages, of which payload (the stored records) and unused (room left in its
pages). Per column: the stored length (text/blob bytes, 8 for a number: an upper bound, SQLite stores small
integers in fewer bytes). Used for issue 13's "smaller on disk" (docs/performance.md quotes it).
"""
from __future__ import annotations

import argparse
import os
import sqlite3

_LENGTH = ("SUM(CASE typeof({c}) WHEN 'text' THEN length(CAST({c} AS BLOB)) WHEN 'blob' THEN length({c}) "
           "WHEN 'integer' THEN 8 WHEN 'real' THEN 8 ELSE 0 END)")


def breakdown(path: str) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    n = conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0] or 1
    size = os.path.getsize(path) + (os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    print(f"{path}: {size:,} B (with WAL), {n:,} spans, {size / n:.1f} B/span, page size {page}")
    rows = conn.execute("SELECT name, SUM(pgsize), SUM(payload), SUM(unused) FROM dbstat GROUP BY name "
                        "ORDER BY 2 DESC").fetchall()
    for name, pages, payload, unused in rows:
        if pages / n >= 0.5:
            print(f"  {name:36s} {pages / n:8.1f} B/span  (payload {payload / n:6.1f}, unused {unused / n:5.1f})")
    for table in ("spans", "traces"):
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        sums = conn.execute(f"SELECT {', '.join(_LENGTH.format(c=c) for c in cols)} FROM {table}").fetchone()
        print(f"  {table} columns (B/span):")
        for total, col in sorted(zip(sums, cols), key=lambda x: -(x[0] or 0)):
            if (total or 0) / n >= 0.5:
                print(f"    {col:22s} {(total or 0) / n:7.1f}")
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("db", nargs="+")
    for path in ap.parse_args().db:
        breakdown(path)


if __name__ == "__main__":
    main()
