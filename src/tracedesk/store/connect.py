"""Opening a database: by path or URL, with the settings every connection needs, migrated once per process.

- `connect(db)` opens (creating if needed) a tracedesk database and brings its schema up to date. The
  migration check runs once per process and file; later opens read two header fields (see migrations.py).
- `open_existing(path)` opens a file that must already be a tracedesk database and refuses anything else
  (another application's SQLite file is never migrated in place).
- `data_version(db)` is the cache key for anything computed from the database: it changes whenever any
  connection commits, unlike the file's mtime (WAL commits do not touch the main file).

Store functions take the opened handle (`sqlite_utils.Database` today); a second backend plugs in here.
"""
from __future__ import annotations

import functools
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlite_utils

from ..errors import NotATracedeskDatabase, StoreError
from .migrations import APPLICATION_ID, migrate

from ..dbpath import DB_ENV_VAR, DEFAULT_DB_PATH, default_db_path  # noqa: F401  (re-exported by store)
#: URL forms `connect` accepts besides a plain path (named in its error for anything else).
URL_FORMS = ("sqlite:///relative/path.db", "sqlite:////absolute/path.db", "sqlite://:memory:")

# (resolved path, device, inode) of files this process has migrated: later opens skip even the check.
_MIGRATED: set[tuple[str, int, int]] = set()
_MIGRATED_LOCK = threading.Lock()
# Set on a Database once its schema is known to be current (sqlite3 connections take no attributes or weakrefs).
_CHECKED_ATTR = "_tracedesk_schema_checked"


def resolve_path(db: "str | os.PathLike[str] | None") -> str:
    """A plain path (or ":memory:") from a path, a `sqlite://` URL, or None (the default database)."""
    if db is None:
        return default_db_path()
    text = os.fspath(db)
    if "://" not in text:
        return text
    scheme, _, rest = text.partition("://")
    if scheme != "sqlite":
        raise StoreError(f"Unsupported database URL {text!r}: tracedesk stores traces in SQLite. "
                         f"Use a file path or one of {', '.join(URL_FORMS)}.")
    if rest == ":memory:":
        return ":memory:"
    if not rest.startswith("/") or rest == "/":
        raise StoreError(f"Database URL {text!r} has no path. Use one of {', '.join(URL_FORMS)}.")
    return rest[1:]  # sqlite:///x.db -> x.db, sqlite:////abs/x.db -> /abs/x.db


def _file_key(path: str) -> tuple[str, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.realpath(path), st.st_dev, st.st_ino)


def fold(text: str | None) -> str | None:
    """Unicode case folding for text search (`école` matches `ÉCOLE`, `straße` matches `STRASSE`);
    SQLite's own lower()/LIKE fold ASCII only."""
    return text.casefold() if isinstance(text, str) else None


def register_functions(conn: sqlite3.Connection) -> None:
    """SQL functions the store's queries use: td_fold(text) (see fold). Deterministic, so SQLite may
    evaluate it once per row and value."""
    conn.create_function("td_fold", 1, fold, deterministic=True)


#: How hard a commit waits for the disk: NORMAL (WAL default: durable across application crashes), FULL
#: (also across power loss: the receiver, whose acknowledgements promise the data is stored), OFF (a
#: private file being bulk-loaded, see `open_bulk`).
SYNCHRONOUS = ("OFF", "NORMAL", "FULL")

#: Page size of a NEW database file (an existing file keeps its own). Span rows are ~0.5 KB with a long
#: tail: on 4 KB pages the room left at the end of each page was 140 bytes per span (14% of the table);
#: on 16 KB pages about a quarter of that (issue 13, "smaller on disk").
PAGE_SIZE = 16384


#: Page cache of every connection (KiB; SQLite's default is 2 MB, filled only as pages are read). With 16 KB
#: pages a lookup that misses copies four times the bytes: at the default, the 50-row page of the latency
#: filter (54k trace-row lookups in duration order) went 0.056 -> 0.086 s CPU at 1M spans; 8 MB gave
#: 0.088 s, 16 MB 0.045 s, 32 MB 0.030 s (and every other filter at or below its 4 KB-page time).
CACHE_KIB = 32768


