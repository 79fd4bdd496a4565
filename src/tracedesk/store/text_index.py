"""An opt-in substring index for the Traces page's text filter (`tracedesk index text`).

Why: the text filter (`query.text_condition`: the case-folded search text inside a span's name, input
or output, Python's `str.casefold` on both sides) reads every span's three texts: ~7.8 s CPU at 10M
spans for each new search. This index answers the same question from an FTS5 trigram index in
milliseconds, with exactly the same matches.

Why opt-in: the index costs ~270 bytes per span (1M benchmark spans: 132 characters of name, input and
output per span, ~97 after de-duplication within a trace -> 271 MB of trigram postings and document
rows; building it 19.6 us of CPU per span), against the project's whole budget of 800 bytes per span
(at ~803 without it). A database that never asks for it pays nothing (no table, no trigger, one
sqlite_master lookup per write batch that replaces spans); one that does keeps it current itself.

What is stored (no migration: the tables appear when the index is built):
  * `text_fts`: a contentless FTS5 table (`tokenize='trigram case_sensitive 1'`), one document per
    trace and batch of span rows: the distinct `casefold()`ed names/inputs/outputs of the trace's spans
    in that batch, joined by SEP (a NUL inside a text becomes SEP too). Contentless: the text is not
    stored a second time.
  * `text_docs` (doc, trace_id, lo, hi, digest): which trace each live document belongs to, the span rowids
    it was made from and a digest of its text. A document is never changed; one whose rows' texts change
    is replaced by a new one, and the old one leaves text_docs (its postings stay in text_fts as
    garbage: a contentless table on this SQLite (3.40) cannot delete without the original text;
    `build(rebuild=True)` drops them).
  * `text_index_state` (upto, next_doc, garbage): every span with rowid <= upto is indexed; document ids
    are never given twice; how many documents are garbage.
  * `text_stale` (trace_id): traces whose spans changed in place or were deleted since they were
    indexed, filled by triggers on spans (and by the ingest writer's trigger-free upsert through
    `mark_replaced`, as for store.refused_kept).

Exact at every moment: a search reads the index for traces not in text_stale, and the spans past `upto`
and those of stale traces directly with the filter's own condition. `refresh` (after `tracedesk
ingest`, and before a search on a connection that can write) folds the new rows in.

A search text the index cannot answer exactly is scanned as before: under 3 characters once
case-folded (trigrams), or holding SEP or a NUL.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlite_utils

FTS = "text_fts"
DOCS = "text_docs"
STATE = "text_index_state"
STALE = "text_stale"
TRIGGERS = ("text_stale_span_upd", "text_stale_span_del")
#: joins the texts of one document: a search text holding it is scanned, so no match spans two texts
SEP = "\x1f"
#: trigrams: a shorter search text has none
MIN_CHARS = 3
#: span rows read per document batch (a trace gets one document per batch it has rows in: 1M benchmark spans
#: in 20k-row batches made 4.6 documents per trace and 338 B/span of index; ingest spreads a trace's spans)
BATCH_ROWS = 200_000
#: traces re-read per statement when stale
STALE_CHUNK = 500

_TABLES = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5(t, tokenize='trigram case_sensitive 1', "
    "content='', columnsize=0)",
    # lo/hi: the first and last span rowid the document was made from; digest: of its text (_recheck)
    f"CREATE TABLE IF NOT EXISTS {DOCS} (doc INTEGER PRIMARY KEY, trace_id TEXT NOT NULL, lo INTEGER NOT NULL, "
    "hi INTEGER NOT NULL, digest INTEGER NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS idx_{DOCS}_trace ON {DOCS} (trace_id)",
    f"CREATE TABLE IF NOT EXISTS {STATE} (id INTEGER PRIMARY KEY CHECK (id = 1), upto INTEGER NOT NULL, "
    "next_doc INTEGER NOT NULL, garbage INTEGER NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {STALE} (trace_id TEXT PRIMARY KEY) WITHOUT ROWID",
)


def _stale(row: str) -> str:
    # not INSERT OR IGNORE: inside a trigger the conflict policy of the statement that fired it wins
    return (f"INSERT INTO {STALE} SELECT {row}.trace_id WHERE {row}.trace_id IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {STALE} WHERE trace_id = {row}.trace_id);")


_TRIGGER_SQL = (
    # only when a column the index reads changes: re-ingesting the same spans marks nothing
    f"CREATE TRIGGER IF NOT EXISTS {TRIGGERS[0]} AFTER UPDATE OF trace_id, name, input_text, output_text ON spans "
    "WHEN OLD.trace_id IS NOT NEW.trace_id OR OLD.name IS NOT NEW.name OR OLD.input_text IS NOT NEW.input_text "
    f"OR OLD.output_text IS NOT NEW.output_text BEGIN {_stale('OLD')} {_stale('NEW')} END",
    # a deleted row above the remaining largest rowid: SQLite may give its rowid again, so it is not indexed
    f"CREATE TRIGGER IF NOT EXISTS {TRIGGERS[1]} AFTER DELETE ON spans "
    f"BEGIN {_stale('OLD')} UPDATE {STATE} SET upto = OLD.rowid - 1 WHERE upto >= OLD.rowid "
    "AND OLD.rowid > COALESCE((SELECT MAX(rowid) FROM spans), 0); END",
)

Progress = Callable[[int, int], None]


class TextIndexError(RuntimeError):
    """The index cannot be built or used here; the message says what to do."""


# -- what is there ----------------------------------------------------------------------------------

def _names(conn: sqlite3.Connection) -> set[str]:
    # (a text_docs without digests was made by a development build of this index: rebuilt, not read)
    return {name for name, sql in conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE name IN (?, ?, ?, ?, ?, ?)", [FTS, DOCS, STATE, STALE, *TRIGGERS])
        if name != DOCS or "digest" in (sql or "")}


def present(db: sqlite_utils.Database | sqlite3.Connection) -> bool:
    """Whether this database has a text index someone built (whether or not it can be trusted)."""
    conn = _conn(db)
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [STATE]).fetchone() is not None


def usable(db: sqlite_utils.Database | sqlite3.Connection) -> bool:
    """Whether searches can read the index: built, and its triggers in place (a table rebuilt by a later
    migration drops them; then nothing it holds can be trusted until `build(rebuild=True)`)."""
    return _names(_conn(db)) >= {FTS, DOCS, STATE, STALE, *TRIGGERS}


def answers(needle: str) -> bool:
    """Whether the index can answer this (already case-folded) search text exactly."""
    return len(needle) >= MIN_CHARS and SEP not in needle and "\x00" not in needle


def _conn(db: sqlite_utils.Database | sqlite3.Connection) -> sqlite3.Connection:
    return db.conn if isinstance(db, sqlite_utils.Database) else db


# -- writing ----------------------------------------------------------------------------------------

def mark_replaced(conn: sqlite3.Connection, trace_ids: Sequence[str]) -> None:
    """What the update trigger would have marked, for a writer that replaced these traces' spans with
    its triggers off (store.span_insert); nothing when the database has no text index."""
    if not trace_ids or conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                     [STALE]).fetchone() is None:
        return
    conn.executemany(f"INSERT OR IGNORE INTO {STALE} VALUES (?)", [(t,) for t in dict.fromkeys(trace_ids)])


def _fold(text: Any) -> str | None:
    if not isinstance(text, str) or not text:
        return None
    folded = text.casefold()
    return folded.replace("\x00", SEP) if "\x00" in folded else folded


def _digest(text: str) -> int:
    """A stable 64-bit digest of a document (Python's hash() of a str changes per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "big", signed=True)


Doc = tuple[str, int, int, str]  # trace_id, first and last span rowid it covers, text


def _documents(rows: Iterable[Sequence[Any]]) -> list[Doc]:
    """(rowid, trace_id, name, input_text, output_text) rows -> one document per trace: its distinct folded
    texts, and the rowids it covers (a trace without text has none)."""
    texts: dict[str, dict[str, None]] = {}
    spans: dict[str, list[int]] = {}
    for rowid, trace_id, *values in rows:
        seen = texts.get(trace_id)
        if seen is None:
            seen = texts[trace_id] = {}
            spans[trace_id] = [rowid, rowid]
        else:
            span = spans[trace_id]
            span[0], span[1] = min(span[0], rowid), max(span[1], rowid)
        for value in values:
            folded = _fold(value)
            if folded is not None:
                seen[folded] = None
    # sorted: the same rows make the same text whatever order they were read in (_recheck reads them in
    # primary-key order, a build in rowid order)
    return [(t, spans[t][0], spans[t][1], SEP.join(sorted(seen))) for t, seen in texts.items() if seen]


def _add(conn: sqlite3.Connection, docs: Sequence[Doc], next_doc: int) -> int:
    conn.executemany(f"INSERT INTO {DOCS} (doc, trace_id, lo, hi, digest) VALUES (?, ?, ?, ?, ?)",
                     [(next_doc + i, t, lo, hi, _digest(text)) for i, (t, lo, hi, text) in enumerate(docs)])
    conn.executemany(f"INSERT INTO {FTS} (rowid, t) VALUES (?, ?)",
                     [(next_doc + i, text) for i, (_t, _lo, _hi, text) in enumerate(docs)])
    return next_doc + len(docs)


_SPAN_TEXTS = "SELECT rowid, trace_id, name, input_text, output_text FROM spans"


def _recheck(conn: sqlite3.Connection, traces: list[str], upto: int, next_doc: int) -> tuple[int, int, int]:
    """Stale traces: each document whose rows' texts changed is replaced (the old one becomes garbage);
    one whose texts are the same is kept (the ingest marks every trace it rewrote a span of, and on the
    third week a re-ingest of the same files rewrote 2,143 spans without changing a text: their log
    messages are merged in again). Rows no document covers get one. Returns (next_doc, garbage, rows read)."""
    part = json.dumps(traces)
    docs: dict[str, list[tuple[int, int, int, int]]] = {}
    for doc, trace_id, lo, hi, digest in conn.execute(
            f"SELECT doc, trace_id, lo, hi, digest FROM {DOCS} WHERE trace_id IN (SELECT value FROM json_each(?))",
            [part]):
        docs.setdefault(trace_id, []).append((doc, lo, hi, digest))
    rows: dict[str, list[tuple[Any, ...]]] = {}
    read = 0
    for row in conn.execute(f"{_SPAN_TEXTS} WHERE trace_id IN (SELECT value FROM json_each(?)) AND rowid <= ?",
                            [part, upto]):
        rows.setdefault(row[1], []).append(row)
        read += 1
    dead: list[int] = []
    new: list[Doc] = []
    for trace_id in traces:
        mine = rows.get(trace_id, [])
        covered: set[int] = set()
        for doc, lo, hi, digest in docs.get(trace_id, []):
            inside = [r for r in mine if lo <= r[0] <= hi]
            covered.update(r[0] for r in inside)
            made = _documents(inside)
            if made and _digest(made[0][3]) == digest:
                continue
            dead.append(doc)
            new.extend((trace_id, lo, hi, text) for _t, _lo, _hi, text in made)  # the same rows it covered
        new.extend(_documents([r for r in mine if r[0] not in covered]))
    conn.executemany(f"DELETE FROM {DOCS} WHERE doc = ?", [(d,) for d in dead])
    return _add(conn, new, next_doc), len(dead), read


def _refresh(conn: sqlite3.Connection, progress: Progress | None) -> int:
    """Index what changed since the last refresh (inside the caller's write transaction); spans read."""
    upto, next_doc, garbage = conn.execute(f"SELECT upto, next_doc, garbage FROM {STATE}").fetchone()
    top = int(conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM spans").fetchone()[0])
    read = 0
    stale = [r[0] for r in conn.execute(f"SELECT trace_id FROM {STALE} ORDER BY trace_id")]
    for i in range(0, len(stale), STALE_CHUNK):
        # (their rows past upto are read with the new rows below)
        next_doc, dead, n = _recheck(conn, stale[i:i + STALE_CHUNK], upto, next_doc)
        garbage += dead
        read += n
    conn.execute(f"DELETE FROM {STALE}")
    total = max(top - upto, 0)
    last = min(upto, top)
    while last < top:
        rows = conn.execute(f"{_SPAN_TEXTS} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?",
                            [last, top, BATCH_ROWS]).fetchall()
        if not rows:
            break
        last = rows[-1][0]
        read += len(rows)
        next_doc = _add(conn, _documents(rows), next_doc)
        if progress is not None:
            progress(min(last, top) - min(upto, top), total)
    conn.execute(f"UPDATE {STATE} SET upto = ?, next_doc = ?, garbage = ?", [top, next_doc, garbage])
    return read


def _write(db: sqlite_utils.Database | sqlite3.Connection, work: Callable[[sqlite3.Connection], Any]) -> Any:
    conn = _conn(db)
    if conn.in_transaction:
        raise TextIndexError("the text index is written in its own transaction; commit the open one first")
    conn.execute("BEGIN IMMEDIATE")
    try:
        out = work(conn)
        conn.commit()
        return out
    except BaseException:
        conn.rollback()
        raise


def build(db: sqlite_utils.Database | sqlite3.Connection, *, rebuild: bool = False,
          progress: Progress | None = None) -> int:
    """Make the index (or bring it up to date); `rebuild`: drop what is stored first (garbage, or an index
    whose triggers a migration dropped). Returns the span rows read."""
    def work(conn: sqlite3.Connection) -> int:
        if rebuild or (present(conn) and not usable(conn)):
            _drop(conn)
        for stmt in (*_TABLES, *_TRIGGER_SQL):
            conn.execute(stmt)
        conn.execute(f"INSERT OR IGNORE INTO {STATE} VALUES (1, 0, 1, 0)")
        read = _refresh(conn, progress)
        conn.execute(f"INSERT INTO {FTS} ({FTS}) VALUES ('optimize')")  # one b-tree: fewer pages per search
        return read

    return int(_write(db, work))


def _drop(conn: sqlite3.Connection) -> None:
    for trigger in TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for table in (FTS, DOCS, STATE, STALE):
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def drop(db: sqlite_utils.Database | sqlite3.Connection) -> None:
    """Remove the index (its bytes return to the file's free pages; VACUUM gives them back to the disk)."""
    _write(db, _drop)


def pending(db: sqlite_utils.Database | sqlite3.Connection) -> bool:
    """Whether some stored span is not yet folded into the index."""
    conn = _conn(db)
    # (MAX(rowid) is one b-tree descent; an EXISTS over `rowid > ?` was planned as an index scan: 0.27 s at 1M)
    return bool(conn.execute(f"SELECT COALESCE((SELECT MAX(rowid) FROM spans), 0) > (SELECT upto FROM {STATE}) "
                             f"OR EXISTS (SELECT 1 FROM {STALE})").fetchone()[0])


def refresh(db: sqlite_utils.Database | sqlite3.Connection, progress: Progress | None = None, *,
            wait_ms: int = 30_000) -> bool:
    """Fold new and changed spans into a usable index; False when there is none, nothing to do, or the
    file cannot be written now (read-only, or locked for more than `wait_ms`: searches then read the
    unindexed rows directly)."""
    conn = _conn(db)
    if conn.in_transaction or not usable(conn) or not pending(conn):
        return False
    # a search does not wait for a writer (the receiver) for the store's 30 s: the rows not folded in are
    # read directly meanwhile, which is exact, only slower
    waited = int(conn.execute("PRAGMA busy_timeout").fetchone()[0])
    conn.execute(f"PRAGMA busy_timeout={min(waited, wait_ms)}")
    try:
        _write(conn, lambda c: _refresh(c, progress))
    except sqlite3.OperationalError as exc:
        if any(word in str(exc) for word in ("readonly", "read-only", "locked", "busy")):
            return False
        raise
    finally:
        conn.execute(f"PRAGMA busy_timeout={waited}")
    return True


# -- reading ----------------------------------------------------------------------------------------

def fts_phrase(needle: str) -> str:
    """The FTS5 query for a literal substring: one quoted string (its trigrams, in order)."""
    return '"' + needle.replace('"', '""') + '"'


def matching_sql(db: sqlite_utils.Database | sqlite3.Connection, needle: str, span_cond: str,
                 span_params: Sequence[Any]) -> tuple[str, list[Any]]:
    """SQL selecting the trace ids whose spans contain `needle` (case-folded; `answers(needle)` must
    hold), exactly as `span_cond` over spans `s` would: the index for the indexed, unchanged rows, and
    `span_cond` itself for rows past `upto` and the spans of stale traces. A trace may come more than
    once (for `IN (...)`: a UNION's de-duplication cost 30% of a common word's search)."""
    conn = _conn(db)
    upto = int(conn.execute(f"SELECT upto FROM {STATE}").fetchone()[0])
    stale = conn.execute(f"SELECT 1 FROM {STALE} LIMIT 1").fetchone() is not None
    sql = f"SELECT d.trace_id FROM {FTS} f JOIN {DOCS} d ON d.doc = f.rowid WHERE {FTS} MATCH ?"
    params: list[Any] = [fts_phrase(needle)]
    if stale:
        sql += f" AND d.trace_id NOT IN (SELECT trace_id FROM {STALE})"
    sql += f" UNION ALL SELECT s.trace_id FROM spans s WHERE s.rowid > ? AND {span_cond}"
    params += [upto, *span_params]
    if stale:
        sql += (f" UNION ALL SELECT s.trace_id FROM spans s WHERE s.trace_id IN (SELECT trace_id FROM {STALE}) "
                f"AND s.rowid <= ? AND {span_cond}")
        params += [upto, *span_params]
    return sql, params


def stats(db: sqlite_utils.Database | sqlite3.Connection) -> dict[str, int]:
    """Documents live and garbage, spans indexed (upto), and whether spans wait to be folded in."""
    conn = _conn(db)
    upto, next_doc, garbage = conn.execute(f"SELECT upto, next_doc, garbage FROM {STATE}").fetchone()
    live = conn.execute(f"SELECT COUNT(*) FROM {DOCS}").fetchone()[0]
    return {"upto": int(upto), "documents": int(live), "garbage": int(garbage), "next_doc": int(next_doc),
            "pending": int(pending(conn))}


#: below this many spans the scan is quick (1M benchmark spans: 0.6-1.0 s CPU per new search), so a page
#: says nothing about the index
HINT_SPANS = 500_000


def scan_note(db: sqlite_utils.Database | sqlite3.Connection, text: str | None, db_arg: str = "") -> str | None:
    """One line for a page whose text search reads every span, saying how to make it fast; None when the
    index answers it (or the store is small). `db_arg`: the command's `--db PATH`, if any."""
    if not text:
        return None
    conn = _conn(db)
    if present(conn) and not usable(conn):
        return (f"The text index lost its triggers (a migration rebuilt the spans table), so text searches "
                f"read every span; rebuild it with `tracedesk index text --rebuild{db_arg}`.")
    if present(conn):
        if answers(text.casefold()):
            return None
        return (f"Searches under {MIN_CHARS} characters (or holding control characters) read every span: "
                f"the text index holds 3-character pieces.")
    spans = int(conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM spans").fetchone()[0])
    if spans < HINT_SPANS:
        return None
    return (f"Text search reads all ~{spans:,} spans (about 1 s of CPU per million). "
            f"`tracedesk index text{db_arg}` builds an index that answers in milliseconds "
            f"(~270 bytes per span on disk; ingest keeps it current).")
