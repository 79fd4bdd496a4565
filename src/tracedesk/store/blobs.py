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

Migration m505 (issue 13, "smaller on disk": 1,254 -> under 800 bytes per span) added:
  * input_messages / output_messages / documents deflated like attributes (they repeat the system
    prompts and passages the dictionary already holds: 188 -> ~45 bytes per span).
  * source and scope dictionary-coded through `span_strings` (every span repeated its file path, ~100
    bytes, and its instrumentation scope, ~33): "@<id>" names a whole string; "@<id>.<r>.<s>.<i>" a
    prefix ending in "#" followed by `resourceSpans[r].scopeSpans[s].spans[i]`, "@<id>:<n>" a prefix
    ending in ":" followed by the line number n. SQL reads them through `td_str(col)` (column_sql).
  * content_hash as its 12 raw bytes instead of 24 hex characters.
"""
from __future__ import annotations

import hashlib
import random
import re
import sqlite3
import zlib
from typing import Any

import sqlite_utils

COMPRESSED_COLUMNS: tuple[str, ...] = ("attributes", "events", "input_messages", "output_messages", "documents")
#: compressed since m502; the others since m505 (rows of a handle never migrated past m502 keep JSON text)
COMPRESSED_M502: tuple[str, ...] = ("attributes", "events")
#: dictionary-coded strings (m505): read through td_str()
CODED_COLUMNS: tuple[str, ...] = ("source", "scope")
#: first character of a coded value (file paths, receiver names and scope names do not start with it;
#: after m505 every stored value of a coded column is in coded form, so none is ambiguous)
CODE_MARK = "@"
#: ASCII digits only: a reversible split needs the canonical decimal form (no "007", no Unicode digits)
_N = "(0|[1-9][0-9]*)"
_OTLP_LOCATOR = re.compile(rf"(.*#)resourceSpans\[{_N}\]\.scopeSpans\[{_N}\]\.spans\[{_N}\]", re.S)
_LINE_LOCATOR = re.compile(rf"(.*:){_N}", re.S)
_OTLP_TAIL = re.compile(rf"resourceSpans\[{_N}\]\.scopeSpans\[{_N}\]\.spans\[{_N}\]")
_LINE_TAIL = re.compile(_N)
_CODED = re.compile(r"@([0-9]+)(?:\.([0-9]+)\.([0-9]+)\.([0-9]+)|:([0-9]+))?")
MARK = 0
#: MARK + the dictionary id byte (0: none): the head of every deflated value, by id
_HEADERS = tuple(bytes((MARK, i)) for i in range(256))
#: values shorter than this stay JSON text: deflate's fixed cost outweighs the saving
MIN_COMPRESS = 96
#: rows sampled from the first big batch to prime the dictionary (deflate looks back 32 KB)
DICT_SAMPLE_ROWS = 400
DICT_BYTES = 32 * 1024
_LEVEL, _WBITS, _MEMLEVEL = 4, -15, 5
#: make a new dictionary while a batch's compressed size is above this share of its raw size
RETRAIN_ABOVE = 0.2
#: m505: dictionaries per (column group, instrumentation scope). One dictionary sampled across a whole
#: file still mixes every instrumentation's keys and prompts; on the benchmark's traffic one per scope and
#: group took attributes+messages+documents from 149 to ~95 bytes per span. A key gets its own once
#: KEYED_MIN_ROWS of its rows were seen, and a second one (from a reservoir spread over more batches)
#: once KEYED_RETRAIN_ROWS were; until then its rows use the shared dictionary above.
KEYED_MIN_ROWS = 50
KEYED_RETRAIN_ROWS = 2000
KEYED_SAMPLE_ROWS = 200
#: dictionary ids are one byte; keep a few for the shared dictionary's retraining
MAX_DICT_ID = 250
#: column group of each compressed column: attribute-like JSON, or message/document JSON
GROUP_OF: dict[str, str] = {"attributes": "a", "events": "m", "input_messages": "m", "output_messages": "m",
                            "documents": "m"}


def m502_compact_columns(db: sqlite_utils.Database) -> None:
    """Registered in store.MIGRATIONS as "m502_compact_columns"."""
    db.execute("CREATE TABLE IF NOT EXISTS blob_dicts (id INTEGER PRIMARY KEY, dict BLOB NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS resources (id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, "
               "resource TEXT NOT NULL)")


def m505_span_strings(db: sqlite_utils.Database) -> None:
    """The dictionary of coded strings (source prefixes, scopes). Part of m505_smaller_spans."""
    db.execute("CREATE TABLE IF NOT EXISTS span_strings (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE)")
    # which rows a dictionary was made for: NULL (the shared one) or "<group>:<scope>" (see GROUP_OF)
    if "key" not in {r[1] for r in db.execute("PRAGMA table_info(blob_dicts)")}:
        db.execute("ALTER TABLE blob_dicts ADD COLUMN key TEXT")


#: rows read and rewritten per statement by m505_recode_spans
RECODE_CHUNK = 2000
_RECODE_COLUMNS = ("source", "scope", "content_hash", *COMPRESSED_COLUMNS)


def m505_recode_spans(db: sqlite_utils.Database) -> int:
    """Rewrite every stored span in the m505 forms (part of m505_smaller_spans); returns rows rewritten.

    Values come back exactly (decode(encode(x)) == x): the round-trip tests read a database migrated from
    the previous schema. Rows stored before m502 get their attributes/events deflated too. The bytes saved
    stay inside the file's pages until a `VACUUM` (1M spans: 17.8 s CPU to migrate; the file 1.26 GB ->
    0.76 GB after `VACUUM` with 16 KB pages)."""
    conn = db.conn
    c = Codec(conn)  # private: a failed migration leaves no ids in the connection's own codec
    c._coded = True
    c.prepare([])  # the database's newest dictionary, if it has one (else plain deflate)
    sql = (f"UPDATE spans SET {', '.join(f'{col} = ?' for col in _RECODE_COLUMNS)} WHERE rowid = ?")
    done, last = 0, -(2**63)
    select = f"SELECT rowid, {', '.join(_RECODE_COLUMNS)} FROM spans WHERE rowid > ? ORDER BY rowid LIMIT ?"
    while True:
        rows = conn.execute(select, [last, RECODE_CHUNK]).fetchall()
        if not rows:
            return done
        c.prepare([], [sample for row in rows for sample in keyed_samples(row[2], row[4:])])
        out = []
        for rowid, source, scope, content_hash, *packed in rows:
            if type(content_hash) is str:
                try:
                    content_hash = bytes.fromhex(content_hash)
                except ValueError:
                    pass  # not a hash this release wrote: kept as it is
            out.append((c.encode_source(source) if type(source) is str else source,
                        c.encode_str(scope) if type(scope) is str else scope, content_hash,
                        *(c.encode(v, (GROUP_OF[col], scope)) if type(v) is str else v
                          for col, v in zip(COMPRESSED_COLUMNS, packed)), rowid))
        conn.executemany(sql, out)
        done += len(rows)
        last = rows[-1][0]


def _key_text(key: tuple[str, Any]) -> str:
    return f"{key[0]}:{'' if key[1] is None else key[1]}"


def keyed_samples(scope: Any, texts: Any) -> list[tuple[tuple[str, Any], str]]:
    """((group, scope), text) training samples of one span row for the per-scope dictionaries: its
    attributes JSON, and its events, messages and documents JSON joined (`texts` in COMPRESSED_COLUMNS
    order)."""
    out: list[tuple[tuple[str, Any], str]] = []
    if scope is not None and type(scope) is not str:
        return out
    attrs = texts[0]
    if type(attrs) is str and len(attrs) >= MIN_COMPRESS:
        out.append((("a", scope), attrs))
    msgs = "".join(t for t in texts[1:] if type(t) is str)
    if len(msgs) >= MIN_COMPRESS:
        out.append((("m", scope), msgs))
    return out


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
    if column in CODED_COLUMNS:
        return f"td_str({col})"
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
        self.strings: dict[int, str] = {}  # span_strings id -> text, for reading
        self.string_ids: dict[str, int] = {}  # text -> id, committed
        self._pending_strings: dict[str, int] = {}
        # Written by a release before m501/m502/m505 (a handle that was never migrated): store rows as that
        # release did (plain JSON, full trace recompute) instead of failing.
        self._schema = (False, False, False)
        self._coded = False
        self._llm_wrapper = False
        self._reservoir: list[str] = []
        self._seen = 0
        self._rng = random.Random(0)
        self._retrain = False
        self._trainings = 0
        self._since_training = 0
        self._raw = self._packed = 0
        # m505 per-(group, scope) dictionaries: key -> (id, compressor); None = looked up, none stored yet
        self.keyed: dict[tuple[str, Any], tuple[int, Any] | None] = {}
        self._key_reservoir: dict[tuple[str, Any], list[str]] = {}
        self._key_seen: dict[tuple[str, Any], int] = {}
        self._key_trained_at: dict[tuple[str, Any], int] = {}
        self._pending_keys: list[tuple[tuple[str, Any], tuple[int, Any] | None, int]] = []

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

    @property
    def coded(self) -> bool:
        """Whether m505 ran: messages/documents compressed, source/scope coded, hashes raw."""
        if not self._coded:
            self._coded = self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'span_strings'").fetchone() is not None
        return self._coded

    @property
    def llm_wrapper(self) -> bool:
        """Whether m516 ran: spans.llm_wrapper exists (store.llm_roles); re-read until it does."""
        if not self._llm_wrapper:
            self._llm_wrapper = self.conn.execute(
                "SELECT 1 FROM pragma_table_info('spans') WHERE name = 'llm_wrapper'").fetchone() is not None
        return self._llm_wrapper

    # -- reading ----------------------------------------------------------------------------------
    def _looked_up(self, cache: dict[int, Any], sql: str, key: int, what: str) -> Any:
        """A row a stored value refers to by id (a dictionary, a coded string), read once per connection."""
        found = cache.get(key)
        if found is None:
            row = self.conn.execute(sql, [key]).fetchone()
            if row is None:
                raise ValueError(f"stored value refers to {what} {key}, which this database lacks")
            found = cache[key] = row[0]
        return found

    def _dict(self, dict_id: int) -> bytes:
        return bytes(self._looked_up(self.dicts, "SELECT dict FROM blob_dicts WHERE id = ?", dict_id,
                                     "compression dictionary"))

    def decode(self, value: Any) -> Any:
        """A stored attributes/events value -> its JSON text (text and NULL pass through)."""
        if type(value) is not bytes or not value or value[0] != MARK:
            return value
        dict_id = value[1]
        d = zlib.decompressobj(_WBITS, zdict=self._dict(dict_id)) if dict_id else zlib.decompressobj(_WBITS)
        return (d.decompress(value[2:]) + d.flush()).decode("utf-8", "surrogatepass")

    def _string(self, string_id: int) -> str:
        return str(self._looked_up(self.strings, "SELECT text FROM span_strings WHERE id = ?", string_id,
                                   "coded string"))

    def decode_str(self, value: Any) -> Any:
        """A stored source/scope value -> the text written (uncoded values and NULL pass through)."""
        if type(value) is not str or not value.startswith(CODE_MARK) or not self.coded:
            return value  # (before m505 a value starting with the mark is the text itself)
        m = _CODED.fullmatch(value)
        if m is None:
            return value
        text = self._string(int(m[1]))
        if m[2] is not None:
            return f"{text}resourceSpans[{m[2]}].scopeSpans[{m[3]}].spans[{m[4]}]"
        if m[5] is not None:
            return text + m[5]
        return text

    def coded_lookup(self, text: str) -> str:
        """The stored form of a whole string (for `WHERE source = ?`), without writing: the text itself
        when the dictionary does not hold it (then it matches only rows stored uncoded)."""
        if not self.coded:
            return text
        found = self.string_ids.get(text)
        if found is None:
            row = self.conn.execute("SELECT id FROM span_strings WHERE text = ?", [text]).fetchone()
            if row is None:
                return text
            found = int(row[0])
        return f"{CODE_MARK}{found}"

    # -- writing (inside the write transaction) -----------------------------------------------------
    def prepare(self, samples: list[str], keyed: list[tuple[tuple[str, Any], str]] | None = None) -> None:
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
        if keyed and self.coded:
            self._prepare_keyed(keyed)
        if self.compressor is None:
            shared = " WHERE key IS NULL" if self.coded else ""
            row = self.conn.execute(f"SELECT id, dict FROM blob_dicts{shared} ORDER BY id DESC LIMIT 1").fetchone()
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

    def _prepare_keyed(self, keyed: list[tuple[tuple[str, Any], str]]) -> None:
        """Sample the batch's rows per key; give a key its own dictionary once it has enough rows."""
        # first-seen order, not a set's: string hashes differ per process, and the order keys are trained
        # in decides their dictionary ids (a re-run, or the parse worker, would store other bytes)
        touched: dict[tuple[str, Any], None] = {}
        rng = self._rng
        for key, text in keyed:
            seen = self._key_seen.get(key, 0) + 1
            self._key_seen[key] = seen
            res = self._key_reservoir.get(key)
            if res is None:
                res = self._key_reservoir[key] = []
            if len(res) < KEYED_SAMPLE_ROWS:
                res.append(text)
            else:
                j = rng.randrange(seen)
                if j < KEYED_SAMPLE_ROWS:
                    res[j] = text
            touched[key] = None
        for key in touched:
            if key not in self.keyed:
                row = self.conn.execute("SELECT id, dict FROM blob_dicts WHERE key = ? ORDER BY id DESC LIMIT 1",
                                        [_key_text(key)]).fetchone()
                self.keyed[key] = None if row is None else self._compressor(int(row[0]), bytes(row[1]))
                if row is not None:
                    self.dicts[int(row[0])] = bytes(row[1])
                    self._key_trained_at[key] = KEYED_RETRAIN_ROWS  # made by an earlier connection
            seen = self._key_seen[key]
            trained = self._key_trained_at.get(key, 0)
            if (trained == 0 and seen >= KEYED_MIN_ROWS) or (0 < trained < KEYED_RETRAIN_ROWS <= seen):
                self._train_keyed(key)

    def _train_keyed(self, key: tuple[str, Any]) -> None:
        top = self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM blob_dicts").fetchone()[0]
        if top >= MAX_DICT_ID:
            self._key_trained_at[key] = KEYED_RETRAIN_ROWS  # no ids left: the shared dictionary serves it
            return
        picked = list(self._key_reservoir[key])
        self._rng.shuffle(picked)
        zdict = "".join(picked).encode("utf-8", "surrogatepass")[-DICT_BYTES:]
        cur = self.conn.execute("INSERT INTO blob_dicts (dict, key) VALUES (?, ?)", [zdict, _key_text(key)])
        dict_id = int(cur.lastrowid or 0)
        self._pending_keys.append((key, self.keyed.get(key), dict_id))
        self.dicts[dict_id] = zdict
        self.keyed[key] = self._compressor(dict_id, zdict)
        self._key_trained_at[key] = self._key_seen[key]

    @staticmethod
    def _compressor(dict_id: int, zdict: bytes) -> tuple[int, Any]:
        return dict_id, zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, _MEMLEVEL, zdict=zdict)

    def _use(self, dict_id: int, zdict: bytes) -> None:
        self.dict_id = dict_id
        self.dicts[dict_id] = zdict
        self.compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, _MEMLEVEL, zdict=zdict)

    def encode(self, text: str | None, key: tuple[str, Any] | None = None) -> Any:
        """`key` (m505): the (group, scope) whose own dictionary to use when it has one."""
        # (the ingest writer's hottest Python: one call per compressed value, so no property lookups)
        if text is None or len(text) < MIN_COMPRESS or not (self._schema[0] or self.compact):
            return text
        raw = text.encode("utf-8", "surrogatepass")
        own = self.keyed.get(key) if key is not None else None
        if own is not None:
            co = own[1].copy()
            out = b"".join((_HEADERS[own[0]], co.compress(raw), co.flush()))
        elif self.compressor is not None and self.dict_id is not None:
            co = self.compressor.copy()
            out = b"".join((_HEADERS[self.dict_id], co.compress(raw), co.flush()))
        else:
            co = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, _MEMLEVEL)
            out = b"".join((_HEADERS[0], co.compress(raw), co.flush()))
        self._raw += len(raw)
        self._packed += len(out)
        return out

    def _string_id(self, text: str) -> int:
        found = self.string_ids.get(text)
        if found is None:
            found = self._pending_strings.get(text)
        if found is None:
            self.conn.execute("INSERT OR IGNORE INTO span_strings (text) VALUES (?)", [text])
            found = int(self.conn.execute("SELECT id FROM span_strings WHERE text = ?", [text]).fetchone()[0])
            self._pending_strings[text] = found
        return found

    def encode_str(self, text: str | None) -> Any:
        """The stored form of a scope (or any whole string): "@<id>"."""
        if text is None or not (self._coded or self.coded):
            return text
        return f"{CODE_MARK}{self._string_id(text)}"

    def encode_source(self, text: str | None) -> Any:
        """The stored form of a source: its prefix coded, an OTLP span locator or line number kept as numbers."""
        if text is None or not (self._coded or self.coded):
            return text
        # The prefix ends at the LAST "#" (":"): the locator after it holds none, so the greedy `(.*#)`
        # of _OTLP_LOCATOR can only match there; matching the tail alone skips its backtracking.
        cut = text.rfind("#") + 1
        m = _OTLP_TAIL.fullmatch(text, cut) if cut else None
        if m is not None:
            return f"{CODE_MARK}{self._string_id(text[:cut])}.{m[1]}.{m[2]}.{m[3]}"
        cut = text.rfind(":") + 1
        m = _LINE_TAIL.fullmatch(text, cut) if cut else None
        if m is not None:
            return f"{CODE_MARK}{self._string_id(text[:cut])}:{m[1]}"
        return f"{CODE_MARK}{self._string_id(text)}"

    def resource_id(self, text: str | None) -> Any:
        if text is None or not (self._schema[0] or self.compact):
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
        self.string_ids.update(self._pending_strings)
        self._pending_strings.clear()
        self._pending_keys.clear()
        self._since_training += 1
        if self._raw > 64_000 and self._packed > RETRAIN_ABOVE * self._raw and self._since_training > self._trainings:
            self._retrain = True
        self._raw = self._packed = 0

    def rollback(self) -> None:
        """The batch's transaction failed: ids and a dictionary made inside it no longer exist."""
        self._pending_resources.clear()
        self._pending_strings.clear()
        for key, before, dict_id in reversed(self._pending_keys):  # dictionaries made inside the failed batch
            self.dicts.pop(dict_id, None)
            self.keyed[key] = before
            self._key_trained_at[key] = 0 if before is None else KEYED_RETRAIN_ROWS
        self._pending_keys.clear()
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
            db.conn.create_function("td_str", 1, found.decode_str, deterministic=True)
            db._tracedesk_codec = found  # type: ignore[attr-defined]
        return found
    c = Codec(db)
    db.create_function("td_json", 1, c.decode, deterministic=True)
    db.create_function("td_str", 1, c.decode_str, deterministic=True)
    return c


def decode(db: sqlite_utils.Database | sqlite3.Connection, value: Any) -> Any:
    """A stored attributes/events value -> JSON text, in Python (for rows read without `td_json`)."""
    return codec(db).decode(value)
