"""Ingest benchmark: tracedesk's full OTLP/JSON ingest vs a bare pipeline on the same input.

    python benchmarks/ingest.py                 # 200k spans
    python benchmarks/ingest.py --spans 1000000

Generates N spans of synthetic agent traces (agent -> retriever, LLM calls, tools; OTel GenAI and
OpenInference attributes, ~1 KB/span) as OTLP/JSON Lines (one ExportTraceServiceRequest per line, as the
OTel Collector file exporter writes), then runs each measurement in its own subprocess so peak RSS is
honest:
  * tracedesk: `ingest_paths` (parse, normalize, price, store with trace summaries)
  * bare: orjson parse + the same span columns pulled straight from the attributes into tuples +
    executemany into a table with the same DDL and indexes (no normalization, pricing or summaries)
Prints spans/s, peak RSS, bytes/span on disk, and the ratio tracedesk/bare.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time

SPANS_PER_TRACE = 10
TRACES_PER_LINE = 20


def _kv(key, value):
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def generate(path: str, n_spans: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    routes = ["billing", "search", "support", "onboarding"]
    tenants = [f"tenant-{i}" for i in range(12)]
    models = ["gpt-4o-mini", "gpt-4o", "claude-3-5-haiku-20241022"]
    t0 = 1_760_000_000_000_000_000
    n_traces = n_spans // SPANS_PER_TRACE
    written = 0
    with open(path, "w") as fh:
        for first in range(0, n_traces, TRACES_PER_LINE):
            spans = []
            for t in range(first, min(first + TRACES_PER_LINE, n_traces)):
                trace = f"{rng.getrandbits(128):032x}"
                start = t0 + t * 2_000_000_000
                route, tenant = rng.choice(routes), rng.choice(tenants)
                ids = [f"{rng.getrandbits(64):016x}" for _ in range(SPANS_PER_TRACE)]
                common = [_kv("app.route", route), _kv("tenant.id", tenant), _kv("session.id", f"s-{t % 997}")]
                for i in range(SPANS_PER_TRACE):
                    parent = "" if i == 0 else ids[0] if i < 3 else ids[2]
                    s0 = start + i * 50_000_000
                    dur = rng.randint(20, 900) * 1_000_000
                    if i == 0:
                        attrs = [_kv("gen_ai.operation.name", "invoke_agent"), _kv("gen_ai.agent.name", "planner"),
                                 _kv("input.value", "How do I update my billing address for the account?")]
                        name = "invoke_agent planner"
                    elif i == 1:
                        attrs = [_kv("openinference.span.kind", "RETRIEVER"), _kv("input.value", "billing address"),
                                 _kv("retrieval.documents.0.document.id", f"doc-{rng.randint(1, 500)}"),
                                 _kv("retrieval.documents.0.document.score", rng.random()),
                                 _kv("retrieval.documents.1.document.id", f"doc-{rng.randint(1, 500)}"),
                                 _kv("retrieval.documents.1.document.score", rng.random())]
                        name = "retrieve"
                    elif i % 3 == 0:
                        tool = rng.choice(["lookup_account", "update_address", "search_kb"])
                        attrs = [_kv("gen_ai.operation.name", "execute_tool"), _kv("gen_ai.tool.name", tool),
                                 _kv("gen_ai.tool.call.arguments", '{"account_id": "A-1234", "field": "address"}'),
                                 _kv("gen_ai.tool.call.result", '{"ok": true}')]
                        name = f"execute_tool {tool}"
                    else:
                        model = rng.choice(models)
                        attrs = [_kv("gen_ai.operation.name", "chat"), _kv("gen_ai.request.model", model),
                                 _kv("gen_ai.response.model", model), _kv("gen_ai.provider.name", "openai"),
                                 _kv("gen_ai.usage.input_tokens", rng.randint(200, 3000)),
                                 _kv("gen_ai.usage.output_tokens", rng.randint(20, 600)),
                                 _kv("gen_ai.response.finish_reasons", "stop"),
                                 _kv("gen_ai.input.messages", json.dumps([{"role": "user", "parts": [
                                     {"type": "text", "content": "Summarize the account state for the user."}]}])),
                                 _kv("gen_ai.output.messages", json.dumps([{"role": "assistant", "parts": [
                                     {"type": "text", "content": "The billing address was updated."}],
                                     "finish_reason": "stop"}]))]
                        name = f"chat {model}"
                    spans.append({
                        "traceId": trace, "spanId": ids[i], "parentSpanId": parent, "name": name,
                        "kind": 3 if name.startswith("chat") else 1,
                        "startTimeUnixNano": str(s0), "endTimeUnixNano": str(s0 + dur),
                        "attributes": attrs + common, "status": {"code": 1 if rng.random() > 0.03 else 2},
                    })
                    written += 1
            req = {"resourceSpans": [{"resource": {"attributes": [_kv("service.name", "agent-app"),
                                                                  _kv("deployment.environment", "prod")]},
                                      "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}]}]}
            fh.write(json.dumps(req, separators=(",", ":")) + "\n")
    return written


# ---------------------------------------------------------------------------------------------
# Measurements (each in a subprocess)

def run_bare(data_path: str, db_path: str) -> dict:
    """The bare pipeline: orjson parse, the same span columns pulled straight from the attributes into
    tuples (no convention detection, no normalization, pricing or summaries), `executemany` into a
    table created by the same DDL and indexes as tracedesk's spans table."""
    import orjson

    from tracedesk.store import _WRITE_COLUMNS, _m001_spans

    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    _m001_spans(conn)
    sql = f"INSERT OR REPLACE INTO spans ({', '.join(_WRITE_COLUMNS)}) VALUES ({', '.join('?' for _ in _WRITE_COLUMNS)})"
    started = time.perf_counter()
    n = 0
    rows = []
    with open(data_path, "rb") as fh:
        for line in fh:
            doc = orjson.loads(line)
            for rs in doc["resourceSpans"]:
                res = {kv["key"]: next(iter(kv["value"].values())) for kv in rs["resource"]["attributes"]}
                res_json = orjson.dumps(res).decode()
                for ss in rs["scopeSpans"]:
                    scope = ss["scope"]["name"]
                    for s in ss["spans"]:
                        a = {kv["key"]: next(iter(kv["value"].values())) for kv in s["attributes"]}
                        g = a.get
                        start, end = int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"])
                        rows.append((
                            s["traceId"], s["spanId"], s.get("parentSpanId") or None, s["name"],
                            g("gen_ai.operation.name") or g("openinference.span.kind"), s["status"].get("code"),
                            None, start, end, (end - start) / 1e6, res.get("service.name"),
                            g("gen_ai.response.model"), g("gen_ai.provider.name"), g("gen_ai.usage.input_tokens"),
                            g("gen_ai.usage.output_tokens"), None, None, None, None, None, None,
                            g("gen_ai.agent.name"), g("gen_ai.tool.name"), g("session.id"), None,
                            g("app.route"), g("tenant.id"), None, res.get("deployment.environment"), None,
                            g("input.value"), None, g("gen_ai.input.messages"), g("gen_ai.output.messages"),
                            None, None, g("gen_ai.tool.call.arguments"), g("gen_ai.tool.call.result"),
                            g("gen_ai.response.finish_reasons"), None, s.get("kind"), scope,
                            orjson.dumps(a).decode(), res_json, None, data_path, None,
                        ))
            if len(rows) >= 5000:
                with conn:
                    conn.executemany(sql, rows)
                n += len(rows)
                rows = []
    with conn:
        conn.executemany(sql, rows)
    n += len(rows)
    elapsed = time.perf_counter() - started
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"spans": n, "seconds": elapsed}


