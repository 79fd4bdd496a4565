"""Drift statistics as alert signals, registered in the alerts signal registry.

So one joint rule can say "retrieval top-k overlap < 0.5 AND groundedness mean < 0.8". An alert
signal is a stream of time-stamped samples that the alert engine windows and aggregates, so each
drift statistic is written as a per-sample value measured against a reference window:

- retrieval_topk_overlap (mean): per retrieval, the share of its first `rank_depth` documents that are
  among the reference window's `top_k` most-retrieved documents of the same group. ~0.6-0.9 on a
  stable index; 0 after a reindex that changes every id.
- retrieval_new_docs (rate): 1 per retrieval returning a document never retrieved in the reference.
- output_length_shift (mean): per LLM answer, its length relative to the reference mean of its
  group, minus 1 (mean over a window = relative change of mean answer length; -0.4 = 40% shorter).

Reference window: the `reference` period (default 7d) right before the evaluated range. When that
holds no samples (a backtest replays history from the first span), the first `reference` of stored
data is the baseline. References are computed per group-by cohort, so each route is compared with
its own documents.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pandas as pd
import sqlite_utils

from .. import signals
from ..alerts.definition import SignalParam
from ..signals import SampleQuery, Signal
from ..store import samples as _samples
from ..timeutil import parse_duration

_REFERENCE = SignalParam("reference", choices=("1d", "2d", "3d", "7d", "14d", "28d"),
                         help="baseline period before the evaluated range (default 7d)")
_TOP_K = SignalParam("top_k", choices=("3", "5", "10", "20", "50"),
                     help="size of the reference set of most-retrieved documents (default 10)")
_DEPTH = SignalParam("rank_depth", choices=("1", "2", "3", "5", "10"),
                     help="documents per retrieval that count, from the top (default 3)")


class ReferenceTooShortWarning(UserWarning):
    """The stored history is shorter than the reference period a drift signal asked for."""


def _reference_query(db: sqlite_utils.Database, q: SampleQuery, params: dict[str, Any]) -> list[SampleQuery]:
    """The rolling baseline before the range when history covers all of it; else the first `reference`
    of stored data. A reference is never shorter than asked: a rolling window cut by the start of the
    data (a backtest from the first span) held minutes of traffic and made every document look new."""
    text = params.get("reference", "7d")
    length = parse_duration(text)
    first, last = _samples.span_range(db) or (0, 0)
    start = q.since_ns if q.since_ns is not None else first
    fallback = SampleQuery(scope=q.scope, group_by=q.group_by, since_ns=first - 1, until_ns=first + length)
    if last - first < length:
        warnings.warn(f"drift signal reference {text}: the database holds only {(last - first) / 3.6e12:.1f} h of "
                      f"history, so the reference is all of it (and overlaps the evaluated range)",
                      ReferenceTooShortWarning, stacklevel=2)
        return [fallback]
    if start - length < first:
        return [fallback]
    rolling = SampleQuery(scope=q.scope, group_by=q.group_by, since_ns=start - length, until_ns=start)
    return [rolling, fallback]


def _group_keys(frame: pd.DataFrame, group_by: tuple[str, ...]) -> list[tuple]:
    if not group_by:
        return [()] * len(frame)
    return list(zip(*(frame[d].tolist() for d in group_by)))


class _DocCodec:
    """A SQL function turning a retrieved_doc_ids JSON list into an integer code (the sample value),
    so the alerts' own query helper (scope, group-by, time bounds) does the reading; the codes are
    decoded to the first `depth` document ids here."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.codes: dict[str, int] = {}
        self.docs: list[tuple[str, ...]] = []

    def encode(self, raw: str | None) -> int | None:
        if raw is None:
            return None
        code = self.codes.get(raw)
        if code is None:
            code = self.codes[raw] = len(self.docs)
            self.docs.append(tuple(str(d) for d in orjson.loads(raw)[: self.depth]))
        return code

    def read(self, db: sqlite_utils.Database, q: SampleQuery) -> pd.DataFrame:
        return _samples.retrieval_doc_codes(db, q, self.encode)


def _reference_frame(db: sqlite_utils.Database, params: dict[str, Any], q: SampleQuery,
                     read: Callable[[SampleQuery], pd.DataFrame]) -> pd.DataFrame:
    frame = pd.DataFrame()
    for ref in _reference_query(db, q, params):
        frame = read(ref)
        if len(frame):
            break
    return frame