def _page_size(conn: sqlite3.Connection) -> None:
    """Set PAGE_SIZE before anything creates the file's first page (a no-op on an existing database),
    and the page cache that keeps as many pages as the default kept of 4 KB ones."""
    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")


def _configure(database: sqlite_utils.Database, path: str, synchronous: str) -> None:
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
    register_functions(database.conn)
    # The busy timeout comes first: switching a new file to WAL needs a lock another opener may hold.
    # Readers (the app) and a writer (ingest, the receiver) share the file: wait, don't fail.
    database.conn.execute("PRAGMA busy_timeout=30000")
    _page_size(database.conn)
    if path != ":memory:":
        database.conn.execute("PRAGMA journal_mode=WAL")
    database.conn.execute(f"PRAGMA synchronous={synchronous}")
    from .blobs import codec

    codec(database)  # td_json(): compacted attributes/events read back as JSON text in SQL


def open_database(path: str, *, check_same_thread: bool = True, synchronous: str = "NORMAL") -> sqlite_utils.Database:
    """A configured connection to `path` (created if missing), NOT migrated: use `connect` for that."""
    if path != ":memory:":
        parent = Path(path).expanduser().resolve().parent
        if not parent.is_dir():
            raise FileNotFoundError(f"Cannot create database {path!r}: folder {str(parent)!r} does not exist.")
    database = sqlite_utils.Database(sqlite3.connect(path, check_same_thread=check_same_thread))
    _configure(database, path, synchronous)
    return database


def open_bulk(path: "str | os.PathLike[str]") -> sqlite_utils.Database:
    """A migrated connection to a *private* new file for a bulk load: no journal, no fsyncs (a crash
    leaves garbage, so load into a temporary name and publish it after `finish_bulk`)."""
    database = sqlite_utils.Database(sqlite3.connect(os.fspath(path)))
    register_functions(database.conn)
    _page_size(database.conn)
    database.conn.execute("PRAGMA journal_mode=OFF")
    database.conn.execute("PRAGMA synchronous=OFF")
    try:
        ensure_migrated(database)
    except BaseException:
        database.close()
        raise
    return database


def finish_bulk(database: sqlite_utils.Database) -> None:
    """Switch a bulk-loaded file to WAL (what every other connection expects) and close it."""
    try:
        database.conn.execute("PRAGMA journal_mode=WAL")
    finally:
        database.close()


def ensure_migrated(database: sqlite_utils.Database, path: str | None = None) -> list[str]:
    """Migrate `database` unless this process already did so for the same file (and its header agrees).

    A handle checked once is marked, so passing an open Database around costs one attribute read.
    """
    from .migrations import is_current, schema_version

    if getattr(database, _CHECKED_ATTR, None) == schema_version():  # a connection never changes files
        return []
    key = _file_key(path) if path and path != ":memory:" else None
    if key is not None and key in _MIGRATED and is_current(database):
        applied: list[str] = []  # (a file replaced at the same path, with its inode reused, fails is_current)
    else:
        applied = migrate(database)
    if key is not None:
        with _MIGRATED_LOCK:
            _MIGRATED.add(key)
    setattr(database, _CHECKED_ATTR, schema_version())
    return applied


