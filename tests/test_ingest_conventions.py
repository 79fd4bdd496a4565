"""Each instrumentation convention, on payloads shaped as that library emits them, -> exact normalized values."""
from __future__ import annotations

import json

import pytest
from _ingest_util import TRACE, dumps, request, span

from tracedesk.ingest import ingest_bytes, parse_bytes
from tracedesk.store import connect, stats


def parse(spans, **kw):
    result = parse_bytes(dumps(request(spans, **kw)), "t.json")
    assert result.rejected == []
    return {s.name: s for s in result.spans}, result.evaluations


def test_otel_genai_new_names_with_messages_and_cache_tokens():
    by, evals = parse([
        span(TRACE, "a" * 16, "invoke_agent travel", {"gen_ai.operation.name": "invoke_agent",
                                                      "gen_ai.agent.name": "travel", "gen_ai.conversation.id": "c-9"}),
        span(TRACE, "b" * 16, "chat gpt-4o-mini", {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100,
            "gen_ai.usage.cache_read.input_tokens": 200, "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.response.time_to_first_chunk": 0.25,
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Paris?"}]}]),
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                {"type": "tool_call", "id": "call_1", "name": "search", "arguments": {"q": "Paris"}}],
                "finish_reason": "tool_call"}]),
        }, parent="a" * 16, kind="SPAN_KIND_CLIENT"),
        span(TRACE, "c" * 16, "execute_tool search", {"gen_ai.operation.name": "execute_tool",
                                                      "gen_ai.tool.name": "search", "gen_ai.tool.call.id": "call_1",
                                                      "gen_ai.tool.call.arguments": '{"q": "Paris"}',
                                                      "gen_ai.tool.call.result": "sunny"}, parent="a" * 16),
    ])
    agent, llm, tool = by["invoke_agent travel"], by["chat gpt-4o-mini"], by["execute_tool search"]
    assert (agent.kind, agent.agent_name, agent.session_id, agent.convention) == ("AGENT", "travel", "c-9", "otel_genai")
    # issue 12: `model` is the requested model, the snapshot that answered is `response_model`
    assert (llm.kind, llm.model, llm.response_model, llm.provider, llm.otel_kind) == (
        "LLM", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "openai", "CLIENT")
    assert (llm.input_tokens, llm.output_tokens, llm.total_tokens, llm.cached_tokens) == (1000, 100, 1100, 200)
    # 800 uncached x 0.15/M + 200 cached x 0.075/M + 100 out x 0.6/M
    assert llm.cost_usd == pytest.approx(800 * 1.5e-7 + 200 * 7.5e-8 + 100 * 6e-7)
    assert llm.cost_source == "computed"
    assert llm.ttft_ms == 250.0
    assert llm.input_messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Paris?"}]
    assert llm.output_messages == [{"role": "assistant", "content": None, "finish_reason": "tool_call",
                                    "tool_calls": [{"name": "search", "arguments": '{"q":"Paris"}', "id": "call_1"}]}]
    assert (llm.input_text, llm.finish_reason) == ("Paris?", "stop")
    assert (tool.kind, tool.tool_name, tool.tool_arguments, tool.tool_result) == ("TOOL", "search", '{"q": "Paris"}', "sunny")
    assert evals == []


