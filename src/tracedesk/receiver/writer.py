"""The receiver's single writer: one thread owns the database connection and batches inserts.

Many exporters post at once; if each request wrote on its own, SQLite would serialize them through its
file lock and, under load, some would fail with "database is locked" while the Streamlit app reads the
same file. Instead every request hands its parsed spans to this thread and waits on a Future. The thread
takes everything queued (up to `max_spans` records, optionally waiting `max_delay` for more), writes it in
ONE transaction with `store.write_batch`, and only then resolves the futures — so a request is answered
200 only after its spans are committed. This is group commit: with `max_delay=0` (the receiver's
default) a lone request is written at once, and under load the requests that arrive while one batch
commits form the next, so batches grow with the load without adding latency. The connection uses `synchronous=FULL` so a commit survives a
power cut, not only a crash of this process: what the receiver acknowledged is never lost.

The queue is bounded (`max_queued_bytes`): when clients send faster than the one writer commits, the
requests waiting for it would otherwise pile up in memory without limit. A request that would take the
bytes held for the writer (queued or being committed) over the bound is refused with `WriterBusy` before
anything of it is queued, so the caller answers "retry later" (HTTP 429 / gRPC RESOURCE_EXHAUSTED with a
retry delay) and nothing it acknowledged is ever dropped. One request is always taken when nothing is held,
however big, so a body within the size limit can never be refused forever.
"""
from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..models import Evaluation, Span
from ..errors import ReceiverError

log = logging.getLogger(__name__)


@dataclass
class WriteRequest:
    """What one HTTP request asks the writer to store."""

    spans: Sequence[Span] = ()
    evaluations: Sequence[Evaluation] = ()
    #: GenAI messages that arrived as OTLP log records (joined to their spans when written)
    log_messages: Sequence[Any] = ()
    future: Future = field(default_factory=Future)
    #: what the request weighs in the writer's queue: its (decompressed) body size in bytes
    nbytes: int = 0

    @property
    def size(self) -> int:
        return len(self.spans) + len(self.evaluations) + len(self.log_messages)


@dataclass
class WriterStats:
    """Counters the status file and the Live page show."""

    batches: int = 0
    spans: int = 0
    evaluations: int = 0
    log_messages: int = 0
    failed_requests: int = 0
    #: requests refused with WriterBusy because the queue was full (the clients retry them)
    busy_refusals: int = 0
    last_write_ns: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "spans": self.spans,
            "evaluations": self.evaluations,
            "log_messages": self.log_messages,
            "failed_requests": self.failed_requests,
            "busy_refusals": self.busy_refusals,
            "last_write_ns": self.last_write_ns,
        }


class WriterClosed(ReceiverError):
    """Raised by submit() once the writer is shutting down: the request must not be acknowledged."""


