"""Running a receiver in the foreground until SIGINT/SIGTERM (what `tracedesk serve` does)."""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any, Callable, TextIO

from . import discovery
from .server import Receiver, ReceiverConfig


def _status(receiver: Receiver, grpc: Any = None) -> dict[str, Any]:
    return {
        "grpc_port": grpc.port if grpc is not None else None,
        "host": receiver.host,
        "port": receiver.port,
        "pid": os.getpid(),
        "started_ns": receiver.started_ns,
        "db": os.path.abspath(receiver.config.db_path),
        "token_required": bool(receiver.config.token),
        **receiver.snapshot(),
    }


def _start_grpc(receiver: Receiver, out: TextIO) -> Any:
    """The gRPC listener, or None (off, grpcio missing, or its port taken while not required: then say so)."""
    config = receiver.config
    if config.grpc_port is None:
        return None
    from ..extras import MissingExtra, install_hint
    from .grpc_server import GrpcReceiver

    try:
        return GrpcReceiver(receiver, config.host, config.grpc_port).start()
    except MissingExtra:
        if config.grpc_required:
            raise
        print(f"note: OTLP/gRPC is off (grpcio is not installed: {install_hint('grpc')}); "
              f"OTLP/HTTP works as is", file=out, flush=True)
    except OSError as exc:
        if config.grpc_required:
            raise
        print(f"warning: OTLP/gRPC is off: {exc.strerror or exc}; pass --grpc-port PORT (or --no-grpc)",
              file=out, flush=True)
    return None


def serve(config: ReceiverConfig, *, out: TextIO = sys.stderr,
          stop: threading.Event | None = None, on_ready: Callable[[Receiver], None] | None = None) -> dict:
    """Serve until a signal (or `stop` is set); flush the writer; return the final counters.

    Signals only stop the loop here: the shutdown itself runs in this (main) thread, after the handler
    returned, so it can wait for in-flight requests and the writer without re-entrancy surprises.
    """
    stop = stop or threading.Event()
    receiver = Receiver(config).start()
    try:
        grpc = _start_grpc(receiver, out)
    except BaseException:
        receiver.stop()
        raise
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        discovery.write_status(config.db_path, _status(receiver, grpc))
        auth = " (bearer token required)" if config.token else ""
        grpc_line = (f"  OTLP/gRPC on {grpc.endpoint} (OTEL_EXPORTER_OTLP_PROTOCOL=grpc "
                     f"OTEL_EXPORTER_OTLP_ENDPOINT={grpc.endpoint})\n") if grpc is not None else ""
        print(f"tracedesk receiver listening on {receiver.endpoint}{auth}\n"
              f"  OTEL_EXPORTER_OTLP_ENDPOINT={receiver.endpoint}\n{grpc_line}"
              f"  writing to {os.path.abspath(config.db_path)}; Ctrl-C to stop", file=out, flush=True)
        if not config.token and config.host not in ("127.0.0.1", "::1", "localhost"):
            print(f"warning: listening on {config.host} without a token: anyone who can reach this port can "
                  f"write traces; add --token (or TRACEDESK_TOKEN)", file=out, flush=True)
        if on_ready is not None:
            on_ready(receiver)
        last: dict[str, Any] | None = None
        while not stop.wait(1.0):
            status = _status(receiver, grpc)
            if status != last:  # the app's Live page polls this file
                discovery.write_status(config.db_path, status)
                last = status
    finally:
        if grpc is not None:
            grpc.stop()  # first: its calls wait for the writer, which receiver.stop() closes
        receiver.stop()
        discovery.remove_status(config.db_path, os.getpid())
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    final = receiver.snapshot()
    counts = final["counts"]
    print(f"tracedesk receiver stopped: {counts.get('requests', 0)} requests, "
          f"{final['writer'].get('spans', 0)} spans stored, {counts.get('rejected', 0)} rejected",
          file=out, flush=True)
    return final
