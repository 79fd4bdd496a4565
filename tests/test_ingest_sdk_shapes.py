"""Shapes real agent SDKs send that the plain attribute tables miss (found by the fifth labelled week, each fact
checked against the SDK's own source): the Vercel AI SDK's cohorts in ai.telemetry.metadata.* under a Next.js
server root, its Anthropic cache figures only in ai.response.providerMetadata, Logfire's OpenAI Agents reasoning
tokens only in the `response` JSON, and Strands Agents' event-loop cycles and framework-named gen_ai.system.
Found by the sixth week: Google ADK 1.x's `call_llm` model-call spans, which send no gen_ai.operation.name (and
leave Gemini's thinking and cache figures in the response JSON)."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from _ingest_util import TRACE, dumps, request, span

from tracedesk.ingest import ingest_bytes, ingest_paths, parse_bytes
from tracedesk.ingest.pricing import price_table
from tracedesk.store import connect

ROOT, STREAM, CALL = "1" * 16, "2" * 16, "3" * 16
_META = {"ai.telemetry.metadata.route": "support_chat", "ai.telemetry.metadata.tenant": "maple-grocers",
         "ai.telemetry.metadata.promptVersion": "sc-3", "ai.telemetry.metadata.environment": "production",
         "ai.telemetry.metadata.userId": "mg-adm-07"}
#: the Next.js route handler's server span (no LLM convention)
_NEXT_ROOT = {"http.method": "POST", "http.route": "/api/support/chat", "http.status_code": 200,
              "next.span_type": "BaseServer.handleRequest", "next.route": "/api/support/chat"}


def _parse_all(spans, scope="test"):
    result = parse_bytes(dumps(request(spans, scope=scope)), "t.json")
    assert result.rejected == []
    return result.spans


def _parse(spans):
    return {s.name: s for s in _parse_all(spans)}


def _do_stream(attrs):
    base = {"ai.operationId": "ai.streamText.doStream", "ai.model.id": "claude-sonnet-4-5",
            "ai.model.provider": "anthropic.messages", "gen_ai.system": "anthropic.messages",
            "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.response.model": "claude-sonnet-4-5-20250929"}
    return span(TRACE, CALL, "ai.streamText.doStream", {**base, **attrs}, parent=STREAM, kind="SPAN_KIND_CLIENT")


def test_ai_sdk_telemetry_metadata_cohorts_beat_the_next_root_http_route(db_path):
    """AI SDK (get-base-telemetry-attributes.ts) writes `telemetry.metadata` as ai.telemetry.metadata.<key> on its
    spans; the Next.js root only knows the path template. The trace's cohorts are what the app stated; a trace
    whose only route is the server's keeps it; a span with both reads the app's."""
    doc = request([
        span(TRACE, ROOT, "POST /api/support/chat", _NEXT_ROOT, kind="SPAN_KIND_SERVER"),
        span(TRACE, STREAM, "ai.streamText", {"ai.operationId": "ai.streamText", "ai.model.id": "claude-sonnet-4-5",
                                              **_META}, parent=ROOT),
        _do_stream({**_META, "ai.usage.inputTokens": 120, "ai.usage.outputTokens": 30}),
        span("b" * 32, "4" * 16, "GET /api/health", {"http.method": "GET", "http.route": "/api/health"},
             kind="SPAN_KIND_SERVER"),
        span("c" * 32, "5" * 16, "ai.generateText", {"ai.operationId": "ai.generateText",
                                                     "http.route": "/api/summarize",
                                                     "ai.telemetry.metadata.route": "summaries"}),
    ])
    ingest_bytes(db_path, dumps(doc), "next.json")
    db = connect(db_path)
    traces = db.execute("SELECT trace_id, route, tenant, prompt_version, environment, user_id FROM traces "
                        "ORDER BY trace_id").fetchall()
    assert traces == [
        (TRACE, "support_chat", "maple-grocers", "sc-3", "production", "mg-adm-07"),
        ("b" * 32, "/api/health", None, None, None, None),
        ("c" * 32, "summaries", None, None, None, None),
    ]
    spans = dict(db.execute("SELECT name, route FROM spans").fetchall())
    # the server span's own value is still its http.route (span-level reads are unchanged)
    assert spans == {"POST /api/support/chat": "/api/support/chat", "ai.streamText": "support_chat",
                     "ai.streamText.doStream": "support_chat", "GET /api/health": "/api/health",
                     "ai.generateText": "summaries"}


def test_ai_sdk_anthropic_cache_figures_from_provider_metadata():
    """@ai-sdk/anthropic (AI SDK 5): inputTokens is Anthropic's input_tokens (without the cache),
    cachedInputTokens the cache reads, and the writes only in providerMetadata.anthropic; AI SDK 4 also put the
    reads there (and had no ai.usage.cachedInputTokens). Surfaced under the canonical attribute names."""
    v5 = {"anthropic": {"cacheCreationInputTokens": 6210, "usage": {
        "input_tokens": 412, "output_tokens": 96, "cache_creation_input_tokens": 6210, "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 6210, "ephemeral_1h_input_tokens": 0},
        "service_tier": "standard"}}}
    by = _parse([_do_stream({"ai.response.providerMetadata": json.dumps(v5), "ai.usage.inputTokens": 412,
                             "ai.usage.outputTokens": 96, "ai.usage.cachedInputTokens": 0,
                             "gen_ai.usage.input_tokens": 412, "gen_ai.usage.output_tokens": 96})])
    call = by["ai.streamText.doStream"]
    assert call.attributes["gen_ai.usage.cache_creation.input_tokens"] == 6210
    assert "gen_ai.usage.cache_read.input_tokens" not in call.attributes  # the span sends its reads itself
    # stored with the cache inside the input (token_usage rule 0): 412 uncached + 6,210 written
    assert (call.input_tokens, call.output_tokens, call.cached_tokens, call.cache_write_tokens) == (6622, 96, 0, 6210)

    v4 = {"anthropic": {"cacheCreationInputTokens": None, "cacheReadInputTokens": 2118}}
    by = _parse([_do_stream({"ai.response.providerMetadata": json.dumps(v4), "ai.usage.promptTokens": 2430,
                             "ai.usage.completionTokens": 64})])
    call = by["ai.streamText.doStream"]
    assert call.attributes["gen_ai.usage.cache_read.input_tokens"] == 2118
    assert "gen_ai.usage.cache_creation.input_tokens" not in call.attributes  # null: no write reported
    assert (call.cached_tokens, call.input_tokens) == (2118, 2430 + 2118)

    # a canonical attribute the span sends is never overwritten; Bedrock's writes sit under bedrock.usage
    by = _parse([_do_stream({"ai.response.providerMetadata": json.dumps({"bedrock": {"usage": {
        "cacheWriteInputTokens": 900}}}), "gen_ai.usage.cache_creation.input_tokens": 901})])
    assert by["ai.streamText.doStream"].attributes["gen_ai.usage.cache_creation.input_tokens"] == 901
    by = _parse([_do_stream({"ai.response.providerMetadata": json.dumps({"bedrock": {"usage": {
        "cacheWriteInputTokens": 900}}})})])
    assert by["ai.streamText.doStream"].attributes["gen_ai.usage.cache_creation.input_tokens"] == 900


#: (providerMetadata as sent, stored (input tokens, cache writes), warning, or None). The do* span reports
#: ai.usage.inputTokens 100, Anthropic's count without the cache (AI SDK 5), so a surfaced write adds to it.
_BAD_METADATA = [
    ("malformed JSON", '{"anthropic": {"cacheCreationInputTokens": 80', (100, None), None),
    ("a list as JSON", "[1, 2]", (100, None), None),
    ("a number", 42, (100, None), None),
    ("an array attribute", [1, "x"], (100, None), None),
    ("JSON null", "null", (100, None), None),
    ("a null provider", '{"anthropic": null}', (100, None), None),
    ("a null figure, the next path read", json.dumps({"anthropic": {"cacheCreationInputTokens": None,
                                                                    "usage": {"cache_creation_input_tokens": 30}}}),
     (130, 30), None),
    ("a boolean", '{"anthropic": {"cacheCreationInputTokens": true}}', (100, None),
     "anthropic.cacheCreationInputTokens True is not a finite non-negative integer; field dropped"),
    ("negative, the next path read", json.dumps({"anthropic": {"cacheCreationInputTokens": -3,
                                                               "usage": {"cache_creation_input_tokens": 7}}}),
     (107, 7), "anthropic.cacheCreationInputTokens -3 is not a finite non-negative integer; field dropped"),
    ("an object", '{"anthropic": {"cacheCreationInputTokens": {"n": 1}}}', (100, None),
     "anthropic.cacheCreationInputTokens {'n': 1} is not a finite non-negative integer; field dropped"),
    ("beyond int64", '{"anthropic": {"cacheCreationInputTokens": 1e30}}', (100, None),
     "anthropic.cacheCreationInputTokens 1e+30 is not a finite non-negative integer; field dropped"),
    ("a structured attribute", {"anthropic": {"cacheCreationInputTokens": 9}}, (109, 9), None),
]


def test_ai_sdk_provider_metadata_bad_input_keeps_the_span(db_path, tmp_path):
    """ingest.validate's policy: metadata that is no JSON object stays the attribute it is (nothing surfaced, no
    warning: a JSON-text attribute that does not parse is kept as text everywhere); a figure in it that is no
    token count is dropped with a warning at the span; every span is stored."""
    spans = [_do_stream({"ai.response.providerMetadata": sent, "ai.usage.inputTokens": 100, "ai.usage.outputTokens": 5})
             | {"spanId": f"{i + 1:016x}", "name": name} for i, (name, sent, _, _) in enumerate(_BAD_METADATA)]
    path = tmp_path / "ai.json"
    path.write_bytes(dumps(request(spans)))
    report = ingest_paths(db_path, [path])
    assert report.rejected == []
    where = f"{path}#resourceSpans[0].scopeSpans[0].spans"
    assert sorted((w.where, w.reason) for w in report.warnings) == sorted(
        (f"{where}[{i}]", f"ai.response.providerMetadata {warning}")
        for i, (_, _, _, warning) in enumerate(_BAD_METADATA) if warning)
    stored = {name: (i, w) for name, i, w in connect(db_path).execute(
        "SELECT name, input_tokens, cache_write_tokens FROM spans")}
    assert stored == {name: counts for name, _, counts, _ in _BAD_METADATA}
    malformed = connect(db_path).execute("SELECT json_extract(td_json(attributes), '$.\"ai.response.providerMetadata\"') "
                                         "FROM spans WHERE name = 'malformed JSON'").fetchone()
    assert malformed == ('{"anthropic": {"cacheCreationInputTokens": 80',)


_METADATA_KEYS = st.sampled_from(["anthropic", "bedrock", "usage", "cacheCreationInputTokens", "cacheReadInputTokens",
                                  "cache_creation_input_tokens", "cache_read_input_tokens", "cacheWriteInputTokens",
                                  "other"])
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_METADATA_KEYS | st.text(max_size=6), inner,
                                                               max_size=4),
    max_leaves=20)


def _proto3_doubles(node):
    """The proto3 JSON mapping writes a non-finite double as the string "NaN" / "Infinity" / "-Infinity"."""
    if isinstance(node, dict):
        return {k: (str(v).replace("inf", "Infinity").replace("nan", "NaN")
                    if k == "doubleValue" and isinstance(v, float) and not math.isfinite(v) else _proto3_doubles(v))
                for k, v in node.items()}
    return [_proto3_doubles(v) for v in node] if isinstance(node, list) else node


@settings(max_examples=200, deadline=None)
@given(value=_JSONISH, form=st.sampled_from(["json text", "cut json text", "attribute"]))
@example(value={"anthropic": {"cacheCreationInputTokens": 2**70}}, form="attribute")
@example(value={"anthropic": {"cacheCreationInputTokens": math.inf, "usage": {"cache_read_input_tokens": "7"}}},
         form="attribute")
@example(value={"bedrock": {"usage": {"cacheWriteInputTokens": [None]}}}, form="json text")
def test_ai_sdk_provider_metadata_never_raises_nor_loses_the_span(value, form):
    if form == "attribute":
        sent = value if value is not None else "null"  # OTLP has no null AnyValue
    else:
        sent = json.dumps(value)  # NaN / Infinity make text no JSON parser accepts: kept as text
        sent = sent[: len(sent) // 2] if form == "cut json text" else sent
    doc = _proto3_doubles(request([_do_stream({"ai.response.providerMetadata": sent, "ai.usage.inputTokens": 100})]))
    result = parse_bytes(dumps(doc), "t.json")
    assert result.rejected == []
    (call,) = result.spans
    assert call.cache_write_tokens is None or 0 <= call.cache_write_tokens <= 2**63 - 1
    assert call.cached_tokens is None or 0 <= call.cached_tokens <= 2**63 - 1
    assert call.input_tokens is not None and call.input_tokens >= 100


def test_logfire_openai_agents_responses_reasoning_tokens_from_the_response_json():
    """logfire.instrument_openai_agents(): the `Responses API with {gen_ai.request.model!r}` span carries the
    Response object as JSON in `response`; its usage details are the only place reasoning and cached tokens are."""
    usage = {"input_tokens": 2310, "input_tokens_details": {"cached_tokens": 1024}, "output_tokens": 3040,
             "output_tokens_details": {"reasoning_tokens": 2876}, "total_tokens": 5350}
    response = {"id": "resp_0c1f", "model": "gpt-5-mini-2025-08-07", "object": "response", "status": "completed",
                "reasoning": {"effort": "high", "summary": None}, "usage": usage,
                "output": [{"type": "message", "content": [{"type": "output_text", "text": "Flag receipt 4."}]}]}
    attrs = {"logfire.msg_template": "Responses API with {gen_ai.request.model!r}",
             "logfire.msg": "Responses API with 'gpt-5-mini'", "logfire.span_type": "span",
             "response_id": "resp_0c1f", "gen_ai.request.model": "gpt-5-mini", "response": json.dumps(response),
             "gen_ai.response.model": "gpt-5-mini-2025-08-07", "gen_ai.system": "openai",
             "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 2310, "gen_ai.usage.output_tokens": 3040,
             "logfire.json_schema": json.dumps({"type": "object", "properties": {"response": {"type": "object"}}})}
    by = _parse([span(TRACE, CALL, "Responses API with {gen_ai.request.model!r}", attrs)])
    call = by["Responses API with 'gpt-5-mini'"]
    assert (call.kind, call.input_tokens, call.output_tokens, call.reasoning_tokens, call.cached_tokens) == (
        "LLM", 2310, 3040, 2876, 1024)
    assert call.output_text == "Flag receipt 4."
    # another convention's `response` attribute is not read as a Responses object
    other = _parse([span(TRACE, CALL, "chat", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
                                               "gen_ai.usage.output_tokens": 5, "response": json.dumps(response)})])
    assert other["chat"].reasoning_tokens is None


def test_strands_event_loop_cycles_and_bedrock_as_the_provider():
    """strands/telemetry/tracer.py: every span but the cycle gets gen_ai.system (or gen_ai.provider.name with
    gen_ai_latest_experimental) = "strands-agents", the framework; `execute_event_loop_cycle` carries only
    event_loop.cycle_id (+ gen_ai.event.start_time/end_time). BedrockModel sends the Bedrock model id."""
    model = "us.anthropic.claude-sonnet-4-20250514-v1:0"
    agent, cycle, chat, tool = "a" * 16, "b" * 16, "c" * 16, "d" * 16
    result = parse_bytes(dumps(request([
        span(TRACE, agent, "invoke_agent payroll_assistant", {
            "gen_ai.system": "strands-agents", "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "payroll_assistant", "gen_ai.request.model": model}),
        span(TRACE, cycle, "execute_event_loop_cycle", {
            "gen_ai.event.start_time": "2027-11-05T13:22:04.112000+00:00",
            "event_loop.cycle_id": "5d6a8f02-0c3e-4b4f-9a55-1f0e2b7c9d11",
            "gen_ai.event.end_time": "2027-11-05T13:22:06.310000+00:00"}, parent=agent),
        span(TRACE, chat, "chat", {
            "gen_ai.provider.name": "strands-agents", "gen_ai.operation.name": "chat", "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": 2410, "gen_ai.usage.output_tokens": 88}, parent=cycle),
        span(TRACE, tool, "execute_tool get_paystub", {
            "gen_ai.system": "strands-agents", "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_paystub", "gen_ai.tool.status": "success"}, parent=cycle),
        # Strands on another provider (OpenAIModel): the id's shape names no provider; the price table lists
        # gpt-4o-mini under openai; a model in no table is unknown, never the framework
        span("e" * 32, "f" * 16, "chat", {"gen_ai.system": "strands-agents", "gen_ai.operation.name": "chat",
                                          "gen_ai.request.model": "gpt-4o-mini"}),
        span("e" * 32, "9" * 16, "chat", {"gen_ai.system": "strands-agents", "gen_ai.operation.name": "chat",
                                          "gen_ai.request.model": "acme-finetune-7"}),
    ])), "t.json")
    assert result.rejected == []
    got = {s.span_id: (s.kind, s.provider, s.convention) for s in result.spans}
    assert got == {agent: ("AGENT", "aws.bedrock", "otel_genai"), cycle: ("CHAIN", None, "otel_genai"),
                   chat: ("LLM", "aws.bedrock", "otel_genai"), tool: ("TOOL", None, "otel_genai"),
                   "f" * 16: ("LLM", "openai", "otel_genai"), "9" * 16: ("LLM", None, "otel_genai")}


# -- Google ADK 1.x (google/adk-python src/google/adk/telemetry/tracing.py) ------------------------------------------
_ADK_INVOCATION = {"gcp.vertex.agent.invocation_id": "e-7f3a", "gcp.vertex.agent.session_id": "s-adk-2"}
#: trace_call_llm's LlmResponse.model_dump_json: a Gemini answer with its usage metadata
_GEMINI_RESPONSE = {
    "content": {"role": "model", "parts": [{"text": "HS code 8471.30: portable automatic data-processing machines."}]},
    "finish_reason": "STOP", "model_version": "gemini-2.5-pro",
    "usage_metadata": {"prompt_token_count": 1840, "candidates_token_count": 62, "cached_content_token_count": 1024,
                       "thoughts_token_count": 210, "total_token_count": 2112}}
_GEMINI_REQUEST = {"model": "gemini-2.5-pro", "config": {"max_output_tokens": 1024, "top_p": 0.95},
                   "contents": [{"role": "user", "parts": [{"text": "Classify a laptop for the export declaration"}]}]}


def _call_llm(span_id: str, model: str, usage: tuple[int, int], extra: dict | None = None) -> dict:
    """trace_call_llm: gen_ai.system is ADK's tracer name whatever the model; no gen_ai.operation.name."""
    return span(TRACE, span_id, "call_llm", {
        "gen_ai.system": "gcp.vertex.agent", "gen_ai.request.model": model, **_ADK_INVOCATION,
        "gcp.vertex.agent.event_id": f"ev-{span_id[:4]}", "gcp.vertex.agent.llm_request": "{}",
        "gcp.vertex.agent.llm_response": "{}", "gen_ai.usage.input_tokens": usage[0],
        "gen_ai.usage.output_tokens": usage[1], **(extra or {})}, parent="c" * 16)