class WriterBusy(ReceiverError):
    """Raised by submit() when the queue is full: not queued, not acknowledged; retry after `retry_after` s."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: bounds of the Retry-After the writer suggests (seconds): never "at once", never so long a client drops data
MIN_RETRY_AFTER = 1
MAX_RETRY_AFTER = 30

_STOP = object()

#: (db, spans, evaluations, log_messages) -> None or [(record, Rejected)] for records the store refused
#: while storing the rest; runs inside the writer thread.
BatchFn = Callable[[Any, list[Span], list[Evaluation], list[Any]], Any]


def default_write(db: Any, spans: list[Span], evaluations: list[Evaluation], log_messages: list[Any]) -> None:
    """Write one batch through the store, without log-message joining (see adapter.StoreWriter)."""
    from .. import store

    if log_messages:
        raise ValueError("default_write cannot store log messages; use adapter.StoreWriter")
    store.write_batch(db, spans, evaluations)


class BatchWriter:
    """Owns the only write connection; call `submit()` from any thread, `close()` once to flush."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *,
        max_spans: int = 5000,
        max_delay: float = 0.0,
        write: BatchFn | None = None,
        max_queued_bytes: int | None = None,
        feed_idle: float | None = None,
    ) -> None:
        if max_queued_bytes is not None and max_queued_bytes <= 0:
            raise ValueError(f"max_queued_bytes must be positive (or None for no bound), not {max_queued_bytes}")
        self.db_path = str(db_path)
        self.max_spans = max_spans
        self.max_delay = max_delay
        self.max_queued_bytes = max_queued_bytes
        #: after this many seconds without a request following a commit, bring the changes feed's stored
        #: samples of the hours written up to date (analysis.feed_ready), so the app's next feed reads
        #: chunks only; None: leave it to the feed
        self.feed_idle = feed_idle
        #: something was committed since the feed's samples were last brought up to date
        self._written = False
        #: bytes of the requests submitted and not yet resolved (queued or in the batch being committed)
        self._held_bytes = 0
        #: committed bytes per second of write time, smoothed: what Retry-After is estimated from
        self._rate: float | None = None
        self.stats = WriterStats()
        if write is None:
            from .adapter import StoreWriter

            write = StoreWriter()
        self._write = write
        self._queue: "queue.Queue[Any]" = queue.Queue()
        self._closing = False
        self._submit_lock = threading.Lock()
        self._ready = threading.Event()
        self._open_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tracedesk-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._open_error is not None:
            raise self._open_error

    # -- API used by request threads ------------------------------------------------------------

    def submit(self, request: WriteRequest) -> Future:
        """Queue a request; its future resolves once committed: None, or the list of its records the store
        refused (Rejected; the rest is stored), or raises the write error."""
        with self._submit_lock:  # no request slips in after the stop marker
            if self._closing:
                raise WriterClosed("the receiver is shutting down")
            self._refuse_if_over(request.nbytes)
            self._held_bytes += request.nbytes
            self._queue.put(request)
        return request.future

    @property
    def held_bytes(self) -> int:
        """Bytes of submitted requests not yet resolved (queued or being committed)."""
        with self._submit_lock:
            return self._held_bytes

    def refuse_if_full(self) -> None:
        """Raise WriterBusy when the queue is already at its bound, so a request can be refused before its
        body is read and parsed (submit() checks again with the request's real size)."""
        with self._submit_lock:
            self._refuse_if_over(1)

    def _refuse_if_over(self, nbytes: int) -> None:
        """WriterBusy if `nbytes` more would exceed the bound while something is held (caller holds the lock)."""
        limit = self.max_queued_bytes
        if limit is not None and self._held_bytes and self._held_bytes + nbytes > limit:
            self.stats.busy_refusals += 1
            raise WriterBusy(
                f"the receiver's write queue is full ({self._held_bytes:,} of {limit:,} bytes waiting for the "
                f"database); nothing of this request was stored, retry later", self._retry_after())

    def _retry_after(self) -> int:
        """Seconds until the writer has likely committed what it holds now (caller holds _submit_lock)."""
        if not self._rate:
            return MIN_RETRY_AFTER
        return max(MIN_RETRY_AFTER, min(MAX_RETRY_AFTER, math.ceil(self._held_bytes / self._rate)))

    def _release(self, batch: list[WriteRequest], seconds: float | None = None) -> None:
        with self._submit_lock:
            done = sum(r.nbytes for r in batch)
            self._held_bytes -= done
            if seconds is not None and done:
                rate = done / max(seconds, 1e-3)
                self._rate = rate if self._rate is None else 0.7 * self._rate + 0.3 * rate

    def write(self, request: WriteRequest, timeout: float | None = None) -> None:
        """Submit and wait until committed."""
        self.submit(request).result(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Stop taking requests, write everything already queued, and close the connection."""
        with self._submit_lock:
            if not self._closing:
                self._closing = True
                self._queue.put(_STOP)
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        from .. import store

        try:
            # Acknowledged means on disk: sync the WAL at every commit (batching keeps this cheap).
            db = store.connect(self.db_path, synchronous="FULL")
            from ..store.feed_dirty import prepare_writer  # feedagg: trigger statement journals in memory

            prepare_writer(db)
        except BaseException as exc:  # reported to the constructor's caller
            self._open_error = exc
            self._ready.set()
            return
        self._ready.set()
        stopping = False
        try:
            while not stopping:
                first = self._next(db)
                if first is _STOP:
                    break
                batch = [first]
                size = first.size
                deadline = time.monotonic() + self.max_delay
                while size < self.max_spans:
                    remaining = deadline - time.monotonic()
                    try:
                        item = self._queue.get(timeout=max(remaining, 0)) if remaining > 0 else \
                            self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True  # write this batch, then drain what is left below
                        break
                    batch.append(item)
                    size += item.size
                self._commit(db, batch)
            # Drain: anything queued before the stop marker was accepted and must be written.
            rest = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    rest.append(item)
            if rest:
                self._commit(db, rest)
        finally:
            db.conn.close()

    def _next(self, db: Any) -> Any:
        """The next queued item; when the queue stays empty for `feed_idle` seconds after a commit, the
        feed's samples of the hours written are brought up to date meanwhile (a request arriving then
        waits for that: one hour of traffic re-read, tens of milliseconds)."""
        if self.feed_idle is None or not self._written:
            return self._queue.get()
        try:
            return self._queue.get(timeout=self.feed_idle)
        except queue.Empty:
            pass
        self._written = False
        try:
            from ..analysis.feed_ready import prepare

            # only sets that exist (built by an ingest or a feed): a first build of every row is the
            # feed's, not something to hold the writer for
            prepare(db, existing_only=True)
        except Exception:  # noqa: BLE001 - the feed does it then; the receiver keeps receiving
            log.exception("bringing the changes feed's stored samples up to date failed; the next feed will")
        return self._queue.get()

    def _commit(self, db: Any, batch: list[WriteRequest]) -> None:
        spans = [s for r in batch for s in r.spans]
        evaluations = [e for r in batch for e in r.evaluations]
        log_messages = [p for r in batch for p in r.log_messages]
        started = time.monotonic()
        try:
            failed = self._write(db, spans, evaluations, log_messages)
        except Exception as exc:  # noqa: BLE001 - isolate the request that broke the batch
            if len(batch) == 1:
                log.exception("writing a request failed")
                self.stats.failed_requests += 1
                self._release(batch)
                batch[0].future.set_exception(exc)
                return
            # One bad request must not fail its neighbours: write them one by one.
            for request in batch:
                self._commit(db, [request])
            return
        self.stats.batches += 1
        self._written = True
        self.stats.spans += len(spans)
        self.stats.evaluations += len(evaluations)
        self.stats.log_messages += len(log_messages)
        self.stats.last_write_ns = time.time_ns()
        refused = {id(obj): rej for obj, rej in failed or () if obj is not None}
        self._release(batch, time.monotonic() - started)  # before answering: a retry may come at once
        for request in batch:
            mine = [refused[id(r)] for r in (*request.spans, *request.evaluations) if id(r) in refused] \
                if refused else []
            request.future.set_result(mine or None)
