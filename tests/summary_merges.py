"""Which traces a write merged into their stored summary instead of recomputing them (the incremental path)."""
from __future__ import annotations

from typing import Any

from tracedesk.store import summaries, write_batch


def merged_traces(db: Any, batch: list[Any]) -> list[str]:
    """Write a batch; the traces merged into their stored summary (not recomputed), in merge order."""
    calls: list[str] = []
    merge = summaries._merge
    summaries._merge = lambda *a: (merge(*a), calls.append(a[1]))[0]  # recorded only if it did not fall back
    try:
        write_batch(db, batch)
    finally:
        summaries._merge = merge
    return calls


def random_batches(data: Any, spans: list[Any], max_cuts: int) -> list[list[Any]]:
    """The spans in a drawn order, cut into up to max_cuts + 1 non-empty batches (hypothesis `data`)."""
    from hypothesis import strategies as st

    order = data.draw(st.permutations(spans))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(len(order) - 1, 1)), max_size=max_cuts)))
    return [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)]) if order[a:b]]
