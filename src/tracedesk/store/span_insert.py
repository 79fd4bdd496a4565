"""The ingest writer's span INSERT without a trigger call per row, marking the same dirty hours itself.

The changes feed's triggers (feed_dirty.py) run a trigger program for every span row written: ~10 us
a row whatever their WHEN clause says (measured on 100k sample spans: the same upserts took 2.4 s of CPU
with the trigger and 1.4 s without; `WHEN 0` cost as much as the real test), a twelfth of ingest CPU.
So for the batch's span upsert alone this connection's triggers are switched off
(SQLITE_DBCONFIG_ENABLE_TRIGGER, which holds for this connection only: a receiver or the app writing
the same file keeps its triggers) and the hours are marked in the same transaction by set-based
statements that compute exactly what the triggers would have:

  * an inserted row (AFTER INSERT): its start hour. New rows are those past the table's largest rowid
    before the insert (SQLite gives a new row max(rowid) + 1 until rowids run out, then this path is
    not used); one INSERT ... SELECT DISTINCT over them, with SQLite's own arithmetic on the stored value.
  * a replaced row (the upsert's DO UPDATE: AFTER UPDATE, OLD and NEW): the stored start hour read
    before the write, and the new one read after it.

The caller says how many rows it expects to be new; if the count past the old largest rowid differs (a
row stored without a trace summary, which the writer did not know about), or the switch did not take,
`RedoWithTriggers` is raised: the caller rolls its whole transaction back and writes the batch again with
the triggers on (`triggers=True`). No savepoint: one journals the original of every page the statements
after it change (SQLite's sub-journal, in memory under feed_dirty.prepare_writer's temp_store), and a
5,000-span upsert at random keys changes one page per index and row once the file outgrows the batch:
the ingest writer's SQLite memory rose from 80 to 113 MB between 100k and 673k spans, all of it that
journal, copied page by page for a rollback that almost never happens.

Trace summaries (`insert_summaries`, INSERT OR REPLACE into `traces`, ~35 us a row with its BEFORE INSERT
trigger) likewise: the hours of the rows about to be replaced are marked from the stored rows first, the
new rows' from their values, with the trigger's own SQL arithmetic. Every other statement (usage flags,
evaluations, demotions) keeps its triggers.

Switching triggers needs `Connection.setconfig` (Python 3.12+) or, on CPython 3.10/3.11 on Linux, the
same C call through ctypes on the connection's own `sqlite3*`; where neither is available the insert
simply runs with its triggers (slower, same result).
"""
from __future__ import annotations

import contextlib
import ctypes
import platform
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from . import refused_kept, text_index
from .feed_dirty import NS_PER_HOUR

#: sqlite3.h: SQLITE_DBCONFIG_ENABLE_TRIGGER
_ENABLE_TRIGGER = 1003
_MAX_ROWID = 2**63 - 1
_H = str(NS_PER_HOUR)

_MARK_NEW = (f"INSERT OR IGNORE INTO feed_dirty SELECT DISTINCT start_ns / {_H}, start_ns / {_H} FROM spans "
             f"WHERE rowid > ? AND start_ns IS NOT NULL")
_MARK_VALUE = f"INSERT OR IGNORE INTO feed_dirty SELECT ?1 / {_H}, ?1 / {_H} WHERE ?1 IS NOT NULL"
_MARK_STORED = (f"INSERT OR IGNORE INTO feed_dirty SELECT start_ns / {_H}, start_ns / {_H} FROM spans "
                f"WHERE trace_id = ? AND span_id = ? AND start_ns IS NOT NULL")

Switch = Callable[[sqlite3.Connection, bool], bool]


class RedoWithTriggers(Exception):
    """The trigger-less span upsert stored something other than what its caller expected (a row it thought
    new was stored already, or the trigger switch did not take): roll the transaction back and write the
    batch again with `insert_spans(..., triggers=True)`."""


def _setconfig(conn: sqlite3.Connection, enable: bool) -> bool:
    conn.setconfig(_ENABLE_TRIGGER, enable)  # type: ignore[attr-defined]
    return bool(conn.getconfig(_ENABLE_TRIGGER)) == enable  # type: ignore[attr-defined]


def _ctypes_switch() -> Switch | None:
    """sqlite3_db_config through ctypes, for CPython 3.10/3.11 where `setconfig` does not exist yet.

    Only where the layout and calling convention are known: CPython (its connection object starts
    with the `sqlite3*` right after the object header, in 3.10 and 3.11 alike), a release build, Linux
    on x86-64 or arm64 (a variadic int call passes its arguments as a fixed one does)."""
    if (sys.implementation.name != "cpython" or sys.version_info[:2] not in ((3, 10), (3, 11))
            or hasattr(sys, "gettotalrefcount") or sys.platform != "linux"
            or platform.machine() not in ("x86_64", "aarch64")):
        return None
    try:
        import _sqlite3

        lib = ctypes.CDLL(_sqlite3.__file__)  # its symbols and those of the libsqlite3 it links
        config = lib.sqlite3_db_config
    except (ImportError, OSError, AttributeError):
        return None
    config.restype = ctypes.c_int
    config.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    header = object.__basicsize__

    def switch(conn: sqlite3.Connection, enable: bool) -> bool:
        if type(conn) is not sqlite3.Connection:
            return False  # a subclass may lay itself out differently
        handle = ctypes.c_void_p.from_address(id(conn) + header).value
        if not handle:
            return False  # closed
        state = ctypes.c_int(-1)
        if config(handle, _ENABLE_TRIGGER, int(enable), ctypes.byref(state)) != 0:
            return False
        return state.value == int(enable)

    return switch


