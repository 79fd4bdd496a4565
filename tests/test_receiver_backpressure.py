"""Issue 14: the receiver's memory stays bounded when clients send faster than the one SQLite writer commits.

The writer's queue is bounded in request bytes; a request that does not fit is answered 429 + Retry-After
(OTLP/HTTP's throttling answer) or gRPC RESOURCE_EXHAUSTED with RetryInfo, nothing of it is kept, and every
request that was answered 200 is stored. The slow writer here is real: another connection holds SQLite's
write lock (as a long `tracedesk ingest` or a VACUUM would), so the writer waits inside its commit."""
from __future__ import annotations

import http.client
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from receiver_support import make_receiver, post, span_json, stored, traces_body

from tracedesk.models import Span
from tracedesk.receiver.writer import BatchWriter, WriteRequest, WriterBusy, default_write

JSON_HEADERS = {"Content-Type": "application/json"}


def _span(i: int) -> Span:
    return Span(trace_id="a" * 32, span_id=f"{i:016x}", name=f"s{i}", start_ns=i, end_ns=i + 10)


def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait for a state another thread reaches (a safety net against hanging, not a speed bound)."""
    deadline = time.monotonic() + 120
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never reached: {what}")
        time.sleep(0.01)


# -- the writer alone -----------------------------------------------------------------------------


def test_writer_refuses_what_does_not_fit_and_takes_it_once_the_queue_drains(db_path):
    entered, gate = threading.Event(), threading.Event()

    def slow_write(db, spans, evaluations, log_messages):
        entered.set()
        gate.wait()
        default_write(db, spans, evaluations, log_messages)

    writer = BatchWriter(db_path, write=slow_write, max_queued_bytes=100)
    try:
        first = writer.submit(WriteRequest([_span(1)], nbytes=60))
        assert entered.wait(60)  # the writer is inside its commit with the first request
        second = writer.submit(WriteRequest([_span(2)], nbytes=40))  # 60 + 40 = the bound: still fits
        assert writer.held_bytes == 100
        with pytest.raises(WriterBusy, match=r"write queue is full \(100 of 100 bytes") as busy:
            writer.submit(WriteRequest([_span(3)], nbytes=1))
        assert busy.value.retry_after == 1  # nothing committed yet to estimate from: the minimum
        with pytest.raises(WriterBusy):
            writer.refuse_if_full()
        assert writer.stats.busy_refusals == 2
        assert not first.done() and not second.done()
        gate.set()
        assert first.result(60) is None and second.result(60) is None
        assert writer.held_bytes == 0
        # An empty queue takes one request of any size, so a body within the size limit always gets in.
        assert writer.submit(WriteRequest([_span(3)], nbytes=10_000)).result(60) is None
        assert writer.held_bytes == 0
    finally:
        gate.set()
        writer.close()
    assert [s for (s,) in stored(db_path, "SELECT span_id FROM spans ORDER BY 1")] == [
        f"{i:016x}" for i in (1, 2, 3)]


def test_a_failed_write_frees_its_place_in_the_queue(db_path):
    def write(db, spans, evaluations, log_messages):
        if any(s.name == "boom" for s in spans):
            raise ValueError("bad span")
        default_write(db, spans, evaluations, log_messages)

    writer = BatchWriter(db_path, write=write, max_queued_bytes=100)
    try:
        bad = writer.submit(WriteRequest([Span(trace_id="b" * 32, span_id="1" * 16, name="boom")], nbytes=100))
        with pytest.raises(ValueError):
            bad.result(60)
        assert writer.held_bytes == 0
        assert writer.submit(WriteRequest([_span(1)], nbytes=100)).result(60) is None
    finally:
        writer.close()


def test_a_bound_that_is_not_positive_is_refused(db_path):
    with pytest.raises(ValueError, match="max_queued_bytes must be positive"):
        BatchWriter(db_path, max_queued_bytes=0)


# -- over HTTP and gRPC, with the database locked by another connection ---------------------------


@contextmanager
def write_lock(db_path: str) -> Iterator[Callable[[], None]]:
    """Hold SQLite's write lock from another connection; yields `release()` (also called at the end)."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            conn.execute("ROLLBACK")
            released = True

    try:
        yield release
    finally:
        release()
        conn.close()


def _body(trace: str, n: int = 5) -> bytes:
    return traces_body([span_json(trace, f"{i + 1:016x}", f"op{i}") for i in range(n)])


def _post_in_thread(receiver, body: bytes, answers: list) -> threading.Thread:
    t = threading.Thread(target=lambda: answers.append(post(receiver, "/v1/traces", body, JSON_HEADERS)))
    t.start()
    return t


