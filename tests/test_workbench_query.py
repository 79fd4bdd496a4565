"""Filters -> SQL reads: each filter field selects exactly the expected traces; URL round trip."""
from __future__ import annotations

import pytest

import tracedesk
import workbench_synth as synth
from tracedesk.store.query import FilterError, Filters


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    path = tmp_path_factory.mktemp("wbq") / "q.db"
    synth.build(str(path))
    return tracedesk.open(str(path))


def ids(ws, f):
    return sorted(int(t, 16) - 1 for t in ws.traces(f)["trace_id"])


def test_open_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="tracedesk ingest"):
        tracedesk.open(str(tmp_path / "nope.db"))
    assert tracedesk.open(str(tmp_path / "new.db"), create=True).is_empty()


def test_import_tracedesk_stays_light():
    import subprocess
    import sys

    # (sqlite_utils itself imports pandas when present; the workbench adds nothing until first use)
    code = ("import sys, tracedesk; print(*[m in sys.modules for m in "
            "('tracedesk.workspace', 'tracedesk.analysis.metrics', 'networkx', 'altair', 'streamlit')]); "
            "tracedesk.open; print('tracedesk.workspace' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"] * 5 + ["True"]


def test_each_filter_field(ws):
    assert ids(ws, Filters()) == list(range(24))
    assert ids(ws, Filters(dims={"route": ["refunds"]})) == [1, 4, 7, 10, 13, 16, 19, 22]
    assert ids(ws, Filters(dims={"route": ["refunds"], "prompt_version": ["v2"]})) == [13, 16, 19, 22]
    assert ids(ws, Filters(start_ns=synth.BASE_NS + 20 * synth.HOUR)) == [20, 21, 22, 23]
    assert ids(ws, Filters(end_ns=synth.BASE_NS + 2 * synth.HOUR)) == [0, 1]
    assert ids(ws, Filters(statuses=["ERROR"])) == [13, 16, 19, 22]
    # span-level fields combine on ONE span: an ERROR span of kind TOOL exists, an ERROR LLM span does not
    assert ids(ws, Filters(statuses=["ERROR"], kinds=["TOOL"])) == [13, 16, 19, 22]
    assert ids(ws, Filters(statuses=["ERROR"], kinds=["LLM"])) == []
    assert ids(ws, Filters(scores={"groundedness": (None, 0.5)})) == [13, 16, 19, 22]
    assert ids(ws, Filters(scores={"groundedness": (0.5, None)})) == [i for i in range(24) if i not in (13, 16, 19, 22)]
    assert ids(ws, Filters(min_latency_ms=1500)) == [13, 16, 19, 22]
    assert ids(ws, Filters(max_latency_ms=1100, dims={"tenant": ["acme"]})) == [0, 2, 4, 6, 8, 10, 12, 14, 18, 20]
    assert ids(ws, Filters(min_cost=0.02)) == []
    assert ids(ws, Filters(text="QUESTION 7 ")) == [7]  # case-insensitive substring of input text
    assert ids(ws, Filters(text="100%")) == []  # LIKE wildcards in the text are literal
    assert ids(ws, Filters(models=["gpt-4o"], agents=["writer"])) == list(range(24))
    assert ws.count_traces(Filters(dims={"tenant": ["globex"]})) == 12


def test_sorting_and_paging(ws):
    page1 = ws.traces(sort="duration_ms", descending=True, limit=5)
    assert list(page1["duration_ms"]) == [1900.0] * 4 + [1100.0]
    asc = ws.traces(sort="start_ns", descending=False, limit=3, offset=3)
    assert [int(t, 16) - 1 for t in asc["trace_id"]] == [3, 4, 5]
    with pytest.raises(FilterError, match="Cannot sort by 'nope'"):
        ws.traces(sort="nope")


def test_trace_table_with_eval_columns(ws):
    t = ws.traces(Filters(dims={"route": ["refunds"]}), limit=2, with_evals=True)
    assert list(t["evals"]) == [1, 1]
    assert list(t["eval_pass_rate"]) == [0.0, 0.0] and list(t["min_score"]) == [0.2, 0.2]


def test_query_params_round_trip():
    f = Filters(start_ns=synth.BASE_NS, end_ns=synth.BASE_NS + synth.HOUR, dims={"route": ["billing", "refunds"],
                "team": ["a"]}, models=["gpt-4o"], kinds=["TOOL"], statuses=["ERROR"], agents=["writer"],
                scores={"groundedness": (0.0, 0.5)}, min_cost=0.01, max_latency_ms=800, text="refund")
    params = f.to_query_params()
    assert params == {"start": "2025-11-24T00:00:00Z", "end": "2025-11-24T01:00:00Z", "route": "billing,refunds",
                      "dim.team": "a", "model": "gpt-4o", "kind": "TOOL", "status": "ERROR", "agent": "writer",
                      "score.groundedness": "0..0.5", "cost": "0.01..", "latency_ms": "..800", "q": "refund"}
    assert Filters.from_query_params(params) == f
    assert Filters.from_query_params({"trace_id": "abc", "sort": "x"}) == Filters()  # page keys are ignored
    assert Filters.from_query_params({"start": str(synth.BASE_NS + 5)}).start_ns == synth.BASE_NS + 5


@pytest.mark.parametrize("params, message", [
    ({"score.groundedness": "0.5"}, "expected LO..HI"),
    ({"cost": "a..b"}, "bounds must be numbers"),
    ({"latency_ms": "9..1"}, "low bound is above"),
    ({"start": "yesterday"}, "expected an ISO time"),
])
def test_bad_params_name_the_fix(params, message):
    with pytest.raises(FilterError, match=message):
        Filters.from_query_params(params)


def test_mapped_dimension_in_dims_json(tmp_path):
    from tracedesk.models import Span
    from tracedesk.store import write_batch

    ws = tracedesk.open(str(tmp_path / "d.db"), create=True)
    write_batch(ws.db, [Span(trace_id="a" * 32, span_id="1" * 16, dims={"team": "red"}, start_ns=1, end_ns=2),
                        Span(trace_id="b" * 32, span_id="2" * 16, dims={"team": "blue"}, start_ns=3, end_ns=4)])
    assert ws.extra_dimensions() == ["team"]
    assert list(ws.traces(Filters(dims={"team": ["blue"]}))["trace_id"]) == ["b" * 32]
    assert list(ws.cohort_matrix("team").index) == ["(all)", "blue", "red"]
    with pytest.raises(FilterError, match="Dimension"):
        ws.traces(Filters(dims={"x') OR 1 --": ["a"]}))
