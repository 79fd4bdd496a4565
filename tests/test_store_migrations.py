"""Migrations: one ordered list, applied once per process and file, safe under concurrent first opens;
databases of the previous release open and migrate; files tracedesk did not create are refused untouched."""
from __future__ import annotations

import importlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tracedesk import store
from tracedesk.errors import NotATracedeskDatabase, StoreError, TracedeskError
from tracedesk.store import migrations

connect_module = importlib.import_module("tracedesk.store.connect")  # the module, not store.connect()
SRC = Path(__file__).resolve().parents[1] / "src"

# The schema steps shipped by the previous release (0.1.0), in the order it applied them. Frozen here:
# a database that recorded exactly these must keep opening.
PREVIOUS_RELEASE = (
    "m001_spans", "m002_traces", "m003_evaluations", "m004_settings", "m101_ingest_log_messages",
    "m201_eval_cache", "m301_alert_rules", "m401_workbench_indexes", "m302_alerts_eval_index",
)


# Each child says it is ready, waits for the go file, then opens and migrates the new database: all of them
# reach BEGIN IMMEDIATE at about the same moment. (subprocess, not multiprocessing: a spawned child re-runs
# __main__, which AppTest rewrites in this pytest process.)
_CHILD = """
import json, os, sys, time
path, ready, go = sys.argv[1:4]
from tracedesk import store
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
db = store.open_database(path)
try:
    print(json.dumps({"ok": store.ensure_migrated(db, path)}))
except Exception as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
finally:
    db.close()
"""


def test_processes_opening_a_new_file_at_once_apply_each_step_once(tmp_path):
    path = str(tmp_path / "new.db")
    go = tmp_path / "go"
    n = 5
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)}
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, path, str(tmp_path / f"ready{i}"), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i in range(n)]
    while not all((tmp_path / f"ready{i}").exists() for i in range(n)):
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    go.touch()
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outcomes.append(json.loads(out))
    assert all("ok" in o for o in outcomes), outcomes
    applied = sorted(name for o in outcomes for name in o["ok"])
    assert applied == sorted(name for name, _ in store.MIGRATIONS)  # every step by exactly one process
    assert sum(1 for o in outcomes if o["ok"]) == 1  # one transaction did it all
    db = store.connect(path)
    rows = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert rows == [name for name, _ in store.MIGRATIONS]


def test_a_new_file_is_migrated_in_one_transaction(tmp_path):
    """What the race above relies on, deterministically: no step may commit (m506 used executescript,
    which COMMITs first, and a second opener then applied m506 again: UNIQUE constraint failed)."""
    db = connect_module.open_database(str(tmp_path / "one.db"))
    statements: list[str] = []
    db.conn.set_trace_callback(lambda sql: statements.append(sql.split()[0].upper()))
    assert store.migrate(db) == [name for name, _ in store.MIGRATIONS]
    assert [s for s in statements if s in ("BEGIN", "COMMIT", "ROLLBACK", "END")] == ["BEGIN", "COMMIT"]


def test_the_check_runs_once_per_process_and_file(tmp_path, monkeypatch):
    calls: list[str] = []
    real = connect_module.migrate

    def counting(db):
        calls.append("migrate")
        return real(db)

    monkeypatch.setattr(connect_module, "migrate", counting)
    path = tmp_path / "once.db"
    for _ in range(5):
        store.connect(path).close()
    assert calls == ["migrate"]
    # A file replaced at the same path (its inode may be reused) is checked and migrated again.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = store.connect(path)
    assert calls == ["migrate", "migrate"]
    assert len(store.applied_names(db)) == len(store.MIGRATIONS)


def _previous_release_db(path: Path) -> None:
    """A database as the previous release left it: its steps applied by its own loop, no header stamp."""
    steps = dict(store.MIGRATIONS)
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA journal_mode=WAL")
    db = store.sqlite_utils.Database(raw)
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_ns INTEGER)")
    for name in PREVIOUS_RELEASE:
        with db.conn:
            steps[name](db)
            db.execute("INSERT INTO _migrations VALUES (?, ?)", [name, time.time_ns()])
    # rows as the previous release wrote them: its columns only (today's writer needs later migrations' columns)
    with db.conn:
        db.execute("INSERT INTO spans (trace_id, span_id, name, start_ns, end_ns, duration_ms, kind, input_tokens, "
                   "output_tokens) VALUES ('t1', 's1', 'root', 1000, 3000000, 3.0, 'LLM', 7, 2)")
        db.execute("INSERT INTO traces (trace_id, root_span_id, span_count, input_tokens, output_tokens) "
                   "VALUES ('t1', 's1', 1, 7, 2)")
    raw.close()


