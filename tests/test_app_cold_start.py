"""The app's cold start: `tracedesk app` execs the server without loading pandas first, a page's first
imports hold no chart or graph library (altair, networkx load on first use; the server's preload
imports them last), and the key figures read each order-free signal as values alone (one index for the
TTFT of every LLM span) with the very same numbers, checking no text."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tracedesk
from tracedesk import signals
from tracedesk.analysis import metrics
from tracedesk.app import serve
from tracedesk.store.query import Filters

REPO = Path(__file__).resolve().parents[1]


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=REPO).stdout.strip()


def test_the_launcher_loads_no_pandas(tmp_path) -> None:
    out = _python(f"""
import sys
from tracedesk.cli import build_parser
from tracedesk.cli.app_cmd import plan
path, cmd, build = plan(build_parser().parse_args(["app", "--db", {str(tmp_path / "x.db")!r}, "--no-browser"]))
print(build, "tracedesk.app.serve" in cmd, "pandas" in sys.modules, "sqlite_utils" in sys.modules)
""")
    assert out == "True True False False"


def test_a_pages_first_imports_hold_no_chart_or_graph_library() -> None:
    out = _python(f"""
import importlib, sys
for name in {serve.PRELOAD!r}:
    importlib.import_module(name)
from tracedesk import charts
print("altair" in sys.modules, "networkx" in sys.modules)
charts.timeseries_chart
print("altair" in sys.modules, charts.timeseries_chart is charts.workbench.timeseries_chart,
      charts.changes.signal_chart.__module__)
""")
    assert out.splitlines() == ["False False", "True True tracedesk.charts.changes"]


@pytest.mark.parametrize("page_runs, charts", [(False, True), (True, False)])
def test_the_preload_imports_the_charts_only_ahead_of_the_first_page(page_runs, charts) -> None:
    out = _python(f"""
import sys
from tracedesk.app import serve, ui
if {page_runs}:
    ui.PAGE_RUN.set()  # what ui.page_setup does
serve.preload()
print(all(m in sys.modules for m in serve.PRELOAD), "altair" in sys.modules,
      all(m in sys.modules for m in serve.PRELOAD_AFTER))
""")
    assert out == f"True {charts} {charts}"


def test_a_chart_name_that_does_not_exist_is_an_attribute_error() -> None:
    from tracedesk import charts

    with pytest.raises(AttributeError, match="no_such_chart"):
        charts.no_such_chart  # noqa: B018




def _statements(ws: tracedesk.Workspace, fn) -> list[str]:
    """The SQL `fn` runs on the workspace's connection (those run inside a SQL function start with "-- ")."""
    statements: list[str] = []
    ws.db.conn.set_trace_callback(statements.append)
    try:
        fn()
    finally:
        ws.db.conn.set_trace_callback(None)
    return statements


#: signals the key figures, time series and cohort matrices read, and span-level ones
SPECS = [{"type": s} for s in ("trace_count", "error_rate", "trace_duration", "ttft", "cost_per_trace", "quality",
                               "eval_pass_rate", "refusal_rate_trace", "tokens_per_trace")] + [
    {"type": "duration", "span_kind": "LLM"}, {"type": "error_rate", "span_kind": "TOOL"},
    {"type": "quality", "evaluator": "groundedness"}]


def _values_match(db, query_filters: Filters | None = None) -> list[int]:
    counts = []
    full_q = signals.SampleQuery({}, (), filters=query_filters)
    loose_q = signals.SampleQuery({}, (), filters=query_filters, values_only=True)
    for spec, loose in zip(SPECS, signals.samples_many(db, SPECS, loose_q)):
        full = signals.samples(db, spec, full_q)
        assert list(loose.columns) == ["v"], spec
        np.testing.assert_array_equal(np.sort(loose["v"].to_numpy()), np.sort(full["v"].to_numpy()), err_msg=str(spec))
        alone = signals.samples(db, spec, loose_q)  # read on its own: the same values (in no set order)
        np.testing.assert_array_equal(np.sort(alone["v"].to_numpy()), np.sort(loose["v"].to_numpy()))
        counts.append(len(loose))
    return counts


def test_values_alone_are_the_frames_values(copy_db) -> None:
    with tracedesk.open(copy_db) as ws:
        counts = _values_match(ws.db)
        assert all(counts), counts
        _values_match(ws.db, Filters(models=ws.values("model")[:1]))
        ttft = counts[SPECS.index({"type": "ttft"})]
    # a span and a trace without a start time are no sample, read alone or not
    with sqlite3.connect(copy_db) as conn:
        conn.execute("UPDATE spans SET start_ns = NULL WHERE rowid = (SELECT MIN(rowid) FROM spans "
                     "WHERE kind = 'LLM' AND ttft_ms IS NOT NULL)")
        conn.execute("UPDATE traces SET start_ns = NULL WHERE rowid = (SELECT MIN(rowid) FROM traces)")
    with tracedesk.open(copy_db) as ws:
        again = _values_match(ws.db)
    assert again[SPECS.index({"type": "ttft"})] == ttft - 1
    assert again[0] == counts[0] - 1


def test_values_alone_take_no_group_by() -> None:
    with pytest.raises(ValueError, match="values_only reads no group_by"):
        signals.SampleQuery({}, ("route",), values_only=True)


def test_the_key_figures_are_each_signals_figure_over_its_frame(copy_db) -> None:
    with tracedesk.open(copy_db) as ws:
        for filters in (None, Filters(models=ws.values("model")[:1])):
            got = metrics.kpis(ws.db, filters)
            for kpi, (signal, agg) in metrics.KPI_SIGNALS.items():
                frame = signals.samples(ws.db, {"type": signal}, signals.SampleQuery({}, (), filters=filters))
                want = signals.figures(frame, [agg])[agg].iloc[0]
                assert got[kpi] == (int(want) if kpi in ("traces", "traces_with_cost") else float(want)), kpi


