"""Every trace filter has a plan that does not depend on ANALYZE statistics.

The database is built the way a user builds it (`tracedesk ingest` on generated OTLP files). A span- or
score-level filter must never become a correlated sub-query (run once per trace, walking a non-trace
index each time: quadratic); it must be an uncorrelated list sub-query run once.
"""
from __future__ import annotations

import sqlite3

import pytest

from tracedesk.cli import main
from tracedesk.store import connect
from tracedesk.store.query import Filters, count_traces, trace_where

FILTERS = {
    "model": Filters(models=["gpt-4o-mini"]),
    "kind": Filters(kinds=["TOOL"]),
    "status": Filters(statuses=["ERROR"]),
    "agent": Filters(agents=["planner"]),
    "text": Filters(text="refund"),
    "score": Filters(scores={"groundedness": (None, 0.5)}),
    "kind+status": Filters(kinds=["TOOL"], statuses=["ERROR"]),
    "dimension": Filters(dims={"route": ["refunds"]}),
    "latency+cost": Filters(min_latency_ms=800.0, max_cost=0.5),
    "time": Filters(start_ns=1, end_ns=2**62),
    "all": Filters(models=["gpt-4o-mini"], kinds=["LLM"], scores={"groundedness": (0.2, None)},
                   dims={"route": ["refunds"]}, text="refund", min_latency_ms=10.0),
}


@pytest.fixture(scope="module")
def ingested_db(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plans")
    assert main(["sample", "generate", str(folder / "otlp"), "--days", "1", "--traces-per-hour", "6",
                 "--seed", "11"]) == 0
    db = folder / "plans.db"
    assert main(["ingest", str(folder / "otlp" / "traces-*.json.gz"), "--db", str(db), "--quiet"]) == 0
    return db


def plan(db_path, filters: Filters) -> list[str]:
    db = connect(str(db_path))
    where, params = trace_where(filters)
    rows = db.execute(f"EXPLAIN QUERY PLAN SELECT COUNT(*) FROM traces t WHERE {where}", params).fetchall()
    return [r[-1] for r in rows]


def _set_statistics(path, with_statistics: bool) -> None:
    """The planner's statistics as ingest leaves them (ANALYZE) or as an old database may have none."""
    con = sqlite3.connect(path)
    if not with_statistics:
        con.execute("DROP TABLE IF EXISTS sqlite_stat1")
    else:
        con.execute("ANALYZE")
    con.commit()
    con.close()


@pytest.mark.parametrize("with_statistics", [False, True], ids=["no-stats", "stats"])
@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filter_plan_has_no_correlated_subquery(ingested_db, name, with_statistics):
    _set_statistics(ingested_db, with_statistics)
    steps = plan(ingested_db, FILTERS[name])
    assert not [s for s in steps if "CORRELATED" in s], steps
    # the outer loop reads traces once; spans/evaluations are only read inside list sub-queries
    outer = [s for s in steps if s.startswith(("SCAN t", "SEARCH t"))]
    assert len(outer) == 1, steps


def test_ingest_leaves_planner_statistics(ingested_db, tmp_path):
    # a fresh ingest ends with ANALYZE (sampled): the stats table exists and names the spans indexes
    fresh = tmp_path / "fresh.db"
    assert main(["ingest", str(ingested_db.parent / "otlp" / "traces-*.json.gz"), "--db", str(fresh), "--quiet"]) == 0
    con = sqlite3.connect(fresh)
    tables = {r[0] for r in con.execute("SELECT tbl FROM sqlite_stat1")}
    assert {"spans", "traces", "evaluations"} <= tables


def test_filters_count_the_same_with_and_without_statistics(ingested_db):
    db = connect(str(ingested_db))
    with_stats = {name: count_traces(db, f) for name, f in FILTERS.items()}
    db.execute("DROP TABLE IF EXISTS sqlite_stat1")
    db.conn.commit()
    db = connect(str(ingested_db))
    assert {name: count_traces(db, f) for name, f in FILTERS.items()} == with_stats
    assert with_stats["all"] <= with_stats["model"] <= with_stats["time"]
    assert with_stats["time"] > 0 and with_stats["model"] > 0 and with_stats["score"] > 0


@pytest.mark.parametrize("with_statistics", [False, True], ids=["no-stats", "stats"])
@pytest.mark.parametrize("name,index", [("model", "idx_spans_model"), ("agent", "idx_spans_agent"),
                                        ("status", "idx_spans_error")])
def test_model_agent_and_error_filters_read_their_index_alone(ingested_db, name, index, with_statistics):
    # m508: the trace id is in the index, so the sub-query never looks a span row up for it; m514: the
    # status index holds the ERROR spans alone, and serves status=ERROR
    _set_statistics(ingested_db, with_statistics)
    steps = plan(ingested_db, FILTERS[name])
    assert any(s.startswith("SEARCH s USING COVERING INDEX " + index + " ") for s in steps), steps


def test_every_status_filter_counts_the_traces_holding_such_a_span(ingested_db):
    # m514 indexes ERROR spans only: OK and UNSET (and a status nobody has) are read by scanning, and
    # every list still counts the traces that hold a span of one of its statuses
    con = sqlite3.connect(ingested_db)
    by_status: dict[str, set[str]] = {}
    for trace_id, status in con.execute("SELECT trace_id, status FROM spans"):
        by_status.setdefault(status, set()).add(trace_id)
    con.close()
    assert sorted(by_status) == ["ERROR", "OK", "UNSET"]
    db = connect(str(ingested_db))
    for statuses in (["ERROR"], ["OK"], ["UNSET"], ["ERROR", "OK"], ["ERROR", "ERROR"], ["CANCELLED"]):
        expected = set().union(*(by_status.get(s, set()) for s in statuses))
        assert count_traces(db, Filters(statuses=statuses)) == len(expected), statuses
    # this day: 1 ERROR span, 166 OK (the roots), 2,908 UNSET, in 166 traces
    assert {s: len(t) for s, t in by_status.items()} == {"ERROR": 1, "OK": 166, "UNSET": 166}
    assert count_traces(db, Filters(statuses=["ERROR"])) == 1 and count_traces(db, Filters(statuses=["CANCELLED"])) == 0
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'spans'")}
    assert "idx_spans_error" in indexes and "idx_spans_status" not in indexes


def test_newest_first_page_walks_the_start_index(ingested_db, tmp_path):
    """The Traces page's default order (newest first) reads the start index and stops after its page,
    rather than sorting every matching trace; the NULL start times still come last."""
    from tracedesk.store.query import traces

    import shutil

    ingested_db = shutil.copy(ingested_db, tmp_path / "nulls.db")  # the module's database stays as built
    conn = sqlite3.connect(ingested_db)
    conn.execute("UPDATE traces SET start_ns = NULL WHERE rowid = (SELECT MAX(rowid) FROM traces)")
    conn.commit()
    conn.close()
    db = connect(str(ingested_db))
    cols = ", ".join("t." + c for c in ("trace_id", "start_ns"))
    sql = f"SELECT {cols} FROM traces t WHERE 1 ORDER BY t.start_ns DESC, t.trace_id DESC LIMIT 50"
    steps = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql)]
    assert steps[0] == "SCAN t USING INDEX idx_traces_start"
    page = traces(db, limit=None)
    assert page["start_ns"].isna().tolist() == [False] * (len(page) - 1) + [True]


