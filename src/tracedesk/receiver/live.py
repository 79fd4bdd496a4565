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


_RECENT_COLUMNS = ("name", "kind", "model", "status", "duration_ms", "input_tokens", "output_tokens",
                   "convention", "service", "end_ns", "trace_id", "span_id")


def live_activity(db: Any, window_s: int = 300, limit: int = 20, now_ns: int | None = None) -> LiveActivity:
    """Counts and the newest spans that came in through the receiver.

    `db` is a path or an open Database. "Newest" is arrival order (rowid), not span time: exporters
    batch, so a span that ended earlier can arrive later.
    """
    import pandas as pd

    from .. import store

    if not isinstance(db, (str, os.PathLike)) or os.path.exists(str(db)):
        database = store.connect(db)
    else:
        return LiveActivity(0, 0, window_s, None, pd.DataFrame(columns=list(_RECENT_COLUMNS)))
    now_ns = now_ns if now_ns is not None else time.time_ns()
    since = now_ns - window_s * 1_000_000_000
    total, recent, last = database.execute(
        "SELECT COUNT(*), SUM(end_ns >= ?), MAX(end_ns) FROM spans WHERE source = ?", [since, SOURCE]
    ).fetchone()
    rows = database.execute(
        f"SELECT {', '.join(_RECENT_COLUMNS)} FROM spans WHERE source = ? ORDER BY rowid DESC LIMIT ?",
        [SOURCE, limit],
    ).fetchall()
    frame = pd.DataFrame(rows, columns=list(_RECENT_COLUMNS))
    if isinstance(db, (str, os.PathLike)):
        database.conn.close()
    return LiveActivity(int(total or 0), int(recent or 0), window_s, last, frame)
