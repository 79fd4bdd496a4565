"""The launcher reads a page's first paint in a process of its own (app/first_paint.py) while the server
starts; the server's workspace keeps those reads only if nobody committed since the launcher's watch was
opened, and a page then draws the same figures as when it reads them itself, without reading them again.
A database whose schema is not current is left to the server (the process never writes). Call counts,
kept keys and shown figures; no clock."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import tracedesk
from tracedesk.app import first_paint, ui
from tracedesk.store import migrations
from tracedesk.store.commit_watch import CommitWatch
from tracedesk.store.query import Filters

REPO = Path(__file__).resolve().parents[1]
OVERVIEW = str(REPO / "src/tracedesk/app/pages/overview.py")
FIRST_KEYS = {"has_traces", "time_bounds", "extra_dimensions", "values", "evaluator_names", "count_traces", "kpis"}


def _shown_kpis(at: AppTest) -> dict[str, str]:
    shown: dict[str, str] = {}
    for m in at.metric:
        shown.setdefault(m.label, m.value)
    return {label: shown[label] for label, _key, _fmt in ui.KPI_TILES}


def test_the_reads_are_the_pages_first_reads_and_a_page_after_them_reads_none_again(copy_db, spies, monkeypatch):
    watch = CommitWatch(copy_db)  # opened before the reads, as the launcher does
    try:
        items = first_paint.read(copy_db)
        assert {key[0] for key, _value in items} == FIRST_KEYS
        with tracedesk.open(copy_db) as own:
            want = {label: fmt(own.kpis(Filters())[key]) for label, key, fmt in ui.KPI_TILES}
            assert dict(items)[("kpis", repr(Filters()))] == own.kpis(Filters())
        monkeypatch.setenv("TRACEDESK_DB", copy_db)
        ws = ui.open_workspace(copy_db)
        assert ws.keep_items(items, watch.unchanged) == len(items)
    finally:
        watch.close()
    before = len(spies)
    at = AppTest.from_file(OVERVIEW, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert spies[before:] == ["values:tag"]  # only the deferred tag list: everything else was kept
    assert _shown_kpis(at) == want


def test_reads_across_a_commit_are_not_kept(copy_db):
    watch = CommitWatch(copy_db)  # opened before the reads, as the launcher does
    try:
        items = first_paint.read(copy_db)
        assert watch.unchanged()  # reading is not committing
        with sqlite3.connect(copy_db) as other:  # another writer commits before they are kept
            other.execute("UPDATE traces SET cost_usd = 1.5 WHERE rowid = (SELECT MIN(rowid) FROM traces)")
        assert not watch.unchanged()
        with tracedesk.open(copy_db) as ws:
            assert ws.keep_items(items, watch.unchanged) == 0
            assert ws.memo_items() == []
            assert ws.kpis(Filters())["cost_usd"] != dict(items)[("kpis", repr(Filters()))]["cost_usd"]
    finally:
        watch.close()


def test_a_schema_that_is_not_current_is_left_to_the_server(copy_db):
    with sqlite3.connect(copy_db) as conn:
        conn.execute(f"PRAGMA user_version = {migrations.schema_version() - 1}")
    assert first_paint.read(copy_db) == []
    with sqlite3.connect(copy_db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == migrations.schema_version() - 1  # not migrated


def test_a_missing_or_empty_database_is_not_read(tmp_path):
    missing = tmp_path / "missing.db"
    assert first_paint.EarlyRead.start(str(missing)) is None
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    tracedesk.open(str(empty), create=True).close()
    assert first_paint.read(str(empty)) == []


def test_the_process_hands_its_reads_to_the_servers_workspace(copy_db):
    early = first_paint.EarlyRead.start(copy_db)
    assert early is not None
    with tracedesk.open(copy_db) as ws:
        kept = early.adopt(ws)
        assert early.done.is_set()
        assert kept == len(first_paint.read(copy_db))
        assert ws.memo_items() and {key[0] for key, _v in ws.memo_items()} == FIRST_KEYS


def test_a_failed_process_keeps_nothing_and_releases_the_pages(copy_db, monkeypatch):
    early = first_paint.EarlyRead.start(copy_db)
    assert early is not None
    early._proc.kill()
    early._proc.wait()
    with tracedesk.open(copy_db) as ws:
        assert early.adopt(ws) == 0
        assert early.done.is_set()
        assert ws.memo_items() == []


def test_a_page_waits_for_the_reads_on_their_way_then_reads_none_again(copy_db, spies, monkeypatch):
    monkeypatch.setenv("TRACEDESK_DB", copy_db)
    early = first_paint.EarlyRead.start(copy_db)
    assert early is not None
    events: list[str] = []
    kept: list[int] = []
    monkeypatch.setattr(ui, "EARLY_READ", early)
    real_setup = ui.page_setup

    def page_setup(title: str) -> None:
        real_setup(title)
        events.append("page: title")
        # the server takes the reads over only now: the page has to wait for them
        threading.Thread(target=lambda: kept.append(early.adopt(ui.open_workspace(copy_db)))).start()
    monkeypatch.setattr(ui, "page_setup", page_setup)
    real_filters = ui.sidebar_filters

    def sidebar_filters(ws, **kwargs):
        events.append("page: filters")
        return real_filters(ws, **kwargs)
    monkeypatch.setattr(ui, "sidebar_filters", sidebar_filters)
    at = AppTest.from_file(OVERVIEW, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert events == ["page: title", "page: filters"]
    assert kept and kept[0] > 0
    assert spies == ["values:tag"]  # the page waited for the reads instead of making them
    with tracedesk.open(copy_db) as own:
        assert _shown_kpis(at) == {label: fmt(own.kpis(Filters())[key]) for label, key, fmt in ui.KPI_TILES}


@pytest.mark.parametrize("early", [True, False])
def test_the_server_reads_ahead_itself_only_when_the_process_kept_nothing(copy_db, early) -> None:
    out = subprocess.run([sys.executable, "-c", f"""
