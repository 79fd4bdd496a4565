"""File ingest's deferred recompute from the rows the writer kept (store/open_traces.py): what it stores
is exactly what reading the traces back gives, and it reads back whenever the kept rows may differ."""
from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracedesk.models import Span
from tracedesk.store import OpenTraces, connect, open_traces, refresh_stale, write_batch
from tracedesk.store.open_traces import inferred_flag, stored_as_given
from tracedesk.store.summaries import SUMMARY_COLUMNS

#: every table the writer and the recompute write, every column (rowid order included)
_TABLES = ("spans", "traces", "trace_orphans", "traces_stale")


def _everything(path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT rowid, * FROM {t} ORDER BY rowid").fetchall() for t in _TABLES}
    finally:
        conn.close()


class _Counting(OpenTraces):
    """OpenTraces that counts the traces it handed to the recompute."""

    taken = 0

    def take(self, db, trace_ids):
        out = super().take(db, trace_ids)
        type(self).taken += len(out)
        return out


def _write(path, batches, kept: bool, between=None) -> None:
    """The file writer's sequence: deferring batches, then refresh_stale (as BatchWriter.finish);
    `between(i)` runs before batch i and, with i == len(batches), before the refresh."""
    db = connect(str(path))
    keeper = _Counting(db) if kept else None
    for i, batch in enumerate(batches):
        if between is not None:
            between(i)
        write_batch(db, batch, defer_full=True, open_traces=keeper)
    if between is not None:
        between(len(batches))
    refresh_stale(db, keeper)
    db.conn.close()


_maybe = lambda values: st.one_of(st.none(), st.sampled_from(values))  # noqa: E731


@st.composite
def _agent_traffic(draw):
    """Random traces of agents (named and guessed), handoffs, usage with reported costs, orphans, and
    now and then a value SQLite stores converted (an integer cost; a numeric text value is the next
    test's: mixed with text ones the incremental summary cannot order them)."""
    n = draw(st.integers(1, 14))
    out = []
    for i in range(n):
        sid = f"s{i:02d}"
        parent = draw(st.one_of(st.none(), st.sampled_from([f"s{j:02d}" for j in range(14)]),
                                st.sampled_from(["gone"])))
        kind = draw(st.sampled_from(["LLM", "TOOL", "AGENT", "CHAIN"]))
        usage = draw(st.booleans())
        attributes = {}
        if kind == "AGENT" and draw(st.booleans()):
            attributes["tracedesk.agent.inferred"] = draw(st.sampled_from([True, False, 1, "yes", [], {}]))
        out.append(Span(
            trace_id=draw(st.sampled_from(["t1", "t2", "t3"])), span_id=sid,
            parent_span_id=None if parent == sid else parent, name=f"n{i}", kind=kind,
            status=draw(st.sampled_from(["OK", "ERROR"])), start_ns=draw(st.integers(1, 50)) * 1000,
            end_ns=draw(st.integers(51, 90)) * 1000, service=draw(_maybe(["api", "worker"])),
            model=draw(_maybe(["gpt-4o", "claude"])), agent_name=draw(_maybe(["planner", "Critic"])),
            session_id=draw(_maybe(["sa", "sb"])),
            dims=draw(st.sampled_from([{}, {"region": "eu"}])), attributes=attributes,
            input_tokens=draw(st.sampled_from([5, 100])) if usage else None,
            output_tokens=draw(st.sampled_from([2, 3])) if usage and draw(st.booleans()) else None,
            cost_source=draw(st.sampled_from(["reported", "computed"])),
            cost_usd=draw(st.one_of(st.floats(0, 1), st.just(2))) if usage and draw(st.booleans()) else None,
            handoff_from=draw(_maybe(["planner", "triage"])) if draw(st.integers(0, 3)) == 0 else None,
            handoff_to=draw(_maybe(["transfer_to_critic", "billing"])) if draw(st.integers(0, 3)) == 0 else None,
        ))
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spans=_agent_traffic(), data=st.data())
def test_the_recompute_from_kept_rows_stores_what_reading_back_stores(tmp_path_factory, spans, data):
    order = data.draw(st.permutations(spans))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(len(order) - 1, 1)), max_size=4)))
    batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)]) if order[a:b]]
    if data.draw(st.booleans()):  # a span sent again later in the file, changed (replaced) or the same
        again = data.draw(st.sampled_from(order))
        changed = Span(**{f: getattr(again, f) for f in again.__slots__})
        if data.draw(st.booleans()):
            changed.input_tokens = (changed.input_tokens or 0) + 7
            changed.kind = "AGENT"
        batches.append([changed])
    folder = tmp_path_factory.mktemp("k")
    _write(folder / "kept.db", batches, kept=True)
    _write(folder / "read.db", batches, kept=False)
    assert _everything(folder / "kept.db") == _everything(folder / "read.db")


