"""The text search's matching traces are read once per filter set and data version (query._text_matches):
count and pages equal what the plain SQL gives, and a write is seen at once."""
from __future__ import annotations

import pytest

from tracedesk.models import Span
from tracedesk.store import connect, query, write_batch
from tracedesk.store.query import Filters

T0 = 1_763_942_400_000_000_000
MS = 1_000_000
ANSWERS = ["Your refund is on its way.", "No REFUND for you.", "Weather is sunny.", "Réfund école", "refunded twice"]


def _spans(answers: list[str], first: int = 0) -> list[Span]:
    out = []
    for j, text in enumerate(answers):
        i = first + j
        tid, start = f"{i + 1:032x}", T0 + i * 60_000 * MS
        out.append(Span(trace_id=tid, span_id=f"{2 * i + 1:016x}", parent_span_id=None, name="request",
                        kind="CHAIN", start_ns=start, end_ns=start + (1000 + i) * MS, duration_ms=1000.0 + i,
                        status="OK", output_text=text))
        out.append(Span(trace_id=tid, span_id=f"{2 * i + 2:016x}", parent_span_id=f"{2 * i + 1:016x}",
                        name="answer", kind="LLM", start_ns=start + MS, end_ns=start + 900 * MS,
                        duration_ms=899.0, status="OK", model="m", output_text=text))
    return out


def _plain(db, f: Filters, sort: str, descending: bool, limit: int | None, offset: int) -> tuple[int, list[str]]:
    """Count and page straight from trace_where (what count_traces and traces ran before)."""
    where, params = query.trace_where(f)
    n = db.execute(f"SELECT COUNT(*) FROM traces t WHERE {where}", params).fetchone()[0]
    d = "DESC" if descending else "ASC"
    sql = f"SELECT t.trace_id FROM traces t WHERE {where} ORDER BY t.{sort} IS NULL, t.{sort} {d}, t.trace_id {d}"
    if limit is not None:
        sql += f" LIMIT {limit} OFFSET {offset}"
    return n, [r[0] for r in db.execute(sql, params)]


@pytest.fixture()
def db(tmp_path):
    d = connect(str(tmp_path / "t.db"))
    write_batch(d, _spans(ANSWERS))
    return d


@pytest.mark.parametrize("f", [Filters(text="refund"), Filters(text="ÉCOLE"), Filters(text="refund", models=["m"]),
                               Filters(text="refund", min_latency_ms=1001.5), Filters(text="nothing like it")],
                         ids=["text", "unicode", "text+model", "text+latency", "none"])
@pytest.mark.parametrize("sort,descending,limit,offset", [("start_ns", True, 50, 0), ("duration_ms", False, 2, 1),
                                                          ("start_ns", False, None, 0)])
def test_count_and_pages_equal_the_plain_sql(db, f, sort, descending, limit, offset):
    n, ids = _plain(db, f, sort, descending, limit, offset)
    assert query.count_traces(db, f) == n
    assert query.traces(db, f, sort=sort, descending=descending, limit=limit, offset=offset)["trace_id"].tolist() == ids


def test_exact_figures_and_a_write_is_seen(db):
    f = Filters(text="refund")
    assert query.count_traces(db, f) == 3  # "Réfund" is not "refund"
    assert query.traces(db, f, limit=2)["trace_id"].tolist() == [f"{5:032x}", f"{2:032x}"]
    write_batch(db, _spans(["one more refund"], first=len(ANSWERS)))
    assert query.count_traces(db, f) == 4
    assert query.traces(db, f, limit=1)["trace_id"].tolist() == [f"{6:032x}"]


def test_the_search_runs_once_for_count_and_page(db):
    f = Filters(text="refund")
    seen: list[str] = []
    db.conn.set_trace_callback(seen.append)
    query.count_traces(db, f)
    query.traces(db, f, limit=50)
    db.conn.set_trace_callback(None)
    assert sum("LIKE" in s for s in seen) == 1
    query.forget_text_matches(db)
    db.conn.set_trace_callback(seen.append)
    query.count_traces(db, f)
    db.conn.set_trace_callback(None)
    assert sum("LIKE" in s for s in seen) == 2
