"""Vercel AI SDK v5 and v6 captures (Node, @ai-sdk/openai against the fake server; tests/captures/).

The wrapper spans (ai.generateText / ai.streamText) repeat their provider calls' usage: only the do* spans
count, inside one trace and across traces (no context manager: every span its own trace).
"""
from __future__ import annotations

import pytest
from captures_support import VIAS, files, mini_cost, replay
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from receiver_support import make_receiver, post, stored

SNAPSHOT = "gpt-4o-mini-2024-07-18"
MAJORS = ("v5", "v6")
#: what each major reports of call 1's cached/reasoning tokens on generateText (v5 only promptTokens)
GENERATE_DETAILS = {"v5": (None, None), "v6": (64, 4)}


@pytest.fixture(params=VIAS)
def via(request):
    return request.param


@pytest.mark.parametrize("major", MAJORS)
@pytest.mark.parametrize("scenario", ["plain", "responses"])
def test_generate_text(db_path, via, major, scenario):
    r = replay(db_path, via, f"vercel_ai_{major}", scenario)
    assert r.kinds() == [("ai.generateText", "CHAIN"), ("ai.generateText.doGenerate", "LLM")]
    outer, call = r.spans
    assert r.parent_name(call) == "ai.generateText"
    assert (call["model"], call["response_model"], call["provider"]) == ("gpt-4o-mini", SNAPSHOT, "openai")
    cached, reasoning = GENERATE_DETAILS[major]
    assert r.tokens(call) == (120, 15, cached, reasoning)
    assert (call["cost_usd"], call["cost_source"]) == (pytest.approx(mini_cost(120, 15, cached or 0)), "computed")
    assert (outer["usage_counted"], call["usage_counted"]) == (0, 1)
    assert r.counted() == (120, 15)
    assert (call["input_text"], call["output_text"]) == ("What is the capital of France?",
                                                         "The capital of France is Paris.")
    assert {(s["session_id"], s["user_id"]) for s in r.spans} == {("session-v", "user-v")}


@pytest.mark.parametrize("major", MAJORS)
def test_stream_text_ttft(db_path, via, major):
    r = replay(db_path, via, f"vercel_ai_{major}", "stream")
    assert r.kinds() == [("ai.streamText", "CHAIN"), ("ai.streamText.doStream", "LLM")]
    call = r.one("ai.streamText.doStream")
    assert r.tokens(call) == (120, 15, 64, 4)
    assert call["output_text"] == "The capital of France is Paris."
    # TTFT is the SDK's own ai.response.msToFirstChunk (ms), equal to its ai.stream.firstChunk event's
    first = [e for e in __import__("json").loads(call["events"]) if e["name"] == "ai.stream.firstChunk"]
    assert call["ttft_ms"] == pytest.approx(float(first[0]["attributes"]["ai.response.msToFirstChunk"]))
    assert 0 < call["ttft_ms"] < call["duration_ms"]
    assert r.counted() == (120, 15)


@pytest.mark.parametrize("major", MAJORS)
def test_tools(db_path, via, major):
    r = replay(db_path, via, f"vercel_ai_{major}", "tools")
    assert r.kinds() == [("ai.generateText", "CHAIN"), ("ai.generateText.doGenerate", "LLM"),
                         ("ai.toolCall", "TOOL"), ("ai.generateText.doGenerate", "LLM")]
    first, second = r.named("ai.generateText.doGenerate")
    assert first["output_text"] == 'get_weather({"city": "Paris"})'
    assert second["output_text"] == "It is sunny and 22 °C in Paris."
    tool = r.one("ai.toolCall")
    assert (tool["tool_name"], tool["tool_arguments"], tool["tool_result"], r.parent_name(tool)) == (
        "get_weather", '{"city":"Paris"}', '{"city":"Paris","sky":"sunny","c":22}', "ai.generateText")
    assert [r.tokens(s)[:2] for s in (first, second)] == [(120, 15), (220, 25)]
    # v5's outer span reports the LAST step's usage, v6's the total: neither is counted
    assert r.one("ai.generateText")["input_tokens"] == {"v5": 220, "v6": 340}[major]
    assert r.counted() == (340, 40)


@pytest.mark.parametrize("major", MAJORS)
def test_error(db_path, via, major):
    r = replay(db_path, via, f"vercel_ai_{major}", "error")
    assert {s["status"] for s in r.spans} == {"ERROR"}
    call = r.one("ai.generateText.doGenerate")
    assert (call["kind"], call["model"], call["cost_source"]) == ("LLM", "gpt-missing", "unknown")
    assert call["status_message"] == "The model `gpt-missing` does not exist."
    assert r.traces[0]["error_count"] == 2


