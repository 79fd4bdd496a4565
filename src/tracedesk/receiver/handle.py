"""`ws.live`: the OTLP/HTTP receiver of one database (the Live page and notebooks use only this).

    ws = tracedesk.open("traces.db", create=True)
    info = ws.live.start(port=0)      # a background `tracedesk serve`
    ws.live.activity().recent         # what arrived
    ws.live.stop()

The receiver is found through its status file next to the database, so a handle also works before the
database exists (`LiveHandle(path)`): the receiver creates it.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .discovery import ReceiverInfo, find_receiver, start_receiver, stop_receiver

if TYPE_CHECKING:
    from ..workspace import Workspace
    from .live import LiveActivity


class LiveHandle:
    """Status, start and stop of the receiver for one database file, and the spans it stored."""

    def __init__(self, ws: "Workspace | str | os.PathLike[str]") -> None:
        if isinstance(ws, (str, os.PathLike)):
            self._ws: "Workspace | None" = None
            self.path = os.fspath(ws)
        else:
            if ws.path is None or ws.path == ":memory:":
                raise ValueError("a live receiver needs a database file (':memory:' exists in one process only)")
            self._ws = ws
            self.path = ws.path

    def __repr__(self) -> str:
        return f"<live receiver of {self.path!r}>"

    def status(self) -> ReceiverInfo | None:
        """The running receiver for this database (pid, endpoint, counts), or None."""
        return find_receiver(self.path)

    def start(self, *, host: str = "127.0.0.1", port: int = 4318, token: str | None = None,
              **options: Any) -> ReceiverInfo:
        """Start a background `tracedesk serve` for this database (or return the one running)."""
        return start_receiver(self.path, host=host, port=port, token=token, **options)

    def stop(self, wait: float = 30.0) -> bool:
        """Stop the receiver (it flushes first); True if one was running and has exited."""
        return stop_receiver(self.path, wait=wait)

    def activity(self, window_s: int = 300, limit: int = 20) -> "LiveActivity":
        """Spans received in all, in the last `window_s`, and the newest `limit` of them."""
        from .live import live_activity

        if self._ws is None:  # no workspace: the database may not exist yet (the path form opens and closes)
            return live_activity(self.path, window_s, limit)
        return self._ws.call(live_activity, window_s, limit)