def connect(db: "str | os.PathLike[str] | sqlite_utils.Database | None" = None, *,
            check_same_thread: bool = True, synchronous: str = "NORMAL") -> sqlite_utils.Database:
    """Open (creating if needed) a tracedesk database and bring its schema up to date.

    `db` may be a path, a `sqlite://` URL, ":memory:", an open `sqlite_utils.Database` (migrated and
    returned as is), or None for the default path ($TRACEDESK_DB, else ./tracedesk.db). `synchronous`:
    see SYNCHRONOUS.
    """
    if isinstance(db, sqlite_utils.Database):
        register_functions(db.conn)  # a connection opened elsewhere still gets the store's functions
        ensure_migrated(db)
        return db
    path = resolve_path(db)
    database: sqlite_utils.Database | None = None
    try:
        database = open_database(path, check_same_thread=check_same_thread, synchronous=synchronous)
        ensure_migrated(database, path)
    except sqlite3.DatabaseError as exc:
        if database is not None:
            database.close()
        if "not a database" in str(exc) or "malformed" in str(exc):
            raise NotATracedeskDatabase(f"{path!r} is not a tracedesk database ({exc}), so it was left "
                                        "untouched. Pass a database made by `tracedesk ingest`, or a new path.") from None
        raise
    except BaseException:
        if database is not None:
            database.close()
        raise
    return database


def is_tracedesk_db(path: "str | os.PathLike[str]") -> bool:
    """Whether `path` is a tracedesk database (made by this release or an earlier one). Never writes."""
    p = Path(os.fspath(path)).expanduser()
    try:
        with p.open("rb") as fh:
            header = fh.read(100)
    except OSError:
        return False
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return False
    # Read through SQLite, not the header bytes: a fresh stamp may still sit in the WAL file. Reads only.
    try:
        conn = sqlite3.connect(str(p))
    except sqlite3.Error:
        return False
    try:
        if conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID:
            return True
        # Databases from before the header stamp: recognised by the first migration in their `_migrations`.
        return conn.execute("SELECT 1 FROM _migrations WHERE name = 'm001_spans'").fetchone() is not None
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def open_existing(path: "str | os.PathLike[str]", *, check_same_thread: bool = True) -> sqlite_utils.Database:
    """Open a database that must already exist and be a tracedesk one (then migrate it if it is older).

    Refuses a missing file and any other file, SQLite or not, without changing it.
    """
    text = resolve_path(path)
    if text == ":memory:":
        raise StoreError("open_existing needs a file: an in-memory database never exists beforehand.")
    p = Path(text).expanduser()
    if not p.exists():
        raise StoreError(f"No database at {text!r}. Load traces first: tracedesk ingest FILE --db {text}")
    if not is_tracedesk_db(p):
        raise NotATracedeskDatabase(
            f"{text!r} is not a tracedesk database (it was not created by tracedesk), so it was left "
            f"untouched. Pass the file `tracedesk ingest --db` created, or a new path to start one."
        )
    return connect(str(p), check_same_thread=check_same_thread)


#: files SQLite keeps beside a database while it is open or mid-transaction
SIDECAR_SUFFIXES = ("-wal", "-shm", "-journal")


def database_files(db: sqlite_utils.Database) -> set[Path]:
    """The database's own file and its sidecars (resolved; empty for an in-memory database): what an
    ingest of the folder that holds the database must not read as traces."""
    row = db.conn.execute("PRAGMA database_list").fetchone()
    if not row or not row[2]:
        return set()
    main = Path(row[2]).resolve()
    return {main, *(main.with_name(main.name + suffix) for suffix in SIDECAR_SUFFIXES)}


def data_version(db: sqlite_utils.Database) -> tuple[int, int]:
    """A value that changes whenever the database's content may have changed: the cache key of every cache.

    `PRAGMA data_version` moves when *another* connection commits; `total_changes` counts this
    connection's own writes. A file's mtime is no substitute: WAL commits leave the main file alone.
    Only comparable between calls on the same connection.
    """
    conn = db.conn
    return (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes)


P = ParamSpec("P")
R = TypeVar("R")


def with_database(fn: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[Any, P], R]:
    """Let a store-reading function take a path as well as an open database: a path is opened for the
    call and closed after it (sqlite3 connections sit in reference cycles, so one left to the garbage
    collector keeps its file descriptors until the next collection). An open Database passes through."""
    @functools.wraps(fn)
    def wrapper(db: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if isinstance(db, sqlite_utils.Database):
            return fn(db, *args, **kwargs)
        database = connect(db)
        try:
            return fn(database, *args, **kwargs)
        finally:
            database.close()
    return wrapper