def _trace(trace_id: str, n: int = 3, **root) -> list[Span]:
    spans = [Span(trace_id=trace_id, span_id="a", kind="AGENT", agent_name="Planner", start_ns=1, end_ns=90,
                  **root)]
    spans += [Span(trace_id=trace_id, span_id=f"c{i}", parent_span_id="a", kind="LLM", start_ns=10 + i,
                   end_ns=20 + i, input_tokens=10, output_tokens=5, cost_usd=0.25, cost_source="computed")
              for i in range(n - 1)]
    return spans


def test_kept_rows_are_taken_for_traces_the_writer_wrote_whole(tmp_path):
    _Counting.taken = 0
    batches = [_trace("t1")[:2], _trace("t2"), _trace("t1")[2:]]
    _write(tmp_path / "kept.db", batches, kept=True)
    assert _Counting.taken == 2
    _write(tmp_path / "read.db", batches, kept=False)
    assert _everything(tmp_path / "kept.db") == _everything(tmp_path / "read.db")
    conn = sqlite3.connect(tmp_path / "kept.db")
    assert conn.execute("SELECT trace_id, span_count, input_tokens, output_tokens, cost_usd, agents FROM traces "
                        "ORDER BY 1").fetchall() == [("t1", 3, 20, 10, 0.5, "Planner"),
                                                     ("t2", 3, 20, 10, 0.5, "Planner")]


def test_a_commit_by_another_connection_makes_the_recompute_read_back(tmp_path):
    """Another process replaces a kept span (same count, new content) between two batches: the summary
    counts the stored content, not the kept one."""
    _Counting.taken = 0
    path = tmp_path / "t.db"

    def other_writer(i: int) -> None:
        if i == 1:
            other = connect(str(path))
            changed = _trace("t1")[1]
            changed.input_tokens = 1000
            write_batch(other, [changed], defer_full=True)  # (left stale: the writer's refresh does it)
            other.conn.close()

    _write(path, [_trace("t1"), _trace("t2")], kept=True, between=other_writer)
    assert _Counting.taken == 1  # t2 only: t1 was dropped when the other commit was seen
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT trace_id, input_tokens FROM traces ORDER BY 1").fetchall() == [("t1", 1010),
                                                                                             ("t2", 20)]


def test_a_commit_by_another_connection_after_the_last_batch_makes_the_recompute_read_back(tmp_path):
    _Counting.taken = 0
    path = tmp_path / "t.db"

    def other_writer(i: int) -> None:
        if i == 2:  # after both batches, before the file's refresh
            other = connect(str(path))
            changed = _trace("t2")[2]
            changed.output_tokens = 500
            write_batch(other, [changed], defer_full=True)
            other.conn.close()

    _write(path, [_trace("t1"), _trace("t2")], kept=True, between=other_writer)
    assert _Counting.taken == 0
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT trace_id, output_tokens FROM traces ORDER BY 1").fetchall() == [("t1", 10),
                                                                                              ("t2", 505)]


def test_a_span_stored_without_a_summary_makes_its_trace_read_back(tmp_path):
    """A span stored before (without a summary) that this writer never saw: the stored count differs."""
    _Counting.taken = 0
    path = tmp_path / "t.db"
    db = connect(str(path))
    write_batch(db, [Span(trace_id="t1", span_id="zz", parent_span_id="a", kind="TOOL", start_ns=5, end_ns=6)],
                refresh=False)
    db.conn.close()
    _write(path, [_trace("t1"), _trace("t2")], kept=True)
    assert _Counting.taken == 1
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT trace_id, span_count, tool_calls FROM traces ORDER BY 1").fetchall() == [
        ("t1", 4, 1), ("t2", 3, 0)]


def test_values_sqlite_would_convert_make_their_trace_read_back(tmp_path):
    """An integer cost (stored as a double) or a numeric session id (stored as text) in a trace: that
    trace is read back, the others are taken; both give what reading everything back gives."""
    _Counting.taken = 0
    odd_cost = _trace("t1")
    odd_cost[1].cost_usd = 2
    odd_session = _trace("t2", session_id=7)
    batches = [odd_cost + odd_session + _trace("t3")]
    _write(tmp_path / "kept.db", batches, kept=True)
    assert _Counting.taken == 1
    _write(tmp_path / "read.db", batches, kept=False)
    assert _everything(tmp_path / "kept.db") == _everything(tmp_path / "read.db")
    conn = sqlite3.connect(tmp_path / "kept.db")
    assert conn.execute("SELECT trace_id, cost_usd, session_id FROM traces ORDER BY 1").fetchall() == [
        ("t1", 2.25, None), ("t2", 0.5, "7"), ("t3", 0.5, None)]


