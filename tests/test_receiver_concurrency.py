"""Many exporters at once while the app reads the same file: every span stored exactly once, no errors."""
from __future__ import annotations

import http.client
import sqlite3
import threading

from receiver_support import make_receiver, span_json, stored, traces_body

CLIENTS = 12
BATCHES = 15
SPANS_PER_BATCH = 20


def _trace_id(client: int, batch: int) -> str:
    return f"{client:08x}{batch:08x}".ljust(32, "a")


def test_concurrent_exporters_and_a_reader(db_path):
    # A small batch cap so the writer commits many transactions while the reader reads (default: no wait).
    r = make_receiver(db_path, batch_spans=50)
    statuses: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS + 1)
    done = threading.Event()
    reads: list[int] = []

    def client(c: int) -> None:
        try:
            conn = http.client.HTTPConnection(r.host, r.port, timeout=120)
            start.wait()
            for b in range(BATCHES):
                tid = _trace_id(c, b)
                spans = [span_json(tid, f"{i + 1:016x}", f"c{c}b{b}s{i}",
                                   parent=None if i == 0 else f"{1:016x}")
                         for i in range(SPANS_PER_BATCH)]
                # Every third batch is re-sent: an exporter retrying must not create duplicates.
                for _ in range(2 if b % 3 == 0 else 1):
                    conn.request("POST", "/v1/traces", body=traces_body(spans),
                                 headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    resp.read()
                    with lock:
                        statuses.append(resp.status)
            conn.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append(exc)

    def reader() -> None:
        # The app's side: a plain sqlite3 connection reading while the writer commits.
        conn = sqlite3.connect(db_path, timeout=30)
        try:
            start.wait()
            while not done.is_set():
                reads.append(conn.execute("SELECT COUNT(*) FROM spans").fetchone()[0])
                conn.execute("SELECT trace_id, span_count FROM traces ORDER BY start_ns DESC LIMIT 50").fetchall()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    read_thread = threading.Thread(target=reader)
    for t in threads + [read_thread]:
        t.start()
    for t in threads:
        t.join()
    done.set()
    read_thread.join()
    r.stop()

    assert errors == []
    expected_requests = CLIENTS * (BATCHES + len(range(0, BATCHES, 3)))
    assert statuses == [200] * expected_requests
    total = CLIENTS * BATCHES * SPANS_PER_BATCH
    assert stored(db_path, "SELECT COUNT(*), COUNT(DISTINCT trace_id || span_id) FROM spans") == [(total, total)]
    assert stored(db_path, "SELECT COUNT(*), SUM(span_count), SUM(complete) FROM traces") == [
        (CLIENTS * BATCHES, total, CLIENTS * BATCHES)]
    names = {n for (n,) in stored(db_path, "SELECT name FROM spans")}
    assert names == {f"c{c}b{b}s{i}" for c in range(CLIENTS) for b in range(BATCHES)
                     for i in range(SPANS_PER_BATCH)}
    assert reads and reads == sorted(reads)  # the reader only ever saw committed, growing data
    assert r.writer.stats.spans == total + CLIENTS * len(range(0, BATCHES, 3)) * SPANS_PER_BATCH
