"""First launch: the packaged sample is found, the demo DB builds, and `tracedesk demo` runs from a wheel."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tracedesk import store
from tracedesk.cli import main
from tracedesk.sample import (app_path, build_demo_db, ensure_demo_db, sample_dir, sample_files,
                              sample_ground_truth, sample_note)

REPO = Path(__file__).resolve().parents[1]


def test_packaged_sample_found_through_importlib_resources():
    import tracedesk

    files = sample_files()
    assert [f.name for f in files] == [f"traces-2026-11-{d}.json.gz" for d in range(16, 23)]
    assert sample_dir() == Path(tracedesk.__file__).parent / "sample" / "data"
    assert sample_ground_truth()["traces"] == 3605


def test_sample_note_says_how_to_load_your_own():
    note = sample_note()
    assert "sample data" in note and "tracedesk ingest" in note and "TRACEDESK_DB" in note


def test_demo_db_is_marked_as_sample(sample_db_path):
    db = store.connect(sample_db_path)
    assert store.get_setting(db, "sample")["sample"] is True
    assert not list(Path(sample_db_path).parent.glob("*.building*"))


def test_concurrent_first_launches_publish_one_database(tmp_path, monkeypatch):
    """Two sessions building at once: both succeed, one file is published, no temporary file is left."""
    import threading

    import tracedesk.sample.demo as demo

    one_day = sample_files()[:1]
    monkeypatch.setattr(demo, "sample_files", lambda: one_day)
    target = tmp_path / "first.db"
    results, errors = [], []

    def launch() -> None:
        try:
            results.append(ensure_demo_db(str(target)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=launch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 2
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == ["first.db"]
    db = store.connect(str(target))
    assert db.execute("SELECT COUNT(*) FROM traces").fetchone()[0] == sample_ground_truth()["files"][0]["traces"]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_ensure_demo_db_leaves_an_existing_file_alone(tmp_path):
    path = tmp_path / "mine.db"
    store.connect(str(path)).conn.close()
    before = path.read_bytes()
    assert ensure_demo_db(str(path)) is False
    assert path.read_bytes() == before
    with pytest.raises(FileExistsError, match="already exists"):
        build_demo_db(str(path))


def test_app_path_is_the_packaged_entry_in_a_checkout():
    # one app for a checkout and a wheel: the entry ships inside the package
    assert app_path() == REPO / "src" / "tracedesk" / "app" / "entry" / "streamlit_app.py"


def test_sample_generate_cli(tmp_path, capsys):
    assert main(["sample", "generate", str(tmp_path / "out"), "--days", "1", "--traces-per-hour", "2",
                 "--seed", "5"]) == 0
    assert "traces" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "ground_truth.json", "incidents.json", "traces-2026-11-16.json.gz"]
    assert main(["sample", "generate", str(tmp_path / "x"), "--days", "0"]) == 2
    assert "--days must be between 1 and 366" in capsys.readouterr().err
    assert main(["sample", "generate", str(tmp_path / "x"), "--start", "16/11/2026"]) == 2
    assert "--start must be a date like 2026-11-16" in capsys.readouterr().err
    assert main(["sample", "generate", str(tmp_path / "no" / "such" / "dir")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["demo", "--db", str(tmp_path / "missing-folder" / "x.db")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_demo_runs_from_a_non_editable_wheel(tmp_path):
    """Build the wheel, install it into a plain folder, run `tracedesk demo` from there: it builds the sample
    database from the wheel's own data and serves the wheel's copy of the app."""
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("pyproject.toml", "MANIFEST.in", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "src", src / "src", ignore=ignore)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(dist)], check=True, cwd=tmp_path)
    wheel = next(dist.glob("tracedesk-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"tracedesk/sample/data/{f.name}" for f in sample_files()} <= names
    assert {"tracedesk/sample/data/ground_truth.json", "tracedesk/sample/data/incidents.json",
            "tracedesk/app/entry/streamlit_app.py", "tracedesk/app/main.py", "tracedesk/py.typed"} <= names
    pages = sorted(p.name for p in (REPO / "src/tracedesk/app/pages").glob("*.py"))
    assert pages and {f"tracedesk/app/pages/{p}" for p in pages} <= names
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, cwd=tmp_path)

    env = dict(os.environ, PYTHONPATH=str(site))
    env.pop("TRACEDESK_DB", None)
    probe = subprocess.run(
        [sys.executable, "-c", "import tracedesk, tracedesk.sample as s; print(tracedesk.__file__); "
                               "print(s.sample_files()[0]); print(s.app_path())"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    module, first_file, app = probe.stdout.split()
    for path in (module, first_file, app):
        assert Path(path).is_relative_to(site), path
    assert Path(app) == site / "tracedesk" / "app" / "entry" / "streamlit_app.py"

    db = tmp_path / "demo.db"
    port = _free_port()
    log = open(tmp_path / "demo.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "tracedesk", "demo", "--db", str(db), "--no-browser",
                             "--port", str(port)], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        healthy = False
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    healthy = r.status == 200
                    break
            except OSError:
                time.sleep(1)
        assert healthy, (tmp_path / "demo.log").read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    output = (tmp_path / "demo.log").read_text()
    assert "building it from the bundled sample week" in output
    assert f"Opening the workbench ({site / 'tracedesk' / 'app' / 'entry' / 'streamlit_app.py'})" in output
    con = store.connect(str(db))
    assert con.execute("SELECT COUNT(*) FROM traces").fetchone()[0] == sample_ground_truth()["traces"]
    assert store.get_setting(con, "sample")["sample"] is True

