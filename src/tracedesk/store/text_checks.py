"""Remembered text checks: the refusal and PII verdicts of answer texts, kept in the database.

The refusal check (a few dozen regexes after Unicode normalisation) and the PII check (six detectors
over the whole text) cost ~50-100 us per text; on 1M spans the changes feed reads ~300k answers, so
checking them on every run costs seconds. A verdict depends only on the text and on the checker, so
it is kept under a digest of the text (BLAKE2b, 16 bytes) in `text_verdicts`, per *checker*: the check's
name, a digest of its code (the modules that define it: an upgrade with new patterns starts over) and
its settings (the user's refusal phrase lists). Entries of another checker version are dropped when
new ones are saved. The table is created on first save; a database that cannot be written (read-only,
locked) simply keeps no verdicts and every text is checked as before.

Stored as parts (issue 13, smaller on disk): each save of a checker adds one row holding its new
verdicts side by side, the digests concatenated in key order and the verdicts as deflated narrow
integers, instead of one row per text that repeated the checker's 32-character key (~65 -> ~17 bytes
per text; 7.8 -> 2 B per span of the benchmark's database). Every verdict of a checker is read at once
anyway (`Remembered` keeps them in a compact sorted table), so nothing reads them one by one. Past MAX_PARTS rows a
save folds a checker's parts into one. The first layout (`text_checks`, one row per text) is still read
(a database written by an earlier version, or opened read-only), and the next save moves its verdicts
into parts and drops it.
"""
from __future__ import annotations

import hashlib
import sqlite3
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

TABLE = "text_verdicts"
#: the first layout: one row (checker, digest, result) per text; read, and folded into TABLE on save
OLD_TABLE = "text_checks"
#: parts a checker keeps before a save folds them into one
MAX_PARTS = 8
#: the first byte of a verdicts blob: its layout (then the integers' width, then the deflated integers)
FORMAT = 1
DIGEST_BYTES = 16
#: verdicts a connection keeps in memory per checker (beyond that they are checked again)
MEMORY_LIMIT = 1_000_000
#: characters (or bytes) of texts a connection keeps beside their verdicts (beyond that, looked up by digest:
#: ~1 us more per text). 32M held ~35 MB of texts at the end of an ingest of 673k spans (the feed step's
#: peak grew with the database); 4M keeps the answers that repeat most, which come first.
SEEN_CHARS = 4_000_000


def checker_key(name: str, modules: tuple[Any, ...], settings: Any) -> str:
    """name:digest of the checking code and its settings."""
    h = hashlib.blake2b(digest_size=12)
    for module in modules:
        h.update(Path(module.__file__).read_bytes())
    h.update(repr(settings).encode())
    return f"{name}:{h.hexdigest()}"


def digest(text: Any) -> bytes:
    data = text if isinstance(text, bytes) else str(text).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).digest()


#: new verdicts a checker keeps in a dict before they move into its compact table: 1M verdicts took 91 MB
#: as a dict of their 16-byte digests (and the known and new dicts shared them: ~130 MB), 33 MB as a table
FOLD_AT = 65_536


class _Table:
    """Verdicts by digest in three sorted arrays: each digest's first 8 bytes (bisected), the whole digests
    side by side (compared) and the verdicts. Built whole (from the stored parts, or merged with a fold of
    new verdicts), never changed in place. array("q") and bytes, not numpy: a lookup is ~2 us through
    bisect at 1M verdicts, where numpy's per-call overhead made it 3.2 us (a dict: 0.17, at 6x the memory)."""

    def __init__(self, digests: bytes = b"", values: "np.ndarray | None" = None) -> None:
        n = len(digests) // DIGEST_BYTES
        digests = digests[:n * DIGEST_BYTES]
        prefix = np.frombuffer(digests, dtype="<i8")[0::2] if n else np.zeros(0, np.int64)
        order = np.argsort(prefix, kind="stable")  # stable: of two equal digests the earlier part answers
        self.prefix = array("q", prefix[order].astype("=i8").tobytes())
        self.digests = np.frombuffer(digests, dtype=f"V{DIGEST_BYTES}")[order].tobytes() if n else b""
        vals = values if values is not None else np.zeros(0, np.int64)
        self.values = array("q", vals[order].astype("=i8").tobytes())

    def __len__(self) -> int:
        return len(self.prefix)

    def get(self, d: bytes) -> int | None:
        p = int.from_bytes(d[:8], "little", signed=True)
        prefix = self.prefix
        i = bisect_left(prefix, p)
        n = len(prefix)
        while i < n and prefix[i] == p:
            if self.digests[i * DIGEST_BYTES:(i + 1) * DIGEST_BYTES] == d:
                return self.values[i]
            i += 1
        return None

    def with_items(self, digests: bytes, values: np.ndarray) -> "_Table":
        """This table and the verdicts `values` of `digests` (joined), as a new table."""
        if not len(values):
            return self
        return _Table(self.digests + digests, np.concatenate([np.frombuffer(self.values.tobytes(), dtype="=i8"), values]))

    def items(self) -> list[tuple[bytes, int]]:
        return [(self.digests[i * DIGEST_BYTES:(i + 1) * DIGEST_BYTES], v) for i, v in enumerate(self.values)]


