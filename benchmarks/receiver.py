"""Receiver throughput: accepted spans/s over HTTP (OTLP protobuf and JSON), N concurrent clients on
loopback, and the time until the spans are queryable; against ingesting the same bodies in-process.

    python benchmarks/receiver.py [--spans 40000] [--batch 200] [--clients 8]

The receiver runs as a real `tracedesk serve` subprocess. "Accepted" means answered 200, and the receiver
answers 200 only after the batch is committed, so accepted spans are queryable at that moment; the
end-to-end figure is measured independently by a reader polling the file.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from google.protobuf.json_format import Parse  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from tracedesk.ingest import ingest_bytes  # noqa: E402
from tracedesk.receiver import start_receiver, stop_receiver  # noqa: E402

T0 = 1_764_000_000_000_000_000


def _kv(key: str, value) -> dict:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _span(tid: str, sid: str, parent: str | None, name: str, attrs: dict, start: int, dur_ms: int) -> dict:
    s = {"traceId": tid, "spanId": sid, "name": name, "kind": 1,
         "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + dur_ms * 1_000_000),
         "attributes": [_kv(k, v) for k, v in attrs.items()], "status": {"code": 1}}
    if parent:
        s["parentSpanId"] = parent
    return s


def make_request(batch_no: int, spans_per_request: int) -> dict:
    """An OpenInference-style agent export: traces of 1 AGENT + LLM/TOOL/RETRIEVER children, ~1 KB/span."""
    spans = []
    n = 0
    t = 0
    while n < spans_per_request:
        tid = f"{batch_no + 1:016x}{t + 1:016x}"
        root = f"{(t << 8) + 1:016x}"
        start = T0 + (batch_no * 1000 + t) * 1_000_000_000
        spans.append(_span(tid, root, None, "agent.run", {
            "openinference.span.kind": "AGENT", "agent.name": "support-agent", "session.id": f"s{t % 50}",
            "input.value": "My order #1234 has not arrived, what can I do? " * 3}, start, 2400))
        n += 1
        for k in range(min(9, spans_per_request - n)):
            sid = f"{(t << 8) + k + 2:016x}"
            if k % 3 == 0:
                attrs = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
                         "llm.token_count.prompt": 812, "llm.token_count.completion": 96,
                         "llm.input_messages.0.message.role": "user",
                         "llm.input_messages.0.message.content": "Where is my order? Please check. " * 6,
                         "llm.output_messages.0.message.role": "assistant",
                         "llm.output_messages.0.message.content": "Your order ships tomorrow. " * 4}
            elif k % 3 == 1:
                attrs = {"openinference.span.kind": "TOOL", "tool.name": "lookup_order",
                         "tool.parameters": json.dumps({"order_id": 1234, "fields": ["status", "eta"]}),
                         "output.value": json.dumps({"status": "shipped", "eta": "2026-11-27"})}
            else:
                attrs = {"openinference.span.kind": "RETRIEVER",
                         "retrieval.documents.0.document.id": "kb-17",
                         "retrieval.documents.0.document.score": 1,
                         "retrieval.documents.0.document.content": "Orders ship within 2 days. " * 5}
            spans.append(_span(tid, sid, root, ["llm", "tool", "retrieve"][k % 3], attrs,
                               start + (k + 1) * 100_000_000, 200))
            n += 1
        t += 1
    return {"resourceSpans": [{"resource": {"attributes": [_kv("service.name", "support-bot")]},
                               "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}]}]}


def to_protobuf(doc: dict) -> bytes:
    doc = json.loads(json.dumps(doc))
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = base64.b64encode(bytes.fromhex(s[key])).decode()
    return Parse(json.dumps(doc), ExportTraceServiceRequest()).SerializeToString()


def count(db_path: str) -> int:
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        return conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def run_http(bodies: list[bytes], singles: list[bytes], ctype: str, clients: int, spans_per_body: int) -> dict:
    tmp = tempfile.mkdtemp(prefix="tracedesk-bench-")
    db = os.path.join(tmp, "bench.db")
    info = start_receiver(db, port=0, wait=60)
    try:
        # Warm-up (pricing tables, first connection) outside the timing, in its own trace ids.
        conn = http.client.HTTPConnection("127.0.0.1", info.port)
        conn.request("POST", "/v1/traces", body=b"{}" if ctype.endswith("json") else b"",
                     headers={"Content-Type": ctype})
        conn.getresponse().read()
        conn.close()
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        queue = list(range(len(bodies)))
        total = len(bodies) * spans_per_body
        seen_at: list[float] = []
        done = threading.Event()

        def client() -> None:
            c = http.client.HTTPConnection("127.0.0.1", info.port, timeout=300)
            while True:
                with lock:
                    if not queue:
                        break
                    i = queue.pop()
                t = time.perf_counter()
                c.request("POST", "/v1/traces", body=bodies[i], headers={"Content-Type": ctype})
                resp = c.getresponse()
                resp.read()
                with lock:
                    latencies.append(time.perf_counter() - t)
                    if resp.status != 200:
                        errors.append(str(resp.status))
            c.close()

        def reader() -> None:
            while count(db) < total and not (errors or done.is_set()):
                time.sleep(0.01)
            seen_at.append(time.perf_counter())

        threads = [threading.Thread(target=client) for _ in range(clients)]
        watcher = threading.Thread(target=reader)
        start = time.perf_counter()
        watcher.start()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        accepted = time.perf_counter() - start
        done.set() if count(db) < total else None  # something was rejected: don't wait forever
        watcher.join()
        queryable = seen_at[0] - start
        # One request alone on an idle receiver: time until its spans are visible to another reader.
        single = []
        base = count(db)
        for i, body in enumerate(singles):
            c = http.client.HTTPConnection("127.0.0.1", info.port)
            t = time.perf_counter()
            c.request("POST", "/v1/traces", body=body, headers={"Content-Type": ctype})
            c.getresponse().read()
            while count(db) < base + spans_per_body * (i + 1):
                pass
            single.append(time.perf_counter() - t)
            c.close()
        return {
            "spans": total, "errors": errors, "accepted_s": accepted, "queryable_s": queryable,
            "spans_per_s": total / accepted, "p50_ms": statistics.median(latencies) * 1000,
            "p95_ms": sorted(latencies)[int(len(latencies) * 0.95) - 1] * 1000,
            "single_ms": statistics.median(single) * 1000,
            "db_bytes_per_span": os.path.getsize(db) / max(count(db), 1),
        }
    finally:
        stop_receiver(db, wait=60)
        shutil.rmtree(tmp, ignore_errors=True)


def run_direct(bodies: list[bytes], spans_per_body: int) -> float:
    """Baseline: the same JSON bodies through ingest_bytes in one process, no HTTP, no concurrency."""
    tmp = tempfile.mkdtemp(prefix="tracedesk-bench-")
    db = os.path.join(tmp, "direct.db")
    ingest_bytes(db, b'{"resourceSpans": []}', "warmup")
    start = time.perf_counter()
    for body in bodies:
        ingest_bytes(db, body, "bench", "application/json")
    rate = len(bodies) * spans_per_body / (time.perf_counter() - start)
    shutil.rmtree(tmp, ignore_errors=True)
    return rate


def run_direct_one(docs: list[dict], spans_per_body: int) -> float:
    """Baseline 2: everything as ONE request body through ingest_bytes (batches of 5,000 spans)."""
    tmp = tempfile.mkdtemp(prefix="tracedesk-bench-")
    db = os.path.join(tmp, "direct1.db")
    ingest_bytes(db, b'{"resourceSpans": []}', "warmup")
    body = json.dumps({"resourceSpans": [rs for d in docs for rs in d["resourceSpans"]]}).encode()
    start = time.perf_counter()
    ingest_bytes(db, body, "bench", "application/json")
    rate = len(docs) * spans_per_body / (time.perf_counter() - start)
    shutil.rmtree(tmp, ignore_errors=True)
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spans", type=int, default=40_000, help="spans per encoding (default 40000)")
    ap.add_argument("--batch", type=int, default=200, help="spans per request (default 200)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    ap.add_argument("--json-first", action="store_true", help="run the JSON pass before protobuf")
    args = ap.parse_args()
    n_bodies = max(1, args.spans // args.batch)
    docs = [make_request(i, args.batch) for i in range(n_bodies)]
    json_bodies = [json.dumps(d).encode() for d in docs]
    pb_bodies = [to_protobuf(d) for d in docs]
    single_docs = [make_request(10**6 + i, args.batch) for i in range(5)]
    singles = {"application/json": [json.dumps(d).encode() for d in single_docs],
               "application/x-protobuf": [to_protobuf(d) for d in single_docs]}
    avg_json = sum(map(len, json_bodies)) / (n_bodies * args.batch)
    avg_pb = sum(map(len, pb_bodies)) / (n_bodies * args.batch)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
          f"{n_bodies * args.batch:,} spans per run in requests of {args.batch} spans, {args.clients} clients")
    print(f"span size on the wire: JSON {avg_json:.0f} B, protobuf {avg_pb:.0f} B")
    direct = run_direct(json_bodies, args.batch)
    print(f"baseline  ingest_bytes in-process, one call per request body (JSON, no HTTP): {direct:,.0f} spans/s")
    direct_one = run_direct_one(docs, args.batch)
    print(f"baseline2 ingest_bytes in-process, all bodies as one input (JSON, no HTTP): {direct_one:,.0f} spans/s")
    runs = [("protobuf", pb_bodies, "application/x-protobuf"), ("json", json_bodies, "application/json")]
    if args.json_first:
        runs.reverse()
    for label, bodies, ctype in runs:
        r = run_http(bodies, singles[ctype], ctype, args.clients, args.batch)
        print(f"receiver  {label:8s}: {r['spans_per_s']:,.0f} spans/s accepted "
              f"({r['spans_per_s'] / direct:.2f}x baseline, {r['spans_per_s'] / direct_one:.2f}x baseline2); all {r['spans']:,} queryable after "
              f"{r['queryable_s']:.2f}s (last 200 at {r['accepted_s']:.2f}s); request p50 {r['p50_ms']:.0f} ms, "
              f"p95 {r['p95_ms']:.0f} ms; one request alone until queryable {r['single_ms']:.0f} ms; "
              f"{r['db_bytes_per_span']:.0f} B/span on disk; errors: {len(r['errors'])}")


if __name__ == "__main__":
    main()
