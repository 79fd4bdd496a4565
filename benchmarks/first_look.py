"""First look benchmark: the data calls of Home / Overview / Cohorts on a workspace opened just now, and
(--launch) the app's launch up to the first useful paint, step by step, in CPU time as well as wall.

Data calls: each call runs once in a fresh process (nothing kept on the connection yet), in the order the
pages make them, then once more (warm: the page reads kept per data version). Prints CPU and wall seconds
per call; on a machine shared with other jobs CPU time is the figure to compare.

    python benchmarks/first_look.py DB [--calls refused_trace_ids,kpis,worst_cohorts,...]

Launch: `tracedesk app --db DB` started from nothing (a new process; Chromium already running), one page
opened directly, as benchmarks/queries.py --cold-start does: seconds until the server answers, until the
page's title is drawn, until it is usable (title, navigation, filters, KPI tiles) and until its run is
done; beside each, the CPU seconds the server process (all its threads; not its children, such as the
launcher's first-paint process, app/first_paint.py: time `python -m tracedesk.app.first_paint DB` apart)
and the browser's processes had used by then, and the load average when the launch started; "key figures received" is when the websocket frame
carrying the last KPI tile reached the browser (the server's part of "usable"). With several --src trees the launches
alternate between them (A B A B ...), so a change in the machine's load hits each variant alike: compare
the variants' medians, and their CPU rather than their wall on a shared machine.

    python benchmarks/first_look.py DB --launch [--pages Overview,] [--repeat 3] [--src /other/src ...]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: "Usable" as benchmarks/queries.py --cold-start counts it: the title, the page navigation, the
#: sidebar's filters down to "Clear filters" and the KPI tiles are on screen.
USABLE_JS = """() => {
  const sb = document.querySelector('[data-testid="stSidebar"]');
  return !!document.querySelector('h1') && !!document.querySelector('[data-testid="stSidebarNav"]') && !!sb
    && [...sb.querySelectorAll('button')].some(b => b.innerText.includes('Clear filters'))
    && !!document.querySelector('[data-testid="stMain"] [data-testid="stMetric"]');
}"""
DONE_JS = "!document.querySelector('[data-testid=\"stStatusWidget\"]')"
STEPS = ("server up", "title drawn", "key figures received", "usable", "page done")
_TICKS = os.sysconf("SC_CLK_TCK")
KPI_TILES: tuple[tuple[str, str, Any], ...] = ()


def data_calls(db_path: str, names: list[str], parser: argparse.ArgumentParser) -> None:
    import tracedesk
    from tracedesk.analysis import metrics
    from tracedesk.store import eval_views, samples

    ws = tracedesk.open(db_path)
    db = ws.db
    calls: dict[str, Callable[[], Any]] = {
        "refused_trace_ids": lambda: samples.refused_trace_ids(db),
        "kpis": lambda: metrics.kpis(db),
        "worst_cohorts": lambda: metrics.worst_cohorts(db),
        "cohort_matrix": lambda: metrics.cohort_matrix(db, "model"),
        "timeseries": lambda: metrics.timeseries(db),
        "health": lambda: metrics.monitoring_health(db),
        "eval_summary": lambda: metrics.eval_summary(db),
        # the Evaluations page's reads (store level: the workspace would keep them)
        "eval_names": lambda: eval_views.evaluated_names(db),
        "eval_score_counts": lambda: eval_views.score_counts(db, (eval_views.evaluated_names(db) or [""])[0], "route"),
        "eval_review_queue": lambda: eval_views.review_rows(db, 100),
        # the page's rules table through the workspace, as the page reads it (warm: kept, or not)
        "eval_pass_rules": lambda: ws.evals.pass_rules(),
    }
    unknown = [n for n in names if n not in calls]
    if unknown:
        parser.error(f"unknown call(s) {', '.join(unknown)}; valid choices: {', '.join(calls)}")
    for label in ("first", "warm"):
        for name in names:
            cpu, wall = time.process_time(), time.perf_counter()
            calls[name]()
            print(f"{label:5} {name:18} {time.process_time() - cpu:6.2f} s CPU {time.perf_counter() - wall:6.2f} s wall")


# ---------------------------------------------------------------------------------------------
# Launch


def _cpu_of(pid: int, children: bool = True) -> float:
    """CPU seconds (user + system, all threads, and with `children` the children it waited for) of a
    live process; 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15 if children else 13]) / _TICKS  # utime stime (cutime cstime)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(root: int, skip: int) -> list[int]:
    tree, out, todo = _children(), [], [root]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child != skip:
                out.append(child)
                todo.append(child)
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(db: str, src: str | None, log: Path | None) -> Iterator[tuple[str, int, float]]:
    """`tracedesk app --db DB` as a user launches it (it execs the Streamlit server), with `src` first
    on the path when given (the code under test); yields (base URL, pid, start time)."""
    port = _free_port()
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("TRACEDESK_DB", None)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])
    out = open(log, "w") if log else subprocess.DEVNULL
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "tracedesk", "app", "--db", db, "--no-browser", "--port", str(port)],
                            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}", proc.pid, t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if log:
            out.close()  # type: ignore[union-attr]