def _adk_trace() -> list[dict]:
    return [
        span(TRACE, "a" * 16, "invocation", {}),  # the runner's root: no attributes
        span(TRACE, "c" * 16, "invoke_agent customs_agent", {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "customs_agent",
            "gen_ai.agent.description": "Prepares export declarations", "gen_ai.conversation.id": "s-adk-2"},
            parent="a" * 16),
        _call_llm("d" * 16, "gemini-2.5-pro", (1840, 62), {
            "gcp.vertex.agent.llm_request": json.dumps(_GEMINI_REQUEST),
            "gcp.vertex.agent.llm_response": json.dumps(_GEMINI_RESPONSE), "gen_ai.request.top_p": 0.95,
            "gen_ai.request.max_tokens": 1024, "gen_ai.response.finish_reasons": ["stop"]}),
        # trace_tool_call: the empty llm_request / llm_response are set "as UI expect these"; no model
        span(TRACE, "e" * 16, "execute_tool classify_hs_code", {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "classify_hs_code",
            "gen_ai.tool.description": "Looks up the HS code", "gen_ai.tool.type": "FunctionTool",
            "gcp.vertex.agent.llm_request": "{}", "gcp.vertex.agent.llm_response": "{}",
            "gcp.vertex.agent.tool_call_args": json.dumps({"item": "laptop"}), "gen_ai.tool.call.id": "adk-1",
            "gcp.vertex.agent.event_id": "ev-tool", "gcp.vertex.agent.tool_response": json.dumps({"result": "8471.30"})},
            parent="c" * 16),
        # ADK's LiteLlm adapter on Claude, and a model no price table knows
        _call_llm("f" * 16, "anthropic/claude-haiku-4-5-20251001", (900, 40)),
        _call_llm("9" * 16, "acme-customs-ft-3", (300, 10)),
    ]