def _find_switch() -> Switch | None:
    if hasattr(sqlite3.Connection, "setconfig"):
        return _setconfig
    return _ctypes_switch()


_SWITCH: Switch | None = _find_switch()


def available() -> bool:
    """Whether this interpreter can switch a connection's triggers (else inserts keep them)."""
    return _SWITCH is not None


@contextlib.contextmanager
def _triggers_off(conn: sqlite3.Connection) -> Iterator[bool]:
    """Triggers off for this connection inside the block (yields whether they are); always back on after.
    Changing the setting expires the connection's prepared statements, so cached ones are re-prepared
    with the setting in force."""
    switch = _SWITCH
    off = False
    try:
        off = switch is not None and switch(conn, False)
        yield off
    finally:
        if switch is not None and not switch(conn, True):
            # never leave a connection without its triggers: later writes would not mark their hours
            conn.close()
            raise sqlite3.OperationalError("could not switch the span triggers back on; the connection "
                                           "was closed so that no write goes unmarked")


def insert_spans(conn: sqlite3.Connection, sql: str, rows: Sequence[tuple[Any, ...]], new: int,
                 replaced: Sequence[tuple[str, str, Any]], *, triggers: bool = False) -> None:
    """executemany(sql, rows) of span upserts (inside the caller's transaction), with the dirty hours
    the span triggers would mark. `new`: how many rows the caller expects not to be stored yet;
    `replaced`: (trace_id, span_id, stored start_ns) of the others. `triggers`: keep the triggers on (the
    redo after RedoWithTriggers). Raises RedoWithTriggers when what was stored is not what was expected:
    the transaction then holds a partial write and must be rolled back."""
    if triggers or _SWITCH is None or not rows or new + len(replaced) != len(rows):
        conn.executemany(sql, rows)
        return
    if not conn.in_transaction:
        if conn.isolation_level is None:  # autocommit: each statement is its own transaction anyway
            conn.executemany(sql, rows)
            return
        conn.execute("BEGIN")  # (the module would at the insert)
    top = conn.execute("SELECT MAX(rowid) FROM spans").fetchone()[0]
    top = 0 if top is None else top
    if type(top) is not int or top >= _MAX_ROWID - len(rows):
        conn.executemany(sql, rows)  # rowids near their end are no longer increasing
        return
    with _triggers_off(conn) as off:
        conn.executemany(sql, rows)
    if not off or conn.execute("SELECT COUNT(*) FROM spans WHERE rowid > ?", [top]).fetchone()[0] != new:
        # some row the caller thought new was stored (or the switch failed): its old hour is gone with it
        raise RedoWithTriggers(f"{new} span rows were expected to be new; the batch is written again with "
                               f"the change triggers on")
    conn.execute(_MARK_NEW, [top])
    if replaced:
        conn.executemany(_MARK_VALUE, [(start,) for _t, _s, start in replaced])
        conn.executemany(_MARK_STORED, [(t, s) for t, s, _start in replaced])
        # and the kept refused traces' update trigger (store.refused_kept)
        refused_kept.mark_replaced(conn, [t for t, _s, _start in replaced])
        text_index.mark_replaced(conn, [t for t, _s, _start in replaced])  # and the text index's


_MARK_TRACE_STORED = (f"INSERT OR IGNORE INTO feed_dirty SELECT start_ns / {_H}, COALESCE(end_ns, start_ns) / {_H} "
                      f"FROM traces WHERE trace_id = ? AND start_ns IS NOT NULL")
_MARK_TRACE_VALUE = f"INSERT OR IGNORE INTO feed_dirty SELECT ?1 / {_H}, COALESCE(?2, ?1) / {_H} WHERE ?1 IS NOT NULL"


def insert_summaries(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]], start: int, end: int) -> None:
    """executemany(sql, rows) of `INSERT OR REPLACE INTO traces` (inside the caller's transaction) with the
    hours feed_dirty_trace_ins would mark: each replaced row's (start, end) hours, read before it goes, and
    each new row's. `start`, `end`: positions of start_ns and end_ns in a row. Rows whose times are not
    integers or NULL (never written by this release) keep the trigger: it sees them before the column's
    affinity applies."""
    if _SWITCH is None or not rows or not (conn.in_transaction or conn.isolation_level is not None):
        conn.executemany(sql, rows)
        return
    if any((type(r[start]) is not int and r[start] is not None) or (type(r[end]) is not int and r[end] is not None)
           for r in rows):
        conn.executemany(sql, rows)
        return
    if not conn.in_transaction:
        conn.execute("BEGIN")
    conn.executemany(_MARK_TRACE_STORED, [(r[0],) for r in rows])  # the rows REPLACE deletes
    with _triggers_off(conn):
        conn.executemany(sql, rows)
    # the new rows' hours, whether or not the switch took: the trigger would have marked the same (lo, hi)
    # pairs, and marking is INSERT OR IGNORE (no savepoint to redo it under: see the module's docstring)
    conn.executemany(_MARK_TRACE_VALUE, list({(r[start], r[end]) for r in rows}))