def _retrieval(db: sqlite_utils.Database, params: dict[str, Any], q: SampleQuery, new_docs: bool) -> pd.DataFrame:
    codec = _DocCodec(int(params.get("rank_depth", "3")))
    top_k = int(params.get("top_k", "10"))
    ref = _reference_frame(db, params, q, lambda rq: codec.read(db, rq))
    # per group: counts of each document in the reference window
    counts: dict[tuple, dict[str, int]] = {}
    for key, code in zip(_group_keys(ref, q.group_by), ref["v"].to_numpy(dtype=np.int64) if len(ref) else []):
        bucket = counts.setdefault(key, {})
        for doc in codec.docs[code]:
            bucket[doc] = bucket.get(doc, 0) + 1
    known: dict[tuple, set[str]] = {}
    for key, bucket in counts.items():
        if new_docs:
            known[key] = set(bucket)
        else:
            ranked = sorted(bucket.items(), key=lambda kv: (-kv[1], kv[0]))
            known[key] = {doc for doc, _ in ranked[:top_k]}
    cur = codec.read(db, q)
    values = np.full(len(cur), np.nan)
    for i, (key, code) in enumerate(zip(_group_keys(cur, q.group_by), cur["v"].to_numpy(dtype=np.int64))):
        docs, ref_set = codec.docs[code], known.get(key)
        if ref_set is None or not docs:
            continue  # no baseline for this cohort (or an empty retrieval): no sample
        if new_docs:
            values[i] = float(any(d not in ref_set for d in docs))
        else:
            values[i] = sum(d in ref_set for d in docs) / len(docs)
    cur["v"] = values
    return cur[~np.isnan(values)].reset_index(drop=True)


def _topk_overlap(db: sqlite_utils.Database, params: dict[str, Any], q: SampleQuery) -> pd.DataFrame:
    return _retrieval(db, params, q, new_docs=False)


def _new_docs(db: sqlite_utils.Database, params: dict[str, Any], q: SampleQuery) -> pd.DataFrame:
    return _retrieval(db, params, q, new_docs=True)


def _output_length_shift(db: sqlite_utils.Database, params: dict[str, Any], q: SampleQuery) -> pd.DataFrame:
    lengths = _samples.llm_value("output_length")

    def read(rq: SampleQuery) -> pd.DataFrame:
        return lengths(db, {}, rq)

    ref = _reference_frame(db, params, q, read)
    sums: dict[tuple, float] = {}
    counts: dict[tuple, int] = {}
    for key, value in zip(_group_keys(ref, q.group_by), ref["v"].tolist() if len(ref) else []):
        sums[key] = sums.get(key, 0.0) + value
        counts[key] = counts.get(key, 0) + 1
    means = {key: sums[key] / counts[key] for key in sums}
    cur = read(q)
    base = np.array([means.get(k, np.nan) for k in _group_keys(cur, q.group_by)], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        cur["v"] = np.where(base > 0, cur["v"].to_numpy(dtype=float) / base - 1.0, np.nan)
    return cur[~np.isnan(cur["v"].to_numpy())].reset_index(drop=True)


SIGNALS = [
    Signal("retrieval_topk_overlap", "Retrieval top-k overlap (drift)",
           "Share of each retrieval's top documents that are among the reference window's top-k documents of its "
           "cohort (1 = same documents as before; 0 = all changed).", "share", "down", signals.SPAN, _topk_overlap,
           "mean", (_REFERENCE, _TOP_K, _DEPTH), 0.5),
    Signal("retrieval_new_docs", "Retrieval new documents (drift)",
           "1 per retrieval returning a document never retrieved in the reference window, else 0.", "share", "up",
           signals.SPAN, _new_docs, "rate", (_REFERENCE, _DEPTH), 0.3),
    Signal("output_length_shift", "Output length shift (drift)",
           "Each LLM answer's length relative to its cohort's reference mean, minus 1 "
           "(window mean -0.4 = answers 40% shorter than in the reference).", "ratio", "down", signals.ANSWER,
           _output_length_shift, "mean", (_REFERENCE,), -0.3),
]


def register() -> None:
    """Add the drift signals to the registry (idempotent)."""
    for signal in SIGNALS:
        signals.register(signal)


register()
