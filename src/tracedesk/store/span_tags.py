"""The tags stored spans carry, kept beside them in `span_tags` (trace_id, span_id, tag) as they are written.

Tags live inside the span's `attributes` (TAG_ATTRIBUTES: a list of strings, or a lone string), which are
stored deflated (store.blobs). Listing the tags (every page's sidebar) or filtering traces by one read and
inflated every span's attributes: 2.7 s CPU on 1M spans for the picker, 5.3 s for a tag filter (count and
first page); 26.7 s for the picker on 10M spans (docs/performance.md, "10 million spans"). The writer knows each span's attribute text
before compressing it, so it records the tags then (a substring test per span; most carry none); reads
become an index lookup on (tag, trace_id).

Kept exact on the one path that writes attributes (store.write_batch: a new span adds its tags, a replaced
span's old tags are removed first). Spans are never deleted by tracedesk. A row changed by hand with SQL
outside tracedesk is not seen; `rebuild()` (migration m507) re-reads every span.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlite_utils

#: attributes holding a trace's tags (OpenInference `tag.tags`, Langfuse, Logfire): a list of strings or one
TAG_ATTRIBUTES: tuple[str, ...] = ("tag.tags", "langfuse.trace.tags", "logfire.tags")
#: every TAG_ATTRIBUTES key ends with this followed by the closing quote in JSON text: spans whose attribute
#: text lacks it carry no tag (the test that spares parsing the attributes of almost every span)
_MARK = 'tags"'
#: spans read per chunk when rebuilding
REBUILD_CHUNK = 5_000


def tags_of(attributes_json: str | None) -> list[str]:
    """The tags in one span's attribute JSON text: each string of a TAG_ATTRIBUTES list, or the lone string
    value (numbers, booleans, nested objects and lists are not tags), in order, without repeats."""
    if not attributes_json or _MARK not in attributes_json:
        return []
    try:
        attrs = json.loads(attributes_json)
    except ValueError:
        return []
    if not isinstance(attrs, dict):
        return []
    out: dict[str, None] = {}  # ordered, without repeats
    for key in TAG_ATTRIBUTES:
        value = attrs.get(key)
        for tag in (value if isinstance(value, list) else [value]):
            if isinstance(tag, str):
                out[tag] = None
    return list(out)


def m507_span_tags(db: sqlite_utils.Database) -> None:
    """Registered in store.MIGRATIONS as "m507_span_tags": the table, its tag index, and the tags of the
    spans already stored (one pass over them: ~3 us a span)."""
    db.execute("CREATE TABLE IF NOT EXISTS span_tags (trace_id TEXT NOT NULL, span_id TEXT NOT NULL, "
               "tag TEXT NOT NULL, PRIMARY KEY (trace_id, span_id, tag)) WITHOUT ROWID")
    db.execute("CREATE INDEX IF NOT EXISTS idx_span_tags_tag ON span_tags (tag, trace_id)")
    rebuild(db)


def _stored(conn: sqlite3.Connection) -> Iterator[tuple[str, str, str]]:
    from .blobs import Codec

    codec = Codec(conn)  # private: reads the dictionaries, registers nothing on the connection
    last = -(2**63)
    while True:
        rows = conn.execute("SELECT rowid, trace_id, span_id, attributes FROM spans WHERE rowid > ? "
                            "ORDER BY rowid LIMIT ?", [last, REBUILD_CHUNK]).fetchall()
        if not rows:
            return
        for _, trace_id, span_id, attributes in rows:
            for tag in tags_of(codec.decode(attributes)):
                yield trace_id, span_id, tag
        last = rows[-1][0]


def rebuild(db: sqlite_utils.Database) -> int:
    """Re-read every stored span's tags (inside the caller's transaction); returns the rows kept."""
    conn = db.conn
    conn.execute("DELETE FROM span_tags")
    before = conn.total_changes
    conn.executemany("INSERT OR IGNORE INTO span_tags VALUES (?, ?, ?)", _stored(conn))
    return conn.total_changes - before


def present(db: sqlite_utils.Database) -> bool:
    """Whether this database keeps span_tags (m507 ran); remembered per handle once true."""
    if getattr(db, "_tracedesk_span_tags", False):
        return True
    found = db.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'span_tags'").fetchone() is not None
    if found:
        db._tracedesk_span_tags = True  # type: ignore[attr-defined]
    return found


def record(db: sqlite_utils.Database, rows: Sequence[Sequence[Any]], replaced: Iterable[tuple[str, str]],
           trace_index: int, span_index: int, attributes_index: int) -> None:
    """Keep span_tags in step with spans just written (inside the writer's transaction): `rows` as
    written (attribute JSON text, not yet compressed), `replaced` the keys among them that were stored
    before with other content (their old tags go first)."""
    if not present(db):
        return  # a handle never migrated past m507 stores rows as that release did
    conn = db.conn
    old = list(replaced)
    if old:
        conn.executemany("DELETE FROM span_tags WHERE trace_id = ? AND span_id = ?", old)
    new = [(row[trace_index], row[span_index], tag) for row in rows for tag in tags_of(row[attributes_index])]
    if new:
        conn.executemany("INSERT OR IGNORE INTO span_tags VALUES (?, ?, ?)", new)


def values_sql() -> str:
    """Tags most traces carry first (then by name), LIMIT ? (one parameter)."""
    return "SELECT tag FROM span_tags GROUP BY tag ORDER BY COUNT(DISTINCT trace_id) DESC, tag LIMIT ?"


def condition_sql(n_tags: int, alias: str = "t") -> str:
    """Traces with a span carrying one of n_tags tags (as many parameters): an uncorrelated list
    sub-query on the tag index."""
    marks = ",".join("?" for _ in range(n_tags))
    return f"{alias}.trace_id IN (SELECT trace_id FROM span_tags WHERE tag IN ({marks}))"
