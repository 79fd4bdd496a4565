"""Whether anyone committed to a database file since a moment: a read-only connection's `PRAGMA data_version`.

The app's launcher (app/first_paint.py) reads a page's first figures in a process of its own and hands them
to the server's workspace; they are kept only if nothing was committed between the moment the watch was
opened (before that process started) and the moment they are kept. `PRAGMA data_version` moves on every
commit by another connection, WAL or not; this connection never writes, so its own changes never count.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path


class CommitWatch:
    """`unchanged()` is True while no connection has committed to `path` since this watch was opened."""

    def __init__(self, path: str) -> None:
        uri = Path(path).expanduser().resolve().as_uri() + "?mode=ro"
        # the server's threads ask from another thread than the one that opened it (reads only)
        self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._version = self._data_version()

    def _data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def unchanged(self) -> bool:
        return self._data_version() == self._version

    def close(self) -> None:
        self._conn.close()
