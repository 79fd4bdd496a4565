"""Writers for the OTLP/JSON wire format (trace and log requests), as real exporters emit it.

int64 values are decimal strings and ids lowercase hex, as in the protobuf-JSON mapping; gzip output
carries no timestamp or file name so the same spans always give the same bytes.
"""
from __future__ import annotations

import gzip
import io
import json
from typing import Any

SPAN_KIND_INTERNAL = 1
SPAN_KIND_SERVER = 2
SPAN_KIND_CLIENT = 3
STATUS_OK = 1
STATUS_ERROR = 2


def any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    return {"stringValue": str(value)}


def attributes(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": any_value(v)} for k, v in attrs.items() if v is not None]


def event(name: str, time_ns: int, attrs: dict[str, Any]) -> dict[str, Any]:
    return {"timeUnixNano": str(time_ns // 1000 * 1000), "name": name, "attributes": attributes(attrs)}


def request(
    resources: list[tuple[dict[str, Any], list[tuple[dict[str, str], list[dict[str, Any]]]]]],
) -> dict[str, Any]:
    """An ExportTraceServiceRequest: one resourceSpans per resource, one scopeSpans per scope."""
    out = []
    for resource, scopes in resources:
        scope_spans = [{"scope": scope, "spans": spans} for scope, spans in scopes if spans]
        if scope_spans:
            out.append({"resource": {"attributes": attributes(resource)}, "scopeSpans": scope_spans})
    return {"resourceSpans": out}


def json_bytes(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def gzip_bytes(raw: bytes) -> bytes:
    buf = io.BytesIO()
    # mtime=0 and no file name: byte-identical output for identical input.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    return buf.getvalue()
