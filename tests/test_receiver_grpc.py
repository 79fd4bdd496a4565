"""OTLP/gRPC and metrics: the real OpenTelemetry SDK exporters (gRPC and HTTP; traces, logs, metrics) send
to `tracedesk serve` as a default setup would, and nothing is logged as an exporter error."""
from __future__ import annotations

import logging
import threading

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from receiver_support import post, receiver, stored  # noqa: F401 - `receiver` is a fixture

from tracedesk.receiver import discovery
from tracedesk.receiver.run import serve
from tracedesk.receiver.server import ReceiverConfig


@pytest.fixture
def served(db_path):
    """`tracedesk serve` in a thread (HTTP and gRPC on free ports): yields (http endpoint, grpc port)."""
    stop, ready = threading.Event(), threading.Event()
    out = open(db_path + ".log", "w")
    thread = threading.Thread(target=serve, args=(ReceiverConfig(db_path, port=0, grpc_port=0, grpc_required=True),),
                              kwargs={"out": out, "stop": stop, "on_ready": lambda r: ready.set()})
    thread.start()
    assert ready.wait(60)
    info = discovery.read_status(db_path)
    assert info is not None and info.grpc_port
    yield info.endpoint, info.grpc_port
    stop.set()
    thread.join(60)
    out.close()


def _exporter_problems(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records
            if r.levelno >= logging.WARNING and r.name.startswith("opentelemetry")]


def test_sdk_exports_traces_logs_and_metrics_over_grpc_and_http_without_errors(served, db_path, caplog):
    endpoint, grpc_port = served
    caplog.set_level(logging.DEBUG, logger="opentelemetry")
    resource = Resource.create({"service.name": "checkout"})
    traces = TracerProvider(resource=resource)
    traces.add_span_processor(SimpleSpanProcessor(GrpcSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True)))
    traces.add_span_processor(SimpleSpanProcessor(HttpSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(SimpleLogRecordProcessor(GrpcLogExporter(endpoint=f"127.0.0.1:{grpc_port}",
                                                                           insecure=True)))
    logs.add_log_record_processor(SimpleLogRecordProcessor(HttpLogExporter(endpoint=f"{endpoint}/v1/logs")))
    readers = [PeriodicExportingMetricReader(GrpcMetricExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True),
                                             export_interval_millis=3_600_000),
               PeriodicExportingMetricReader(HttpMetricExporter(endpoint=f"{endpoint}/v1/metrics"),
                                             export_interval_millis=3_600_000)]
    meters = MeterProvider(resource=resource, metric_readers=readers)

    app_log = logging.getLogger("tests.checkout")
    handler = LoggingHandler(logger_provider=logs)
    app_log.addHandler(handler)
    try:
        with traces.get_tracer("tests").start_as_current_span("checkout.grpc_and_http"):
            app_log.warning("payment retried")
        meters.get_meter("tests").create_counter("orders").add(3)
        assert meters.force_flush(30_000)
    finally:
        app_log.removeHandler(handler)
        traces.shutdown()
        logs.shutdown()
        meters.shutdown()
    # one span, sent by both exporters (same ids: stored once); metrics acknowledged, not stored
    assert stored(db_path, "SELECT name, service, td_str(source) FROM spans") == [
        ("checkout.grpc_and_http", "checkout", "otlp-http")]
    assert _exporter_problems(caplog) == []


def test_grpc_partial_success_and_bearer_token(db_path):
    from receiver_support import make_receiver

    from tracedesk.receiver.grpc_server import GrpcReceiver

    r = make_receiver(db_path, token="sekret")
    g = GrpcReceiver(r, "127.0.0.1", 0).start()
    try:
        req = ExportTraceServiceRequest()
        scope = req.resource_spans.add().scope_spans.add()
        ok = scope.spans.add(trace_id=bytes.fromhex("a" * 32), span_id=bytes.fromhex("1" * 16), name="ok")
        ok.start_time_unix_nano, ok.end_time_unix_nano = 1, 2
        scope.spans.add(trace_id=b"\x01\x02", span_id=bytes.fromhex("2" * 16), name="short id")
        with grpc.insecure_channel(f"127.0.0.1:{g.port}") as channel:
            stub = TraceServiceStub(channel)
            for metadata in ([], [("authorization", "Bearer wrong")]):
                with pytest.raises(grpc.RpcError) as refused:
                    stub.Export(req, metadata=metadata, timeout=30)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
                assert "Bearer <token>" in refused.value.details()
            assert stored(db_path) == []
            resp = stub.Export(req, metadata=[("authorization", "Bearer sekret")], timeout=30)
        assert resp.partial_success.rejected_spans == 1
        assert resp.partial_success.error_message.startswith("1 rejected:")
        assert stored(db_path) == [("a" * 32, "1" * 16)]
        assert r.counts["status_401"] == 2 and r.counts["status_200"] == 1
    finally:
        g.stop()
        r.stop()


def test_http_metrics_are_acknowledged_and_not_stored(receiver, db_path):
    req = ExportMetricsServiceRequest()
    req.resource_metrics.add().scope_metrics.add().metrics.add(name="orders")
    ans = post(receiver, "/v1/metrics", req.SerializeToString(), {"Content-Type": "application/x-protobuf"})
    assert (ans.status, ans.body) == (200, b"")
    ans = post(receiver, "/v1/metrics", b'{"resourceMetrics": []}', {"Content-Type": "application/json"})
    assert (ans.status, ans.body) == (200, b"{}")
    assert stored(db_path) == []
    assert receiver.counts["status_200"] == 2


def test_serve_cli_grpc_flags(tmp_path, capsys):
    from tracedesk.cli import main

    assert main(["serve", "--db", str(tmp_path / "x.db"), "--no-grpc", "--grpc-port", "4317"]) == 2
    assert "contradict" in capsys.readouterr().err
    assert main(["serve", "--db", str(tmp_path / "x.db"), "--grpc-port", "70000"]) == 2
    assert "--grpc-port 70000 is out of range" in capsys.readouterr().err
