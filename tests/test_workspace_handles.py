"""The Workspace is the one handle: ws.evals / ws.alerts / ws.drift / ws.live give what the feature
functions give, cache on the data version (not mtimes), and open no connection per call."""
from __future__ import annotations

import os

import pandas as pd
import psutil
import pytest

import tracedesk
from alerts_data import WEEK_START, H, build_week
from tracedesk import store
from tracedesk.alerts import parse_rule
from tracedesk.alerts.evaluate import backtest, evaluate
from tracedesk.alerts.storage import list_rules, save_rule
from tracedesk.drift import drift_report
from tracedesk.evals import results
from tracedesk.receiver.live import live_activity

RULE = {"tracedesk_alert": 1, "name": "low-groundedness", "window": "1h", "step": "15m",
        "condition": {"signal": {"type": "eval_score", "evaluator": "groundedness"}, "aggregation": "mean",
                      "comparator": "<", "threshold": 0.8}}


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("handles") / "week.db")
    build_week(path, hours=72)
    return path


@pytest.fixture
def week_copy(week, tmp_path):
    import shutil

    src = store.connect(week)
    src.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    src.close()
    path = str(tmp_path / "copy.db")
    shutil.copy(week, path)
    return path


def test_handles_give_what_the_feature_functions_give(week):
    rule = parse_rule(RULE)
    ws = tracedesk.open(week)
    assert ws.alerts.backtest(rule).summary() == backtest(week, rule).summary()
    assert ws.alerts.evaluate(rule) == evaluate(week, rule)
    a = ws.drift.report("12h", dimension="route")
    b = drift_report(week, "12h", dimension="route")
    assert a.to_dict(series=False) == b.to_dict(series=False)
    frame = results.scores(store.connect(week))
    assert ws.evals.scores().equals(frame)
    # the page's aggregates (grouped in SQLite) equal the same figures over every evaluation row
    pd.testing.assert_frame_equal(ws.evals.by_cohort("groundedness", "route"),
                                  results.by_cohort(frame[frame["name"] == "groundedness"], "route"), rtol=1e-12)
    pd.testing.assert_frame_equal(ws.evals.review_queue(10), results.review_queue(frame, 10))
    assert ws.live.activity().received_spans == live_activity(week).received_spans == 0
    assert ws.live.status() is None
    assert "route" in ws.drift.dimensions() and "groundedness score" in [c.label for c in ws.alerts.signal_choices()]
    assert ws.alerts.dimension_values("route") == ["billing", "refunds"]
    ws.close()


def test_results_are_cached_until_anyone_commits(week_copy):
    rule = parse_rule(RULE)
    ws = tracedesk.open(week_copy)
    first = ws.alerts.backtest(rule)
    assert ws.alerts.backtest(rule) is first  # the same data: the kept result
    report = ws.drift.report("12h", dimension="route")
    assert ws.drift.report("12h", dimension="route") is report
    mtime = os.stat(week_copy).st_mtime_ns
    other = store.connect(week_copy)  # another connection (a CLI run, the receiver) commits
    save_rule(other, parse_rule({**RULE, "name": "from-elsewhere"}))
    other.close()
    assert os.stat(week_copy).st_mtime_ns == mtime  # a WAL commit leaves the main file alone...
    assert ws.alerts.backtest(rule) is not first  # ...but the cache notices
    assert [r.name for r in ws.alerts.list()] == ["from-elsewhere"]
    again = ws.drift.report("12h", dimension="route")
    assert again is not report and again.to_dict(series=False) == report.to_dict(series=False)
    ws.close()


def _open_fds() -> int:
    return psutil.Process().num_fds()


def _db_handles(path: str) -> int:
    real = os.path.realpath(path)
    return sum(1 for f in psutil.Process().open_files() if f.path.startswith(real))


def test_many_calls_open_no_connections(week_copy):
    rule = parse_rule(RULE)
    ws = tracedesk.open(week_copy)
    start, end = WEEK_START + 50 * H, WEEK_START + 53 * H

    def every_method(i: int) -> None:
        ws.alerts.save(parse_rule({**RULE, "name": f"rule-{i % 3}"}))  # a write: the caches recompute
        ws.alerts.list()
        ws.alerts.get("rule-0")
        ws.alerts.backtest(rule)
        ws.alerts.evaluate(rule)
        ws.alerts.firing(rule)
        ws.alerts.signal_choices()
        ws.alerts.dimension_values("route")
        ws.drift.dimensions()
        ws.drift.report("12h", dimension="route", families=["evaluator"])
        ws.evals.catalog()
        ws.evals.scores()
        ws.evals.by_cohort("groundedness", "route")
        ws.evals.review_queue(5)
        ws.evals.custom_judges()
        ws.evals.export_custom_judges()
        ws.live.status()
        ws.live.activity()
        if i % 5 == 0:
            ws.evals.run(["pii"], sample="all", limit=5)  # on the workspace's second connection
            ws.alerts.suggest(start, end, {"route": "refunds"}, max_conditions=1, top=2)
        ws.alerts.delete(f"rule-{(i + 1) % 3}")

    import gc

    every_method(0)  # warm up: imports, the second connection, lazily opened files
    gc.collect()  # garbage of earlier tests must not close descriptors while we count
    fds, handles = _open_fds(), _db_handles(week_copy)
    gc.disable()  # and nothing may rely on the collector to close what a call opened
    try:
        for i in range(1, 31):
            every_method(i)
        assert _open_fds() == fds
        assert _db_handles(week_copy) == handles
    finally:
        gc.enable()
    ws.close()
    assert _db_handles(week_copy) == 0


def test_the_live_handle_works_before_the_database_exists(tmp_path):
    from tracedesk.receiver.handle import LiveHandle

    path = tmp_path / "later.db"
    live = LiveHandle(path)
    assert live.status() is None
    assert live.activity().received_spans == 0
    assert not path.exists()  # looking never creates the database


def test_memory_workspaces_have_handles_but_no_receiver():
    ws = tracedesk.open(":memory:")
    assert ws.alerts.list() == [] and ws.evals.scores().empty
    with pytest.raises(ValueError, match="needs a database file"):
        ws.live.status()


def test_path_calls_close_the_connection_they_open(week_copy):
    """The feature functions still take a path (the CLI, scripts): each call closes what it opened, without
    waiting for the garbage collector (sqlite3 connections sit in reference cycles)."""
    import gc

    from tracedesk.alerts.builder import dimension_values, signal_choices

    rule = parse_rule(RULE)
    calls = [lambda: list_rules(week_copy), lambda: save_rule(week_copy, rule), lambda: signal_choices(week_copy),
             lambda: dimension_values(week_copy, "route"), lambda: evaluate(week_copy, rule),
             lambda: drift_report(week_copy, "12h", families=["evaluator"]), lambda: live_activity(week_copy)]
    for call in calls:
        call()
    gc.collect()
    fds = _open_fds()
    gc.disable()
    try:
        for _ in range(10):
            for call in calls:
                call()
        assert _open_fds() == fds
    finally:
        gc.enable()
