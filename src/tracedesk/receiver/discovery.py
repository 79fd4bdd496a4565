"""Finding, starting and stopping a receiver for a database file.

A running receiver writes a small status file next to its database (`<db>.receiver.json`: host, port,
pid, started, counters) and removes it on a clean exit. The app reads it to show the endpoint, and checks
that the process is alive and answers `GET /health` for the same database, so a stale file left by a
crash reads as "not running". `start_receiver` launches `tracedesk serve` as a detached subprocess.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from ..errors import ReceiverError

STATUS_SUFFIX = ".receiver.json"
LOG_SUFFIX = ".receiver.log"

#: receivers started by this process, by pid: kept so they can be reaped when stopped (no zombies)
_CHILDREN: dict[int, subprocess.Popen] = {}


@dataclass
class ReceiverInfo:
    host: str
    port: int
    pid: int
    started_ns: int
    db: str
    token_required: bool = False
    counts: dict[str, int] | None = None
    writer: dict[str, Any] | None = None
    last_request_ns: int | None = None
    grpc_port: int | None = None  # the OTLP/gRPC listener, when one runs

    @property
    def endpoint(self) -> str:
        """What to put in OTEL_EXPORTER_OTLP_ENDPOINT (exporters append /v1/traces, /v1/logs)."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"  # a wildcard bind is reachable on loopback
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def traces_url(self) -> str:
        return f"{self.endpoint}/v1/traces"


def status_path(db_path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(str(db_path)) + STATUS_SUFFIX)


def log_path(db_path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(str(db_path)) + LOG_SUFFIX)


def write_status(db_path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Atomically replace the status file (readers never see half a file)."""
    path = status_path(db_path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))
    os.replace(tmp, path)


def remove_status(db_path: str | os.PathLike[str], pid: int | None = None) -> None:
    """Remove the status file, only if it is ours (`pid`) when given."""
    path = status_path(db_path)
    try:
        if pid is not None and json.loads(path.read_text()).get("pid") != pid:
            return
        path.unlink()
    except (FileNotFoundError, ValueError):
        pass


def read_status(db_path: str | os.PathLike[str]) -> ReceiverInfo | None:
    """The status file's content, without checking the receiver is alive."""
    try:
        doc = json.loads(status_path(db_path).read_text())
        return ReceiverInfo(
            host=str(doc["host"]), port=int(doc["port"]), pid=int(doc["pid"]),
            started_ns=int(doc["started_ns"]), db=str(doc["db"]),
            token_required=bool(doc.get("token_required")), counts=doc.get("counts"),
            writer=doc.get("writer"), last_request_ns=doc.get("last_request_ns"),
            grpc_port=doc.get("grpc_port"),
        )
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited child not yet reaped) still answers kill(0); ask /proc where available.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def health(info: ReceiverInfo, timeout: float = 1.0) -> dict[str, Any] | None:
    """GET /health from a receiver; None when nothing answers."""
    try:
        with urllib.request.urlopen(f"{info.endpoint}/health", timeout=timeout) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def find_receiver(db_path: str | os.PathLike[str]) -> ReceiverInfo | None:
    """The receiver serving this database, if one is running (alive and answering for this file)."""
    info = read_status(db_path)
    if info is None or not _pid_alive(info.pid):
        return None
    answer = health(info)
    if not answer or answer.get("instance") != instance_id(info.pid, db_path):
        return None
    return info


def instance_id(pid: int, db_path: str | os.PathLike[str]) -> str:
    """What /health answers instead of the database path: enough to recognise a receiver, not to locate
    the data."""
    import hashlib

    return hashlib.blake2b(f"{pid}\x1f{os.path.abspath(str(db_path))}".encode(), digest_size=16).hexdigest()


class ReceiverStartError(ReceiverError):
    """`tracedesk serve` did not come up; the message carries the end of its log."""


def start_receiver(
    db_path: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 4318,
    token: str | None = None,
    max_body_mb: float | None = None,
    wait: float = 20.0,
) -> ReceiverInfo:
    """Start `tracedesk serve` for this database in the background and wait until it answers.

    Returns the running receiver (an already running one is returned as is). Its output goes to
    `<db>.receiver.log`. The process outlives the caller (the app can be restarted without losing it).
    """
    running = find_receiver(db_path)
    if running is not None:
        return running
    cmd = [sys.executable, "-m", "tracedesk", "serve", "--db", os.path.abspath(str(db_path)),
           "--host", host, "--port", str(port)]
    if max_body_mb is not None:
        cmd += ["--max-body-mb", str(max_body_mb)]
    env = dict(os.environ)
    if token:
        env["TRACEDESK_TOKEN"] = token  # not on the command line, where `ps` would show it
    logfile = open(log_path(db_path), "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
    finally:
        logfile.close()
    _CHILDREN[proc.pid] = proc
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _CHILDREN.pop(proc.pid, None)
            raise ReceiverStartError(f"`tracedesk serve` exited with code {proc.returncode}: "
                                     f"{_log_tail(db_path)}")
        info = read_status(db_path)
        if info is not None and info.pid == proc.pid and health(info, timeout=0.5):
            return info
        time.sleep(0.1)
    proc.terminate()
    proc.wait()
    _CHILDREN.pop(proc.pid, None)
    raise ReceiverStartError(f"`tracedesk serve` did not answer within {wait:.0f}s: {_log_tail(db_path)}")


def stop_receiver(db_path: str | os.PathLike[str], wait: float = 30.0) -> bool:
    """Ask the receiver for this database to stop (SIGTERM: it flushes, then exits).

    Returns True if one was running and has exited.
    """
    info = find_receiver(db_path)
    if info is None:
        return False
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        _reap(info.pid)
        if not _pid_alive(info.pid):
            remove_status(db_path, info.pid)
            return True
        time.sleep(0.05)
    return False


def _reap(pid: int) -> None:
    """If the receiver is our child (started by this process), collect its exit status."""
    proc = _CHILDREN.get(pid)
    if proc is not None and proc.poll() is not None:
        del _CHILDREN[pid]


def _log_tail(db_path: str | os.PathLike[str], lines: int = 8) -> str:
    try:
        text = log_path(db_path).read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
