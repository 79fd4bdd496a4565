"""Memory benchmark (issue 14 item 6): peak RSS of `tracedesk ingest` on inputs that used to take gigabytes.

    python benchmarks/memory.py                 # 300 MB document, 1 GB gzip bomb, 100k-span trace, frames
    python benchmarks/memory.py --doc-mb 100    # a smaller document

Each case runs `tracedesk ingest` (or a notebook call) in its own process under /usr/bin/time:
  * one OTLP/JSON document of --doc-mb MB (sample traffic, one `{"resourceSpans": [...]}`, not JSON Lines);
    before this release it peaked at 2.9 GB for 300 MB (parsed whole);
  * a ~1 MB gzip that inflates to 1 GB (no newline): refused with the limit and the flag to raise it;
    before, 2.2-2.7 GB;
  * one trace of 100k spans against 100k spans in 10-span traces, in the same run: spans/s of each and
    their ratio (before, 2,600 spans/s: each batch re-summarised the whole trace);
  * `ws.spans()` of the document's database: peak RSS growth against the frame's own size;
  * the Trace page on the 100k-span trace (benchmarks/trace_page.py): data calls and a full AppTest render,
    whole-trace view (before) against the paged one, wall and CPU time.
Prints the figures and writes benchmarks/results/memory.json and memory.md and the table in docs/performance.md (README links there).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from readme_tables import replace_between  # benchmarks/ is on sys.path when run as a script

import trace_page  # benchmarks/trace_page.py: the Trace page's time on the 100k-span trace

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SRC = HERE.parent / "src"


def _run(cmd: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "PEAK %M CPU %U %S", *cmd], capture_output=True, text=True,
                          env=env, check=False)
    wall = time.perf_counter() - started
    peak = cpu = None
    for line in proc.stderr.splitlines()[::-1]:
        if line.startswith("PEAK "):
            parts = line.split()
            peak, cpu = int(parts[1]) / 1024, float(parts[3]) + float(parts[4])
            break
    return {"returncode": proc.returncode, "wall_s": round(wall, 2), "cpu_s": cpu, "peak_rss_mb": peak,
            "stdout": proc.stdout, "stderr": proc.stderr}


def _ingest(files: list[Path], db: Path, *extra: str) -> dict:
    for sfx in ("", "-wal", "-shm"):
        Path(str(db) + sfx).unlink(missing_ok=True)
    return _run([sys.executable, "-m", "tracedesk", "ingest", *map(str, files), "--db", str(db), "--quiet",
                 "--json", *extra])


def big_document(folder: Path, mb: int) -> Path:
    """One uncompressed OTLP/JSON document of about `mb` MB of sample traffic (generated once)."""
    path = folder / f"document-{mb}mb.json"
    if path.exists():
        return path
    sys.path.insert(0, str(SRC))
    from tracedesk.sample.generator import generate

    tph = 100.0 * mb / 58  # one sample day at 100 traces/hour is ~58 MB
    out = folder / f"gen-{mb}"
    generate(out, days=1, traces_per_hour=tph, seed=7)
    (src,) = sorted(out.glob("traces-*.json.gz"))
    with gzip.open(src) as fh, open(path, "wb") as dst:
        while chunk := fh.read(1 << 22):
            dst.write(chunk)
    return path


def bomb(folder: Path) -> Path:
    path = folder / "bomb-1gb.json.gz"
    if not path.exists():
        block = b" " * (1 << 20)
        with gzip.open(path, "wb", compresslevel=9) as fh:
            for _ in range(1024):
                fh.write(block)
    return path


def _span(trace: str, sid: str, parent: str | None, t: int, rng: random.Random) -> dict:
    from tracedesk.ingest import otlp_json as oj

    attrs = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
             "llm.token_count.prompt": rng.randint(100, 900), "llm.token_count.completion": rng.randint(10, 200),
             "input.value": "What is the status of order " + str(rng.randint(1, 10**6)) + "?"}
    rec = {"traceId": trace, "spanId": sid, "name": "chat", "kind": 3, "startTimeUnixNano": str(t),
           "endTimeUnixNano": str(t + 5_000_000), "attributes": oj.attributes(attrs)}
    if parent:
        rec["parentSpanId"] = parent
    return rec


def trace_files(folder: Path, n: int) -> tuple[Path, Path]:
    """n spans in one trace (a deep agent run: a root, chains of children), and n spans in 10-span traces."""
    sys.path.insert(0, str(SRC))
    from tracedesk.ingest import otlp_json as oj

    one, many = folder / f"one-trace-{n}.json", folder / f"many-traces-{n}.json"
    if one.exists() and many.exists():
        return one, many
    rng = random.Random(5)
    t0 = 1_765_000_000_000_000_000
    trace = f"{rng.getrandbits(128):032x}"
    spans = [_span(trace, f"{1:016x}", None, t0, rng)]
    for i in range(2, n + 1):
        parent = f"{max(1, i - 1 - (i % 50)):016x}"  # chains of 50 under the root
        spans.append(_span(trace, f"{i:016x}", parent, t0 + i * 1000, rng))
    res = {"service.name": "agent"}
    doc = {"resourceSpans": [{"resource": {"attributes": oj.attributes(res)},
                              "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}]}]}
    one.write_bytes(oj.json_bytes(doc))
    spans = []
    for i in range(n):
        trace = f"{rng.getrandbits(128):032x}" if i % 10 == 0 else trace
        root = f"{(i - i % 10) + 1:016x}"
        spans.append(_span(trace, f"{i + 1:016x}", None if i % 10 == 0 else root, t0 + i * 1000, rng))
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"] = spans
    many.write_bytes(oj.json_bytes(doc))
    return one, many


_FRAME_CHILD = """
import resource, sys, tracedesk
ws = tracedesk.open(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
df = ws.spans()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(len(df), df.memory_usage(deep=True).sum(), before * 1024, peak * 1024)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--doc-mb", type=int, default=300)
    ap.add_argument("--trace-spans", type=int, default=100_000)
    ap.add_argument("--data", default="/tmp/tracedesk-bench-data")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tracedesk-memory-"))
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores; uptime: {uptime}", flush=True)
    out: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "uptime": uptime.split("load average:")[-1].strip()}

    doc = big_document(data, args.doc_mb)
    r = _ingest([doc], work / "doc.db")
    report = json.loads(r["stdout"])
    out["document"] = {"mb": round(doc.stat().st_size / 1e6), "spans": report["spans"], "peak_rss_mb": r["peak_rss_mb"],
                       "wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "spans_per_s": round(report["spans"] / r["wall_s"])}
    print(f"one {out['document']['mb']} MB OTLP/JSON document: {report['spans']:,} spans, peak RSS "
          f"{r['peak_rss_mb']:,.0f} MB, {r['wall_s']:.0f}s ({out['document']['spans_per_s']:,} spans/s)", flush=True)

    child = _run([sys.executable, "-c", _FRAME_CHILD, str(work / "doc.db")])
    rows, frame_bytes, before, peak = (int(x) for x in child["stdout"].split())
    out["frame"] = {"rows": rows, "frame_mb": round(frame_bytes / 1e6), "rss_growth_mb": round((peak - before) / 1e6),
                    "growth_over_frame": round((peak - before) / frame_bytes, 2)}
    print(f"ws.spans() of it: {rows:,} rows, frame {frame_bytes / 1e6:,.0f} MB, peak RSS grew "
          f"{(peak - before) / 1e6:,.0f} MB ({out['frame']['growth_over_frame']:.2f}x the frame)", flush=True)

    b = bomb(data)
    r = _ingest([b], work / "bomb.db")
    report = json.loads(r["stdout"])
    reason = report["rejected"][0].split(": ", 1)[-1] if report.get("rejected") else None
    out["bomb"] = {"compressed_mb": round(b.stat().st_size / 1e6, 2), "inflates_to_mb": 1024,
                   "peak_rss_mb": r["peak_rss_mb"], "wall_s": r["wall_s"], "exit": r["returncode"], "message": reason}
    print(f"gzip bomb ({b.stat().st_size / 1e6:.1f} MB -> 1 GB): peak RSS {r['peak_rss_mb']:,.0f} MB, "
          f"{r['wall_s']:.1f}s, exit {r['returncode']}: {reason}", flush=True)

    one, many = trace_files(data, args.trace_spans)
    r_many = _ingest([many], work / "many.db")
    r_one = _ingest([one], work / "one.db")
    n = args.trace_spans
    out["one_trace"] = {"spans": n, "spans_per_s": round(n / r_one["wall_s"]), "cpu_s": r_one["cpu_s"],
                        "peak_rss_mb": r_one["peak_rss_mb"],
                        "normal_spans_per_s": round(n / r_many["wall_s"]), "normal_cpu_s": r_many["cpu_s"],
                        "cpu_ratio": round(r_many["cpu_s"] / r_one["cpu_s"], 2)}
    print(f"one trace of {n:,} spans: {out['one_trace']['spans_per_s']:,} spans/s ({r_one['cpu_s']:.1f} CPU-s) vs "
          f"{out['one_trace']['normal_spans_per_s']:,} spans/s ({r_many['cpu_s']:.1f} CPU-s) for 10-span traces: "
          f"{out['one_trace']['cpu_ratio']:.2f}x in CPU time", flush=True)
    page = _run([sys.executable, str(HERE / "trace_page.py"), str(work / "one.db"), "--json"])
    if page["returncode"]:
        raise SystemExit(f"benchmarks/trace_page.py failed:\n{page['stderr'][-2000:]}")
    out["trace_page"] = json.loads(page["stdout"].strip().splitlines()[-1])
    print("\n".join(trace_page.markdown(out["trace_page"])), flush=True)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "memory.json").write_text(json.dumps(out, indent=2) + "\n")
        (RESULTS / "memory.md").write_text(markdown(out))
        print(f"wrote {RESULTS / 'memory.json'} and {RESULTS / 'memory.md'}")
        if update_readme(HERE.parent / "docs" / "performance.md", out):
            print("updated the memory table in docs/performance.md")


