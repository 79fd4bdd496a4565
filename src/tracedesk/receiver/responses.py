"""OTLP/HTTP response bodies, encoded like the request (protobuf or JSON).

Success is an `Export{Trace,Logs}ServiceResponse`, with `partial_success` set when some records were
rejected (OTLP says: still HTTP 200, the client must not retry). Failures carry a `google.rpc.Status`
with a message saying what was wrong.
"""
from __future__ import annotations

import json

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

TRACES = "traces"
LOGS = "logs"
#: acknowledged so default SDK setups export without errors, never stored (docs/receiver.md)
METRICS = "metrics"

# google.rpc.Code values for the Status body of failures.
_RPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 415: 3, 429: 8, 500: 13, 503: 14}


def export_response(signal: str, encoding: str, rejected: int, message: str) -> bytes:
    """The success body; `rejected` > 0 (or a message) fills `partial_success`."""
    if signal == METRICS:  # an empty ExportMetricsServiceResponse: full success, nothing to report
        return b"" if encoding == PROTOBUF else b"{}"
    if encoding == PROTOBUF:
        if signal == TRACES:
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

            msg = ExportTraceServiceResponse()
            if rejected or message:
                msg.partial_success.rejected_spans = rejected
                msg.partial_success.error_message = message
        else:
            from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

            msg = ExportLogsServiceResponse()
            if rejected or message:
                msg.partial_success.rejected_log_records = rejected
                msg.partial_success.error_message = message
        return msg.SerializeToString()
    body: dict = {}
    if rejected or message:
        field = "rejectedSpans" if signal == TRACES else "rejectedLogRecords"
        # The OTLP/JSON mapping writes int64 as a decimal string.
        body["partialSuccess"] = {field: str(rejected), "errorMessage": message}
    return json.dumps(body).encode()


def status_body(http_status: int, message: str, encoding: str) -> tuple[bytes, str]:
    """A `google.rpc.Status` for a failed request; returns (body, content type)."""
    code = _RPC_CODE.get(http_status, 2)
    if encoding == PROTOBUF:
        try:
            from google.rpc.status_pb2 import Status
        except ImportError:  # googleapis-common-protos missing: fall back to JSON
            pass
        else:
            return Status(code=code, message=message).SerializeToString(), PROTOBUF
    return json.dumps({"code": code, "message": message}).encode(), JSON
