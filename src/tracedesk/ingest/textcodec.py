"""Bytes -> JSON values for inputs that are not clean UTF-8 JSON (issue 14).

Real exporters and editors produce: a UTF-8 byte-order mark (Windows tools), UTF-16 files (PowerShell's
`>` redirect), stray invalid bytes, and lone surrogate escapes (`"\\ud83d"`, what `JSON.stringify` emits
for a string cut in the middle of an emoji). orjson refuses all of these; this module decodes what can be
decoded, replaces what cannot with U+FFFD, and returns a note saying exactly what it changed, so the
caller can report it as a warning instead of rejecting the whole document.
"""
from __future__ import annotations

import json
import re
from typing import Any

import orjson

UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_SURROGATE = re.compile("[\ud800-\udfff]")

NOTE_INVALID_UTF8 = "invalid UTF-8 replaced with U+FFFD"
NOTE_SURROGATES = "lone UTF-16 surrogate escape(s) (e.g. \"\\ud83d\", a string cut mid-emoji) replaced with U+FFFD"


class UndecodableText(ValueError):
    """The bytes are not text in an encoding tracedesk reads; the message names the encoding found."""


def to_utf8(data: bytes) -> tuple[bytes, str | None]:
    """Strip a UTF-8 BOM and re-encode UTF-16 (with or without BOM) as UTF-8.

    Returns (bytes, note) where note says what was done (None when the input was plain UTF-8).
    """
    if data[:3] == UTF8_BOM:
        return data[3:], None  # a BOM carries no information; stripping it is not worth a warning
    encoding = None
    for bom, name in _UTF16_BOMS:
        if data[:2] == bom:
            encoding, data = name, data[2:]
            break
    if encoding is None:
        encoding = _utf16_without_bom(data)
    if encoding is None:
        return data, None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UndecodableText(f"the input looks like {encoding.upper()} but does not decode ({exc.reason} at "
                              f"byte {exc.start}); save it as UTF-8") from None
    return text.encode("utf-8", "surrogatepass"), f"decoded from {encoding.upper()}"


def _utf16_without_bom(data: bytes) -> str | None:
    """JSON starts with ASCII (`{`, `[`, whitespace): in UTF-16 every other byte of it is NUL."""
    head = data[:64]
    if len(head) < 4:
        return None
    if head[1] == 0 and head[3] == 0 and head[0] != 0:
        return "utf-16-le"
    if head[0] == 0 and head[2] == 0 and head[1] != 0:
        return "utf-16-be"
    return None


def loads(data: bytes) -> tuple[Any, str | None]:
    """Decode JSON, tolerating invalid UTF-8 bytes and lone surrogate escapes.

    Returns (value, note): note is None for clean input, else what was replaced. Raises
    orjson.JSONDecodeError for input that is not JSON at all.
    """
    try:
        return orjson.loads(data), None
    except orjson.JSONDecodeError as exc:
        message = str(exc).lower()
        if "surrogate" not in message and "utf-8" not in message:
            raise
    # orjson words both cases alike ("surrogates not allowed"): tell them apart by decoding the bytes.
    notes = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        notes.append(NOTE_INVALID_UTF8)
        try:
            return orjson.loads(text), NOTE_INVALID_UTF8
        except orjson.JSONDecodeError as exc:
            if "surrogate" not in str(exc).lower():
                raise
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise orjson.JSONDecodeError(exc.msg, exc.doc, exc.pos) from None
    except ValueError as exc:
        raise orjson.JSONDecodeError(str(exc), text, 0) from None
    notes.append(NOTE_SURROGATES)
    return scrub_surrogates(value), "; ".join(notes)


def _refuse_constant(name: str) -> Any:
    # Same rule as orjson: NaN / Infinity literals are not JSON.
    raise ValueError(f"{name} is not a JSON value")


def scrub_surrogates(value: Any) -> Any:
    """Replace lone surrogates in every string (keys included) with U+FFFD; iterative, any depth."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if not isinstance(value, (dict, list)):
        return value
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        container, key = stack.pop()
        item = container[key]
        if isinstance(item, str):
            if _SURROGATE.search(item):
                container[key] = _SURROGATE.sub("\ufffd", item)
        elif isinstance(item, list):
            stack.extend((item, i) for i in range(len(item)))
        elif isinstance(item, dict):
            if any(_SURROGATE.search(k) for k in item):
                fixed = {_SURROGATE.sub("\ufffd", k): v for k, v in item.items()}
                container[key] = item = fixed
            stack.extend((item, k) for k in item)
    return root[0]
