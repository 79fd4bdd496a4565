"""The OTLP/HTTP receiver: `/v1/traces` and `/v1/logs`, protobuf or JSON, into the SQLite file
(`/v1/metrics` is answered with success and stored nowhere, so SDKs that export metrics log no errors).

Built on the stdlib `ThreadingHTTPServer` (HTTP/1.1, keep-alive): request threads read, decompress and
parse bodies in parallel; only the single `BatchWriter` thread touches the database. A request is
answered 200 once its spans are committed, and every refusal says why:
401 missing/wrong bearer token, 404 unknown path, 413 body over the limit, 415 content type or encoding
not OTLP, 400 body that does not parse, 429 + Retry-After when the writer's queue is full (clients send
faster than one SQLite writer commits; nothing of the request is kept, the client retries), 503 shutting
down or a transient write failure (OTLP clients retry), 500 a deterministic write failure.
"""
from __future__ import annotations

import hmac
import logging
import os
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import Any
from urllib.parse import urlsplit

from ..ingest.validate import transient_write_error

from . import body as body_mod
from .adapter import MalformedBody, Parsed, parse_request
from .responses import JSON, LOGS, METRICS, PROTOBUF, TRACES, export_response, status_body
from .writer import BatchWriter, WriteRequest, WriterBusy, WriterClosed

log = logging.getLogger(__name__)

TOKEN_ENV_VAR = "TRACEDESK_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4318
DEFAULT_MAX_BODY_MB = 32.0
#: request bytes (decompressed bodies) allowed to wait for the writer before new requests get 429
DEFAULT_MAX_QUEUE_MB = 64.0
SOURCE = "otlp-http"
#: refused bodies up to this size are read and discarded so the client gets the answer, not a reset
_DRAIN_LIMIT = 256 * 1024 * 1024

_PATHS = {"/v1/traces": TRACES, "/v1/logs": LOGS, "/v1/metrics": METRICS}
_CONTENT_TYPES = {
    "application/x-protobuf": PROTOBUF,
    "application/protobuf": PROTOBUF,
    "application/json": JSON,
}


@dataclass
class ReceiverConfig:
    db_path: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    max_body_bytes: int = int(DEFAULT_MAX_BODY_MB * 1024 * 1024)
    #: writer batching (group commit): at most this many records per transaction; wait this long for
    #: more before committing (0: commit what is queued at once; the next batch forms meanwhile)
    batch_spans: int = 5000
    batch_delay: float = 0.0
    #: longest a request waits for its commit before it is answered 503 (the client retries)
    write_timeout: float = 60.0
    #: bound of the writer's queue, in request bytes (queued or being committed); over it: 429 / gRPC
    #: RESOURCE_EXHAUSTED with a retry delay. None = unbounded (memory grows with the backlog)
    max_queued_bytes: int | None = int(DEFAULT_MAX_QUEUE_MB * 1024 * 1024)
    #: mask PII in stored text, like `tracedesk ingest --redact`
    redact: bool = False
    #: attribute names never masked, on top of the database's `redaction` setting (`--redact-keep`)
    redact_keep: tuple[str, ...] = ()
    #: re-read the cohort-dimension mapping (changed in the app) this often, in seconds
    settings_ttl: float = 15.0
    #: OTLP/gRPC port beside HTTP (`tracedesk serve` asks for 4317; None = HTTP only; 0 = any free port)
    grpc_port: int | None = None
    #: fail when gRPC cannot start (the port was asked for explicitly); else warn and serve HTTP only
    grpc_required: bool = False
    #: seconds without a request after a write before the writer brings the changes feed's stored samples
    #: of the hours written up to date (so the app's next feed reads them only); None: the feed does it
    feed_idle: float | None = 2.0