def test_adk_call_llm_is_the_model_call_and_its_provider_comes_from_the_model():
    by = {s.span_id: s for s in _parse_all(_adk_trace())}
    got = {sid: (s.kind, s.convention, s.provider, s.model) for sid, s in by.items()}
    assert got == {
        "a" * 16: ("UNKNOWN", "unknown", None, None),
        "c" * 16: ("AGENT", "otel_genai", None, None),
        "d" * 16: ("LLM", "google_adk", "gcp.vertex_ai", "gemini-2.5-pro"),  # litellm lists bare gemini-* on Vertex
        "e" * 16: ("TOOL", "google_adk", None, None),
        "f" * 16: ("LLM", "google_adk", "anthropic", "anthropic/claude-haiku-4-5-20251001"),
        "9" * 16: ("LLM", "google_adk", None, "acme-customs-ft-3"),  # unknown model: unknown provider, not ADK
    }
    gemini, claude, unknown = by["d" * 16], by["f" * 16], by["9" * 16]
    # gen_ai.usage.output_tokens is the visible answer (candidates); the thinking tokens are only in the response's
    # usage_metadata, like the implicit-cache reads (inside prompt_token_count)
    assert (gemini.input_tokens, gemini.output_tokens, gemini.cached_tokens, gemini.reasoning_tokens,
            gemini.total_tokens, gemini.finish_reason) == (1840, 62 + 210, 1024, 210, 2112, "stop")
    # computed from the table's per-token prices: 816 x 1.25e-6 + 1024 cached x 1.25e-7 + 272 x 1e-5 USD (no
    # reasoning price: output's); 900 x 1e-6 + 40 x 5e-6 USD
    table = price_table()
    rates = {m: tuple(table[m].get(k) for k in ("input_cost_per_token", "cache_read_input_token_cost",
                                                "output_cost_per_token", "output_cost_per_reasoning_token"))
             for m in ("gemini-2.5-pro", "claude-haiku-4-5-20251001")}
    assert rates == {"gemini-2.5-pro": (1.25e-06, 1.25e-07, 1e-05, None),
                     "claude-haiku-4-5-20251001": (1e-06, 1e-07, 5e-06, None)}
    assert (gemini.cost_usd, gemini.cost_source) == (pytest.approx(0.003868), "computed")
    assert (claude.cost_usd, claude.cost_source) == (pytest.approx(0.0011), "computed")
    assert (unknown.cost_usd, unknown.cost_source) == (None, "unknown")
    # the Gemini request / response JSON are the messages; "{}" (content capture off, or a tool span) is no text
    assert (gemini.input_text, gemini.output_text) == ("Classify a laptop for the export declaration",
                                                       "HS code 8471.30: portable automatic data-processing machines.")
    assert (gemini.input_messages, gemini.output_messages) == (
        [{"role": "user", "content": "Classify a laptop for the export declaration"}],
        [{"role": "assistant", "content": "HS code 8471.30: portable automatic data-processing machines.",
          "finish_reason": "stop"}])
    assert (claude.input_text, claude.output_text, claude.input_messages) == (None, None, None)
    assert {sid: s.session_id for sid, s in by.items()} == {  # ADK's tool spans carry no session
        "a" * 16: None, "c" * 16: "s-adk-2", "d" * 16: "s-adk-2", "e" * 16: None, "f" * 16: "s-adk-2",
        "9" * 16: "s-adk-2"}
    tool = by["e" * 16]
    assert (tool.tool_name, tool.tool_arguments, tool.tool_result, tool.input_text, tool.output_text) == (
        "classify_hs_code", '{"item": "laptop"}', '{"result": "8471.30"}', '{"item": "laptop"}',
        '{"result": "8471.30"}')


