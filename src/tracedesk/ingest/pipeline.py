"""Files / bytes -> parse -> (redact) -> join log messages -> store, in bounded batches.

Memory stays bounded for JSON Lines (read line by line, flushed every `batch_size` spans). A single
JSON document is parsed whole (JSON has no streaming boundary short of a streaming parser) and then
written in batches. Each batch is one transaction: an interrupted ingest keeps whole batches only.
"""
from __future__ import annotations

import contextlib
import gc
import glob
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from .. import store
from ..store import ingest as store_ingest
from ..models import Rejected, Span
from .messages import last_text
from .normalize import Normalizer
from .validate import transient_write_error
from .parse import GZIP_MAGIC, parse_bytes, parse_line
from .stream import DEFAULT_MAX_INFLATE_RATIO, BoundedGzip, InflateLimit, is_streamable, stream_traces
from .realworld import output_text_of
from .result import IngestReport, LogMessage, ParseResult

DEFAULT_BATCH = 5000
#: a writer that deferred this many trace recomputes does them before reading on (bounds the work and
#: the staleness inside one huge document)
MAX_DEFERRED = 20_000
#: bytes read to tell JSON Lines from one document before deciding how to read the rest
PEEK_BYTES = 1 << 20
#: Progress callback: (bytes done, bytes total) after each stored batch and at the end of each file.
Progress = Callable[[int, int], None]


