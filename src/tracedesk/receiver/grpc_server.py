"""OTLP/gRPC beside the HTTP receiver: TraceService, LogsService and MetricsService on one port (4317).

It shares everything with `/v1/traces` and `/v1/logs` over HTTP: the same parser (the request message is
re-serialized and read by the ingest package's protobuf reader, so both transports store identical rows),
the same single `BatchWriter`, the same bearer token (the `authorization` metadata key, which is what
OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<token> sends), the same `partial_success` answers and
the same counters. Metrics are acknowledged and dropped, as over HTTP: a default SDK setup exports them and
must not log errors.

Status codes follow the OTLP/gRPC spec: UNAUTHENTICATED for a bad token, INVALID_ARGUMENT for a body
that does not parse (not retried), UNAVAILABLE while shutting down or when the write failed (retried),
RESOURCE_EXHAUSTED for a message over the size limit (grpc answers that itself; not retried), and
RESOURCE_EXHAUSTED *with* a `google.rpc.RetryInfo` detail when the writer's queue is full: the spec makes
that combination retryable after the given delay (the HTTP side answers 429 + Retry-After).

Needs grpcio: `pip install 'tracedesk[grpc]'`. The generated services come from opentelemetry-proto.
"""
from __future__ import annotations

import hmac
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..extras import require
from .adapter import MalformedBody, Parsed, parse_request
from .responses import LOGS, PROTOBUF, TRACES
from .writer import WriteRequest, WriterBusy, WriterClosed

if TYPE_CHECKING:
    from .server import Receiver

log = logging.getLogger(__name__)
DEFAULT_GRPC_PORT = 4317


class GrpcReceiver:
    """The gRPC listener of one `Receiver` (which owns the writer and the counters)."""

    def __init__(self, receiver: "Receiver", host: str, port: int = DEFAULT_GRPC_PORT, *,
                 workers: int = 8) -> None:
        require("grpc")
        self.receiver = receiver
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.workers = workers
        self._server: Any = None

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "GrpcReceiver":
        import grpc
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc as logs_grpc
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as metrics_grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc

        limit = self.receiver.config.max_body_bytes
        server = grpc.server(
            ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="tracedesk-grpc"),
            options=[("grpc.max_receive_message_length", limit), ("grpc.so_reuseport", 0)],
        )
        trace_grpc.add_TraceServiceServicer_to_server(_TraceService(self.receiver), server)
        logs_grpc.add_LogsServiceServicer_to_server(_LogsService(self.receiver), server)
        metrics_grpc.add_MetricsServiceServicer_to_server(_MetricsService(self.receiver), server)
        host = f"[{self.host}]" if ":" in self.host else self.host
        try:
            port = server.add_insecure_port(f"{host}:{self.requested_port}")
        except RuntimeError as exc:  # grpcio >= 1.60 raises instead of returning 0
            raise OSError(98, f"cannot bind gRPC to {self.host}:{self.requested_port}: {exc}") from None
        if not port:
            raise OSError(98, f"cannot bind gRPC to {self.host}:{self.requested_port} (in use?)")
        server.start()
        self.port, self._server = port, server
        return self

    def stop(self, grace: float = 10.0) -> None:
        """Refuse new calls, let running ones finish (they wait for their commit), then return."""
        if self._server is not None:
            self._server.stop(grace).wait(grace + 1)
            self._server = None