def launch_once(browser: Any, db: str, page: str, src: str | None, log: Path | None) -> dict[str, tuple[float, float, float]]:
    """{step: (wall s since launch, server CPU s, browser CPU s)} of one launch opening `page`."""
    browser_pids = _descendants(os.getpid(), skip=-1)
    browser_cpu0 = sum(_cpu_of(p) for p in browser_pids)
    steps: dict[str, tuple[float, float, float]] = {}
    with _server(db, src, log) as (base, pid, t0):
        def mark(step: str) -> None:
            browser_now = sum(_cpu_of(p) for p in _descendants(os.getpid(), skip=pid))
            steps[step] = (time.perf_counter() - t0, _cpu_of(pid, children=False), browser_now - browser_cpu0)

        while True:
            try:
                if urllib.request.urlopen(base + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.02)
            if time.perf_counter() - t0 > 120:
                raise SystemExit("streamlit did not start in 120 s")
        mark("server up")
        tab = browser.new_page()
        # the frame that carries the last KPI tile: the server has computed and sent the key figures (the
        # browser may still show them later: under load Streamlit's frontend kept its elements as
        # skeletons until the run ended)
        last_tile = KPI_TILES[-1][0].encode()

        def frame(payload: bytes | str) -> None:
            data = payload.encode() if isinstance(payload, str) else payload
            if "key figures received" not in steps and last_tile in data:
                mark("key figures received")
        tab.on("websocket", lambda ws: ws.on("framereceived", frame))
        tab.goto(f"{base}/{page}", timeout=600_000)
        tab.wait_for_selector("h1", timeout=600_000)
        mark("title drawn")
        tab.wait_for_function(USABLE_JS, timeout=600_000, polling=20)
        mark("usable")
        tab.wait_for_function(DONE_JS, timeout=600_000)
        mark("page done")
        tab.close()
    return steps


def launches(db: str, pages: list[str], srcs: list[str | None], repeat: int, logs: Path | None) -> None:
    from playwright.sync_api import sync_playwright

    global KPI_TILES
    from tracedesk.app.ui import KPI_TILES  # the tiles' labels (imports streamlit: the benchmark's process only)

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"]  # as tests/browser_support.py
    names = [src or "(installed)" for src in srcs]
    results: dict[tuple[str, str], list[dict[str, tuple[float, float, float]]]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            warm = browser.new_page()  # the browser's own first page costs something once: not in the figures
            warm.goto("about:blank")
            warm.close()
            for i in range(repeat):
                for page in pages:
                    for name, src in zip(names, srcs):
                        load = os.getloadavg()[0]
                        log = logs / f"launch_{i}_{page or 'home'}_{names.index(name)}.log" if logs else None
                        steps = launch_once(browser, db, page, src, log)
                        results.setdefault((page, name), []).append(steps)
                        print(f"run {i + 1} {page or '/':9} {name}  load {load:4.1f}  " + "  ".join(
                            f"{s} {steps[s][0]:5.2f} s (server {steps[s][1]:4.2f} CPU, browser {steps[s][2]:4.2f})" for s in STEPS if s in steps),
                            flush=True)
        finally:
            browser.close()
    print("\nmedians (wall s / server CPU s / browser CPU s):")
    for (page, name), runs in results.items():
        cells = []
        for step in STEPS:
            if not all(step in r for r in runs):
                continue
            w, c, b = (statistics.median(r[step][k] for r in runs) for k in range(3))
            cells.append(f"{step} {w:5.2f} / {c:4.2f} / {b:4.2f}")
        print(f"  {page or '/':9} {name}  n={len(runs)}  " + "  ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("db", help="a tracedesk database (read only; use a copy of a shared one)")
    parser.add_argument("--calls", default="refused_trace_ids,kpis,worst_cohorts,cohort_matrix,timeseries",
                        help="comma list, in this order")
    parser.add_argument("--launch", action="store_true", help="time the app's launch in Chromium instead")
    parser.add_argument("--pages", default="Overview,", help="pages to open, comma list ('' = the landing page)")
    parser.add_argument("--repeat", type=int, default=3, help="launches per page and --src")
    parser.add_argument("--src", action="append", default=[],
                        help="a source tree put first on PYTHONPATH (repeat for A/B; default: the code installed)")
    parser.add_argument("--logs", type=Path, help="folder for each server's output")
    args = parser.parse_args()
    if not args.launch:
        data_calls(args.db, [n for n in args.calls.split(",") if n], parser)
        return
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    launches(os.path.abspath(args.db), args.pages.split(","), args.src or [None], args.repeat, args.logs)


if __name__ == "__main__":
    main()
