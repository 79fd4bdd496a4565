"""Workbench query benchmark: every Traces-page filter alone and combined, every page's data calls (first
look on a freshly opened workspace, and warm), the notebook frames, and optionally each page rendered
under Streamlit's AppTest and the app's cold start (`tracedesk app`, in headless Chromium: title drawn, usable,
finished), on databases of the sample
generator's traffic loaded with `tracedesk ingest` exactly as a user loads it.

    python benchmarks/queries.py                       # 1M spans (the database takes a few minutes to build once)
    python benchmarks/queries.py --sizes 100000 1000000 --apptest --cold-start --save
    python benchmarks/queries.py --out /tmp/bench      # where the databases are cached (default benchmarks/out)

Each figure is the median (and best) wall time of several runs, with the CPU time of the median run beside
it (the machine is shared: wall time includes waiting for a core, CPU time does not), and the ratio to the
figure of the same operation in the committed results (benchmarks/results/queries.json; < 1 = faster now).
`--save` rewrites queries.json and queries.md from this run. The landing page's changes feed is left out
of the page figures (benchmarks/changes.py measures it).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import glob
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from readme_tables import replace_between  # benchmarks/ is on sys.path when run as a script
from typing import Any

import tracedesk
from tracedesk.store import query as _query
from tracedesk.store.query import Filters
from tracedesk.timeutil import halves_by_day

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
RESULTS = HERE / "results" / "queries.json"
REPORT = HERE / "results" / "queries.md"

#: seconds, at 1M spans (issue 13): every filter, every page's data warm, the app usable after launch
FILTER_TARGET = 1.5
PAGE_TARGET = 1.5
#: seconds, at 10M spans (issue 13: "at 10M spans, under 3 s"); a Traces-page filter is part of that page
PAGE_TARGET_10M = 3.0
COLD_START_TARGET = 3.0
#: sizes above this are held to the 10M targets
TARGET_10M_ABOVE = 2_000_000


def target(n_spans: int, at_1m: float) -> float:
    """The target of an operation at this size: the 1M figure, or the 10M one above TARGET_10M_ABOVE."""
    return at_1m if n_spans <= TARGET_10M_ABOVE else PAGE_TARGET_10M


#: `ws.spans()` of the whole table holds about this many bytes per span at its peak (frame + one chunk;
#: measured 2x a 353 B/row frame, benchmarks/memory.py): skipped when the machine has not that much free
FRAME_PEAK_BYTES_PER_SPAN = 800


def _available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return None

#: spans per sample-generator trace (measured on the bundled week: 66,307 spans / 3,605 traces)
SPANS_PER_TRACE = 18.4
#: spans per generated week above which the input is generated as several weeks side by side (see build)
SHARD_SPANS = 1_000_000


def build(path: Path, n_spans: int) -> dict[str, Any]:
    """The way a user builds a database: `tracedesk sample generate` OTLP files, then `tracedesk ingest`
    (no statement of our own: no statistics run by hand, no extra index). The ingest runs as its own
    process (as a user runs it), timed with wait4: wall, user + system CPU of it and its parse worker, and
    its peak RSS (/usr/bin/time), so the build also says whether CPU per span and memory stay flat with size.
    Returns those figures."""
    import resource
    import sqlite3

    from tracedesk.cli import main as cli

    t = time.perf_counter()
    otlp = path.parent / f"{path.stem}_otlp"
    per_hour = n_spans / SPANS_PER_TRACE / (7 * 24)
    # The generator holds a whole day of spans as OTLP dicts before writing its file (several GB by estimate for a day of
    # the 10M-span week): above SHARD_SPANS it writes several weeks of the same rhythm side by side (one
    # seed each, the rate split between them), superimposed into one week by the ingest.
    shards = max(1, math.ceil(n_spans / SHARD_SPANS))
    for i in range(shards):
        folder = otlp if shards == 1 else otlp / f"shard-{i:02d}"
        folder.parent.mkdir(parents=True, exist_ok=True)
        if not (folder / "ground_truth.json").exists():
            assert cli(["sample", "generate", str(folder), "--days", "7", "--traces-per-hour",
                        f"{per_hour / shards:.1f}", "--seed", str(7 + i)]) == 0
    files = sorted(glob.glob(str(otlp / "traces-*.json.gz")) + glob.glob(str(otlp / "shard-*" / "traces-*.json.gz")))
    generated = time.perf_counter() - t
    building = Path(str(path) + ".building")
    timer = ["/usr/bin/time", "-f", "PEAKRSS %M"] if os.path.exists("/usr/bin/time") else []
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w = time.perf_counter()
    proc = subprocess.run(timer + [sys.executable, "-m", "tracedesk", "ingest", *files,
                                   "--db", str(building), "--quiet", "--json"],
                          capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - w
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"tracedesk ingest failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    spans = json.loads(proc.stdout)["spans"]
    peak = next((int(line.split()[1]) / 1024 for line in proc.stderr.splitlines()[::-1]
                 if line.startswith("PEAKRSS ")), None)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    with contextlib.closing(sqlite3.connect(building)) as conn:  # fold the WAL in before the rename
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    building.rename(path)
    took = time.perf_counter() - t
    ingest = {"spans": spans, "wall_s": round(wall, 2), "user_s": round(user, 2), "sys_s": round(system, 2),
              "cpu_s": round(user + system, 2), "spans_per_cpu_s": round(spans / max(user + system, 1e-9)),
              "spans_per_s": round(spans / wall), "peak_rss_mb": peak, "generate_s": round(generated, 1),
              "load_after": round(os.getloadavg()[0], 2)}
    print(f"  built {path.name} in {took:.0f} s: ingest {ingest}", file=sys.stderr, flush=True)
    built = {"build_s": took, "ingest": {**ingest, "code": _code_version(),
                                         "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}}
    _build_record(path).write_text(json.dumps(built, indent=1) + "\n")  # for the runs that reuse the database
    return built


def _build_record(path: Path) -> Path:
    return path.with_name(path.name + ".build.json")


def built_before(path: Path) -> dict[str, Any]:
    """What build() measured when it made the database at `path` ({"build_s": None} if unknown)."""
    try:
        return dict(json.loads(_build_record(path).read_text()))
    except (OSError, ValueError):
        return {"build_s": None}


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Median and best wall time of `repeat` runs after one warm-up run, and the CPU time of the median."""
    fn()
    runs = []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.perf_counter() - w, time.process_time() - c))
    runs.sort()
    mid = runs[len(runs) // 2]
    return {"median_s": mid[0], "best_s": runs[0][0], "cpu_s": mid[1]}


def once(fn: Callable[[], Any]) -> dict[str, float]:
    """One run, nothing warmed up (a first look)."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    wall = time.perf_counter() - w
    return {"median_s": wall, "best_s": wall, "cpu_s": time.process_time() - c}


# ---------------------------------------------------------------------------------------------
# What each page asks the workspace for, with its widgets at their defaults (app/pages/*.py)


def sidebar(ws: tracedesk.Workspace) -> None:
    """ui.sidebar_filters: the pickers every page draws."""
    from tracedesk import cohorts

    ws.time_bounds()
    for dim in cohorts.browse_names(cohorts.TRACE) + ws.extra_dimensions():
        ws.values(dim)
    for source in ("model", "agent_name", "tag", "kind"):
        ws.values(source)


def page_calls(ws: tracedesk.Workspace, trace_id: str) -> dict[str, Callable[[], Any]]:
    f = Filters()

    def home() -> None:  # the changes feed (ws.changes) is left out: benchmarks/changes.py
        ws.is_sample()
        sidebar(ws)
        ws.kpis(f)
        ws.timeseries(f)
        ws.signals_over_time(f)

    def overview() -> None:
        sidebar(ws)
        ws.count_traces(f)
        ws.kpis(f)
        ws.timeseries(f)
        ws.worst_cohorts(f, top=6)
        ws.health(f)
        ws.eval_summary(f)

    def traces() -> None:
        sidebar(ws)
        ws.count_traces(f)
        ws.traces(f, sort="start_ns", descending=True, limit=50, offset=0, with_evals=True)

    def trace() -> None:
        sidebar(ws)
        spans = ws.trace(trace_id)
        ws.trace_summary(trace_id)
        ws.evaluations(trace_id=trace_id)
        ws.span_tree(spans)
        ws.trajectory(trace_id)

    def agents() -> None:
        sidebar(ws)
        ws.count_traces(f)
        ws.topology_frames(ws.agent_topology(f))

    def sessions() -> None:
        sidebar(ws)
        table = ws.sessions(f)
        if len(table):
            ws.session(table["session_id"].iloc[0])

    def cohorts_page() -> None:
        sidebar(ws)
        ws.count_traces(f)
        ws.dimensions()
        for d in ("user_id", "session_id"):
            ws.has_values(d) if hasattr(ws, "has_values") else ws.values(d, limit=1)
        ws.evaluator_names()
        ws.cohort_matrix("route", f)
        ws.ranked_cohorts("route", f, min_traces=5)
        lo, hi = ws.time_bounds()
        assert lo is not None and hi is not None
        (a0, a1), (b0, b1) = halves_by_day(lo, hi)  # the page's default windows: whole UTC days
        day = dt.timedelta(days=1)
        ws.compare_windows("route", (a0, a1 + day), (b0, b1 + day), f)

    def evaluations() -> None:
        import altair as alt

        from tracedesk.charts.evals import score_histogram

        sidebar(ws)
        ev = ws.evals
        ev.judges_missing  # noqa: B018 - the page reads it
        ev.names()
        with alt.data_transformers.disable_max_rows():  # st.altair_chart ships every row it is given
            if hasattr(ev, "histogram"):  # bins counted in SQLite
                names = ev.evaluated()
                if names:
                    score_histogram(ev.histogram(names[0], "route"), names[0], "route").to_dict()
                    ev.by_cohort(names[0], "route")
            else:  # v0.2: every evaluation row to pandas and into the chart
                frame = ev.scores()
                if len(frame):
                    name = sorted(frame["name"].unique())[0]
                    score_histogram(frame, name, "route").to_dict()
                    ev.by_cohort(name, "route")
        ev.review_queue(limit=100)
        ev.pass_rules()

    def alerts() -> None:
        sidebar(ws)
        al = ws.alerts
        al.dimensions  # noqa: B018
        for dim in al.scope_pickers:
            al.dimension_values(dim)
        choices = al.signal_choices()
        conditions = []
        for i in range(2):  # the builder's two default conditions
            pick = choices[al.default_choice(choices, i)]
            conditions.append({"signal": pick.signal, "aggregation": pick.aggregation, "comparator": pick.comparator,
                               "threshold": float(pick.threshold),
                               "relative_to": dict(pick.relative_to, factor=float(pick.threshold))
                               if pick.relative_to else None})
        rule = al.build(name="my-alert", conditions=conditions, combine="all", window="1h", step=al.windows[0],
                        scope={}, group_by=[], min_samples=3, severity=al.severities[1], owner="", runbook="",
                        states={})
        al.backtest(rule)
        for r in al.list():
            al.firing(r)

    def drift() -> None:
        sidebar(ws)
        dims = ws.drift.dimensions()
        ws.drift.report("24h", "", reference_since="", reference_until="",
                        dimension="route" if "route" in dims else None, families=None)

    return {"Home (without the feed)": home, "Overview": overview, "Traces": traces, "Trace": trace,
            "Agents": agents, "Sessions": sessions, "Cohorts": cohorts_page, "Evaluations": evaluations,
            "Alerts": alerts, "Drift": drift}


def filter_sets(ws: tracedesk.Workspace) -> dict[str, Filters]:
    """Every Traces-page filter alone, and all of them at once."""
    model = ws.values("model")[0]
    return {
        "model": Filters(models=[model]), "kind": Filters(kinds=["TOOL"]), "status": Filters(statuses=["ERROR"]),
        "agent": Filters(agents=ws.values("agent_name")[:1]),
        # the sample traffic carries no tags: an empty list filtered nothing; a tag nobody has still makes
        # the filter look (before m507 it read every span's attributes: 5.3 s on 1M spans)
        "tag": Filters(tags=ws.values("tag")[:1] or ["no-such-tag"]),
        "text": Filters(text="refund"), "score": Filters(scores={"groundedness": (None, 0.5)}),
        "latency": Filters(min_latency_ms=2000.0), "cost": Filters(min_cost=0.01),
        "route": Filters(dims={"route": ["refunds"]}), "time (last 24 h)": Filters(start_ns=ws.time_bounds()[1] - 86_400 * 10**9),
        "combined": Filters(models=[model], kinds=["LLM"], statuses=["OK"], dims={"route": ["refunds"]},
                            scores={"groundedness": (0.0, None)}, text="refund", min_latency_ms=10.0),
    }


def first_page_sets(ws: tracedesk.Workspace) -> dict[str, Filters]:
    """Each span-level filter with its broadest value (the most spans) and its narrowest: the page in start
    order may walk the traces (broad) or build the matching set (narrow); issue 13. The kinds the trace
    summary counts (LLM, TOOL) read no span and are left out; ERROR is the narrow status."""
    kinds = [k for k in ws.values("kind") if k not in ("LLM", "TOOL")]
    out: dict[str, Filters] = {}
    for label, field, values in (("model", "models", ws.values("model")), ("agent", "agents", ws.values("agent_name")),
                                 ("kind", "kinds", kinds), ("status", "statuses", ws.values("status"))):
        if values:
            out[f"{label} broad ({values[0]})"] = Filters(**{field: [values[0]]})
            out[f"{label} narrow ({values[-1]})"] = Filters(**{field: [values[-1]]})
    out["kind+status narrow (TOOL, ERROR)"] = Filters(kinds=["TOOL"], statuses=["ERROR"])
    out["model nobody uses"] = Filters(models=["no-such-model"])
    return out


def run_first_pages(ws: tracedesk.Workspace, n_spans: int) -> dict[str, dict[str, Any]]:
    """The Traces page's first page (newest first, 50 rows) under each span filter, the count left out."""
    rows: dict[str, dict[str, Any]] = {}
    for fname, f in first_page_sets(ws).items():
        rows[f"first page {fname}"] = {**timed(lambda f=f: _query.traces(ws.db, f, limit=50), 5),
                                       "group": "first-page"}
        print(f"    {'first page ' + fname:40s} {rows[f'first page {fname}']['cpu_s']:8.4f} s CPU", file=sys.stderr)
    return rows


def fresh_workspace(path: Path) -> Callable[[], tracedesk.Workspace]:
    """A new workspace per call (its caches empty, SQLite's page cache and the OS's warm)."""
    opened: list[tracedesk.Workspace] = []

    def make() -> tracedesk.Workspace:
        while opened:
            opened.pop().close()
        opened.append(tracedesk.open(str(path)))
        return opened[-1]
    return make


def run_queries(path: Path, n_spans: int) -> dict[str, dict[str, Any]]:
    ws = tracedesk.open(str(path))
    tid = ws.traces(limit=1, offset=ws.count_traces() // 2)["trace_id"].iloc[0]
    rows: dict[str, dict[str, Any]] = {}
    big = n_spans > 200_000

    for fname, f in filter_sets(ws).items():
        def one(f: Filters = f) -> Any:  # the store's reads, as the Traces page makes them (never kept)
            if hasattr(_query, "forget_text_matches"):  # each run searches the text again
                _query.forget_text_matches(ws.db)
            return _query.count_traces(ws.db, f), _query.traces(ws.db, f, limit=50)
        rows[f"filter {fname}"] = {**timed(one, 3 if big else 5), "group": "filter",
                                  "target_s": target(n_spans, FILTER_TARGET)}
        print(f"    {'filter ' + fname:40s} {rows[f'filter {fname}']['median_s']:8.3f} s", file=sys.stderr)

    rows.update(run_first_pages(ws, n_spans))

    make = fresh_workspace(path)
    for page, _ in page_calls(ws, tid).items():
        # first look: a workspace opened just now, so nothing the library keeps is warm
        w = make()
        first = once(lambda w=w, page=page: page_calls(w, tid)[page]())
        calls = page_calls(w, tid)[page]
        warm = timed(calls, 3 if big else 5)
        rows[f"page {page}, first"] = {**first, "group": "page-first"}
        rows[f"page {page}, warm"] = {**warm, "group": "page", "target_s": target(n_spans, PAGE_TARGET)}
        print(f"    {'page ' + page:40s} first {first['median_s']:7.3f} s  warm {warm['median_s']:7.3f} s",
              file=sys.stderr)
    make()  # closes the last one

    # the notebook's frames: the whole table, once (a first look; memory is benchmarks/ingest.py's)
    for name, fn in (("ws.traces() all", lambda: ws.traces()), ("ws.spans(kinds=LLM) all", lambda: ws.spans(kinds=["LLM"])),
                     ("ws.spans() all", lambda: ws.spans())):
        free, need = _available_bytes(), n_spans * FRAME_PEAK_BYTES_PER_SPAN
        if name == "ws.spans() all" and free is not None and free < 2 * need:  # shared machine: leave room
            print(f"    frame {name}: skipped, {free / 2**30:.1f} GiB available < 2 x {need / 2**30:.1f} GiB",
                  file=sys.stderr)
            continue
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rows[f"frame {name}"] = {**once(fn), "group": "frame",
                                 "peak_rss_growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) // 1024}
        print(f"    {'frame ' + name:40s} {rows[f'frame {name}']['median_s']:8.3f} s", file=sys.stderr)
    ws.close()
    return rows


# ---------------------------------------------------------------------------------------------
# Whole pages: AppTest renders and the app's cold start


PAGE_FILES = {"Home (with the changes feed)": "app.py", **{p.capitalize(): f"src/tracedesk/app/pages/{p}.py" for p in (
    "overview", "traces", "trace", "agents", "sessions", "cohorts", "evaluations", "alerts", "drift")}}


def run_apptest(path: Path, trace_id: str, n_spans: int) -> dict[str, dict[str, Any]]:
    """Each page rendered by AppTest (the whole script: widgets, data, charts) in one process, in
    navigation order: first visit, then a rerun (warm)."""
    from streamlit.testing.v1 import AppTest

    os.environ["TRACEDESK_DB"] = str(path)
    rows: dict[str, dict[str, Any]] = {}
    for page, rel in PAGE_FILES.items():
        at = AppTest.from_file(str(REPO / rel), default_timeout=600)
        if page == "Trace":
            at.query_params["trace_id"] = trace_id
        first = once(at.run)
        if at.exception:
            raise AssertionError(f"{page}: {[e.value for e in at.exception]}")
        warm = timed(at.run, 2)
        rows[f"render {page}, first"] = {**first, "group": "render-first"}
        rows[f"render {page}, warm"] = {**warm, "group": "render",
                                        "target_s": target(n_spans, PAGE_TARGET)}
        print(f"    {'render ' + page:40s} first {first['median_s']:7.3f} s  warm {warm['median_s']:7.3f} s",
              file=sys.stderr)
    return rows


@contextlib.contextmanager
def _server(path: Path) -> Iterator[tuple[str, float]]:
    """`tracedesk app --db PATH` as a user launches it (it execs the Streamlit server)."""
    sys.path.insert(0, str(REPO / "tests"))
    from browser_support import free_port  # the browser tests' helpers

    port = free_port()
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("TRACEDESK_DB", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracedesk", "app", "--db", str(path), "--no-browser", "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}", t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


#: "Usable": the title, the page navigation, the sidebar's filters (time range, cohort, model and agent
#: pickers, down to its last widget, "Clear filters"; the tag list is drawn once the page has run) and
#: the KPI tiles are on screen. The rest of the page (charts, worst cohorts, health; the landing page's
#: changes feed) may still be filling in below.
_USABLE_JS = """() => {
  const sb = document.querySelector('[data-testid="stSidebar"]');
  return !!document.querySelector('h1') && !!document.querySelector('[data-testid="stSidebarNav"]') && !!sb
    && [...sb.querySelectorAll('button')].some(b => b.innerText.includes('Clear filters'))
    && !!document.querySelector('[data-testid="stMain"] [data-testid="stMetric"]');
}"""


def run_cold_start(path: Path, pages: tuple[str, ...] = ("Overview", "")) -> dict[str, dict[str, Any]]:
    """`tracedesk app` started from nothing (a new process), Chromium already running, one page opened
    directly: seconds until the page's title is drawn, until it is usable (_USABLE_JS) and until it
    has finished running (no status widget). The Overview has no changes feed; the landing page ("")
    opens with it (benchmarks/changes.py measures the feed itself)."""
    import urllib.request

    sys.path.insert(0, str(REPO / "tests"))
    from browser_support import chromium

    rows: dict[str, dict[str, Any]] = {}
    with chromium() as browser:
        for page in pages:
            with _server(path) as (base, t0):
                while True:
                    try:
                        if urllib.request.urlopen(base + "/_stcore/health", timeout=1).read() == b"ok":
                            break
                    except OSError:
                        time.sleep(0.05)
                    if time.perf_counter() - t0 > 120:
                        raise AssertionError("streamlit did not start in 120 s")
                up = time.perf_counter() - t0
                tab = browser.new_page()  # type: ignore[attr-defined]
                tab.goto(f"{base}/{page}", timeout=600_000)
                tab.wait_for_selector("h1", timeout=600_000)
                drawn = time.perf_counter() - t0
                tab.wait_for_function(_USABLE_JS, timeout=600_000, polling=50)
                usable = time.perf_counter() - t0
                tab.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                      timeout=600_000)
                done = time.perf_counter() - t0
                tab.close()
            label = "Overview, no feed" if page == "Overview" else "landing page, with the feed" if not page else page
            for name, value, target in (("server up", up, None), ("title drawn", drawn, None),
                                        ("usable", usable, COLD_START_TARGET), ("page done", done, None)):
                rows[f"cold start: {name} ({label})"] = {"median_s": value, "best_s": value, "cpu_s": None,
                                                        "group": "cold", **({"target_s": target} if target else {})}
            print(f"    cold start {label:28s} up {up:6.2f} s  title {drawn:6.2f} s  usable {usable:6.2f} s  "
                  f"done {done:6.2f} s", file=sys.stderr)
    return rows


# ---------------------------------------------------------------------------------------------
# Output


def machine() -> dict[str, Any]:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor()
    import sqlite3

    return {"cpus": os.cpu_count(), "cpu": model, "memory_gib": round(mem, 1), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "load_average_before": [round(x, 2) for x in os.getloadavg()]}


def _code_version() -> str | None:
    """The commit, "-dirty" when the code (src/, benchmarks/*.py) differs from it: not for results files or
    the README, which every --save rewrites."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src", "benchmarks/*.py"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return (head + "-dirty" if changed else head) or None


def previous() -> dict[str, Any]:
    try:
        return json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        return {}


def ratio(now: float | None, before: float | None) -> str:
    return f"{now / before:5.2f}x" if now is not None and before else ""


def print_rows(n: int, meta: dict[str, Any], rows: dict[str, dict[str, Any]], before: dict[str, Any]) -> None:
    prev = before.get("sizes", {}).get(str(n), {}).get("ops", {})
    print(f"\n{meta['spans']:,} spans, {meta['traces']:,} traces ({n:,} requested; sample-generator traffic)")
    print(f"  {'operation':46s} {'median':>9s} {'best':>9s} {'CPU':>9s} {'target':>8s} {'vs before':>9s} "
          f"{'CPU vs':>7s}")
    for name, r in rows.items():
        target = r.get("target_s")
        flag = " MISSED" if target is not None and r["median_s"] > target else ""
        cpu = f"{r['cpu_s']:8.3f}s" if r.get("cpu_s") is not None else ""
        print(f"  {name:46s} {r['median_s']:8.3f}s {r['best_s']:8.3f}s {cpu:>9s} "
              f"{f'{target:.1f} s' if target else '':>8s} {ratio(r['median_s'], prev.get(name, {}).get('median_s')):>9s} "
              f"{ratio(r.get('cpu_s'), prev.get(name, {}).get('cpu_s')):>7s}{flag}")


def merge_sizes(results: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """This run's sizes plus the previous results' other sizes, smallest first: `--save` of one size
    (a 10M run takes an hour) keeps the others. Each size says when, at which code and by which command
    it was measured (a carried-over one keeps its own, or its file's, and is marked carried_over)."""
    sizes: dict[str, Any] = {}
    for n, size in before.get("sizes", {}).items():
        if n not in results["sizes"]:
            sizes[n] = {**{k: before.get(k) for k in ("measured", "code", "command", "machine")}, **size,
                        "carried_over": True}
    for n, size in results["sizes"].items():
        sizes[n] = {**{k: results[k] for k in ("measured", "code", "command", "machine")}, **size}
        sizes[n].pop("carried_over", None)
        old = before.get("sizes", {}).get(n)
        if old:  # a partial run (--no-queries, no --apptest): the operations it did not measure stay
            when = old.get("measured", before.get("measured"))
            kept = {name: {**r, "carried_from": r.get("carried_from", when)}
                    for name, r in old.get("ops", {}).items() if name not in size["ops"]}
            sizes[n]["ops"] = {**size["ops"], **kept}
    return {**results, "sizes": dict(sorted(sizes.items(), key=lambda item: int(item[0])))}


def _ingest_line(size: dict[str, Any]) -> str:
    ing = size.get("ingest")
    if not ing:
        return "database built before this run (no ingest figures)"
    return (f"built by `tracedesk ingest` of the generated OTLP files in {ing['wall_s']:.0f} s wall: "
            f"{ing['spans_per_cpu_s']:,} spans per CPU-second (user {ing['user_s']:.0f} s + system {ing['sys_s']:.0f} s, "
            f"the ingest process and its parse worker), peak RSS {ing['peak_rss_mb'] or 0:,.0f} MB")


def write_report(results: dict[str, Any], before: dict[str, Any]) -> None:
    """queries.json (every size: this run's and the carried-over ones) and queries.md."""
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    lines = ["# Queries and pages: every filter, every page's data, the notebook frames",
             "",
             f"Produced by `python benchmarks/queries.py ... --save` (do not edit by hand); each size says when, at which "
             "code and by which command it was measured (the machine is shared by other jobs: wall time includes "
             "waiting for a core, CPU time does not). Databases built by `tracedesk sample generate` + "
             "`tracedesk ingest`, nothing else. Median of 3 runs (filters, warm pages; one warm-up run first); "
             "*first* = one run on a workspace opened just now. \"vs before\" = this median / the previous "
             "committed median of the same size (CPU: the same for CPU time; < 1 = faster now). *warm* = the page's "
             "reads again with the same filters: the workspace keeps each result until anyone commits (the data "
             "version), so a rerun recomputes nothing.", ""]
    for n, size in results["sizes"].items():
        prev = {} if size.get("carried_over") else before.get("sizes", {}).get(n, {}).get("ops", {})
        m = size.get("machine") or {}
        load = ", ".join(map(str, m.get("load_average_before", [])))
        lines += [f"## {size['spans']:,} spans, {size['traces']:,} traces", "",
                  f"Measured {size.get('measured')} at code {size.get('code')} by `{size.get('command')}`"
                  + (" (carried over from the previous results)" if size.get("carried_over") else "")
                  + f"; {m.get('cpus')} cores ({m.get('cpu')}), {m.get('memory_gib')} GiB, Python {m.get('python')}, "
                  f"SQLite {m.get('sqlite')}; load average {load} before the run. Database "
                  f"{size['db_bytes'] / 2**30:.2f} GiB ({size['db_bytes'] / max(size['spans'], 1):,.0f} B/span), "
                  f"{_ingest_line(size)}; peak RSS of the benchmark process {size.get('peak_rss_mb', 0):,} MB.", "",
                  "| operation | median s | best s | CPU s | target s | vs before | CPU vs before |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        missed = []
        carried = sorted({r["carried_from"] for r in size["ops"].values() if r.get("carried_from")})
        for name, r in size["ops"].items():
            if r.get("carried_from"):  # compared when it was measured, not with itself
                prev_r: dict[str, Any] = {}
            else:
                prev_r = prev.get(name, {})
            goal = r.get("target_s")
            if goal is not None and r["median_s"] > goal:
                missed.append(name)
            cpu = f"{r['cpu_s']:.3f}" if r.get("cpu_s") is not None else ""
            mark = " **missed**" if name in missed else ""
            grew = f" (peak RSS +{r['peak_rss_growth_mb']:,} MB)" if r.get("peak_rss_growth_mb") is not None else ""
            dagger = " †" if r.get("carried_from") else ""
            lines.append(f"| {name}{grew}{dagger} | {r['median_s']:.3f}{mark} | {r['best_s']:.3f} | {cpu} | "
                         f"{'' if goal is None else f'{goal:.1f}'} | "
                         f"{ratio(r['median_s'], prev_r.get('median_s')).strip()} | "
                         f"{ratio(r.get('cpu_s'), prev_r.get('cpu_s')).strip()} |")
        lines += ["", "Targets missed: " + (", ".join(missed) if missed else "none") + "."]
        if carried:
            lines += ["", "† measured by an earlier run of this size (" + ", ".join(carried) + "), kept by a "
                      "partial run that did not measure it."]
        lines += [""]
    REPORT.write_text("\n".join(lines))


README_START, README_END = "<!-- queries-table:start (benchmarks/queries.py) -->", "<!-- queries-table:end -->"


def _verdict(wall: float, cpu: float | None, goal: float | None) -> str:
    if goal is None:
        return ""
    if wall <= goal:
        return f"{goal:g} s: met"
    if cpu is not None and cpu <= goal:
        return f"{goal:g} s: met in CPU, missed in wall on the shared machine"
    return f"{goal:g} s: **missed**"


def _span(rows: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return f"{hi:.2f} s" if len(values) == 1 else f"{lo:.3f}-{hi:.2f} s"


def _cell(picked: list[dict[str, Any]]) -> str:
    """What a README row says for one size: the range of medians, the largest CPU time, the verdict."""
    if not picked:
        return "-"
    worst = max(picked, key=lambda r: r["median_s"])
    cpu = max((r["cpu_s"] for r in picked if r.get("cpu_s") is not None), default=None)
    goal = max((r["target_s"] for r in picked if r.get("target_s") is not None), default=None)
    verdict = _verdict(worst["median_s"], cpu, goal)
    return (f"{_span(picked, 'median_s')} wall" + (f", at most {cpu:.2f} s CPU" if cpu is not None else "")
            + (f"; {verdict}" if verdict else ""))


def readme_table(results: dict[str, Any]) -> str:
    """The README's summary: one column per size measured (this run's and the carried-over ones), each
    target with what was measured at that size."""
    sizes = list(results["sizes"].items())
    heads = [f"{size['spans']:,} spans ({size['traces']:,} traces)" for _, size in sizes]
    out = ["Each size: " + "; ".join(
        f"{size['spans']:,} spans measured {size.get('measured')} at code {size.get('code')}, load "
        f"{', '.join(map(str, (size.get('machine') or {}).get('load_average_before', [])))} before the run"
        for _, size in sizes) + " (shared cores: CPU is the steadier figure). Targets: 1.5 s up to 1M spans, "
           "3 s at 10M; [full table](benchmarks/results/queries.md).", "",
           "| operation | " + " | ".join(heads) + " |", "|---|" + "---|" * len(sizes)]

    def row(label: str, pick: Callable[[str, dict[str, Any]], bool]) -> None:
        cells = [_cell([r for k, r in size["ops"].items() if pick(k, r)]) for _, size in sizes]
        if any(c != "-" for c in cells):
            out.append(f"| {label} | " + " | ".join(cells) + " |")

    row("every Traces-page filter but text, alone and combined (count + first page)",
        lambda k, r: r["group"] == "filter" and k != "filter text")
    row("text filter (count + first page)", lambda k, r: k == "filter text")
    row("every page's data again, same filters (kept per data version)", lambda k, r: r["group"] == "page")
    row("every page's data, first look (a workspace opened just now; no target set)",
        lambda k, r: r["group"] == "page-first")
    row("every page rendered again (AppTest, same filters)", lambda k, r: r["group"] == "render")
    row("every page rendered, first visit (AppTest; no target set)", lambda k, r: r["group"] == "render-first")
    for frame in ("ws.traces() all", "ws.spans(kinds=LLM) all", "ws.spans() all"):
        row(f"notebook frame `{frame.replace(' all', '')}`, whole table", lambda k, r, f=frame: k == f"frame {f}")
    for variant in ("Overview, no feed", "landing page, with the feed"):
        row(f"cold start (`tracedesk app`), {variant}: usable (title, navigation, filters, KPIs)",
            lambda k, r, v=variant: k == f"cold start: usable ({v})")
    ingest = [size.get("ingest") for _, size in sizes]
    if any(ingest):
        out.append("| building it: `tracedesk ingest` of the OTLP files, spans per CPU-second / peak RSS | " + " | ".join(
            f"{i['spans_per_cpu_s']:,} / {i['peak_rss_mb'] or 0:,.0f} MB" if i else "-" for i in ingest) + " |")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--out", type=Path, default=OUT, help="where the databases are built and kept")
    ap.add_argument("--apptest", action="store_true", help="also render every page under AppTest")
    ap.add_argument("--cold-start", action="store_true", help="also time the app's cold start in Chromium")
    ap.add_argument("--no-queries", action="store_true",
                    help="skip the filters, page data and frames (e.g. --apptest alone; --save keeps the saved ones)")
    ap.add_argument("--build-only", action="store_true", help="build the databases that are missing, measure nothing")
    ap.add_argument("--save", action="store_true", help="write benchmarks/results/queries.json and .md")
    ap.add_argument("--first-pages", action="store_true",
                    help="measure only the Traces page's first page under each span filter, broad and narrow values")
    args = ap.parse_args()
    before = previous()
    results: dict[str, Any] = {"command": "python benchmarks/queries.py " + " ".join(sys.argv[1:]),
                               "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "code": _code_version(), "machine": machine(), "sizes": {}}
    args.out.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        path = args.out / f"queries_{n}.db"
        built = build(path, n) if not path.exists() else built_before(path)
        if args.build_only:
            continue
        with tracedesk.open(str(path)) as ws:
            count = lambda table: ws.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: E731
            meta = {"spans": count("spans"), "traces": count("traces"), "evaluations": count("evaluations"),
                    "db_bytes": path.stat().st_size, **built}
            tid = ws.traces(limit=1, offset=ws.count_traces() // 2)["trace_id"].iloc[0]
        print(f"{n:,} spans: {meta}", file=sys.stderr)
        if args.first_pages:
            with tracedesk.open(str(path)) as ws:
                rows = run_first_pages(ws, n)
        else:
            rows = {} if args.no_queries else run_queries(path, n)
        if args.apptest:
            rows.update(run_apptest(path, tid, n))
        if args.cold_start:
            rows.update(run_cold_start(path))
        meta["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        results["sizes"][str(n)] = {**meta, "ops": rows}
        print_rows(n, meta, rows, before)
    if args.save:
        merged = merge_sizes(results, before)
        write_report(merged, before)
        wrote = replace_between(REPO / "README.md", README_START, README_END, readme_table(merged))
        print(f"\nwrote {RESULTS.relative_to(REPO)} and {REPORT.relative_to(REPO)}"
              + (" and the README's queries table" if wrote else ""))


if __name__ == "__main__":
    main()