import os
os.environ["TRACEDESK_DB"] = {copy_db!r}
from tracedesk.app import serve, ui
steps = []
real = ui.read_ahead
ui.read_ahead = lambda *a, **k: steps.append(real(*a, **k))
serve.preload(early=serve.start_early_read(spare=True) if {early} else None)
ws = ui.open_workspace({copy_db!r})
print(bool(steps), any(key[0] == "kpis" for key in ws._memo), ("time_bounds",) in ws._memo)
"""], capture_output=True, text=True, check=True, cwd=REPO).stdout.strip().splitlines()[-1]
    assert out == f"{not early} True True"


def test_reading_is_not_a_commit_and_a_commit_elsewhere_is(copy_db):
    watch = CommitWatch(copy_db)
    try:
        with sqlite3.connect(copy_db) as reader:
            reader.execute("SELECT COUNT(*) FROM spans").fetchone()
        assert watch.unchanged()
        with sqlite3.connect(copy_db) as other:
            other.execute("UPDATE traces SET cost_usd = cost_usd WHERE rowid = 1")
        assert not watch.unchanged()
    finally:
        watch.close()


def test_the_process_keeps_nothing_when_someone_commits_before_its_reads_are_kept(copy_db):
    early = first_paint.EarlyRead.start(copy_db)
    assert early is not None
    with tracedesk.open(copy_db) as ws:
        real_keep = ws.keep_items

        def commit_then_keep(items, unchanged):
            with sqlite3.connect(copy_db) as other:  # after the process's reads, before they are kept
                other.execute("UPDATE traces SET cost_usd = 1.5 WHERE rowid = (SELECT MIN(rowid) FROM traces)")
            return real_keep(items, unchanged)
        ws.keep_items = commit_then_keep  # type: ignore[method-assign]
        assert early.adopt(ws) == 0
        assert early.done.is_set() and early._proc.returncode == 0
        assert ws.memo_items() == []


def test_starting_the_reads_imports_nothing_heavy_before_the_server(copy_db) -> None:
    out = subprocess.run([sys.executable, "-c", f"""
import os, sys
os.environ["TRACEDESK_DB"] = {copy_db!r}
from tracedesk.app import serve
early = serve.start_early_read(spare=True)
print(early is not None, sorted(m for m in ("pandas", "numpy", "sqlite_utils", "streamlit", "tracedesk.store") if m in sys.modules))
early.abandon()
"""], capture_output=True, text=True, check=True, cwd=REPO).stdout.strip().splitlines()[-1]
    assert out == "True []"


def test_the_reads_get_a_process_of_their_own_only_on_a_spare_core(copy_db, monkeypatch) -> None:
    from tracedesk.app import serve

    assert serve.spare_core(load=0.9, cpus=2) and serve.spare_core(load=3.0, cpus=4)
    assert not serve.spare_core(load=1.2, cpus=2) and not serve.spare_core(load=0.0, cpus=1)
    monkeypatch.setenv("TRACEDESK_DB", copy_db)
    assert serve.start_early_read(spare=False) is None
    early = serve.start_early_read(spare=True)
    assert early is not None and early.path == copy_db
    early.abandon()
    assert early.done.is_set()
