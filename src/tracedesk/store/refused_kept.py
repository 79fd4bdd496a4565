"""The traces whose answers read as refusals, kept in the database between connections.

Why: every cohort view (Overview's worst cohorts, the Cohorts matrix, kpis through refusal_rate_trace)
needs the set of traces with a refused LLM answer, and finding it runs the refusal check over every
LLM span's output text. The per-connection cache (samples._text_refusals) made only the first read of
a connection pay; but every new workspace (each app start, each notebook) paid it again: 21 s CPU of
Overview's 48 s on 10M spans (2.75M LLM answers), even with every verdict remembered (text_checks),
because SQLite still hands each text to a Python function.

What is kept, per refusal checker (its code and the user's phrase lists, text_checks.checker_key):
`refusal_scans` (checker, upto): every LLM span with rowid <= upto has been checked, and
`refused_traces` (checker, trace_id): the traces found refused among them. A later read checks only
the spans past `upto` (new rows: SQLite gives a new span max(rowid) + 1) and the traces in
`refusal_stale`.

Exact under rewrites: a span changed in place keeps its rowid (the ingest upsert's DO UPDATE, the
patch of answer texts, a wrapper span retyped CHAIN), so triggers on spans (UPDATE OF trace_id, kind,
output_text with a changed value; DELETE) put its trace in `refusal_stale`, and the ingest writer's
trigger-free upsert (store.span_insert) marks the traces of the rows it replaces itself. A deleted span
above the remaining largest rowid lowers `upto` below it (its rowid can be given again). Triggers missing
(a table rebuilt by a later migration drops them): everything kept is dropped and rebuilt.

The tables and triggers are made by the first read that keeps a set (no migration: a database nobody
reads cohorts from pays nothing); a file that cannot be written (read-only, locked) keeps nothing and
the caller checks every answer as before.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

import sqlite_utils

SCANS = "refusal_scans"
REFUSED = "refused_traces"
STALE = "refusal_stale"

_TABLES = (
    f"CREATE TABLE IF NOT EXISTS {SCANS} (checker TEXT PRIMARY KEY, upto INTEGER NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {REFUSED} (checker TEXT NOT NULL, trace_id TEXT NOT NULL, "
    "PRIMARY KEY (checker, trace_id)) WITHOUT ROWID",
    f"CREATE TABLE IF NOT EXISTS {STALE} (trace_id TEXT PRIMARY KEY) WITHOUT ROWID",
)


def _stale(row: str) -> str:
    # not INSERT OR IGNORE: inside a trigger the conflict policy of the statement that fired it wins
    return (f"INSERT INTO {STALE} SELECT {row}.trace_id WHERE {row}.trace_id IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {STALE} WHERE trace_id = {row}.trace_id);")


_TRIGGER_SQL = (
    # only when a column the check reads changes: a re-ingest of the same spans marks nothing
    "CREATE TRIGGER IF NOT EXISTS refusal_stale_span_upd AFTER UPDATE OF trace_id, kind, output_text ON spans "
    "WHEN OLD.trace_id IS NOT NEW.trace_id OR OLD.kind IS NOT NEW.kind OR OLD.output_text IS NOT NEW.output_text "
    f"BEGIN {_stale('OLD')} {_stale('NEW')} END",
    "CREATE TRIGGER IF NOT EXISTS refusal_stale_span_del AFTER DELETE ON spans "
    f"BEGIN {_stale('OLD')} UPDATE {SCANS} SET upto = OLD.rowid - 1 WHERE upto >= OLD.rowid "
    "AND OLD.rowid > COALESCE((SELECT MAX(rowid) FROM spans), 0); END",
)
TRIGGERS = ("refusal_stale_span_upd", "refusal_stale_span_del")

#: finds the refused traces among LLM spans: (sql condition on `s`, its parameters) -> trace ids
Scan = Callable[[str, list[object]], set[str]]


def mark_replaced(conn: sqlite3.Connection, trace_ids: list[str]) -> None:
    """What the update trigger would have marked, for a writer that replaced these traces' spans with
    its triggers off (store.span_insert); nothing when no set is kept in this file."""
    if not trace_ids or conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                     [STALE]).fetchone() is None:
        return
    conn.executemany(f"INSERT OR IGNORE INTO {STALE} VALUES (?)", [(t,) for t in dict.fromkeys(trace_ids)])


def refused(db: sqlite_utils.Database, checker: str, scan: Scan) -> set[str] | None:
    """The refused traces for `checker`, brought up to date and kept; None when they cannot be kept now
    (the caller computes them itself). `scan(condition, params)` returns the refused traces among the
    LLM spans matching the condition (it runs the check)."""
    conn = db.conn
    if conn.in_transaction:  # never commit a caller's open transaction
        return None
    for begin in ("BEGIN", "BEGIN IMMEDIATE"):
        try:
            conn.execute(begin)
            found = _update(conn, checker, scan)
            conn.commit()
            return found
        except sqlite3.OperationalError as exc:
            conn.rollback()
            if begin == "BEGIN" and ("locked" in str(exc) or "busy" in str(exc)):
                continue  # a write landed while the spans were read: again, holding the lock
            return None  # read-only, or locked for longer than the busy timeout
        except BaseException:
            conn.rollback()
            raise
    return None


def _update(conn: sqlite3.Connection, checker: str, scan: Scan) -> set[str]:
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') "
                                       "AND name IN (?, ?, ?, ?, ?)", [SCANS, REFUSED, STALE, *TRIGGERS])}
    top = int(conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM spans").fetchone()[0])
    upto = 0
    if have >= {SCANS, REFUSED, STALE, *TRIGGERS}:
        row = conn.execute(f"SELECT upto FROM {SCANS} WHERE checker = ?", [checker]).fetchone()
        upto = int(row[0]) if row else 0
        if row is not None and upto == top and conn.execute(f"SELECT 1 FROM {STALE} LIMIT 1").fetchone() is None:
            # up to date: read only (no write, so no cache anywhere sees a change)
            return {r[0] for r in conn.execute(f"SELECT trace_id FROM {REFUSED} WHERE checker = ?", [checker])}
    for stmt in _TABLES:
        conn.execute(stmt)
    if not set(TRIGGERS) <= have:  # new, or triggers dropped since: nothing kept can be trusted
        for stmt in _TRIGGER_SQL:
            conn.execute(stmt)
        for table in (SCANS, REFUSED, STALE):
            conn.execute(f"DELETE FROM {table}")
        upto = 0
    conn.execute(f"DELETE FROM {SCANS} WHERE checker != ?", [checker])  # one checker kept at a time
    conn.execute(f"DELETE FROM {REFUSED} WHERE checker != ?", [checker])
    if top < upto:  # rows gone above what was checked: start over
        upto = 0
    if upto == 0:
        conn.execute(f"DELETE FROM {REFUSED} WHERE checker = ?", [checker])
    stale = [r[0] for r in conn.execute(f"SELECT trace_id FROM {STALE}")]
    add: set[str] = set()
    if stale and upto > 0:
        ids = json.dumps(stale)
        conn.execute(f"DELETE FROM {REFUSED} WHERE checker = ? AND trace_id IN (SELECT value FROM json_each(?))",
                     [checker, ids])
        add |= scan("s.trace_id IN (SELECT value FROM json_each(?)) AND s.rowid <= ?", [ids, upto])
    if top > upto:
        add |= scan("s.rowid > ? AND s.rowid <= ?", [upto, top])
    conn.executemany(f"INSERT OR IGNORE INTO {REFUSED} VALUES (?, ?)", [(checker, t) for t in sorted(add)])
    conn.execute(f"INSERT OR REPLACE INTO {SCANS} VALUES (?, ?)", [checker, top])
    if stale:
        conn.execute(f"DELETE FROM {STALE}")
    return {r[0] for r in conn.execute(f"SELECT trace_id FROM {REFUSED} WHERE checker = ?", [checker])}
