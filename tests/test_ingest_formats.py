"""Formats and wire quirks: OTLP/JSON, protobuf from the real OTel SDK, OTLP logs, JSON Lines, flat JSONL, gzip."""
from __future__ import annotations

import base64
import gzip
import json

import pytest
from _ingest_util import T0, TRACE, any_value, dumps, kvs, request, span

from tracedesk.ingest.dimensions import DEFAULT_DIMENSIONS, load_dimensions, save_dimensions
from tracedesk.ingest import ingest_bytes, ingest_paths, parse_bytes
from tracedesk.store import connect


def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def test_wire_quirks_ids_ints_enums_and_empty_parent():
    trace = "5B8EFFF798038103D269B633813FC60C"
    doc = request([
        {"traceId": _b64(trace.lower()), "spanId": _b64("eee19b7ec3c1b174"), "parentSpanId": "", "name": "root",
         "kind": 2, "startTimeUnixNano": T0, "endTimeUnixNano": str(T0 + 5_000_000),
         "attributes": kvs({"gen_ai.usage.input_tokens": 7}), "status": {"code": 2, "message": "bad"}},
        {"traceId": trace, "spanId": "AAAAAAAAAAAAAAA1", "parentSpanId": _b64("eee19b7ec3c1b174"), "name": "child",
         "kind": "SPAN_KIND_CLIENT", "startTimeUnixNano": str(T0), "endTimeUnixNano": T0 + 1_000_000,
         "attributes": [{"key": "n", "value": {"intValue": 12}}], "status": {"code": "STATUS_CODE_OK"}},
        {"traceId": trace.lower(), "spanId": "00000000000000b2", "name": "no-parent-field",
         "startTimeUnixNano": str(T0), "endTimeUnixNano": str(T0)},
    ])
    result = parse_bytes(dumps(doc), "q.json")
    assert result.rejected == []
    root, child, third = result.spans
    assert (root.trace_id, root.span_id, root.parent_span_id) == (trace.lower(), "eee19b7ec3c1b174", None)
    assert (root.otel_kind, root.status, root.status_message, root.input_tokens) == ("SERVER", "ERROR", "bad", 7)
    assert root.duration_ms == 5.0
    assert (child.span_id, child.parent_span_id, child.otel_kind, child.status) == (
        "aaaaaaaaaaaaaaa1", "eee19b7ec3c1b174", "CLIENT", "OK")
    assert child.attributes == {"n": 12}
    assert (third.parent_span_id, third.duration_ms) == (None, 0.0)


def _sdk_spans():
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Status, StatusCode

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-app",
                                                        "deployment.environment.name": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_v2")
    with tracer.start_as_current_span("invoke_agent planner", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner", "app.route": "trips"}):
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.output_tokens": 50, "gen_ai.response.finish_reasons": ("stop",)}) as s:
            s.add_event("gen_ai.user.message", {"content": "Plan a trip"})
        with tracer.start_as_current_span("execute_tool book", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "book"}) as t:
            t.set_status(Status(StatusCode.ERROR, "sold out"))
    return exporter.get_finished_spans()


def _check_sdk(spans):
    by = {s.name: s for s in spans}
    agent, llm, tool = by["invoke_agent planner"], by["chat gpt-4o-mini"], by["execute_tool book"]
    assert llm.parent_span_id == agent.span_id and tool.parent_span_id == agent.span_id
    assert (agent.kind, agent.agent_name, agent.route, agent.service, agent.environment) == (
        "AGENT", "planner", "trips", "sdk-app", "test")
    assert (llm.kind, llm.model, llm.provider, llm.input_tokens, llm.output_tokens) == ("LLM", "gpt-4o-mini",
                                                                                      "openai", 100, 50)
    assert llm.cost_usd == pytest.approx(100 * 1.5e-7 + 50 * 6e-7)
    assert (llm.input_messages, llm.finish_reason, llm.convention) == ([{"role": "user", "content": "Plan a trip"}],
                                                                       "stop", "otel_genai")
    assert (tool.kind, tool.tool_name, tool.status, tool.status_message) == ("TOOL", "book", "ERROR", "sold out")


def test_real_sdk_protobuf_and_json_encodings(db_path):
    from google.protobuf.json_format import MessageToJson
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    message = encode_spans(_sdk_spans())
    pb = message.SerializeToString()
    result = parse_bytes(pb, "sdk", "application/x-protobuf")
    assert result.rejected == []
    _check_sdk(result.spans)
    # without a content type, protobuf is detected by content; MessageToJson writes base64 ids
    _check_sdk(parse_bytes(pb, "sdk").spans)
    _check_sdk(parse_bytes(MessageToJson(message).encode(), "sdk.json").spans)
    report = ingest_bytes(db_path, pb, "sdk.pb", "application/x-protobuf")
    assert (report.spans_inserted, report.traces, dict(report.by_convention)) == (3, 1, {"otel_genai": 3})


