"""The feed's stored samples on disk (store.feed_samples, m509) and the remembered text verdicts
(store.text_checks): smaller layouts that lose nothing.

- frames (times, codes, cells) are stored once and shared by every set with the same rows; values and
  frames round-trip bit for bit whatever the numbers (decimals, sums of floats, -0.0, infinities);
- a database written in the first layouts (one chunk row per set and hour, one verdict row per text)
  migrates: its chunks are rebuilt from the rows into the same samples and findings, its verdicts are
  read and moved;
- an ingest's build reads in bounded pieces of hours and stores exactly what one whole read stores.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st
from test_changes_stored import _check, _dirty, _file, _week

from tracedesk.analysis import feed_ready, refusals
from tracedesk.ingest import ingest_paths
from tracedesk.store import MIGRATIONS, connect, text_checks
from tracedesk.store import feed as store_feed
from tracedesk.store import feed_samples
from tracedesk.store.feed_dirty import NS_PER_HOUR
from tracedesk.store.migrations import UNUSED_HANDOFF_INDEX

HOUR0 = 1_763_942_400_000_000_000 // NS_PER_HOUR


def _bits(a: np.ndarray) -> list[int]:
    return np.asarray(a, dtype=np.float64).view(np.int64).tolist()


floats = st.floats(allow_nan=False, allow_infinity=True, width=64)
decimals = st.builds(lambda i, k: i / 10.0 ** k, st.integers(-10**12, 10**12), st.integers(0, 9))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(floats, decimals, st.just(-0.0), st.integers(-2**40, 2**40).map(float)), min_size=1,
                max_size=60))
def test_values_round_trip_bit_for_bit(values: list[float]) -> None:
    v = np.array(values, dtype=np.float64)
    blob = feed_samples._values_blob(v)
    assert blob[0] == feed_samples.FRAME_FORMAT
    assert _bits(feed_samples._values_decoded(blob)) == _bits(v)


def test_values_in_decimal_digits_are_stored_as_narrow_integers() -> None:
    durations = np.array([(end - start) / 1e6 for start, end in [(0, 955_554_123), (7, 1_207_133_000), (1, 2)]])
    blob = feed_samples._values_blob(durations)
    assert list(blob[:4]) == [feed_samples.FRAME_FORMAT, feed_samples._DECIMALS, 6, 4]  # ns in ms: 6 digits, int32
    assert _bits(feed_samples._values_decoded(blob)) == _bits(durations)
    sums = np.array([0.0041105000000000004, 0.1 + 0.2])  # sums of floats: no exact decimal form
    assert feed_samples._decimal(sums) is None
    assert feed_samples._values_blob(sums)[1] == feed_samples._FLOATS
    assert feed_samples._decimal(np.array([1.0, -0.0])) is None  # -0.0 would come back as 0.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 4 * 10**12), min_size=1, max_size=50), st.sampled_from([1, 1_000, 10**6]),
       st.integers(0, 3), st.data())
def test_frames_round_trip(offsets: list[int], unit: int, k: int, data: st.DataObject) -> None:
    t = np.array(sorted(HOUR0 * NS_PER_HOUR + o * unit // 1_000 for o in offsets), dtype=np.int64)
    n = len(t)
    codes = [np.array(data.draw(st.lists(st.integers(-1, 300), min_size=n, max_size=n)), dtype=np.int64)
             for _ in range(k)]
    cells = [[f"cell {c}" for c in range(int(col.max()) + 1)] for col in codes]
    body = feed_samples._frame_body(t, codes, cells)
    got_t, got_codes, got_cells = feed_samples._frame_decoded(n, k, body)
    assert got_t.tolist() == t.tolist()
    assert got_cells == cells
    if k:
        assert got_codes is not None and got_codes.T.tolist() == [c.tolist() for c in codes]
    else:
        assert got_codes is None


def test_a_blob_of_an_unknown_format_names_the_fix() -> None:
    with pytest.raises(ValueError, match=r"format 9 .*DELETE FROM feed_chunks"):
        feed_samples._frame_decoded(1, 0, bytes([9]) + zlib.compress(b""))
    with pytest.raises(ValueError, match=r"format 9\.0 .*DELETE FROM feed_chunks"):
        feed_samples._values_decoded(bytes([9, 0]))


def _layout(path: str) -> dict[str, Any]:
    with sqlite3.connect(path) as c:
        return {
            "chunks": c.execute("SELECT COUNT(*) FROM feed_chunks").fetchone()[0],
            "frames": c.execute("SELECT COUNT(*) FROM feed_frames").fetchone()[0],
            "orphans": c.execute("SELECT COUNT(*) FROM feed_frames WHERE id NOT IN (SELECT frame FROM feed_chunks)"
                                 ).fetchone()[0],
            "sets": c.execute("SELECT COUNT(*) FROM feed_sample_sets").fetchone()[0],
        }


def test_sets_with_the_same_rows_share_one_frame_per_hour(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    ingest_paths(path, [_file(tmp_path, "a.json", _week(0, 48))])
    # 15 sets, 12 with samples (no TTFT, retriever or root answer text here) in each of 48 hours, over 3
    # distinct rows an hour: LLM spans (latency, tokens, answer length, refusals), TOOL spans (latency, errors),
    # traces (6)
    assert _layout(path) == {"chunks": 12 * 48, "frames": 3 * 48, "orphans": 0, "sets": 15}
    _check(path)  # the samples and findings read from them are those of the rows
    # a second ingest of new hours, the feed refreshing them: still one frame per distinct rows, none left over
    ingest_paths(path, [_file(tmp_path, "b.json", _week(48, 6, offset=10_000))], feed_samples=False)
    _check(path)
    assert _layout(path) == {"chunks": 12 * 54, "frames": 3 * 54, "orphans": 0, "sets": 15}


def test_the_ingest_reads_in_bounded_pieces_and_stores_what_one_read_stores(tmp_path: Path, monkeypatch) -> None:
    files = [_file(tmp_path, "a.json", _week(0, 48))]
    whole, pieces = str(tmp_path / "whole.db"), str(tmp_path / "pieces.db")
    ingest_paths(whole, files, feed_samples=False)
    _check(whole)  # the feed's own build: every family read whole
    reads: list[tuple[Any, Any]] = []
    real = store_feed.read_family

    def spy(db: Any, fam: Any, group_by: Any, since: Any, until: Any) -> Any:
        reads.append((since, until))
        return real(db, fam, group_by, since, until)

    monkeypatch.setattr(feed_samples, "PIECE_TRACES", 100)  # 18 traces an hour: 5 hours a piece
    monkeypatch.setattr(store_feed, "read_family", spy)
    ingest_paths(pieces, files)
    monkeypatch.undo()
    bounds = sorted(set(reads), key=lambda r: -1 if r[0] is None else r[0])
    assert len(bounds) == 10 and len(reads) == 10 * 5  # 48 hours in 10 pieces, for each of the 5 families
    assert bounds[0][0] is None and bounds[-1][1] is None  # nothing before the first or after the last hour left out
    for since, until in bounds[1:-1]:
        assert (until - since) == 5 * NS_PER_HOUR
    with sqlite3.connect(whole) as a, sqlite3.connect(pieces) as b:
        q = ("SELECT s.key, c.hour, f.hour, f.n, f.body, c.v FROM feed_chunks c JOIN feed_frames f ON f.id = c.frame "
             "JOIN feed_sample_sets s ON s.id = c.sample_set ORDER BY s.key, c.hour")
        assert a.execute(q).fetchall() == b.execute(q).fetchall()
        assert len(a.execute(q).fetchall()) == 12 * 48
    assert _dirty(pieces) == 0
    _check(pieces)


# ---------------------------------------------------------------------------------------------
# A database written by the previous release (feed chunks m506 layout, verdicts one row per text)

def _first_layout_chunk(sid: int, hour: int, t: np.ndarray, v: np.ndarray, codes: np.ndarray,
                        cells: list[list[Any]]) -> tuple[Any, ...]:
    """A feed_chunks row as the first layout wrote it: time gaps and values as int64/float64, codes int8
    (rows x dimensions), each deflated at level 1, cells as JSON."""
    dt = np.diff(t, prepend=0)
    dt[0] = t[0]
    return (sid, hour, len(t), zlib.compress(dt.astype("<i8").tobytes(), 1), zlib.compress(v.astype("<f8").tobytes(), 1),
            zlib.compress(codes.astype("<i1").tobytes(), 1), json.dumps(cells))


def _previous_release(path: str) -> sqlite_utils.Database:
    db = sqlite_utils.Database(path)
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_ns INTEGER)")
    for name, step in MIGRATIONS:
        if name in ("m509_feed_frames", "m510_drop_unused_handoff_index"):
            continue
        with db.conn:
            step(db)
            db.execute("INSERT INTO _migrations VALUES (?, 0)", [name])
    return db


def test_a_database_of_the_first_layouts_migrates_and_its_feed_is_the_rows_feed(tmp_path: Path, monkeypatch) -> None:
    path = str(tmp_path / "new.db")
    ingest_paths(path, [_file(tmp_path, "a.json", _week(0, 30))], feed_samples=False)
    fresh = _check(path)  # the samples and findings of this data, stored by this release
    with sqlite3.connect(path) as c:
        verdicts = [(k, d, r) for k, digests, results in c.execute("SELECT checker, digests, results FROM text_verdicts")
                    for d, r in text_checks._unpacked(digests, results)]
    # 11 distinct LLM answers ("answer 0".."answer 10"), each checked for a refusal (the roots hold no text)
    assert len(verdicts) == 11 and {k.split(":")[0] for k, _d, _r in verdicts} == {"refusal"}

    # the same data as the previous release left it: its chunk layout, stale chunks of a set of the old
    # version, and the verdicts one row per text in `text_checks`
    path2 = str(tmp_path / "old.db")
    _previous_release(path2).conn.close()
    ingest_paths(path2, [_file(tmp_path, "a.json", _week(0, 30))], feed_samples=False)
    with sqlite3.connect(path2) as c:
        c.execute("DELETE FROM _migrations WHERE name IN ('m509_feed_frames', 'm510_drop_unused_handoff_index')")
        c.execute("PRAGMA user_version = 0")
        for stmt in ("DROP TABLE feed_chunks", "DROP TABLE feed_frames", "DROP TABLE IF EXISTS text_verdicts",
                     "CREATE TABLE feed_chunks (sample_set INTEGER NOT NULL, hour INTEGER NOT NULL, n INTEGER NOT NULL, "
                     "t BLOB NOT NULL, v BLOB NOT NULL, codes BLOB, cells TEXT NOT NULL)",
                     "CREATE UNIQUE INDEX idx_feed_chunks ON feed_chunks (sample_set, hour)",
                     "CREATE INDEX idx_spans_handoff ON spans (handoff_to) WHERE handoff_to IS NOT NULL",
                     "CREATE TABLE text_checks (checker TEXT NOT NULL, digest BLOB NOT NULL, result INTEGER NOT NULL, "
                     "PRIMARY KEY (checker, digest)) WITHOUT ROWID",
                     "DELETE FROM feed_sample_sets", "DELETE FROM feed_dirty"):
            c.execute(stmt)
        c.execute("INSERT INTO feed_sample_sets (id, key, name) VALUES (1, 'an old key', 'llm_latency')")
        t = np.array([HOUR0 * NS_PER_HOUR + 5, HOUR0 * NS_PER_HOUR + 9], dtype=np.int64)
        c.execute("INSERT INTO feed_chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
                  _first_layout_chunk(1, HOUR0, t, np.array([800.0, 830.5]), np.array([[0], [1]]), [["billing", "search"]]))
        c.executemany("INSERT INTO text_checks VALUES (?, ?, ?)", verdicts)
    db = connect(path2)  # m509, m510 applied: the first layout's chunks and sets are dropped
    assert [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")][-2:] == [
        "m509_feed_frames", "m510_drop_unused_handoff_index"]
    assert db.execute("SELECT COUNT(*) FROM feed_sample_sets").fetchone()[0] == 0
    assert db.execute("SELECT name FROM sqlite_master WHERE name = ?", [UNUSED_HANDOFF_INDEX]).fetchall() == []
    db.conn.close()

    def fail(self: Any, text: Any) -> bool:
        raise AssertionError(f"checked again: {text!r}")

    monkeypatch.setattr(refusals.RefusalDetector, "is_refusal", fail)  # the old rows' verdicts are read
    assert feed_ready.prepare(connect(path2)) is True
    monkeypatch.undo()
    assert _check(path2) == fresh  # rebuilt from the rows: the same samples and findings
    with sqlite3.connect(path2) as c:
        assert c.execute("SELECT name FROM sqlite_master WHERE name = 'text_checks'").fetchall() == []
        moved = [(k, d, r) for k, digests, results in c.execute("SELECT checker, digests, results FROM text_verdicts")
                 for d, r in text_checks._unpacked(digests, results)]
    assert sorted(moved) == sorted(verdicts)
    assert _layout(path2) == _layout(path)


# ---------------------------------------------------------------------------------------------
# Remembered verdicts in parts

def _digest_of(i: int) -> bytes:
    return hashlib.blake2b(str(i).encode(), digest_size=16).digest()


def test_verdicts_are_saved_in_parts_and_folded_past_the_limit(tmp_path: Path) -> None:
    db = connect(str(tmp_path / "t.db"))
    checker = text_checks.Remembered(db, "probe:1", lambda text: 0)
    for i in range(text_checks.MAX_PARTS + 2):
        checker.remember(_digest_of(i), i * 1000 - 3)  # needs two bytes
        assert text_checks.save(db, [checker]) == 1
        parts = db.execute("SELECT part, length(digests) FROM text_verdicts WHERE checker = 'probe:1' ORDER BY part"
                           ).fetchall()
        if i < text_checks.MAX_PARTS:
            assert parts == [(p, 16) for p in range(i + 1)]
    assert parts == [(0, 16 * (text_checks.MAX_PARTS + 1)), (1, 16)]  # folded at the ninth save, one more after
    again = text_checks.Remembered(db, "probe:1", lambda text: 0)
    assert again.verdicts() == {_digest_of(i): i * 1000 - 3 for i in range(text_checks.MAX_PARTS + 2)}
    blob = db.execute("SELECT results FROM text_verdicts WHERE part = 1").fetchone()[0]
    assert blob[:2] == bytes([text_checks.FORMAT, 2])
    # another version of the same check replaces these; another check keeps its own
    other = text_checks.Remembered(db, "other:1", lambda text: 1)
    other.remember(b"x" * 16, 1)
    newer = text_checks.Remembered(db, "probe:2", lambda text: 0)
    newer.remember(b"y" * 16, 0)
    assert text_checks.save(db, [other, newer]) == 2
    assert db.execute("SELECT checker, part FROM text_verdicts ORDER BY 1, 2").fetchall() == [
        ("other:1", 0), ("probe:2", 0)]


def test_verdicts_of_the_first_layout_are_read_and_moved(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    connect(path).conn.close()
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE text_checks (checker TEXT NOT NULL, digest BLOB NOT NULL, result INTEGER NOT NULL, "
                  "PRIMARY KEY (checker, digest)) WITHOUT ROWID")
        c.executemany("INSERT INTO text_checks VALUES (?, ?, ?)",
                      [("probe:1", _digest_of(1), 1), ("probe:1", _digest_of(2), 0), ("probe:0", _digest_of(3), 1),
                       ("kept:7", _digest_of(4), 5)])
    db = connect(path)
    checker = text_checks.Remembered(db, "probe:1", lambda text: 0)
    assert checker.verdicts() == {_digest_of(1): 1, _digest_of(2): 0}  # read from the first layout
    assert checker("new text") == 0
    assert text_checks.save(db, [checker]) == 1
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'text_checks'").fetchall() == []
    stored = {k: dict(text_checks._unpacked(d, r)) for k, d, r in
              db.execute("SELECT checker, digests, results FROM text_verdicts").fetchall()}
    # probe:0 was another version of the saved check: gone; kept:7 is another check: moved as it was
    assert stored == {"kept:7": {_digest_of(4): 5},
                      "probe:1": {_digest_of(1): 1, _digest_of(2): 0, text_checks.digest("new text"): 0}}
