"""Store access for ingest's own table: GenAI message events that arrived as OTLP log records.

The official OTel GenAI instrumentations send prompts/completions as log records keyed by trace and
span id. They may arrive before or after their span (separate /v1/logs and /v1/traces exports), so
every such message is kept in `ingest_log_messages`; when a span is written its messages are merged
into it, and when messages arrive for a span already stored, the stored span is patched.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlite_utils



def m101_ingest_log_messages(db: sqlite_utils.Database) -> None:
    """Registered in store.MIGRATIONS as "m101_ingest_log_messages"."""
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS ingest_log_messages (
          trace_id TEXT NOT NULL,
          span_id TEXT NOT NULL,
          direction TEXT NOT NULL,
          time_ns INTEGER NOT NULL,
          seq INTEGER NOT NULL,
          digest TEXT NOT NULL,
          message TEXT NOT NULL,
          PRIMARY KEY (trace_id, span_id, direction, time_ns, digest)
        )
        """
    )


Key = tuple[str, str]


def has_log_messages(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT EXISTS (SELECT 1 FROM ingest_log_messages)").fetchone()[0] == 1


def log_messages_for(db: sqlite_utils.Database, keys: Iterable[Key]) -> dict[Key, list[tuple[str, int, int, dict]]]:
    """Stored messages for these spans: key -> [(direction, time_ns, seq, message)]."""
    keys = list(keys)
    out: dict[Key, list[tuple[str, int, int, dict]]] = {}
    by_trace: dict[str, set[str]] = {}
    for t, s in keys:
        by_trace.setdefault(t, set()).add(s)
    traces = sorted(by_trace)
    for i in range(0, len(traces), 500):
        chunk = traces[i : i + 500]
        marks = ",".join("?" for _ in chunk)
        for t, s, direction, time_ns, seq, message in db.execute(
            f"SELECT trace_id, span_id, direction, time_ns, seq, message FROM ingest_log_messages "
            f"WHERE trace_id IN ({marks})", chunk,
        ):
            if s in by_trace[t]:
                out.setdefault((t, s), []).append((direction, time_ns, seq, orjson.loads(message)))
    return out


def save_log_messages(db: sqlite_utils.Database, rows: Sequence[tuple[str, str, str, int, int, dict]]) -> None:
    """Insert (trace_id, span_id, direction, time_ns, seq, message); identical messages are stored once.

    Call inside a transaction (write_batch's `also` hook).
    """
    payload = []
    for t, s, direction, time_ns, seq, message in rows:
        text = orjson.dumps(message, option=orjson.OPT_SORT_KEYS).decode()
        digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
        payload.append((t, s, direction, time_ns, seq, digest, text))
    db.conn.executemany("INSERT OR IGNORE INTO ingest_log_messages VALUES (?, ?, ?, ?, ?, ?, ?)", payload)


def patch_span_messages(db: sqlite_utils.Database, patches: Sequence[tuple[Key, dict[str, Any]]]) -> int:
    """Set message/text columns of spans already stored; returns rows changed. Call inside a transaction."""
    from .blobs import COMPRESSED_COLUMNS, codec

    changed = 0
    store_codec = codec(db)
    coded = store_codec.coded and "input_messages" in COMPRESSED_COLUMNS
    encode = store_codec.encode
    for (t, s), values in patches:
        cols = [c for c in ("input_messages", "output_messages", "input_text", "output_text") if c in values]
        if not cols:
            continue
        sets = ", ".join(f"{c} = ?" for c in cols)
        params = [orjson.dumps(values[c]).decode() if c.endswith("messages") else values[c] for c in cols]
        if coded:  # issue 13 (m505): message columns are stored deflated
            params = [encode(v) if col.endswith("messages") else v for col, v in zip(cols, params)]
        cur = db.conn.execute(f"UPDATE spans SET {sets} WHERE trace_id = ? AND span_id = ?", [*params, t, s])
        changed += cur.rowcount
    return changed


def existing_span_keys(db: sqlite_utils.Database, keys: Iterable[Key]) -> set[Key]:
    keys = list(keys)
    found: set[Key] = set()
    for i in range(0, len(keys), 400):
        chunk = keys[i : i + 400]
        clause = " OR ".join("(trace_id = ? AND span_id = ?)" for _ in chunk)
        params = [x for k in chunk for x in k]
        found.update((t, s) for t, s in db.execute(f"SELECT trace_id, span_id FROM spans WHERE {clause}", params))
    return found


def incomplete_traces(db: sqlite_utils.Database, trace_ids: Iterable[str]) -> int:
    ids = sorted(set(trace_ids))
    n = 0
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" for _ in chunk)
        n += db.execute(f"SELECT COUNT(*) FROM traces WHERE complete = 0 AND trace_id IN ({marks})",
                        chunk).fetchone()[0]
    return n
