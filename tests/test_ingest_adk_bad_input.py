"""Google ADK `call_llm` spans whose response JSON is cut short (an attribute length limit in the exporter or a
collector), not JSON at all, or carries figures that are no token counts: the span and the counts its own
gen_ai.usage.* attributes sent are stored, what cannot be read is reported (file, index, reason) and dropped."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from _ingest_util import TRACE, dumps, request, span

from tracedesk.ingest import ingest_bytes
from tracedesk.store import connect

WHERE = "adk.json#resourceSpans[0].scopeSpans[0].spans"
USAGE = "gcp.vertex.agent.llm_response usage_metadata"


def _call(span_id: str, response: str) -> dict:
    return span(TRACE, span_id, "call_llm", {
        "gen_ai.system": "gcp.vertex.agent", "gen_ai.request.model": "gemini-2.5-pro",
        "gcp.vertex.agent.llm_request": "{}", "gcp.vertex.agent.llm_response": response,
        "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10})


def _ingest(tmp_path, responses: list[str]):
    path = str(tmp_path / "t.db")
    report = ingest_bytes(path, dumps(request([_call(f"{i + 1:016x}", r) for i, r in enumerate(responses)],
                                              scope="gcp.vertex.agent")), "adk.json")
    rows = connect(path).execute("SELECT input_tokens, output_tokens, reasoning_tokens, cached_tokens FROM spans "
                                 "ORDER BY span_id").fetchall()
    return report, rows, connect(path)


def test_a_truncated_or_non_json_response_keeps_the_span_and_its_attribute_counts(tmp_path) -> None:
    full = json.dumps({"usage_metadata": {"prompt_token_count": 100, "candidates_token_count": 10,
                                          "thoughts_token_count": 40, "cached_content_token_count": 64}})
    report, rows, db = _ingest(tmp_path, [full[:37], "not json", "[" * 100_000 + "]" * 100_000,
                                          json.dumps({"usage_metadata": [1, 2]}), full])
    assert (report.spans_inserted, report.rejected, report.warnings) == (5, [], [])
    assert rows == [(100, 10, None, None)] * 4 + [(100, 50, 40, 64)]
    assert db.execute("SELECT llm_calls, input_tokens, output_tokens FROM traces").fetchall() == [(5, 500, 90)]


def test_figures_that_are_no_token_counts_are_dropped_and_reported(tmp_path) -> None:
    report, rows, _db = _ingest(tmp_path, [
        json.dumps({"usage_metadata": {"prompt_token_count": 10**30, "candidates_token_count": -5,
                                       "thoughts_token_count": "lots", "cached_content_token_count": 1e308}}),
        json.dumps({"usage_metadata": {"thoughts_token_count": True, "cached_content_token_count": 12.0}}),
        json.dumps({"usage_metadata": {"thoughts_token_count": 2**63 - 1}})])
    assert (report.spans_inserted, report.rejected) == (3, [])
    assert [str(w) for w in report.warnings] == [
        f"{WHERE}[0]: {USAGE}.prompt_token_count 1e+30 is not a finite non-negative integer; field dropped",
        f"{WHERE}[0]: {USAGE}.candidates_token_count -5 is not a finite non-negative integer; field dropped",
        f"{WHERE}[0]: {USAGE}.cached_content_token_count 1e+308 is not a finite non-negative integer; field dropped",
        f"{WHERE}[0]: {USAGE}.thoughts_token_count 'lots' is not a finite non-negative integer; field dropped",
        f"{WHERE}[1]: {USAGE}.thoughts_token_count True is not a finite non-negative integer; field dropped",
        f"{WHERE}[2]: {USAGE}.thoughts_token_count 9223372036854775807 added to the output count passes 2^63-1; "
        "field dropped"]
    # the attributes' own counts stand; a thinking count that cannot join the output is not kept beside it
    assert rows == [(100, 10, None, None), (100, 10, None, 12), (100, 10, None, None)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=300), st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["usage_metadata", "prompt_token_count", "candidates_token_count", "thoughts_token_count",
                         "cached_content_token_count", "content", "parts", "text"]), inner, max_size=4),
    max_leaves=20).map(lambda v: json.dumps(v, allow_nan=True))), min_size=1, max_size=5))
def test_any_response_text_loses_no_span_and_no_attribute_count(tmp_path_factory, responses: list[str]) -> None:
    report, rows, _db = _ingest(tmp_path_factory.mktemp("adk"), responses)
    assert (report.spans_inserted, report.rejected) == (len(responses), [])
    for input_tokens, output_tokens, reasoning, _cached in rows:
        assert input_tokens == 100  # the attribute's, never replaced by the JSON's
        assert output_tokens is not None and output_tokens >= 10
        assert reasoning is None or 0 <= reasoning <= output_tokens