class Receiver:
    """An OTLP/HTTP server plus its writer. `start()` binds and serves in a thread; `stop()` flushes."""

    def __init__(self, config: ReceiverConfig) -> None:
        self.config = config
        self.started_ns: int | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._closing = False
        self._connections: set[socket.socket] = set()
        self.counts: Counter[str] = Counter()  # requests, spans_accepted, rejected, status_<code>
        self.last_request_ns: int | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.writer: BatchWriter | None = None
        self._normalizer: Any = None
        self._normalizer_at = 0.0

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> "Receiver":
        from .adapter import StoreWriter

        self.writer = BatchWriter(
            self.config.db_path,
            max_spans=self.config.batch_spans,
            max_delay=self.config.batch_delay,
            write=StoreWriter(redact=self.config.redact, redact_keep=self.config.redact_keep),
            max_queued_bytes=self.config.max_queued_bytes,
            feed_idle=self.config.feed_idle,
        )
        try:
            self.normalizer()  # load the dimension mapping now: a bad setting shows at start, not later
            if self.config.redact:  # likewise a bad `redaction` allow-list (and the hash key is made now)
                self._check_redaction()
            self._httpd = _Server((self.config.host, self.config.port), _Handler, self)
        except BaseException:
            self.writer.close()
            raise
        self.started_ns = time.time_ns()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="tracedesk-receiver", daemon=True)
        self._thread.start()
        return self

    @property
    def host(self) -> str:
        assert self._httpd is not None, "call start() first"
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        assert self._httpd is not None, "call start() first"
        return self._httpd.server_address[1]

    @property
    def endpoint(self) -> str:
        """The base URL for OTEL_EXPORTER_OTLP_ENDPOINT (exporters append /v1/traces themselves)."""
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 30.0) -> None:
        """Refuse new requests, let in-flight ones finish, flush the writer, close connections."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        if self._httpd is not None:
            self._httpd.shutdown()  # stop accepting
            self._httpd.server_close()
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight and time.monotonic() < deadline:
                self._idle.wait(max(deadline - time.monotonic(), 0.01))
        if self.writer is not None:
            self.writer.close()
        # Idle keep-alive connections would otherwise hold their threads until the client leaves.
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def closing(self) -> bool:
        return self._closing

    def snapshot(self) -> dict[str, Any]:
        """Counters for the status file: requests, accepted spans, rejections, last activity."""
        with self._lock:
            counts = dict(self.counts)
            last = self.last_request_ns
        writer = self.writer.stats.as_dict() if self.writer else {}
        return {"counts": counts, "last_request_ns": last, "writer": writer}

    def _check_redaction(self) -> None:
        from .. import store
        from ..ingest.redact import Redactor

        db = store.connect(self.config.db_path)
        try:
            store.migrate(db)
            Redactor.for_database(db, self.config.redact_keep)
        finally:
            db.conn.close()

    def normalizer(self) -> Any:
        """The ingest Normalizer with the database's cohort-dimension mapping, re-read every few seconds
        so a mapping changed in the app applies to live traffic without a restart."""
        now = time.monotonic()
        with self._lock:
            if self._normalizer is not None and now - self._normalizer_at < self.config.settings_ttl:
                return self._normalizer
        from .. import store
        from ..ingest.dimensions import load_dimensions
        from ..ingest import Normalizer

        db = store.connect(self.config.db_path)
        try:
            normalizer = Normalizer(load_dimensions(db))
        except ValueError:
            if self._normalizer is None:
                raise  # at start: refuse to run with a broken mapping
            log.exception("the stored dimension mapping is invalid; keeping the previous one")
            normalizer = self._normalizer
        finally:
            db.conn.close()
        with self._lock:
            self._normalizer, self._normalizer_at = normalizer, now
        return normalizer

    # -- bookkeeping used by the handler -------------------------------------------------------

    def _enter(self) -> bool:
        with self._lock:
            if self._closing:
                return False
            self._in_flight += 1
            return True

    def _leave(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.notify_all()

    def _count(self, **amounts: int) -> None:
        with self._lock:
            for key, n in amounts.items():
                self.counts[key] += n
            self.last_request_ns = time.time_ns()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Loopback exporters reconnect fast; don't make a restart wait for TIME_WAIT.
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type, receiver: Receiver) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.receiver = receiver
        super().__init__(address, handler)


class _Reply(Exception):
    """Answer the request now with this status and message."""

    def __init__(self, status: int, message: str, close: bool = False,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close
        self.headers = headers or {}


def _busy(exc: WriterBusy, *, close: bool = False) -> _Reply:
    """HTTP 429 with Retry-After: OTLP's throttling answer (retryable; the client waits, then resends)."""
    return _Reply(429, str(exc), close=close, headers={"Retry-After": str(exc.retry_after)})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tracedesk-receiver"
    # Drop a connection idle (or stalled mid-body) this long; exporters simply reconnect.
    timeout = 120

    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; with Nagle on, the body would wait for the client's
        # delayed ACK (~40 ms per response on Linux).
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self.server.receiver._lock:
            self.server.receiver._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.receiver._lock:
            self.server.receiver._connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s - %s", self.address_string(), format % args)

    # -- routes ---------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        receiver = self.server.receiver
        if path in ("/", "/health", "/healthz"):
            import json

            from .discovery import instance_id

            payload: dict[str, Any] = {
                "service": "tracedesk-receiver",
                # lets `find_receiver` check it is this process serving that file, without telling an
                # unauthenticated caller the path (a one-way digest of pid + path)
                "instance": instance_id(os.getpid(), receiver.config.db_path),
                "paths": sorted(_PATHS),
                "closing": receiver.closing,
            }
            if self._authorized(required=True):
                # Where the data lives and which process holds it is for the owner (a receiver started
                # with --token, asked with that token), not for whoever can reach the port.
                payload["pid"] = os.getpid()
                payload["db"] = os.path.abspath(receiver.config.db_path)
            self._send(200, json.dumps(payload).encode(), JSON)
        elif path in _PATHS:
            self._send_status(405, f"use POST for {path}", JSON, headers={"Allow": "POST"})
        else:
            self._send_status(404, f"no such path {path!r}; OTLP/HTTP paths are /v1/traces and /v1/logs (/v1/metrics is acknowledged, not stored)",
                              JSON)

    def handle_expect_100(self) -> bool:
        """A client that waits for "100 Continue" before sending its body (curl does, for big bodies).

        Path, token, content type and declared size are checked first, so a refused body is never sent.
        From the moment the client is told to continue, its request is in flight: a shutdown waits for it.
        """
        if self.command != "POST":
            return super().handle_expect_100()
        receiver = self.server.receiver
        try:
            self._route()
            length = self.headers.get("Content-Length")
            if length and length.strip().isdigit() and int(length) > receiver.config.max_body_bytes:
                raise _Reply(413, body_mod.too_large(receiver.config.max_body_bytes).message, close=True)
            self._check_room()
        except _Reply as reply:
            receiver._count(requests=1, **{f"status_{reply.status}": 1})
            self._send_status(reply.status, reply.message, JSON, close=True, headers=reply.headers)
            return False
        self._entered = receiver._enter()
        if not self._entered:
            self._send_status(503, "the receiver is shutting down", JSON, close=True,
                              headers={"Retry-After": "5"})
            return False
        try:
            return super().handle_expect_100()
        except BaseException:
            self._entered = False
            receiver._leave()
            raise

    def do_POST(self) -> None:
        receiver = self.server.receiver
        entered, self._entered = getattr(self, "_entered", False), False
        if not entered and not receiver._enter():
            self._send_status(503, "the receiver is shutting down", JSON, close=True,
                              headers={"Retry-After": "5"})
            return
        encoding = JSON
        self._body_read = False
        try:
            signal, encoding = self._route()
            if signal == METRICS:  # read (so the connection stays usable) and drop
                self._read_body()
                receiver._count(requests=1, status_200=1)
                self._send(200, export_response(signal, encoding, 0, ""), encoding)
                return
            self._check_room()  # a full queue: refuse before reading and parsing the body
            data = self._read_body()
            parsed = self._parse(data, signal, encoding)
            parsed.rejected.extend(self._write(parsed, len(data)))
            rejected = len(parsed.rejected)
            receiver._count(requests=1, spans_accepted=len(parsed.spans), rejected=rejected,
                            status_200=1)
            self._send(200, export_response(signal, encoding, rejected, parsed.rejection_message()),
                       encoding)
        except _Reply as reply:
            receiver._count(requests=1, **{f"status_{reply.status}": 1})
            log.info("%s %s -> %d %s", self.command, self.path, reply.status, reply.message)
            close = reply.close and not (not self._body_read and self._drain())
            self._send_status(reply.status, reply.message, encoding, close=close,
                              headers=reply.headers)
        finally:
            receiver._leave()

    # -- steps ----------------------------------------------------------------------------------

    def _route(self) -> tuple[str, str]:
        """Check path, auth and headers before reading the body (a refused body is never read)."""
        path = urlsplit(self.path).path.rstrip("/")
        signal = _PATHS.get(path)
        if signal is None:
            raise _Reply(404, f"no such path {path!r}; OTLP/HTTP paths are /v1/traces and /v1/logs (/v1/metrics is acknowledged, not stored)",
                         close=True)
        if not self._authorized(required=False):
            raise _Reply(401, "missing or wrong bearer token: send 'Authorization: Bearer <token>' "
                              "(OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20<token>)",
                         close=True, headers={"WWW-Authenticate": 'Bearer realm="tracedesk"'})
        ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        encoding = _CONTENT_TYPES.get(ctype)
        if encoding is None:
            raise _Reply(415, f"unsupported Content-Type {ctype or '(none)'!r}; OTLP/HTTP sends "
                              f"application/x-protobuf or application/json", close=True)
        return signal, encoding

    def _authorized(self, *, required: bool) -> bool:
        """The request carries the receiver's bearer token. Without a configured token every request is
        accepted for ingest (required=False) but none counts as the owner (required=True)."""
        token = self.server.receiver.config.token
        if not token:
            return not required
        given = self.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())

    def _drain(self) -> bool:
        """Read and discard an unread Content-Length body so the client sees our answer (a server that
        closes on unread data makes the kernel reset the connection, and the client reports a network
        error instead of the 401/413/415). Returns True when the connection can be kept."""
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or length is None:
            return False
        try:
            remaining = int(length)
        except ValueError:
            return False
        if remaining < 0 or remaining > _DRAIN_LIMIT:
            return False
        try:
            while remaining:
                chunk = self.rfile.read(min(remaining, 1 << 16))
                if not chunk:
                    return False
                remaining -= len(chunk)
        except OSError:
            return False
        self._body_read = True
        return True

    def _read_body(self) -> bytes:
        limit = self.server.receiver.config.max_body_bytes
        transfer = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        length = self.headers.get("Content-Length")
        try:
            if transfer:
                if transfer != "chunked":
                    raise _Reply(415, f"unsupported Transfer-Encoding {transfer!r}; use chunked or "
                                      f"Content-Length", close=True)
                self._body_read = True  # from here on the framing is consumed, or the connection closes
                raw = body_mod.read_chunked(self.rfile, limit, _DRAIN_LIMIT)
            elif length is not None:
                try:
                    n = int(length)
                    if n < 0:
                        raise ValueError
                except ValueError:
                    raise _Reply(400, f"bad Content-Length {length!r}", close=True) from None
                if n > limit:
                    raise body_mod.too_large(limit)  # unread: _drain() may still save the connection
                self._body_read = True
                raw = body_mod.read_length(self.rfile, n, limit)
            else:
                raw = b""  # HTTP/1.1: no length and not chunked means no body
            return body_mod.decode_content(raw, self.headers.get("Content-Encoding"), limit)
        except body_mod.BodyError as exc:
            # A body left partly unread makes the connection unusable for the next request.
            raise _Reply(exc.status, exc.message, close=not exc.consumed) from None
        except (TimeoutError, OSError) as exc:
            raise _Reply(400, f"could not read the request body: {exc}", close=True) from None

    def _check_room(self) -> None:
        """429 now when the writer's queue is full: the body is then drained unread, never parsed or held."""
        writer = self.server.receiver.writer
        assert writer is not None
        try:
            writer.refuse_if_full()
        except WriterBusy as exc:
            raise _busy(exc, close=True) from None

    def _parse(self, data: bytes, signal: str, encoding: str) -> Parsed:
        try:
            return parse_request(data, signal, encoding, SOURCE, self.server.receiver.normalizer())
        except MalformedBody as exc:
            raise _Reply(400, str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a parser bug must not take the server down
            # The body may be fine; the fault is ours, so say so (500) rather than blame the client (400).
            log.exception("parsing a request failed")
            raise _Reply(500, f"internal error reading the OTLP {signal} body ({type(exc).__name__}: {exc}); "
                              f"see the receiver's log") from None

    def _write(self, parsed: Parsed, nbytes: int) -> list[Any]:
        """Store the request; returns the records the store refused (they go to partial_success)."""
        receiver = self.server.receiver
        assert receiver.writer is not None
        if not (parsed.spans or parsed.evaluations or parsed.log_messages):
            return []
        request = WriteRequest(parsed.spans, parsed.evaluations, parsed.log_messages, nbytes=nbytes)
        try:
            return list(receiver.writer.submit(request).result(receiver.config.write_timeout) or [])
        except WriterBusy as exc:
            raise _busy(exc) from None
        except WriterClosed:
            raise _Reply(503, "the receiver is shutting down; retry", close=True,
                         headers={"Retry-After": "5"}) from None
        except Exception as exc:  # noqa: BLE001 - classified: only a transient failure is worth a retry
            if transient_write_error(exc) or isinstance(exc, FuturesTimeout):
                raise _Reply(503, f"could not store the batch ({type(exc).__name__}: {exc}); retry",
                             headers={"Retry-After": "1"}) from None
            # A deterministic failure: 503 would make the client retry the same body forever.
            log.exception("storing a request failed")
            raise _Reply(500, f"could not store the batch ({type(exc).__name__}: {exc}); retrying will not "
                              f"help, see the receiver's log") from None

    # -- responses ------------------------------------------------------------------------------

    def _send_status(self, status: int, message: str, encoding: str, *, close: bool = False,
                     headers: dict[str, str] | None = None) -> None:
        payload, ctype = status_body(status, message, encoding)
        self._send(status, payload, ctype, close=close, headers=headers)

    def _send(self, status: int, payload: bytes, ctype: str, *, close: bool = False,
              headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client went away; nothing to tell it
            self.close_connection = True
