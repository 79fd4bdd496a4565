"""`tracedesk export`: spans, traces or evaluations of any filter to CSV or Parquet, streamed in chunks."""
from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "export", help="write spans, traces or evaluations (any filter) to CSV or Parquet",
        description="Export stored rows matching filters. Filters are the app's URL parameters, e.g. "
                    "--filter 'route=billing&status=ERROR' (the Traces page URL holds them: copy its query "
                    "string), plus --start/--end. Parquet is written with pyarrow (installed with tracedesk).",
    )
    p.add_argument("--db", default=None, help="database file (default: $TRACEDESK_DB or ./tracedesk.db)")
    p.add_argument("--what", choices=("spans", "traces", "evaluations"), default="spans",
                   help="rows to export (default spans)")
    p.add_argument("--format", choices=("csv", "parquet"), default=None,
                   help="file format (default: from the -o extension, else csv)")
    p.add_argument("--filter", action="append", default=[], metavar="QUERY",
                   help="URL-style filters, e.g. 'route=billing&model=gpt-4o&score.pii=..0.5' (repeatable)")
    p.add_argument("--start", help="traces starting at or after this time (ISO or Unix)")
    p.add_argument("--end", help="traces starting before this time (ISO or Unix)")
    p.add_argument("--chunk-rows", type=int, default=50_000, help="rows read and written per chunk (default 50000)")
    p.add_argument("-o", "--output", required=True, help="file to write")
    p.set_defaults(func=run)


def filters_from_args(args: argparse.Namespace) -> Any:
    from urllib.parse import parse_qsl

    from ..store.query import FILTER_PARAM_KEYS_HELP, Filters
    from . import UsageError

    params: dict[str, str] = {}
    for text in args.filter:
        pairs = parse_qsl(text.lstrip("?"), keep_blank_values=False, strict_parsing=False)
        if not pairs and text.strip():
            raise UsageError(f"--filter {text!r}: expected KEY=VALUE pairs joined by '&'; keys: "
                             f"{FILTER_PARAM_KEYS_HELP}")
        params.update(pairs)
    if args.start:
        params["start"] = args.start
    if args.end:
        params["end"] = args.end
    return Filters.from_query_params(params, strict=True)


def run(args: argparse.Namespace) -> int:
    import sys

    from .. import store
    from ..exporting import export
    from . import UsageError

    if args.chunk_rows < 1:
        raise UsageError("--chunk-rows must be at least 1")
    filters = filters_from_args(args)
    db = store.open_existing(args.db or store.default_db_path())
    report = export(db, args.what, args.output, format=args.format, filters=filters, chunk_rows=args.chunk_rows)
    print(report.line(), file=sys.stderr)
    return 0
