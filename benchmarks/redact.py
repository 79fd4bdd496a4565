"""Redaction cost: ingest of the bundled sample week with and without `--redact`, same run.

    python benchmarks/redact.py            # 2 rounds, alternating plain / redact
    python benchmarks/redact.py --rounds 3

Generates the sample week (`tracedesk sample generate`, deterministic) once, then ingests it into a fresh
database per measurement, alternating plain and redacted runs so machine noise hits both alike. Prints
seconds, spans/s and redactions per run, the best of each, and the per-span cost of redaction; then, as
end-to-end figures are noisy on a shared machine, the masking step alone (`Redactor.span` over the parsed
week, parsing not timed).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from tracedesk.ingest import Normalizer, ingest_paths
from tracedesk.ingest.parse import parse_bytes
from tracedesk.ingest import redact as redact_module
from tracedesk.ingest.redact import Redactor
from tracedesk.sample import generate


def _once(folder: str, db: str, redact: bool) -> tuple[float, int, int]:
    if os.path.exists(db):
        os.remove(db)
    started = time.perf_counter()
    report = ingest_paths(db, [folder], redact=redact)
    return time.perf_counter() - started, report.spans_inserted, report.redactions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "week")
        generate(folder)
        for name in os.listdir(folder):  # only the traces: the label files are not trace data
            if not name.startswith("traces-"):
                os.remove(os.path.join(folder, name))
        best: dict[bool, float] = {}
        spans = 0
        for r in range(args.rounds):
            for redact in (False, True):
                secs, spans, n = _once(folder, os.path.join(tmp, "b.db"), redact)
                best[redact] = min(best.get(redact, secs), secs)
                print(f"round {r + 1} {'redact' if redact else 'plain '}: {secs:6.2f} s  {spans / secs:8,.0f} "
                      f"spans/s  redactions {n:,}")
        plain, red = best[False], best[True]
        print(f"best: plain {plain:.2f} s, redact {red:.2f} s; ratio redact/plain {red / plain:.2f}; "
              f"redaction cost {(red - plain) / spans * 1e6:.0f} us/span over {spans:,} spans")
        for r in range(args.rounds):
            parsed = []
            for name in sorted(os.listdir(folder)):
                with open(os.path.join(folder, name), "rb") as fh:
                    parsed += parse_bytes(fh.read(), name, normalizer=Normalizer({})).spans
            redactor = Redactor((), "0" * 32)
            redact_module._CLEAN.clear()  # cold, as in a fresh `tracedesk ingest` process
            started = time.perf_counter()
            n = sum(redactor.span(s) for s in parsed)
            secs = time.perf_counter() - started
            print(f"masking alone, round {r + 1}: {secs:.2f} s, {secs / len(parsed) * 1e6:.1f} us/span, "
                  f"{n:,} redactions")


if __name__ == "__main__":
    main()
