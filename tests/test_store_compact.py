"""Compacted span columns (deflated JSON, resources stored once) read back exactly; old databases migrate."""
from __future__ import annotations

import json
import random

import sqlite_utils

from tracedesk.models import Span
from tracedesk.store import MIGRATIONS, SPAN_COLUMN_NAMES, _WRITE_COLUMNS, connect, migrate, refresh_traces_sql, \
    span_row, write_batch
from tracedesk.store import query
from tracedesk.store.migrations import UNUSED_SPAN_INDEXES

_RESOURCES = [{"service.name": f"svc-{i}", "service.version": "1.2.3", "telemetry.sdk.language": "python",
               "deployment.environment.name": "production"} for i in range(3)]


def _spans(n: int, seed: int = 3, trace_prefix: str = "t") -> list[Span]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        trace = f"{trace_prefix}{i // 10}"
        prompt = rng.choice(["You are a support agent. Answer from the knowledge base. " * 3, "Summarise: ünïcødé ✓ 🚀"])
        attrs = {"openinference.span.kind": "LLM", "llm.model_name": rng.choice(["gpt-4o", "claude-3"]),
                 "llm.input_messages.0.message.content": prompt, "llm.token_count.prompt": rng.randint(1, 900),
                 "nested": {"list": [1, 2.5, None, True, "x" * rng.randint(0, 200)]}}
        out.append(Span(
            trace_id=trace, span_id=f"s{i}", parent_span_id=None if i % 10 == 0 else f"s{i - i % 10}",
            name=f"chat {i}", kind="LLM", start_ns=1_000 + i, end_ns=2_000 + i, attributes=attrs,
            resource=_RESOURCES[i % 3],
            events=[{"name": "gen_ai.choice", "time_ns": 5 + i, "attributes": {"content": prompt}}] if i % 4 == 0 else [],
            input_messages=[{"role": "system", "content": prompt}, {"role": "user", "content": f"question {i}"}],
            documents=[{"id": f"doc-{i}", "score": 0.5, "content": prompt}] if i % 3 == 0 else None,
        ))
    return out


def _expected(span: Span) -> dict:
    return {"attributes": span.attributes, "resource": span.resource, "events": span.events or None,
            "input_messages": span.input_messages, "documents": span.documents}


def test_compacted_columns_read_back_identically(db_path):
    spans = _spans(600)
    db = connect(db_path)
    write_batch(db, spans[:300])
    write_batch(db, spans[300:])
    kinds = dict(db.execute("SELECT typeof(attributes), COUNT(*) FROM spans GROUP BY 1").fetchall())
    assert kinds == {"blob": 600}  # stored deflated, not as text
    assert db.execute("SELECT COUNT(*) FROM resources").fetchone()[0] == 3
    assert db.execute("SELECT COUNT(DISTINCT resource), MAX(length(resource)) FROM spans").fetchone() == (3, 2)
    for trace_id in ("t0", "t31", "t59"):
        frame = query.trace_spans(db, trace_id)
        got = {r["span_id"]: {c: r[c] for c in ("attributes", "resource", "events", "input_messages", "documents")}
               for r in frame.to_dict("records")}
        assert got == {s.span_id: _expected(s) for s in spans if s.trace_id == trace_id}
    # the light frame with JSON columns requested reads JSON text, as before compaction
    light = query.spans(db, columns=["span_id", "attributes", "resource"])
    by_id = {s.span_id: s for s in spans}
    for row in light.itertuples():
        assert json.loads(row.attributes) == by_id[row.span_id].attributes
        assert json.loads(row.resource) == by_id[row.span_id].resource
    # SQL readers see JSON through td_json()
    assert db.execute("SELECT json_extract(td_json(attributes), '$.nested.list[1]') FROM spans "
                      "WHERE span_id = 's7'").fetchone() == (2.5,)
    # re-writing the same spans is recognised as unchanged (the content hash is of the JSON, not the blob)
    again = write_batch(db, spans[:300])
    assert (again.inserted, again.unchanged, again.replaced) == (0, 300, 0)