#: filters with span conditions a page may walk in start order (store.query._walked_page); a kind the
#: summary counts (TOOL, LLM) reads no span, so the kind here is one it does not count
WALKED = {"model": FILTERS["model"], "kind": Filters(kinds=["RETRIEVER"]), "status": FILTERS["status"],
          "agent": FILTERS["agent"], "kind+status": FILTERS["kind+status"]}


@pytest.mark.parametrize("with_statistics", [False, True], ids=["no-stats", "stats"])
@pytest.mark.parametrize("direction", ["DESC", "ASC"])
@pytest.mark.parametrize("name", [*WALKED, "model+dimension", "agent+score"])
def test_walked_page_probes_each_trace_by_the_spans_primary_key(ingested_db, name, direction, with_statistics):
    # issue 13: the per-trace span test is correlated by design, and must search the spans by trace id
    # (the primary key); the model/agent/kind/status index walked once per trace would be quadratic
    from tracedesk.store.query import TRACE_COLUMNS, walked_page_sql

    _set_statistics(ingested_db, with_statistics)
    f = {"model+dimension": Filters(models=["gpt-4o-mini"], dims={"route": ["refunds"]}),
         "agent+score": Filters(agents=["planner"], scores={"groundedness": (None, 0.5)})}.get(name) or WALKED[name]
    db = connect(str(ingested_db))
    started, unstarted, params = walked_page_sql(f, TRACE_COLUMNS, direction)
    for sql, null_start in ((started, False), (unstarted, True)):
        steps = [r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + sql, [*params, 50])]
        span_steps = [s for s in steps if s.startswith(("SCAN s", "SEARCH s"))]
        assert span_steps == ["SEARCH s USING INDEX sqlite_autoindex_spans_1 (trace_id=?)"], steps
        assert sum(s.startswith("CORRELATED") for s in steps) == 1, steps
        outer = [s for s in steps if s.startswith(("SCAN t", "SEARCH t"))]
        assert len(outer) == 1, steps
        if name in WALKED and not null_start:  # nothing else to drive from: the start order, no sort
            assert outer == ["SEARCH t USING INDEX idx_traces_start (start_ns>?)"], steps
            assert not [s for s in steps if "TEMP B-TREE FOR ORDER BY" in s], steps


@pytest.mark.parametrize("table", ["spans", "traces"])
def test_start_bounds_seek_the_start_index_twice(ingested_db, table):
    """MIN and MAX of start_ns in one SELECT read the whole start index (10M spans: 0.69 s CPU, on every backtest
    and drift report); as two sub-queries each is one seek. Same values as the plain aggregate."""
    from tracedesk.store.query import start_bounds

    db = connect(ingested_db)
    sql = f"SELECT (SELECT MIN(start_ns) FROM {table}), (SELECT MAX(start_ns) FROM {table})"
    steps = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()]
    assert not any(step.startswith("SCAN") and table in step for step in steps), steps
    assert sum(step.startswith(f"SEARCH {table} USING COVERING INDEX") for step in steps) == 2, steps
    assert start_bounds(db, table) == db.execute(f"SELECT MIN(start_ns), MAX(start_ns) FROM {table}").fetchone()


def test_start_bounds_skip_rows_without_a_start_and_name_the_tables(tmp_path):
    from tracedesk.store.query import start_bounds

    db = connect(str(tmp_path / "bounds.db"))
    assert start_bounds(db, "spans") == (None, None)
    db.execute("INSERT INTO spans (trace_id, span_id, start_ns) VALUES ('t', 'a', NULL), ('t', 'b', 5), ('t', 'c', 9)")
    assert start_bounds(db, "spans") == (5, 9)
    with pytest.raises(ValueError, match="spans or traces, not 'evaluations'"):
        start_bounds(db, "evaluations")
