"""Print the spans of captured OTLP bodies (protobuf or JSON) as an indented tree: name, kind, attributes.

    python captures/tools/dump.py tests/captures/<lib>/<scenario>.pb [--full]
(needs opentelemetry-proto, e.g. the project's venv)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def value(v: dict) -> object:
    for k, x in v.items():
        if k == "arrayValue":
            return [value(i) for i in x.get("values", [])]
        if k == "kvlistValue":
            return {i["key"]: value(i["value"]) for i in x.get("values", [])}
        return x
    return None


def load(path: Path) -> list[dict]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":  # exporters that gzip their bodies (Langfuse)
        import gzip
        data = gzip.decompress(data)
    doc = json.loads(data) if data[:1] in (b"{", b"[") else MessageToDict(ExportTraceServiceRequest.FromString(data))
    spans = []
    for rs in doc.get("resourceSpans", []):
        res = {a["key"]: value(a["value"]) for a in rs.get("resource", {}).get("attributes", [])}
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                s["_scope"] = ss.get("scope", {}).get("name")
                s["_resource"] = res
                spans.append(s)
    return spans


def main() -> None:
    full = "--full" in sys.argv
    spans = [s for p in sys.argv[1:] if not p.startswith("--") for s in load(Path(p))]
    by_parent: dict[str, list[dict]] = {}
    ids = {s["spanId"] for s in spans}
    for s in sorted(spans, key=lambda s: int(s.get("startTimeUnixNano", 0))):
        by_parent.setdefault(s.get("parentSpanId", "") if s.get("parentSpanId") in ids else "", []).append(s)

    def show(s: dict, depth: int) -> None:
        attrs = {a["key"]: value(a["value"]) for a in s.get("attributes", [])}
        print("  " * depth + f"- {s['name']!r} kind={s.get('kind')} scope={s['_scope']} status={s.get('status')}")
        for k, v in attrs.items():
            txt = json.dumps(v) if not isinstance(v, str) else v
            if not full and len(txt) > 160:
                txt = txt[:160] + "..."
            print("  " * depth + f"    {k} = {txt}")
        for e in s.get("events", []):
            print("  " * depth + f"    EVENT {e.get('name')} {[(a['key'], str(value(a['value']))[:80]) for a in e.get('attributes', [])]}")
        for c in by_parent.get(s["spanId"], []):
            show(c, depth + 1)

    for root in by_parent.get("", []):
        print(f"trace {root['traceId']} resource={root['_resource']}")
        show(root, 0)


if __name__ == "__main__":
    main()
