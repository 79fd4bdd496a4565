"""Time and duration parsing: the one grammar every feature (filters, alerts, drift, the CLI) accepts.

Points in time (`parse_time`), all returned as Unix nanoseconds (int):
- ISO-8601 with at least minutes, or a date: `2026-11-20`, `2026-11-20T14:05`, `2026-11-20 14:05:09`,
  `2026-11-20T14:05:09.123456789Z`, `...+02:00`. No zone means UTC. Up to 9 fractional digits, kept exactly.
- Unix numbers, unit read from the magnitude: seconds (< 1e11), milliseconds (< 1e14), microseconds
  (< 1e17), else nanoseconds; decimal seconds (`1763640000.25`) too.
- Relative to `now_ns` (the wall clock unless the caller passes an anchor such as the newest span):
  `now`, `-6h`, `now-6h`, `now+30m`; a bare duration (`24h`) counts back, like `-24h`.
- Python values: datetime (naive = UTC), date (midnight UTC), pandas Timestamp (ns kept), int/float.

Durations (`parse_duration`): a number and a unit, `30s`, `5m`, `4h`, `7d`, `1w`, `250ms`, `1.5h`, `90us`,
`10ns`; returned as nanoseconds (must come out whole).

`format_time` / `format_duration` write the shortest string that parses back to the same nanosecond.
This module imports only the standard library (the CLI parses options before loading pandas).
"""
from __future__ import annotations

import datetime as _dt
import numbers
import re
import time
from decimal import Decimal, InvalidOperation

from .errors import TimeParseError

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
#: Unit -> nanoseconds, for durations. "m" is minutes; milliseconds are "ms".
DURATION_UNITS: dict[str, int] = {
    "ns": 1,
    "us": NS_PER_US,
    "ms": NS_PER_MS,
    "s": NS_PER_S,
    "m": 60 * NS_PER_S,
    "h": 3600 * NS_PER_S,
    "d": 86400 * NS_PER_S,
    "w": 7 * 86400 * NS_PER_S,
}
_LARGEST_FIRST = sorted(DURATION_UNITS.items(), key=lambda kv: -kv[1])

TIME_FORMS = ("ISO 8601 like 2026-11-20, 2026-11-20T14:05 or 2026-11-20T14:05:09.5Z (UTC when no zone)",
              "Unix seconds, milliseconds or nanoseconds (e.g. 1763640000)",
              "'now', or relative like -6h / now-30m (a bare 24h also counts back)")
DURATION_FORMS = "a number and a unit (ns, us, ms, s, m, h, d, w), e.g. '15m', '30s', '4h', '7d'"

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h|d|w)\s*$", re.IGNORECASE)
_RELATIVE_RE = re.compile(r"^\s*(now)?\s*([+-])?\s*(\d+(?:\.\d+)?\s*[a-z]+)\s*$", re.IGNORECASE)
_NUMBER_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*$")
_ISO_RE = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?\s*$"
)
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _label(name: str | None) -> str:
    return f"{name}=" if name else ""


def parse_duration(text: str, *, name: str | None = None) -> int:
    """'30s', '5m', '4h', '7d', '1w', '250ms', '1.5h' -> nanoseconds (a whole, non-negative number)."""
    match = _DURATION_RE.match(text) if isinstance(text, str) else None
    if not match:
        raise TimeParseError(f"{_label(name)}{text!r} is not a duration; write {DURATION_FORMS}")
    amount = Decimal(match.group(1)) * DURATION_UNITS[match.group(2).lower()]
    if amount != amount.to_integral_value():
        raise TimeParseError(f"{_label(name)}{text!r} is not a whole number of nanoseconds; "
                             f"use a smaller unit, e.g. {DURATION_FORMS}")
    return int(amount)


def is_duration(text: object) -> bool:
    return isinstance(text, str) and _DURATION_RE.match(text) is not None


def format_duration(ns: int) -> str:
    """The shortest exact spelling: 90 s -> '90s', 1 h -> '1h', 0 -> '0s'; parse_duration reads it back."""
    if ns < 0:
        raise ValueError(f"a duration cannot be negative (got {ns} ns)")
    if ns == 0:
        return "0s"
    for unit, size in _LARGEST_FIRST:
        if ns % size == 0:
            return f"{ns // size}{unit}"
    raise AssertionError("unreachable: 'ns' divides everything")


def _from_number(value: Decimal) -> int:
    magnitude = abs(value)
    if magnitude < Decimal(10) ** 11:
        ns = value * NS_PER_S
    elif magnitude < Decimal(10) ** 14:
        ns = value * NS_PER_MS
    elif magnitude < Decimal(10) ** 17:
        ns = value * NS_PER_US
    else:
        ns = value
    return int(ns.to_integral_value())