def _logs_request(records):
    return {"resourceLogs": [{"resource": {"attributes": kvs({"service.name": "app"})},
                              "scopeLogs": [{"scope": {"name": "x"}, "logRecords": records}]}]}


def _log(event, body, span_id, t=0, attrs=None):
    rec = {"timeUnixNano": str(T0 + t), "traceId": TRACE, "spanId": span_id, "eventName": event,
           "attributes": kvs(attrs or {"gen_ai.system": "openai"})}
    if body is not None:
        rec["body"] = any_value(body)
    return rec


LOGS = _logs_request([
    _log("gen_ai.system.message", {"content": "Be short."}, "b" * 16, 1),
    _log("gen_ai.user.message", {"content": "What is OTel?"}, "b" * 16, 2),
    _log("gen_ai.choice", {"index": 0, "finish_reason": "stop",
                           "message": {"role": "assistant", "content": "A telemetry standard."}}, "b" * 16, 3),
    _log("gen_ai.evaluation.result", None, "b" * 16, 4, {
        "gen_ai.evaluation.name": "Relevance", "gen_ai.evaluation.score.value": 0.9,
        "gen_ai.evaluation.score.label": "pass", "gen_ai.evaluation.explanation": "on topic",
        "gen_ai.evaluation.evaluator.version": "2"}),
    {"timeUnixNano": str(T0), "body": {"stringValue": "an ordinary application log"}},
])
SPANS = request([span(TRACE, "b" * 16, "chat gpt-4o-mini", {"gen_ai.operation.name": "chat",
                                                              "gen_ai.request.model": "gpt-4o-mini"})])


def _stored(db_path):
    db = connect(db_path)
    row = db.execute("SELECT td_json(input_messages), td_json(output_messages), input_text, output_text FROM spans"
                     ).fetchone()
    ev = db.execute("SELECT name, score, label, passed, reason, evaluator_version, span_id FROM evaluations").fetchall()
    return json.loads(row[0]), json.loads(row[1]), row[2], row[3], ev


EXPECTED = (
    [{"role": "system", "content": "Be short."}, {"role": "user", "content": "What is OTel?"}],
    [{"role": "assistant", "content": "A telemetry standard.", "finish_reason": "stop"}],
    "What is OTel?", "A telemetry standard.",
    [("relevance", 0.9, "pass", 1, "on topic", "2", "b" * 16)],
)


@pytest.mark.parametrize("order", ["logs_first", "spans_first", "same_file"])
def test_otlp_log_messages_join_their_span_in_any_order(db_path, tmp_path, order):
    if order == "logs_first":
        r1 = ingest_bytes(db_path, dumps(LOGS), "logs.json")
        assert (r1.log_messages, r1.evaluations, r1.rejected) == (3, 1, [])
        ingest_bytes(db_path, dumps(SPANS), "spans.json")
    elif order == "spans_first":
        ingest_bytes(db_path, dumps(SPANS), "spans.json")
        ingest_bytes(db_path, dumps(LOGS), "logs.json")
    else:
        path = tmp_path / "both.jsonl"
        path.write_text(json.dumps(LOGS) + "\n" + json.dumps(SPANS) + "\n")
        report = ingest_paths(db_path, [path])
        assert (report.spans_inserted, report.log_messages, report.evaluations) == (1, 3, 1)
    assert _stored(db_path) == EXPECTED
    # re-ingesting the logs stores nothing twice
    ingest_bytes(db_path, dumps(LOGS), "logs.json")
    assert _stored(db_path) == EXPECTED


def test_otlp_logs_protobuf(db_path):
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    def hexify(doc):  # ParseDict expects base64 for bytes fields, as the proto3 JSON mapping says
        for rl in doc["resourceLogs"]:
            for sl in rl["scopeLogs"]:
                for rec in sl["logRecords"]:
                    for key in ("traceId", "spanId"):
                        if key in rec:
                            rec[key] = _b64(rec[key])
        return doc

    pb = ParseDict(hexify(json.loads(json.dumps(LOGS))), ExportLogsServiceRequest()).SerializeToString()
    ingest_bytes(db_path, dumps(SPANS), "spans.json")
    report = ingest_bytes(db_path, pb, "logs.pb", "application/x-protobuf")
    assert (report.log_messages, report.evaluations, report.rejected) == (3, 1, [])
    assert _stored(db_path) == EXPECTED


