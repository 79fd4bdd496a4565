"""`tracedesk drift`: rank the most-drifted (signal, cohort) pairs between two windows."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from . import count

if TYPE_CHECKING:  # the CLI imports its libraries lazily (fast --help)
    from ..drift.result import DriftReport

_FAMILIES = ("input", "output", "evaluator", "retrieval")  # kept in sync with drift.FAMILIES (light import)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "drift", help="input/output/evaluator/retrieval drift per cohort between two windows",
        description="Compare a current window with a reference window (default: the period right before it) "
                    "for every signal and cohort, and rank the most-drifted pairs. Times: ISO 8601, Unix "
                    "s/ns, or a duration back from the newest span ('24h', '7d').")
    p.add_argument("--db", default=None, help="database file (default: $TRACEDESK_DB or ./tracedesk.db)")
    p.add_argument("--since", default=None, help="current window start (default: 24h before the newest span)")
    p.add_argument("--until", default=None, help="current window end (default: just after the newest span)")
    p.add_argument("--reference-since", default=None, help="reference window start (default: rolling baseline)")
    p.add_argument("--reference-until", default=None, help="reference window end (default: --since)")
    p.add_argument("--dimension", default=None,
                   help="cohort dimension (see docs/cohorts.md): route, tenant, prompt_version, environment, model, service, "
                        "agent_name or a mapped dims key (default: all traffic as one cohort)")
    p.add_argument("--family", action="append", choices=_FAMILIES, default=None,
                   help="only this family (repeatable; default: all four)")
    p.add_argument("--min-samples", type=int, default=30, help="per window and cohort (default 30)")
    p.add_argument("--alpha", type=float, default=0.05, help="false discovery rate (default 0.05)")
    p.add_argument("--top", type=count, default=20, help="rows in the text table / JSON results (0 = all)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--series", action="store_true", help="include each result's time series in the JSON")
    p.add_argument("--fail-on-drift", action="store_true", help="exit 1 when any pair drifted (for CI/cron)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json
    import os

    from . import UsageError
    from ..drift import DriftError, drift_report
    from ..store import default_db_path

    path = args.db or default_db_path()
    if path != ":memory:" and not os.path.exists(path):
        raise UsageError(f"database {path!r} does not exist; pass --db FILE (create one with tracedesk ingest).")
    if args.min_samples < 2:
        raise UsageError("--min-samples must be at least 2.")
    if not 0 < args.alpha < 1:
        raise UsageError("--alpha must be between 0 and 1, e.g. 0.05.")
    try:
        report = drift_report(
            path, args.since, args.until, reference_since=args.reference_since,
            reference_until=args.reference_until, dimension=args.dimension, families=args.family,
            min_samples=args.min_samples, alpha=args.alpha,
        )
    except DriftError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(report.to_dict(limit=args.top or None, series=args.series), indent=2))
    else:
        _print_table(report, args.top or None)
    return 1 if (args.fail_on_drift and report.drifted) else 0


def _print_table(report: DriftReport, top: int | None) -> None:
    ref, cur = report.reference.to_dict(), report.current.to_dict()
    print(f"reference {ref['start']} .. {ref['end']}   current {cur['start']} .. {cur['end']}   "
          f"dimension {report.dimension or '(all traffic)'}")
    rows = report.ranked(top, include_insufficient=True)
    print(f"{'#':>3}  {'signal':<26} {'cohort':<40} {'ref':>10} {'cur':>10} {'magn':>6} {'q':>8}  n ref/cur  verdict")
    for i, r in enumerate(rows, start=1):
        def num(v: float | None) -> str:
            return "-" if v is None else f"{v:.4g}"
        q = "-" if r.q_value is None else f"{r.q_value:.1e}"
        verdict = "DRIFT" if r.drifted else ("insufficient" if r.insufficient else "ok")
        extra = f" since {r.change_point}" if r.change_point else ""
        print(f"{i:>3}  {r.signal:<26.26} {r.cohort_label:<40.40} {num(r.reference_value):>10} "
              f"{num(r.current_value):>10} {num(r.magnitude):>6} {q:>8}  {r.reference_n}/{r.current_n}  "
              f"{verdict}{extra}")
    s = report.to_dict(series=False)["summary"]
    print(f"{s['drifted']} drifted, {s['insufficient']} with insufficient samples, of {s['pairs']} pairs")
    for note in report.notes:
        print(f"note: {note}")
