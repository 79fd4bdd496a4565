"""Incremental parsing of one big OTLP/JSON traces document, and bounded decompression.

A 300 MB `{"resourceSpans": [...]}` document parsed whole peaked at 2.9 GB RSS (the bytes, orjson's tree
of it, then every Span). Here the document is read in chunks and walked structurally down to
`resourceSpans[*].scopeSpans[*].spans[*]`; spans are decoded by orjson many at a time, so peak memory is
a few windows of text plus one write batch, whatever the document's size.

How a window of spans is cut: the text is cut after a `}` followed by `,{"traceId"` (how OTLP writers
start a span), and the cut is accepted only if orjson parses `[` + window + `]`. The prefix of the window
starts at a span boundary, so a cut inside a string or inside a nested object cannot parse: validity
proves the cut is a span boundary. A writer that starts its spans with another key gets cuts before
that key, learned from its first span. Where no cut parses (the last spans of an array), spans are taken
one at a time: `json.JSONDecoder.raw_decode` finds where the object ends and
orjson decodes that text, so every span gets the same value semantics as the whole-document parser.

Keys other than resource/scope/spans are skipped. `resource` (or `scope`) written after its spans makes
those spans wait in memory until it is read (JSON objects are unordered; writers put it first).
"""
from __future__ import annotations

import codecs
import json
import re
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import orjson

from ..models import Rejected
from . import textcodec
from .normalize import Normalizer
from .otlp import RecordError, json_span_at
from .result import ParseResult
from .wire import attributes

#: bytes read per step; a window of spans decoded at once is about this long
CHUNK = 1 << 20
#: one span (or resource / scope object) longer than this is refused rather than buffered
MAX_OBJECT_CHARS = 256 << 20
#: refuse gzip input that expands more than this many times its compressed size (and past FLOOR)
DEFAULT_MAX_INFLATE_RATIO = 200
INFLATE_FLOOR = 64 << 20

#: the whole-document parser's words for a file that ends early (parse._json_error)
TRUNCATED = "truncated or invalid JSON: unexpected end of data at the end of the input (is the file complete?)"
_HEAD = re.compile(rb'\A\s*\{\s*"(?:resourceSpans|resource_spans)"\s*:')
# A span (not a link, which also has traceId/spanId) starts: traceId, spanId, [traceState], then
# parentSpanId / flags / name, as the Collector's and the SDKs' JSON encoders write the proto fields.
_CUT = re.compile(r'\}\s*,\s*(?=\{\s*"(?:traceId|trace_id)"\s*:\s*"[^"]*"\s*,\s*"(?:spanId|span_id)"\s*:\s*"[^"]*"'
                  r'\s*,\s*(?:"traceState"\s*:\s*"[^"]*"\s*,\s*)?"(?:parentSpanId|parent_span_id|flags|name)")')
_WS = re.compile(r"\s*")
#: Cuts learned from a writer's own key order (its first span's first key), compiled once per key.
_LEARNED_CUTS: dict[str, "re.Pattern[str]"] = {}


def _cut_before(first_key: str) -> "re.Pattern[str]":
    """A cut before every object that starts with `first_key`: a writer that puts another key first (a
    JavaScript or hand-rolled encoder) gets windows too, instead of every span decoded on its own (8x the
    CPU). Candidates inside a nested object or a string cannot parse, so any key is a safe guess."""
    pattern = _LEARNED_CUTS.get(first_key)
    if pattern is None:
        pattern = _LEARNED_CUTS[first_key] = re.compile(r'\}\s*,\s*(?=\{\s*' + re.escape(json.dumps(first_key))
                                                        + r'\s*:)')
    return pattern
_RAW = json.JSONDecoder()


class InflateLimit(OSError):
    """Decompressed input grew past the configured ratio: a likely decompression bomb."""