@pytest.mark.parametrize("major", MAJORS)
def test_wrapper_in_another_trace_is_not_counted_twice(db_path, via, major):
    """No context manager registered: ai.generateText and its doGenerate are two traces, neither with a
    parent. The SDK's relation (doGenerate inside generateText's window, same service) still applies."""
    r = replay(db_path, via, f"vercel_ai_{major}", "nocontext")
    assert len(r.traces) == 2 and all(s["parent_span_id"] is None for s in r.spans)
    assert (r.one("ai.generateText")["usage_counted"], r.one("ai.generateText.doGenerate")["usage_counted"]) == (0, 1)
    assert sorted((t["root_name"], t["input_tokens"]) for t in r.traces) == [
        ("ai.generateText", None), ("ai.generateText.doGenerate", 120)]
    assert r.counted() == (120, 15)


@pytest.mark.parametrize("wrapper_first", [True, False])
def test_cross_trace_wrapper_in_either_arrival_order(db_path, wrapper_first):
    """The two traces POSTed separately to the receiver, in both orders: the wrapper is uncounted either way."""
    request = ExportTraceServiceRequest.FromString(files("vercel_ai_v6", "nocontext")[0].read_bytes())
    bodies = {}
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                one = ExportTraceServiceRequest()
                out_rs = one.resource_spans.add()
                out_rs.resource.CopyFrom(rs.resource)
                out_ss = out_rs.scope_spans.add()
                out_ss.scope.CopyFrom(ss.scope)
                out_ss.spans.add().CopyFrom(span)
                bodies[span.name] = one.SerializeToString()
    order = ["ai.generateText", "ai.generateText.doGenerate"]
    receiver = make_receiver(db_path)
    try:
        for name in order if wrapper_first else order[::-1]:
            assert post(receiver, "/v1/traces", bodies[name], {"Content-Type": "application/x-protobuf"}).status == 200
    finally:
        receiver.stop()
    assert stored(db_path, "SELECT name, usage_counted FROM spans ORDER BY name") == [
        ("ai.generateText", 0), ("ai.generateText.doGenerate", 1)]
    assert stored(db_path, "SELECT SUM(input_tokens), SUM(output_tokens) FROM traces") == [(120, 15)]


def test_bedrock_provider_call_is_an_llm_span(db_path, via):
    """@ai-sdk/amazon-bedrock against a fake Converse endpoint (Bedrock counts input without cache reads;
    the SDK reports inputTokens = noCache + cacheRead)."""
    from tracedesk.ingest.pricing import lookup

    r = replay(db_path, via, "vercel_ai_v6", "bedrock")
    assert r.kinds() == [("ai.generateText", "CHAIN"), ("ai.generateText.doGenerate", "LLM")]
    call = r.one("ai.generateText.doGenerate")
    model = "anthropic.claude-3-5-haiku-20241022-v1:0"
    assert (call["model"], call["response_model"], call["provider"]) == (model, model, "aws.bedrock")
    assert r.tokens(call) == (120, 15, 64, None)
    price = lookup(model, "aws.bedrock")
    assert price is not None
    expected = 56 * price["input_cost_per_token"] + 64 * price["cache_read_input_token_cost"] + 15 * price["output_cost_per_token"]
    assert (call["cost_usd"], call["cost_source"]) == (pytest.approx(expected), "computed")
    assert r.counted() == (120, 15)


def test_wrappers_are_looked_up_by_time_window_not_by_scanning_every_span(db_path, via):
    """Ingest looks for cross-trace wrappers after every file; the plan read every span as a possible wrapper
    (6.2 of 13 s CPU on a 29k-span week with Vercel traffic). Now: the calls by primary key, then a
    kind/start range per call, on a database built by the ingest path without ANALYZE."""
    from tracedesk.store import connect
    from tracedesk.store.links import wrappers_of_calls_sql

    replay(db_path, via, "vercel_ai_v5", "nocontext")
    db = connect(db_path)
    ids = [r[0] for r in db.execute("SELECT trace_id FROM traces")]
    plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + wrappers_of_calls_sql(len(ids)), [*ids, 10**9])]
    assert not any(step.startswith("SCAN spans") or step.startswith("SCAN w") for step in plan), plan
    assert "SEARCH spans USING INDEX sqlite_autoindex_spans_1 (trace_id=?)" in plan
    assert "SEARCH w USING INDEX idx_spans_kind_start (kind=? AND start_ns>? AND start_ns<?)" in plan
