"""The OTLP/HTTP surface: encodings, framing, OTLP responses, and every refusal (the server keeps serving)."""
from __future__ import annotations

import gzip
import http.client
import zlib

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from google.protobuf.json_format import Parse
from google.rpc.status_pb2 import Status
from receiver_support import (  # noqa: F401 - `receiver` is a fixture
    llm_span,
    make_receiver,
    post,
    receiver,
    span_json,
    stored,
    traces_body,
)

T1 = "0af7651916cd43dd8448eb211c80319c"
JSON_H = {"Content-Type": "application/json"}
PB_H = {"Content-Type": "application/x-protobuf"}


def _pb(body_json: bytes) -> bytes:
    """The same request as OTLP protobuf (ids as bytes: the proto3 JSON mapping wants base64)."""
    import base64
    import json

    doc = json.loads(body_json)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = base64.b64encode(bytes.fromhex(s[key])).decode()
    return Parse(json.dumps(doc), ExportTraceServiceRequest()).SerializeToString()


def _message(ans) -> str:
    """The reason in a refusal: a google.rpc.Status, encoded like the request when it could be read."""
    if ans.headers["content-type"] == "application/x-protobuf":
        return Status.FromString(ans.body).message
    return ans.json()["message"]


def test_json_post_is_stored_and_answered_with_an_empty_json_response(receiver, db_path):
    ans = post(receiver, "/v1/traces", traces_body([llm_span(T1, "b7ad6b7169203331")]), JSON_H)
    assert (ans.status, ans.headers["content-type"], ans.json()) == (200, "application/json", {})
    rows = stored(db_path, "SELECT span_id, kind, model, input_tokens, output_tokens, td_str(source) FROM spans")
    assert rows == [("b7ad6b7169203331", "LLM", "gpt-4o-mini", 12, 3, "otlp-http")]


def test_protobuf_post_gets_a_protobuf_response(receiver, db_path):
    body = _pb(traces_body([llm_span(T1, "b7ad6b7169203331"), span_json(T1, "00f067aa0ba902b7", "tool")]))
    ans = post(receiver, "/v1/traces", body, PB_H)
    assert (ans.status, ans.headers["content-type"]) == (200, "application/x-protobuf")
    resp = ExportTraceServiceResponse.FromString(ans.body)
    assert not resp.HasField("partial_success")
    assert stored(db_path) == [(T1, "00f067aa0ba902b7"), (T1, "b7ad6b7169203331")]


def test_gzip_and_deflate_bodies(receiver, db_path):
    a = post(receiver, "/v1/traces", gzip.compress(traces_body([span_json(T1, "1" * 16)])),
             {**JSON_H, "Content-Encoding": "gzip"})
    b = post(receiver, "/v1/traces", zlib.compress(_pb(traces_body([span_json(T1, "2" * 16)]))),
             {**PB_H, "Content-Encoding": "deflate"})
    assert (a.status, b.status) == (200, 200)
    assert stored(db_path) == [(T1, "1" * 16), (T1, "2" * 16)]


def test_chunked_body_without_content_length(receiver, db_path):
    # What the Node.js exporter does: Transfer-Encoding: chunked, no Content-Length, here in odd pieces.
    raw = gzip.compress(traces_body([span_json(T1, f"{i:016x}") for i in range(1, 31)]))
    pieces = [raw[i:i + 97] for i in range(0, len(raw), 97)]
    ans = post(receiver, "/v1/traces", iter(pieces), {**JSON_H, "Content-Encoding": "gzip"})
    assert ans.status == 200
    assert len(stored(db_path)) == 30


def test_partial_success_reports_rejected_spans_in_both_encodings(receiver, db_path):
    good, bad = span_json(T1, "1" * 16), span_json("not-a-trace-id", "2" * 16)
    ans = post(receiver, "/v1/traces", traces_body([good, bad]), JSON_H)
    assert ans.status == 200
    partial = ans.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "not-a-trace-id" in partial["errorMessage"]
    assert stored(db_path) == [(T1, "1" * 16)]

    # Protobuf: a span whose trace id has the wrong length.
    req = ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    ok = scope.spans.add(trace_id=bytes.fromhex(T1), span_id=bytes.fromhex("3" * 16), name="ok")
    ok.start_time_unix_nano, ok.end_time_unix_nano = 1, 2
    scope.spans.add(trace_id=b"\x01\x02", span_id=bytes.fromhex("4" * 16), name="short id")
    ans = post(receiver, "/v1/traces", req.SerializeToString(), PB_H)
    resp = ExportTraceServiceResponse.FromString(ans.body)
    assert ans.status == 200
    assert resp.partial_success.rejected_spans == 1
    assert resp.partial_success.error_message.startswith("1 rejected:")
    assert stored(db_path) == [(T1, "1" * 16), (T1, "3" * 16)]


