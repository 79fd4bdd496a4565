"""Issue 14: the workbench is private by default (loopback only, no usage stats), and says so when exposed."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from tracedesk.cli.app_launch import exposure_warning, requested_host, streamlit_command

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> set[str]:
    """Addresses with a LISTEN socket on `port`, read from /proc/net/tcp{,6} (what `ss -ltn` shows)."""
    found = set()
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            addr_hex, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:
                continue
            raw = bytes.fromhex(addr_hex)
            if v6:
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, raw))
            else:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
    return found


def _wait_up(port: int, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise AssertionError("the app exited: " + log.read_text())
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the app did not start: " + log.read_text())


def _run_and_check(cmd: list[str], cwd: Path, env: dict[str, str], port: int, log: Path) -> str:
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        _wait_up(port, proc, log)
        assert _listening(port) == {"127.0.0.1"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    return log.read_text()


@pytest.fixture
def demo_db(tmp_path, sample_db_path):
    db = tmp_path / "demo.db"
    shutil.copy(sample_db_path, db)
    return db


def test_tracedesk_demo_listens_on_loopback_only(tmp_path, demo_db):
    port = _free_port()
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    # cwd outside the repository: the command line alone keeps it private (no .streamlit/config.toml here)
    text = _run_and_check([sys.executable, "-m", "tracedesk", "demo", "--db", str(demo_db), "--no-browser",
                           "--port", str(port)], tmp_path, env, port, tmp_path / "demo.log")
    assert "WARNING" not in text


def test_scripts_run_sh_listens_on_loopback_only(tmp_path, demo_db):
    port = _free_port()
    env = {**os.environ, "TRACEDESK_DB": str(demo_db), "TRACEDESK_RUN_SKIP_INSTALL": "1",
           "TRACEDESK_PYTHON": sys.executable}
    text = _run_and_check(["bash", str(REPO / "scripts" / "run.sh"), "--server.headless", "true",
                           "--server.port", str(port)], tmp_path, env, port, tmp_path / "run.log")
    assert "WARNING" not in text


def test_checked_in_streamlit_config_is_private():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["showEmailPrompt"] is False
    assert ".venv" in config["server"]["folderWatchBlacklist"] and config["server"]["fileWatcherType"] == "none"


def test_the_launch_command_pins_the_address_unless_the_user_names_one():
    cmd = streamlit_command("app.py", port=9000, headless=True)
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--browser.gatherUsageStats") + 1] == "false"
    exposed = streamlit_command("app.py", host="0.0.0.0")
    assert exposed[exposed.index("--server.address") + 1] == "0.0.0.0"
    passed = streamlit_command("app.py", extra=["--server.address", "10.1.2.3"])
    assert passed.count("--server.address") == 1 and passed[-1] == "10.1.2.3"
    assert requested_host(None, ["--server.address=10.1.2.3"]) == "10.1.2.3"
    assert [exposure_warning(h) is None for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "10.0.0.5",
                                                  "example.org")] == [True, True, True, False, False, False]
    assert exposure_warning("0.0.0.0").startswith("WARNING: the workbench will listen on every network interface")


def test_demo_with_host_prints_the_warning(tmp_path, demo_db, monkeypatch, capsys):
    # The exec is replaced: this checks what would be run and what is printed, without binding 0.0.0.0.
    ran = {}
    monkeypatch.setattr(os, "execve", lambda exe, cmd, env: ran.update(cmd=cmd) or (_ for _ in ()).throw(
        SystemExit(0)))
    from tracedesk.cli import main

    with pytest.raises(SystemExit):
        main(["demo", "--db", str(demo_db), "--no-browser", "--host", "0.0.0.0"])
    assert ran["cmd"][ran["cmd"].index("--server.address") + 1] == "0.0.0.0"
    assert "WARNING: the workbench will listen on every network interface" in capsys.readouterr().err
