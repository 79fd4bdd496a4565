"""Ingest benchmark: `tracedesk ingest` as users run it against a strong bare pipeline, in the same run.

    python benchmarks/ingest.py                        # 100k and 1M spans
    python benchmarks/ingest.py --spans 40000 100000 1000000 10000000
    python benchmarks/ingest.py --spans 100000 --no-save

Input: the sample generator's OTLP/JSON (`tracedesk.sample`: multi-agent traffic, OpenInference, OTel GenAI and
traceAI conventions, one gzip'd document per day), scaled by days at 100 traces/hour (~50k spans per day file),
generated once per size into --data (default /tmp/tracedesk-bench-data) and reused.

Each measurement is its own process, timed with wait4 (wall, user+system CPU, peak RSS):
  * tracedesk: `tracedesk ingest DIR --db FILE --quiet` (parse, validate, normalize, price, store, trace
    summaries), nothing else (run through `tracedesk.cli.main`, which then prints its own and its parse
    workers' CPU, so the writer / parser split is measured too). On two or more cores it parses in worker
    processes (one per core beside the writer's, up to two) while the main process writes; its CPU figure is
    all processes' (user + system, wait4 of the child and its workers).
  * bare: the strongest pipeline this machine allows without tracedesk's semantics: gunzip, orjson
    decode of the whole document with the garbage collector off, each span flattened straight to a tuple
    of the SAME columns (values pulled from the attributes, attributes/resource/events as JSON text),
    `executemany` in 5,000-row transactions into a database whose schema (columns and indexes, not its triggers) is made by
    tracedesk's own migrations, with the same 64 MB page cache tracedesk's bulk writer uses. No convention detection, normalization, pricing or summaries.
Prints spans/s (wall), spans per CPU-second, tracedesk/bare in CPU time, bytes per span on disk and peak RSS,
the machine load, and the ratio of each figure to the previous committed results
(benchmarks/results/ingest.json), then rewrites that file, benchmarks/results/ingest.md and the README's
ingest table (between its `ingest-table` markers; --readme to point elsewhere).
"""
from __future__ import annotations

import argparse
import gc
import glob
import gzip
import json
import math
import os
import platform
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from readme_tables import replace_between  # benchmarks/ is on sys.path when run as a script

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SPANS_PER_DAY = 50_000  # ~ the sample generator at 100 traces/hour
TRACES_PER_HOUR = 100.0


def generate(folder: Path, n_spans: int) -> Path:
    """OTLP/JSON files holding about n_spans spans (whole days of sample traffic), generated once."""
    days = max(1, math.ceil(n_spans / SPANS_PER_DAY))
    out = folder / f"days-{days}"
    done = out / "ground_truth.json"
    if not done.exists():
        from tracedesk.sample.generator import generate as sample_generate

        started = time.perf_counter()
        tph = TRACES_PER_HOUR * (n_spans / (days * SPANS_PER_DAY)) if days == 1 else TRACES_PER_HOUR
        truth = sample_generate(out, days=min(days, 366), traces_per_hour=tph, seed=20261116)
        if days > 366:
            raise SystemExit("more than 366 days of sample traffic; raise TRACES_PER_HOUR instead")
        print(f"generated {truth['spans']:,} spans in {len(truth['files'])} files in "
              f"{time.perf_counter() - started:.0f}s -> {out}", flush=True)
    return out


def _files(data: Path) -> list[str]:
    return sorted(glob.glob(str(data / "traces-*.json.gz")))


# ---------------------------------------------------------------------------------------------
# The bare pipeline (runs in a child process)

def _value(v: dict) -> object:
    for k, x in v.items():
        if k == "intValue":
            return int(x)
        if k == "arrayValue":
            return [_value(i) for i in x.get("values", ())]
        if k == "kvlistValue":
            return {kv["key"]: _value(kv["value"]) for kv in x.get("values", ())}
        return x
    return None