def test_jsonl_variants_and_gzip(db_path, tmp_path):
    tmp_path = tmp_path / "in"
    tmp_path.mkdir()
    req = request([span(TRACE, "1" * 16, "chat", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                                                  "gen_ai.usage.input_tokens": 3, "gen_ai.usage.output_tokens": 1})])
    span_obj = span(TRACE, "2" * 16, "tool", {"gen_ai.tool.name": "calc"}, parent="1" * 16)
    span_obj["resource"] = {"attributes": kvs({"service.name": "svc-b"})}
    plain_attrs = {"traceId": TRACE, "spanId": "3" * 16, "parentSpanId": "1" * 16, "name": "retrieve",
                   "startTimeUnixNano": T0, "endTimeUnixNano": T0 + 10,
                   "attributes": {"openinference.span.kind": "RETRIEVER"}}
    lines = [json.dumps(req), json.dumps(span_obj), "", json.dumps(plain_attrs)]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "b.log.gz").write_bytes(gzip.compress(dumps(request([span(TRACE, "4" * 16, "x", {},
                                                                            parent="1" * 16)]))))
    report = ingest_paths(db_path, [tmp_path])
    assert (report.files, report.spans_inserted, report.traces, report.rejected) == (2, 4, 1, [])
    rows = dict(connect(db_path).execute("SELECT name, kind FROM spans").fetchall())
    assert rows == {"chat": "LLM", "tool": "TOOL", "retrieve": "RETRIEVER", "x": "UNKNOWN"}
    assert connect(db_path).execute("SELECT service FROM spans WHERE name='tool'").fetchone()[0] == "svc-b"


def test_flat_jsonl_records(db_path, tmp_path):
    records = [
        {"conversation_id": "conv-42", "span_id": "turn-1", "name": "answer", "model": "gpt-4o-mini",
         "provider": "openai", "start_time": "2024-05-01T10:00:00Z", "end_time": "2024-05-01T10:00:02.5Z",
         "input": "How do refunds work?", "output": "Within 30 days.", "input_tokens": 1000, "output_tokens": 200,
         "tags": ["beta"], "metadata": {"route": "billing", "tenant": "acme", "prompt_version": "v7"},
         "session_id": "sess-1", "user_id": "user-9",
         "scores": [{"name": "user feedback", "score": 0, "label": "thumbs_down", "source": "human"}]},
        {"trace_id": "conv-42", "parent_id": "turn-1", "kind": "tool", "tool": "refund_lookup",
         "timestamp": 1714557600.5, "latency_ms": 120, "input": {"order": 7}, "output": "eligible", "cost": 0.002},
        {"trace_id": "conv-43", "timestamp": 1714557600, "model": "gpt-4o-mini",
         "input": [{"role": "user", "content": "hi"}], "output": {"role": "assistant", "content": "hello"},
         "status": "error", "error": "rate limited"},
    ]
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    report = ingest_paths(db_path, [str(path)])
    assert (report.spans_inserted, report.traces, report.evaluations, report.rejected) == (3, 2, 1, [])
    assert dict(report.by_convention) == {"flat": 3}
    db = connect(db_path)
    rows = db.execute("SELECT name, kind, model, input_tokens, output_tokens, cost_usd, cost_source, route, tenant, "
                      "prompt_version, session_id, user_id, input_text, output_text, duration_ms, tool_name, status, "
                      "status_message, parent_span_id IS NOT NULL FROM spans ORDER BY start_ns, name").fetchall()
    assert rows[0] == ("answer", "LLM", "gpt-4o-mini", 1000, 200, pytest.approx(1000 * 1.5e-7 + 200 * 6e-7),
                       "computed", "billing", "acme", "v7", "sess-1", "user-9", "How do refunds work?",
                       "Within 30 days.", 2500.0, None, "UNSET", None, 0)
    assert rows[1][:2] == ("llm", "LLM") and rows[1][12:18] == ("hi", "hello", 0.0, None, "ERROR", "rate limited")
    assert rows[2][:2] == ("record", "TOOL") and rows[2][5:7] == (0.002, "reported")
    assert rows[2][12:] == ('{"order":7}', "eligible", 120.0, "refund_lookup", "UNSET", None, 1)
    ev = db.execute("SELECT name, score, label, source FROM evaluations").fetchone()
    assert ev == ("user_feedback", 0.0, "thumbs_down", "human")
    again = ingest_paths(db_path, [str(path)])  # ids derived from content: nothing stored twice
    assert (again.spans_inserted, again.spans_unchanged) == (0, 3)


def test_dimension_mapping_is_user_editable(db_path):
    db = connect(db_path)
    assert load_dimensions(db) == DEFAULT_DIMENSIONS
    save_dimensions(db, {"route": ["my.route"], "team": ["app.team"]})
    doc = request([span(TRACE, "1" * 16, "s", {"my.route": "checkout", "app.route": "ignored", "app.team": "blue"})])
    ingest_bytes(db_path, dumps(doc), "d.json")
    assert connect(db_path).execute("SELECT route, dims FROM spans").fetchone() == ("checkout", '{"team":"blue"}')
    with pytest.raises(ValueError, match="simple identifier"):
        save_dimensions(db, {"bad name": ["x"]})


