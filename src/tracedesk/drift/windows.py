"""Time windows for a drift comparison: parsing user times and choosing the reference window."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import sqlite_utils

from .. import timeutil
from ..errors import InputError
from ..store.drift import data_bounds

NS_PER_S = 1_000_000_000


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
    """'90m', '24h', '7d', '1w' -> nanoseconds; None when `text` is not a duration (tracedesk.timeutil)."""
    return timeutil.parse_duration(text) if timeutil.is_duration(text) else None


def parse_time(value: object, *, anchor_ns: int, name: str) -> int | None:
    """A point in time as Unix ns, in tracedesk.timeutil's grammar; None when not given.

    Relative forms ('24h', '-7d', 'now') count from `anchor_ns` (the newest span in the store, so a
    stored week of history works the same as live data).
    """
    try:
        return timeutil.parse_optional_time(value, now_ns=anchor_ns, name=name)
    except timeutil.TimeParseError as exc:
        raise DriftError(str(exc)) from None


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
        if reference_since is None and oldest >= ref_end:  # the default baseline, clipped to the data
            raise DriftError(
                f"There is no data before the current window ({iso(cur_start)} .. {iso(cur_end)}) to compare "
                f"it with: the oldest span is at {iso(oldest)}. Pass a later --since (the current window's "
                "start), or --reference-since/--reference-until.")
        raise DriftError(
            f"The reference window is empty ({iso(ref_start)} .. {iso(ref_end)}): its start must be before its "
            "end; pass --reference-since/--reference-until or an earlier --since."
        )
    if ref_start < cur_end and cur_start < ref_end:
        raise DriftError(
            f"The reference window ({iso(ref_start)} .. {iso(ref_end)}) overlaps the current window "
            f"({iso(cur_start)} .. {iso(cur_end)}); choose windows that do not overlap."
        )
    return Window(ref_start, ref_end), Window(cur_start, cur_end)
