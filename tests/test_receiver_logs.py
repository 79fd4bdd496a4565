"""/v1/logs: GenAI message events and evaluation results sent as OTLP log records by the real SDK
(OTel GenAI instrumentations do this), joined to their spans whether they arrive before or after."""
from __future__ import annotations

import json

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from receiver_support import post, receiver, stored  # noqa: F401 - `receiver` is a fixture

GENAI_CHAT = {
    "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 11, "gen_ai.usage.output_tokens": 4,
}


def _providers(endpoint: str) -> tuple[TracerProvider, LoggerProvider]:
    resource = Resource.create({"service.name": "genai-app"})
    traces = TracerProvider(resource=resource)
    traces.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoint}/v1/logs")))
    return traces, logs


def test_messages_and_evaluations_from_sdk_log_records(receiver, db_path):
    traces, logs = _providers(receiver.endpoint)
    tracer, logger = traces.get_tracer("genai"), logs.get_logger("genai")
    # 1) Messages sent while the span is open: they arrive BEFORE their span and wait for it.
    with tracer.start_as_current_span("chat gpt-4o-mini", attributes=GENAI_CHAT) as span:
        logger.emit(event_name="gen_ai.system.message", body={"content": "Answer in one word."})
        logger.emit(event_name="gen_ai.user.message", body={"content": "Capital of France?"})
        logger.emit(event_name="gen_ai.choice",
                    body={"index": 0, "finish_reason": "stop", "message": {"content": "Paris"}})
        span_id = f"{span.get_span_context().span_id:016x}"
    # 2) A second call whose messages arrive AFTER the span was stored: the stored span is patched.
    with tracer.start_as_current_span("chat again", attributes=GENAI_CHAT) as late:
        late_ctx = late.get_span_context()
    from opentelemetry import trace as trace_api

    with trace_api.use_span(trace_api.NonRecordingSpan(late_ctx)):
        logger.emit(event_name="gen_ai.user.message", body={"content": "And of Spain?"})
        # 3) An evaluation result about that call, as pydantic-evals emits it.
        logger.emit(event_name="gen_ai.evaluation.result", attributes={
            "gen_ai.evaluation.name": "Answer Relevancy", "gen_ai.evaluation.score.value": 0.25,
            "gen_ai.evaluation.score.label": "irrelevant", "gen_ai.evaluation.explanation": "off topic"})
    logs.shutdown()
    traces.shutdown()

    rows = stored(db_path, "SELECT span_id, kind, model, input_tokens, output_tokens, td_json(input_messages), "
                           "input_text, output_text, convention FROM spans ORDER BY name")
    assert len(rows) == 2
    again, first = rows[0], rows[1]
    assert first[:5] == (span_id, "LLM", "gpt-4o-mini", 11, 4)
    assert [m["role"] for m in json.loads(first[5])] == ["system", "user"]
    assert first[6:] == ("Capital of France?", "Paris", "otel_genai")
    assert again[0] == f"{late_ctx.span_id:016x}"
    assert [m["content"] for m in json.loads(again[5])] == ["And of Spain?"]
    assert again[6] == "And of Spain?"
    assert stored(db_path, "SELECT span_id, name, score, label, passed, reason, source FROM evaluations") == [
        (f"{late_ctx.span_id:016x}", "answer_relevancy", 0.25, "irrelevant", 0, "off topic", "imported")]


def test_logs_partial_success_and_logs_response_type(receiver, db_path):
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"eventName": "gen_ai.user.message", "traceId": "0af7651916cd43dd8448eb211c80319c",
         "spanId": "b7ad6b7169203331", "timeUnixNano": "1", "body": {"kvlistValue": {"values": [
             {"key": "content", "value": {"stringValue": "hi"}}]}}},
        {"eventName": "gen_ai.user.message", "body": {"stringValue": "no ids"}},
        {"body": {"stringValue": "an ordinary application log line: skipped, not rejected"}},
    ]}]}]}
    ans = post(receiver, "/v1/logs", json.dumps(body).encode(), {"Content-Type": "application/json"})
    assert ans.status == 200
    partial = ans.json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "1"
    assert "cannot be joined to a span" in partial["errorMessage"]
    assert receiver.writer.stats.log_messages == 1
    # Protobuf logs get an ExportLogsServiceResponse; a traces body on /v1/logs is refused.
    ans = post(receiver, "/v1/logs", b"", {"Content-Type": "application/x-protobuf"})
    assert ans.status == 200
    assert not ExportLogsServiceResponse.FromString(ans.body).HasField("partial_success")
    ans = post(receiver, "/v1/logs", b'{"resourceSpans": []}', {"Content-Type": "application/json"})
    assert (ans.status, ans.json()["message"]) == (400, "body holds resourceSpans; post it to /v1/traces")
    assert stored(db_path) == []