class BoundedGzip:
    """A gzip reader that refuses to inflate past `ratio` x the compressed size (after INFLATE_FLOOR).

    The CLI's counterpart of the receiver's body limit: a 1 MB gzip of 1 GB is refused after reading
    a bounded amount, never held in memory.
    """

    def __init__(self, raw: BinaryIO, compressed_size: int, ratio: int = DEFAULT_MAX_INFLATE_RATIO,
                 source: str = "") -> None:
        import gzip

        self.inner = gzip.GzipFile(fileobj=raw, mode="rb")
        self.limit = max(INFLATE_FLOOR, compressed_size * ratio)
        self.ratio = ratio
        self.compressed = compressed_size
        self.source = source
        self.count = 0

    def _account(self, data: bytes) -> bytes:
        self.count += len(data)
        if self.count > self.limit:
            raise InflateLimit(
                f"gzip data expands to more than {self.limit / 1e6:,.0f} MB ({self.ratio}x its "
                f"{self.compressed / 1e6:,.1f} MB compressed size); refused as a possible decompression bomb. "
                f"If the file is genuine, raise the limit with --max-inflate-ratio (default "
                f"{DEFAULT_MAX_INFLATE_RATIO})")
        return data

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts: list[bytes] = []
            while True:
                part = self.read(CHUNK * 8)
                if not part:
                    return b"".join(parts)
                parts.append(part)
        return self._account(self.inner.read(n))

    def readline(self, limit: int = -1) -> bytes:
        if limit is None or limit < 0:
            parts = []
            while True:
                part = self._account(self.inner.readline(CHUNK))
                parts.append(part)
                if not part or part.endswith(b"\n"):
                    return b"".join(parts)
        return self._account(self.inner.readline(limit))

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def close(self) -> None:
        self.inner.close()


def is_streamable(head: bytes) -> bool:
    """True when the input starts a JSON object whose first key is resourceSpans (an OTLP traces request)."""
    return _HEAD.match(head) is not None


class _Structure(Exception):
    """The document is not shaped as expected at this point (handled by the caller)."""


class _Text:
    """Decoded text of the input with a read position; refills from the reader on demand."""

    def __init__(self, head: bytes, reader: BinaryIO, on_replaced: Callable[[str], None]) -> None:
        self.reader = reader
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.offset = 0  # characters dropped from the front of buf
        self.newlines_dropped = 0
        self.on_replaced = on_replaced
        self._feed(head)

    def _feed(self, data: bytes, final: bool = False) -> None:
        text = self.decoder.decode(data, final)
        if "\ufffd" in text and text.count("\ufffd") > data.count(b"\xef\xbf\xbd"):
            self.on_replaced(textcodec.NOTE_INVALID_UTF8)
        if self.pos > CHUNK:
            self.offset += self.pos
            self.newlines_dropped += self.buf.count("\n", 0, self.pos)
            self.buf = self.buf[self.pos:]
            self.pos = 0
        self.buf += text

    def more(self, want: int = CHUNK) -> bool:
        if self.eof:
            return False
        data = self.reader.read(max(want, CHUNK))
        if not data:
            self.eof = True
            self._feed(b"", final=True)
            return False
        self._feed(data)
        return True

    def skip_ws(self) -> None:
        while True:
            m = _WS.match(self.buf, self.pos)
            self.pos = m.end() if m else self.pos
            if self.pos < len(self.buf) or not self.more():
                return

    def peek(self) -> str:
        self.skip_ws()
        return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            if self.pos >= len(self.buf) and self.eof:
                raise RecordError(TRUNCATED)
            got = self.buf[self.pos : self.pos + 20] or "the end of the input"
            raise _Structure(f"expected {char!r} at character {self.offset + self.pos:,}, found {got!r}")
        self.pos += 1

    def value_text(self) -> str:
        """The JSON text of the value at the read position (whole), advancing past it."""
        self.skip_ws()
        want = CHUNK
        while True:
            try:
                _, end = _RAW.raw_decode(self.buf, self.pos)
                if end == len(self.buf) and not self.eof and self.more(want):
                    continue  # a number (or literal) at the end of the buffer may go on in the next chunk
            except json.JSONDecodeError as exc:
                if len(self.buf) - self.pos > MAX_OBJECT_CHARS:
                    raise RecordError(f"one JSON value is longer than {MAX_OBJECT_CHARS:,} characters") from None
                if not self.more(want):
                    if exc.msg.startswith("Unterminated") or exc.pos >= len(self.buf.rstrip()) - 1:
                        raise RecordError(TRUNCATED) from None
                    raise RecordError(f"invalid JSON: {exc.msg} at character {self.offset + exc.pos:,}") from None
                want *= 2  # a long value: read ahead faster than one chunk per retry
                continue
            text = self.buf[self.pos : end]
            self.pos = end
            return text

    def value(self) -> Any:
        text = self.value_text()
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            if "surrogate" not in str(exc).lower():
                raise RecordError(f"invalid JSON: {exc}") from None
        # A lone surrogate escape ("\ud83d": a string cut mid-emoji, as JSON.stringify writes it) is valid
        # JSON that orjson refuses: the whole-document parser's tolerant decode keeps the span, with U+FFFD
        try:
            value, note = textcodec.loads(text.encode("utf-8", "surrogatepass"))
        except orjson.JSONDecodeError as exc:
            raise RecordError(f"invalid JSON: {exc}") from None
        if note:
            self.on_replaced(note)
        return value

    def key(self) -> str:
        key = self.value()
        if not isinstance(key, str):
            raise _Structure(f"expected an object key at character {self.offset + self.pos:,}")
        self.expect(":")
        return key


