"""Per-record range checks, so one out-of-range value never loses a good record (issue 14).

Policy (docs/ingest.md, "Bad input"):
- A value the record cannot exist without is checked strictly and the RECORD is rejected with its
  location: span start/end times (must be nanoseconds between 1970-01-01 and 2200-01-01, which also keeps
  them inside SQLite's int64), flat-record times and durations, log-record times.
- A value the record is still useful without is DROPPED with a warning naming the field and why, and the
  record is stored: token counts (finite integers 0 .. 2^63-1), cost (finite, >= 0; a dropped reported
  cost falls back to the price table), TTFT (finite, >= 0), evaluation scores (finite), event times,
  attribute values nested deeper than MAX_DEPTH, integers outside int64 inside attributes (kept as text).
"""
from __future__ import annotations

import math
from typing import Any

from ..errors import IngestError

#: 2200-01-01T00:00:00Z in Unix nanoseconds: later "timestamps" are unit mistakes or sentinels
#: (`9999-12-31`, `1e30`), and 2^63 ns (year 2262) is where SQLite's INTEGER ends.
MAX_NS = 7_258_118_400 * 1_000_000_000
MAX_YEAR = 2200
INT64_MAX = 2**63 - 1
#: JSON attributes/metadata/messages nested deeper than this are dropped (orjson and SQLite's JSON
#: functions stop near 255-1000 levels; real telemetry stays under ~10).
MAX_DEPTH = 64


class RecordError(IngestError):
    """One record is unusable; the message is shown to the user with the record's location."""


def timestamp_ns(value: Any, field: str, *, required: bool = True) -> int | None:
    """A Unix-nanoseconds field (int, float or decimal string) -> int in 1970..2200, else RecordError.

    None / "" / 0 are "unset" and return None.
    """
    if value is None or value == "" or value == 0:
        return None
    if isinstance(value, bool):
        raise RecordError(f"{field} is a boolean ({value}); expected Unix nanoseconds")
    if isinstance(value, int):
        ns = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise RecordError(f"{field} is {value}; expected a finite number of Unix nanoseconds")
        ns = int(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            ns = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise RecordError(f"{field} {value[:40]!r} is not a number; expected Unix nanoseconds "
                                  f"(a decimal integer)") from None
            if not math.isfinite(number):
                raise RecordError(f"{field} is {value[:40]!r}; expected a finite number of Unix nanoseconds")
            ns = int(number)
    else:
        raise RecordError(f"{field} has type {type(value).__name__}; expected Unix nanoseconds")
    check_ns(ns, field, value)
    return ns


def check_ns(ns: int, field: str, shown: Any = None) -> None:
    if ns < 0 or ns >= MAX_NS:
        shown = ns if shown is None else shown
        text = shown if not isinstance(shown, str) else repr(shown[:40])
        raise RecordError(f"{field} {text} is outside 1970-01-01..{MAX_YEAR}-01-01 (Unix nanoseconds must be "
                          f"in 0..{MAX_NS}); is the unit wrong?")


def count(value: Any, field: str, notes: list[str]) -> int | None:
    """A token count: a finite integer 0..2^63-1 (floats with a fraction are truncated), else dropped."""
    if value is None or value == "":
        return None
    n: int | None = None
    if isinstance(value, bool):
        n = None
    elif isinstance(value, int):
        n = value
    elif isinstance(value, (float, str)):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            n = int(value) if isinstance(value, str) and value.strip().lstrip("-").isdigit() else int(number)
    if n is None or n < 0 or n > INT64_MAX:
        notes.append(f"{field} {_show(value)} is not a finite non-negative integer; field dropped")
        return None
    return n


def amount(value: Any, field: str, notes: list[str], *, minimum: float | None = 0.0) -> float | None:
    """A finite float (>= minimum when given), else dropped with a note. Non-numbers return None quietly
    (the caller's own parsing decides what text means)."""
    if value is None:
        return None
    if not isinstance(value, float):
        return value
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        bound = "finite" if minimum is None else f"finite and >= {minimum:g}"
        notes.append(f"{field} {_show(value)} must be {bound}; field dropped")
        return None
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def depth_over(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when a JSON-like value nests more than `limit` containers deep (iterative; stops early)."""
    if not isinstance(value, (dict, list, tuple)):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (dict, list, tuple)):
                stack.append((child, level + 1))
    return False


def _fix_big_ints(value: Any) -> tuple[Any, bool]:
    """Integers outside int64 cannot be stored as JSON numbers by orjson: keep them as decimal text."""
    if isinstance(value, int) and not isinstance(value, bool):
        if -INT64_MAX - 1 <= value <= 2**64 - 1:
            return value, False
        return str(value), True
    if isinstance(value, list):
        changed = False
        out = []
        for item in value:
            fixed, c = _fix_big_ints(item)
            out.append(fixed)
            changed |= c
        return (out, True) if changed else (value, False)
    if isinstance(value, dict):
        changed = False
        new: dict[Any, Any] = {}
        for k, item in value.items():
            fixed, c = _fix_big_ints(item)
            new[k] = fixed
            changed |= c
        return (new, True) if changed else (value, False)
    return value, False


def clean_mapping(values: dict[str, Any], what: str, notes: list[str]) -> None:
    """Drop values nested deeper than MAX_DEPTH and turn out-of-range integers into text, in place."""
    for key in list(values):
        value = values[key]
        kind = type(value)
        if kind is str or kind is float or kind is bool or value is None:
            continue
        if kind is int:
            if not (-INT64_MAX - 1 <= value <= 2**64 - 1):
                values[key] = str(value)
                notes.append(f"{what} {key!r}: integer {_show(value)} is outside 64 bits; stored as text")
            continue
        if depth_over(value):
            del values[key]
            notes.append(f"{what} {key!r} is nested more than {MAX_DEPTH} levels deep; dropped")
            continue
        fixed, changed = _fix_big_ints(value)
        if changed:
            values[key] = fixed
            notes.append(f"{what} {key!r} holds integers outside 64 bits; stored as text")


def clean_events(events: list[dict[str, Any]], notes: list[str]) -> None:
    for i, event in enumerate(events):
        t = event.get("time_ns")
        if t is not None and (not isinstance(t, int) or t < 0 or t >= MAX_NS):
            event["time_ns"] = None
            notes.append(f"event[{i}] time {_show(t)} is outside 1970..{MAX_YEAR}; time dropped")
        attrs = event.get("attributes")
        if isinstance(attrs, dict) and attrs:
            clean_mapping(attrs, f"event[{i}] attribute", notes)


def finite_or_none(value: float | None, field: str, notes: list[str]) -> float | None:
    if value is None or math.isfinite(value):
        return value
    notes.append(f"{field} {value} is not finite; field dropped")
    return None


def transient_write_error(exc: BaseException) -> bool:
    """Errors that a retry can cure (the database is locked or busy, the disk is full): the batch is not
    at fault, so it must not be split up and its records must not be reported as bad."""
    import sqlite3

    if isinstance(exc, (TimeoutError, MemoryError)):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return any(word in text for word in ("locked", "busy", "disk is full", "disk i/o", "unable to open"))
    return False
