"""Database handles a command opened, closed when the command ends.

Closing the last connection to a file checkpoints FILE-wal into FILE. A handle left open until the
interpreter exits is not closed, so everything a command wrote (`tracedesk ingest`, `eval run`, the
feed's stored samples) stayed in FILE-wal, and a copy of FILE alone — to share it, back it up or attach
it to a bug report — lacked those rows. The CLI runs each command inside `closed_at_end()` (except the
long-running receiver, which closes its own); library and app code, which manage their own handles, are
not tracked.

This module imports nothing heavy, so the CLI can use it before it knows whether a database is opened.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

_tracked: list[Any] | None = None  # handles (sqlite_utils.Database) opened inside closed_at_end()


def track(database: Any) -> None:
    """Called by the store for every handle it opens: kept only inside closed_at_end() (handles closed
    meanwhile are dropped, so a command that opens many short-lived ones holds only the open ones)."""
    if _tracked is not None:
        _tracked[:] = [d for d in _tracked if _is_open(d)]
        _tracked.append(database)


def _is_open(database: Any) -> bool:
    try:
        database.conn.total_changes  # raises on a closed connection
    except Exception:  # noqa: BLE001 - closed (ProgrammingError) or not a connection at all
        return False
    return True


@contextlib.contextmanager
def closed_at_end() -> Iterator[None]:
    """Close, at the end of the block, every handle opened inside it (in any thread that did not
    close its own: a handle bound to another thread refuses, and is left to it)."""
    global _tracked
    outer, _tracked = _tracked, []
    try:
        yield
    finally:
        opened, _tracked = _tracked, outer
        for database in reversed(opened):
            with contextlib.suppress(Exception):  # closed already, or owned by a thread still running
                database.close()