def _items(text: _Text) -> Iterator[int]:
    """Walk a JSON array whose '[' is next: yields each element's index, positioned at the element."""
    text.expect("[")
    i = 0
    if text.peek() == "]":
        text.pos += 1
        return
    while True:
        yield i
        i += 1
        if _array_ends(text, ""):
            return


def _array_ends(text: _Text, after: str) -> bool:
    """Step over the separator after an array element: True at the closing ']', False after a ','."""
    c = text.peek()
    if c in (",", "]"):
        text.pos += 1
        return c == "]"
    if not c and text.eof:
        raise RecordError(TRUNCATED)
    raise _Structure(f"expected ',' or ']'{after} at character {text.offset + text.pos:,}")


def _keys(text: _Text) -> Iterator[str]:
    """Walk a JSON object whose '{' is next: yields each key, positioned at its value."""
    text.expect("{")
    if text.peek() == "}":
        text.pos += 1
        return
    while True:
        yield text.key()
        c = text.peek()
        if c == ",":
            text.pos += 1
        elif c == "}":
            text.pos += 1
            return
        elif not c and text.eof:
            raise RecordError(TRUNCATED)
        else:
            raise _Structure(f"expected ',' or '}}' at character {text.offset + text.pos:,}")


def stream_traces(head: bytes, reader: BinaryIO, source: str, normalizer: Normalizer,
                  emit: Callable[[ParseResult], None]) -> tuple[bytes, int] | None:
    """Parse an OTLP/JSON traces document from `head` + the rest of `reader`, emitting results as it goes.

    Same spans, locations, rejections and warnings as `parse_bytes` on the whole document (for valid
    documents); a document broken mid-way keeps every span before the break and reports where it is.
    Returns (unread text, newlines before it) when more follows the document (JSON Lines), else None.
    """
    warned: set[str] = set()
    pending = ParseResult()

    def replaced(note: str) -> None:  # each kind of replacement is said once per file
        for part in note.split("; "):
            if part not in warned:
                warned.add(part)
                pending.warnings.append(Rejected(source, part))

    text = _Text(head, reader, replaced)
    try:
        for key in _keys(text):
            if key not in ("resourceSpans", "resource_spans"):
                text.value_text()
                continue
            if text.peek() != "[":
                raise RecordError(f"expected '{key}' to be a list")
            for ri in _items(text):
                _resource_spans(text, ri, source, normalizer, pending, emit)
        text.skip_ws()
        if text.pos < len(text.buf):
            # More after the document: JSON Lines whose first request is longer than the peek. The caller
            # reads the rest line by line.
            rest = text.buf[text.pos:].encode("utf-8", "surrogatepass")
            consumed = text.buf.count("\n", 0, text.pos) + text.newlines_dropped
            emit(pending)
            return rest, consumed
    except _Structure as exc:
        pending.rejected.append(Rejected(source, f"not a well-formed OTLP/JSON traces document: {exc}; "
                                                 f"spans before this point were kept"))
    except RecordError as exc:
        pending.rejected.append(Rejected(source, str(exc)))
    emit(pending)
    return None


def _resource_spans(text: _Text, ri: int, where: str, normalizer: Normalizer, out: ParseResult,
                    emit: Callable[[ParseResult], None]) -> None:
    if text.peek() != "{":
        text.value_text()
        out.rejected.append(Rejected(f"{where}#resourceSpans[{ri}]", "expected an object"))
        return
    resource: dict[str, Any] | None = None
    waiting: list[tuple[int, str | None, list[tuple[int, Any]]]] = []  # spans read before the resource
    scope_keys_seen: str | None = None
    try:
        for key in _keys(text):
            if key == "resource":
                obj = text.value()
                resource = attributes((obj or {}).get("attributes")) if isinstance(obj, dict) else attributes(None)
                for si, scope, spans in waiting:
                    _spans(spans, resource, scope, where, ri, si, normalizer, out)
                waiting.clear()
            elif key in ("scopeSpans", "scope_spans", "instrumentationLibrarySpans") and scope_keys_seen in (None, key):
                scope_keys_seen = key
                if text.peek() == "n":  # null
                    text.value_text()
                    continue
                for si in _items(text):
                    _scope_spans(text, ri, si, resource, waiting, where, normalizer, out, emit)
            else:
                text.value_text()
    finally:  # also when the document breaks off: the spans read so far are kept
        for si, scope, spans in waiting:  # no resource (yet): none will come
            _spans(spans, resource or {}, scope, where, ri, si, normalizer, out)


