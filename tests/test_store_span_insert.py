"""The writer's span and trace-summary inserts mark exactly the dirty hours the triggers would, with them
switched off."""
from __future__ import annotations

import platform
import sys
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracedesk.models import Span
from tracedesk.store import connect, span_insert, write_batch
from tracedesk.store.feed_dirty import NS_PER_HOUR

T0 = 1_763_251_200 * 10**9  # 2025-11-16 00:00 UTC


def _span(trace: int, span: int, hour: int, minute: int, name: str = "call") -> Span:
    start = T0 + hour * NS_PER_HOUR + minute * 60 * 10**9
    return Span(trace_id=f"{trace:032x}", span_id=f"{span + 1:016x}", name=name, kind="LLM", start_ns=start,
                end_ns=start + 5 * 10**9, model="gpt-4o", input_tokens=10, output_tokens=2,
                attributes={"gen_ai.request.model": "gpt-4o", "note": name * 20})


def _write(path: str, batches: list[list[Span]], switch: object) -> tuple[list, list, list[str]]:
    """Write the batches with the given trigger switch (None: triggers on); the dirty hours of each batch,
    the stored rows, and the statements the writer ran."""
    statements: list[str] = []
    with mock.patch.object(span_insert, "_SWITCH", switch):
        db = connect(path)
        db.conn.set_trace_callback(statements.append)
        dirty = []
        for batch in batches:
            write_batch(db, batch)
            # per batch, then cleared as a feed run clears them: a replaced span's old hour must show
            dirty.append(db.execute("SELECT lo, hi FROM feed_dirty ORDER BY 1, 2").fetchall())
            with db.conn:
                db.execute("DELETE FROM feed_dirty")
        db.conn.set_trace_callback(None)
        rows = db.execute("SELECT trace_id, span_id, name, start_ns, content_hash FROM spans ORDER BY 1, 2").fetchall()
        db.conn.close()
    return dirty, rows, statements


def test_this_interpreter_switches_triggers_so_ingest_takes_the_fast_path():
    linux_cpython = (sys.platform == "linux" and sys.implementation.name == "cpython"
                     and platform.machine() in ("x86_64", "aarch64"))
    if not linux_cpython and not hasattr(__import__("sqlite3").Connection, "setconfig"):
        pytest.skip("no way to switch triggers here: inserts keep them (covered by the equality tests)")
    assert span_insert.available()


_batches = st.lists(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5), st.one_of(st.integers(-2, 30), st.integers(-500_000, -480_000)), st.integers(0, 59),
                       st.sampled_from(["call", "retry"])), min_size=1, max_size=12),
    min_size=1, max_size=5)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_batches)
def test_the_dirty_hours_equal_the_triggers_for_new_replaced_and_unchanged_spans(tmp_path_factory, spec):
    """Spans new, re-sent unchanged, and replaced with another start hour (also before 1970, ~490k hours
    before T0, where SQL division truncates toward zero), over several batches: trace summaries are
    written new, merged (replacing the row, whose old hours must be marked) and recomputed."""
    batches = [[_span(t, s, h, m, n) for t, s, h, m, n in batch] for batch in spec]
    folder = tmp_path_factory.mktemp("dirty")
    fast = _write(str(folder / "fast.db"), batches, span_insert._SWITCH)
    slow = _write(str(folder / "slow.db"), batches, None)
    assert fast[0] == slow[0] and fast[1] == slow[1]
    if span_insert.available():
        assert any(s.startswith("INSERT OR IGNORE INTO feed_dirty SELECT DISTINCT") for s in fast[2])
        # trace summaries took the same path (the statements are traced with their values bound)
        assert any(s.startswith("INSERT OR IGNORE INTO feed_dirty SELECT") and "COALESCE(" in s and " FROM " not in s
                   for s in fast[2])
        # no savepoint (its journal held a page copy per index and row) and no batch rolled back to be redone
        assert not any(s.startswith(("SAVEPOINT", "ROLLBACK")) for s in fast[2])


def _span_inserts(statements: list[str]) -> int:
    return sum(1 for s in statements if s.startswith("INSERT INTO spans"))


def test_a_stored_span_the_writer_took_for_new_is_written_again_with_the_triggers(tmp_path):
    """A span stored without a trace summary (here: the summary deleted) looks new to the writer; its
    replacement must still mark the hour the old row was in."""
    def run(path: str, switch: object) -> tuple[list, list, list[str]]:
        with mock.patch.object(span_insert, "_SWITCH", switch):
            db = connect(path)
            write_batch(db, [_span(1, 1, 0, 5)])
            with db.conn:
                db.execute("DELETE FROM traces")
                db.execute("DELETE FROM feed_dirty")
            db.conn.close()
        return _write(path, [[_span(1, 1, 7, 5, "retry"), _span(2, 1, 9, 0)]], switch)

    fast = run(str(tmp_path / "fast.db"), span_insert._SWITCH)
    slow = run(str(tmp_path / "slow.db"), None)
    hours = {lo - T0 // NS_PER_HOUR for lo, _hi in slow[0][0]}
    assert {0, 7, 9} <= hours  # the old row's hour, its new one, the new span's
    assert fast[0] == slow[0] and fast[1] == slow[1]
    if span_insert.available():
        # the trigger-less upsert found a row it took for new stored: the transaction is rolled back whole
        # and the batch written again with the triggers on
        assert not any(s.startswith("SAVEPOINT") for s in fast[2])
        rollback = fast[2].index("ROLLBACK")
        assert _span_inserts(fast[2][:rollback]) == 2  # the two rows without triggers (traced once each),
        assert _span_inserts(fast[2][rollback:]) >= 2  # then again with them (traced with their programs)


def test_the_connection_has_its_triggers_back_after_the_insert(tmp_path):
    db = connect(str(tmp_path / "t.db"))
    write_batch(db, [_span(1, 1, 0, 5)])
    with db.conn:
        db.execute("DELETE FROM feed_dirty")
        db.execute("UPDATE spans SET start_ns = start_ns + ?", [3 * NS_PER_HOUR])
    hours = sorted(lo - T0 // NS_PER_HOUR for lo, _ in db.execute("SELECT lo, hi FROM feed_dirty"))
    assert hours == [0, 3]  # the update's triggers marked the old and the new hour


def test_a_failed_batch_leaves_no_span_and_no_mark(tmp_path):
    db = connect(str(tmp_path / "t.db"))
    with mock.patch("tracedesk.store.summaries.apply_batch", side_effect=RuntimeError("disk gone")):
        with pytest.raises(RuntimeError):
            write_batch(db, [_span(1, 1, 2, 0)])
    assert db.execute("SELECT COUNT(*) FROM spans").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM feed_dirty").fetchone()[0] == 0
    write_batch(db, [_span(1, 1, 2, 0)])  # and the connection still writes, with its marks
    assert [lo - T0 // NS_PER_HOUR for lo, _ in db.execute("SELECT lo, hi FROM feed_dirty")] == [2]
