"""The Traces page's first page under a span filter, walked in start order (issue 13).

A LIMITed page in start order may be read by walking the traces in that order and testing each one's
spans by the spans primary key (store.query._walked_page), or by building every matching trace's set
and sorting it (_sorted_page). Both must give the same rows for every filter, order and page; the
chooser (_walk_in_start_order) estimates from a probe of the first traces, with no ANALYZE needed.
"""
from __future__ import annotations

import shutil
import sqlite3

import pandas as pd
import pytest
import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st

from tracedesk.cli import main
from tracedesk.store import connect, query
from tracedesk.store.query import TRACE_COLUMNS, Filters


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    """A day of sample traffic through `tracedesk ingest`, planner statistics dropped (an old store),
    and two traces whose start is NULL (they come last in either order)."""
    folder = tmp_path_factory.mktemp("probe")
    assert main(["sample", "generate", str(folder / "otlp"), "--days", "1", "--traces-per-hour", "6",
                 "--seed", "13"]) == 0
    path = folder / "probe.db"
    assert main(["ingest", str(folder / "otlp" / "traces-*.json.gz"), "--db", str(path), "--quiet"]) == 0
    con = sqlite3.connect(path)
    con.execute("DROP TABLE IF EXISTS sqlite_stat1")
    con.execute("UPDATE traces SET start_ns = NULL WHERE rowid IN (SELECT rowid FROM traces ORDER BY rowid LIMIT 2)")
    con.commit()
    values = {col: sorted({r[0] for r in con.execute(f"SELECT {col} FROM spans WHERE {col} IS NOT NULL AND {col} != ''")})
              for col in ("model", "kind", "status", "agent_name", "route")}
    con.close()
    return path, values


def _values(pool: list[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from([*pool, "no-such-value"]), max_size=2)


@st.composite
def filters(draw, values):
    f = Filters(models=draw(_values(values["model"])), kinds=draw(_values(values["kind"])),
                statuses=draw(_values(values["status"])), agents=draw(_values(values["agent_name"])))
    if draw(st.booleans()):
        f.dims = {"route": draw(st.lists(st.sampled_from(values["route"]), min_size=1, max_size=2))}
    if draw(st.booleans()):
        f.min_latency_ms = draw(st.sampled_from([0.0, 500.0, 2000.0]))
    return f


def test_both_forms_give_the_same_page(ingested):
    path, values = ingested
    db = connect(str(path))

    @settings(max_examples=150, deadline=None)
    @given(f=filters(values), descending=st.booleans(), limit=st.integers(1, 60), offset=st.integers(0, 200))
    def check(f, descending, limit, offset):
        direction = "DESC" if descending else "ASC"
        walked = query._walked_page(db, f, TRACE_COLUMNS, direction, limit, offset)
        sorted_ = query._sorted_page(db, f, "start_ns", direction, limit, offset, TRACE_COLUMNS)
        pd.testing.assert_frame_equal(walked, sorted_)
        # and the page the caller gets is one of them
        page = query.traces(db, f, descending=descending, limit=limit, offset=offset)
        assert page["trace_id"].tolist() == sorted_["trace_id"].tolist()

    check()


def test_the_walked_pages_put_null_starts_last(ingested):
    path, values = ingested
    db = connect(str(path))
    f = Filters(kinds=["CHAIN"])  # every trace has its root CHAIN span
    n = int(db.execute("SELECT COUNT(*) FROM traces").fetchone()[0])
    for direction in ("DESC", "ASC"):
        page = query._walked_page(db, f, ("trace_id", "start_ns"), direction, n, 0)
        assert len(page) == n
        assert page["start_ns"].isna().tolist() == [False] * (n - 2) + [True, True]


@pytest.mark.parametrize("name,filters,walks", [
    ("broad model", lambda v: Filters(models=[v["model"][0]]), True),
    ("every trace's root kind", lambda v: Filters(kinds=["CHAIN"]), True),
    ("a model nobody uses", lambda v: Filters(models=["no-such-model"]), False),
    ("a kind with a status nobody has", lambda v: Filters(kinds=["TOOL"], statuses=["CANCELLED"]), False),
    ("text: its own matches", lambda v: Filters(models=[v["model"][0]], text="refund"), False),
    ("kinds the summary counts", lambda v: Filters(kinds=["LLM"]), False),
])
def test_the_walk_is_chosen_when_the_probe_finds_matches(ingested, monkeypatch, name, filters, walks):
    path, values = ingested
    db = connect(str(path))
    # a probe shorter than this day's 179 traces, so the estimate decides (a longer one reads them all)
    monkeypatch.setattr(query, "_PROBE_TRACES", 32)
    assert int(db.execute("SELECT COUNT(*) FROM traces").fetchone()[0]) > 32
    assert query._walk_in_start_order(db, filters(values), "DESC", 50) is walks


def test_a_probe_that_reads_every_trace_walks(ingested, monkeypatch):
    # fewer traces than the probe reads: the probe already read all a walk could, so it walks
    path, values = ingested
    db = connect(str(path))
    monkeypatch.setattr(query, "_PROBE_TRACES", 1000)
    assert int(db.execute("SELECT COUNT(*) FROM traces").fetchone()[0]) < 1000
    assert query._walk_in_start_order(db, Filters(models=["no-such-model"]), "DESC", 50) is True


def test_a_store_without_the_spans_key_index_builds_the_sets(tmp_path):
    # the walk names the spans primary key's index; a spans table without one is read the other way
    path = tmp_path / "keyless.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE spans (trace_id TEXT, span_id TEXT, model TEXT)")
    con.close()
    db = sqlite_utils.Database(str(path))  # the table alone: the decision must not touch the spans
    assert query._walk_in_start_order(db, Filters(models=["gpt-4o-mini"]), "DESC", 50) is False