def _scope_spans(text: _Text, ri: int, si: int, resource: dict[str, Any] | None,
                 waiting: list[tuple[int, str | None, list[tuple[int, Any]]]], where: str,
                 normalizer: Normalizer, out: ParseResult, emit: Callable[[ParseResult], None]) -> None:
    if text.peek() != "{":
        obj = text.value()
        if obj:
            raise RecordError(f"malformed scopeSpans[{si}]: expected an object")  # parse_bytes fails alike
        return
    scope: str | None = None
    scope_known = False
    held: list[tuple[int, Any]] = []
    scope_key: str | None = None
    try:
        for key in _keys(text):
            if key in ("scope", "instrumentationLibrary") and scope_key in (None, key):
                scope_key = key
                obj = text.value()
                scope = (obj.get("name") or None) if isinstance(obj, dict) else None
                scope_known = True
            elif key == "spans":
                if text.peek() == "n":
                    text.value_text()
                    continue
                loc = f"{where}#resourceSpans[{ri}].scopeSpans[{si}].spans["  # (as _spans writes it)
                for pi, raw in _span_values(text):
                    if resource is not None and scope_known:
                        if held:
                            _spans(held, resource, scope, where, ri, si, normalizer, out)
                            held = []
                        json_span_at(raw, resource, scope, f"{loc}{pi}]", normalizer, out)
                        if len(out.spans) >= 2000:
                            emit(_take(out))
                    else:
                        held.append((pi, raw))
            else:
                text.value_text()
    finally:  # also when the document breaks off: spans held for a scope key that never came are kept
        if held or not scope_known:
            if resource is not None:
                _spans(held, resource, scope, where, ri, si, normalizer, out)
            else:
                waiting.append((si, scope, held))


def _take(out: ParseResult) -> ParseResult:
    taken = ParseResult()
    taken.extend(out)
    out.spans, out.evaluations, out.rejected, out.warnings, out.log_messages = [], [], [], [], []
    out.records = 0
    return taken


def _span_values(text: _Text) -> Iterator[tuple[int, Any]]:
    """(index, decoded span object) for each element of the spans array whose '[' is next."""
    text.expect("[")
    if text.peek() == "]":
        text.pos += 1
        return
    i = 0
    no_cut_before = 0  # absolute position: no batch is tried before it (a window there failed)
    cut_re = _CUT
    while True:
        if text.pos + CHUNK > len(text.buf):
            text.more()
        start = text.pos
        if text.offset + start >= no_cut_before:
            # Only the last few cuts are tried: look for them in the window's tail first (a cut starts at
            # its '}', so the tail holds the same last cuts as the whole window whenever it holds three).
            end = min(len(text.buf), start + 2 * CHUNK)
            tail = max(start, end - CHUNK // 4)
            cuts = list(cut_re.finditer(text.buf, tail, end))
            if len(cuts) < 3 and tail > start:
                cuts = list(cut_re.finditer(text.buf, start, end))
            batch = None
            # The last cut may lie past the end of this array (in the next scope's spans): try a few
            # earlier ones, then go span by span up to where the failed cut was.
            for cut in cuts[::-1][:3]:
                try:
                    batch = orjson.loads("[" + text.buf[start : cut.start() + 1] + "]")
                    break
                except orjson.JSONDecodeError:
                    continue
            if batch is not None:
                for raw in batch:
                    yield i, raw
                    i += 1
                text.pos = cut.end()
                continue
            if cuts:
                no_cut_before = text.offset + cuts[-1].end()
        value = text.value()
        if cut_re is _CUT and isinstance(value, dict) and value:
            first = next(iter(value))  # (orjson keeps the written key order)
            if first not in ("traceId", "trace_id"):
                cut_re = _cut_before(first)
        yield i, value
        i += 1
        if _array_ends(text, f" after span {i - 1}"):
            return


def _spans(spans: list[tuple[int, Any]], resource: dict[str, Any], scope: str | None, where: str, ri: int, si: int,
           normalizer: Normalizer, out: ParseResult) -> None:
    for pi, raw in spans:
        json_span_at(raw, resource, scope, f"{where}#resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]", normalizer, out)


__all__ = ["BoundedGzip", "InflateLimit", "is_streamable", "stream_traces", "DEFAULT_MAX_INFLATE_RATIO"]
_ = zlib  # zlib.error is raised through BoundedGzip by gzip; callers catch it