def test_adk_gemini_conversation_with_a_tool_turn_and_thinking():
    """google-genai Content as ADK's llm_request carries the history: the model's function_call turn, the tool's
    function_response (sent as the user's turn), and a response whose thinking part is not the answer."""
    request_json = {"model": "gemini-2.5-flash", "config": {"temperature": 0.1}, "contents": [
        {"role": "user", "parts": [{"text": "Is this shipment sanctioned?"}]},
        {"role": "model", "parts": [{"function_call": {"id": "c1", "name": "check_sanctions",
                                                       "args": {"party": "ACME"}}}]},
        {"role": "user", "parts": [{"function_response": {"id": "c1", "name": "check_sanctions",
                                                          "response": {"listed": False}}}]}]}
    response_json = {"content": {"role": "model", "parts": [{"text": "The list has no ACME.", "thought": True},
                                                            {"text": "No: ACME is not on the list."}]},
                     "finish_reason": "STOP"}
    (call,) = _parse_all([_call_llm("1" * 16, "gemini-2.5-flash", (700, 12), {
        "gcp.vertex.agent.llm_request": json.dumps(request_json),
        "gcp.vertex.agent.llm_response": json.dumps(response_json)})])
    assert call.input_messages == [
        {"role": "user", "content": "Is this shipment sanctioned?"},
        {"role": "assistant", "content": None, "tool_calls": [{"name": "check_sanctions",
                                                                "arguments": '{"party":"ACME"}', "id": "c1"}]},
        {"role": "tool", "content": '{"listed":false}'}]
    assert call.output_messages == [{"role": "assistant", "content": "No: ACME is not on the list.",
                                     "finish_reason": "stop"}]
    assert (call.input_text, call.output_text, call.finish_reason) == (
        '{"listed":false}', "No: ACME is not on the list.", "stop")