def test_a_database_of_the_previous_schema_migrates_and_reads_back(db_path):
    """Rows written before m501/m502 (JSON text, resource inline) stay readable; new rows join them."""
    old = sqlite_utils.Database(db_path)
    old.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_ns INTEGER)")
    shipped = [(name, step) for name, step in MIGRATIONS if name not in ("m501_trace_orphans", "m502_compact_columns",
                                                                             "m503_traces_stale",
                                                                             "m504_drop_unused_span_indexes",
                                                                             "m505_smaller_spans")]
    for name, step in shipped:
        with old.conn:
            step(old)
            old.execute("INSERT INTO _migrations VALUES (?, 0)", [name])
    legacy = _spans(40, seed=9)
    for s in legacy[::7]:
        s.parent_span_id = "not-yet-arrived"  # orphans: the migration derives their state
    cols = [c for c in _WRITE_COLUMNS]
    with old.conn:
        old.conn.executemany(f"INSERT INTO spans ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                             [span_row(s) for s in legacy])
        refresh_traces_sql(old, {s.trace_id for s in legacy})
    old.conn.close()

    db = connect(db_path)  # applies the two new migrations
    assert [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")][-5:] == [
        "m501_trace_orphans", "m502_compact_columns", "m503_traces_stale", "m504_drop_unused_span_indexes",
        "m505_smaller_spans"]
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'spans'")}
    assert indexes.isdisjoint(UNUSED_SPAN_INDEXES) and {"idx_spans_model", "idx_spans_error"} <= indexes
    assert db.execute("SELECT COUNT(*) FROM trace_orphans").fetchone()[0] == len(legacy[::7])
    frame = query.trace_spans(db, "t1")
    got = {r["span_id"]: {c: r[c] for c in ("attributes", "resource", "events", "input_messages", "documents")}
           for r in frame.to_dict("records")}
    assert got == {s.span_id: _expected(s) for s in legacy if s.trace_id == "t1"}
    # new spans land in the old traces: incremental summaries over old rows equal a full recompute
    newer = _spans(400, seed=11)
    for s in newer:
        s.span_id = "n" + s.span_id
        s.parent_span_id = "n" + s.parent_span_id if s.parent_span_id else None
    newer += [Span(trace_id=s.trace_id, span_id="not-yet-arrived", name="late root", start_ns=1, end_ns=9_999)
              for s in legacy[::7]]
    write_batch(db, newer)
    incremental = db.execute("SELECT * FROM traces ORDER BY trace_id").fetchall()
    with db.conn:
        refresh_traces_sql(db, [r[0] for r in db.execute("SELECT DISTINCT trace_id FROM spans")])
    assert db.execute("SELECT * FROM traces ORDER BY trace_id").fetchall() == incremental
    assert set(SPAN_COLUMN_NAMES) <= set(query.trace_spans(db, "t1").columns)
    assert migrate(db) == []


def test_readers_added_beside_compaction_see_json_tags_and_exports(db_path, tmp_path):
    """Tags (json_each over attributes) and CSV/Parquet exports read deflated attributes and resource ids
    as the JSON they stand for: the export is for other tools, the tag filter must not miss blob rows."""
    import csv

    import pyarrow.parquet as pq

    import tracedesk
    from tracedesk import Filters

    spans = _spans(200)
    for s in spans:
        if s.span_id in ("s0", "s101"):
            s.attributes["langfuse.trace.tags"] = ["vip", "eu"]
        elif s.span_id == "s55":
            s.attributes["logfire.tags"] = "web"
    db = connect(db_path)
    write_batch(db, spans)
    tagged = db.execute("SELECT typeof(attributes) FROM spans WHERE span_id IN ('s0', 's55', 's101')").fetchall()
    assert tagged == [("blob",)] * 3
    with tracedesk.open(db_path) as ws:
        assert ws.values("tag") == ["eu", "vip", "web"]
        assert ws.traces(Filters(tags=["vip"]))["trace_id"].tolist() == ["t10", "t0"]
        assert ws.traces(Filters(tags=["web"]))["trace_id"].tolist() == ["t5"]
        ws.export("spans", str(tmp_path / "s.csv"), filters=Filters(tags=["web"]))
        ws.export("spans", str(tmp_path / "s.parquet"), chunk_rows=64)
    by_id = {s.span_id: s for s in spans}
    with open(tmp_path / "s.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["span_id"] for r in rows) == sorted(s.span_id for s in spans if s.trace_id == "t5")
    for r in rows:
        assert json.loads(r["attributes"]) == by_id[r["span_id"]].attributes
        assert json.loads(r["resource"]) == by_id[r["span_id"]].resource
    table = pq.read_table(tmp_path / "s.parquet").to_pylist()
    assert len(table) == 200
    for r in table:
        s = by_id[r["span_id"]]
        assert json.loads(r["attributes"]) == s.attributes and json.loads(r["resource"]) == s.resource
        assert (json.loads(r["events"]) if r["events"] else None) == (s.events or None)
