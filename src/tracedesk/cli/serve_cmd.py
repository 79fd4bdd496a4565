"""`tracedesk serve`: run the OTLP/HTTP receiver in the foreground."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="receive live traces over OTLP/HTTP (protobuf or JSON) and OTLP/gRPC into a database",
        description=(
            "Run an OTLP/HTTP receiver at /v1/traces and /v1/logs (and OTLP/gRPC on --grpc-port, with "
            "pip install 'tracedesk[grpc]') that writes into the database; metrics are acknowledged and not "
            "stored. Point an instrumented app at it with OTEL_EXPORTER_OTLP_ENDPOINT=http://HOST:PORT. "
            "Stop with Ctrl-C or SIGTERM: everything acknowledged is written first."
        ),
    )
    p.add_argument("--db", default=None, help="database file (default: $TRACEDESK_DB or ./tracedesk.db)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1, loopback only; 0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, default=4318, help="port (default 4318, the OTLP/HTTP port; 0 = any free)")
    p.add_argument("--token", default=None,
                   help="require 'Authorization: Bearer TOKEN' (default: $TRACEDESK_TOKEN; unset = no auth)")
    p.add_argument("--max-body-mb", type=float, default=32.0,
                   help="largest request body accepted, in MB, before and after decompression (default 32)")
    p.add_argument("--max-queue-mb", type=float, default=64.0,
                   help="request bytes (decompressed) allowed to wait for the database writer, in MB (default 64); "
                        "beyond it requests get 429 + Retry-After (gRPC: RESOURCE_EXHAUSTED with RetryInfo) and "
                        "the exporters retry, so memory stays bounded when clients send faster than SQLite commits")
    p.add_argument("--redact", action="store_true",
                   help="mask e-mails, phones, card numbers, SSNs, IBANs and API keys before storing (as ingest --redact)")
    p.add_argument("--grpc-port", type=int, default=None,
                   help="OTLP/gRPC port (default 4317 when grpcio is installed and the port is free; "
                        "given explicitly, failing to listen there is an error; 0 = any free port)")
    p.add_argument("--no-grpc", action="store_true", help="serve OTLP/HTTP only")
    p.add_argument("--redact-keep", action="append", default=[], metavar="KEY",
                   help="with --redact: never mask this attribute (e.g. session.id, user.id); repeatable, "
                        "added to the database's `redaction` setting")
    p.add_argument("--no-feed-samples", action="store_true",
                   help="do not bring the changes feed's stored samples up to date when idle (then the app's "
                        "next feed re-reads the hours written)")
    # long_running: the receiver opens short-lived connections for as long as it runs and closes them
    # itself; the CLI must not keep every one of them until exit (see tracedesk.connections)
    p.set_defaults(func=_run, long_running=True)


def _run(args: argparse.Namespace) -> int:
    import os

    from . import EXIT_OK, UsageError
    from ..store import default_db_path

    db = args.db or default_db_path()
    if db == ":memory:":
        raise UsageError("--db must be a file: the app and the receiver share it (':memory:' is per process)")
    parent = os.path.dirname(os.path.abspath(db))
    if not os.path.isdir(parent):
        raise UsageError(f"folder {parent!r} for --db does not exist; create it or pick another path")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is out of range; use 1-65535 (or 0 for any free port)")
    if args.max_body_mb <= 0:
        raise UsageError("--max-body-mb must be positive, e.g. --max-body-mb 32")
    if not (args.max_queue_mb > 0 and args.max_queue_mb != float("inf")):  # refuses nan and inf too
        raise UsageError("--max-queue-mb must be positive, e.g. --max-queue-mb 64")
    if args.no_grpc and args.grpc_port is not None:
        raise UsageError("--no-grpc and --grpc-port contradict each other; pass one")
    if args.grpc_port is not None and not 0 <= args.grpc_port <= 65535:
        raise UsageError(f"--grpc-port {args.grpc_port} is out of range; use 1-65535 (or 0 for any free port)")
    if args.grpc_port is not None:
        from ..extras import require

        require("grpc")
    if args.redact_keep and not args.redact:
        raise UsageError("--redact-keep only applies with --redact; add --redact")
    token = args.token if args.token is not None else os.environ.get("TRACEDESK_TOKEN") or None

    from ..receiver.run import serve
    from ..receiver.server import ReceiverConfig

    config = ReceiverConfig(db_path=db, host=args.host, port=args.port, token=token,
                            max_body_bytes=int(args.max_body_mb * 1024 * 1024), redact=args.redact,
                            max_queued_bytes=max(1, int(args.max_queue_mb * 1024 * 1024)),
                            grpc_port=None if args.no_grpc else (4317 if args.grpc_port is None else args.grpc_port),
                            grpc_required=args.grpc_port is not None,
                            redact_keep=tuple(args.redact_keep),
                            feed_idle=None if args.no_feed_samples else ReceiverConfig.feed_idle)
    try:
        serve(config)
    except ValueError as exc:  # e.g. an invalid cohort-dimension mapping stored in the database
        raise UsageError(f"cannot start: {exc}") from None
    except OSError as exc:
        if exc.errno in (98, 48):  # EADDRINUSE (Linux, macOS)
            raise UsageError(f"{args.host}:{args.port} is already in use; pick another --port "
                             f"(or --port 0 for any free one)") from None
        if exc.errno in (99, 49, -2, -3):  # cannot assign address / unknown host
            raise UsageError(f"cannot bind --host {args.host!r}: {exc.strerror or exc}") from None
        raise
    return EXIT_OK
