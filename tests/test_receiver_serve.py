"""`tracedesk serve` as a real subprocess: discovery, start/stop helpers, auth from the environment,
usage errors, and SIGTERM flushing what was accepted (nothing acknowledged with 200 is lost)."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading

import pytest

from receiver_support import span_json, stored, traces_body
from tracedesk.receiver import discovery, find_receiver, start_receiver, stop_receiver

T1 = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture(autouse=True)
def _no_receiver_left_behind(db_path):
    yield
    stop_receiver(db_path, wait=120)  # no-op when the test already stopped it


def _wait_exit(pid: int) -> int:
    """Wait for our child `tracedesk serve` (started by start_receiver) and return its exit code."""
    return discovery._CHILDREN.pop(pid).wait()


def test_start_find_stop_and_stale_status_file(db_path):
    assert find_receiver(db_path) is None
    info = start_receiver(db_path, port=0, wait=120)
    try:
        assert info.port > 0 and info.host == "127.0.0.1"
        found = find_receiver(db_path)
        assert found is not None and (found.pid, found.port) == (info.pid, info.port)
        assert found.endpoint == f"http://127.0.0.1:{info.port}"
        assert start_receiver(db_path, port=0).pid == info.pid  # already running: reused
        conn = http.client.HTTPConnection("127.0.0.1", info.port, timeout=60)
        conn.request("POST", "/v1/traces", body=traces_body([span_json(T1, "1" * 16)]),
                     headers={"Content-Type": "application/json"})
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        assert stop_receiver(db_path, wait=120) is True
    assert find_receiver(db_path) is None
    assert not discovery.status_path(db_path).exists()
    assert stored(db_path) == [(T1, "1" * 16)]
    # A status file left by a crashed receiver (its pid is gone) reads as "not running".
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    discovery.write_status(db_path, {"host": "127.0.0.1", "port": info.port, "pid": dead.pid,
                                     "started_ns": 1, "db": os.path.abspath(db_path)})
    assert discovery.read_status(db_path).pid == dead.pid
    assert find_receiver(db_path) is None
    assert stop_receiver(db_path) is False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_flushes_a_request_in_flight(db_path, sig):
    info = start_receiver(db_path, port=0, wait=120)
    body = traces_body([span_json(T1, f"{i:016x}") for i in range(1, 11)])
    with socket.create_connection(("127.0.0.1", info.port)) as sock:
        stream = sock.makefile("rb")
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode())
        assert stream.readline().startswith(b"HTTP/1.1 100")
        stream.readline()
        # The server has taken the request; now it is told to stop, before the body arrives.
        os.kill(info.pid, sig)
        sock.sendall(body)
        status = stream.readline()
    assert status.startswith(b"HTTP/1.1 200"), status
    assert _wait_exit(info.pid) == 0
    assert len(stored(db_path)) == 10
    assert not discovery.status_path(db_path).exists()
    log = discovery.log_path(db_path).read_text()
    assert "tracedesk receiver stopped: 1 requests, 10 spans stored, 0 rejected" in log


def test_nothing_acknowledged_is_lost_when_stopped_under_load(db_path):
    info = start_receiver(db_path, port=0, wait=120)
    acked: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()

    def client(c: int) -> None:
        try:
            _post_until_stopped(c)
        finally:
            enough.set()  # a client that stops early must not leave the test waiting

    def _post_until_stopped(c: int) -> None:
        for b in range(10_000):
            tid = f"{c + 1:04x}{b:028x}"
            try:
                conn = http.client.HTTPConnection("127.0.0.1", info.port, timeout=60)
                conn.request("POST", "/v1/traces", body=traces_body([span_json(tid, "1" * 16),
                                                                     span_json(tid, "2" * 16)]),
                             headers={"Content-Type": "application/json"})
                status = conn.getresponse().status
                conn.close()
            except OSError:
                return  # the server is gone
            if status == 200:
                with lock:
                    acked.append(tid)
                    if len(acked) >= 40:
                        enough.set()
            elif status == 503:
                return
            else:
                raise AssertionError(f"unexpected {status}")

    threads = [threading.Thread(target=client, args=(c,)) for c in range(4)]
    for t in threads:
        t.start()
    enough.wait()
    os.kill(info.pid, signal.SIGTERM)
    for t in threads:
        t.join()
    assert _wait_exit(info.pid) == 0
    stored_ids = {t for (t,) in stored(db_path, "SELECT trace_id FROM spans WHERE span_id = ?", ["2" * 16])}
    assert len(acked) >= 40
    assert set(acked) <= stored_ids


def test_token_from_the_environment_is_enforced(db_path):
    info = start_receiver(db_path, port=0, token="from-env", wait=120)
    try:
        assert info.token_required is True
        body = traces_body([span_json(T1, "1" * 16)])
        for headers, status in (({}, 401), ({"Authorization": "Bearer from-env"}, 200)):
            conn = http.client.HTTPConnection("127.0.0.1", info.port, timeout=60)
            conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/json", **headers})
            assert conn.getresponse().status == status
            conn.close()
        # The token never lands in the status file the app reads.
        assert "from-env" not in discovery.status_path(db_path).read_text()
    finally:
        stop_receiver(db_path, wait=120)


@pytest.mark.parametrize("args, message", [
    (["--db", "/no/such/folder/x.db"], "does not exist"),
    (["--db", ":memory:"], "must be a file"),
    (["--port", "70000"], "out of range"),
    (["--max-body-mb", "0"], "must be positive"),
    (["--max-queue-mb", "0"], "--max-queue-mb must be positive"),
    (["--max-queue-mb", "nan"], "--max-queue-mb must be positive"),
    (["--max-queue-mb", "inf"], "--max-queue-mb must be positive"),
])
def test_usage_errors_exit_2_without_traceback(db_path, args, message):
    argv = ["serve"] + (args if "--db" in args else ["--db", db_path] + args)
    proc = subprocess.run([sys.executable, "-m", "tracedesk", *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_port_in_use_is_a_usage_error(db_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "tracedesk", "serve", "--db", db_path, "--port", str(port)],
                              capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in proc.stderr and "Traceback" not in proc.stderr
