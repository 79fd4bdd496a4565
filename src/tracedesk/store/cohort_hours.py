"""Per-hour per-cohort aggregates of the Overview and Cohorts figures (the SQL side; the figures are
computed in analysis.cohort_hours).

Why: the first look at the Overview (KPIs, worst cohorts, over time) and the Cohorts page read every
trace's and evaluation's samples with six cohort columns and grouped them in pandas: ~43 s CPU at 10M
spans, ~3 s at 1M. Here each (hour, dimension, cohort, signal) keeps what its figures need: the sample
count, the count of non-zero samples (rates), the EXACT sum of the values (means, sums) and, for the
signals shown as percentiles, the sorted values themselves (a percentile is not a sum of hours). A
figure over the whole range is then a sum over ~170 hours per cohort instead of a scan of samples.

Exact sums: a float64 is M * 2**(e - 53) with an integer M (|M| < 2**53), so a sum of floats is an
integer multiple of 2**-SCALE; it is kept as that integer (stripped of its trailing zero bits) and the
figure is the correctly rounded quotient. The hours of a cohort therefore add up to the same float
whatever their order (pandas' compensated sums of the same samples give that float too: the tests
compare both on the labelled weeks).

Freshness: the rows of an hour are rebuilt when the changes feed clears that hour's dirty mark
(store.feed_dirty: the same triggers; feed_samples.refresh calls `on_clear` inside its transaction
before deleting the marks), and an hour still marked dirty is read from the samples, not from its rows.
The set of rows is identified by a key (the aggregation's version, the signals and dimensions, the
text checkers' identity): another key drops every row and the set is built again.
"""
from __future__ import annotations

import contextlib
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlite_utils

if TYPE_CHECKING:  # numpy is imported where used: migrations import this module, and `tracedesk ingest`
    # imports the store without numpy or pandas (cli.ingest_cmd._without_dataframes)
    import numpy as np

#: sums are integers times 2**-SCALE (the smallest float64 step, 2**-1074, times 2**-53 for M)
SCALE = 1074 + 53

Row = tuple[int, str, str, str, int, int, str, "bytes | None", "int | None", "int | None"]

#: called by the feed's refresh with the dirty (lo, hi) hour ranges it is about to clear (set by
#: analysis.cohort_hours on import); None: nothing stored to keep fresh
ON_CLEAR: list[Callable[[sqlite_utils.Database, list[tuple[int, int]]], None]] = []


def m511_cohort_hours(db: sqlite_utils.Database) -> None:
    """The aggregate rows and the key of the set they form (empty: built by the first read or ingest)."""
    for stmt in (
        "CREATE TABLE IF NOT EXISTS cohort_hours (hour INTEGER NOT NULL, dim TEXT NOT NULL, cohort TEXT NOT NULL, "
        "signal TEXT NOT NULL, n INTEGER NOT NULL, nz INTEGER NOT NULL, total TEXT NOT NULL, vals BLOB, "
        "t_min INTEGER, t_max INTEGER, PRIMARY KEY (hour, dim, cohort, signal)) WITHOUT ROWID",
        "CREATE TABLE IF NOT EXISTS cohort_hour_sets (key TEXT PRIMARY KEY) WITHOUT ROWID",
        # per hour, dimension and mean signal: which of the hour's samples (in sample order) each
        # cohort holds, so a cohort's mean is pandas' grouped mean over the very rows metrics groups
        "CREATE TABLE IF NOT EXISTS cohort_hour_members (hour INTEGER NOT NULL, dim TEXT NOT NULL, "
        "signal TEXT NOT NULL, rows BLOB NOT NULL, codes BLOB NOT NULL, names TEXT NOT NULL, "
        "PRIMARY KEY (hour, dim, signal)) WITHOUT ROWID",
    ):
        db.conn.execute(stmt)


def stored_key(db: sqlite_utils.Database) -> str | None:
    """The key of the stored set (None: none built, or the tables do not exist: a read-only old file)."""
    try:
        row = db.conn.execute("SELECT key FROM cohort_hour_sets").fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


def dirty_ranges(db: sqlite_utils.Database) -> list[tuple[int, int]] | None:
    """The hours marked dirty (store.feed_dirty), merged into inclusive ranges; None without the table."""
    from .feed_samples import _ranges

    try:
        marks = db.conn.execute("SELECT lo, hi FROM feed_dirty").fetchall()
    except sqlite3.OperationalError:
        return None
    return _ranges(marks)