def run_bare(files: list[str], db_path: str) -> int:
    import orjson

    from tracedesk.store import _INSERT_COLUMNS, BULK_CACHE_KIB, connect

    connect(db_path).conn.close()  # the real schema: same columns, same indexes, same pragmas
    conn = sqlite3.connect(db_path, isolation_level=None)
    # ...but no triggers: they mark the hours the changes feed must re-read (tracedesk semantics, not
    # storage), and cost this pipeline a third of its CPU (measured: 23.9k -> 33.8k spans/CPU-s at 100k)
    for (trigger,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f'DROP TRIGGER "{trigger}"')
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")  # the page cache tracedesk's bulk writer gets
    sql = f"INSERT OR REPLACE INTO spans ({', '.join(_INSERT_COLUMNS)}) VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})"
    dumps, loads = orjson.dumps, orjson.loads
    gc.disable()
    n = 0
    rows: list[tuple] = []

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
        rows.clear()

    for path in files:
        with open(path, "rb") as fh:
            doc = loads(gzip.decompress(fh.read()))
        for rs in doc["resourceSpans"]:
            res = {kv["key"]: _value(kv["value"]) for kv in rs.get("resource", {}).get("attributes", ())}
            res_json = dumps(res).decode()
            service, env = res.get("service.name"), res.get("deployment.environment.name")
            for ss in rs["scopeSpans"]:
                scope = ss.get("scope", {}).get("name")
                for s in ss["spans"]:
                    a = {kv["key"]: _value(kv["value"]) for kv in s.get("attributes", ())}
                    g = a.get
                    start, end = int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"])
                    ev = s.get("events")
                    status = s.get("status") or {}
                    rows.append((
                        s["traceId"], s["spanId"], s.get("parentSpanId"), s["name"],
                        g("openinference.span.kind") or g("gen_ai.operation.name") or g("fi.span.kind"),
                        status.get("code"), status.get("message"), start, end, (end - start) / 1e6, service,
                        g("llm.model_name") or g("gen_ai.request.model"), g("llm.provider") or g("gen_ai.system"),
                        g("llm.token_count.prompt") or g("gen_ai.usage.input_tokens"),
                        g("llm.token_count.completion") or g("gen_ai.usage.output_tokens"),
                        g("llm.token_count.total"), g("llm.token_count.prompt_details.cache_read"), None, None,
                        None, None, g("agent.name") or g("gen_ai.agent.name"), g("tool.name") or g("gen_ai.tool.name"),
                        g("session.id"), g("user.id"), g("route"), g("tenant.id"), g("prompt.version"), env, None,
                        g("input.value"), g("output.value"), g("llm.input_messages.0.message.content"),
                        g("llm.output_messages.0.message.content"), None, None, None, None, None, None,
                        s.get("kind"), scope, dumps(a).decode(), res_json,
                        dumps(ev).decode() if ev else None, g("gen_ai.response.model"), None, None,
                        g("llm.token_count.prompt_details.cache_write"), path, None, 1,
                    ))
                    if len(rows) >= 5000:
                        n += len(rows)
                        flush()
        del doc
    n += len(rows)
    flush()
    conn.close()
    return n


# ---------------------------------------------------------------------------------------------
# Measurement

def _measure(cmd: list[str]) -> dict:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: measure the big runs last, or read VmHWM.
    return {"wall_s": wall, "cpu_s": cpu, "user_s": after.ru_utime - before.ru_utime,
            "sys_s": after.ru_stime - before.ru_stime, "stdout": proc.stdout, "stderr": proc.stderr}


#: `tracedesk ingest` exactly as the CLI runs it, then the CPU of the writing process (RUSAGE_SELF) and of
#: its parse workers (RUSAGE_CHILDREN) on stderr: where the CPU goes, not just how much
_TRACEDESK_RUN = """
import resource, sys
from tracedesk.cli import main
try:
    code = main(sys.argv[1:])
finally:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"CPUSPLIT {me.ru_utime + me.ru_stime} {kids.ru_utime + kids.ru_stime}", file=sys.stderr)
sys.exit(code)
"""


def _cpu_split(stderr: str) -> tuple[float, float] | None:
    for line in stderr.splitlines()[::-1]:
        if line.startswith("CPUSPLIT "):
            _, writer, workers = line.split()
            return float(writer), float(workers)
    return None


def _peak_rss_wrapper() -> list[str]:
    """Run the child under /usr/bin/time for its own peak RSS (RUSAGE_CHILDREN keeps the maximum so far)."""
    return ["/usr/bin/time", "-f", "PEAKRSS %M"] if os.path.exists("/usr/bin/time") else []