def run_tracedesk(data_path: str, db_path: str, profile: bool = False) -> dict:
    from tracedesk.ingest import ingest_paths
    from tracedesk.store import connect

    started = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
    report = ingest_paths(db_path, [data_path])
    elapsed = time.perf_counter() - started
    if profile:
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(35)
    db = connect(db_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"spans": report.spans, "seconds": elapsed, "rejected": len(report.rejected)}


def _child(which: str, data_path: str, db_path: str, profile: bool) -> None:
    result = run_bare(data_path, db_path) if which == "bare" else run_tracedesk(data_path, db_path, profile)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # parse worker processes, if any
    result["peak_rss_mb"] = (usage.ru_maxrss + children.ru_maxrss) / 1024
    # CPU seconds (all threads and workers): on a shared, busy machine wall time overstates the cost.
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime
    print("RESULT " + json.dumps(result))


def _measure(which: str, data_path: str, db_path: str, profile: bool = False) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", which, "--data", data_path, "--db", db_path]
                         + (["--profile"] if profile else []), capture_output=True, text=True, check=False)
    if profile:
        sys.stderr.write(out.stderr)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
            result["db_bytes"] = sum(os.path.getsize(db_path + sfx) for sfx in ("", "-wal")
                                     if os.path.exists(db_path + sfx))
            return result
    raise SystemExit(f"{which} run failed:\n{out.stdout}\n{out.stderr}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--child", choices=["bare", "tracedesk"])
    ap.add_argument("--data")
    ap.add_argument("--db")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the tracedesk run to stderr")
    ap.add_argument("--keep", help="folder to keep the generated data and databases in")
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.data, args.db, args.profile)
        return
    folder = args.keep or tempfile.mkdtemp(prefix="tracedesk-bench-")
    os.makedirs(folder, exist_ok=True)
    data = os.path.join(folder, f"spans-{args.spans}.jsonl")
    t = time.perf_counter()
    if os.path.exists(data):  # --keep FOLDER: reuse the input generated by an earlier run (same seed)
        n = args.spans // SPANS_PER_TRACE * SPANS_PER_TRACE
    else:
        n = generate(data + ".tmp", args.spans)
        os.replace(data + ".tmp", data)
    size = os.path.getsize(data)
    print(f"load average before the runs: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"generated {n:,} spans ({size / 1e6:,.1f} MB OTLP/JSON Lines, {size / n:,.0f} B/span) "
          f"in {time.perf_counter() - t:.1f}s")
    results = {}
    for which in ("bare", "tracedesk"):
        db = os.path.join(folder, f"{which}.db")
        for sfx in ("", "-wal", "-shm"):
            if os.path.exists(db + sfx):
                os.remove(db + sfx)
        r = results[which] = _measure(which, data, db, args.profile and which == "tracedesk")
        print(f"{which:>10}: {r['spans']:,} spans in {r['seconds']:.1f}s = {r['spans'] / r['seconds']:,.0f} spans/s, "
              f"peak RSS {r['peak_rss_mb']:,.0f} MB, {r['db_bytes'] / max(r['spans'], 1):,.0f} B/span on disk, "
              f"{r['spans'] / r['cpu_seconds']:,.0f} spans per CPU-second")
    ratio = (results["tracedesk"]["spans"] / results["tracedesk"]["seconds"]) / (
        results["bare"]["spans"] / results["bare"]["seconds"])
    print(f"ratio tracedesk/bare throughput: {ratio:.2f}x (target >= 0.5x); "
          f"tracedesk {results['tracedesk']['spans'] / results['tracedesk']['seconds']:,.0f} spans/s "
          f"(target >= 5,000)")


if __name__ == "__main__":
    main()
