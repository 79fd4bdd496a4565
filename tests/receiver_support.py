"""Helpers shared by the receiver tests: a running receiver, OTLP bodies, raw HTTP posts."""
from __future__ import annotations

import http.client
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from tracedesk import store
from tracedesk.ingest.otlp_json import attributes
from tracedesk.receiver import Receiver, ReceiverConfig


@pytest.fixture
def receiver(db_path):
    r = Receiver(ReceiverConfig(db_path, port=0)).start()
    yield r
    r.stop()


def make_receiver(db_path: str, **kw: Any) -> Receiver:
    return Receiver(ReceiverConfig(db_path, port=0, **kw)).start()


def span_json(trace_id: str, span_id: str, name: str = "call", *, parent: str | None = None,
              attrs: dict[str, Any] | None = None, start: int = 1_700_000_000_000_000_000,
              dur: int = 5_000_000) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": trace_id, "spanId": span_id, "name": name, "kind": 1,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + dur),
        "attributes": attributes(attrs or {}),
        "status": {},
    }
    if parent:
        out["parentSpanId"] = parent
    return out


def traces_body(spans: Iterable[dict[str, Any]], service: str = "svc") -> bytes:
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "tests"}, "spans": list(spans)}],
    }]}).encode()


def llm_span(trace_id: str, span_id: str, model: str = "gpt-4o-mini", prompt: int = 12,
             completion: int = 3) -> dict[str, Any]:
    return span_json(trace_id, span_id, "ChatCompletion", attrs={
        "openinference.span.kind": "LLM", "llm.model_name": model,
        "llm.token_count.prompt": prompt, "llm.token_count.completion": completion,
        "llm.token_count.total": prompt + completion,
    })


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def post(receiver: Receiver, path: str, body: bytes | Iterable[bytes] | None, headers: dict[str, str],
         conn: http.client.HTTPConnection | None = None) -> Answer:
    """POST with full control of the headers; an iterable body is sent chunked (no Content-Length)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection(receiver.host, receiver.port, timeout=60)
    try:
        if body is not None and not isinstance(body, bytes):
            conn.request("POST", path, body=body, headers=headers, encode_chunked=True)
        else:
            conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return Answer(resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()})
    finally:
        if own:
            conn.close()


def stored(db_path: str, sql: str = "SELECT trace_id, span_id FROM spans ORDER BY 1, 2",
           params: Iterable[Any] = ()) -> list[tuple]:
    db = store.connect(db_path)
    try:
        return db.execute(sql, list(params)).fetchall()
    finally:
        db.conn.close()