def _peak_mb(stderr: str) -> float | None:
    for line in stderr.splitlines()[::-1]:
        if line.startswith("PEAKRSS "):
            return int(line.split()[1]) / 1024
    return None


def _db_bytes(path: str) -> int:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))


def _fresh(path: str) -> None:
    for s in ("", "-wal", "-shm"):
        if os.path.exists(path + s):
            os.remove(path + s)


def _inflated_size(path: str) -> int:
    """The OTLP/JSON bytes of one gzip'd input, read in pieces (a whole day of a big run is ~100 MB)."""
    total = 0
    with gzip.open(path) as f:
        while piece := f.read(1 << 22):
            total += len(piece)
    return total


def run_size(n_spans: int, data_root: Path, work: Path, feed_cost: bool = False) -> dict:
    data = generate(data_root, n_spans)
    files = _files(data)
    input_bytes = sum(_inflated_size(f) for f in files)
    env_src = str(HERE.parent / "src")
    py = [sys.executable]
    out: dict = {"requested_spans": n_spans, "files": len(files), "load_before": os.getloadavg()[0]}
    bare_db, td_db = str(work / f"bare-{n_spans}.db"), str(work / f"tracedesk-{n_spans}.db")
    runs = [("bare", bare_db), ("tracedesk", td_db)]
    if feed_cost:  # the same ingest without building the changes feed's samples at its end
        runs.append(("tracedesk_no_feed_samples", str(work / f"tracedesk-nofeed-{n_spans}.db")))
    for which, db in runs:
        _fresh(db)
        if which == "bare":
            cmd = _peak_rss_wrapper() + py + [__file__, "--child-bare", db, *files]
        else:
            cmd = _peak_rss_wrapper() + py + ["-c", _TRACEDESK_RUN, "ingest", *files, "--db", db, "--quiet", "--json"]
            if which == "tracedesk_no_feed_samples":
                cmd.append("--no-feed-samples")
        os.environ["PYTHONPATH"] = env_src + os.pathsep + os.environ.get("PYTHONPATH", "")
        m = _measure(cmd)
        if which == "bare":
            spans = int(m["stdout"].strip().splitlines()[-1])
        else:
            report = json.loads(m["stdout"])
            spans = report["spans"]
        r = {"spans": spans, "wall_s": round(m["wall_s"], 2), "cpu_s": round(m["cpu_s"], 2),
             "user_s": round(m["user_s"], 2), "sys_s": round(m["sys_s"], 2),
             "spans_per_s": round(spans / m["wall_s"]), "spans_per_cpu_s": round(spans / m["cpu_s"]),
             "peak_rss_mb": _peak_mb(m["stderr"]), "db_bytes": _db_bytes(db)}
        split = _cpu_split(m["stderr"])
        if split is not None:  # the writing process and its parse workers, each per span
            r["writer_us_per_span"] = round(split[0] / max(spans, 1) * 1e6, 1)
            r["workers_us_per_span"] = round(split[1] / max(spans, 1) * 1e6, 1)
        r["bytes_per_span"] = round(r["db_bytes"] / max(spans, 1))
        out[which] = r
        print(f"  {n_spans:>10,} {which:>9}: {spans:,} spans, {r['wall_s']:.1f}s wall = {r['spans_per_s']:,} spans/s, "
              f"{r['spans_per_cpu_s']:,} spans/CPU-s (user {r['user_s']:.1f}s sys {r['sys_s']:.1f}s), "
              f"{r['bytes_per_span']:,} B/span, peak RSS {r['peak_rss_mb'] or 0:,.0f} MB", flush=True)
        if "writer_us_per_span" in r:
            print(f"  {n_spans:>10,} {which:>9}: CPU per span {r['writer_us_per_span']} us in the writing process, "
                  f"{r['workers_us_per_span']} us in its parse workers", flush=True)
    out["load_after"] = os.getloadavg()[0]
    out["input_bytes_per_span"] = round(input_bytes / out["tracedesk"]["spans"]) if input_bytes else None
    out["cpu_ratio"] = round(out["bare"]["cpu_s"] / out["tracedesk"]["cpu_s"] * out["tracedesk"]["spans"]
                             / out["bare"]["spans"], 3)
    out["wall_ratio"] = round(out["tracedesk"]["spans_per_s"] / out["bare"]["spans_per_s"], 3)
    if feed_cost:
        t, nf = out["tracedesk"], out["tracedesk_no_feed_samples"]
        out["feed_samples_step"] = {"cpu_s": round(t["cpu_s"] - nf["cpu_s"], 2), "wall_s": round(t["wall_s"] - nf["wall_s"], 2),
                                    "cpu_us_per_span": round((t["cpu_s"] - nf["cpu_s"]) / t["spans"] * 1e6, 1)}
        print(f"  {n_spans:>10,} the feed-samples step (tracedesk - --no-feed-samples): "
              f"{out['feed_samples_step']['cpu_s']:.2f} s CPU = {out['feed_samples_step']['cpu_us_per_span']} us per span "
              f"({t['cpu_s'] / nf['cpu_s'] * 100 - 100:.1f}% of the ingest's CPU), "
              f"{out['feed_samples_step']['wall_s']:.2f} s wall", flush=True)
    print(f"  {n_spans:>10,} tracedesk/bare: {out['cpu_ratio']:.2f}x in CPU time, {out['wall_ratio']:.2f}x wall "
          f"(load {out['load_before']:.1f} -> {out['load_after']:.1f} on {os.cpu_count()} cores)", flush=True)
    for _which, db in runs:
        _fresh(db)
    return out


