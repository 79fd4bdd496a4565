"""Trace page time on one huge trace (issue 14 item 6): the page's data calls and a full AppTest render.

    python benchmarks/trace_page.py DB [--trace-id ID] [--no-before] [--json]

`benchmarks/memory.py` runs this on its 100k-span trace and puts the figures in results/memory.md.
Measured in one process, each as wall and CPU seconds (2 shared cores: CPU time is the steadier figure):
  * before — the whole-trace view every trace got until now (ws.trace, span_tree, trajectory,
    evaluations; waterfall and graph of every span), forced by raising ui.TRACE_WHOLE_MAX_SPANS;
  * after — the paged view (ws.trace_summary, trace_page, trace_steps: one page of spans, steps counted);
  * after, opened on a link to the trace's last span (the page holding it is looked up first).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
PAGE = SRC / "tracedesk" / "app" / "pages" / "trace.py"


def _timed(fn: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, {"wall_s": round(time.perf_counter() - w0, 3), "cpu_s": round(time.process_time() - c0, 3)}


def _render(db: str, params: dict[str, str], whole_max: int | None = None) -> dict[str, float]:
    """One cold AppTest run of the Trace page (a new session: nothing in session state)."""
    from streamlit.testing.v1 import AppTest

    from tracedesk.app import ui

    os.environ["TRACEDESK_DB"] = db
    saved = ui.TRACE_WHOLE_MAX_SPANS
    if whole_max is not None:
        ui.TRACE_WHOLE_MAX_SPANS = whole_max
    try:
        at = AppTest.from_file(str(PAGE), default_timeout=900)
        for k, v in params.items():
            at.query_params[k] = v
        _, t = _timed(at.run)
    finally:
        ui.TRACE_WHOLE_MAX_SPANS = saved
    if at.exception:
        raise RuntimeError(f"the Trace page failed: {[e.value for e in at.exception]}")
    return t


def measure(db: str, trace_id: str | None = None, *, before: bool = True) -> dict[str, Any]:
    sys.path.insert(0, str(SRC))
    import tracedesk
    from tracedesk.app import ui

    ws = tracedesk.open(db)
    if trace_id is None:  # the biggest trace
        trace_id = str(ws.traces(sort="span_count", limit=1)["trace_id"].iloc[0])
    n = int((ws.trace_summary(trace_id) or {})["span_count"])
    out: dict[str, Any] = {"trace_id": trace_id, "spans": n, "whole_max": ui.TRACE_WHOLE_MAX_SPANS,
                           "page_spans": ui.TRACE_PAGE_SPANS}
    last = str(ws.trace_page(trace_id, 1, page=n - 1).spans["span_id"].iloc[0])
    ws.close()

    def data_after(span_id: str | None) -> Callable[[], object]:
        def calls() -> object:
            with tracedesk.open(db) as w:
                w.trace_summary(trace_id)
                w.trace_page(trace_id, ui.TRACE_PAGE_SPANS, span_id=span_id)
                return w.trace_steps(trace_id)
        return calls

    def data_before() -> object:
        with tracedesk.open(db) as w:
            spans = w.trace(trace_id)
            w.trace_summary(trace_id)
            w.evaluations(trace_id=trace_id)
            w.span_tree(spans)
            return w.trajectory(trace_id)

    _render(db, {})  # warm-up, untimed: imports and the app's cached workspace, as in a running server
    if before:
        out["before"] = {"data": _timed(data_before)[1],
                         "render": _render(db, {"trace_id": trace_id}, whole_max=n)}
    out["after"] = {"data": _timed(data_after(None))[1], "render": _render(db, {"trace_id": trace_id})}
    out["after_link"] = {"data": _timed(data_after(last))[1],
                         "render": _render(db, {"trace_id": trace_id, "span_id": last})}
    return out


def markdown(r: dict[str, Any]) -> list[str]:
    def cell(t: dict[str, float]) -> str:
        return f"{t['wall_s']:,.2f}s / {t['cpu_s']:,.2f}s"

    rows = [("whole trace (every trace before this release)", "before"),
            (f"one page of {r['page_spans']} spans, steps counted", "after"),
            ("the same, opened on a link to the trace's last span", "after_link")]
    lines = [f"Trace page on the trace of {r['spans']:,} spans (`python benchmarks/trace_page.py`, run by memory.py; "
             f"paged above {r['whole_max']:,} spans), wall / CPU time:", "",
             "| view | data calls | full page render (AppTest) |", "|---|---:|---:|"]
    lines += [f"| {label} | {cell(r[k]['data'])} | {cell(r[k]['render'])} |" for label, k in rows if k in r]
    if "before" in r:
        lines.append(f"\nRender CPU time {r['before']['render']['cpu_s'] / r['after']['render']['cpu_s']:,.0f}x "
                     "lower than the whole-trace view, in the same run.")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("db")
    ap.add_argument("--trace-id")
    ap.add_argument("--no-before", action="store_true", help="skip the whole-trace view (about a minute)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON (for memory.py)")
    args = ap.parse_args()
    r = measure(args.db, args.trace_id, before=not args.no_before)
    print(json.dumps(r) if args.json else "\n".join(markdown(r)), flush=True)


if __name__ == "__main__":
    main()