def test_adk_calls_are_counted_once_per_trace(db_path):
    ingest_bytes(db_path, dumps(request(_adk_trace(), scope="gcp.vertex.agent")), "adk.json")
    db = connect(db_path)
    assert db.execute("SELECT llm_calls, tool_calls, input_tokens, output_tokens FROM traces").fetchall() == [
        (3, 1, 1840 + 900 + 300, 272 + 40 + 10)]
    assert db.execute("SELECT provider, COUNT(*) FROM spans WHERE kind = 'LLM' GROUP BY 1 ORDER BY 1").fetchall() \
        == [(None, 1), ("anthropic", 1), ("gcp.vertex_ai", 1)]


@pytest.mark.parametrize("attrs,provider", [
    # opentelemetry-instrumentation-google-genai: gen_ai.system from the client's backend (generate_content.py
    # _determine_genai_system: "vertex_ai" for a Vertex client, else "gemini")
    ({"gen_ai.system": "gemini"}, "gcp.gemini"),
    ({"gen_ai.system": "vertex_ai"}, "gcp.vertex_ai"),
    # the semantic conventions' gen_ai.provider.name values
    ({"gen_ai.provider.name": "gcp.gemini"}, "gcp.gemini"),
    ({"gen_ai.provider.name": "gcp.vertex_ai"}, "gcp.vertex_ai"),
    # LangChain's ls_provider: ChatGoogleGenerativeAI, ChatVertexAI
    ({"langsmith.metadata.ls_provider": "google_genai"}, "gcp.gemini"),
    ({"langsmith.metadata.ls_provider": "google_vertexai"}, "gcp.vertex_ai"),
    # a framework's name in one provider key does not hide the API another key names
    ({"gen_ai.provider.name": "gcp.vertex.agent", "gen_ai.system": "gemini"}, "gcp.gemini"),
    # no provider information (ADK's call_llm alone): the price table's provider for the bare name
    ({"gen_ai.system": "gcp.vertex.agent"}, "gcp.vertex_ai"),
    ({}, "gcp.vertex_ai"),
])
def test_the_api_a_span_names_wins_over_the_model_name_mapping(attrs, provider):
    (call,) = _parse_all([span(TRACE, "1" * 16, "generate_content gemini-2.5-flash", {
        "gen_ai.operation.name": "generate_content", "gen_ai.request.model": "gemini-2.5-flash", **attrs})])
    assert (call.kind, call.model, call.provider) == ("LLM", "gemini-2.5-flash", provider)