def triggers_current(db: sqlite_utils.Database) -> bool:
    """Whether the feed's dirty-hour triggers are all in place (a table rebuilt by a migration drops them)."""
    from .feed_dirty import TRIGGERS

    found = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND "
                                          "name LIKE 'feed_dirty_%'")}
    return found == set(TRIGGERS)


def feed_sets(db: sqlite_utils.Database) -> int:
    """How many sample sets the changes feed keeps (0: it rebuilds whole, dirty marks mean nothing to it)."""
    return int(db.conn.execute("SELECT COUNT(*) FROM feed_sample_sets").fetchone()[0])


def clear_marks(db: sqlite_utils.Database, ranges: Iterable[tuple[int, int]]) -> None:
    """Delete the dirty marks lying inside `ranges` (only when the feed keeps no set: see feed_sets)."""
    for lo, hi in ranges:
        db.conn.execute("DELETE FROM feed_dirty WHERE lo >= ? AND hi <= ?", [lo, hi])


Member = tuple[int, str, str, bytes, bytes, str]


def replace(db: sqlite_utils.Database, key: str, rows: Sequence[Row], members: Sequence[Member],
            hours: tuple[int, int] | None) -> None:
    """Write `rows` and `members` for the hours lo..hi (None: the whole set, under `key`), replacing
    what was there. Inside the caller's transaction."""
    conn = db.conn
    if hours is None:
        conn.execute("DELETE FROM cohort_hours")
        conn.execute("DELETE FROM cohort_hour_members")
        conn.execute("DELETE FROM cohort_hour_sets")
        conn.execute("INSERT INTO cohort_hour_sets VALUES (?)", [key])
    else:
        conn.execute("DELETE FROM cohort_hours WHERE hour >= ? AND hour <= ?", list(hours))
        conn.execute("DELETE FROM cohort_hour_members WHERE hour >= ? AND hour <= ?", list(hours))
    insert(db, rows, members)


def insert(db: sqlite_utils.Database, rows: Sequence[Row], members: Sequence[Member]) -> None:
    """Add rows and members of hours that hold none yet (a whole set written piece by piece)."""
    db.conn.executemany("INSERT INTO cohort_hours VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.conn.executemany("INSERT INTO cohort_hour_members VALUES (?, ?, ?, ?, ?, ?)", members)


def read_members(db: sqlite_utils.Database, signals: Sequence[str], dims: Sequence[str]) -> list[tuple[Any, ...]]:
    """(hour, dim, signal, rows, codes, names) of the given signals and dims, in hour order."""
    sig = ", ".join("?" for _ in signals)
    dim = ", ".join("?" for _ in dims)
    return db.conn.execute(
        f"SELECT hour, dim, signal, rows, codes, names FROM cohort_hour_members WHERE signal IN ({sig}) "
        f"AND dim IN ({dim}) ORDER BY hour", [*signals, *dims]).fetchall()


def drop(db: sqlite_utils.Database) -> None:
    """Forget the set (its staleness can no longer be told): rebuilt by the next read."""
    try:
        db.conn.execute("DELETE FROM cohort_hour_sets")
        db.conn.execute("DELETE FROM cohort_hours")
        db.conn.execute("DELETE FROM cohort_hour_members")
    except sqlite3.OperationalError:
        pass


def read(db: sqlite_utils.Database, signals: Sequence[str], dims: Sequence[str], with_values: bool = True
         ) -> list[tuple[Any, ...]]:
    """(hour, dim, cohort, signal, n, nz, total, vals, t_min, t_max) of the given signals and dims ("" is
    the whole traffic), in hour order."""
    sig = ", ".join("?" for _ in signals)
    dim = ", ".join("?" for _ in dims)
    vals = "vals" if with_values else "NULL"
    return db.conn.execute(
        f"SELECT hour, dim, cohort, signal, n, nz, total, {vals}, t_min, t_max FROM cohort_hours "
        f"WHERE signal IN ({sig}) AND dim IN ({dim}) ORDER BY hour", [*signals, *dims]).fetchall()


# ---------------------------------------------------------------------------------------------
# Exact sums and value blobs (no SQL, but the stored format lives with the table)


def exact_sums(groups: np.ndarray, values: np.ndarray, n_groups: int) -> list[int]:
    """Per group (0..n_groups-1), the exact sum of its float64 values times 2**SCALE, as a Python int."""
    import numpy as np

    out = [0] * n_groups
    if not len(values):
        return out
    m, e = np.frexp(values.astype(np.float64))
    big = (m * 2.0**53).astype(np.int64)  # exact: m has 53 significant bits
    key = groups.astype(np.int64) * 4096 + (e.astype(np.int64) + 2048)
    order = np.argsort(key, kind="stable")
    ks, ms = key[order], big[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ks)) + 1]).astype(np.int64)
    # halves summed in int64 (2**27 * n never overflows for n < 2**36), joined as Python ints
    hi = np.add.reduceat(ms >> 26, starts)
    lo = np.add.reduceat(ms & ((1 << 26) - 1), starts)
    for k, h, lo_ in zip(ks[starts].tolist(), hi.tolist(), lo.tolist()):
        g, exp = divmod(k, 4096)
        out[g] += ((h << 26) + lo_) << (exp - 2048 + 1074)
    return out


