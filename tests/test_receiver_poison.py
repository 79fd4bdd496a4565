"""Issue 14: the receiver keeps the good spans of a request that carries a bad value, over JSON and protobuf.

A bad record goes to partial_success (HTTP 200, counted and named); 503 + Retry-After is only for
conditions a retry can cure (database locked); /health tells no database path.
"""
from __future__ import annotations

import http.client
import json
import math
import sqlite3

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (ExportTraceServiceRequest,
                                                                      ExportTraceServiceResponse)
from poison_cases import OTLP_JSON_CASES, bad_otlp_span, good_otlp_span
from receiver_support import make_receiver, post, receiver  # noqa: F401 - fixture

from tracedesk import store

JSON_H = {"Content-Type": "application/json"}
PB_H = {"Content-Type": "application/x-protobuf"}
T = "ab" * 16


def _body(spans):
    return json.dumps({"resourceSpans": [{"resource": {"attributes": []},
                                          "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}).encode()


def _names(db_path):
    return sorted(r[0] for r in sqlite3.connect(db_path).execute("SELECT name FROM spans"))


@pytest.mark.parametrize("case", OTLP_JSON_CASES, ids=lambda c: c.name)
def test_json_poison_mixed_with_good_spans(case, receiver, db_path):  # noqa: F811
    spans = [good_otlp_span(0), bad_otlp_span(1, case), good_otlp_span(2)]
    ans = post(receiver, "/v1/traces", _body(spans), JSON_H)
    assert ans.status == 200
    partial = ans.json()["partialSuccess"]
    where = "otlp-http#resourceSpans[0].scopeSpans[0].spans[1]"
    if case.outcome == "rejected":
        assert partial["rejectedSpans"] == "1"
        assert partial["errorMessage"].startswith(f"1 rejected: {where}: ")
        assert _names(db_path) == ["good-0", "good-2"]
    else:
        assert partial["rejectedSpans"] == "0"
        assert f"warning(s): {where}: " in partial["errorMessage"]
        assert _names(db_path) == ["bad-1", "good-0", "good-2"]
    assert case.phrase in partial["errorMessage"]


def test_lone_surrogate_in_a_json_body_is_replaced_not_refused(receiver, db_path):  # noqa: F811
    body = _body([good_otlp_span(0), good_otlp_span(1)]).replace(b'"good-1"', b'"cut \\ud83d"')
    ans = post(receiver, "/v1/traces", body, JSON_H)
    assert ans.status == 200
    assert ans.json()["partialSuccess"] == {
        "rejectedSpans": "0", "errorMessage": "1 warning(s): otlp-http: lone UTF-16 surrogate escape(s) (e.g. "
                                              "\"\\ud83d\", a string cut mid-emoji) replaced with U+FFFD"}
    assert _names(db_path) == ["cut \ufffd", "good-0"]


def _pb_nested(value, depth):
    inner = value
    for _ in range(depth):
        kv = inner  # AnyValue
        outer_kv = kv.__class__()
        entry = outer_kv.kvlist_value.values.add(key="a")
        entry.value.CopyFrom(kv)
        inner = outer_kv
    return inner


PB_CASES = [
    ("start 2^64-1", "rejected", "outside 1970-01-01..2200", lambda s: setattr(s, "start_time_unix_nano", 2**64 - 1)),
    ("start 2^63 (year 2262)", "rejected", "outside 1970-01-01..2200",
     lambda s: setattr(s, "start_time_unix_nano", 2**63)),
    ("end in 2223", "rejected", "outside 1970-01-01..2200", lambda s: setattr(s, "end_time_unix_nano", 8 * 10**18)),
    ("tokens inf", "warned", "input tokens inf is not a finite non-negative integer",
     lambda s: s.attributes.add(key="gen_ai.usage.input_tokens").value.__setattr__("double_value", math.inf)),
    ("tokens negative", "warned", "output tokens -3 is not a finite non-negative integer",
     lambda s: s.attributes.add(key="gen_ai.usage.output_tokens").value.__setattr__("int_value", -3)),
    ("cost nan", "warned", "reported cost nan must be finite",
     lambda s: s.attributes.add(key="gen_ai.usage.cost").value.__setattr__("double_value", math.nan)),
    ("cost negative", "warned", "reported cost -1.0 must be finite",
     lambda s: s.attributes.add(key="gen_ai.usage.cost").value.__setattr__("double_value", -1.0)),
    ("nested 80 deep", "rejected", "not a valid protobuf Span", "nested"),
    ("event time 2^64-1", "warned", "event[0] time 18446744073709551615 is outside 1970..2200; time dropped",
     lambda s: s.events.add(name="e", time_unix_nano=2**64 - 1)),
]


def _pb_request(mutate):
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    req = ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    for i in range(3):
        s = scope.spans.add(trace_id=bytes.fromhex(T), span_id=(i + 1).to_bytes(8, "big"),
                            name=f"good-{i}" if i != 1 else "bad-1")
        s.start_time_unix_nano = 1_700_000_000_000_000_000 + i
        s.end_time_unix_nano = s.start_time_unix_nano + 5_000_000
        s.attributes.add(key="gen_ai.request.model").value.string_value = "gpt-4o-mini"
        if i == 1:
            if mutate == "nested":
                leaf = AnyValue(int_value=1)
                s.attributes.add(key="deep").value.CopyFrom(_pb_nested(leaf, 80))
            else:
                mutate(s)
    return req.SerializeToString()


@pytest.mark.parametrize("name,outcome,phrase,mutate", PB_CASES, ids=[c[0] for c in PB_CASES])
def test_protobuf_poison_mixed_with_good_spans(name, outcome, phrase, mutate, receiver, db_path):  # noqa: F811
    ans = post(receiver, "/v1/traces", _pb_request(mutate), PB_H)
    assert ans.status == 200
    resp = ExportTraceServiceResponse.FromString(ans.body)
    where = "otlp-http#resourceSpans[0].scopeSpans[0].spans[1]"
    message = resp.partial_success.error_message
    if outcome == "rejected":
        assert resp.partial_success.rejected_spans == 1 and message.startswith(f"1 rejected: {where}: ")
        assert _names(db_path) == ["good-0", "good-2"]
    else:
        assert resp.partial_success.rejected_spans == 0 and f"warning(s): {where}: " in message
        assert _names(db_path) == ["bad-1", "good-0", "good-2"]
    assert phrase in message


def test_a_span_the_store_refuses_is_partial_success_not_503(receiver, db_path, monkeypatch):  # noqa: F811
    # Defence in depth: a value no check knows about fails the write; only that span is lost.
    from tracedesk.ingest import normalize

    original = normalize.Normalizer.span

    def span(self, **kw):
        s, evs = original(self, **kw)
        if s.name == "bad-1":
            s.end_ns = 2**63
        return s, evs

    monkeypatch.setattr(normalize.Normalizer, "span", span)
    spans = [good_otlp_span(0), good_otlp_span(1) | {"name": "bad-1"}, good_otlp_span(2)]
    ans = post(receiver, "/v1/traces", _body(spans), JSON_H)
    assert (ans.status, "retry-after" in ans.headers) == (200, False)
    assert ans.json()["partialSuccess"] == {
        "rejectedSpans": "1",
        "errorMessage": f"1 rejected: otlp-http: span {2:016x} of trace {T} could not be stored (OverflowError: "
                        f"Python int too large to convert to SQLite INTEGER)"}
    assert _names(db_path) == ["good-0", "good-2"]


def test_only_a_transient_store_failure_is_503_with_retry_after(receiver, db_path, monkeypatch):  # noqa: F811
    calls = []

    def locked(*args, **kw):
        calls.append(1)
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(store, "write_batch", locked)
    ans = post(receiver, "/v1/traces", _body([good_otlp_span(0)]), JSON_H)
    assert (ans.status, ans.headers.get("retry-after")) == (503, "1")
    assert "database is locked" in json.loads(ans.body)["message"]
    assert len(calls) == 1  # a transient failure is not bisected record by record


def test_health_tells_the_database_path_only_to_the_token_holder(db_path):
    r = make_receiver(db_path, token="s3cret")
    try:
        def health(headers):
            conn = http.client.HTTPConnection(r.host, r.port, timeout=60)
            conn.request("GET", "/health", headers=headers)
            body = conn.getresponse().read().decode()
            conn.close()
            return body

        anonymous = health({})
        assert db_path not in anonymous and "db" not in json.loads(anonymous)
        wrong = health({"Authorization": "Bearer nope"})
        assert db_path not in wrong
        owner = json.loads(health({"Authorization": "Bearer s3cret"}))
        import os

        assert owner["db"] == os.path.abspath(db_path)
    finally:
        r.stop()
    assert store.connect(db_path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_protobuf_span_with_invalid_utf8_loses_only_itself(receiver, db_path):  # noqa: F811
    # protobuf strings must be UTF-8; a CESU-encoded lone surrogate makes the runtime refuse the whole
    # request, so the receiver decodes span by span.
    body = _pb_request(lambda s: setattr(s, "name", "XbadX")).replace(b"XbadX", b"X\xed\xa0\xbdX")
    ans = post(receiver, "/v1/traces", body, PB_H)
    resp = ExportTraceServiceResponse.FromString(ans.body)
    assert (ans.status, resp.partial_success.rejected_spans) == (200, 1)
    assert resp.partial_success.error_message.startswith(
        "1 rejected: otlp-http#resourceSpans[0].scopeSpans[0].spans[1]: not a valid protobuf Span")
    assert _names(db_path) == ["good-0", "good-2"]