def test_adk_thinking_tokens_are_added_once():
    """A call_llm span whose output count already holds the thinking tokens (it sends them itself, or its output
    is not the candidates count) is kept as sent; content capture off ("{}") leaves the attributes' counts."""
    sent_reasoning = {"gen_ai.usage.reasoning.output_tokens": 210, "gcp.vertex.agent.llm_response": json.dumps(
        _GEMINI_RESPONSE)}
    output_with_thoughts = {"gcp.vertex.agent.llm_response": json.dumps(_GEMINI_RESPONSE)}
    spans = _parse_all([_call_llm("1" * 16, "gemini-2.5-pro", (1840, 272), sent_reasoning),
                        _call_llm("2" * 16, "gemini-2.5-pro", (1840, 272), output_with_thoughts),
                        _call_llm("3" * 16, "gemini-2.5-pro", (1840, 62))])
    assert [(s.input_tokens, s.output_tokens, s.cached_tokens, s.reasoning_tokens) for s in spans] == [
        (1840, 272, 1024, 210), (1840, 272, 1024, 210), (1840, 62, None, None)]


def test_adk_agent_run_spans_before_invoke_agent(db_path):
    """ADK before invoke_agent: the agent span is `agent_run [<agent>]` with no attributes at all, from the
    gcp.vertex.agent tracer; it is the agent (named explicitly), not an unknown span. Another scope's span of
    that name, or the bare template, is not."""
    spans = [
        span(TRACE, "a" * 16, "invocation", {}),
        span(TRACE, "b" * 16, "agent_run [customs_agent]", {}, parent="a" * 16),
        _call_llm("d" * 16, "gemini-2.5-flash", (2600, 40)) | {"parentSpanId": "b" * 16},
        span(TRACE, "e" * 16, "execute_tool classify_hs_code", {
            "gen_ai.system": "gcp.vertex.agent", "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "classify_hs_code", "gcp.vertex.agent.event_id": "ev-t"}, parent="b" * 16),
        span(TRACE, "f" * 16, "agent_run []", {}, parent="a" * 16),
    ]
    by = {s.span_id: s for s in _parse_all(spans, scope="gcp.vertex.agent")}
    assert {sid: (s.kind, s.agent_name) for sid, s in by.items()} == {
        "a" * 16: ("UNKNOWN", None), "b" * 16: ("AGENT", "customs_agent"), "d" * 16: ("LLM", None),
        "e" * 16: ("TOOL", None), "f" * 16: ("UNKNOWN", None)}
    other = _parse_all([span(TRACE, "b" * 16, "agent_run [customs_agent]", {})], scope="my.app")
    assert [(s.kind, s.agent_name) for s in other] == [("UNKNOWN", None)]
    ingest_bytes(db_path, dumps(request(spans, scope="gcp.vertex.agent")), "adk-old.json")
    db = connect(db_path)
    assert db.execute("SELECT kind, agent_name FROM spans WHERE span_id = ?", ("b" * 16,)).fetchall() == [
        ("AGENT", "customs_agent")]  # an explicit agent: not demoted as a workflow wrapper
    assert db.execute("SELECT llm_calls, tool_calls FROM traces").fetchall() == [(1, 1)]


def test_adk_bad_usage_metadata_keeps_the_span():
    """A usage_metadata figure that is no token count is dropped with a warning (ingest.validate's policy); the
    span keeps the counts it sent."""
    bad = {"content": {"role": "model", "parts": [{"text": "ok"}]},
           "usage_metadata": {"prompt_token_count": "many", "candidates_token_count": 5,
                              "thoughts_token_count": 2**70, "cached_content_token_count": -1}}
    result = parse_bytes(dumps(request([_call_llm("1" * 16, "gemini-2.5-flash", (100, 5), {
        "gcp.vertex.agent.llm_response": json.dumps(bad)})])), "adk.json")
    assert result.rejected == []
    (call,) = result.spans
    assert (call.input_tokens, call.output_tokens, call.cached_tokens, call.reasoning_tokens) == (100, 5, None, None)
    field = "gcp.vertex.agent.llm_response usage_metadata"
    assert sorted(w.reason for w in result.warnings) == sorted([
        f"{field}.prompt_token_count 'many' is not a finite non-negative integer; field dropped",
        # (orjson reads an integer past 64 bits as a float)
        f"{field}.thoughts_token_count 1.1805916207174113e+21 is not a finite non-negative integer; field dropped",
        f"{field}.cached_content_token_count -1 is not a finite non-negative integer; field dropped"])
