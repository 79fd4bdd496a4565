"""A registered signal's samples read from the copy the database keeps for the changes feed.

Why: an alert backtest over all of history reads every sample of its signals (the Alerts page's default
rule, RETRIEVER p95 and a judge's mean score: every RETRIEVER span and every groundedness evaluation,
6-9 s of CPU at 10M spans). The feed keeps the samples of the same signals per hour, with the cohort
cell of each of its dimensions (store.feed_samples, built at the end of an ingest); for a scope and
group-by on those dimensions they are the same rows, read as a few thousand blobs.

Which reads qualify, so the frame equals `signals.samples(db, signal, SampleQuery(scope, group_by,
since, until))` but for its trace ids:
- the signal document is one the feed reads, exactly (same type and parameters);
- every scope and group-by dimension is one of that signal's stored dimensions and not derived in
  Python (model_family);
- scope dimensions hold one value per sample (not span-level membership, such as a trace's models,
  whose filter asks the trace's spans: the stored cell cannot answer it); group-by ones may list
  several, and are exploded as the registry's reads are (store.cohort_sql.explode);
- the stored copy is current as it is: every set the feed keeps exists and no hour is marked dirty. A
  reader of two signals does not pay for a first build of all of them, and never writes: `alerts check`
  beside a receiver that has just written reads rows (the receiver brings the copy up to date when idle).
A scope value matches a stored cell as SQL's `IN` matches it: the same text (a number kept in a mapped
key matches no text value, in either path). Rows come in time order; samples sharing one time may come
in another order than the registry's (its evaluations by trace row, these by evaluator and score), so a
mean over a window can differ in its last bit.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import cohorts


def stored_samples(db: Any, signal: dict[str, Any], scope: dict[str, tuple[str, ...]], group_by: tuple[str, ...],
                   since_ns: int | None, until_ns: int | None) -> pd.DataFrame | None:
    """Columns t, v, *group_by (in the caller's spelling) of the samples with since < t <= until, from the
    feed's stored copy; None when that copy cannot serve this read (see the module's docstring)."""
    from ..store.cohort_sql import explode
    from ..store.feed_samples import stored_frames
    from .changes import feed_wanted

    kept = feed_wanted(db)
    wanted = repr(sorted(signal.items()))
    entry = next((w for w in kept if repr(sorted(w[1].items())) == wanted), None)
    if entry is None:
        return None
    name, _signal, stored_by = entry
    try:
        by_name = {cohorts.resolve(g, bare_mapped=True).name: g for g in stored_by}
        asked = {d: cohorts.resolve(d, bare_mapped=True) for d in (*scope, *group_by)}
    except cohorts.CohortError:
        return None  # the registry's read says what is wrong with the name
    for d, dim in asked.items():
        if dim.derived_from is not None or dim.name not in by_name or (d in scope and dim.membership):
            return None
    frames = stored_frames(db, [entry], since_ns, until_ns, kept=kept, writes=False)
    if frames is None:
        return None
    frame = frames[name]
    keep = np.ones(len(frame), dtype=bool)
    for d, values in scope.items():
        keep &= frame[by_name[asked[d].name]].isin([str(v) for v in values]).to_numpy(bool)
    rows = np.flatnonzero(keep) if not keep.all() else None
    out = pd.DataFrame({
        "t": frame["t"].to_numpy(np.int64) if rows is None else frame["t"].to_numpy(np.int64)[rows],
        "v": frame["v"].to_numpy(np.float64) if rows is None else frame["v"].to_numpy(np.float64)[rows],
        **{g: _cells(frame[by_name[asked[g].name]], rows) for g in group_by}})
    return explode(out, {g: asked[g] for g in group_by})


def _cells(column: pd.Series, rows: np.ndarray | None) -> np.ndarray:
    """A stored dimension column as the registry's reads give it: objects, None where there is no value."""
    values = np.asarray(column.astype(object).where(column.notna(), None), dtype=object)
    return values if rows is None else values[rows]
