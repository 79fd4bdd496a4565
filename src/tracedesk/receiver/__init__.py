"""Live traces: an OTLP/HTTP receiver writing into the workbench's SQLite file.

    from tracedesk.receiver import Receiver, ReceiverConfig
    with Receiver(ReceiverConfig("traces.db", port=0)) as r:
        print(r.endpoint)   # -> OTEL_EXPORTER_OTLP_ENDPOINT

or from the shell `tracedesk serve --db traces.db`. The app uses `find_receiver`, `start_receiver`,
`stop_receiver` (a background `tracedesk serve`) and `live_activity`.
"""
from __future__ import annotations

from .discovery import (
    ReceiverInfo,
    ReceiverStartError,
    find_receiver,
    start_receiver,
    stop_receiver,
)
from .live import live_activity
from .server import Receiver, ReceiverConfig

__all__ = [
    "Receiver",
    "ReceiverConfig",
    "ReceiverInfo",
    "ReceiverStartError",
    "find_receiver",
    "live_activity",
    "start_receiver",
    "stop_receiver",
]