def test_each_bad_request_is_refused_with_a_reason_and_the_server_keeps_serving(receiver, db_path):
    body = traces_body([span_json(T1, "1" * 16)])
    cases = [
        # /v1/metrics is acknowledged (tests/test_receiver_grpc.py); any other path is refused
        ("/v1/profiles", body, JSON_H, 404, "/v1/traces and /v1/logs"),
        ("/v1/traces", body, {"Content-Type": "text/plain"}, 415, "application/x-protobuf or application/json"),
        ("/v1/traces", body, {}, 415, "(none)"),
        ("/v1/traces", body, {**JSON_H, "Content-Encoding": "br"}, 415, "gzip, deflate or identity"),
        ("/v1/traces", b"{not json", JSON_H, 400, "not valid JSON"),
        ("/v1/traces", b"[1, 2]", JSON_H, 400, "must be an object"),
        ("/v1/traces", b'{"resourceLogs": []}', JSON_H, 400, "post it to /v1/logs"),
        ("/v1/traces", b'{"spans": []}', JSON_H, 400, "unexpected field"),
        ("/v1/traces", b"\xff\xff\xff\xff", PB_H, 400, "not a valid OTLP protobuf ExportTraceServiceRequest"),
        ("/v1/traces", b"not gzip at all", {**JSON_H, "Content-Encoding": "gzip"}, 400, "not valid gzip"),
        ("/v1/traces", gzip.compress(body)[:-12], {**JSON_H, "Content-Encoding": "gzip"}, 400, "truncated"),
    ]
    conn = http.client.HTTPConnection(receiver.host, receiver.port, timeout=60)
    for path, data, headers, status, reason in cases:
        ans = post(receiver, path, data, headers)
        assert ans.status == status, (path, headers, ans.body)
        assert reason in _message(ans), ans.body
        # Refusals are reported on a kept-alive connection too, and the next request still works.
        again = post(receiver, path, data, headers, conn=conn)
        assert again.status == status
        if again.headers.get("connection") == "close":
            conn.close()
            conn = http.client.HTTPConnection(receiver.host, receiver.port, timeout=60)
    assert post(receiver, "/v1/traces", body, JSON_H, conn=conn).status == 200
    conn.close()
    assert stored(db_path) == [(T1, "1" * 16)]
    assert receiver.counts["status_200"] == 1
    assert receiver.counts["status_400"] == 14


def test_protobuf_refusals_carry_a_google_rpc_status(receiver):
    ans = post(receiver, "/v1/traces", b"\x0a\xff", PB_H)
    assert (ans.status, ans.headers["content-type"]) == (400, "application/x-protobuf")
    status = Status.FromString(ans.body)
    assert status.code == 3 and "protobuf" in status.message


def test_get_health_and_wrong_method(receiver, db_path):
    conn = http.client.HTTPConnection(receiver.host, receiver.port, timeout=60)
    conn.request("GET", "/health")
    import json
    import os

    health = json.loads(conn.getresponse().read())
    # issue 14: where the data lives is not told to whoever can reach the port (see test_receiver_poison)
    assert (health["service"], "pid" in health, "db" in health) == ("tracedesk-receiver", False, False)
    conn.request("GET", "/v1/traces")
    resp = conn.getresponse()
    assert (resp.status, resp.getheader("Allow")) == (405, "POST")
    resp.read()
    conn.close()


def test_bearer_token_is_required_when_configured(db_path):
    r = make_receiver(db_path, token="s3cret")
    try:
        body = traces_body([span_json(T1, "1" * 16)])
        missing = post(r, "/v1/traces", body, JSON_H)
        wrong = post(r, "/v1/traces", body, {**JSON_H, "Authorization": "Bearer nope"})
        basic = post(r, "/v1/traces", body, {**JSON_H, "Authorization": "Basic s3cret"})
        assert [a.status for a in (missing, wrong, basic)] == [401, 401, 401]
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert "Authorization: Bearer" in missing.json()["message"]
        assert stored(db_path) == []
        ok = post(r, "/v1/traces", body, {**JSON_H, "Authorization": "Bearer s3cret"})
        assert ok.status == 200
        assert stored(db_path) == [(T1, "1" * 16)]
    finally:
        r.stop()


def test_oversize_bodies_get_413_before_and_after_decompression(db_path):
    r = make_receiver(db_path, max_body_bytes=20_000)
    try:
        big = traces_body([span_json(T1, f"{i:016x}", "x" * 100) for i in range(1, 200)])
        assert len(big) > 20_000
        plain = post(r, "/v1/traces", big, JSON_H)
        chunked = post(r, "/v1/traces", iter([big[:15_000], big[15_000:]]), JSON_H)
        bomb = gzip.compress(big)  # small on the wire, too big once inflated
        assert len(bomb) < 20_000
        inflated = post(r, "/v1/traces", bomb, {**JSON_H, "Content-Encoding": "gzip"})
        assert [a.status for a in (plain, chunked, inflated)] == [413, 413, 413]
        assert "--max-body-mb" in plain.json()["message"]
        small = traces_body([span_json(T1, "1" * 16)])
        assert post(r, "/v1/traces", small, JSON_H).status == 200
        assert stored(db_path) == [(T1, "1" * 16)]
    finally:
        r.stop()


