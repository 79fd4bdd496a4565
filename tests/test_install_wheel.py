"""From a built wheel, no checkout: `pip install tracedesk-*.whl` (no extras, dependencies from the registry)
into a fresh virtualenv gives a working `tracedesk`: --help, ingest, the judge command naming the
[judges] extra (litellm is not installed), export, and `tracedesk app`, whose pages render in Chromium —
including the Sessions page and the user / tag filters."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import sessions_data as data
from browser_support import free_port as _free_port
from test_browser import browser, load  # noqa: F401 - `browser` is a fixture

pytestmark = [pytest.mark.slow, pytest.mark.browser]
REPO = Path(__file__).resolve().parents[1]


def _run(venv: Path, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TRACEDESK_DB", "VIRTUAL_ENV")}
    proc = subprocess.run([str(venv / "bin" / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    if check:
        assert proc.returncode == 0, (args, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src-copy"  # build from a clean copy: no egg-info or build/ of the checkout leaks in
    src.mkdir()
    for name in ("pyproject.toml", "MANIFEST.in", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp / "dist")], check=True, cwd=tmp)
    wheel = next((tmp / "dist").glob("tracedesk-*.whl"))
    venv = tmp / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    _run(venv, "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel), cwd=tmp)
    work = tmp / "work"  # run from a folder with no checkout (and no .streamlit/config.toml)
    work.mkdir()
    return venv, work


def test_lean_install_cli(installed):
    venv, work = installed
    probe = _run(venv, "python", "-c", "import importlib.util as u; print([m for m in ('litellm', 'grpc', "
                 "'pyarrow', 'tracedesk') if u.find_spec(m)])", cwd=work)
    assert probe.stdout.split() == ["['pyarrow',", "'tracedesk']"]  # no extra came along (pyarrow: streamlit's)
    help_text = _run(venv, "tracedesk", "--help", cwd=work).stdout
    assert all(f" {c} " in help_text or f"{{{c}" in help_text or f",{c}" in help_text
               for c in ("ingest", "serve", "app", "export", "eval", "demo"))
    data.write(work / "turns.jsonl")
    ingest = _run(venv, "tracedesk", "ingest", "turns.jsonl", "--db", "my.db", cwd=work)
    assert "traces: 6   spans: 6 (new 6" in ingest.stdout and "evaluations: 3" in ingest.stdout
    judge = _run(venv, "tracedesk", "eval", "run", "--db", "my.db", "--evaluator", "groundedness", "--model",
                 "gpt-4o-mini", cwd=work, check=False)
    assert judge.returncode == 3 and "pip install 'tracedesk[judges]'" in judge.stderr, judge.stderr
    _run(venv, "tracedesk", "export", "--db", "my.db", "--what", "traces", "--filter", "user_id=bob",
         "-o", "bob.csv", cwd=work)
    assert len((work / "bob.csv").read_text().splitlines()) == 3  # header + bob's 2 turns
    parquet = _run(venv, "tracedesk", "export", "--db", "my.db", "--filter", "tag=beta", "-o", "x.parquet", cwd=work)
    assert f"wrote 2 spans to x.parquet (parquet, 1 chunk(s))" in parquet.stderr


def test_tracedesk_app_renders_in_chromium(installed, browser):  # noqa: F811
    venv, work = installed
    db = work / "app.db"
    if not db.exists():
        data.write(work / "turns.jsonl")
        _run(venv, "tracedesk", "ingest", "turns.jsonl", "--db", str(db), cwd=work)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TRACEDESK_DB", "VIRTUAL_ENV")}
    log = open(work / "app.log", "w+")
    proc = subprocess.Popen([str(venv / "bin" / "tracedesk"), "app", "--db", str(db), "--no-browser", "--port",
                             str(port)], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if urllib.request.urlopen(base + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                assert proc.poll() is None, (work / "app.log").read_text()
                time.sleep(0.2)
        else:
            raise AssertionError("tracedesk app did not start: " + (work / "app.log").read_text())
        out = (work / "app.log").read_text()
        assert f"open {base}" in out and str(db) in out
        assert "Investigate" in load(browser, base, "Investigate", "wheel_home")
        text = load(browser, f"{base}/Sessions?session=conv-a", "Where is my order 1042?", "wheel_sessions")
        assert "It shipped on Monday." in text and "helpfulness 0.90" in text
        assert "2 traces match" in load(browser, f"{base}/Traces?tag=beta", "traces match", "wheel_tag")
        assert "2 traces match" in load(browser, f"{base}/Traces?user_id=bob", "traces match", "wheel_user")
        load(browser, f"{base}/Evaluations", "pip install 'tracedesk[judges]'", "wheel_evaluations")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
