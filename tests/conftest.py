"""Shared fixtures. Every test uses real files under tmp_path; nothing reaches the network."""
from __future__ import annotations

import os

import pytest

# litellm must never try to download its price map in tests (and users' runs set it too).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "test.db")


@pytest.fixture(scope="session")
def sample_db_path(tmp_path_factory):
    """A database holding the bundled sample week, built once per test session (read-only use!)."""
    from tracedesk.sample import build_demo_db

    path = tmp_path_factory.mktemp("sample") / "sample.db"
    build_demo_db(str(path))
    return str(path)


@pytest.fixture
def copy_db(sample_db_path, tmp_path) -> str:
    """A private copy of the sample week's database (SQLite backup: a consistent file) for a test that writes."""
    import sqlite3

    path = tmp_path / "copy.db"
    with sqlite3.connect(sample_db_path) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    return str(path)


@pytest.fixture
def spies(monkeypatch):
    """Count the key-figure and option-list computations (the workspace calls them on a memo miss): the
    app's read-ahead tests assert which reads a page still makes."""
    from tracedesk.analysis import metrics
    from tracedesk.store import query as store_query

    calls: list[str] = []
    real_kpis, real_values = metrics.kpis, store_query.distinct_values

    def kpis(db, filters=None):
        calls.append("kpis")
        return real_kpis(db, filters)

    def distinct_values(db, name, limit=500):
        calls.append(f"values:{name}")
        return real_values(db, name, limit)
    monkeypatch.setattr(metrics, "kpis", kpis)
    monkeypatch.setattr(store_query, "distinct_values", distinct_values)
    return calls