def test_malformed_chunked_framing_is_400(receiver):
    import socket

    with socket.create_connection((receiver.host, receiver.port)) as sock:
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
        reply = sock.makefile("rb").read()
    assert reply.startswith(b"HTTP/1.1 400")
    assert b"bad chunk size" in reply


def test_expect_100_continue_refuses_before_the_body_is_sent(db_path):
    import socket

    r = make_receiver(db_path, max_body_bytes=1000)
    try:
        for headers, status in ((b"Content-Type: text/csv\r\nContent-Length: 10\r\n", b"415"),
                                (b"Content-Type: application/json\r\nContent-Length: 5000\r\n", b"413")):
            with socket.create_connection((r.host, r.port)) as sock:
                sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" + headers + b"\r\n")
                # No body sent: the refusal comes straight away instead of "100 Continue".
                assert sock.makefile("rb").readline().startswith(b"HTTP/1.1 " + status)
        body = traces_body([span_json(T1, "1" * 16)])
        with socket.create_connection((r.host, r.port)) as sock:
            stream = sock.makefile("rb")
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                         b"Content-Type: application/json\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode())
            assert stream.readline().startswith(b"HTTP/1.1 100")
            stream.readline()
            sock.sendall(body)
            assert stream.readline().startswith(b"HTTP/1.1 200")
        assert stored(db_path) == [(T1, "1" * 16)]
        assert (r.counts["status_415"], r.counts["status_413"], r.counts["status_200"]) == (1, 1, 1)
    finally:
        r.stop()


def test_cohort_dimension_mapping_from_the_app_applies_to_live_spans(db_path):
    from tracedesk import store
    from tracedesk.ingest.dimensions import save_dimensions

    db = store.connect(db_path)
    save_dimensions(db, {"route": ["my.route"], "team": ["team.name"]})
    r = make_receiver(db_path, settings_ttl=0)  # re-read the mapping on every request
    try:
        attrs = {"my.route": "billing", "team.name": "payments", "app.route": "ignored"}
        assert post(r, "/v1/traces", traces_body([span_json(T1, "1" * 16, attrs=attrs)]), JSON_H).status == 200
        # The mapping is changed in the app while the receiver runs: later spans follow it.
        save_dimensions(db, {"route": ["app.route"]})
        assert post(r, "/v1/traces", traces_body([span_json(T1, "2" * 16, attrs=attrs)]), JSON_H).status == 200
    finally:
        r.stop()
        db.conn.close()
    assert stored(db_path, "SELECT span_id, route, dims FROM spans ORDER BY span_id") == [
        ("1" * 16, "billing", '{"team":"payments"}'), ("2" * 16, "ignored", None)]


def test_an_internal_parser_error_is_500_and_the_server_keeps_serving(receiver, db_path, monkeypatch):
    from tracedesk.receiver import server

    real = server.parse_request

    def broken(*args, **kwargs):
        raise RuntimeError("simulated parser bug")

    monkeypatch.setattr(server, "parse_request", broken)
    body = traces_body([span_json(T1, "1" * 16)])
    ans = post(receiver, "/v1/traces", body, JSON_H)
    assert ans.status == 500 and "simulated parser bug" in ans.json()["message"]
    monkeypatch.setattr(server, "parse_request", real)
    assert post(receiver, "/v1/traces", body, JSON_H).status == 200
    assert stored(db_path) == [(T1, "1" * 16)]


def test_live_activity_counts_received_spans(receiver, db_path):
    from tracedesk import store
    from tracedesk.models import Span
    from tracedesk.receiver import live_activity

    now = 1_700_000_000_000_000_000
    spans = [span_json(T1, f"{i:016x}", f"s{i}", start=now - i * 60 * 10**9, dur=1) for i in range(1, 8)]
    assert post(receiver, "/v1/traces", traces_body(spans), JSON_H).status == 200
    db = store.connect(db_path)
    store.write_batch(db, [Span(trace_id="f" * 32, span_id="1" * 16, start_ns=now, end_ns=now, source="file.json")])
    activity = live_activity(db_path, window_s=300, limit=3, now_ns=now)
    # s_i ended i minutes (less 1 ns) before `now`: s1..s5 are inside the 5-minute window; the span
    # loaded from a file is not counted as received.
    assert (activity.received_spans, activity.recent_spans) == (7, 5)
    assert activity.last_span_end_ns == now - 60 * 10**9 + 1
    assert list(activity.recent["name"]) == ["s7", "s6", "s5"]  # arrival order, newest first
    empty = live_activity(str(db_path) + ".missing")
    assert (empty.received_spans, len(empty.recent)) == (0, 0)
