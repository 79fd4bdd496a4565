"""The changes feed's dirty hours: the tables of store.feed_samples and the triggers that mark, on every
write to spans, traces and evaluations, the hours whose stored samples are stale (see feed_samples).

Its own module, importing nothing heavy: migrations and the ingest writer load it, and ingest imports
its path without numpy/pandas (cli.ingest_cmd).
"""
from __future__ import annotations

import sqlite_utils

NS_PER_HOUR = 3_600 * 10**9
_H = str(NS_PER_HOUR)


def _mark(lo: str, hi: str, source: str = "", where: str = "1") -> str:
    """An insert of the (lo, hi) hour pair unless already marked. Not INSERT OR IGNORE: inside a
    trigger the conflict policy of the statement that fired it wins (an upsert's is ABORT), so a
    re-ingested span failed with "UNIQUE constraint failed: feed_dirty"."""
    return (f"INSERT INTO feed_dirty SELECT DISTINCT {lo}, {hi}{' FROM ' + source if source else ''} WHERE {where} "
            f"AND NOT EXISTS (SELECT 1 FROM feed_dirty d WHERE d.lo = {lo} AND d.hi = {hi});")


def _hours(row: str, start: str = "start_ns", end: str | None = None) -> tuple[str, str]:
    lo = f"{row}.{start} / {_H}"
    return lo, (f"COALESCE({row}.{end}, {row}.{start}) / {_H}" if end else lo)


def _row_trigger(name: str, when: str, table: str, row: str) -> list[str]:
    """A trigger marking the start hour of the written row: the test in WHEN (a span upsert pays one
    index probe, as INSERT OR IGNORE would; the insert runs about once an hour of traffic)."""
    lo, hi = _hours(row)
    return [f"CREATE TRIGGER IF NOT EXISTS {name} {when} ON {table} WHEN {row}.start_ns IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM feed_dirty d WHERE d.lo = {lo} AND d.hi = {hi}) BEGIN",
            f"INSERT INTO feed_dirty VALUES ({lo}, {hi});", "END;"]


_TRIGGERS = "\n".join([
    *_row_trigger("feed_dirty_span_ins", "AFTER INSERT", "spans", "NEW"),
    *_row_trigger("feed_dirty_span_upd_old", "AFTER UPDATE", "spans", "OLD"),
    *_row_trigger("feed_dirty_span_upd_new", "AFTER UPDATE", "spans", "NEW"),
    *_row_trigger("feed_dirty_span_del", "AFTER DELETE", "spans", "OLD"),
    "CREATE TRIGGER IF NOT EXISTS feed_dirty_trace_ins BEFORE INSERT ON traces BEGIN",
    _mark(*_hours("o", end="end_ns"), "traces o", "o.trace_id = NEW.trace_id AND o.start_ns IS NOT NULL"),
    _mark(*_hours("NEW", end="end_ns"), where="NEW.start_ns IS NOT NULL"), "END;",
    "CREATE TRIGGER IF NOT EXISTS feed_dirty_trace_upd AFTER UPDATE ON traces BEGIN",
    _mark(*_hours("OLD", end="end_ns"), where="OLD.start_ns IS NOT NULL"),
    _mark(*_hours("NEW", end="end_ns"), where="NEW.start_ns IS NOT NULL"), "END;",
    "CREATE TRIGGER IF NOT EXISTS feed_dirty_trace_del AFTER DELETE ON traces BEGIN",
    _mark(*_hours("OLD", end="end_ns"), where="OLD.start_ns IS NOT NULL"), "END;",
    # an evaluation's sample is stamped at its trace's start (INSERT OR REPLACE: the old row's trace too)
    "CREATE TRIGGER IF NOT EXISTS feed_dirty_eval_ins BEFORE INSERT ON evaluations BEGIN",
    _mark(*_hours("t"), "evaluations o JOIN traces t ON t.trace_id = o.trace_id",
          "o.id = NEW.id AND t.start_ns IS NOT NULL"),
    _mark(*_hours("t"), "traces t", "t.trace_id = NEW.trace_id AND t.start_ns IS NOT NULL"), "END;",
    "CREATE TRIGGER IF NOT EXISTS feed_dirty_eval_upd AFTER UPDATE ON evaluations BEGIN",
    _mark(*_hours("t"), "traces t", "t.trace_id IN (OLD.trace_id, NEW.trace_id) AND t.start_ns IS NOT NULL"), "END;",
    "CREATE TRIGGER IF NOT EXISTS feed_dirty_eval_del AFTER DELETE ON evaluations BEGIN",
    _mark(*_hours("t"), "traces t", "t.trace_id = OLD.trace_id AND t.start_ns IS NOT NULL"), "END;",
]) + "\n"

