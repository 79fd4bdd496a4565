"""Read-side of live traces: what arrived recently (for the Live page and notebooks)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from .server import SOURCE


@dataclass
class LiveActivity:
    received_spans: int  # spans stored by the receiver (source otlp-http), all time
    recent_spans: int  # of those, ending in the last `window_s` seconds
    window_s: int
    last_span_end_ns: int | None  # newest span end time among received spans
    recent: Any  # DataFrame: the newest received spans, newest first


def live_activity(db: Any, window_s: int = 300, limit: int = 20, now_ns: int | None = None) -> LiveActivity:
    """Counts and the newest spans that came in through the receiver.

    `db` is an open Database (the workspace's: `ws.live.activity()`) or a path, opened and closed here.
    "Newest" is arrival order (rowid), not span time: exporters batch, so a span that ended earlier can
    arrive later.
    """
    import pandas as pd

    from .. import store
    from ..store import live as store_live

    columns = list(store_live.RECENT_COLUMNS)
    if isinstance(db, (str, os.PathLike)):
        if not os.path.exists(str(db)):
            return LiveActivity(0, 0, window_s, None, pd.DataFrame(columns=columns))
        database = store.connect(db)
        try:
            return live_activity(database, window_s, limit, now_ns)
        finally:
            database.close()
    now_ns = now_ns if now_ns is not None else time.time_ns()
    total, recent, last = store_live.received_counts(db, SOURCE, now_ns - window_s * 1_000_000_000)
    frame = pd.DataFrame(store_live.recent_received(db, SOURCE, limit), columns=columns)
    return LiveActivity(total, recent, window_s, last, frame)
