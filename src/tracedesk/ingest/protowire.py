"""Just enough of the protobuf wire format to cut an OTLP request into its spans (issue 14).

The protobuf runtime parses a request all or nothing: one span whose attribute nests past its recursion
limit (about 33 kvlist levels) or holds invalid UTF-8 fails the whole request, good spans included.
When that happens the OTLP reader walks the envelope (request -> resource_spans -> scope_spans -> spans)
with this module and hands each span's bytes to the runtime on its own, so only the bad span is lost.
"""
from __future__ import annotations

from collections.abc import Iterator

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class WireFormatError(ValueError):
    """The bytes are not protobuf at all (bad tag, length past the end)."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise WireFormatError("varint runs past the end of the message")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise WireFormatError("varint longer than 10 bytes")


def length_fields(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(field number, bytes) of every length-delimited field; other wire types are skipped."""
    pos, end = 0, len(data)
    while pos < end:
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise WireFormatError("field number 0")
        if wire == _VARINT:
            _, pos = _varint(data, pos)
        elif wire == _I64:
            pos += 8
        elif wire == _I32:
            pos += 4
        elif wire == _LEN:
            size, pos = _varint(data, pos)
            if pos + size > end:
                raise WireFormatError("length-delimited field runs past the end of the message")
            yield number, data[pos : pos + size]
            pos += size
        else:
            raise WireFormatError(f"unsupported wire type {wire}")
        if pos > end:
            raise WireFormatError("field runs past the end of the message")
