"""`tracedesk changes` (what changed, where, since when) and `tracedesk explain` (why a signal moved)."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from . import count

if TYPE_CHECKING:  # the CLI imports its libraries lazily (fast --help)
    import sqlite_utils

_TIME_HELP = "ISO 8601 (UTC when no zone), Unix s/ms/ns, or relative to the newest span ('-24h', '7d')"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "changes", help="the changes feed: signals that moved per cohort, since when, ranked by impact",
        description="For every signal and cohort (single dimensions and pairs with enough traffic), find "
                    "windows where the series departs from its own baseline; report start, end (null if "
                    "ongoing), baseline, current, effect, FDR q, sample sizes and example traces. Exit 0.")
    p.add_argument("--db", default=None, help="database file (default: $TRACEDESK_DB or ./tracedesk.db)")
    p.add_argument("--since", default=None, help=f"range start (default: the first trace); {_TIME_HELP}")
    p.add_argument("--until", default=None, help=f"range end (default: after the newest trace); {_TIME_HELP}")
    p.add_argument("--dimension", action="append", default=None,
                   help="cohort dimension to split by (repeatable; default: route, tenant, prompt_version, "
                        "model, tool_name and mapped dims)")
    p.add_argument("--top", type=count, default=20, help="findings to list (default 20; 0 = all)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(func=_run_changes)

    e = subparsers.add_parser(
        "explain", help="attribute a signal's change between two windows to segments (rate vs mix)",
        description="Shift-share decomposition of one signal between a baseline window and a current window: "
                    "each segment's contribution, split into rate effect (the segment got worse) and mix "
                    "effect (its share of traffic grew); the parts sum to the total change. Drills into "
                    "pairs of the most explanatory segments.")
    e.add_argument("--db", default=None, help="database file (default: $TRACEDESK_DB or ./tracedesk.db)")
    e.add_argument("--signal", required=True, help="a feed signal name, e.g. groundedness, cost_per_trace, "
                                                  "refusal_rate (see `tracedesk changes`)")
    e.add_argument("--since", required=True, help=f"current window start; {_TIME_HELP}")
    e.add_argument("--until", required=True, help=f"current window end; {_TIME_HELP}")
    e.add_argument("--baseline-since", default=None, help="baseline start (default: the same length before --since)")
    e.add_argument("--baseline-until", default=None, help="baseline end (default: --since)")
    e.add_argument("--dimension", action="append", default=None, help="segment dimension (repeatable)")
    e.add_argument("--top", type=count, default=10, help="segments to list (default 10)")
    e.add_argument("--json", action="store_true", help="print the decomposition as JSON")
    e.set_defaults(func=_run_explain)


def _open(path_arg: str | None) -> sqlite_utils.Database:
    import os

    from . import UsageError
    from ..store import connect, default_db_path

    path = path_arg or default_db_path()
    if path != ":memory:" and not os.path.exists(path):
        raise UsageError(f"database {path!r} does not exist; pass --db FILE (create one with tracedesk ingest).")
    return connect(path)


def _time(db: sqlite_utils.Database, value: object, name: str) -> int | None:
    from ..store.query import time_bounds
    from ..timeutil import parse_optional_time

    _lo, hi = time_bounds(db)
    return parse_optional_time(value, now_ns=hi, name=name)


def _run_changes(args: argparse.Namespace) -> int:
    import json

    from . import UsageError
    from ..analysis.changes import find_changes

    db = _open(args.db)
    since, until = _time(db, args.since, "--since"), _time(db, args.until, "--until")
    if since is not None and until is not None and until <= since:
        raise UsageError("--until must be after --since.")
    findings = find_changes(db, since, until, dimensions=args.dimension, top=args.top or None,
                            progress=_progress_to_stderr)
    if args.json:
        print(json.dumps({"findings": [f.to_dict() for f in findings]}, indent=2))
        return 0
    if not findings:
        print("No change stands out in this range.")
        return 0
    print(f"{'#':>3}  {'start (UTC)':<20} {'end':<20} {'cohort':<38} {'signals':<34} {'baseline':>10} "
          f"{'current':>10} {'q':>8}  n base/cur")
    for i, f in enumerate(findings, start=1):
        d = f.to_dict()
        cohort = ", ".join(f"{k}={v}" for k, v in f.cohort.items()) or "(all traffic)"
        print(f"{i:>3}  {d['start']:<20} {d['end'] or 'ongoing':<20} {cohort:<38.38} {', '.join(f.signals):<34.34} "
              f"{f.baseline:>10.4g} {f.current:>10.4g} {f.q:>8.1e}  {f.n_baseline}/{f.n_current}")
    return 0


def _progress_to_stderr(done: int, total: int, what: str) -> None:
    """The first feed after new data reads every row once (seconds on a big store): say so, on stderr
    (stdout stays the findings, --json included)."""
    import sys

    if done == 0:
        print("changes: new data since the last feed; updating its stored samples (once)", file=sys.stderr)
    if done < total:  # (done == total: over; the findings follow)
        print(f"changes: [{done + 1}/{total}] {what}", file=sys.stderr, flush=True)


def _run_explain(args: argparse.Namespace) -> int:
    import json

    from . import UsageError
    from ..analysis.explain import ExplainError, explain_signal

    db = _open(args.db)
    since, until = _time(db, args.since, "--since"), _time(db, args.until, "--until")
    b_since, b_until = _time(db, args.baseline_since, "--baseline-since"), _time(db, args.baseline_until,
                                                                                 "--baseline-until")
    if since is None or until is None:  # both are required options; an empty value gives no window
        raise UsageError("explain needs a current window: pass --since and --until each a time "
                         f"({_TIME_HELP})")
    try:
        result = explain_signal(db, args.signal, since, until, baseline_since=b_since, baseline_until=b_until,
                                dimensions=args.dimension)
    except ExplainError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(result.to_dict(top=args.top), indent=2))
    else:
        print("\n".join(result.lines(top=args.top)))
    return 0
