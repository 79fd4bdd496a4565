"""Helpers for ingest tests: build OTLP/JSON payloads the way exporters write them."""
from __future__ import annotations

import json
from typing import Any

T0 = 1_700_000_000_000_000_000  # ns


def any_value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}  # int64 as a decimal string, as the proto3 JSON mapping says
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, (list, tuple)):
        return {"arrayValue": {"values": [any_value(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": any_value(x)} for k, x in v.items()]}}
    return {"stringValue": str(v)}


def kvs(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": any_value(v)} for k, v in attrs.items()]


def span(trace: str, span_id: str, name: str, attrs: dict[str, Any], parent: str = "", start_ms: int = 0,
         dur_ms: int = 100, kind: str = "SPAN_KIND_INTERNAL", status: dict | None = None,
         events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out = {
        "traceId": trace, "spanId": span_id, "parentSpanId": parent, "name": name, "kind": kind,
        "startTimeUnixNano": str(T0 + start_ms * 1_000_000),
        "endTimeUnixNano": str(T0 + (start_ms + dur_ms) * 1_000_000),
        "attributes": kvs(attrs), "status": status or {},
    }
    if events:
        out["events"] = [{"name": e["name"], "timeUnixNano": str(T0), "attributes": kvs(e.get("attributes", {}))}
                         for e in events]
    return out


def request(spans: list[dict[str, Any]], resource: dict[str, Any] | None = None,
            scope: str = "test") -> dict[str, Any]:
    return {"resourceSpans": [{"resource": {"attributes": kvs(resource or {"service.name": "app"})},
                               "scopeSpans": [{"scope": {"name": scope}, "spans": spans}]}]}


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


TRACE = "0af7651916cd43dd8448eb211c80319c"
