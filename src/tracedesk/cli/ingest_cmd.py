"""`tracedesk ingest PATH... [--db FILE] [--redact]` and `tracedesk stats [--db FILE] [--json]`."""
from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "ingest",
        help="load trace files (OTLP JSON/protobuf, JSON Lines, flat JSONL; gzip ok) into the database",
        description="Load trace files into the database. PATH may be a file, a folder (read recursively) "
                    "or a glob. Formats are detected by content; gzip is detected by its magic bytes.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="file, folder or glob (quote globs)")
    p.add_argument("--db", help="database file (default: $TRACEDESK_DB or ./tracedesk.db)")
    p.add_argument("--redact", action="store_true",
                   help="mask e-mails, phones, card numbers, SSNs, IBANs and API keys before storing")
    p.add_argument("--redact-keep", action="append", default=[], metavar="KEY",
                   help="with --redact: never mask this attribute (e.g. session.id, user.id); repeatable, "
                        "added to the database's `redaction` setting")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-feed-samples", action="store_true",
                   help="do not build the changes feed's stored samples at the end (then the first feed, e.g. "
                        "the app's landing page, builds them: seconds per million spans)")
    p.add_argument("--max-inflate-ratio", type=int, default=None, metavar="N",
                   help="refuse a gzip file that expands more than N times its size, past 64 MB "
                        "(a decompression bomb; default 200)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_ingest)

    s = subparsers.add_parser("stats", help="totals of the database: traces, spans, kinds, models, tokens")
    s.add_argument("--db", help="database file (default: $TRACEDESK_DB or ./tracedesk.db)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=run_stats)


def _db_path(args: argparse.Namespace, must_exist: bool) -> str:
    import os

    from .. import store
    from . import UsageError

    path = args.db or store.default_db_path()
    if must_exist and path != ":memory:" and not os.path.exists(path):
        raise UsageError(f"database {path!r} does not exist; ingest files first (tracedesk ingest PATH --db "
                         f"{path}) or pass --db / set TRACEDESK_DB")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"cannot create database {path!r}: folder {parent!r} does not exist")
    return path


class _Bar:
    """A plain progress bar on stderr, shown only for inputs over ~5 MB and only on a terminal or when forced."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.last = -1
        #: whether the bar was shown (a big input): the feed-samples step then reports too
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < 5_000_000:
            return
        pct = int(100 * done / total) if total else 100
        if pct == self.last:
            return
        self.last = pct
        self.shown = True
        filled = pct * 30 // 100
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {pct:3d}%  {done / 1e6:,.1f}/{total / 1e6:,.1f} MB")
        if pct >= 100:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def step(self, done: int, total: int, what: str) -> None:
        """The changes feed's samples being built after the load (analysis.feed_ready): one line, rewritten."""
        if not self.enabled or not self.shown:
            return
        line = f"changes feed samples: {what} ({done}/{total})" if done < total else "changes feed samples: stored"
        sys.stderr.write(f"\r{line:<72}" + ("\n" if done >= total else ""))
        sys.stderr.flush()


@contextlib.contextmanager
def _without_dataframes() -> Iterator[None]:
    """Import the ingest path without pandas/numpy/pyarrow: sqlite_utils imports pandas and numpy when
    installed (to map their scalar types, which ingest never writes) and pandas pulls in pyarrow, ~0.35 s
    of CPU per ingest. Hidden only while importing: a later `import pandas` in this process works."""
    hidden = [name for name in ("pandas", "numpy", "pyarrow") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def run_ingest(args: argparse.Namespace) -> int:
    with _without_dataframes():
        from ..ingest import ingest_paths
    from . import EXIT_OK, EXIT_PARTIAL, UsageError

    path = _db_path(args, must_exist=False)
    try:
        from ..ingest.stream import DEFAULT_MAX_INFLATE_RATIO

        ratio = args.max_inflate_ratio if args.max_inflate_ratio is not None else DEFAULT_MAX_INFLATE_RATIO
        if ratio < 1:
            raise UsageError(f"--max-inflate-ratio must be at least 1 (got {ratio})")
        if args.redact_keep and not args.redact:
            raise UsageError("--redact-keep only applies with --redact; add --redact")
        bar = _Bar(not args.quiet)
        report = ingest_paths(path, args.paths, redact=args.redact, redact_keep=args.redact_keep,
                              progress=bar, max_inflate_ratio=ratio, feed_samples=not args.no_feed_samples,
                              feed_progress=bar.step)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        import json

        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(format_report(report, path))
    if report.files == 0 and report.rejected:
        return EXIT_PARTIAL
    return EXIT_OK if report.ok else EXIT_PARTIAL


def format_report(report: Any, db: str) -> str:
    lines = [
        f"Ingested {report.files} file(s) into {db} in {report.seconds:.1f}s",
        f"  traces: {report.traces:,}   spans: {report.spans:,} "
        f"(new {report.spans_inserted:,}, unchanged {report.spans_unchanged:,}, "
        f"replaced {report.spans_replaced:,})",
    ]
    if report.by_convention:
        conv = ", ".join(f"{k} {v:,}" for k, v in sorted(report.by_convention.items(), key=lambda kv: -kv[1]))
        lines.append(f"  spans per convention: {conv}")
    lines.append(f"  evaluations: {report.evaluations:,}")
    if report.log_messages:
        lines.append(f"  messages from OTLP logs: {report.log_messages:,}")
    if report.redactions:
        lines.append(f"  redactions: {report.redactions:,}")
    if report.incomplete_traces:
        lines.append(f"  incomplete traces (missing parent or cycle): {report.incomplete_traces:,}")
    if report.warnings:
        lines.append(f"  warnings ({len(report.warnings)}):")
        lines.extend(f"    {w}" for w in report.warnings[:20])
    if report.rejected:
        lines.append(f"  rejected ({len(report.rejected)}):")
        lines.extend(f"    {r}" for r in report.rejected[:50])
        if len(report.rejected) > 50:
            lines.append(f"    ... and {len(report.rejected) - 50} more (use --json for all)")
    return "\n".join(lines)


def run_stats(args: argparse.Namespace) -> int:
    import json

    from .. import store

    path = _db_path(args, must_exist=True)
    data = _finite(store.stats(store.connect(path)))
    if args.json:
        # Strict JSON: a database written before values were range-checked may still sum to inf/NaN.
        print(json.dumps(data, indent=2, allow_nan=False))
        return 0
    print(f"{path}: {data['traces']:,} traces, {data['spans']:,} spans, {data['error_spans']:,} error spans, "
          f"{data['evaluations']:,} evaluations")
    total_cost = "unknown" if data["cost_usd"] is None else f"${data['cost_usd']:.6f}"
    print(f"tokens: {data['input_tokens']:,} in, {data['output_tokens']:,} out; cost: {total_cost}")
    print("by kind: " + ", ".join(f"{k} {v:,}" for k, v in data["by_kind"].items()))
    print("by convention: " + ", ".join(f"{k} {v:,}" for k, v in data.get("by_convention", {}).items()))
    for model, m in data["by_model"].items():
        cost = "unknown" if m["cost_usd"] is None else f"${m['cost_usd']:.6f}"
        print(f"  {model}: {m['spans']:,} spans, {m['input_tokens']:,} in, {m['output_tokens']:,} out, {cost}")
    return 0


def _finite(value: Any) -> Any:
    """Non-finite floats -> None (printed as null / "unknown"), recursively."""
    import math

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
