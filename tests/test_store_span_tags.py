"""span_tags: the tags of stored spans, kept by the writer, give the same picker values and tag filters as
reading every span's attributes (the SQL json_each scan tracedesk used before m507, kept as the oracle)."""
from __future__ import annotations

import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracedesk.models import Span
from tracedesk.store import connect, span_tags, write_batch
from tracedesk.store.query import Filters, _tag_rows_sql, count_traces, tag_values, trace_where


def _span(trace: str, span: str, attrs: dict) -> Span:
    return Span(trace_id=trace, span_id=span, name=span, start_ns=1_000, end_ns=2_000_000, duration_ms=2.0,
                attributes=attrs)


def _scan_values(db) -> list[str]:
    sql = f"SELECT tag FROM ({_tag_rows_sql()}) GROUP BY tag ORDER BY COUNT(DISTINCT trace_id) DESC, tag LIMIT 500"
    return [r[0] for r in db.execute(sql).fetchall()]


def _scan_count(db, tags: list[str]) -> int:
    marks = ",".join("?" for _ in tags)
    return db.execute(f"SELECT COUNT(*) FROM traces t WHERE t.trace_id IN (SELECT trace_id FROM ({_tag_rows_sql()}) "
                      f"WHERE tag IN ({marks}))", tags).fetchone()[0]


def test_tags_of_reads_lists_and_lone_strings_only():
    assert span_tags.tags_of('{"tag.tags": ["a", "b", "a", 3, null, ["x"], {"k": "v"}], "logfire.tags": "c"}') \
        == ["a", "b", "c"]
    assert span_tags.tags_of('{"langfuse.trace.tags": "solo"}') == ["solo"]
    assert span_tags.tags_of('{"tag.tags": 7, "logfire.tags": true}') == []
    assert span_tags.tags_of('{"other.tags": ["web"], "note": "tags\\" in text"}') == []
    assert span_tags.tags_of('["tag.tags"]') == []
    assert span_tags.tags_of('{"tag.tags": ["a"') == []  # not JSON: no tag, no error
    assert span_tags.tags_of(None) == [] and span_tags.tags_of("") == []


def test_writer_keeps_tags_and_replacement_drops_old_ones(db_path):
    db = connect(db_path)
    write_batch(db, [_span("a" * 32, "1" * 16, {"tag.tags": ["web", "eu"]}),
                     _span("b" * 32, "2" * 16, {"logfire.tags": "vip", "other.tags": ["web"]}),
                     _span("c" * 32, "3" * 16, {"note": 'tags" in text only'})])
    assert db.execute("SELECT trace_id, span_id, tag FROM span_tags ORDER BY 1, 3").fetchall() == [
        ("a" * 32, "1" * 16, "eu"), ("a" * 32, "1" * 16, "web"), ("b" * 32, "2" * 16, "vip")]
    assert tag_values(db) == ["eu", "vip", "web"] == _scan_values(db)
    # the same span again with other tags: its old tags go, the new ones come; an unchanged span keeps its own
    result = write_batch(db, [_span("a" * 32, "1" * 16, {"tag.tags": ["eu", "beta"]}),
                              _span("b" * 32, "2" * 16, {"logfire.tags": "vip", "other.tags": ["web"]})])
    assert (result.replaced, result.unchanged) == (1, 1)
    assert tag_values(db) == ["beta", "eu", "vip"] == _scan_values(db)
    assert count_traces(db, Filters(tags=["web"])) == 0 == _scan_count(db, ["web"])
    assert count_traces(db, Filters(tags=["vip", "eu"])) == 2 == _scan_count(db, ["vip", "eu"])


def test_migration_reads_the_tags_of_spans_stored_before_it(db_path):
    db = connect(db_path)
    write_batch(db, [_span(f"{i:032x}", f"{i:016x}", {"tag.tags": [f"t{i % 3}"]} if i % 2 else {"x": i})
                     for i in range(1, 41)])
    kept = db.execute("SELECT * FROM span_tags ORDER BY 1, 2, 3").fetchall()
    assert len(kept) == 20
    db.conn.close()
    # as a database written before m507: no table, not recorded; opening it again migrates it
    con = sqlite3.connect(db_path)
    con.execute("DROP TABLE span_tags")
    con.execute("DELETE FROM _migrations WHERE name = 'm507_span_tags'")
    con.execute("PRAGMA user_version = 0")
    con.commit()
    con.close()
    db = connect(db_path)  # the header says "not current": migrated again, m507 alone
    assert db.execute("SELECT name FROM _migrations ORDER BY rowid DESC LIMIT 1").fetchone() == ("m507_span_tags",)
    assert db.execute("SELECT * FROM span_tags ORDER BY 1, 2, 3").fetchall() == kept
    assert tag_values(db) == ["t0", "t1", "t2"] == _scan_values(db)  # 7, 7 and 6 traces; ties by name


def test_tag_filter_plan_reads_the_tag_index_not_the_spans(db_path):
    db = connect(db_path)
    write_batch(db, [_span("a" * 32, "1" * 16, {"tag.tags": ["web"]})])
    where, params = trace_where(Filters(tags=["web", "eu"]))
    steps = [r[-1] for r in db.execute(f"EXPLAIN QUERY PLAN SELECT COUNT(*) FROM traces t WHERE {where}",
                                       params).fetchall()]
    assert any("span_tags" in s and "idx_span_tags_tag" in s for s in steps), steps
    assert not [s for s in steps if "spans" in s.split() or "CORRELATED" in s], steps


_TAGS = st.sampled_from(["web", "eu", "vip", "beta", "Ünï", ""])
_VALUE = st.one_of(st.lists(st.one_of(_TAGS, st.integers(0, 3), st.none()), max_size=4), _TAGS, st.integers(0, 3),
                   st.booleans())
_ATTRS = st.dictionaries(st.sampled_from([*span_tags.TAG_ATTRIBUTES, "other.tags", "note"]), _VALUE, max_size=3)
# (trace number, span number, attributes): later writes of the same key replace the span
_WRITES = st.lists(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3), _ATTRS), min_size=1, max_size=6),
                   min_size=1, max_size=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=_WRITES)
def test_kept_tags_match_a_scan_of_every_span(tmp_path_factory, batches):
    db = connect(str(tmp_path_factory.mktemp("tags") / "t.db"))
    for batch in batches:
        latest = {(t, s): a for t, s, a in batch}  # one batch holds one version of a span
        write_batch(db, [_span(f"{t:032x}", f"{s:016x}", a) for (t, s), a in latest.items()])
    assert tag_values(db) == _scan_values(db)
    for tags in (["web"], ["eu", "vip"], [""], ["Ünï"], ["nope"]):
        assert count_traces(db, Filters(tags=tags)) == _scan_count(db, tags), tags