def _previous() -> dict:
    path = RESULTS / "ingest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _compare(prev: dict, runs: list[dict]) -> None:
    old = {r["requested_spans"]: r for r in prev.get("runs", [])}
    for r in runs:
        p = old.get(r["requested_spans"])
        if not p:
            continue
        t, pt = r["tracedesk"], p["tracedesk"]
        print(f"  {r['requested_spans']:>10,} vs previous results ({prev.get('date', '?')}): "
              f"spans/CPU-s {t['spans_per_cpu_s'] / pt['spans_per_cpu_s']:.2f}x, "
              f"spans/s {t['spans_per_s'] / pt['spans_per_s']:.2f}x, "
              f"CPU ratio to bare {r['cpu_ratio'] / p['cpu_ratio']:.2f}x, "
              f"B/span {t['bytes_per_span'] / pt['bytes_per_span']:.2f}x, "
              f"peak RSS {(t['peak_rss_mb'] or 0) / max(pt['peak_rss_mb'] or 1, 1):.2f}x")


def merge_runs(result: dict, prev: dict) -> dict:
    """This run's sizes plus the previous results' other sizes, smallest first (a 10M-span run takes an
    hour: `--spans 10000000` alone keeps the 100k and 1M rows). Each run keeps its own date and load."""
    ran = {r["requested_spans"] for r in result["runs"]}
    carried = [{"date": prev.get("date"), "uptime": prev.get("machine", {}).get("uptime"), **r}
               for r in prev.get("runs", []) if r["requested_spans"] not in ran]
    mine = [{"date": result["date"], "uptime": result["machine"]["uptime"], **r} for r in result["runs"]]
    return {**result, "runs": sorted(carried + mine, key=lambda r: r["requested_spans"])}


