"""`tracedesk app`: opens the workbench on any database, prints the URL, passes arguments after -- to
Streamlit, and builds the sample week only when asked or when there is no database (and says so)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tracedesk.cli import UsageError, build_parser
from tracedesk.cli.app_cmd import SAMPLE_DB, app_url, plan


def _args(*argv: str):
    return build_parser().parse_args(["app", *argv])


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_plan_uses_the_given_database_and_builds_only_when_missing(tmp_path, monkeypatch):
    existing = tmp_path / "mine.db"
    existing.write_bytes(b"")
    path, cmd, build = plan(_args("--db", str(existing), "--port", "9123", "--", "--theme.base", "dark"))
    assert (path, build) == (str(existing), False)
    assert cmd[cmd.index("--server.port") + 1] == "9123" and cmd[-2:] == ["--theme.base", "dark"]
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.fileWatcherType") + 1] == "none"
    assert cmd[cmd.index("--browser.gatherUsageStats") + 1] == "false"
    assert cmd[cmd.index("--server.showEmailPrompt") + 1] == "false"
    # a Streamlit option given after -- wins over ours
    _, cmd, _ = plan(_args("--db", str(existing), "--", "--server.fileWatcherType", "poll"))
    assert cmd.count("--server.fileWatcherType") == 1 and cmd[-1] == "poll"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACEDESK_DB", raising=False)
    assert plan(_args())[0::2] == (str(tmp_path / "tracedesk.db"), True)
    assert plan(_args("--sample"))[0::2] == (str(tmp_path / SAMPLE_DB), True)
    monkeypatch.setenv("TRACEDESK_DB", str(existing))
    assert plan(_args())[0::2] == (str(existing), False)


def test_plan_refuses_bad_input(tmp_path):
    with pytest.raises(UsageError, match="out of range"):
        plan(_args("--db", str(tmp_path / "a.db"), "--port", "0"))
    with pytest.raises(UsageError, match="does not exist"):
        plan(_args("--db", str(tmp_path / "no" / "a.db")))
    assert app_url("0.0.0.0", 8501) == "http://127.0.0.1:8501"
    assert app_url("::1", 8502) == "http://[::1]:8502"


def test_app_serves_an_existing_database_and_prints_the_url(tmp_path, sample_db_path):
    db = tmp_path / "copy.db"
    shutil.copy(sample_db_path, db)
    port = _free_port()
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("TRACEDESK_DB", None)
    log = tmp_path / "app.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tracedesk", "app", "--db", str(db), "--no-browser",
                                 "--port", str(port)], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        for _ in range(600):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.2)
        else:
            raise AssertionError(log.read_text())
        text = log.read_text()
        assert f"tracedesk workbench on {db}\n  open http://127.0.0.1:{port}  (Ctrl+C to stop)" in text
        assert "building the bundled sample" not in text  # a database was there: used as is
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"tracedesk.app.serve" in cmdline and b"--server.headless" in cmdline  # exec'd: the same process
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