def markdown(out: dict) -> str:
    d, f, bm, t = out["document"], out["frame"], out["bomb"], out["one_trace"]
    return "\n".join([
            f"Memory, measured {out['date']} on {os.cpu_count()} cores (`uptime` load {out['uptime']}), "
            "`python benchmarks/memory.py`:", "",
            "| input | peak RSS | time | note |", "|---|---:|---:|---|",
            f"| one {d['mb']} MB OTLP/JSON document ({d['spans']:,} spans) | {d['peak_rss_mb']:,.0f} MB | "
            f"{d['wall_s']:.0f}s | parsed incrementally (was 2.9 GB for 300 MB) |",
            f"| gzip of {bm['compressed_mb']} MB inflating to 1 GB | {bm['peak_rss_mb']:,.0f} MB | {bm['wall_s']:.1f}s | "
            f"refused, exit {bm['exit']}: \"{bm['message']}\" |",
            f"| one trace of {t['spans']:,} spans | {t['peak_rss_mb']:,.0f} MB | {t['spans_per_s']:,} spans/s | "
            f"CPU time {1 / t['cpu_ratio']:.2f}x that of the same number of spans in 10-span traces "
            f"({t['normal_spans_per_s']:,} spans/s in the same run; was 2,600 spans/s) |",
            f"| `ws.spans()` of the document's {f['rows']:,} spans | +{f['rss_growth_mb']:,} MB | | "
            f"{f['growth_over_frame']:.2f}x the frame's own {f['frame_mb']:,} MB |", "",
            *(trace_page.markdown(out["trace_page"]) + [""] if "trace_page" in out else [])])


