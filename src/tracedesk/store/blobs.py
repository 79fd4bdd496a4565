"""Compact storage of the bulky JSON columns: `attributes` and `events` deflated against a per-database
dictionary, `resource` stored once per distinct value in `resources`.

On the sample traffic attributes were ~540 of ~1,900 bytes per span row and every span repeated its
service's resource blob (~200 bytes). Raw deflate primed with a dictionary of typical rows (keys, system
prompts and instrumentation names repeat across spans) takes attributes to ~15% of their size at ~13 us a
row; a resource becomes a two-byte reference. Message, document and text columns stay plain JSON/text:
SQL reads them directly (drift's lengths and tool-call checks, search, users' own queries).

Stored forms, all readable side by side (rows written before migration m502 stay as they were):
  * attributes / events: TEXT (JSON, old rows and short values) or BLOB b"\\x00" + dictionary id byte +
    raw deflate stream. SQL reads them through `td_json(col)`, a function every `store.connect()`
    connection has; Python through `decode()`.
  * resource: TEXT, either JSON (old rows) or "#<id>" of a row in `resources` (the column has TEXT
    affinity, so a bare integer would be stored as text anyway); SQL reads `resource_sql("s")`.
"""
from __future__ import annotations

import hashlib
import sqlite3
import random
import zlib
from typing import Any

import sqlite_utils

COMPRESSED_COLUMNS: tuple[str, ...] = ("attributes", "events")
MARK = 0
#: values shorter than this stay JSON text: deflate's fixed cost outweighs the saving
MIN_COMPRESS = 96
#: rows sampled from the first big batch to prime the dictionary (deflate looks back 32 KB)
DICT_SAMPLE_ROWS = 400
DICT_BYTES = 32 * 1024
_LEVEL, _WBITS, _MEMLEVEL = 4, -15, 5
#: make a new dictionary while a batch's compressed size is above this share of its raw size
RETRAIN_ABOVE = 0.2


def m502_compact_columns(db: sqlite_utils.Database) -> None:
    """Registered in store.MIGRATIONS as "m502_compact_columns"."""
    db.execute("CREATE TABLE IF NOT EXISTS blob_dicts (id INTEGER PRIMARY KEY, dict BLOB NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS resources (id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, "
               "resource TEXT NOT NULL)")


def resource_sql(alias: str = "s") -> str:
    """SQL for a span's resource as JSON text, whichever way the row stored it. No alias means the
    table is `spans` unaliased: the column is still qualified, or inside the lookup it would name
    `resources.resource`."""
    col = f"{alias or 'spans'}.resource"
    return (f"CASE WHEN substr({col}, 1, 1) = '#' THEN (SELECT r.resource FROM resources r "
            f"WHERE r.id = CAST(substr({col}, 2) AS INTEGER)) ELSE {col} END")


def column_sql(column: str, alias: str = "s") -> str:
    """SQL reading one span column as stored before compaction (JSON text for the compacted ones)."""
    col = f"{alias}.{column}" if alias else column
    if column in COMPRESSED_COLUMNS:
        return f"td_json({col})"
    if column == "resource":
        return resource_sql(alias)
    return col


