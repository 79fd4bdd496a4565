"""Changes feed benchmark: the whole feed (every signal x cohort, pairs included) on ~1M spans.

The database is built the way users build one: `tracedesk sample generate` writes a week of OTLP/JSON at
a higher traffic rate (kept in --otlp), `tracedesk ingest --no-feed-samples` loads it (cached in --big-db
between runs). Then the feed runs three times: first as after such an ingest (no text verdicts and no
feed samples kept: every answer's refusal and PII check runs and store.feed_samples stores every sample),
cold (a fresh connection; what the first run kept in the database is read), warm (the same connection
again); then once after one evaluation is written again (its trace's hour is marked dirty and re-read),
and, as a same-run baseline, one plain SQL pass reading every span's start time and duration (the least
any per-span analysis must read). Then the same files are loaded by a plain `tracedesk ingest` (which
builds the feed's samples at its end: analysis.feed_ready) into a new file, and the feed runs once on it:
the first feed users meet after an ingest. The ingest's CPU (its process and parse worker) is printed,
and, when --big-db was built in this run, that of the ingest without the step. CPU time and wall time are
printed.

    python benchmarks/changes.py [--big-db FILE] [--otlp DIR] [--traces-per-hour 335] [--rebuild] [--write]
Target: the feed under 3 s at 1M spans on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from readme_tables import replace_between  # benchmarks/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]


def inputs(folder: str, per_hour: int) -> list[str]:
    """The week's OTLP files in `folder`, generated there first when it holds none."""
    files = sorted(str(p) for p in Path(folder).glob("traces-*.json.gz"))
    if not files:
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        subprocess.run([sys.executable, "-m", "tracedesk", "sample", "generate", folder, "--traces-per-hour",
                        str(per_hour)], check=True, env=env)
        files = sorted(str(p) for p in Path(folder).glob("traces-*.json.gz"))
    return files