def _markdown(result: dict) -> str:
    lines = [
        f"Ingest, measured {result['date']} on {result['machine']['cpus']} cores "
        f"(`uptime` load {result['machine']['uptime']}), `python benchmarks/ingest.py`:",
        "",
        "| spans | tracedesk spans/s (wall) | tracedesk spans/CPU-s | bare spans/CPU-s | tracedesk/bare (CPU) "
        "| CPU us/span: writer + parse workers | B/span on disk (input) | peak RSS MB | load | measured |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["runs"]:
        t, b = r["tracedesk"], r["bare"]
        split = (f"{t['writer_us_per_span']} + {t['workers_us_per_span']}" if "writer_us_per_span" in t else "?")
        lines.append(
            f"| {t['spans']:,} | {t['spans_per_s']:,} | {t['spans_per_cpu_s']:,} | {b['spans_per_cpu_s']:,} | "
            f"{r['cpu_ratio']:.2f}x | {split} | {t['bytes_per_span']:,} ({r['input_bytes_per_span'] or '?'}) | "
            f"{t['peak_rss_mb'] or 0:,.0f} | {r['load_before']:.1f}-{r['load_after']:.1f} | {r.get('date', result['date'])} |")
    lines += ["", "bare = gunzip + orjson (GC off) + flatten to tuples + executemany into the same schema "
              "(same columns and indexes, without the changes feed's triggers); tracedesk = `tracedesk ingest` "
              "on the same files (building the changes feed's samples at its end: analysis.feed_ready). The machine "
              "is shared, so compare the ratio column, measured in the same run.", ""]
    steps = [(r["tracedesk"]["spans"], r["feed_samples_step"]) for r in result["runs"] if r.get("feed_samples_step")]
    if steps:
        lines += ["The feed-samples step (`tracedesk ingest` minus `tracedesk ingest --no-feed-samples` on the same files, "
                  "same run; `--feed-samples-cost`): " + "; ".join(
                      f"{n:,} spans: {st['cpu_s']:.2f} s CPU ({st['cpu_us_per_span']} us per span), {st['wall_s']:.2f} s wall"
                      for n, st in steps) + ".", ""]
    return "\n".join(lines)


README_START, README_END = "<!-- ingest-table:start (benchmarks/ingest.py) -->", "<!-- ingest-table:end -->"


def _readme_table(result: dict) -> str:
    lines = ["| spans | spans/s (wall) | spans per CPU-second | bare, spans per CPU-second | tracedesk / bare, CPU "
             "| bytes per span on disk | peak RSS | measured |",
             "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in result["runs"]:
        t, b = r["tracedesk"], r["bare"]
        lines.append(f"| {t['spans']:,} | {t['spans_per_s']:,} | {t['spans_per_cpu_s']:,} | {b['spans_per_cpu_s']:,} "
                     f"| {r['cpu_ratio']:.2f}x | {t['bytes_per_span']:,} | {t['peak_rss_mb'] or 0:,.0f} MB "
                     f"| {r.get('date', result['date'])}, load {r.get('load_before', 0):.1f}-{r.get('load_after', 0):.1f} |")
    return (f"Last run {result['date']}, load {result['machine']['uptime']} on {result['machine']['cpus']} cores "
            f"(shared: compare the ratio column, measured in the same run; each row says when it was measured):\n\n"
            + "\n".join(lines) + "\n")


def _write_readme(readme: Path, result: dict) -> bool:
    """Replace the README's ingest table (between its markers) with this run's; False when it has none."""
    return replace_between(readme, README_START, README_END, _readme_table(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--data", default="/tmp/tracedesk-bench-data", help="folder for generated input (reused)")
    ap.add_argument("--work", default=None, help="folder for the databases (default: a temp folder)")
    ap.add_argument("--no-save", action="store_true", help="do not rewrite benchmarks/results/ingest.* or the README")
    ap.add_argument("--readme", default=str(HERE.parent / "README.md"),
                    help="README whose ingest table (between its markers) is replaced by this run's")
    ap.add_argument("--feed-samples-cost", action="store_true",
                    help="also run `tracedesk ingest --no-feed-samples` on the same files: the CPU and wall of the "
                         "step that builds the changes feed's samples at the end of an ingest")
    ap.add_argument("--child-bare", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_bare:
        print(run_bare(args.child_bare[1:], args.child_bare[0]))
        return
    import tempfile

    data_root = Path(args.data)
    data_root.mkdir(parents=True, exist_ok=True)
    work = Path(args.work or tempfile.mkdtemp(prefix="tracedesk-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}; uptime: {uptime}", flush=True)
    runs = [run_size(n, data_root, work, args.feed_samples_cost) for n in args.spans]
    prev = _previous()
    _compare(prev, runs)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "sqlite": sqlite3.sqlite_version, "uptime": uptime.split("load average:")[-1].strip()},
              "runs": runs}
    result = merge_runs(result, prev)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
        (RESULTS / "ingest.md").write_text(_markdown(result))
        print(f"wrote {RESULTS / 'ingest.json'} and {RESULTS / 'ingest.md'}")
        if _write_readme(Path(args.readme), result):
            print(f"rewrote the ingest table in {args.readme}")


if __name__ == "__main__":
    main()
