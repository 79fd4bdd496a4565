"""Frames are built in chunks and exported by iterator, with the values and dtypes of a one-shot build."""
from __future__ import annotations

import pandas as pd

import tracedesk
from tracedesk.models import Span
from tracedesk.store import connect, write_batch
from tracedesk.store import query


def _db(path):
    db = connect(path)
    spans = []
    for i in range(257):
        spans.append(Span(trace_id=f"t{i // 7}", span_id=f"s{i}", parent_span_id=None if i % 7 == 0 else f"s{i - i % 7}",
                          name=f"op{i}", kind="LLM" if i % 2 else "TOOL", start_ns=1_000 + i, end_ns=5_000 + 3 * i,
                          # a column that is empty in whole chunks and numeric elsewhere
                          input_tokens=i if i >= 200 else None, cost_usd=0.25 * i if i % 3 else None,
                          model="m" if i < 100 else None, attributes={"k": i, "text": "x" * (i % 150)}))
    write_batch(db, spans)
    return db


def test_chunked_frames_equal_a_one_shot_build(db_path):
    db = _db(db_path)
    sql = "SELECT * FROM spans ORDER BY rowid"
    cur = db.execute(sql)
    one_shot = pd.DataFrame.from_records(cur.fetchall(), columns=[d[0] for d in cur.description])
    for rows in (1, 10, 64, 100_000):
        chunked = query.frame(db, sql, chunk_rows=rows)
        pd.testing.assert_frame_equal(chunked, one_shot)


def test_iter_spans_yields_the_spans_frame_in_chunks(db_path):
    _db(db_path).close()
    ws = tracedesk.open(db_path)
    whole = ws.spans()
    chunks = list(ws.iter_spans(chunk_size=50))
    assert [len(c) for c in chunks] == [50, 50, 50, 50, 50, 7]
    assert pd.concat(chunks, ignore_index=True)["span_id"].tolist() == whole["span_id"].tolist()
    got = pd.concat([c[["span_id", "input_tokens"]] for c in chunks], ignore_index=True)
    assert got["input_tokens"].fillna(-1).tolist() == whole["input_tokens"].fillna(-1).tolist()
    attrs = pd.concat(ws.iter_spans(columns=["span_id", "attributes"], chunk_size=100), ignore_index=True)
    assert attrs.loc[attrs["span_id"] == "s130", "attributes"].tolist() == ['{"k":130,"text":"' + "x" * 130 + '"}']