def _authorized(receiver: "Receiver", context: Any) -> bool:
    token = receiver.config.token
    if not token:
        return True
    given = dict(context.invocation_metadata()).get("authorization", "")
    scheme, _, value = str(given).partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def _export(receiver: "Receiver", signal: str, request: Any, context: Any, response: Any) -> Any:
    import grpc

    if not receiver._enter():
        receiver._count(requests=1, status_503=1)
        context.abort(grpc.StatusCode.UNAVAILABLE, "the receiver is shutting down; retry")
    try:
        if not _authorized(receiver, context):
            receiver._count(requests=1, status_401=1)
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          "missing or wrong bearer token: send metadata 'authorization: Bearer <token>' "
                          "(OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<token>)")
        if signal not in (TRACES, LOGS):  # metrics: acknowledged, not stored
            receiver._count(requests=1, status_200=1)
            return response
        from .server import SOURCE

        assert receiver.writer is not None
        try:
            receiver.writer.refuse_if_full()  # before re-serializing and parsing the message
        except WriterBusy as exc:
            receiver._count(requests=1, status_429=1)
            _abort_busy(context, exc)
        data = request.SerializeToString()
        try:
            parsed = parse_request(data, signal, PROTOBUF, SOURCE, receiver.normalizer())
        except MalformedBody as exc:
            receiver._count(requests=1, status_400=1)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        _write(receiver, parsed, context, len(data))
        rejected = len(parsed.rejected)
        receiver._count(requests=1, spans_accepted=len(parsed.spans), rejected=rejected, status_200=1)
        if rejected:
            ps = response.partial_success
            if signal == TRACES:
                ps.rejected_spans = rejected
            else:
                ps.rejected_log_records = rejected
            ps.error_message = parsed.rejection_message()
        return response
    finally:
        receiver._leave()


def _abort_busy(context: Any, exc: WriterBusy) -> None:
    """RESOURCE_EXHAUSTED carrying RetryInfo(retry_delay): OTLP/gRPC clients retry it after that delay
    (without RetryInfo they must drop the data). The detail travels twice: inside the rich status
    (`grpc-status-details-bin`, what Go/Java clients read) and alone as `google.rpc.retryinfo-bin` (what
    the Python SDK's exporter reads)."""
    import grpc

    try:
        from google.protobuf.duration_pb2 import Duration
        from google.rpc.error_details_pb2 import RetryInfo
        from google.rpc.status_pb2 import Status
    except ImportError:  # googleapis-common-protos missing: UNAVAILABLE is retryable without a detail
        context.abort(grpc.StatusCode.UNAVAILABLE, f"{exc} (in {exc.retry_after} s)")
        return
    retry = RetryInfo(retry_delay=Duration(seconds=exc.retry_after))
    status = Status(code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], message=str(exc))
    status.details.add().Pack(retry)
    context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),
                                   ("google.rpc.retryinfo-bin", retry.SerializeToString())))
    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))


def _write(receiver: "Receiver", parsed: Parsed, context: Any, nbytes: int) -> None:
    import grpc

    if not (parsed.spans or parsed.evaluations or parsed.log_messages):
        return
    assert receiver.writer is not None
    request = WriteRequest(parsed.spans, parsed.evaluations, parsed.log_messages, nbytes=nbytes)
    try:
        receiver.writer.submit(request).result(receiver.config.write_timeout)
    except WriterBusy as exc:
        receiver._count(requests=1, status_429=1)
        _abort_busy(context, exc)
    except WriterClosed:
        receiver._count(requests=1, status_503=1)
        context.abort(grpc.StatusCode.UNAVAILABLE, "the receiver is shutting down; retry")
    except Exception as exc:  # noqa: BLE001 - not acknowledged: the client retries
        receiver._count(requests=1, status_503=1)
        context.abort(grpc.StatusCode.UNAVAILABLE, f"could not store the batch ({type(exc).__name__}: {exc}); retry")


class _TraceService:
    def __init__(self, receiver: "Receiver") -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - the generated service's name
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        return _export(self.receiver, TRACES, request, context, ExportTraceServiceResponse())


class _LogsService:
    def __init__(self, receiver: "Receiver") -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

        return _export(self.receiver, LOGS, request, context, ExportLogsServiceResponse())


class _MetricsService:
    def __init__(self, receiver: "Receiver") -> None:
        self.receiver = receiver

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

        return _export(self.receiver, "metrics", request, context, ExportMetricsServiceResponse())
