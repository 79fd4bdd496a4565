"""Reads for the Live page: spans that arrived through the receiver (those stored with its `source`)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlite_utils

from .blobs import codec

#: The span columns the Live page shows for recent arrivals.
RECENT_COLUMNS: tuple[str, ...] = ("name", "kind", "model", "status", "duration_ms", "input_tokens",
                                   "output_tokens", "convention", "service", "end_ns", "trace_id", "span_id")


def received_counts(db: sqlite_utils.Database, source: str, since_ns: int) -> tuple[int, int, int | None]:
    """(spans stored from `source` in all, of those ending at or after `since_ns`, newest span end)."""
    stored = codec(db).coded_lookup(source)  # source is dictionary-coded (store.blobs)
    total, recent, last = db.execute(
        "SELECT COUNT(*), SUM(end_ns >= ?), MAX(end_ns) FROM spans WHERE source = ?", [since_ns, stored]
    ).fetchone()
    return int(total or 0), int(recent or 0), last


def recent_received(db: sqlite_utils.Database, source: str, limit: int,
                    columns: Sequence[str] = RECENT_COLUMNS) -> list[tuple[Any, ...]]:
    """The newest spans from `source` in arrival order (rowid), newest first: exporters batch, so a span
    that ended earlier can arrive later."""
    bad = [c for c in columns if c not in RECENT_COLUMNS]
    if bad:
        raise ValueError(f"unknown column(s) {', '.join(bad)}; valid choices: {', '.join(RECENT_COLUMNS)}")
    stored = codec(db).coded_lookup(source)  # source is dictionary-coded (store.blobs)
    return db.execute(
        f"SELECT {', '.join(columns)} FROM spans WHERE source = ? ORDER BY rowid DESC LIMIT ?", [stored, limit]
    ).fetchall()