#: the triggers' CREATE statements, one by one
_TRIGGER_SQL = [stmt.strip() + "\nEND;" for stmt in _TRIGGERS.split("END;") if stmt.strip()]
TRIGGERS = tuple(stmt.split()[5] for stmt in _TRIGGER_SQL)  # CREATE TRIGGER IF NOT EXISTS <name>


def prepare_writer(db: sqlite_utils.Database) -> None:
    """For a connection writing many spans (ingest, the receiver's writer): keep statement journals in
    memory. A statement that fires a trigger needs one, and SQLite spills it to a temporary file past
    64 KiB: with the triggers above, ingest's system time doubled (+2 s CPU per 150k spans), all of it
    creating and deleting those files. (Only temporary storage moves to memory: statement journals and
    the sorts of this connection's own statements.)"""
    db.conn.execute("PRAGMA temp_store=MEMORY")


def m506_feed_samples(db: sqlite_utils.Database) -> None:
    """The sample chunks and the triggers marking dirty hours (no backfill: a set is built by the first
    feed that asks for it).

    Statement by statement, never `executescript`: that COMMITs first, which would end migrate()'s one
    IMMEDIATE transaction midway and let a second process opening the same new file apply steps again."""
    for stmt in (
        "CREATE TABLE IF NOT EXISTS feed_dirty (lo INTEGER NOT NULL, hi INTEGER NOT NULL, PRIMARY KEY (lo, hi)) "
        "WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS feed_sample_sets (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, name TEXT)",
        "CREATE TABLE IF NOT EXISTS feed_chunks (sample_set INTEGER NOT NULL, hour INTEGER NOT NULL, "
        "n INTEGER NOT NULL, t BLOB NOT NULL, v BLOB NOT NULL, codes BLOB, cells TEXT NOT NULL)",
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_feed_chunks ON feed_chunks (sample_set, hour)",
        *_TRIGGER_SQL,
    ):
        db.conn.execute(stmt)




def m509_feed_frames(db: sqlite_utils.Database) -> None:
    """Issue 13, smaller on disk: the chunks' times and cells stored once per distinct frame (the members
    of a family, and the root spans' and traces' signals, have the very same rows), and every blob in a
    tighter, versioned layout (store.feed_samples: FRAME_FORMAT). The chunks of the first layout are
    dropped with their sets (what they held is rebuilt from the rows by the next ingest or feed: they
    are a copy, nothing is lost); the dirty marks stay, they are no longer needed without sets."""
    for stmt in (
        "DROP INDEX IF EXISTS idx_feed_chunks",
        "DROP TABLE IF EXISTS feed_chunks",
        "DELETE FROM feed_sample_sets",
        "CREATE TABLE feed_frames (id INTEGER PRIMARY KEY, hour INTEGER NOT NULL, digest BLOB NOT NULL, "
        "n INTEGER NOT NULL, body BLOB NOT NULL)",
        "CREATE UNIQUE INDEX idx_feed_frames ON feed_frames (hour, digest)",
        "CREATE TABLE feed_chunks (sample_set INTEGER NOT NULL, hour INTEGER NOT NULL, frame INTEGER NOT NULL, "
        "v BLOB NOT NULL)",
        # hour first: the frames of refreshed hours no chunk refers to any more are found by hour
        # (a read of one set's hours scans the index entries of every set in them: a few thousand)
        "CREATE UNIQUE INDEX idx_feed_chunks_hour ON feed_chunks (hour, sample_set)",
    ):
        db.conn.execute(stmt)
