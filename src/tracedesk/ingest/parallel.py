"""File ingest with parsing in a worker process: one process reads, parses and normalizes, this one writes.

Parsing and normalizing is about half of ingest CPU and the SQLite writer the other half, so on two or
more cores they overlap. The worker runs the very same file loop as the serial path (`_ingest_files`)
against a stand-in writer that ships each batch down ONE ordered, bounded queue; the writing process
replays the stream in order (add / flush / finish / progress), so batches, transactions, file
boundaries, rejected-record reports and progress are those of the serial path. Only this process
writes: an interrupted ingest keeps whole batches, exactly as before.

If the worker dies (killed, out of memory) the writer stops with an error naming the last file read;
what was stored before stays whole.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..store import ROW_SOURCE
from .result import IngestReport, ParseResult

#: batches in flight between parser and writer (bounds memory: each is `batch_size` parsed spans)
QUEUE_BATCHES = 4
#: below this many input bytes the worker costs more than it saves (process start, pickling)
MIN_PARALLEL_BYTES = 2 << 20
#: parse processes in automatic mode at most (one writer takes what they parse)
MAX_AUTO_WORKERS = 2

Progress = Callable[[int, int], None]


class _QueueWriter:
    """What `_ingest_files` needs of a BatchWriter, shipping its calls to the writing process."""

    def __init__(self, out: Any, batch_size: int, rows_ok: bool) -> None:
        self.q = out
        self.batch_size = batch_size
        self.pending = ParseResult()
        self.parent = os.getppid()
        #: ship store rows instead of Span objects (a third of the pickling, and the writer skips
        #: span_row) unless the writer needs the objects: redaction, or log messages to join into them
        self.rows_ok = rows_ok

    def put(self, item: tuple[str, Any]) -> None:
        while True:
            try:
                self.q.put(item, timeout=1.0)
                return
            except queue.Full:
                if os.getppid() != self.parent:
                    os._exit(1)  # the writing process is gone: nobody will read this

    def add(self, result: ParseResult) -> None:
        self.pending.extend(result)
        if len(self.pending.spans) >= self.batch_size:
            self._send()

    def _send(self) -> None:
        batch, self.pending = self.pending, ParseResult()
        if batch.log_messages:
            self.rows_ok = False  # from now on the writer joins messages into spans
        if self.rows_ok and batch.spans:
            from ..store import span_row

            batch.rows = [span_row(s) for s in batch.spans]
            batch.spans = []
        self.put(("add", batch))

    def flush(self) -> None:
        self._send()
        self.put(("flush", None))

    def finish(self) -> None:
        self.put(("finish", None))


def _worker(out: Any, files: list[str], dimensions: dict[str, list[str]], batch_size: int, total: int,
            max_inflate_ratio: int, rows_ok: bool) -> None:
    """Read `files` (this worker's share, in order) one by one, each ended by a ("file_end", ...) message:
    the writer takes the files of all workers in the input's order, so it must know where each ends."""
    from .pipeline import _fewer_gc_passes, _ingest_files
    from .normalize import Normalizer

    try:
        with _fewer_gc_passes():
            writer = _QueueWriter(out, batch_size, rows_ok)
            normalizer = Normalizer(dimensions)
            for f in files:
                report = IngestReport()
                # progress within this file; the writer adds the bytes of the files before it
                _ingest_files([Path(f)], normalizer, writer, report,
                              lambda done, tot: writer.put(("progress", done)), total, max_inflate_ratio)
                writer.put(("file_end", (report.files, report.bytes_read, report.rejected)))
    except BaseException as exc:  # noqa: BLE001 - reported to the writer, which raises it
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def _can_fork() -> bool:
    # fork starts the worker without re-importing anything; with other threads running (the app, a
    # notebook kernel) a forked child may inherit a lock another thread held
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def _context() -> Any:
    # spawn only where there is no fork (Windows): it re-runs the parent's __main__ in the child
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def use_worker(files: list[Path], total: int, workers: int | None) -> bool:
    """workers=None: automatic (two or more cores, enough input, and a single-threaded process that can
    fork: a command-line ingest); 0: never; >=1: always (the caller's choice)."""
    if workers is not None:
        return workers > 0
    return (os.cpu_count() or 1) >= 2 and total >= MIN_PARALLEL_BYTES and bool(files) and _can_fork()


def worker_count(files: list[Path], workers: int | None) -> int:
    """Parse processes for these files (use_worker said yes): the caller's number, or automatically one
    per core beside the writer's, up to MAX_AUTO_WORKERS; never more than there are files (a file is
    read by one worker). On 2 cores that is one: a second parser there can gain at most ~10% wall (the
    bound is all processes' CPU / 2) and was not measurable on the shared machine (ingest_profile.md)."""
    wanted = workers if workers is not None else min(MAX_AUTO_WORKERS, max(1, (os.cpu_count() or 1) - 1))
    return max(1, min(wanted, len(files)))


def _rows_as_spans(rows: list[tuple[Any, ...]]) -> list[Any]:
    """Span objects back from rows a parse worker made before another worker's file stored log messages:
    the writer joins messages into Span objects (a single worker would have shipped these as spans)."""
    from ..store import span_from_row

    return [span_from_row(r) for r in rows]


def ingest_files_in_worker(files: list[Path], dimensions: dict[str, list[str]], writer: Any,
                           report: IngestReport, progress: Progress | None, total: int,
                           max_inflate_ratio: int, workers: int = 1) -> None:
    """`_ingest_files` with the reading in `workers` processes (file i read by worker i mod n) and the
    writing (this `writer`) here, file after file in the given order: the writer sees exactly the stream
    of batches one parser would send, so what is stored (the per-scope dictionaries trained on the first
    rows seen included) does not depend on the number of workers."""
    ctx = _context()
    rows_ok = not writer.redact and not writer.logs_stored
    n = max(1, min(workers, len(files)))
    queues = [ctx.Queue(QUEUE_BATCHES) for _ in range(n)]
    procs = [ctx.Process(target=_worker, args=(queues[k], [str(f) for f in files[k::n]], dimensions,
                                                writer.batch_size, total, max_inflate_ratio, rows_ok),
                         daemon=True, name=f"tracedesk-ingest-parse-{k}") for k in range(n)]
    for proc in procs:
        proc.start()
    last_file = "(before the first file)"
    done_before = 0
    try:
        for i, path in enumerate(files):
            q, proc = queues[i % n], procs[i % n]
            while True:
                try:
                    kind, payload = q.get(timeout=1.0)
                except queue.Empty:
                    if not proc.is_alive():
                        raise RuntimeError(f"the ingest parse worker stopped (exit code {proc.exitcode}) after "
                                           f"{last_file}; what was stored before is whole: run the same "
                                           f"ingest again to finish (nothing is stored twice)") from None
                    continue
                if kind == "add":
                    if payload.spans:
                        last_file = payload.spans[-1].source or last_file
                    elif payload.rows:
                        last_file = payload.rows[-1][ROW_SOURCE] or last_file
                        if writer.logs_stored:  # an earlier file (another worker's) held log messages
                            payload.spans, payload.rows = _rows_as_spans(payload.rows), []
                    writer.add(payload)
                elif kind == "flush":
                    writer.flush()
                elif kind == "finish":
                    writer.finish()
                elif kind == "progress":
                    report.bytes_read = done_before + payload
                    if progress:
                        progress(done_before + payload, total)
                elif kind == "file_end":
                    files_read, bytes_read, rejected = payload
                    report.files += files_read
                    report.rejected.extend(rejected)
                    done_before += bytes_read
                    report.bytes_read = done_before
                    last_file = str(path)
                    break
                else:
                    raise RuntimeError(f"the ingest parse worker failed: {payload}")
    except BaseException:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        raise
    finally:
        for proc, q in zip(procs, queues):
            proc.join(timeout=10)
            q.close()