class Codec:
    """Per-connection: dictionaries (loaded on first need) and the writer's resource ids."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.dicts: dict[int, bytes] = {}
        self.compressor: Any = None
        self.dict_id: int | None = None
        self.resource_ids: dict[str, str] = {}
        self._pending_resources: dict[str, str] = {}
        # Written by a release before m501/m502 (a handle that was never migrated): store rows as that
        # release did (plain JSON, full trace recompute) instead of failing.
        self._schema = (False, False, False)
        self._reservoir: list[str] = []
        self._seen = 0
        self._rng = random.Random(0)
        self._retrain = False
        self._trainings = 0
        self._since_training = 0
        self._raw = self._packed = 0

    def schema(self) -> tuple[bool, bool, bool]:
        """(compaction tables present, trace_orphans present, traces_stale present); re-read until all
        are (a handle can be configured before it is migrated)."""
        if not all(self._schema):
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            self._schema = ({"blob_dicts", "resources"} <= tables, "trace_orphans" in tables,
                            "traces_stale" in tables)
        return self._schema

    @property
    def compact(self) -> bool:
        return self.schema()[0]

    # -- reading ----------------------------------------------------------------------------------
    def _dict(self, dict_id: int) -> bytes:
        found = self.dicts.get(dict_id)
        if found is None:
            row = self.conn.execute("SELECT dict FROM blob_dicts WHERE id = ?", [dict_id]).fetchone()
            if row is None:
                raise ValueError(f"compressed value refers to dictionary {dict_id}, which this database lacks")
            found = self.dicts[dict_id] = bytes(row[0])
        return found

    def decode(self, value: Any) -> Any:
        """A stored attributes/events value -> its JSON text (text and NULL pass through)."""
        if type(value) is not bytes or not value or value[0] != MARK:
            return value
        dict_id = value[1]
        d = zlib.decompressobj(_WBITS, zdict=self._dict(dict_id)) if dict_id else zlib.decompressobj(_WBITS)
        return (d.decompress(value[2:]) + d.flush()).decode("utf-8", "surrogatepass")

    # -- writing (inside the write transaction) -----------------------------------------------------
    def prepare(self, samples: list[str]) -> None:
        """Before a batch's rows are encoded: pick (or make) the dictionary they are deflated against.

        A dictionary made from one batch only knows that batch's instrumentation (files are often grouped
        by service): on the sample it left attributes at 34% of their size against 12% for one sampled
        across conventions. So rows are reservoir-sampled as they are written, and a new dictionary is
        made from the reservoir while batches still compress poorly (backing off, at most 250 per DB).
        """
        for text in samples:
            self._seen += 1
            if len(self._reservoir) < DICT_SAMPLE_ROWS:
                self._reservoir.append(text)
            else:
                j = self._rng.randrange(self._seen)
                if j < DICT_SAMPLE_ROWS:
                    self._reservoir[j] = text
        if not self.compact:
            return
        if self.compressor is None:
            row = self.conn.execute("SELECT id, dict FROM blob_dicts ORDER BY id DESC LIMIT 1").fetchone()
            if row is not None and row[0] <= 255:
                self._use(int(row[0]), bytes(row[1]))
                return
        if len(self._reservoir) < DICT_SAMPLE_ROWS // 4:
            return  # plain deflate until enough rows were seen (a tiny first batch)
        if self.compressor is None or self._retrain:
            self._retrain = False
            picked = list(self._reservoir)
            self._rng.shuffle(picked)
            zdict = "".join(picked).encode("utf-8", "surrogatepass")[-DICT_BYTES:]
            cur = self.conn.execute("INSERT INTO blob_dicts (dict) VALUES (?)", [zdict])
            if cur.lastrowid is not None and cur.lastrowid <= 250:
                self._use(int(cur.lastrowid), zdict)
                self._trainings += 1
                self._since_training = 0

    def _use(self, dict_id: int, zdict: bytes) -> None:
        self.dict_id = dict_id
        self.dicts[dict_id] = zdict
        self.compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, _MEMLEVEL, zdict=zdict)

    def encode(self, text: str | None) -> Any:
        if text is None or len(text) < MIN_COMPRESS or not self.compact:
            return text
        raw = text.encode("utf-8", "surrogatepass")
        if self.compressor is not None and self.dict_id is not None:
            co = self.compressor.copy()
            out = b"\x00" + bytes((self.dict_id,)) + co.compress(raw) + co.flush()
        else:
            co = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, _MEMLEVEL)
            out = b"\x00\x00" + co.compress(raw) + co.flush()
        self._raw += len(raw)
        self._packed += len(out)
        return out

    def resource_id(self, text: str | None) -> Any:
        if text is None or not self.compact:
            return text
        found = self.resource_ids.get(text) or self._pending_resources.get(text)
        if found is not None:
            return found
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        self.conn.execute("INSERT OR IGNORE INTO resources (hash, resource) VALUES (?, ?)", [digest, text])
        rid = f"#{self.conn.execute('SELECT id FROM resources WHERE hash = ?', [digest]).fetchone()[0]}"
        self._pending_resources[text] = rid
        return rid

    def commit(self) -> None:
        self.resource_ids.update(self._pending_resources)
        self._pending_resources.clear()
        self._since_training += 1
        if self._raw > 64_000 and self._packed > RETRAIN_ABOVE * self._raw and self._since_training > self._trainings:
            self._retrain = True
        self._raw = self._packed = 0

    def rollback(self) -> None:
        """The batch's transaction failed: ids and a dictionary made inside it no longer exist."""
        self._pending_resources.clear()
        if self.dict_id is not None:
            row = self.conn.execute("SELECT 1 FROM blob_dicts WHERE id = ?", [self.dict_id]).fetchone()
            if row is None:
                self.dicts.pop(self.dict_id, None)
                self.compressor, self.dict_id = None, None
        self._raw = self._packed = 0


def codec(db: sqlite_utils.Database | sqlite3.Connection) -> Codec:
    """The codec of this database handle, registering `td_json` on its connection the first time."""
    if isinstance(db, sqlite_utils.Database):
        found = getattr(db, "_tracedesk_codec", None)
        if found is None or found.conn is not db.conn:
            found = Codec(db.conn)
            db.conn.create_function("td_json", 1, found.decode, deterministic=True)
            db._tracedesk_codec = found  # type: ignore[attr-defined]
        return found
    c = Codec(db)
    db.create_function("td_json", 1, c.decode, deterministic=True)
    return c


def decode(db: sqlite_utils.Database | sqlite3.Connection, value: Any) -> Any:
    """A stored attributes/events value -> JSON text, in Python (for rows read without `td_json`)."""
    return codec(db).decode(value)
