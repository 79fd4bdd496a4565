"""The landing page's feed made ready by the writers: its stored samples built when data is written.

Why: the changes feed keeps its samples as per-signal per-hour chunks (store.feed_samples), built for
the hours a write touched by the first feed after it. After a bulk `tracedesk ingest` that is every
hour: the first feed read every span, trace and evaluation again (7.0 s CPU at 1M spans, against 2.25 s
for a cold feed over built chunks), and users met it as the landing page taking 7 s right after an
ingest. Building the chunks at the end of the ingest moves that work to where the user is already
waiting for a bulk load (and where it is a few percent of the ingest's CPU).

What is built is what `analysis.changes.find_changes` asks for with its default dimensions (the
landing page's feed): the same signals, the same group-bys, so the same set keys, hence the very rows
(and bytes) the feed would store itself. `tests/test_feed_ready.py` checks both, and that the first feed
after an ingest then refreshes nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

Progress = Callable[[int, int, str], None]


def wanted(db: Any) -> list[tuple[str, dict[str, Any], tuple[str, ...]]]:
    """(name, signal document, group_by) of every feed signal, as find_changes(db) (default dimensions)
    hands them to store.feed_samples."""
    from .changes import feed_wanted

    return feed_wanted(db)


def prepare(db: Any, progress: Progress | None = None, *, existing_only: bool = False) -> bool:
    """Bring the feed's stored samples up to date now (see store.feed_samples.prepare); False when there
    was nothing to build (an empty store), or it could not be done here (the feed does it then)."""
    from ..store import query as q
    from ..store.feed_samples import prepare as prepare_sets

    lo, _hi = q.time_bounds(db)
    if lo is None:
        return False
    done = prepare_sets(db, wanted(db), progress, existing_only=existing_only)
    if not existing_only:  # the Overview's per-hour cohort aggregates too (the first look then sums hours)
        from .cohort_hours import prepare as prepare_hours

        prepare_hours(db)
    return done