class Remembered:
    """check(text) -> int, answered from the verdicts kept for `key` when the text was seen before."""

    def __init__(self, db: sqlite_utils.Database, key: str, check: Callable[[Any], int]) -> None:
        self.key = key
        self.check = check
        self.table = _load(db, key)
        #: verdicts found since the last fold (a dict: the last FOLD_AT distinct texts are looked up fast)
        self.new: dict[bytes, int] = {}
        #: verdicts folded into the table and not saved yet (digests joined, their verdicts)
        self.unsaved: list[tuple[bytes, np.ndarray]] = []
        # the texts themselves seen on this connection: answers repeat (274k LLM answers, 77k distinct on
        # the 1M-span week), and a dict lookup by the text costs a fraction of its digest
        self.seen: dict[Any, int] = {}
        self._seen_chars = 0

    def __call__(self, text: Any) -> int:
        if text is None:
            return self.check(text)
        hit = self.seen.get(text)
        if hit is not None:
            return hit
        d = digest(text)
        hit = self.new.get(d)
        if hit is None:
            hit = self.table.get(d)
        if hit is None:
            hit = self.check(text)
            if len(self.table) + len(self.new) < MEMORY_LIMIT:
                self.new[d] = hit
                if len(self.new) >= FOLD_AT:
                    self._fold()
        # texts only: 1, 1.0 and True are one dict key but three texts ("1", "1.0", "True")
        if isinstance(text, (str, bytes)) and self._seen_chars + len(text) <= SEEN_CHARS:
            self.seen[text] = hit
            self._seen_chars += len(text)
        return hit

    def _fold(self) -> None:
        joined = _joined(list(self.new.items()))
        self.unsaved.append(joined)
        self.table = self.table.with_items(*joined)
        self.new = {}

    def remember(self, d: bytes, verdict: int) -> None:
        """Keep a verdict found elsewhere (saved with the next save)."""
        self.new[d] = verdict

    def pending(self) -> tuple[bytes, np.ndarray]:
        """The verdicts found since the last save: their digests joined, and the verdicts (no Python object
        per verdict: a million of them are saved at the end of a large first ingest)."""
        chunks = [*self.unsaved, _joined(list(self.new.items()))]
        return b"".join(d for d, _v in chunks), np.concatenate([v for _d, v in chunks])

    def saved(self) -> None:
        """The pending verdicts are in the database: they stay known, not pending."""
        if self.new:
            self._fold()
        self.unsaved = []

    def verdicts(self) -> dict[bytes, int]:
        """Every verdict this checker knows (stored, folded and new)."""
        return {**dict(self.table.items()), **self.new}


def _load(db: sqlite_utils.Database, key: str) -> _Table:
    """Every stored verdict of `key` as a compact table (no Python object per verdict)."""
    digests: list[bytes] = []
    values: list[np.ndarray] = []
    try:
        for raw, results in db.execute(f"SELECT digests, results FROM {TABLE} WHERE checker = ? ORDER BY part",
                                       [key]).fetchall():
            v = _values(results)
            digests.append(bytes(raw[:len(v) * DIGEST_BYTES]))
            values.append(v.astype(np.int64))
    except sqlite3.OperationalError:  # no such table yet
        pass
    if _has_old(db):
        old = db.execute(f"SELECT digest, result FROM {OLD_TABLE} WHERE checker = ?", [key]).fetchall()
        digests.append(b"".join(bytes(d) for d, _r in old))
        values.append(np.array([int(r) for _d, r in old], dtype=np.int64))
    if not digests:
        return _Table()
    return _Table(b"".join(digests), np.concatenate(values))


def _has_old(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [OLD_TABLE]).fetchone() is not None


def _packed_arrays(digests: bytes, values: np.ndarray) -> tuple[bytes, bytes]:
    """(the digests concatenated, the verdicts: FORMAT, width, deflated little-endian integers) of digests
    joined and their verdicts: sorted by digest (as bytes compare), the last verdict of equal digests kept."""
    digests, values = _sorted_unique(digests, values.astype(np.int64))
    lo, hi = (int(values.min()), int(values.max())) if len(values) else (0, 0)
    width = next(w for w in (1, 2, 4, 8) if -(1 << (8 * w - 1)) <= lo and hi < 1 << (8 * w - 1))
    return digests, bytes([FORMAT, width]) + zlib.compress(values.astype(f"<i{width}").tobytes(), 9)