class BatchWriter:
    """Accumulates parse results and writes them to the store in batches (file ingest and the live receiver).

    Each flush is one store transaction: redaction, log-message joins and trace summaries included.
    """

    def __init__(self, db: Any, report: IngestReport, redact: bool, batch_size: int,
                 isolate: bool = True, redact_keep: Iterable[str] = (), defer_full: bool = False) -> None:
        self.db = db
        #: file ingest: traces needing the full summary recompute are marked stale per batch and
        #: recomputed once in `finish` (after each file), not once per batch that touched them
        self.defer_full = defer_full
        self.deferred = 0
        #: the rows of the deferred traces, so that `finish` need not read them back (store.open_traces)
        self.open_traces = store.OpenTraces(db) if defer_full else None
        #: on a write error that is not transient, split the batch to store every record that can be
        #: stored and reject only the ones that cannot (the receiver does its own isolation per request)
        self.isolate = isolate
        self.report = report
        self.redact = redact
        #: attribute names never masked, on top of the database's `redaction` setting
        self.redact_keep = tuple(redact_keep)
        self._redactor: Any = None
        self.batch_size = batch_size
        self.pending = ParseResult()
        #: (span or evaluation, Rejected) for each record the last flush could not store
        self.last_failed: list[tuple[Any, Rejected]] = []
        self.logs_stored = store_ingest.has_log_messages(db)

    def add(self, result: ParseResult) -> None:
        pending = self.pending
        if (result.rows and pending.spans) or (result.spans and pending.rows):
            self.flush()  # keep arrival order for a span id sent twice: one kind per batch
            pending = self.pending
        pending.extend(result)
        if len(pending.spans) + len(pending.rows) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        batch, self.pending = self.pending, ParseResult()
        self.last_failed = []
        report = self.report
        report.rejected.extend(batch.rejected)
        report.warnings.extend(batch.warnings)
        if not (batch.spans or batch.rows or batch.evaluations or batch.log_messages):
            return
        if self.redact:
            from .redact import Redactor, redact_value

            if self._redactor is None:  # read once: the allow-list and hash key of this database
                self._redactor = Redactor.for_database(self.db, self.redact_keep)
            redactor = self._redactor
            for span in batch.spans:
                report.redactions += redactor.span(span)
            for lm in batch.log_messages:
                lm.message, n = redact_value(lm.message)
                report.redactions += n
            for ev in batch.evaluations:
                report.redactions += redactor.evaluation(ev)
        also = None
        if batch.log_messages or self.logs_stored:
            also = self._join_logs(batch)
        try:
            result = store.write_batch(self.db, batch.spans, batch.evaluations, also=also,
                                       defer_full=self.defer_full, rows=batch.rows, open_traces=self.open_traces)
        except Exception as exc:  # noqa: BLE001 - one unstorable record must not lose the batch
            if not self.isolate or transient_write_error(exc):
                raise
            if self.open_traces is not None:
                self.open_traces.drop_all()  # the parts are written (and recomputed) without them
            result = write_isolating(self.db, batch.spans, batch.evaluations, also, self.last_failed,
                                     rows=batch.rows)
            report.rejected.extend(r for _, r in self.last_failed)
        self.deferred += result.deferred
        if self.deferred >= MAX_DEFERRED:
            self.finish()  # one huge document: keep the stale set (and the work left at its end) bounded
        report.spans_inserted += result.inserted
        report.spans_unchanged += result.unchanged
        report.spans_replaced += result.replaced
        report.evaluations += result.evaluations
        report._trace_ids |= {s.trace_id for s in batch.spans}
        for span in batch.spans:
            report.by_convention[span.convention] += 1
        if batch.rows:
            report._trace_ids |= {r[store.ROW_TRACE_ID] for r in batch.rows}
            report.by_convention.update(r[store.ROW_CONVENTION] for r in batch.rows)

    def finish(self) -> None:
        """Recompute the summaries this writer deferred (after each file, so a file's traces are current
        once it is read)."""
        if self.deferred:
            store.refresh_stale(self.db, self.open_traces)
            self.deferred = 0

    def _join_logs(self, batch: ParseResult) -> Callable[[Any], None]:
        """Merge log-record messages into this batch's spans; return the in-transaction store step."""
        by_key: dict[tuple[str, str], list[tuple[str, int, int, dict]]] = {}
        for lm in batch.log_messages:
            by_key.setdefault((lm.trace_id, lm.span_id), []).append((lm.direction, lm.time_ns, lm.seq, lm.message))
        span_keys = {(s.trace_id, s.span_id) for s in batch.spans}
        if self.logs_stored and span_keys:
            for key, rows in store_ingest.log_messages_for(self.db, span_keys).items():
                by_key.setdefault(key, []).extend(rows)
        for span in batch.spans:
            span_rows = by_key.get((span.trace_id, span.span_id))
            if span_rows:
                _apply_messages(span, _message_columns(span_rows))
        new_rows = [(lm.trace_id, lm.span_id, lm.direction, lm.time_ns, lm.seq, lm.message)
                    for lm in batch.log_messages]
        outside = {(lm.trace_id, lm.span_id) for lm in batch.log_messages} - span_keys
        self.report.log_messages += len(new_rows)
        if new_rows:
            self.logs_stored = True

        def step(db: Any) -> None:
            if new_rows:
                store_ingest.save_log_messages(db, new_rows)
            if outside:
                stored = store_ingest.existing_span_keys(db, outside)
                if stored:
                    rows_for = store_ingest.log_messages_for(db, stored)
                    store_ingest.patch_span_messages(
                        db, [(key, _message_columns(rows)) for key, rows in rows_for.items()])

        return step


def write_isolating(db: Any, spans: list[Span], evaluations: list[Any], also: Callable[[Any], None] | None,
                    failed: list[tuple[Any, Rejected]], rows: list[tuple[Any, ...]] | None = None) -> Any:
    """Write a batch that failed as a whole: bisect it, store every part that can be stored, and reject
    each span / evaluation that cannot, with its location and the store's reason. Costs O(k log n)
    transactions for k bad records; only runs after a failure. `rows`: spans as `span_row` tuples."""
    total = store.WriteResult()

    def attempt(part: list[Any], kind: str, step: Any) -> BaseException | None:
        try:
            if kind == "span":
                total.add(store.write_batch(db, part, [], also=step))
            elif kind == "row":
                total.add(store.write_batch(db, [], [], also=step, rows=part))
            else:
                total.add(store.write_batch(db, [], part, also=step))
        except Exception as exc:  # noqa: BLE001 - classified below
            if transient_write_error(exc):
                raise
            return exc
        return None

    groups: tuple[tuple[list[Any], str], ...] = (
        (list(spans), "span"), (list(rows or ()), "row"), (list(evaluations), "evaluation"))
    for items, kind in groups:
        stack = [items] if items else []
        while stack:
            part = stack.pop()
            err = attempt(part, kind, None)
            if err is None:
                continue
            if len(part) == 1:
                item = part[0]
                if kind == "evaluation":
                    failed.append((item, Rejected(f"evaluation {item.name!r} of span {item.span_id}",
                                                  f"could not be stored ({type(err).__name__}: {err})")))
                    continue
                if kind == "span":
                    trace_id, span_id, source = item.trace_id, item.span_id, item.source
                else:
                    trace_id, span_id = item[store.ROW_TRACE_ID], item[store.ROW_SPAN_ID]
                    source = item[store.ROW_SOURCE]
                where = source or f"span {span_id} of trace {trace_id}"
                failed.append((item, Rejected(where, f"span {span_id} of trace {trace_id} could "
                                                     f"not be stored ({type(err).__name__}: {err})")))
                continue
            mid = len(part) // 2
            stack.extend((part[mid:], part[:mid]))
    if also is not None:
        err = attempt([], "span", also)
        if err is not None:
            failed.append((None, Rejected("log messages of this batch",
                                          f"could not be stored ({type(err).__name__}: {err})")))
    return total