def _from_datetime(value: _dt.datetime) -> int:
    nanos_attr = getattr(value, "value", None)  # pandas.Timestamp: exact ns, tz-aware or naive-as-UTC
    if isinstance(nanos_attr, int) and hasattr(value, "tz_localize"):
        return nanos_attr
    when = value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
    return (when - _EPOCH) // _dt.timedelta(microseconds=1) * NS_PER_US


def _from_iso(match: re.Match[str]) -> int:
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    tz = _dt.timezone.utc
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        tz = _dt.timezone(sign * offset)
    when = _dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                        tzinfo=tz)
    whole = (when - _EPOCH) // _dt.timedelta(seconds=1)
    nanos = int((fraction or "").ljust(9, "0") or 0)
    return whole * NS_PER_S + nanos


def parse_time(value: object, *, now_ns: int | None = None, name: str | None = None) -> int:
    """A point in time as Unix ns, from any form in the module docstring.

    `now_ns` anchors 'now' and relative forms (default: the wall clock). `name` (an option or parameter
    name) starts the error message, which lists the accepted forms.
    """
    if isinstance(value, bool):
        raise TimeParseError(f"{_label(name)}{value!r} is not a time; use " + "; ".join(TIME_FORMS))
    if isinstance(value, _dt.datetime):
        return _from_datetime(value)
    if isinstance(value, _dt.date):
        return _from_datetime(_dt.datetime(value.year, value.month, value.day))
    if isinstance(value, numbers.Integral):
        return _from_number(Decimal(int(value)))
    if isinstance(value, numbers.Real):
        return _from_number(Decimal(repr(float(value))))
    if not isinstance(value, str):
        raise TimeParseError(f"{_label(name)}{value!r} is not a time; use " + "; ".join(TIME_FORMS))
    text = value.strip()
    match = _ISO_RE.match(text)
    if match:
        try:
            return _from_iso(match)
        except ValueError as exc:  # e.g. month 13, hour 25
            raise TimeParseError(f"{_label(name)}{value!r} is not a valid date/time ({exc}); use "
                                 + "; ".join(TIME_FORMS)) from None
    number = _NUMBER_RE.match(text)
    if number:
        try:
            return _from_number(Decimal(number.group(1)))
        except InvalidOperation:  # pragma: no cover - the regex only lets decimals through
            pass
    if text.lower() == "now":
        return time.time_ns() if now_ns is None else now_ns
    relative = _RELATIVE_RE.match(text)
    if relative and is_duration(relative.group(3)) and not (relative.group(1) and not relative.group(2)):
        anchor = time.time_ns() if now_ns is None else now_ns
        delta = parse_duration(relative.group(3), name=name)
        return anchor + delta if relative.group(2) == "+" else anchor - delta
    raise TimeParseError(f"{_label(name)}{value!r} is not a time; use " + "; ".join(TIME_FORMS))


def parse_optional_time(value: object, *, now_ns: int | None = None, name: str | None = None) -> int | None:
    """parse_time, with None and "" meaning "not given"."""
    if value is None or value == "":
        return None
    return parse_time(value, now_ns=now_ns, name=name)


def format_time(ns: int, *, timespec: str = "auto") -> str:
    """ISO-8601 in UTC that parse_time reads back to the same nanosecond.

    timespec "auto": the shortest exact form ('2026-11-20T14:05Z', '...T14:05:09Z', '...T14:05:09.25Z');
    "seconds": always with seconds (a fraction only when needed).
    """
    if timespec not in ("auto", "seconds"):
        raise ValueError(f"timespec must be 'auto' or 'seconds', not {timespec!r}")
    whole, nanos = divmod(int(ns), NS_PER_S)
    when = _EPOCH + _dt.timedelta(seconds=whole)
    text = when.strftime("%Y-%m-%dT%H:%M")
    if nanos or when.second or timespec == "seconds":
        text += f":{when.second:02d}"
        if nanos:
            text += "." + f"{nanos:09d}".rstrip("0")
    if when.year < 1000:  # strftime does not pad years below 1000 everywhere
        text = f"{when.year:04d}" + text[text.index("-"):]
    return text + "Z"


def halves_by_day(lo_ns: int, hi_ns: int) -> tuple[tuple[_dt.date, _dt.date], tuple[_dt.date, _dt.date]]:
    """The Cohorts page's default comparison of a range of traces (first and last start, ns): the first
    half of its UTC days against the rest, as (first day, last day) pairs, both days included; one day
    compared with itself when the range holds a single day."""
    first = _dt.datetime.fromtimestamp(lo_ns / 1e9, tz=_dt.timezone.utc).date()
    last = _dt.datetime.fromtimestamp(hi_ns / 1e9, tz=_dt.timezone.utc).date()
    mid = first + (last - first) // 2
    return (first, mid), (min(mid + _dt.timedelta(days=1), last), last)