def test_past_max_spans_no_new_trace_is_kept_until_the_file_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(open_traces, "MAX_SPANS", 4)
    _Counting.taken = 0
    t1 = _trace("t1")
    batches = [t1[:2], _trace("t2"), _trace("t3") + t1[2:]]
    _write(tmp_path / "kept.db", batches, kept=True)
    assert _Counting.taken == 2  # t1, t2 (5 > 4: full) kept and t1 still takes its last span; t3 read back
    _write(tmp_path / "read.db", batches, kept=False)
    assert _everything(tmp_path / "kept.db") == _everything(tmp_path / "read.db")


def test_a_vercel_ai_chunk_drops_what_is_kept(tmp_path):
    """The SQL path of a chunk with a Vercel AI SDK span may change usage flags in other traces."""
    vercel = [Span(trace_id="t0", span_id="v", kind="LLM", convention="vercel_ai", start_ns=1, end_ns=2,
                   input_tokens=3, agent_name="Planner")]
    batches = [vercel + _trace("t1"), _trace("t2")]
    _write(tmp_path / "kept.db", batches, kept=True)
    _write(tmp_path / "read.db", batches, kept=False)
    assert _everything(tmp_path / "kept.db") == _everything(tmp_path / "read.db")


def test_file_ingest_of_agent_traffic_stores_the_same_with_and_without_kept_rows(tmp_path, monkeypatch):
    """Sample agent traffic through `ingest_paths` (small batches, so traces span batches): every row of
    every table the summaries write is the same as when each deferred trace is read back."""
    from tracedesk.cli import main
    from tracedesk.ingest import ingest_paths

    assert main(["sample", "generate", str(tmp_path / "otlp"), "--days", "1", "--traces-per-hour", "2",
                 "--seed", "11"]) == 0
    files = sorted(str(p) for p in (tmp_path / "otlp").glob("traces-*.json.gz"))
    taken: list[int] = []
    real_take = OpenTraces.take

    def counting(self, db, trace_ids):
        out = real_take(self, db, trace_ids)
        taken.append(len(out))
        return out

    monkeypatch.setattr(OpenTraces, "take", counting)
    kept = ingest_paths(str(tmp_path / "kept.db"), files, batch_size=60, workers=0, feed_samples=False)
    assert sum(taken) > 0
    monkeypatch.setattr(OpenTraces, "take", lambda self, db, trace_ids: {})
    read = ingest_paths(str(tmp_path / "read.db"), files, batch_size=60, workers=0, feed_samples=False)
    assert kept.spans_inserted == read.spans_inserted > 300
    assert _everything(tmp_path / "kept.db") == _everything(tmp_path / "read.db")


@pytest.mark.parametrize(("attributes", "expected"), [
    (None, None), ('{"a":1}', None), ('{"tracedesk.agent.inferred":true}', True),
    ('{"tracedesk.agent.inferred":false}', False), ('{"tracedesk.agent.inferred":null}', None),
    ('{"tracedesk.agent.inferred":"yes"}', "yes"), ('{"tracedesk.agent.inferred":[]}', "[]"),
    ('{"tracedesk.agent.inferred":1,"big":123456789012345678901234567890}', 1),
])
def test_the_inferred_flag_is_what_json_extract_reads(attributes, expected):
    assert inferred_flag(attributes) == expected
    conn = sqlite3.connect(":memory:")
    sql = """SELECT json_extract(?, '$."tracedesk.agent.inferred"')"""
    assert bool(conn.execute(sql, [attributes]).fetchone()[0]) == bool(expected)


def test_stored_as_given_names_the_types_a_read_returns_unchanged():
    n = len(SUMMARY_COLUMNS)
    cost = SUMMARY_COLUMNS.index("cost_usd")
    start = SUMMARY_COLUMNS.index("start_ns")
    name = SUMMARY_COLUMNS.index("name")

    def row(**at):
        values = [None] * n
        for i, v in at.items():
            values[int(i[1:])] = v
        return tuple(values)

    assert stored_as_given([row(**{f"c{start}": 5, f"c{cost}": 0.5, f"c{name}": "x"})])
    assert not stored_as_given([row(**{f"c{cost}": 1})])  # an integer into REAL comes back a double
    assert not stored_as_given([row(**{f"c{cost}": float("nan")})])  # NaN comes back NULL
    assert not stored_as_given([row(**{f"c{start}": 5.0})])  # 5.0 into INTEGER comes back 5
    assert not stored_as_given([row(**{f"c{start}": True})])  # a bool comes back 1
    assert not stored_as_given([row(**{f"c{name}": 7})])  # a number into TEXT comes back text
