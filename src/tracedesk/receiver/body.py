"""Reading a request body within a size limit: Content-Length or chunked, then gzip/deflate.

The Node.js OTLP exporter streams with `Transfer-Encoding: chunked` and no Content-Length, which
`http.server` does not decode, so chunked framing is read here. Every step is bounded: the raw body and
the decompressed body must each stay under the limit (a 100 KB gzip can inflate to gigabytes).
"""
from __future__ import annotations

import io
import zlib
from typing import BinaryIO, Union

#: http.server's rfile (typed BufferedIOBase) or any binary stream
Readable = Union[BinaryIO, io.BufferedIOBase]


class BodyError(Exception):
    """A body that cannot be accepted; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, consumed: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        #: the whole body was read off the connection, so it can serve the next request
        self.consumed = consumed


def too_large(limit: int) -> BodyError:
    return BodyError(413, f"request body exceeds the receiver's limit of {limit} bytes "
                          f"(start it with a larger --max-body-mb, or export smaller batches)")


def read_length(rfile: Readable, length: int, limit: int) -> bytes:
    if length > limit:
        raise too_large(limit)
    data = rfile.read(length)
    if len(data) != length:
        raise BodyError(400, f"body ended after {len(data)} of {length} bytes (Content-Length)")
    return data


def read_chunked(rfile: Readable, limit: int, discard_limit: int = 0) -> bytes:
    """Decode `Transfer-Encoding: chunked` framing (RFC 9112 section 7.1), at most `limit` bytes.

    Past the limit, up to `discard_limit` more bytes are read and dropped, so the refusal (413) reaches
    a client that is still sending instead of a connection reset.
    """
    parts: list[bytes] = []
    total = 0
    over = False
    while True:
        line = rfile.readline(1026)
        if not line.endswith(b"\n"):
            raise BodyError(400, "malformed chunked body: missing or overlong chunk-size line")
        size_text = line.split(b";", 1)[0].strip()  # drop chunk extensions
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BodyError(400, f"malformed chunked body: bad chunk size {size_text[:20]!r}") from None
        if size < 0:
            raise BodyError(400, "malformed chunked body: negative chunk size")
        if size == 0:
            break
        total += size
        if total > limit:
            over = True
            parts.clear()
            if total > limit + discard_limit:
                raise too_large(limit)
        chunk = rfile.read(size)
        if len(chunk) != size:
            raise BodyError(400, "malformed chunked body: connection closed inside a chunk")
        if not over:
            parts.append(chunk)
        if rfile.readline(3) not in (b"\r\n", b"\n"):
            raise BodyError(400, "malformed chunked body: chunk not followed by CRLF")
    # Trailer section: header lines until an empty line.
    for _ in range(100):
        line = rfile.readline(8192)
        if line in (b"\r\n", b"\n", b""):
            break
    else:
        raise BodyError(400, "malformed chunked body: too many trailer lines")
    if over:
        error = too_large(limit)
        error.consumed = True
        raise error
    return b"".join(parts)


def decode_content(data: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding (identity, gzip, deflate), refusing output larger than `limit`.

    Called on a body already read in full: its errors leave the connection usable.
    """
    try:
        return _decode(data, encoding, limit)
    except BodyError as exc:
        exc.consumed = True
        raise


def _decode(data: bytes, encoding: str | None, limit: int) -> bytes:
    coding = (encoding or "identity").strip().lower()
    if coding in ("", "identity"):
        return data
    if coding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif coding == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise BodyError(415, f"unsupported Content-Encoding {encoding!r}; send gzip, deflate or identity")
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit + 1)
        if len(out) > limit or inflater.unconsumed_tail:
            raise too_large(limit)
        out += inflater.flush()
    except zlib.error as exc:
        raise BodyError(400, f"body is not valid {coding} data: {exc}") from None
    if len(out) > limit:
        raise too_large(limit)
    if not inflater.eof:
        raise BodyError(400, f"{coding} body is truncated")
    return out
