"""Time windows for a drift comparison: parsing user times and choosing the reference window."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlite_utils
from ..errors import InputError

NS_PER_S = 1_000_000_000
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)


class DriftError(InputError):
    """A drift request that cannot be answered as asked; the message says how to fix it."""


TimeLike = "int | float | str | datetime | None"


@dataclass(frozen=True)
class Window:
    start_ns: int
    end_ns: int  # exclusive

    @property
    def length_ns(self) -> int:
        return self.end_ns - self.start_ns

    def to_dict(self) -> dict[str, object]:
        return {"start_ns": self.start_ns, "end_ns": self.end_ns,
                "start": iso(self.start_ns), "end": iso(self.end_ns)}


def iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / NS_PER_S, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str) -> int | None:
    """'90m', '24h', '7d', '1w' -> nanoseconds; None when `text` is not a duration."""
    match = _DURATION_RE.match(text)
    if not match:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()] * NS_PER_S)


def parse_time(value: object, *, anchor_ns: int, name: str) -> int | None:
    """A point in time as Unix ns.

    Accepts Unix ns / s numbers, ISO-8601 text ('2026-11-20', '2026-11-20T12:00', with or without a
    zone; no zone = UTC), a datetime, or a duration ('24h', '7d') counted back from `anchor_ns`
    (the newest span in the store, so a stored week of history works the same as live data).
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(dt.timestamp() * NS_PER_S)
    if isinstance(value, (int, float)):
        return int(value) if abs(value) > 1e14 else int(value * NS_PER_S)
    text = str(value).strip()
    duration = parse_duration(text)
    if duration is not None:
        return anchor_ns - duration
    if re.fullmatch(r"\d{10,19}", text):
        return parse_time(int(text), anchor_ns=anchor_ns, name=name)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DriftError(
            f"{name}={text!r} is not a time: use ISO-8601 ('2026-11-20' or '2026-11-20T12:00:00Z'), "
            "Unix seconds/ns, or a duration back from the newest span ('24h', '7d')."
        ) from None
    return parse_time(dt, anchor_ns=anchor_ns, name=name)


def data_bounds(db: sqlite_utils.Database) -> tuple[int, int] | None:
    """(oldest, newest) span start in the store, or None when it holds no spans."""
    row = db.execute("SELECT MIN(start_ns), MAX(start_ns) FROM spans").fetchone()
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


def resolve_windows(
    db: sqlite_utils.Database,
    since: object = None,
    until: object = None,
    reference_since: object = None,
    reference_until: object = None,
) -> tuple[Window, Window]:
    """(reference, current). Defaults: current = the last 24 h of data; reference = a rolling
    baseline, the period right before the current window (6x its length), clipped to the data."""
    bounds = data_bounds(db)
    if bounds is None:
        raise DriftError("The database holds no spans yet: ingest traces first (tracedesk ingest FILE).")
    oldest, newest = bounds
    anchor = newest + 1
    cur_end = parse_time(until, anchor_ns=anchor, name="until") or anchor
    cur_start = parse_time(since, anchor_ns=anchor, name="since")
    if cur_start is None:
        cur_start = cur_end - 24 * 3600 * NS_PER_S
    if cur_start >= cur_end:
        raise DriftError(f"The current window is empty: since ({iso(cur_start)}) must be before until ({iso(cur_end)}).")
    ref_end = parse_time(reference_until, anchor_ns=anchor, name="reference_until") or cur_start
    ref_start = parse_time(reference_since, anchor_ns=anchor, name="reference_since")
    if ref_start is None:
        ref_start = max(oldest, ref_end - 6 * (cur_end - cur_start))
    if ref_start >= ref_end:
        raise DriftError(
            f"The reference window is empty ({iso(ref_start)} .. {iso(ref_end)}): the store has no data "
            "before the current window; pass --reference-since/--reference-until or an earlier --since."
        )
    if ref_start < cur_end and cur_start < ref_end:
        raise DriftError(
            f"The reference window ({iso(ref_start)} .. {iso(ref_end)}) overlaps the current window "
            f"({iso(cur_start)} .. {iso(cur_end)}); choose windows that do not overlap."
        )
    return Window(ref_start, ref_end), Window(cur_start, cur_end)
