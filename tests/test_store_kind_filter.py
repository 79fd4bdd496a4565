"""A kind filter alone (LLM, TOOL) reads the trace summaries' llm_calls / tool_calls instead of every
matching span: it must select exactly the traces that have a span of that kind, however the spans arrived
(several batches, spans replaced with another kind, children before parents)."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracedesk.models import Span
from tracedesk.store import connect, write_batch
from tracedesk.store.query import Filters, count_traces, trace_where, traces

KINDS = ["LLM", "TOOL", "CHAIN", "AGENT", None]


def _by_spans(db, kinds: list[str]) -> set[str]:
    marks = ",".join("?" for _ in kinds)
    return {r[0] for r in db.execute(f"SELECT DISTINCT trace_id FROM spans WHERE kind IN ({marks})", kinds)}


# (trace, span, parent span or None, kind, status)
_SPAN = st.tuples(st.integers(0, 5), st.integers(0, 5), st.one_of(st.none(), st.integers(0, 5)),
                  st.sampled_from(KINDS), st.sampled_from(["OK", "ERROR", None]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(_SPAN, min_size=1, max_size=8), min_size=1, max_size=4))
def test_kind_filter_selects_the_traces_with_such_a_span(tmp_path_factory, batches):
    db = connect(str(tmp_path_factory.mktemp("kinds") / "k.db"))
    for batch in batches:
        latest = {(t, s): (p, k, st_) for t, s, p, k, st_ in batch}  # one version of a span per batch
        write_batch(db, [Span(trace_id=f"{t:032x}", span_id=f"{s:016x}", name=f"s{s}", kind=k, status=st_,
                              parent_span_id=None if p is None or p == s else f"{p:016x}",
                              start_ns=1_000 + s, end_ns=2_000_000, duration_ms=2.0)
                         for (t, s), (p, k, st_) in latest.items()])
    for kinds in (["LLM"], ["TOOL"], ["LLM", "TOOL"], ["TOOL", "TOOL"]):
        expected = _by_spans(db, kinds)
        assert count_traces(db, Filters(kinds=kinds)) == len(expected), kinds
        assert set(traces(db, Filters(kinds=kinds))["trace_id"]) == expected, kinds


def test_which_kind_filters_read_the_summaries():
    summary = trace_where(Filters(kinds=["TOOL", "LLM"]))
    assert summary == ("(t.tool_calls > 0 OR t.llm_calls > 0)", [])
    # another kind, a second span condition (the same span must meet both) or text: the span sub-query
    for f in (Filters(kinds=["TOOL", "CHAIN"]), Filters(kinds=["TOOL"], statuses=["ERROR"]),
              Filters(kinds=["LLM"], models=["gpt-4o"]), Filters(kinds=["LLM"], text="refund")):
        where, _ = trace_where(f)
        assert "IN (SELECT s.trace_id FROM spans s WHERE" in where and "_calls" not in where, f
