"""Real senders: the OpenTelemetry SDK's OTLP/HTTP exporter, OTLP/JSON from the SDK's own encoder, and
openinference-instrumentation-openai driving the openai client against a local fake LLM server."""
from __future__ import annotations

import base64
import json

from fake_llm_server import fake_llm  # noqa: F401 - fixture
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from receiver_support import post, receiver, stored  # noqa: F401 - `receiver` is a fixture


def _agent_spans(provider: TracerProvider) -> None:
    """An agent turn: AGENT -> LLM (OpenInference attributes) + TOOL with an error."""
    tracer = provider.get_tracer("tests.agent")
    with tracer.start_as_current_span("agent.run", attributes={"openinference.span.kind": "AGENT",
                                                               "agent.name": "planner"}):
        with tracer.start_as_current_span("llm.call", attributes={
            "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
            "llm.token_count.prompt": 40, "llm.token_count.completion": 7,
        }):
            pass
        with tracer.start_as_current_span("search", attributes={"openinference.span.kind": "TOOL",
                                                                "tool.name": "search"}) as tool:
            tool.set_status(Status(StatusCode.ERROR, "index offline"))


def _provider(exporter) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "agent-app"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _expected_rows(spans) -> list[tuple]:
    return sorted((f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}") for s in spans)


def _assert_agent_turn(db_path: str) -> None:
    rows = stored(db_path, "SELECT name, kind, status, status_message, model, input_tokens, output_tokens, "
                           "agent_name, tool_name, service, convention, parent_span_id IS NULL "
                           "FROM spans ORDER BY name")
    assert rows == [
        ("agent.run", "AGENT", "UNSET", None, None, None, None, "planner", None, "agent-app", "openinference", 1),
        ("llm.call", "LLM", "UNSET", None, "gpt-4o-mini", 40, 7, None, None, "agent-app", "openinference", 0),
        ("search", "TOOL", "ERROR", "index offline", None, None, None, None, "search", "agent-app",
         "openinference", 0),
    ]
    (trace,) = stored(db_path, "SELECT span_count, error_count, llm_calls, tool_calls, complete FROM traces")
    assert trace == (3, 1, 1, 1, 1)


def test_sdk_protobuf_exporter(receiver, db_path):
    memory = InMemorySpanExporter()
    exporter = OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")
    provider = _provider(exporter)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    _agent_spans(provider)
    provider.shutdown()
    _assert_agent_turn(db_path)
    assert stored(db_path) == _expected_rows(memory.get_finished_spans())
    assert receiver.counts["status_200"] == 3  # SimpleSpanProcessor: one request per span


def test_sdk_protobuf_exporter_gzip_with_token(db_path):
    from receiver_support import make_receiver

    r = make_receiver(db_path, token="tok")
    try:
        bad = OTLPSpanExporter(endpoint=f"{r.endpoint}/v1/traces", headers={"Authorization": "Bearer no"})
        good = OTLPSpanExporter(endpoint=f"{r.endpoint}/v1/traces", compression=Compression.Gzip,
                                headers={"Authorization": "Bearer tok"})
        memory = InMemorySpanExporter()
        provider = _provider(memory)
        _agent_spans(provider)
        spans = memory.get_finished_spans()
        assert bad.export(spans) == SpanExportResult.FAILURE
        assert stored(db_path) == []
        assert good.export(spans) == SpanExportResult.SUCCESS
        _assert_agent_turn(db_path)
        assert r.counts["status_401"] == 1
    finally:
        r.stop()


def _otlp_json(spans, hex_ids: bool) -> bytes:
    """OTLP/JSON from the SDK's own protobuf encoder. The OTLP/JSON spec writes ids as hex; the generic
    proto3 mapping (plain MessageToJson) writes base64 — some exporters do that, so both are sent."""
    doc = MessageToDict(encode_spans(spans))
    if hex_ids:
        for rs in doc["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in s:
                            s[key] = base64.b64decode(s[key]).hex()
    return json.dumps(doc).encode()


def test_sdk_spans_as_otlp_json_hex_and_base64_ids(receiver, db_path):
    memory = InMemorySpanExporter()
    _agent_spans(_provider(memory))
    spans = memory.get_finished_spans()
    ans = post(receiver, "/v1/traces", _otlp_json(spans, hex_ids=True),
               {"Content-Type": "application/json; charset=utf-8"})
    assert (ans.status, ans.json()) == (200, {})
    _assert_agent_turn(db_path)
    # The same spans again, base64 ids: recognized as the same spans (nothing duplicated).
    ans = post(receiver, "/v1/traces", _otlp_json(spans, hex_ids=False), {"Content-Type": "application/json"})
    assert ans.status == 200
    assert stored(db_path) == _expected_rows(spans)
    _assert_agent_turn(db_path)


def test_openinference_openai_instrumentation_end_to_end(receiver, db_path, fake_llm):  # noqa: F811
    import openai
    from openinference.instrumentation.openai import OpenAIInstrumentor

    provider = _provider(OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces"))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(base_url=fake_llm.url, api_key="test-key", max_retries=0)
        reply = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "What is the capital of France?"}],
        )
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    assert reply.usage.prompt_tokens == 100
    rows = stored(db_path, "SELECT kind, model, provider, input_tokens, output_tokens, total_tokens, "
                           "convention, status, service, td_str(source) FROM spans")
    assert rows == [("LLM", "gpt-4o-mini", "openai", 100, 20, 120, "openinference", "OK", "agent-app",
                     "otlp-http")]
    (messages,) = stored(db_path, "SELECT td_json(input_messages) FROM spans")
    roles = [m["role"] for m in json.loads(messages[0])]
    assert roles == ["system", "user"]
    assert fake_llm.calls[0].model == "gpt-4o-mini"
