"""Sample-week benchmark: how long the generator and the first-launch demo build take.

Figures (CPU and wall time, since the machine may be shared):
- generating the bundled week (`tracedesk sample generate` with the committed parameters);
- `build_demo_db` (ingest of the packaged files into a fresh SQLite file) — the first launch's wait;
- baseline measured in the same run: gunzip + `json.loads` of the same files (the floor any ingest pays),
  and the ratio build / baseline.

    python benchmarks/sample.py
"""
from __future__ import annotations

import gzip
import json
import os
import tempfile
import time
from pathlib import Path


def _timed(fn):  # type: ignore[no-untyped-def]
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    from tracedesk.sample import build_demo_db, generate, sample_files, sample_ground_truth

    truth = sample_ground_truth()
    files = sample_files()
    size = sum(p.stat().st_size for p in files)
    print(f"sample: {truth['traces']} traces, {truth['spans']} spans, {len(files)} files, {size / 1e6:.1f} MB gzip")
    with tempfile.TemporaryDirectory() as tmp:
        p = truth["params"]
        _, wall, cpu = _timed(lambda: generate(Path(tmp) / "gen", days=p["days"],
                                               traces_per_hour=p["traces_per_hour"], seed=truth["seed"]))
        print(f"generate week:      {wall:6.2f} s wall  {cpu:6.2f} s cpu  ({truth['spans'] / cpu:,.0f} spans/s cpu)")

        def parse_only() -> int:
            n = 0
            for f in files:
                doc = json.loads(gzip.decompress(f.read_bytes()))
                n += sum(len(ss["spans"]) for rs in doc["resourceSpans"] for ss in rs["scopeSpans"])
            return n

        n, b_wall, b_cpu = _timed(parse_only)
        assert n == truth["spans"]
        print(f"baseline gunzip+json.loads: {b_wall:6.2f} s wall  {b_cpu:6.2f} s cpu")
        db = os.path.join(tmp, "demo.db")
        _, d_wall, d_cpu = _timed(lambda: build_demo_db(db))
        print(f"build_demo_db:      {d_wall:6.2f} s wall  {d_cpu:6.2f} s cpu  "
              f"({truth['spans'] / d_cpu:,.0f} spans/s cpu; {os.path.getsize(db) / 1e6:.0f} MB database)")
        print(f"ratio build / baseline (cpu): {d_cpu / b_cpu:.1f}x")


if __name__ == "__main__":
    main()