def _sorted_unique(digests: bytes, values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The digests in byte order (two big-endian words compare as the bytes do), the last of equal ones kept."""
    n = len(values)
    if not n:
        return b"", values
    words = np.frombuffer(digests[:n * DIGEST_BYTES], dtype=">u8").reshape(n, 2)
    order = np.lexsort((np.arange(n), words[:, 1], words[:, 0]))  # by first word, second, then position
    w = words[order]
    last = np.ones(n, dtype=bool)
    last[:-1] = (w[1:] != w[:-1]).any(axis=1)
    keep = order[last]
    raw = np.frombuffer(digests[:n * DIGEST_BYTES], dtype=f"V{DIGEST_BYTES}")
    return raw[keep].tobytes(), values[keep]


def _values(results: bytes) -> np.ndarray:
    if results[0] != FORMAT:
        raise ValueError(f"remembered text verdicts of format {results[0]} (this version reads {FORMAT}): "
                         f"DROP TABLE {TABLE} and they are checked again")
    return np.frombuffer(zlib.decompress(results[2:]), dtype=np.dtype(f"<i{results[1]}"))


def _unpacked(digests: bytes, results: bytes) -> list[tuple[bytes, int]]:
    # the integers in one numpy pass, the digests in one slicing loop (one int.from_bytes and two slices
    # per verdict cost 0.36 s for the ~970k verdicts of a 10M-span store)
    values = _values(results).tolist()
    # fixed-size raw records: tolist() gives each as bytes (an "S" dtype would drop trailing zero bytes)
    keys = np.frombuffer(digests[:len(values) * DIGEST_BYTES], dtype=f"V{DIGEST_BYTES}").tolist()
    return list(zip(keys, values))


def save(db: sqlite_utils.Database, checks: list[Remembered]) -> int:
    """Write the verdicts found since the last save; returns how many (0 when the database is read-only
    or busy: they are found again next time)."""
    pending = [c for c in checks if c.new or c.unsaved]
    if not checks or db.conn.in_transaction:  # never commit a caller's open transaction
        return 0
    # nothing new, but the verdicts were read from the first layout: they move now
    if not pending and not _has_old(db):
        return 0
    written = 0
    conn = db.conn
    try:
        with conn:
            conn.execute("BEGIN")  # one transaction: the first layout is dropped only with its rows moved
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (checker TEXT NOT NULL, part INTEGER NOT NULL, "
                         f"digests BLOB NOT NULL, results BLOB NOT NULL, PRIMARY KEY (checker, part))")
            old: dict[str, list[tuple[bytes, int]]] = {}
            if _has_old(db):  # the first layout: its verdicts move here (as the first parts), then it goes
                for key, d, r in conn.execute(f"SELECT checker, digest, result FROM {OLD_TABLE}").fetchall():
                    old.setdefault(key, []).append((bytes(d), int(r)))
                conn.execute(f"DROP TABLE {OLD_TABLE}")
            names = {c.key.split(":", 1)[0] for c in pending}
            for c in pending:  # another version of this check: its verdicts go
                name = c.key.split(":", 1)[0]
                conn.execute(f"DELETE FROM {TABLE} WHERE checker >= ? AND checker < ? AND checker != ?",
                             [f"{name}:", f"{name};", c.key])
            for key, verdicts in old.items():  # an old-layout checker not saved now, of a current version
                if key.split(":", 1)[0] not in names:
                    _add_part(conn, key, *_joined(verdicts))
            for c in pending:
                digests, values = c.pending()
                before, before_values = _joined(old.get(c.key, []))  # the new verdicts win (they come last)
                _add_part(conn, c.key, before + digests, np.concatenate([before_values, values]))
                written += len(values)
    except sqlite3.Error:  # read-only, locked, or full: no verdicts kept, nothing lost
        return 0
    for c in pending:
        c.saved()
    return written


def _joined(items: list[tuple[bytes, int]]) -> tuple[bytes, np.ndarray]:
    """(digest, verdict) pairs as the digests joined and their verdicts."""
    return b"".join(d for d, _r in items), np.array([r for _d, r in items], dtype=np.int64)


def _add_part(conn: sqlite3.Connection, key: str, digests: bytes, values: np.ndarray) -> None:
    """One more part of `key`'s verdicts; past MAX_PARTS, every part of it folded into one (a later part's
    verdict of a digest wins)."""
    parts = [p for (p,) in conn.execute(f"SELECT part FROM {TABLE} WHERE checker = ? ORDER BY part", [key])]
    if len(parts) >= MAX_PARTS:
        stored = conn.execute(f"SELECT digests, results FROM {TABLE} WHERE checker = ? ORDER BY part",
                              [key]).fetchall()
        kept = [_values(r).astype(np.int64) for _d, r in stored]
        digests = b"".join(bytes(d[:len(v) * DIGEST_BYTES]) for (d, _r), v in zip(stored, kept)) + digests
        values = np.concatenate([*kept, values])
        conn.execute(f"DELETE FROM {TABLE} WHERE checker = ?", [key])
        parts = []
    if not len(values):
        return
    packed, results = _packed_arrays(digests, values)
    conn.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?)", [key, parts[-1] + 1 if parts else 0, packed, results])
