"""Wire-level decoding shared by every OTLP reader: ids, AnyValue, int64, enum names (semconv.md §11)."""
from __future__ import annotations

import base64
import math
import binascii
from typing import Any

import orjson
from ..errors import IngestError

_HEX = frozenset("0123456789abcdefABCDEF")


class WireError(IngestError):
    """A field that cannot be decoded; the message says which and why."""


def norm_id(value: Any, nbytes: int, field: str) -> str | None:
    """Normalize a trace id (16 bytes) or span id (8 bytes) to lowercase hex.

    Accepts lowercase/uppercase hex, base64 (the proto3-JSON mapping some exporters use) and raw bytes.
    Missing or empty (including an all-zero id or an empty buffer) means "unset" and returns None.
    """
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        if not value:
            return None
        if len(value) != nbytes:
            raise WireError(f"{field} has {len(value)} bytes, expected {nbytes}")
        text = value.hex()
    elif isinstance(value, str):
        if not value:
            return None
        if len(value) == 2 * nbytes and _HEX.issuperset(value):
            text = value.lower()
        else:
            try:
                raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != nbytes:
                raise WireError(
                    f"{field} {value[:40]!r} is neither {2 * nbytes} hex digits nor base64 of {nbytes} bytes"
                )
            text = raw.hex()
    elif isinstance(value, dict) and not value:
        return None  # an empty buffer serialized as {}
    else:
        raise WireError(f"{field} has type {type(value).__name__}, expected a hex or base64 string")
    if text.count("0") == len(text):
        return None  # all-zero ids are "invalid" in OTel, i.e. unset
    return text


def to_int(value: Any) -> int | None:
    """int64 fields arrive as JSON numbers or decimal strings."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        # NaN / Infinity have no integer value; callers that need one report the field (ingest.validate).
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return int(float(value))
            except (ValueError, OverflowError):
                return None
    return None


def to_float(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None if not isinstance(value, bool) else float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def any_value(v: Any) -> Any:
    """Decode an OTLP/JSON AnyValue object to a plain Python value."""
    if not isinstance(v, dict):
        return v
    # The common case first: one key.
    for key, inner in v.items():
        if key == "stringValue":
            return inner
        if key == "intValue":
            return to_int(inner)
        if key == "doubleValue":
            return to_float(inner) if not isinstance(inner, float) else inner
        if key == "boolValue":
            return bool(inner)
        if key == "arrayValue":
            return [any_value(x) for x in (inner or {}).get("values", ()) or ()]
        if key == "kvlistValue":
            return {kv.get("key"): any_value(kv.get("value")) for kv in (inner or {}).get("values", ()) or ()}
        if key == "bytesValue":
            return inner
    return None


def attributes(kvs: Any) -> dict[str, Any]:
    """OTLP/JSON `attributes: [{key, value: AnyValue}]` -> dict (later keys win)."""
    out: dict[str, Any] = {}
    if not kvs:
        return out
    for kv in kvs:
        value = kv.get("value")
        if type(value) is dict and len(value) == 1:
            # Inline the hottest path (string / int attributes).
            if "stringValue" in value:
                out[kv["key"]] = value["stringValue"]
                continue
            if "intValue" in value:
                iv = value["intValue"]
                out[kv["key"]] = iv if type(iv) is int else to_int(iv)
                continue
        out[kv.get("key")] = any_value(value)
    return out


SPAN_KIND_NAMES = {
    0: None, 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER",
    "SPAN_KIND_UNSPECIFIED": None, "SPAN_KIND_INTERNAL": "INTERNAL", "SPAN_KIND_SERVER": "SERVER",
    "SPAN_KIND_CLIENT": "CLIENT", "SPAN_KIND_PRODUCER": "PRODUCER", "SPAN_KIND_CONSUMER": "CONSUMER",
    "INTERNAL": "INTERNAL", "SERVER": "SERVER", "CLIENT": "CLIENT", "PRODUCER": "PRODUCER",
    "CONSUMER": "CONSUMER",
}
STATUS_NAMES = {
    0: "UNSET", 1: "OK", 2: "ERROR", None: "UNSET",
    "STATUS_CODE_UNSET": "UNSET", "STATUS_CODE_OK": "OK", "STATUS_CODE_ERROR": "ERROR",
    "UNSET": "UNSET", "OK": "OK", "ERROR": "ERROR", "0": "UNSET", "1": "OK", "2": "ERROR",
}


def maybe_json(value: Any) -> Any:
    """Values that are JSON text (dicts as strings, MLflow's quoted strings) -> the decoded value."""
    if isinstance(value, str) and value[:1] in ('{', '[', '"'):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def as_text(value: Any) -> str | None:
    """A value as display text: strings stay, structures become compact JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return str(value)