def test_a_previous_release_database_opens_and_migrates(tmp_path):
    path = tmp_path / "old.db"
    _previous_release_db(path)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA application_id").fetchone()[0] == 0
    raw.close()
    assert store.is_tracedesk_db(path)

    db = store.open_existing(path)
    assert store.applied_names(db) == [n for n, _ in store.MIGRATIONS]  # the old names kept, new ones appended
    assert store.applied_names(db)[: len(PREVIOUS_RELEASE)] == list(PREVIOUS_RELEASE)
    assert db.execute("PRAGMA application_id").fetchone()[0] == store.APPLICATION_ID
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(store.MIGRATIONS)
    assert db.execute("SELECT trace_id, span_count, input_tokens, output_tokens FROM traces").fetchall() == [
        ("t1", 1, 7, 2)]
    assert store.migrate(db) == []


def test_every_shipped_step_name_is_still_listed_in_order():
    names = [n for n, _ in store.MIGRATIONS]
    assert names[: len(PREVIOUS_RELEASE)] == list(PREVIOUS_RELEASE)
    assert len(set(names)) == len(names)


def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "other.sqlite"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    raw.execute("INSERT INTO notes (body) VALUES ('keep me')")
    raw.commit()
    raw.close()
    before = path.read_bytes()
    assert not store.is_tracedesk_db(path)
    with pytest.raises(NotATracedeskDatabase, match="not a tracedesk database.*left untouched") as info:
        store.open_existing(path)
    assert isinstance(info.value, TracedeskError)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.sqlite"]


@pytest.mark.parametrize("content", [b"", b"trace_id,span_id\n1,2\n", b"SQLite format 3\x00" + b"\x00" * 20])
def test_files_that_are_not_databases_are_refused(tmp_path, content):
    path = tmp_path / "data.db"
    path.write_bytes(content)
    assert not store.is_tracedesk_db(path)
    with pytest.raises(NotATracedeskDatabase):
        store.open_existing(path)
    assert path.read_bytes() == content


def test_open_existing_needs_the_file(tmp_path):
    with pytest.raises(StoreError, match=r"No database at .*tracedesk ingest FILE --db"):
        store.open_existing(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()


def test_a_new_database_is_stamped_as_tracedesk(tmp_path):
    path = tmp_path / "fresh.db"
    store.connect(path).close()
    assert store.is_tracedesk_db(path)
    store.open_existing(path).close()


def test_connect_by_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store.connect("sqlite:///rel.db").close()
    assert store.is_tracedesk_db(tmp_path / "rel.db")
    absolute = tmp_path / "abs.db"
    store.connect(f"sqlite:///{absolute}").close()  # sqlite:////abs/path
    assert store.is_tracedesk_db(absolute)
    mem = store.connect("sqlite://:memory:")
    assert store.applied_names(mem) == [n for n, _ in store.MIGRATIONS]
    with pytest.raises(StoreError, match=r"Unsupported database URL 'clickhouse://h/db'.*sqlite:///relative"):
        store.connect("clickhouse://h/db")


def test_data_version_moves_on_any_commit(tmp_path):
    path = tmp_path / "v.db"
    reader = store.connect(path)
    writer = store.connect(path)
    v0 = store.data_version(reader)
    assert store.data_version(reader) == v0  # reading changes nothing
    store.set_setting(writer, "k", 1)  # another connection commits
    v1 = store.data_version(reader)
    assert v1 != v0
    store.set_setting(reader, "k", 2)  # this connection commits
    assert store.data_version(reader) not in (v0, v1)


def test_migrations_module_lists_steps_from_the_feature_modules():
    steps = dict(migrations.MIGRATIONS)
    from tracedesk.store import alerts, evals, ingest, workbench

    assert steps["m101_ingest_log_messages"] is ingest.m101_ingest_log_messages
    assert steps["m201_eval_cache"] is evals.m201_eval_cache
    assert steps["m301_alert_rules"] is alerts.m301_alert_rules
    assert steps["m401_workbench_indexes"] is workbench.m401_workbench_indexes


def test_connect_never_migrates_another_applications_database(tmp_path):
    path = tmp_path / "theirs.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    raw.commit()
    raw.close()
    with pytest.raises(NotATracedeskDatabase, match=r"holds orders\), so it was left untouched"):
        store.connect(path)
    raw = sqlite3.connect(path)
    assert [r[0] for r in raw.execute("SELECT name FROM sqlite_master")] == ["orders"]
    raw.close()
    text = tmp_path / "notes.db"
    text.write_text("not sqlite at all, just some notes that happen to end in .db\n" * 5)
    with pytest.raises(NotATracedeskDatabase, match="not a tracedesk database"):
        store.connect(text)
    assert text.read_text().startswith("not sqlite")


def test_an_open_handle_is_checked_once(tmp_path, monkeypatch):
    db = store.connect(tmp_path / "h.db")
    checks: list[str] = []
    real = migrations.is_current
    monkeypatch.setattr(migrations, "is_current", lambda d: checks.append("header") or real(d))
    for _ in range(5):
        assert store.connect(db) is db  # an open Database passes through
        assert store.ensure_migrated(db) == []
    assert checks == []  # not even the header is read again for a handle already checked
    other = store.connect(tmp_path / "h.db")  # a new connection to a file this process migrated
    assert checks == ["header"]
    other.close()