def encode_sum(total: int) -> str:
    """An exact sum as text: 'shift:hex' with total = int(hex, 16) << shift (trailing zero bits stripped)."""
    if total == 0:
        return "0:0"
    shift = (total & -total).bit_length() - 1
    return f"{shift}:{total >> shift:x}"


def decode_sum(text: str) -> int:
    shift, digits = text.split(":")
    return int(digits, 16) << int(shift)


def to_float(total: int) -> float:
    """The exact sum rounded once to the nearest float (int / int true division is correctly rounded)."""
    return total / (1 << SCALE)


def pack_ints(values: np.ndarray, dtype: str) -> bytes:
    return zlib.compress(values.astype(dtype).tobytes(), 1)


def unpack_ints(blob: bytes, dtype: str) -> np.ndarray:
    import numpy as np

    return np.frombuffer(zlib.decompress(blob), dtype=dtype).astype(np.int64)


#: value blob layouts (the first byte): float64s deflated; decimal digits (ints / 10**k == each value bit
#: for bit: feed_samples._decimal) as narrow integers, byte-shuffled, deflated; the same for ascending
#: values as their gaps (the first value, then each step up: small where the values are close). On the
#: benchmark's 100,818 spans the blobs took 631 KB as float64s (6.3 B/span) and 303 KB so: durations from
#: millisecond or nanosecond stamps are such decimals, and a cohort-hour's sorted durations climb in steps
#: far narrower than the values.
FLOATS, DECIMALS, ASCENDING_DECIMALS = 0, 1, 2


def pack_values(values: np.ndarray, *, ascending: bool = False) -> bytes:
    """`values` (float64, ascending when `ascending`) stored: the smallest exact layout of the above."""
    import numpy as np

    from .feed_samples import LEVEL, _decimal, _narrow, _shuffled

    v = values.astype(np.float64)
    floats = bytes([FLOATS]) + zlib.compress(v.astype("<f8").tobytes(), LEVEL)
    found = _decimal(v)
    if found is None:
        return floats
    ints, k = found
    layout = DECIMALS
    if ascending and len(ints) and bool((np.diff(ints) >= 0).all()):
        layout, ints = ASCENDING_DECIMALS, np.diff(ints, prepend=0)
    packed, width = _narrow(ints)
    decimals = bytes([layout, k, width]) + zlib.compress(_shuffled(packed, width), LEVEL)
    return decimals if len(decimals) < len(floats) else floats


def unpack_values(blob: bytes) -> np.ndarray:
    """The float64 values `pack_values` stored, bit for bit."""
    import numpy as np

    from .feed_samples import _unshuffled

    if blob[0] == FLOATS:
        return np.frombuffer(zlib.decompress(blob[1:]), dtype="<f8").astype(np.float64)
    if blob[0] not in (DECIMALS, ASCENDING_DECIMALS):
        raise ValueError(f"a cohort_hours value blob of layout {blob[0]} (this version reads {FLOATS}, {DECIMALS}, "
                         f"{ASCENDING_DECIMALS}): DELETE FROM cohort_hour_sets, and the next read rebuilds the rows")
    k, width = blob[1], blob[2]
    ints = np.frombuffer(_unshuffled(zlib.decompress(blob[3:]), width), dtype=f"<i{width}").astype(np.int64)
    if blob[0] == ASCENDING_DECIMALS:
        ints = np.cumsum(ints)
    return ints.astype(np.float64) / 10.0 ** k


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """BEGIN IMMEDIATE (the write lock first: a build reads what it then writes) ... COMMIT, rolled back on
    any error."""
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