def test_the_key_figures_load_no_text_verdicts(copy_db) -> None:
    """The refusal and PII verdicts are loaded when a text is first checked, not for every sample read."""
    refusals = {"type": "refusal_rate_answer"}
    with tracedesk.open(copy_db) as ws:  # every answer checked once: the verdicts are kept in the file
        signals.samples(ws.db, {"type": "refusal_rate_trace"}, signals.SampleQuery({}, ()))
    with tracedesk.open(copy_db) as ws:
        ws.time_bounds()
        assert [s for s in _statements(ws, lambda: ws.kpis(Filters())) if "text_verdicts" in s or "text_checks" in s] == []
        checked = _statements(ws, lambda: signals.samples(ws.db, refusals, signals.SampleQuery({}, ())))
        assert len([s for s in checked if "FROM text_verdicts WHERE checker" in s]) == 1



def test_the_key_figures_compile_no_text_check(sample_db_path) -> None:
    """The refusal detector's patterns and the PII detectors (the ingest package) load when a text is
    first checked; the sidebar's lists, the trace count and the key figures check none."""
    out = _python(f"""
import sys
import tracedesk
from tracedesk.store.query import Filters
with tracedesk.open({sample_db_path!r}) as ws:
    ws.time_bounds(), ws.values("model"), ws.count_traces(Filters()), ws.kpis(Filters())
    print("tracedesk.analysis.refusals" in sys.modules, "tracedesk.ingest.redact" in sys.modules)
    ws.signals_over_time(Filters())  # reads the refusal rate
    print("tracedesk.analysis.refusals" in sys.modules)
""")
    assert out.splitlines() == ["False False", "True"]


def test_the_phrase_setting_is_the_refusal_modules() -> None:
    from tracedesk.analysis import refusals
    from tracedesk.store import samples

    assert samples._PHRASES_SETTING == refusals.SETTING_KEY


def test_a_bad_stored_phrase_list_is_still_an_error_at_the_first_read(copy_db) -> None:
    with tracedesk.open(copy_db) as ws:
        from tracedesk import store

        store.set_setting(ws.db, "refusal_phrases", {"extra": "not a list"})
    with tracedesk.open(copy_db) as ws:
        with pytest.raises(ValueError, match="refusal_phrases.extra must be a list of phrases"):
            ws.kpis(Filters())


def test_times_and_values_alone_are_the_frames_times_and_values_in_its_order(copy_db) -> None:
    """The key figures' means and the time series read (t, v) alone: the very columns of the whole frame,
    row for row (a mean over the same floats in the same order is the same float)."""
    with tracedesk.open(copy_db) as ws:
        for filters in (None, Filters(models=ws.values("model")[:1])):
            full_q = signals.SampleQuery({}, (), filters=filters)
            timed_q = signals.SampleQuery({}, (), filters=filters, values_with_time=True)
            for spec, timed in zip(SPECS, signals.samples_many(ws.db, SPECS, timed_q)):
                full = signals.samples(ws.db, spec, full_q)
                assert len(full), spec
                np.testing.assert_array_equal(timed["t"].to_numpy(), full["t"].to_numpy(), err_msg=str(spec))
                np.testing.assert_array_equal(timed["v"].to_numpy(), full["v"].to_numpy(), err_msg=str(spec))
            frames = metrics.signal_frames(ws.db, [{"type": "cost_per_trace"}], (), filters, values_with_time=True)
            assert list(frames[0].columns) == ["t", "v"]


def test_times_and_values_alone_take_no_group_by_and_are_not_values_only() -> None:
    for kwargs in ({"group_by": ("route",)}, {"group_by": (), "values_only": True}):
        with pytest.raises(ValueError, match="values_with_time reads no group_by"):
            signals.SampleQuery({}, values_with_time=True, **{"group_by": (), **kwargs})


def test_the_servers_component_scan_runs_once_when_the_preload_says(monkeypatch) -> None:
    """Runtime's constructor asks for the scan of installed component manifests before the server listens;
    under `tracedesk app` it is kept until the preload runs it, with the arguments it was asked with."""
    from streamlit.components.v2 import component_manager as cm

    calls: list[tuple[object, dict]] = []
    monkeypatch.setattr(cm.BidiComponentManager, "discover_and_register_components",
                        lambda self, **kwargs: calls.append((self, kwargs)))
    run = serve.defer_component_scan()
    manager = cm.BidiComponentManager()
    manager.discover_and_register_components()  # what Runtime's constructor does
    assert calls == []
    run()
    assert calls == [(manager, {})]
    manager.discover_and_register_components(start_file_watching=False)  # the scan itself again, not kept
    assert calls == [(manager, {}), (manager, {"start_file_watching": False})]


def test_the_preload_runs_the_deferred_work_even_when_an_import_fails() -> None:
    ran: list[str] = []
    serve.preload(modules=("tracedesk.no_such_module",), after=(), deferred=lambda: ran.append("scan"))
    assert ran == ["scan"]


def test_the_servers_first_element_walks_no_call_stack() -> None:
    """Under `tracedesk app` (which is `streamlit run`) the "use streamlit run" warning cannot apply, so
    the first element drawn does not inspect the stack to decide it; without it, it does."""
    code = """
import streamlit as st
from streamlit import env_util
from tracedesk.app import serve
calls = []
real = env_util.is_repl
env_util.is_repl = lambda: calls.append(1) or real()
if {skip}:
    serve.skip_direct_run_warning()
st.title("x")
st.title("y")
print(len(calls))
"""
    assert _python(code.format(skip=True)) == "0"
    assert _python(code.format(skip=False)) == "1"
