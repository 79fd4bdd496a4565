"""Format detection by content (never by file name) and parsing of one input into a ParseResult.

Order: gzip magic bytes -> protobuf (forced by content type, or binary first byte) -> one JSON document
(OTLP traces / logs request, a list of records, or a single record) -> JSON Lines (one OTLP request,
OTLP span object or flat record per line).
"""
from __future__ import annotations

import gzip
import re
import zlib
from typing import Any

import orjson

from ..models import Rejected
from .flat import is_otlp_span, parse_flat, parse_span_object
from .normalize import Normalizer
from . import textcodec
from .otlp import (RECORD_ERRORS, RecordError, parse_logs_json, parse_logs_proto, parse_traces_json,
                   parse_traces_proto, proto_kind)
from .result import ParseResult

GZIP_MAGIC = b"\x1f\x8b"
PROTOBUF_TYPES = ("application/x-protobuf", "application/protobuf", "application/octet-stream")

_default_normalizer: Normalizer | None = None


def default_normalizer() -> Normalizer:
    global _default_normalizer
    if _default_normalizer is None:
        _default_normalizer = Normalizer()
    return _default_normalizer


def gunzip(data: bytes, source: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise RecordError(f"gzip data is corrupt or truncated ({exc})") from None


def parse_bytes(data: bytes, source: str, content_type: str | None = None,
                normalizer: Normalizer | None = None) -> ParseResult:
    """Parse one input (file contents or an HTTP body) of any supported format; never raises for bad data."""
    normalizer = normalizer or default_normalizer()
    result = ParseResult()
    try:
        _parse_into(data, source, content_type, normalizer, result)
    except RecordError as exc:
        result.rejected.append(Rejected(source, str(exc)))
    return result


def _parse_into(data: bytes, source: str, content_type: str | None, normalizer: Normalizer,
                result: ParseResult) -> None:
    if data[:2] == GZIP_MAGIC:
        data = gunzip(data, source)
    try:
        data, note = textcodec.to_utf8(data)
    except textcodec.UndecodableText as exc:
        raise RecordError(str(exc)) from None
    if note:
        result.warnings.append(Rejected(source, note))
    ctype = (content_type or "").split(";")[0].strip().lower()
    stripped = data.lstrip()
    if not stripped:
        raise RecordError("input is empty")
    if (ctype not in PROTOBUF_TYPES and stripped[:1] not in (b"{", b"[")
            and (data[:1] != b"\x0a" or _is_text(data[:4096])) and _looks_like_json_lines(stripped)):
        # JSON Lines whose first line is not an object (a stray value): reject that line, keep the rest.
        parse_lines(data.splitlines(), source, normalizer, result)
        return
    if ctype in PROTOBUF_TYPES or stripped[:1] not in (b"{", b"["):
        if ctype and ctype not in PROTOBUF_TYPES and "json" in ctype:
            raise RecordError(f"content type {ctype} but the body is not JSON")
        if ctype not in PROTOBUF_TYPES and data[:1] != b"\x0a":
            # OTLP protobuf requests start with field 1 (resource_spans / resource_logs): byte 0x0a.
            raise RecordError("not a trace file: neither JSON (OTLP/JSON, JSON Lines, flat records) nor OTLP "
                              "protobuf; see docs/ingest.md for the formats")
        kind = proto_kind(data)
        if kind == "traces":
            parse_traces_proto(data, source, normalizer, result)
        else:
            parse_logs_proto(data, source, normalizer, result)
        return
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if _looks_like_json_lines(stripped):
            parse_lines(data.splitlines(), source, normalizer, result)
            return
        if not _bad_utf8(exc):
            raise RecordError(_json_error(exc, data)) from None
        # Keep every good record: replace what cannot be decoded and say exactly what was replaced.
        try:
            doc, note = textcodec.loads(data)
        except orjson.JSONDecodeError as exc2:
            raise RecordError(_json_error(exc2, data)) from None
        except RecursionError:
            raise RecordError("JSON nested too deeply to read") from None
        if note:
            result.warnings.append(Rejected(source, note))
    parse_document(doc, source, normalizer, result)


def parse_document(doc: Any, where: str, normalizer: Normalizer, result: ParseResult) -> None:
    """A decoded JSON value: an OTLP request, a record, or a list of either."""
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            try:
                _record(item, f"{where}[{i}]", normalizer, result)
            except RecordError as exc:
                result.records += 1
                result.rejected.append(Rejected(f"{where}[{i}]", str(exc)))
            except RECORD_ERRORS as exc:
                result.records += 1
                result.rejected.append(Rejected(f"{where}[{i}]", _malformed(exc)))
        return
    try:
        _record(doc, where, normalizer, result)
    except RECORD_ERRORS as exc:
        if isinstance(exc, RecordError):
            raise
        result.records += 1
        result.rejected.append(Rejected(where, _malformed(exc)))


def _malformed(exc: BaseException) -> str:
    """An unexpected shape (a list where an object belongs, ...): name it; the other records go on."""
    return f"malformed record ({type(exc).__name__}: {str(exc)[:200]})"


def _record(obj: Any, where: str, normalizer: Normalizer, result: ParseResult) -> None:
    if not isinstance(obj, dict):
        raise RecordError(f"expected a JSON object, got {type(obj).__name__}; see docs/ingest.md for the formats")
    if "resourceSpans" in obj or "resource_spans" in obj:
        parse_traces_json(obj, where, normalizer, result)
    elif "resourceLogs" in obj or "resource_logs" in obj:
        parse_logs_json(obj, where, normalizer, result)
    elif is_otlp_span(obj):
        result.records += 1
        parse_span_object(obj, where, normalizer, result)
    elif any(k in obj for k in ("trace_id", "conversation_id", "thread_id")):
        result.records += 1
        parse_flat(obj, where, normalizer, result)
    else:
        keys = ", ".join(list(obj)[:6])
        raise RecordError(
            f"unrecognized JSON object (keys: {keys}); expected an OTLP request with 'resourceSpans' or "
            f"'resourceLogs', an OTLP span object, or a flat record with 'trace_id'"
        )


def parse_line(line: bytes, where: str, normalizer: Normalizer, result: ParseResult) -> None:
    """One JSON Lines line; a bad line is rejected with its location, the rest go on."""
    if line[:3] == textcodec.UTF8_BOM:
        line = line[3:]
    if not line.strip():
        return
    try:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if not _bad_utf8(exc):
                raise RecordError(_json_error(exc, line)) from None
            obj, note = textcodec.loads(line)
            if note:
                result.warnings.append(Rejected(where, note))
        _record(obj, where, normalizer, result)
    except RecordError as exc:
        result.records += 1
        result.rejected.append(Rejected(where, str(exc)))
    except orjson.JSONDecodeError as exc:
        result.records += 1
        result.rejected.append(Rejected(where, _json_error(exc, line)))
    except RECORD_ERRORS as exc:
        result.records += 1
        result.rejected.append(Rejected(where, _malformed(exc)))


def parse_lines(lines: list[bytes], source: str, normalizer: Normalizer, result: ParseResult,
                first_line: int = 1) -> None:
    for n, line in enumerate(lines, first_line):
        parse_line(line, f"{source}:{n}", normalizer, result)


def _looks_like_json_lines(data: bytes) -> bool:
    """Several lines, one of the first few a JSON object: JSON Lines, even when the FIRST line is the bad
    one (truncated, wrong type), so that line is rejected alone instead of the whole file."""
    lines = [line.strip() for line in data.split(b"\n", 20)[:20] if line.strip()]
    if len(lines) < 2:
        return False
    # Pretty-printed JSON: most lines are fragments (a key, `{`, `}`, `]`) that are not JSON on their own.
    return 2 * sum(line[:1] == b"{" or _is_json_value(line) for line in lines) >= len(lines)


#: Control bytes that text never holds (all but tab, newline, carriage return) and protobuf almost always
#: does within its first bytes: the tags and short lengths of the nested resource/scope/span messages.
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _is_text(head: bytes) -> bool:
    """Whether bytes that start with 0x0a (protobuf's first tag, and a blank line in text) are text:
    JSON Lines after a blank first line must not be read as a corrupt protobuf request."""
    return _CONTROL_BYTES.search(head) is None


def _is_json_value(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _is_json_object(line: bytes) -> bool:
    line = line.strip()
    if not line.startswith(b"{"):
        return False
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError as exc:
        return _bad_utf8(exc) and line.endswith(b"}")


def _bad_utf8(exc: Exception) -> bool:
    return "utf-8" in str(exc).lower() or "surrogate" in str(exc).lower()


def _json_error(exc: orjson.JSONDecodeError, data: bytes) -> str:
    pos = getattr(exc, "pos", None)
    msg = getattr(exc, "msg", str(exc))
    if pos is not None and pos >= len(data.rstrip()) - 1:
        return f"truncated or invalid JSON: {msg} at the end of the input (is the file complete?)"
    lineno = getattr(exc, "lineno", None)
    where = f" at line {lineno} column {getattr(exc, 'colno', '?')}" if lineno else ""
    return f"invalid JSON: {msg}{where}"
