"""Drift's inputs: the rows store.drift reads for the two windows, labelled by window, with cohorts
finished (a row whose trace lists several models/agents counts in each; model families), and the
samples of registered signals.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import orjson
import pandas as pd
import sqlite_utils

from .. import cohorts
from ..errors import choices_hint
from ..cohorts import NO_VALUE, model_family  # noqa: F401  (model_family: importable from here as before)
from ..store import cohort_sql as _cohort_sql
from ..store import drift as _reads
from ..store.drift import ALL, trace_ids_for, window_strides  # noqa: F401  (part of this module's API)
from .windows import DriftError, Window

MODEL_FAMILY = cohorts.MODEL_FAMILY.name


def _dimension(dimension: str) -> cohorts.Dimension:
    try:
        return cohorts.resolve(dimension, bare_mapped=True)
    except cohorts.CohortError as exc:
        raise DriftError(str(exc)) from None


def available_dimensions(db: sqlite_utils.Database) -> list[str]:
    """Dimensions drift can slice by: every built-in one, model_family, and the mapped dims keys."""
    return cohorts.available(_cohort_sql.mapped_keys(db), derived=True)


def finish_cohorts(df: pd.DataFrame, dimension: str | None) -> pd.DataFrame:
    """Cohort values SQL does not compute: a row whose trace lists several models/agents counts in each
    (membership, as everywhere else), and model families."""
    if dimension is None or df.empty:
        return df
    dim = _dimension(dimension)
    out = _cohort_sql.explode(df.assign(cohort=df["cohort"].where(df["cohort"] != NO_VALUE, None)),
                              {"cohort": dim})
    out["cohort"] = out["cohort"].fillna(NO_VALUE)
    return out


def check_dimension(db: sqlite_utils.Database, dimension: str | None) -> None:
    if dimension is None:
        return
    known = available_dimensions(db)
    try:
        cohorts.resolve(dimension, _cohort_sql.mapped_keys(db))
    except cohorts.CohortError:
        raise DriftError(f"Unknown dimension {dimension!r}; {choices_hint(dimension, known)}.") from None


def _label(times: np.ndarray, cur: Window) -> np.ndarray:
    """True for rows in the current window."""
    return (times >= cur.start_ns) & (times < cur.end_ns)


def _dim(dimension: str | None) -> cohorts.Dimension | None:
    return None if dimension is None else _dimension(dimension)


def load_llm(db: sqlite_utils.Database, dimension: str | None, ref: Window, cur: Window,
             strides: dict[str, dict[str, int]]) -> pd.DataFrame:
    """One row per (sampled) LLM span in either window: lengths, tokens, output flags, finish reason."""
    df = _reads.llm_rows(db, _dim(dimension), ref, cur, strides)
    df["current"] = _label(df["start_ns"].to_numpy(dtype=np.int64), cur)
    return finish_cohorts(df, dimension)


def load_texts(db: sqlite_utils.Database, rowids: Sequence[int], limit: int = 600) -> dict[int, str]:
    """Input text (first `limit` chars) for the given span rowids."""
    return _reads.input_texts(db, rowids, limit)


def load_retrieval(db: sqlite_utils.Database, dimension: str | None, ref: Window, cur: Window,
                   strides: dict[str, dict[str, int]], rank_depth: int = 3) -> pd.DataFrame:
    """One row per (sampled) RETRIEVER span: latency, the top document's score, and the ids of its
    first `rank_depth` documents (columns doc_0..doc_{depth-1}, None when fewer came back)."""
    depth = max(1, int(rank_depth))
    df = _reads.retrieval_rows(db, _dim(dimension), ref, cur, strides)
    docs = np.full((len(df), depth), None, dtype=object)
    for i, raw in enumerate(df.pop("doc_ids").tolist()):
        if raw:
            ids = orjson.loads(raw)[:depth]
            docs[i, : len(ids)] = [str(x) for x in ids]
    for i in range(depth):
        df[f"doc_{i}"] = docs[:, i]
    df["current"] = _label(df["start_ns"].to_numpy(dtype=np.int64), cur)
    return finish_cohorts(df, dimension)


def load_evaluations(
    db: sqlite_utils.Database, dimension: str | None, ref: Window, cur: Window, stride: int = 1
) -> pd.DataFrame:
    """One row per (sampled) scored evaluation, timed by its trace's start (as every evaluation signal:
    when the traffic happened, not when the judge ran)."""
    df = _reads.evaluation_rows_in(db, _dim(dimension), ref, cur, stride)
    df["current"] = _label(df["start_ns"].to_numpy(dtype=np.int64), cur)
    return finish_cohorts(df, dimension)


def load_signal(db: sqlite_utils.Database, signal: dict, dimension: str | None, ref: Window,
                cur: Window) -> pd.DataFrame:
    """Samples of a registered signal (`tracedesk.signals`) in either window: one row per sample with
    start_ns, value, cohort ("(none)" when missing, "all" without a dimension), trace_id and current.
    The same samples an alert window or the Cohorts matrix aggregates; windows are [start, end)."""
    from ..signals import SampleQuery, samples

    group = (dimension,) if dimension else ()
    lo, hi = min(ref.start_ns, cur.start_ns), max(ref.end_ns, cur.end_ns)
    frame = samples(db, signal, SampleQuery({}, group, since_ns=lo - 1, until_ns=hi - 1))
    t = frame["t"].to_numpy(dtype=np.int64)
    keep = ((t >= ref.start_ns) & (t < ref.end_ns)) | _label(t, cur)
    frame = frame[keep].reset_index(drop=True)
    cohort = frame[dimension].fillna(NO_VALUE).astype(object) if dimension else ALL
    out = pd.DataFrame({"start_ns": frame["t"].to_numpy(dtype=np.int64), "value": frame["v"].to_numpy(dtype=float),
                        "cohort": cohort, "trace_id": frame["trace_id"].to_numpy(dtype=object)})
    out["current"] = _label(out["start_ns"].to_numpy(dtype=np.int64), cur)
    return out
