"""`tracedesk` command line: a thin dispatcher over one module per command group.

Each module in COMMAND_MODULES exposes `register(subparsers)`; it must keep its top-level imports
light (argparse only) and import pandas, litellm and friends inside the handler, so that
`tracedesk --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from ..errors import TracedeskError, describe

#: Exit codes shared by every command.
EXIT_OK = 0
EXIT_PARTIAL = 1  # ran, but something was rejected / an alert fired
EXIT_USAGE = 2  # invalid input: options, filters, rule files, time windows
EXIT_FAILURE = 3  # valid input, but the run could not finish (database unusable, webhook down, ...)

COMMAND_MODULES: tuple[str, ...] = (
    "tracedesk.cli.ingest_cmd",
    "tracedesk.cli.serve_cmd",
    "tracedesk.cli.alerts_cmd",
    "tracedesk.cli.drift_cmd",
    "tracedesk.cli.eval_cmd",
    "tracedesk.cli.sample_cmd",
    "tracedesk.cli.changes_cmd",
    "tracedesk.cli.app_cmd",
    "tracedesk.cli.export_cmd",
    "tracedesk.cli.index_cmd",
)


def count(text: str) -> int:
    """argparse type for a number of rows/findings: 0 or more (`--top -1` silently dropped the last row)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


class UsageError(TracedeskError):
    """A mistake in how the command was called; printed without a traceback, exit code 2."""


def exit_code_for(exc: TracedeskError) -> int:
    """Invalid input (UsageError and every ValueError-flavoured error) is 2; anything else the run hit is 3."""
    return EXIT_USAGE if isinstance(exc, (UsageError, ValueError)) else EXIT_FAILURE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracedesk",
        description="Local-first workbench for LLM and agent traces: ingest, inspect, evaluate, alert.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tracedesk")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    import contextlib

    from ..connections import closed_at_end

    # the databases a command opened are closed when it ends: their WAL is written into the file
    scope = contextlib.nullcontext() if getattr(args, "long_running", False) else closed_at_end()
    try:
        with scope:
            return int(args.func(args) or 0)
    except TracedeskError as exc:  # the library's user-facing errors: a message, never a traceback
        print(f"tracedesk {args.command}: {describe(exc)}", file=sys.stderr)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        print("Interrupted; nothing from the unfinished batch was stored.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tracedesk stats | head`: the reader has gone, which is not an error
        # Python would print a traceback flushing stdout at exit: point it at /dev/null instead
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
