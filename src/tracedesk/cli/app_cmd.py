"""`tracedesk app`: open the workbench on any database (the bundled sample week only when asked or when
there is no database yet, and then it says so).

It prints the URL, then becomes the Streamlit server (exec on POSIX: Ctrl+C and signals reach it, no orphan).
Everything after `--` goes to `streamlit run` unchanged, e.g. `tracedesk app -- --theme.base dark`.
Streamlit's settings come from flags, not only from the repository's `.streamlit/config.toml`, because an
installed tracedesk runs from any folder: no usage statistics, no e-mail prompt, no file watcher (the app
reruns when the data changes; watching a virtualenv costs thousands of inotify watches).
"""
from __future__ import annotations

import argparse
from typing import Any

DEFAULT_PORT = 8501
SAMPLE_DB = "tracedesk-sample.db"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "app", help="open the workbench (Streamlit) on a database; prints the URL",
        description="Start the workbench on --db (default: $TRACEDESK_DB or ./tracedesk.db). When that file "
                    "does not exist, the bundled sample week is built into it first (about 40 s) and the app "
                    "says it shows sample data; --sample opens the sample week on purpose. Arguments after "
                    "-- go to `streamlit run`.",
    )
    p.add_argument("--db", help="database file (default: $TRACEDESK_DB or ./tracedesk.db)")
    p.add_argument("--sample", action="store_true",
                   help=f"open the bundled sample week (in --db, default ./{SAMPLE_DB}; built if missing)")
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1: this machine only; "
                                                "0.0.0.0 exposes the app, which has no login)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab (headless server)")
    p.add_argument("streamlit_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def app_url(host: str, port: int) -> str:
    """The URL to open: a wildcard bind is reached through loopback on this machine."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("localhost" if host == "::" else host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def plan(args: argparse.Namespace) -> tuple[str, list[str], bool]:
    """(database path, streamlit command, whether the sample must be built) without side effects."""
    import os

    from ..dbpath import default_db_path  # not the store: it loads pandas, and this process only execs
    from ..sample import app_path
    from . import UsageError
    from .app_launch import LOOPBACK, streamlit_command

    default = SAMPLE_DB if args.sample else default_db_path()
    path = os.path.abspath(os.path.expanduser(args.db or default))
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise UsageError(f"cannot create database {path!r}: folder {parent!r} does not exist")
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is out of range; use 1-65535")
    extra = list(args.streamlit_args or [])
    if extra[:1] == ["--"]:
        extra = extra[1:]
    elif extra:
        raise UsageError(f"unexpected argument(s) {extra}; put Streamlit options after --, "
                         f"e.g. tracedesk app -- --theme.base dark")
    try:
        app = str(app_path())
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    watcher = [] if any(a.startswith("--server.fileWatcherType") for a in extra) else \
        ["--server.fileWatcherType", "none"]
    cmd = streamlit_command(app, host=args.host or LOOPBACK, port=args.port, headless=args.no_browser,
                            extra=watcher + extra)
    return path, cmd, not os.path.exists(path)


def _flag(cmd: list[str], name: str, default: str) -> str:
    value = default
    for i, arg in enumerate(cmd):
        if arg == name and i + 1 < len(cmd):
            value = cmd[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def run(args: argparse.Namespace) -> int:
    import os
    import sys
    import time

    from ..sample import ensure_demo_db
    from .app_launch import LOOPBACK, exposure_warning

    path, cmd, build = plan(args)
    if build:
        why = "--sample" if args.sample else "no database there yet"
        print(f"{path}: {why}, so building the bundled sample week into it first (about 40 s; the app "
              f"marks it as sample data). Load your own traces with: tracedesk ingest FILES --db DB",
              file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        ensure_demo_db(path)
        print(f"Built {path} in {time.perf_counter() - t0:.1f} s.", file=sys.stderr)
    host = _flag(cmd, "--server.address", LOOPBACK)
    port = int(_flag(cmd, "--server.port", str(DEFAULT_PORT)))
    warning = exposure_warning(host)
    if warning:
        print(warning, file=sys.stderr)
    env = dict(os.environ, TRACEDESK_DB=path)
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    print(f"tracedesk workbench on {path}\n  open {app_url(host, port)}  (Ctrl+C to stop)", flush=True)
    from .app_launch import become_streamlit

    return become_streamlit(cmd, env)
