"""`tracedesk sample generate ...` (write a sample week) and `tracedesk demo` (open the app on it)."""
from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    s = subparsers.add_parser(
        "sample", help="generate the synthetic week of multi-agent traffic with labelled incidents",
        description="Sample data: a deterministic week of multi-agent support traffic (OTLP/JSON, gzip) "
                    "plus ground_truth.json and incidents.json.",
    )
    sub = s.add_subparsers(dest="sample_command", metavar="SUBCOMMAND")
    g = sub.add_parser(
        "generate", help="write traces-<date>.json.gz per day, ground_truth.json and incidents.json into OUT",
        description="Write a sample period into OUT. Same seed and parameters, same bytes. The bundled "
                    "sample is `--days 7 --traces-per-hour 22 --seed 20261116`.",
    )
    g.add_argument("out", metavar="OUT", help="output folder (created if missing)")
    g.add_argument("--days", type=int, default=7, help="days to generate, starting Monday 2026-11-16 (default 7)")
    g.add_argument("--traces-per-hour", type=float, default=22.0,
                   help="average traces per hour over the week (daily and weekly rhythm around it; default 22)")
    g.add_argument("--seed", type=int, default=20261116, help="random seed (default 20261116)")
    g.add_argument("--start", help="first day, YYYY-MM-DD (UTC midnight; default 2026-11-16)")
    g.set_defaults(func=run_generate)
    s.set_defaults(func=_sample_help(s))

    d = subparsers.add_parser(
        "demo", help="open the workbench on the bundled sample week (builds the database if missing)",
        description="Create the database from the bundled sample week if the file does not exist, then "
                    "start the Streamlit app on it. Extra arguments after -- go to `streamlit run`.",
    )
    d.add_argument("--db", help="database file (default: $TRACEDESK_DB or ./tracedesk.db)")
    d.add_argument("--no-browser", action="store_true", help="do not open a browser tab (headless server)")
    d.add_argument("--port", type=int, help="port for the app (default: Streamlit's, 8501)")
    d.add_argument("--host", help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 "
                                  "exposes the app, which has no login, to the network)")
    d.add_argument("streamlit_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    d.set_defaults(func=run_demo)


def _sample_help(parser: argparse.ArgumentParser):  # type: ignore[no-untyped-def]
    def show(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show


def run_generate(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone
    from pathlib import Path

    from . import UsageError

    if args.days < 1 or args.days > 366:
        raise UsageError(f"--days must be between 1 and 366 (got {args.days})")
    if not args.traces_per_hour > 0 or args.traces_per_hour > 10_000:
        raise UsageError(f"--traces-per-hour must be > 0 and at most 10000 (got {args.traces_per_hour})")
    kwargs: dict[str, Any] = {"days": args.days, "traces_per_hour": args.traces_per_hour, "seed": args.seed}
    if args.start:
        try:
            kwargs["start"] = datetime.strptime(args.start, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        except ValueError:
            raise UsageError(f"--start must be a date like 2026-11-16 (got {args.start!r})") from None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"OUT {str(out)!r} exists and is not a folder; pass a folder path")
    if not out.parent.exists():
        raise UsageError(f"cannot create {str(out)!r}: folder {str(out.parent)!r} does not exist")
    from ..sample.generator import generate

    truth = generate(out, **kwargs)
    size = sum(f["bytes"] for f in truth["files"])
    n = len(truth['files'])
    print(f"Wrote {n} trace file{'s' if n != 1 else ''} ({size / 1e6:.1f} MB), ground_truth.json and "
          f"incidents.json to {out}: {truth['traces']} traces, {truth['spans']} spans.")
    print(f"Load them with: tracedesk ingest '{out / 'traces-*.json.gz'}' --db sample.db")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    import os
    import sys
    import time

    from .. import store
    from ..sample import app_path, ensure_demo_db
    from . import UsageError

    path = os.path.expanduser(args.db or store.default_db_path())
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"cannot create database {path!r}: folder {parent!r} does not exist")
    if not os.path.exists(path):
        print(f"No database at {path}: building it from the bundled sample week...", file=sys.stderr)
        t0 = time.perf_counter()
        ensure_demo_db(path)
        print(f"Built {path} in {time.perf_counter() - t0:.1f} s.", file=sys.stderr)
    try:
        app = app_path()
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    from .app_launch import exposure_warning, requested_host, streamlit_command

    extra = [a for a in (args.streamlit_args or []) if a != "--"]
    cmd = streamlit_command(str(app), host=args.host, port=args.port, headless=args.no_browser, extra=extra)
    warning = exposure_warning(requested_host(args.host, extra))
    if warning:
        print(warning, file=sys.stderr)
    env = dict(os.environ, TRACEDESK_DB=os.path.abspath(path))
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    print(f"Opening the workbench ({app}) on {path} (Ctrl+C to stop)", file=sys.stderr)
    from .app_launch import become_streamlit

    return become_streamlit(cmd, env)