def test_otel_genai_old_names_and_dual_emit_are_read_once():
    by, _ = parse([
        span(TRACE, "b" * 16, "chat gpt-4o", {
            "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
            # old and new names emitted side by side: read once, never summed
            "gen_ai.usage.prompt_tokens": 50, "gen_ai.usage.input_tokens": 50,
            "gen_ai.usage.completion_tokens": 5, "gen_ai.usage.output_tokens": 5,
            "gen_ai.operation.name": "chat",
        }, events=[
            {"name": "gen_ai.system.message", "attributes": {"content": "You are terse."}},
            {"name": "gen_ai.user.message", "attributes": {"content": "hi"}},
            {"name": "gen_ai.choice", "attributes": {"index": 0, "finish_reason": "stop",
                                                     "message": json.dumps({"role": "assistant", "content": "hello"})}},
        ]),
    ])
    llm = by["chat gpt-4o"]
    assert (llm.provider, llm.input_tokens, llm.output_tokens, llm.total_tokens) == ("openai", 50, 5, 55)
    assert llm.cost_usd == pytest.approx(50 * 2.5e-6 + 5 * 1e-5)
    assert llm.input_messages == [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hi"}]
    assert llm.output_messages == [{"role": "assistant", "content": "hello", "finish_reason": "stop"}]
    assert (llm.input_text, llm.output_text, llm.finish_reason) == ("hi", "hello", "stop")


def test_openinference_llm_retriever_tool_agent_and_evaluations():
    by, evals = parse([
        span(TRACE, "1" * 16, "Agent", {"openinference.span.kind": "AGENT", "agent.name": "support",
                                        "session.id": "s1", "user.id": "u1", "input.value": "refund?",
                                        "metadata": json.dumps({"route": "billing", "tenant": "acme"})}),
        span(TRACE, "2" * 16, "retrieve", {
            "openinference.span.kind": "retriever", "input.value": "refund policy",
            "retrieval.documents.0.document.id": "kb-1", "retrieval.documents.0.document.score": 0.9,
            "retrieval.documents.0.document.content": "Refunds within 30 days.",
            "retrieval.documents.1.document.id": "kb-7", "retrieval.documents.1.document.score": 0.4,
        }, parent="1" * 16),
        span(TRACE, "3" * 16, "ChatCompletion", {
            "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.provider": "openai",
            "llm.system": "openai", "llm.token_count.prompt": 300, "llm.token_count.completion": 40,
            "llm.token_count.total": 340, "llm.token_count.prompt_details.cache_read": 100,
            "llm.cost.prompt": 0.0001, "llm.cost.completion": 0.00002, "llm.cost.total": 0.00012,
            "llm.prompt_template.version": "v3",
            "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": "Help.",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.contents.0.message_content.type": "text",
            "llm.input_messages.1.message.contents.0.message_content.text": "Can I get a refund?",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "Yes, within 30 days.",
            "input.value": '{"messages": []}', "input.mime_type": "application/json",
            "evaluations.0.evaluation.name": "Groundedness", "evaluations.0.evaluation.score": 0.8,
            "evaluations.0.evaluation.label": "grounded", "evaluations.0.evaluation.explanation": "cites kb-1",
            "annotations.0.annotation.name": "user feedback", "annotations.0.annotation.label": "thumbs_down",
            "annotations.0.annotation.score": 0, "annotations.0.annotation.annotator_kind": "HUMAN",
        }, parent="1" * 16),
        span(TRACE, "4" * 16, "lookup_order", {"openinference.span.kind": "TOOL", "tool.name": "lookup_order",
                                               "input.value": '{"id": 7}', "output.value": "shipped"},
             parent="1" * 16),
    ])
    agent, ret, llm, tool = by["Agent"], by["retrieve"], by["ChatCompletion"], by["lookup_order"]
    assert (agent.kind, agent.agent_name, agent.session_id, agent.user_id) == ("AGENT", "support", "s1", "u1")
    assert (agent.route, agent.tenant, agent.convention) == ("billing", "acme", "openinference")
    assert ret.kind == "RETRIEVER"
    assert ret.documents == [{"id": "kb-1", "score": 0.9, "content": "Refunds within 30 days."},
                             {"id": "kb-7", "score": 0.4}]
    assert ret.retrieved_doc_ids == ["kb-1", "kb-7"]
    assert (llm.kind, llm.model, llm.provider, llm.prompt_version) == ("LLM", "gpt-4o-mini", "openai", "v3")
    assert (llm.input_tokens, llm.output_tokens, llm.total_tokens, llm.cached_tokens) == (300, 40, 340, 100)
    assert (llm.cost_usd, llm.cost_source) == (0.00012, "reported")
    assert llm.input_messages == [{"role": "system", "content": "Help."},
                                  {"role": "user", "content": "Can I get a refund?"}]
    assert (llm.input_text, llm.output_text) == ("Can I get a refund?", "Yes, within 30 days.")
    assert (tool.kind, tool.tool_name, tool.tool_arguments, tool.tool_result) == (
        "TOOL", "lookup_order", '{"id": 7}', "shipped")
    got = sorted((e.name, e.score, e.label, e.passed, e.reason, e.source, e.span_id) for e in evals)
    assert got == [
        ("groundedness", 0.8, "grounded", True, "cites kb-1", "imported", "3" * 16),
        ("user_feedback", 0.0, "thumbs_down", False, None, "human", "3" * 16),
    ]


def test_openllmetry_traceloop():
    by, _ = parse([
        span(TRACE, "1" * 16, "support.workflow", {"traceloop.span.kind": "workflow",
                                                   "traceloop.entity.name": "support",
                                                   "traceloop.association.properties.session_id": "sess-4",
                                                   "traceloop.association.properties.user_id": "u-4",
                                                   "traceloop.association.properties.route": "returns"}),
        span(TRACE, "2" * 16, "openai.chat", {
            "llm.request.type": "chat", "gen_ai.system": "OpenAI", "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.usage.prompt_tokens": 120,
            "gen_ai.usage.completion_tokens": 30, "llm.usage.total_tokens": 150,
            "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "Where is my parcel?",
            "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "On its way.",
            "gen_ai.completion.0.finish_reason": "stop",
            "gen_ai.completion.1.tool_calls.0.name": "track", "gen_ai.completion.1.role": "assistant",
        }, parent="1" * 16),
        span(TRACE, "3" * 16, "track.tool", {"traceloop.span.kind": "tool", "traceloop.entity.name": "track",
                                             "traceloop.entity.input": '{"id": 1}', "traceloop.entity.output": "ok"},
             parent="1" * 16),
        span(TRACE, "4" * 16, "router.agent", {"traceloop.span.kind": "agent", "traceloop.entity.name": "router"},
             parent="1" * 16),
    ])
    wf, llm, tool, agent = by["support.workflow"], by["openai.chat"], by["track.tool"], by["router.agent"]
    assert (wf.kind, wf.session_id, wf.user_id, wf.route, wf.convention) == ("CHAIN", "sess-4", "u-4", "returns",
                                                                              "openllmetry")
    # issue 12: requested model + response_model; one canonical provider spelling (OpenAI -> openai)
    assert (llm.kind, llm.model, llm.response_model, llm.provider, llm.convention) == (
        "LLM", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "openai", "openllmetry")
    assert (llm.input_tokens, llm.output_tokens, llm.total_tokens) == (120, 30, 150)
    assert llm.cost_source == "computed" and llm.cost_usd == pytest.approx(120 * 1.5e-7 + 30 * 6e-7)
    assert llm.input_messages == [{"role": "user", "content": "Where is my parcel?"}]
    assert llm.output_messages[0] == {"role": "assistant", "content": "On its way.", "finish_reason": "stop"}
    assert llm.output_messages[1]["tool_calls"] == [{"name": "track", "arguments": None}]
    assert (llm.input_text, llm.finish_reason) == ("Where is my parcel?", "stop")
    assert (tool.kind, tool.tool_name, tool.tool_arguments, tool.tool_result) == ("TOOL", "track", '{"id": 1}', "ok")
    assert (agent.kind, agent.agent_name) == ("AGENT", "router")


def test_openlit_reported_cost_and_eval_attributes():
    by, evals = parse([
        span(TRACE, "1" * 16, "chat gpt-4o", {
            "gen_ai.system": "openai", "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 20, "gen_ai.usage.total_tokens": 30,
            "gen_ai.usage.cost": 0.00025, "gen_ai.server.time_to_first_token": 0.12,
            "gen_ai.environment": "staging", "gen_ai.application_name": "bot",
            "gen_ai.eval.groundedness": 0.7,
        }, events=[{"name": "gen_ai.content.prompt", "attributes": {"gen_ai.prompt": "user: hi"}},
                   {"name": "gen_ai.content.completion", "attributes": {"gen_ai.completion": "hello!"}}]),
    ], scope="openlit.otel.tracing")
    llm = by["chat gpt-4o"]
    assert (llm.convention, llm.kind, llm.cost_usd, llm.cost_source) == ("openlit", "LLM", 0.00025, "reported")
    assert (llm.total_tokens, llm.ttft_ms, llm.environment) == (30, 120.0, "staging")
    assert llm.input_messages == [{"role": "user", "content": "user: hi"}]
    assert llm.output_text == "hello!"
    assert [(e.name, e.score) for e in evals] == [("groundedness", 0.7)]


def test_langfuse_otel_attributes():
    by, _ = parse([
        span(TRACE, "1" * 16, "generation", {
            "langfuse.observation.type": "generation", "langfuse.observation.model.name": "gpt-4o-mini",
            "langfuse.observation.usage_details": json.dumps({"input": 12, "output": 8, "total": 20}),
            "langfuse.observation.cost_details": json.dumps({"input": 0.001, "output": 0.002, "total": 0.003}),
            "langfuse.observation.input": json.dumps([{"role": "user", "content": "hey"}]),
            "langfuse.observation.output": "hi there", "langfuse.session.id": "lf-s", "langfuse.user.id": "lf-u",
            "langfuse.environment": "production", "langfuse.observation.prompt.version": 4,
            "langfuse.observation.completion_start_time": json.dumps("2023-11-14T22:13:20.150Z"),
        }),
        span(TRACE, "2" * 16, "failing", {"langfuse.observation.type": "span", "langfuse.observation.level": "ERROR",
                                          "langfuse.observation.status_message": "boom"}),
    ])
    gen, bad = by["generation"], by["failing"]
    assert (gen.convention, gen.kind, gen.model) == ("langfuse", "LLM", "gpt-4o-mini")
    assert (gen.input_tokens, gen.output_tokens, gen.total_tokens) == (12, 8, 20)
    assert (gen.cost_usd, gen.cost_source) == (0.003, "reported")
    assert (gen.session_id, gen.user_id, gen.environment, gen.prompt_version) == ("lf-s", "lf-u", "production", "4")
    assert gen.ttft_ms == pytest.approx(150.0)
    assert gen.output_text == "hi there"
    assert (bad.kind, bad.status, bad.status_message) == ("CHAIN", "ERROR", "boom")


def test_langfuse_generation_provider_comes_from_its_model():
    """Langfuse's OTel SDK names the model (langfuse.observation.model.name) and no provider: the provider is the
    price table's for that model; a model no table prices keeps an unknown provider; a provider sent wins."""
    gen = {"langfuse.observation.type": "generation"}
    by, _ = parse([
        span(TRACE, "1" * 16, "claude", {**gen, "langfuse.observation.model.name": "claude-sonnet-4-5-20250929"}),
        span(TRACE, "2" * 16, "gemini", {**gen, "langfuse.observation.model.name": "gemini/gemini-2.5-flash"}),
        span(TRACE, "3" * 16, "own", {**gen, "langfuse.observation.model.name": "returns-ft-2"}),
        span(TRACE, "4" * 16, "azure", {**gen, "langfuse.observation.model.name": "gpt-4o-mini",
                                        "gen_ai.system": "azure_openai"}),
        span(TRACE, "5" * 16, "step", {"langfuse.observation.type": "span"}),
    ])
    assert {n: (s.kind, s.model, s.provider) for n, s in by.items()} == {
        "claude": ("LLM", "claude-sonnet-4-5-20250929", "anthropic"),
        "gemini": ("LLM", "gemini/gemini-2.5-flash", "gcp.gemini"),
        "own": ("LLM", "returns-ft-2", None),
        "azure": ("LLM", "gpt-4o-mini", "azure.ai.openai"),
        "step": ("CHAIN", None, None),
    }


def test_vercel_ai_sdk_wrapper_and_do_generate_are_not_double_counted(db_path):
    usage = {"ai.usage.promptTokens": 100, "ai.usage.completionTokens": 10}
    doc = request([
        span(TRACE, "1" * 16, "ai.generateText", {"ai.operationId": "ai.generateText", "ai.model.id": "gpt-4o-mini",
                                                  "ai.model.provider": "openai.chat", **usage,
                                                  "ai.prompt": json.dumps({"system": "Be nice", "prompt": "Hi?"}),
                                                  "ai.response.text": "Hello", "ai.telemetry.metadata.sessionId": "v-1",
                                                  "ai.telemetry.metadata.userId": "vu"}),
        span(TRACE, "2" * 16, "ai.generateText.doGenerate", {
            "ai.operationId": "ai.generateText.doGenerate", "ai.model.id": "gpt-4o-mini",
            "ai.model.provider": "openai.chat", "gen_ai.system": "openai.chat", "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10, **usage,
            "ai.prompt.messages": json.dumps([{"role": "user", "content": [{"type": "text", "text": "Hi?"}]}]),
            "ai.response.text": "Hello", "ai.response.finishReason": "stop", "ai.response.msToFirstChunk": 42.5,
        }, parent="1" * 16),
        span(TRACE, "3" * 16, "ai.toolCall", {"ai.operationId": "ai.toolCall", "ai.toolCall.name": "weather",
                                              "ai.toolCall.args": '{"city":"Oslo"}', "ai.toolCall.result": "cold"},
             parent="1" * 16),
    ])
    ingest_bytes(db_path, dumps(doc), "vercel.json")
    db = connect(db_path)
    rows = {r[0]: r[1:] for r in db.execute(
        "SELECT name, kind, convention, model, input_tokens, usage_counted, session_id, user_id, tool_name, "
        "input_text, ttft_ms FROM spans")}
    assert rows["ai.generateText"] == ("CHAIN", "vercel_ai", "gpt-4o-mini", 100, 0, "v-1", "vu", None, "Hi?", None)
    assert rows["ai.generateText.doGenerate"] == ("LLM", "vercel_ai", "gpt-4o-mini", 100, 1, None, None, None,
                                                  "Hi?", 42.5)
    assert rows["ai.toolCall"][:2] == ("TOOL", "vercel_ai") and rows["ai.toolCall"][7] == "weather"
    s = stats(db)
    assert (s["input_tokens"], s["output_tokens"]) == (100, 10)  # once, not twice
    assert db.execute("SELECT llm_calls, input_tokens FROM traces").fetchone() == (1, 100)


def test_pydantic_ai_aggregated_usage_is_not_tokens(db_path):
    doc = request([
        span(TRACE, "1" * 16, "agent run", {"gen_ai.operation.name": "invoke_agent", "agent_name": "weather_agent",
                                            "gen_ai.agent.name": "weather_agent", "model_name": "gpt-4o",
                                            "gen_ai.aggregated_usage.input_tokens": 500,
                                            "gen_ai.aggregated_usage.output_tokens": 60,
                                            "final_result": "It is sunny", "logfire.msg": "weather_agent run"}),
        span(TRACE, "2" * 16, "chat gpt-4o", {"gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                                              "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                                              "gen_ai.usage.input_tokens": 500, "gen_ai.usage.output_tokens": 60,
                                              "logfire.span_type": "span"}, parent="1" * 16),
        span(TRACE, "3" * 16, "running tool", {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "forecast",
                                               "tool_arguments": '{"city": "Rome"}', "tool_response": "sunny",
                                               "logfire.span_type": "span"}, parent="1" * 16),
    ], scope="pydantic-ai")
    result = parse_bytes(dumps(doc), "p.json")
    by = {s.name: s for s in result.spans}
    agent = by["agent run"]
    assert (agent.convention, agent.kind, agent.agent_name, agent.model) == ("pydantic_ai", "AGENT", "weather_agent",
                                                                             "gpt-4o")
    assert (agent.input_tokens, agent.output_tokens, agent.cost_usd) == (None, None, None)
    assert agent.output_text == "It is sunny"
    assert (by["chat gpt-4o"].input_tokens, by["chat gpt-4o"].provider) == (500, "openai")
    tool = by["running tool"]
    assert (tool.tool_name, tool.tool_arguments, tool.tool_result) == ("forecast", '{"city": "Rome"}', "sunny")
    ingest_bytes(db_path, dumps(doc), "p.json")
    assert stats(connect(db_path))["input_tokens"] == 500


def test_traceai_old_fi_span_kind_and_new_gen_ai_span_kind():
    by, evals = parse([
        span(TRACE, "1" * 16, "old", {"fi.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
                                      "llm.token_count.prompt": 10, "llm.token_count.completion": 2,
                                      "fi.session.id": "fs", "raw.input": "x"}),
        span(TRACE, "2" * 16, "new", {"gen_ai.span.kind": "VECTOR_DB", "gen_ai.retrieval.query": "q",
                                      "gen_ai.retrieval.documents": json.dumps([{"id": "d1", "score": 0.5}])}),
        span(TRACE, "3" * 16, "new-llm", {"gen_ai.span.kind": "LLM", "gen_ai.request.model": "gpt-4o",
                                          "gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 3,
                                          "gen_ai.cost.total": 0.5, "gen_ai.evaluation.name": "toxicity",
                                          "gen_ai.evaluation.score.value": 1.0,
                                          "gen_ai.evaluation.score.label": "pass"}),
    ])
    old, new, llm = by["old"], by["new"], by["new-llm"]
    assert (old.convention, old.kind, old.model, old.session_id) == ("traceai", "LLM", "gpt-4o-mini", "fs")
    assert (new.convention, new.kind, new.input_text, new.retrieved_doc_ids) == ("traceai", "RETRIEVER", "q", ["d1"])
    assert (llm.cost_usd, llm.cost_source) == (0.5, "reported")
    assert [(e.name, e.score, e.label, e.passed) for e in evals] == [("toxicity", 1.0, "pass", True)]


def test_langsmith_otel():
    by, _ = parse([
        span(TRACE, "1" * 16, "ChatOpenAI", {
            "langsmith.span.kind": "llm", "gen_ai.operation.name": "chat", "gen_ai.system": "openai",
            "langsmith.metadata.ls_model_name": "gpt-4o-mini", "langsmith.metadata.ls_provider": "openai",
            "gen_ai.usage.input_tokens": 20, "gen_ai.usage.output_tokens": 4, "gen_ai.usage.total_tokens": 24,
            "gen_ai.prompt": json.dumps({"messages": [{"role": "user", "content": "2+2?"}]}),
            "gen_ai.completion": json.dumps({"messages": [{"role": "assistant", "content": "4"}]}),
            "langsmith.trace.session_name": "default",
        }),
        span(TRACE, "2" * 16, "RunnableSequence", {"langsmith.span.kind": "chain", "gen_ai.operation.name": "chain"}),
    ])
    llm, chain = by["ChatOpenAI"], by["RunnableSequence"]
    assert (llm.convention, llm.kind, llm.model, llm.provider) == ("langsmith", "LLM", "gpt-4o-mini", "openai")
    assert (llm.input_tokens, llm.output_tokens, llm.total_tokens) == (20, 4, 24)
    assert llm.input_messages == [{"role": "user", "content": "2+2?"}]
    assert (llm.input_text, llm.output_text) == ("2+2?", "4")
    assert chain.kind == "CHAIN"


def test_mlflow_json_quoted_values():
    by, _ = parse([
        span(TRACE, "1" * 16, "ChatModel", {
            "mlflow.spanType": '"CHAT_MODEL"', "mlflow.traceRequestId": '"tr-1"',
            "mlflow.spanInputs": json.dumps({"messages": [{"role": "user", "content": "hello"}]}),
            "mlflow.spanOutputs": json.dumps({"choices": [{"message": {"role": "assistant", "content": "hi"}}]}),
            "gen_ai.request.model": "gpt-4o-mini",
        }),
        span(TRACE, "2" * 16, "retriever", {"mlflow.spanType": '"RETRIEVER"', "mlflow.spanInputs": '"what is x"'}),
    ])
    chat, ret = by["ChatModel"], by["retriever"]
    assert (chat.convention, chat.kind, chat.model) == ("mlflow", "LLM", "gpt-4o-mini")
    assert chat.input_messages == [{"role": "user", "content": "hello"}]
    assert chat.input_text == "hello"
    assert (ret.kind, ret.input_text) == ("RETRIEVER", "what is x")


def test_handoffs_are_recorded():
    by, _ = parse([
        span(TRACE, "1" * 16, "handoff to billing_agent", {"openinference.span.kind": "TOOL",
                                                           "input.value": "triage", "output.value": "billing_agent"}),
        span(TRACE, "2" * 16, "billing_agent", {"openinference.span.kind": "AGENT", "agent.name": "billing_agent",
                                                "graph.node.id": "billing_agent", "graph.node.parent_id": "triage"}),
        span(TRACE, "3" * 16, "handoff", {"gen_ai.handoff.from_agent": "a", "gen_ai.handoff.to_agent": "b",
                                          "traceloop.span.kind": "handoff"}),
    ])
    assert by["handoff to billing_agent"].attributes["tracedesk.handoff.to"] == "billing_agent"
    assert by["billing_agent"].agent_name == "billing_agent"
    h = by["handoff"].attributes
    assert (h["tracedesk.handoff.from"], h["tracedesk.handoff.to"]) == ("a", "b")


def test_genai_evaluation_event_on_span_and_unknown_model_cost():
    by, evals = parse([
        span(TRACE, "1" * 16, "chat mystery", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "mystery-9000",
                                               "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 10},
             events=[{"name": "gen_ai.evaluation.result", "attributes": {
                 "gen_ai.evaluation.name": "Relevance", "gen_ai.evaluation.score.value": 0.25,
                 "gen_ai.evaluation.score.label": "fail", "gen_ai.evaluation.explanation": "off topic"}}]),
    ])
    llm = by["chat mystery"]
    assert (llm.cost_usd, llm.cost_source) == (None, "unknown")  # unknown stays unknown, never 0
    assert [(e.name, e.score, e.label, e.passed, e.reason) for e in evals] == [
        ("relevance", 0.25, "fail", False, "off topic")]


def test_logfire_annotation_span_and_inference_details_event():
    by, evals = parse([
        span(TRACE, "1" * 16, "chat gpt-4o", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"},
             events=[{"name": "gen_ai.client.inference.operation.details", "attributes": {
                 "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Q"}]}]),
                 "gen_ai.output.messages": json.dumps([{"role": "assistant",
                                                        "parts": [{"type": "text", "content": "A"}]}]),
                 "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "S"}])}}]),
        span(TRACE, "2" * 16, "feedback: factuality", {"logfire.span_type": "annotation",
                                                       "logfire.feedback.name": "factuality", "factuality": 0.1,
                                                       "logfire.feedback.comment": "made up"}, parent="1" * 16),
    ])
    llm = by["chat gpt-4o"]
    assert llm.input_messages == [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    assert (llm.input_text, llm.output_text) == ("Q", "A")
    assert by["feedback: factuality"].kind == "EVALUATOR"
    assert [(e.name, e.score, e.reason, e.span_id) for e in evals] == [("factuality", 0.1, "made up", "1" * 16)]