def _message_columns(rows: list[tuple[str, int, int, dict]]) -> dict[str, Any]:
    """Log messages of one span -> the columns they set (only directions that have messages)."""
    out: dict[str, Any] = {}
    seen: set[tuple[str, str]] = set()
    for direction in ("input", "output"):
        msgs = []
        for d, _t, _s, m in sorted(rows, key=lambda r: (r[1], r[2])):
            if d != direction:
                continue
            key = orjson.dumps(m, option=orjson.OPT_SORT_KEYS).decode()
            if (direction, key) in seen:
                continue
            seen.add((direction, key))
            msgs.append(m)
        if msgs:
            out[f"{direction}_messages"] = msgs
            roles = ("user", "tool") if direction == "input" else ("assistant",)
            text = last_text(msgs, roles)
            if text is None and direction == "output":
                text = output_text_of(msgs, None, "LLM")  # an answer that is only tool calls
            if text is not None:
                out[f"{direction}_text"] = text
    return out


def _apply_messages(span: Span, columns: dict[str, Any]) -> None:
    for name, value in columns.items():
        setattr(span, name, value)


# ---------------------------------------------------------------------------------------------
# Paths

_GLOB_CHARS = set("*?[")


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[Rejected]]:
    """Files, folders (recursively, hidden files skipped) and globs -> files; missing ones -> Rejected."""
    files: list[Path] = []
    missing: list[Rejected] = []
    for raw in paths:
        text = os.path.expanduser(str(raw))
        if _GLOB_CHARS & set(text) and not os.path.exists(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                missing.append(Rejected(text, "no file matches this pattern"))
            for m in matches:
                files.extend(_files_under(Path(m)))
            continue
        path = Path(text)
        if not path.exists():
            missing.append(Rejected(text, "no such file or directory"))
            continue
        found = _files_under(path)
        if path.is_dir() and not found:
            missing.append(Rejected(text, "folder contains no files"))
        files.extend(found)
    seen: set[Path] = set()
    unique = []
    for f in files:
        if f not in seen:
            seen.add(f)
            unique.append(f)
    return unique, missing


def _files_under(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not any(
            part.startswith(".") for part in p.relative_to(path).parts))
    return [path]


def _open(path: Path, max_inflate_ratio: int = DEFAULT_MAX_INFLATE_RATIO) -> tuple[BinaryIO, BinaryIO]:
    """(raw handle for progress, reader that transparently gunzips within the inflate limit)."""
    raw = open(path, "rb")
    head = raw.read(2)
    raw.seek(0)
    if head == GZIP_MAGIC:
        return raw, BoundedGzip(raw, _size(path), max_inflate_ratio, str(path))  # type: ignore[return-value]
    return raw, raw


def _iter_lines(reader: BinaryIO) -> Iterator[bytes]:
    for line in reader:
        yield line


_gc_lock = threading.Lock()
_gc_depth = 0


@contextlib.contextmanager
def _fewer_gc_passes() -> Iterator[None]:
    """Parsed spans are trees of dicts/lists/strings without reference cycles; the cyclic collector only
    re-scans them. Raise its thresholds while ingesting (restored afterwards, nesting-safe)."""
    global _gc_depth
    with _gc_lock:
        if _gc_depth == 0:
            _fewer_gc_passes.saved = gc.get_threshold()  # type: ignore[attr-defined]
            gc.set_threshold(200_000, 50, 1000)
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0:
                gc.set_threshold(*_fewer_gc_passes.saved)  # type: ignore[attr-defined]


def ingest_paths(
    db: Any,
    paths: Iterable[str | os.PathLike[str]],
    *,
    redact: bool = False,
    redact_keep: Iterable[str] = (),
    progress: Progress | None = None,
    batch_size: int = DEFAULT_BATCH,
    dimensions: dict[str, list[str]] | None = None,
    max_inflate_ratio: int = DEFAULT_MAX_INFLATE_RATIO,
    workers: int | None = None,
    feed_samples: bool = True,
    feed_progress: Callable[[int, int, str], None] | None = None,
) -> IngestReport:
    """Ingest files, folders and globs into the database; see IngestReport for what is counted.

    `feed_samples`: then build the changes feed's stored samples of the hours written (analysis.feed_ready),
    so the first feed after the ingest is as cheap as a cold one; `feed_progress(done, total, what)`
    hears of each step of that.

    `workers`: parse in separate processes while this one writes (None: when there are two or more
    cores and at least ingest.parallel.MIN_PARALLEL_BYTES of input, one per core beside this one's, up to two; 0: never;
    n >= 1: n parse processes, each reading whole files, never more than there are files).

    A gzip file that inflates past `max_inflate_ratio` x its size (and 64 MB) is refused as a likely
    decompression bomb; the other files are still read."""
    with _fewer_gc_passes():
        return _ingest_paths(db, paths, redact=redact, progress=progress, batch_size=batch_size,
                             dimensions=dimensions, max_inflate_ratio=max_inflate_ratio,
                             redact_keep=redact_keep, workers=workers, feed_samples=feed_samples,
                             feed_progress=feed_progress)


def _ingest_paths(db: Any, paths: Iterable[str | os.PathLike[str]], *, redact: bool, progress: Progress | None,
                  batch_size: int, dimensions: dict[str, list[str]] | None,
                  max_inflate_ratio: int = DEFAULT_MAX_INFLATE_RATIO,
                  redact_keep: Iterable[str] = (), workers: int | None = None, feed_samples: bool = True,
                  feed_progress: Callable[[int, int, str], None] | None = None) -> IngestReport:
    started = time.perf_counter()
    database = store.connect(db)
    try:
        report = _ingest_into(database, paths, redact=redact, progress=progress, batch_size=batch_size,
                              dimensions=dimensions, max_inflate_ratio=max_inflate_ratio, redact_keep=redact_keep,
                              workers=workers, started=started)
        if feed_samples:  # after the ingest's own work (its planner statistics help these reads)
            from ..analysis.feed_ready import prepare
            from ..models import Rejected

            if not prepare(database, feed_progress) and report.spans_inserted + report.spans_replaced:
                # said, not silent: the first feed then reads every row again (seconds at 1M spans)
                report.warnings.append(Rejected(
                    "feed samples",
                    "the changes feed's stored samples were not built at the end of this ingest (the database "
                    "was busy or could not be written): the first feed builds them, or run `tracedesk changes "
                    "--db FILE` once"))
            report.seconds = time.perf_counter() - started
        return report
    finally:
        if database is not db:
            # A connection we opened is closed, which checkpoints the write-ahead log into the file: left
            # open until exit, every ingested row stayed in FILE-wal, and a copy of FILE alone (to share
            # it, or a backup of *.db) was an empty database.
            database.close()


def _ingest_into(database: Any, paths: Iterable[str | os.PathLike[str]], *, redact: bool,
                 progress: Progress | None, batch_size: int, dimensions: dict[str, list[str]] | None,
                 max_inflate_ratio: int, redact_keep: Iterable[str], workers: int | None,
                 started: float) -> IngestReport:
    store.migrate(database)
    store.tune_for_bulk_writes(database)
    normalizer = _normalizer(database, dimensions)
    files, missing = expand_paths(paths)
    # `tracedesk ingest . --db traces.db` in the folder of the traces: the database is not an input
    own = store.database_files(database)
    files = [f for f in files if f.resolve() not in own]
    report = IngestReport()
    report.rejected.extend(missing)
    total = sum(_size(f) for f in files)
    # One connection, one thread: a writer thread was measured slower here (SQLite steps hand the GIL
    # back and forth with the parser); parallelism, when wanted, is worker processes for parsing.
    store.refresh_stale(database)  # summaries an interrupted ingest left stale
    writer = BatchWriter(database, report, redact, batch_size, redact_keep=redact_keep, defer_full=True)
    from . import parallel

    if parallel.use_worker(files, total, workers):
        parallel.ingest_files_in_worker(files, normalizer.dims.mapping, writer, report, progress, total,
                                        max_inflate_ratio, parallel.worker_count(files, workers))
    else:
        _ingest_files(files, normalizer, writer, report, progress, total, max_inflate_ratio)
    writer.flush()
    writer.finish()
    from ..store.maintenance import optimize

    optimize(database)  # fresh planner statistics after a bulk load (cheap: sampled, and only on growth)
    from ..store import text_index

    text_index.refresh(database)  # a text index someone built (`tracedesk index text`) takes the new rows
    _finish(database, report, started)
    return report


def _ingest_files(files: list[Path], normalizer: Normalizer, writer: Any, report: IngestReport,
                  progress: Progress | None, total: int,
                  max_inflate_ratio: int = DEFAULT_MAX_INFLATE_RATIO) -> None:
    done_before = 0
    for path in files:
        source = str(path)
        try:
            raw, reader = _open(path, max_inflate_ratio)
        except OSError as exc:
            report.rejected.append(Rejected(source, f"cannot read file: {exc.strerror or exc}"))
            continue
        report.files += 1
        try:
            _ingest_file(reader, raw, source, normalizer, writer, progress, done_before, total)
        except InflateLimit as exc:
            writer.pending.rejected.append(Rejected(source, str(exc)))
        except (OSError, EOFError, zlib.error) as exc:
            # Corrupt gzip or read error mid-file: keep what was read, report where it stopped.
            writer.pending.rejected.append(Rejected(source, f"stopped reading: {exc}"))
        except Exception as exc:  # noqa: BLE001 - one file must never stop the files after it
            if transient_write_error(exc):
                raise  # the database is locked or full: every later file would fail the same way
            writer.pending.rejected.append(Rejected(source, f"stopped reading after an unexpected error "
                                                            f"({type(exc).__name__}: {exc}); the records "
                                                            f"read before it are kept"))
        finally:
            reader.close()
            raw.close()
        writer.flush()
        writer.finish()
        done_before += _size(path)
        report.bytes_read = done_before
        if progress:
            progress(done_before, total)


def _ingest_file(reader: BinaryIO, raw: BinaryIO, source: str, normalizer: Normalizer, writer: BatchWriter,
                 progress: Progress | None, done_before: int, total: int) -> None:
    # Peek with bounded reads: a file (or a gzip bomb) without newlines must not be read whole here.
    first = reader.readline(PEEK_BYTES)
    skipped = 0  # blank lines before the first record (or a bomb of blank space: dropped as it is read)
    blank = b""  # ... kept while short: protobuf starts with 0x0a, which reads as a blank line
    while first and not first.strip():
        skipped += first.endswith(b"\n")
        if len(blank) < PEEK_BYTES:
            blank += first
        first = reader.readline(PEEK_BYTES)
    rest_start = b""
    if first.endswith(b"\n"):
        rest_start = reader.readline(PEEK_BYTES)
        if rest_start and not rest_start.endswith(b"\n"):
            rest_start += reader.readline()  # the JSON Lines loop needs whole lines
    lineno = skipped
    if first.endswith(b"\n") and rest_start.strip() and _is_record_line(first):
        lines: Iterable[bytes] = _chain(first, rest_start, reader)
    elif is_streamable(first + rest_start):
        # One OTLP/JSON traces document: parsed incrementally, written batch by batch.
        def emit(part: ParseResult) -> None:
            before = len(writer.pending.spans)
            writer.add(part)
            if progress and len(writer.pending.spans) < before:
                progress(done_before + raw.tell(), total)

        rest = stream_traces(first + rest_start, reader, source, normalizer, emit)
        if rest is None:
            return
        data, lineno = rest  # JSON Lines after a first request longer than the peek
        head_lines = data.splitlines(keepends=True)
        if head_lines and not head_lines[-1].endswith(b"\n"):
            head_lines[-1] += reader.readline()
        lines = _chain(*head_lines, reader)
    else:
        lines = ()
    if lines:
        # JSON Lines: stream line by line.
        last_report = 0
        for line in lines:
            lineno += 1
            result = ParseResult()
            parse_line(line, f"{source}:{lineno}", normalizer, result)
            before = len(writer.pending.spans)
            writer.add(result)
            if progress and len(writer.pending.spans) < before:  # a batch was just written
                pos = raw.tell()
                if pos - last_report > 0:
                    last_report = pos
                    progress(done_before + pos, total)
        return
    data = (blank if len(blank) < PEEK_BYTES else b"") + first + rest_start + reader.read()
    result = parse_bytes(data, source, normalizer=normalizer)
    del data
    # Write a big document in batches (bounded transaction size, progress between batches).
    spans = result.spans
    step = writer.batch_size
    for i in range(0, max(len(spans), 1), step):
        chunk = ParseResult(spans=spans[i : i + step])
        if i == 0:
            chunk.evaluations, chunk.rejected, chunk.warnings = result.evaluations, result.rejected, result.warnings
            chunk.log_messages = result.log_messages
        writer.add(chunk)
        if progress and i + step < len(spans):
            writer.flush()
            progress(done_before + int(_size_of(raw) * (i + step) / max(len(spans), 1)), total)


def _chain(*parts: Any) -> Iterator[bytes]:
    """Lines: the given ones, then the reader's (its last argument)."""
    *lines, reader = parts
    for line in lines:
        if line:
            yield line
    yield from reader


def _is_record_line(line: bytes) -> bool:
    """Whether a file whose first non-blank line is `line` (and that has more lines) is JSON Lines.

    A line that is a whole JSON value, or looks like one object, starts JSON Lines (a JSON document
    cannot continue after a complete value); a pretty-printed document's first line (`{`, `[`) is not.
    """
    line = line.strip()
    if line.startswith(b"{") and line.endswith(b"}"):
        return True  # an object, or a bad first record of a JSONL file: rejected by line, the rest still read
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _size_of(fh: BinaryIO) -> int:
    try:
        return os.fstat(fh.fileno()).st_size
    except (OSError, ValueError):
        return 0


def _normalizer(db: Any, dimensions: dict[str, list[str]] | None) -> Normalizer:
    from .dimensions import load_dimensions

    return Normalizer(dimensions if dimensions is not None else load_dimensions(db))


def _finish(db: Any, report: IngestReport, started: float) -> None:
    report.traces = len(report._trace_ids)
    if report._trace_ids:
        report.incomplete_traces = store_ingest.incomplete_traces(db, report._trace_ids)
    report.seconds = time.perf_counter() - started


def ingest_bytes(db: Any, data: bytes, source: str, content_type: str | None = None, redact: bool = False,
                 *, dimensions: dict[str, list[str]] | None = None,
                 batch_size: int = DEFAULT_BATCH, redact_keep: Iterable[str] = ()) -> IngestReport:
    """Ingest one in-memory payload (an HTTP body, a test fixture)."""
    started = time.perf_counter()
    database = store.connect(db)
    store.migrate(database)
    report = IngestReport()
    result = parse_bytes(data, source, content_type, normalizer=_normalizer(database, dimensions))
    writer = BatchWriter(database, report, redact, batch_size, redact_keep=redact_keep)
    spans = result.spans
    result.spans = []
    writer.add(result)
    for i in range(0, len(spans), batch_size):
        writer.add(ParseResult(spans=spans[i : i + batch_size]))
    writer.flush()
    report.bytes_read = len(data)
    _finish(database, report, started)
    return report


__all__ = ["ingest_paths", "ingest_bytes", "expand_paths", "LogMessage", "DEFAULT_BATCH"]
