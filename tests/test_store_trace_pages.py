"""store/trace_pages.py: pages of one trace agree with the whole trace's start order (spans without a start
first, ties broken by span id), the page holding a span, clamping, and the steps table."""
from __future__ import annotations

import pytest

import tracedesk
from tracedesk.models import Evaluation, Span
from tracedesk.store import connect, write_batch

TID = "a" * 32
T0 = 1_765_000_000_000_000_000


@pytest.fixture
def ws(tmp_path):
    path = str(tmp_path / "t.db")
    db = connect(path)
    spans = [Span(trace_id=TID, span_id=f"{j:016x}", parent_span_id=None if j == 0 else f"{0:016x}",
                  name=f"s{j}", kind="TOOL" if j % 2 else "LLM", tool_name="t" if j % 2 else None,
                  start_ns=T0 + (j % 4) * 1000, end_ns=T0 + 10_000, duration_ms=0.01) for j in range(23)]
    # the root reports usage its child span 2 also reports: only the child's cost counts for the trace
    spans[0].input_tokens, spans[0].cost_usd = 20, 1.0
    spans[2].input_tokens, spans[2].cost_usd = 10, 0.25
    write_batch(db, spans, [Evaluation(trace_id=TID, span_id=f"{5:016x}", name="x", score=1.0, source="heuristic"),
                            Evaluation(trace_id=TID, span_id=f"{6:016x}", name="x", score=0.0, source="heuristic"),
                            Evaluation(trace_id=TID, span_id=None, name="t", score=0.5, source="heuristic")])
    # a stored span may lack a start (the column is nullable): those sort first, as in Workspace.trace
    db.execute("UPDATE spans SET start_ns = NULL WHERE span_id IN (?, ?)", [f"{9:016x}", f"{3:016x}"])
    db.conn.commit()
    db.close()
    with tracedesk.open(path) as w:
        yield w


def test_pages_concatenate_to_the_whole_trace(ws):
    whole = list(ws.trace(TID)["span_id"])
    assert whole[:2] == [f"{3:016x}", f"{9:016x}"]  # no start first, by id
    pages = [ws.trace_page(TID, 5, page=p) for p in range(5)]
    assert [sid for p in pages for sid in p.spans["span_id"]] == whole
    assert [(p.first, p.last, p.page_count) for p in pages] == [(1, 5, 5), (6, 10, 5), (11, 15, 5), (16, 20, 5),
                                                                 (21, 23, 5)]
    assert ws.trace_page(TID, 5, page=99).page == 4 and ws.trace_page(TID, 5, page=-3).page == 0


def test_the_page_holding_a_span(ws):
    whole = list(ws.trace(TID)["span_id"])
    for pos, sid in enumerate(whole):
        tp = ws.trace_page(TID, 4, span_id=sid)
        assert tp.page == pos // 4 and sid in list(tp.spans["span_id"])
    assert ws.trace_page(TID, 4, span_id="f" * 16).page == 0


def test_page_evaluations_are_the_pages_and_the_traces(ws):
    def evals(tp):
        return [(r["name"], r["span_id"] if isinstance(r["span_id"], str) else None)
                for r in tp.evaluations.to_dict("records")]

    # start order: 3, 9 (no start), 0 4 8 12 16 20, 1 5 13 17 21, ...: span 5 is 10th, on page 3 of 4 a page
    page = ws.trace_page(TID, 4, span_id=f"{5:016x}")
    assert list(page.spans["span_id"]) == [f"{j:016x}" for j in (1, 5, 13, 17)]
    assert evals(page) == [("t", None), ("x", f"{5:016x}")]
    assert evals(ws.trace_page(TID, 4, page=0)) == [("t", None)]


def test_unknown_trace_and_bad_page_size(ws):
    tp = ws.trace_page("0" * 32, 10)
    assert (tp.span_count, tp.page, tp.first, tp.last, tp.page_count, len(tp.spans)) == (0, 0, 0, 0, 1, 0)
    with pytest.raises(ValueError, match="page_size must be at least 1"):
        ws.trace_page(TID, 0)


def test_steps_group_by_kind_and_name(ws):
    # LLM spans without a model are named steps; the 11 tools are one step "t" whose first start is T0 + 1000
    # (spans 3 and 9 have none); rows by first start, then kind, then name
    steps = ws.trace_steps(TID)
    assert [(r["kind"], r["step"], r["spans"]) for r in steps.to_dict("records")] == [
        ("LLM", "s0", 1), ("LLM", "s12", 1), ("LLM", "s16", 1), ("LLM", "s20", 1), ("LLM", "s4", 1),
        ("LLM", "s8", 1), ("TOOL", "t", 11), ("LLM", "s10", 1), ("LLM", "s14", 1), ("LLM", "s18", 1),
        ("LLM", "s2", 1), ("LLM", "s22", 1), ("LLM", "s6", 1)]
    costs = {r["step"]: r["cost_usd"] for r in steps.to_dict("records") if r["cost_usd"] == r["cost_usd"]}
    assert {k: v for k, v in costs.items() if v is not None} == {"s2": 0.25}
    assert ws.trace_summary(TID)["cost_usd"] == 0.25