def ingest(path: str, files: list[str], *extra: str) -> dict:
    """`tracedesk ingest` into a new file, as users run it: wall and CPU s (its process and parse worker)."""
    import resource

    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "tracedesk", "ingest", "--db", path, "--quiet", "--json", *extra,
                           *files], check=True, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    spans = json.loads(proc.stdout)["spans"]
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "spans": spans,
            "us_per_span": round(cpu / max(spans, 1) * 1e6, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--big-db", default=str(Path(tempfile.gettempdir()) / "tracedesk-bench-changes.db"))
    ap.add_argument("--otlp", default=None, help="folder of the week's OTLP files (default: --big-db's name "
                    "without .db, plus _otlp; generated there when empty)")
    ap.add_argument("--traces-per-hour", type=int, default=335, help="335/h x 7 days x ~18 spans = ~1M spans")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/changes.md and .json")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from tracedesk.analysis.changes import find_changes
    from tracedesk.store import connect

    otlp = args.otlp or (args.big_db[:-3] if args.big_db.endswith(".db") else args.big_db) + "_otlp"
    files = inputs(otlp, args.traces_per_hour)
    if args.rebuild and os.path.exists(args.big_db):
        os.remove(args.big_db)
    lazy_ingest = None
    if not os.path.exists(args.big_db):
        lazy_ingest = ingest(args.big_db, files, "--no-feed-samples")
        print(f"built {args.big_db} (tracedesk ingest --no-feed-samples): {lazy_ingest['wall_s']:.1f} s wall, "
              f"{lazy_ingest['cpu_s']:.1f} s CPU, {lazy_ingest['us_per_span']} us CPU per span")
    db = connect(args.big_db)
    spans, traces = (db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("spans", "traces"))
    evals = db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    print(f"{spans:,} spans, {traces:,} traces, {evals:,} evaluations")

    def timed(fn):  # (result, wall s, CPU s of this process)
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        return out, time.perf_counter() - t, time.process_time() - c

    _rows, scan, scan_cpu = timed(lambda: db.execute("SELECT start_ns, duration_ms FROM spans").fetchall())
    # first run after ingest: no text verdicts kept yet (store.text_checks), every answer text is checked
    # (the verdicts of the first layout, text_checks, and of the current one, text_verdicts)
    db.execute("DROP TABLE IF EXISTS text_checks")
    if db["text_verdicts"].exists():
        db.execute("DELETE FROM text_verdicts")
    # ...and no feed samples stored yet (store.feed_samples builds them on the first feed)
    for table in ("feed_chunks", "feed_frames", "feed_sample_sets"):
        db.execute(f"DELETE FROM {table}")
    db.conn.commit()
    db.conn.close()
    # the steps of bringing the stored samples up to date, timed through the feed's progress reports
    marks: list[tuple[float, str]] = []
    _f, first, first_cpu = timed(lambda: find_changes(connect(args.big_db), top=20, progress=lambda _d, _t, what:
                                                      marks.append((time.process_time(), what))))
    ends = [m[0] for m in marks[1:]]
    steps = {what: round(end - at, 3) for (at, what), end in zip(marks, ends)}
    # cold: a fresh connection (nothing kept in memory), verdicts kept in the database
    db = connect(args.big_db)
    findings, cold, cold_cpu = timed(lambda: find_changes(db, top=20))
    # warm: the same connection again (frames kept per data version)
    _w, warm, warm_cpu = timed(lambda: find_changes(db, top=20))
    # one write: an evaluation written again as it is (INSERT OR REPLACE, as a judge re-run or a review
    # edit does); the trigger marks its trace's hour and the next feed re-reads that hour only
    row = db.execute("SELECT * FROM evaluations ORDER BY id LIMIT 1").fetchone()
    db.execute(f"INSERT OR REPLACE INTO evaluations VALUES ({', '.join('?' * len(row))})", list(row))
    db.conn.commit()
    _d, dirty, dirty_cpu = timed(lambda: find_changes(db, top=20))
    # a chunk holds one set's values of one hour; its times and cells are a frame that sets share (m509)
    stored = dict(zip(("chunks", "samples", "bytes"), db.execute(
        "SELECT (SELECT COUNT(*) FROM feed_chunks), "
        "(SELECT SUM(f.n) FROM feed_chunks c JOIN feed_frames f ON f.id = c.frame), "
        "(SELECT SUM(length(v)) FROM feed_chunks) + (SELECT IFNULL(SUM(length(body)), 0) FROM feed_frames)"
    ).fetchone()))
    db.conn.close()
    # the first feed after a plain `tracedesk ingest`, which built the feed's samples at its end
    built_db = args.big_db + ".built.db"
    built_ingest = ingest(built_db, files)
    print(f"built {built_db} (tracedesk ingest): {built_ingest['wall_s']:.1f} s wall, {built_ingest['cpu_s']:.1f} s "
          f"CPU, {built_ingest['us_per_span']} us CPU per span")
    built_steps: list[str] = []
    built_findings, built, built_cpu = timed(lambda: find_changes(connect(built_db), top=20, progress=lambda _d, _t, w:
                                                                  built_steps.append(w)))
    same = [f.to_dict() for f in built_findings] == [f.to_dict() for f in findings]
    print(f"first feed after tracedesk ingest: steps left to it {built_steps or 'none'}; same findings as the "
          f"feed-built database: {same}")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(built_db + suffix):
            os.remove(built_db + suffix)
    print(f"plain scan of every span (start, duration): {scan:.2f} s wall, {scan_cpu:.2f} s CPU")
    for name, wall, cpu in (("first run after ingest --no-feed-samples", first, first_cpu), ("cold", cold, cold_cpu),
                            ("warm", warm, warm_cpu), ("after one evaluation written", dirty, dirty_cpu),
                            ("first run after tracedesk ingest (samples built at ingest)", built, built_cpu)):
        print(f"changes feed, {name}: {wall:.2f} s wall, {cpu:.2f} s CPU  ({cpu / scan_cpu:.1f}x the scan's CPU)")
        if name == "first run after ingest --no-feed-samples":
            print("   of which, CPU s: " + ", ".join(f"{what} {cpu_s:.2f}" for what, cpu_s in steps.items())
                  + " (each read includes its refusal and PII checks)")
    print(f"target < 3 s (cold, CPU): {'met' if cold_cpu < 3 else 'NOT met'}")
    for f in findings[:8]:
        print("  ", f.title())
    result = {"spans": spans, "traces": traces, "evaluations": evals, "cpu_count": os.cpu_count(),
              "load_average": os.getloadavg()[0],
              "scan": {"wall_s": round(scan, 3), "cpu_s": round(scan_cpu, 3)},
              "first_run": {"wall_s": round(first, 3), "cpu_s": round(first_cpu, 3), "steps_cpu_s": steps},
              "cold": {"wall_s": round(cold, 3), "cpu_s": round(cold_cpu, 3)},
              "warm": {"wall_s": round(warm, 3), "cpu_s": round(warm_cpu, 3)},
              "one_write": {"wall_s": round(dirty, 3), "cpu_s": round(dirty_cpu, 3)},
              "built_first": {"wall_s": round(built, 3), "cpu_s": round(built_cpu, 3), "steps": built_steps,
                              "same_findings": same},
              "ingest": {"with_feed_samples": built_ingest, "without_feed_samples": lazy_ingest},
              "stored": stored,
              "top": [f.title() for f in findings[:8]]}
    print(json.dumps(result))  # the figures, whatever happens to --write
    if args.write:
        _write(result)


def _write(r: dict) -> None:
    out = REPO / "benchmarks" / "results"
    (out / "changes.json").write_text(json.dumps(r, indent=1) + "\n")
    lines = [
        "# Changes feed: time on ~1M spans",
        "",
        "Produced by `python benchmarks/changes.py --write` (do not edit by hand). The database is built as users",
        "build one (`tracedesk sample generate --traces-per-hour 335` + `tracedesk ingest`). CPU time is this",
        f"process's; wall time is distorted by other work on the machine ({r['cpu_count']} cores shared, load "
        f"average {r['load_average']:.1f} at the run).",
        "",
        f"{r['spans']:,} spans, {r['traces']:,} traces, {r['evaluations']:,} evaluations.",
        "",
        "| run | wall s | CPU s | CPU x plain scan |",
        "|---|---:|---:|---:|",
        f"| plain scan of every span (start, duration) | {r['scan']['wall_s']:.2f} | {r['scan']['cpu_s']:.2f} | 1.0 |",
    ]
    for key, name in _RUNS:
        lines.append(f"| {name} | {r[key]['wall_s']:.2f} | {r[key]['cpu_s']:.2f} | "
                     f"{r[key]['cpu_s'] / r['scan']['cpu_s']:.1f} |")
    steps = r["first_run"].get("steps_cpu_s") or {}
    if steps:
        lines += ["", "First run after ingest, the steps of building the stored samples (CPU s; each read includes "
                  "its refusal and PII checks; the rest of the run is the detector and the example traces):", "",
                  "| step | CPU s |", "|---|---:|"] + [f"| {what} | {cpu_s:.2f} |" for what, cpu_s in steps.items()]
    ing = r["ingest"]
    with_, without = ing["with_feed_samples"], ing.get("without_feed_samples")
    lines += ["", "The ingests (`tracedesk ingest --quiet` of the week's 7 files into a new file; CPU of its process and "
              "its parse worker; the feed-samples step runs after the load, in the writing process):", "",
              "| ingest | wall s | CPU s | CPU us per span |", "|---|---:|---:|---:|",
              f"| with the feed's samples built at its end (default) | {with_['wall_s']:.1f} | {with_['cpu_s']:.1f} | "
              f"{with_['us_per_span']} |"]
    if without:
        lines.append(f"| `--no-feed-samples` | {without['wall_s']:.1f} | {without['cpu_s']:.1f} | "
                     f"{without['us_per_span']} |")
        lines += ["", f"Difference: {with_['cpu_s'] - without['cpu_s']:.1f} s CPU "
                  f"({(with_['cpu_s'] - without['cpu_s']) / without['cpu_s'] * 100:.0f}% of the ingest's CPU) and "
                  f"{with_['wall_s'] - without['wall_s']:.1f} s wall; the two ingests are separate processes run minutes "
                  "apart on a shared machine, so this difference carries the load's noise (wall above all)."]
    if steps:
        step_cpu = sum(steps.values())
        base = without["cpu_s"] if without else with_["cpu_s"]
        lines += ["", f"The step itself, timed inside one process (the reading and storing steps of the first feed after "
                  f"`--no-feed-samples` above: the same refresh the ingest runs at its end): {step_cpu:.2f} s CPU = "
                  f"{step_cpu / r['spans'] * 1e6:.1f} us per span, {step_cpu / base * 100:.0f}% of the ingest's CPU "
                  f"{'without it' if without else ''} (plus importing numpy/pandas and saving the text verdicts)."]
    bf = r["built_first"]
    lines += ["", f"After `tracedesk ingest`, the first feed had {'nothing' if not bf['steps'] else bf['steps']} left "
              f"to build; its findings equal the feed-built database's: {bf['same_findings']}."]
    st = r["stored"]
    lines += ["", f"Stored feed samples (store.feed_samples): {st['samples']:,} samples in {st['chunks']:,} chunks, "
              f"{st['bytes'] / 1e6:.1f} MB.", "", "Top findings:", ""] + [f"- {t}" for t in r["top"]] + [""]
    (out / "changes.md").write_text("\n".join(lines))
    # the README's table, between its markers
    table = [f"{r['spans']:,} spans, CPU s (wall s; {r['cpu_count']} shared cores, load {r['load_average']:.1f}); "
             "[full results](benchmarks/results/changes.md).", "", "| run | CPU s | wall s |", "|---|---:|---:|",
             f"| plain scan of every span (start, duration) | {r['scan']['cpu_s']:.2f} | {r['scan']['wall_s']:.2f} |"]
    table += [f"| {name} | {r[key]['cpu_s']:.2f} | {r[key]['wall_s']:.2f} |" for key, name in _RUNS]
    replace_between(REPO / "README.md", README_START, README_END, "\n".join(table))


README_START, README_END = "<!-- changes-table:start (benchmarks/changes.py) -->", "<!-- changes-table:end -->"
_RUNS = (("built_first", "feed, first run after ingest with chunks built at ingest (`tracedesk ingest`)"),
         ("first_run", "feed, first run after `tracedesk ingest --no-feed-samples` (every answer text checked, "
                       "every sample stored)"),
         ("cold", "feed, cold (fresh connection; verdicts and samples kept in the database)"),
         ("warm", "feed, warm (same connection, unchanged data)"),
         ("one_write", "feed after one evaluation is written (one hour re-read)"))


if __name__ == "__main__":
    main()
