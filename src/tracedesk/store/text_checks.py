"""Remembered text checks: the refusal and PII verdicts of answer texts, kept in the database.

The refusal check (a few dozen regexes after Unicode normalisation) and the PII check (six detectors
over the whole text) cost ~50-100 us per text; on 1M spans the changes feed reads ~300k answers, so
checking them on every run costs seconds. A verdict depends only on the text and on the checker, so
it is kept under a digest of the text (BLAKE2b, 16 bytes) in `text_checks`, per *checker*: the check's
name, a digest of its code (the modules that define it: an upgrade with new patterns starts over) and
its settings (the user's refusal phrase lists). Entries of another checker version are dropped when
new ones are saved. The table is created on first save; a database that cannot be written (read-only,
locked) simply keeps no verdicts and every text is checked as before.
"""
from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlite_utils

TABLE = "text_checks"
#: verdicts a connection keeps in memory per checker (beyond that they are checked again)
MEMORY_LIMIT = 1_000_000
#: characters (or bytes) of texts a connection keeps beside their verdicts (beyond that, looked up by digest)
SEEN_CHARS = 32_000_000


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


class Remembered:
    """check(text) -> int, answered from the verdicts kept for `key` when the text was seen before."""

    def __init__(self, db: sqlite_utils.Database, key: str, check: Callable[[Any], int]) -> None:
        self.key = key
        self.check = check
        self.known: dict[bytes, int] = dict(_load(db, key))
        self.new: dict[bytes, int] = {}
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
        hit = self.known.get(d)
        if hit is None:
            hit = self.check(text)
            if len(self.known) < MEMORY_LIMIT:
                self.known[d] = hit
                self.new[d] = hit
        # texts only: 1, 1.0 and True are one dict key but three texts ("1", "1.0", "True")
        if isinstance(text, (str, bytes)) and self._seen_chars + len(text) <= SEEN_CHARS:
            self.seen[text] = hit
            self._seen_chars += len(text)
        return hit


def _load(db: sqlite_utils.Database, key: str) -> list[tuple[bytes, int]]:
    try:
        return [(bytes(d), int(r)) for d, r in
                db.execute(f"SELECT digest, result FROM {TABLE} WHERE checker = ?", [key]).fetchall()]
    except sqlite3.OperationalError:  # no such table yet
        return []


def save(db: sqlite_utils.Database, checks: list[Remembered]) -> int:
    """Write the verdicts found since the last save; returns how many (0 when the database is read-only
    or busy: they are found again next time)."""
    pending = [c for c in checks if c.new]
    if not pending or db.conn.in_transaction:  # never commit a caller's open transaction
        return 0
    written = 0
    try:
        with db.conn:
            db.conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (checker TEXT NOT NULL, digest BLOB NOT NULL, "
                            f"result INTEGER NOT NULL, PRIMARY KEY (checker, digest)) WITHOUT ROWID")
            for c in pending:
                name = c.key.split(":", 1)[0]
                db.conn.execute(f"DELETE FROM {TABLE} WHERE checker >= ? AND checker < ? AND checker != ?",
                                [f"{name}:", f"{name};", c.key])
                db.conn.executemany(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?)",
                                    [(c.key, d, r) for d, r in sorted(c.new.items())])  # in key order: appends
                written += len(c.new)
    except sqlite3.Error:  # read-only, locked, or full: no verdicts kept, nothing lost
        return 0
    for c in pending:
        c.new.clear()
    return written