def test_http_answers_429_with_retry_after_when_the_queue_is_full_and_loses_no_acknowledged_span(db_path):
    ta, tb, tc, te = ("a" * 32, "b" * 32, "c" * 32, "e" * 32)
    a, b, c, big = _body(ta), _body(tb), _body(tc), _body(te, 40)
    assert len(big) > len(b)
    r = make_receiver(db_path, max_queued_bytes=len(a) + len(b))
    answers: list = []
    try:
        with write_lock(db_path) as release:
            first = _post_in_thread(r, a, answers)
            _until(lambda: r.writer.held_bytes == len(a), "request A waits inside the writer")
            # The queue has room, but not for this body: refused when it is submitted (after parsing).
            too_big = post(r, "/v1/traces", big, JSON_HEADERS)
            assert too_big.status == 429
            assert int(too_big.headers["retry-after"]) >= 1
            second = _post_in_thread(r, b, answers)
            _until(lambda: r.writer.held_bytes == len(a) + len(b), "request B queued behind A")
            # The queue is full: refused before the body is even read, over a connection that stays usable.
            conn = http.client.HTTPConnection(r.host, r.port, timeout=60)
            refused = post(r, "/v1/traces", c, JSON_HEADERS, conn=conn)
            assert refused.status == 429
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.headers["content-type"] == "application/json"
            status = refused.json()
            assert status["code"] == 8  # google.rpc.Code RESOURCE_EXHAUSTED
            assert status["message"].startswith(f"the receiver's write queue is full ({len(a) + len(b):,} of "
                                                f"{len(a) + len(b):,} bytes waiting for the database)")
            assert "connection" not in refused.headers  # the unread body was drained; keep-alive holds
            proto = post(r, "/v1/traces", c, {"Content-Type": "application/x-protobuf"})
            assert proto.status == 429 and proto.headers["content-type"] == "application/x-protobuf"
            from google.rpc.status_pb2 import Status

            assert Status.FromString(proto.body).code == 8
            assert not answers  # A and B are still waiting for their commit
            release()
            first.join(60)
            second.join(60)
        assert sorted(x.status for x in answers) == [200, 200]
        # Every acknowledged span is stored; nothing of the refused requests is.
        assert {t for (t,) in stored(db_path, "SELECT DISTINCT trace_id FROM spans")} == {ta, tb}
        assert stored(db_path, "SELECT COUNT(*) FROM spans") == [(10,)]
        # The client's retry, on the same connection, is taken once the queue has drained.
        again = post(r, "/v1/traces", c, JSON_HEADERS, conn=conn)
        assert again.status == 200 and json.loads(again.body) == {}
        conn.close()
        assert stored(db_path, "SELECT COUNT(*) FROM spans WHERE trace_id = ?", [tc]) == [(5,)]
        assert r.counts["status_429"] == 3 and r.writer.stats.busy_refusals == 3
    finally:
        r.stop()


def test_grpc_answers_resource_exhausted_with_retry_info_when_the_queue_is_full(db_path):
    grpc = pytest.importorskip("grpc")
    from google.rpc.error_details_pb2 import RetryInfo
    from google.rpc.status_pb2 import Status
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span as PbSpan

    from tracedesk.receiver.grpc_server import GrpcReceiver

    def request(trace: str) -> ExportTraceServiceRequest:
        spans = [PbSpan(trace_id=bytes.fromhex(trace), span_id=(i + 1).to_bytes(8, "big"), name=f"op{i}",
                        start_time_unix_nano=1_700_000_000_000_000_000,
                        end_time_unix_nano=1_700_000_000_005_000_000) for i in range(5)]
        return ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])

    a = request("a" * 32)
    r = make_receiver(db_path, max_queued_bytes=a.ByteSize())
    g = GrpcReceiver(r, "127.0.0.1", 0).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{g.port}")
    stub = TraceServiceStub(channel)
    results: list = []
    try:
        with write_lock(db_path) as release:
            t = threading.Thread(target=lambda: results.append(stub.Export(a, timeout=120)))
            t.start()
            _until(lambda: r.writer.held_bytes == a.ByteSize(), "request A waits inside the writer")
            with pytest.raises(grpc.RpcError) as err:
                stub.Export(request("c" * 32), timeout=60)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert err.value.details().startswith("the receiver's write queue is full")
            trailers = dict(err.value.trailing_metadata())
            status = Status.FromString(trailers["grpc-status-details-bin"])
            assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
            info = RetryInfo()
            assert status.details[0].Unpack(info) and info.retry_delay.seconds >= 1
            assert RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"]) == info
            release()
            t.join(60)
        assert len(results) == 1 and not results[0].HasField("partial_success")
        assert stored(db_path, "SELECT DISTINCT trace_id FROM spans") == [("a" * 32,)]
        assert r.counts["status_429"] == 1
    finally:
        channel.close()
        g.stop()
        r.stop()


def test_the_sdk_exporter_retries_after_429_and_its_spans_are_stored(db_path):
    """A real sender: the OpenTelemetry SDK's OTLP/HTTP exporter honours 429 + Retry-After."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    blocker = _body("b" * 32)
    r = make_receiver(db_path, max_queued_bytes=len(blocker))
    answers: list = []
    results: list = []
    try:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{r.endpoint}/v1/traces",
                                                                         timeout=60)))
        tracer = provider.get_tracer("backpressure")
        with write_lock(db_path) as release:
            held = _post_in_thread(r, blocker, answers)
            _until(lambda: r.writer.held_bytes == len(blocker), "the blocking request waits inside the writer")

            def export() -> None:
                with tracer.start_as_current_span("checkout") as span:
                    results.append(format(span.get_span_context().trace_id, "032x"))

            sender = threading.Thread(target=export)
            sender.start()
            _until(lambda: r.counts["status_429"] >= 1, "the exporter was told to retry")
            release()
            held.join(60)
            sender.join(120)
        provider.shutdown()
        assert [a.status for a in answers] == [200]
        assert stored(db_path, "SELECT name FROM spans WHERE trace_id = ?", results) == [("checkout",)]
    finally:
        r.stop()
