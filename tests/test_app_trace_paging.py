"""Trace page on a trace too big to draw whole: paged spans in start order, a link to a span on a later page,
the steps table instead of the graph; and the size boundary where the whole-trace view still applies."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import tracedesk
from tracedesk.app import ui
from tracedesk.models import Evaluation, Span
from tracedesk.store import connect, write_batch

PAGE = str(Path(__file__).resolve().parents[1] / "src/tracedesk/app/pages/trace.py")
BIG, SMALL = "b" * 32, "5" * 32
N = 3_000
T0 = 1_765_000_000_000_000_000
MS = 1_000_000


def sid(j: int) -> str:
    return f"{j + 1:016x}"


def big_trace() -> list[Span]:
    """A root agent and N-1 steps in chains of 50 under it. Start times are shuffled (a prime stride) and
    every start is shared by two spans, so start order differs from id order and ties fall to the id."""
    spans = [Span(trace_id=BIG, span_id=sid(0), name="run", kind="AGENT", agent_name="orchestrator",
                  start_ns=T0, end_ns=T0 + 10_000 * MS, duration_ms=10_000.0, status="OK")]
    for j in range(1, N):
        start = T0 + (1 + (j * 7919) % 1500) * MS
        tool = j % 3 == 0
        spans.append(Span(trace_id=BIG, span_id=sid(j), parent_span_id=sid(j - 1 if j % 50 else 0),
                          name="lookup" if tool else "chat", kind="TOOL" if tool else "LLM",
                          tool_name="lookup" if tool else None, model=None if tool else "gpt-4o-mini",
                          start_ns=start, end_ns=start + 2 * MS, duration_ms=2.0,
                          status="ERROR" if j % 97 == 0 else "OK"))
    return spans


def small_trace() -> list[Span]:
    return [Span(trace_id=SMALL, span_id=f"{0x5000 + j:016x}", parent_span_id=None if j == 0 else f"{0x5000:016x}",
                 name=f"step {j}", kind="LLM" if j else "CHAIN", start_ns=T0 + j * MS, end_ns=T0 + (j + 1) * MS,
                 duration_ms=1.0, status="OK") for j in range(30)]


SPANS = big_trace()
#: the big trace's span ids in start order, worked out here from the generated spans
IN_START_ORDER = [s.span_id for s in sorted(SPANS, key=lambda s: (s.start_ns, s.span_id))]
#: a span far down the start order (page 7 of 8 at 400 a page) and its evaluation
DEEP = IN_START_ORDER[2_500]


@pytest.fixture(scope="module")
def big_db(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("trace_paging") / "big.db")
    evals = [Evaluation(trace_id=BIG, span_id=DEEP, name="accuracy", score=0.25, passed=False, label="wrong",
                        reason="deep span reason", source="heuristic"),
             Evaluation(trace_id=BIG, span_id=None, name="task_success", score=1.0, passed=True, label="done",
                        reason="whole run reason", source="heuristic")]
    db = connect(path)
    write_batch(db, SPANS + small_trace(), evals)
    db.close()
    return path


@pytest.fixture
def limits(monkeypatch):
    monkeypatch.setattr(ui, "TRACE_WHOLE_MAX_SPANS", 1_000)
    monkeypatch.setattr(ui, "TRACE_PAGE_SPANS", 400)


def run(db: str, monkeypatch, **params: str) -> AppTest:
    monkeypatch.setenv("TRACEDESK_DB", db)
    at = AppTest.from_file(PAGE, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def url(at: AppTest, key: str) -> str:
    value = at.query_params[key]
    return value[-1] if isinstance(value, list) else value


def note(first: int, last: int, page: int) -> str:
    return (f"This trace has 3,000 spans; showing spans {first:,}–{last:,} in start order (page {page} of 8, "
            "400 spans a page). Traces of more than 1,000 spans are shown a page at a time.")


def page_table(at: AppTest) -> list[str]:
    (table,) = [d.value for d in at.dataframe if "parent_span_id" in d.value.columns]
    return list(table["span_id"])


def test_big_trace_pages_through_spans_in_start_order(big_db, limits, monkeypatch):
    at = run(big_db, monkeypatch, trace_id=BIG)
    assert [i.value for i in at.info] == [note(1, 400, 1)]
    assert {m.label: m.value for m in at.metric}["Spans"] == "3,000"
    assert page_table(at) == IN_START_ORDER[:400] != sorted(s.span_id for s in SPANS)[:400]
    assert at.selectbox[0].options == [ui.span_choice_label(r) for r in
                                       tracedesk.open(big_db).trace_page(BIG, 400).spans.to_dict("records")]
    assert at.selectbox[0].value == IN_START_ORDER[0] and url(at, "span_id") == IN_START_ORDER[0]

    at.number_input(key=f"page_of_{BIG}").set_value(2).run()
    assert not at.exception
    assert [i.value for i in at.info] == [note(401, 800, 2)]
    assert page_table(at) == IN_START_ORDER[400:800]
    assert at.selectbox[0].value == IN_START_ORDER[400] and url(at, "span_id") == IN_START_ORDER[400]

    at.number_input(key=f"page_of_{BIG}").set_value(8).run()  # the last, partial page
    assert [i.value for i in at.info] == [note(2_801, 3_000, 8)]
    assert page_table(at) == IN_START_ORDER[2_800:]


def test_link_to_a_span_on_a_later_page_opens_it(big_db, limits, monkeypatch):
    at = run(big_db, monkeypatch, trace_id=BIG, span_id=DEEP)
    assert [i.value for i in at.info] == [note(2_401, 2_800, 7)]
    assert at.number_input(key=f"page_of_{BIG}").value == 7
    assert page_table(at) == IN_START_ORDER[2_400:2_800]
    assert at.selectbox[0].value == DEEP and url(at, "span_id") == DEEP
    assert any(f"span {ui.md_code(DEEP)}" in m.value for m in at.markdown)
    reasons = [list(d.value["reason"]) for d in at.dataframe if "reason" in d.value.columns]
    assert reasons == [["deep span reason"], ["whole run reason"]]  # the span's evaluation, then the trace's


def test_unknown_span_in_the_link_opens_the_first_page(big_db, limits, monkeypatch):
    at = run(big_db, monkeypatch, trace_id=BIG, span_id="f" * 16)
    assert [i.value for i in at.info] == [note(1, 400, 1)]
    assert at.selectbox[0].value == IN_START_ORDER[0]


def test_big_trace_counts_steps_instead_of_the_graph(big_db, limits, monkeypatch):
    at = run(big_db, monkeypatch, trace_id=BIG)
    (steps,) = [d.value for d in at.dataframe if "step" in d.value.columns]
    errors = Counter(s.kind for s in SPANS if s.status == "ERROR")
    first = {kind: min(s.start_ns for s in SPANS if s.kind == kind) for kind in ("AGENT", "LLM", "TOOL")}
    assert first["AGENT"] < first["TOOL"] < first["LLM"]  # so the rows come in this order
    assert steps.to_dict("records") == [
        {"kind": "AGENT", "step": "orchestrator", "spans": 1, "errors": 0, "total_ms": 10_000.0, "cost_usd": None},
        {"kind": "TOOL", "step": "lookup", "spans": 999, "errors": errors["TOOL"], "total_ms": 1_998.0,
         "cost_usd": None},
        {"kind": "LLM", "step": "gpt-4o-mini", "spans": 2_000, "errors": errors["LLM"], "total_ms": 4_000.0,
         "cost_usd": None}]
    assert (errors["TOOL"], errors["LLM"]) == (10, 20)
    assert [c.value for c in at.caption if "trajectory graph" in c.value] == [
        "The trajectory graph draws one node per step: for 3,000 spans it would be unreadable and take a minute "
        "to lay out, so the trace's agent, LLM, tool and retrieval steps are counted by kind and name instead, "
        "in order of first appearance."]


@pytest.mark.parametrize(("limit", "paged"), [(30, False), (29, True)])
def test_the_whole_view_up_to_the_limit(big_db, monkeypatch, limit, paged):
    monkeypatch.setattr(ui, "TRACE_WHOLE_MAX_SPANS", limit)
    monkeypatch.setattr(ui, "TRACE_PAGE_SPANS", 20)
    at = run(big_db, monkeypatch, trace_id=SMALL)
    assert len(at.selectbox[0].options) == (20 if paged else 30)
    assert [i.value for i in at.info] == ([
        "This trace has 30 spans; showing spans 1–20 in start order (page 1 of 2, 20 spans a page). Traces of "
        "more than 29 spans are shown a page at a time."] if paged else [])