README_START, README_END = "<!-- memory-table:start (benchmarks/memory.py) -->", "<!-- memory-table:end -->"


def readme_table(out: dict) -> str:
    """The README's short table: this run's figures for the inputs that used to take gigabytes or minutes."""
    d, bm, t = out["document"], out["bomb"], out["one_trace"]
    rows = [f"Measured {out['date']} on {os.cpu_count()} shared cores (load {out['uptime']}); full table: "
            "[benchmarks/results/memory.md](../benchmarks/results/memory.md).", "",
            "| input | peak RSS | time: wall / CPU | before this release |", "|---|---:|---:|---|",
            f"| one {d['mb']} MB OTLP/JSON document, ingest ({d['spans']:,} spans) | {d['peak_rss_mb']:,.0f} MB | "
            f"{d['wall_s']:,.0f}s / {d['cpu_s']:,.0f}s | 2.9 GB peak RSS for 300 MB |",
            f"| a {bm['compressed_mb']} MB gzip inflating to 1 GB | {bm['peak_rss_mb']:,.0f} MB | {bm['wall_s']:.1f}s | "
            f"2.2-2.7 GB; now refused (exit {bm['exit']}) naming the limit and --max-inflate-ratio |",
            f"| one trace of {t['spans']:,} spans, ingest | {t['peak_rss_mb']:,.0f} MB | {t['spans_per_s']:,} spans/s, "
            f"{t['cpu_s']:.1f}s CPU | 2,600 spans/s |"]
    if "trace_page" in out:
        p = out["trace_page"]
        a = p["after"]["render"]
        was = (f"{p['before']['render']['wall_s']:,.0f}s / {p['before']['render']['cpu_s']:,.0f}s whole "
               "(measured in the same run)" if "before" in p else "")
        rows.append(f"| its Trace page, first render ({p['page_spans']} spans a page) | | "
                    f"{a['wall_s']:.2f}s / {a['cpu_s']:.2f}s | {was} |")
    return "\n".join(rows) + "\n"


def update_readme(path: Path, out: dict) -> bool:
    """Replace the README's memory table (between its markers) with this run's figures."""
    return replace_between(path, README_START, README_END, readme_table(out))


if __name__ == "__main__":
    main()
