"""The server reads a page's first paint ahead (app/serve.py -> ui.read_ahead) while the browser loads
Streamlit's scripts: the sidebar's option lists, the trace count and the key figures of the unfiltered
view land in the app's cached workspace, and the page opened next takes them from it instead of reading
again; a page that starts while the read is in progress draws its title, then waits for that read and
takes its result. A missing or empty database is left alone. Event orders and call counts, no clock."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import tracedesk
from tracedesk.analysis import metrics
from tracedesk.app import ui
from tracedesk.store.query import Filters

REPO = Path(__file__).resolve().parents[1]
OVERVIEW = str(REPO / "src/tracedesk/app/pages/overview.py")
STEPS = ["is_empty", "time_bounds", "sidebar_options", "evaluator_names", "count_traces", "kpis"]


def _overview(db: str, monkeypatch) -> AppTest:
    monkeypatch.setenv("TRACEDESK_DB", db)
    at = AppTest.from_file(OVERVIEW, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_page_after_a_read_ahead_reads_no_key_figure_or_option_list_again(copy_db, spies, monkeypatch):
    monkeypatch.setenv("TRACEDESK_DB", copy_db)
    assert ui.read_ahead() == STEPS
    ahead = list(spies)
    assert ahead.count("kpis") == 1 and "values:kind" in ahead and "values:model" in ahead
    assert "values:tag" not in ahead  # the tag picker is drawn after the page (deferred_widgets)
    at = _overview(copy_db, monkeypatch)
    assert spies[len(ahead):] == ["values:tag"]  # the page's own reads: only the deferred tag list
    with tracedesk.open(copy_db) as ws:
        want = {label: fmt(value) for label, key, fmt in ui.KPI_TILES for value in [ws.kpis(Filters())[key]]}
    shown = {}
    for m in at.metric:
        shown.setdefault(m.label, m.value)
    assert {label: shown[label] for label in want} == want


def test_a_page_started_during_the_read_draws_its_title_and_filters_then_takes_the_reads_result(copy_db, spies, monkeypatch):
    monkeypatch.setenv("TRACEDESK_DB", copy_db)
    events: list[str] = []
    reading, titled = threading.Event(), threading.Event()
    real_kpis = metrics.kpis  # the counting spy

    def held_kpis(db, filters=None):  # the read ahead's key figures, held until the page has drawn its filters
        events.append("read ahead: key figures start")
        reading.set()
        assert titled.wait(60), "the page never drew its filters"
        result = real_kpis(db, filters)
        events.append("read ahead: key figures end")
        return result
    monkeypatch.setattr(metrics, "kpis", held_kpis)
    ahead = threading.Thread(target=ui.read_ahead)
    ahead.start()
    assert reading.wait(60)
    monkeypatch.setattr(metrics, "kpis", real_kpis)  # a read by the page itself would be counted, not held
    real_setup = ui.page_setup

    def page_setup(title: str) -> None:
        real_setup(title)
        events.append("page: title")
    monkeypatch.setattr(ui, "page_setup", page_setup)
    real_filters = ui.sidebar_filters

    def sidebar_filters(ws, **kwargs):
        chosen = real_filters(ws, **kwargs)
        events.append("page: filters")
        titled.set()  # the read ahead goes on once the page has drawn its filters
        return chosen
    monkeypatch.setattr(ui, "sidebar_filters", sidebar_filters)
    at = _overview(copy_db, monkeypatch)
    ahead.join(60)
    # the key figures are read on a connection of their own: the page's filters are drawn meanwhile
    assert events == ["read ahead: key figures start", "page: title", "page: filters", "read ahead: key figures end"]
    assert spies.count("kpis") == 1  # the page took the read's result
    assert any(m.label == "Traces" for m in at.metric)


def test_a_missing_database_is_not_created_and_an_empty_one_is_only_probed(tmp_path, spies, monkeypatch):
    missing = tmp_path / "missing.db"
    monkeypatch.setenv("TRACEDESK_DB", str(missing))
    assert ui.read_ahead() == []
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    tracedesk.open(str(empty), create=True).close()
    assert ui.read_ahead(str(empty)) == ["is_empty"]
    assert spies == []


@pytest.mark.parametrize("page_runs", [False, True])
def test_the_server_reads_ahead_only_while_no_page_runs(copy_db, page_runs) -> None:
    out = subprocess.run([sys.executable, "-c", f"""
import os
os.environ["TRACEDESK_DB"] = {copy_db!r}
from tracedesk.app import serve, ui
from tracedesk.store.query import Filters
if {page_runs}:
    ui.PAGE_RUN.set()  # what ui.page_setup does
serve.preload()
ws = ui.open_workspace({copy_db!r})
print(any(key[0] == "kpis" for key in ws._memo), ("time_bounds",) in ws._memo)
"""], capture_output=True, text=True, check=True, cwd=REPO).stdout.strip().splitlines()[-1]
    assert out == f"{not page_runs} {not page_runs}"


def test_key_figures_read_ahead_across_a_write_are_not_kept(copy_db, monkeypatch):
    real_kpis = metrics.kpis

    def kpis_then_a_write(db, filters=None):
        result = real_kpis(db, filters)
        with sqlite3.connect(copy_db) as other:  # another writer commits while the figures are read
            other.execute("UPDATE traces SET cost_usd = 1.5 WHERE rowid = (SELECT MIN(rowid) FROM traces)")
        return result
    monkeypatch.setattr(metrics, "kpis", kpis_then_a_write)
    with tracedesk.open(copy_db) as ws:
        assert ws.read_ahead_kpis(Filters()) is False
        assert not any(key[0] == "kpis" for key in ws._memo)
        monkeypatch.setattr(metrics, "kpis", real_kpis)
        assert ws.read_ahead_kpis(Filters()) is True
        with tracedesk.open(copy_db) as fresh:
            assert ws.kpis(Filters()) == fresh.kpis(Filters())  # the kept figures are the data's
        assert ws.read_ahead_kpis(Filters()) is False  # kept already: nothing read
