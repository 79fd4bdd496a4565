"""The Overview's and Cohorts page's unfiltered figures from per-hour per-cohort aggregates
(store.cohort_hours keeps them; see there for why and how they stay fresh).

Each figure is the one analysis.metrics computes from the samples: a count is the sum of the hours'
counts, a rate their non-zero counts over it, a mean or a sum the exact sum of the hours' values
rounded once, a percentile the order statistics of the hours' sorted values interpolated as pandas'
quantile does (`_percentile`). Only the unfiltered views with every evaluator (the first look) come
from here; a filter, one evaluator or buckets finer than an hour read the samples as before.

The same set keeps the Overview's evaluator table (analysis.eval_summary) per hour and evaluator
(EVAL_DIM rows: counts and exact sums), built, rebuilt and kept fresh with the other rows; it is read
on its own (`eval_tallies`), without the matrix rows, and its dirty hours are re-counted in SQL.

Hours still marked dirty (a write the feed has not folded in yet) are computed from their samples at
read time, so a figure is never stale; a missing set is built by the first read when the file can be
written (reads never fold dirty hours in themselves: the feed's refresh does).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlite_utils

from .. import cohorts
from .. import signals as _signals
from . import eval_summary
from ..store import cohort_hours as _store
from ..store.connect import data_version
from ..store.feed_dirty import NS_PER_HOUR

#: bumped when what a row holds changes (every stored set is then rebuilt)
VERSION = 7
#: every cohort signal of the matrix (all evaluators), per cohort of each browse dimension
MATRIX_SIGNALS = ("trace_count", "quality", "eval_pass_rate", "error_rate", "refusal_rate_trace",
                  "trace_duration", "cost_per_trace")
#: KPI / over-time signals kept for the whole traffic only
GLOBAL_SIGNALS = ("ttft", "tokens_per_trace")
#: signals whose figures include percentiles: their sorted values are kept
PERCENTILE_SIGNALS = frozenset({"trace_duration", "ttft"})
#: signals shown as means or sums of non-integer values: for the whole traffic (KPIs, over time) their
#: values are kept in sample order, so the figure is pandas' compensated sum of the very sequence
#: metrics sums (an exact sum rounded once differed from it in the last bit for ~40% of the hourly cost
#: totals of the 1M-span week). Per cohort, each hour keeps which of those samples every cohort holds
#: (cohort_hour_members), and the mean is pandas' grouped mean over the same rows with the same codes
#: as metrics groups them: an exact sum rounded once, or one cohort's values summed alone, differed from
#: it in the last bit (pandas' grouped result is not the one its group's values alone give).
ORDERED_SIGNALS = frozenset({"cost_per_trace", "quality", "tokens_per_trace"})
DIMENSIONS: tuple[str, ...] = tuple(cohorts.browse_names())
#: the Overview's monitoring health: store.metrics.llm_span_field_counts per span start hour, one count
#: per signal (n); spans without a start time are counted at read time (no hour marks them dirty)
HEALTH_SIGNALS = tuple(f"llm_fields:{j}" for j in range(7))
ALL = "(all)"
#: the evaluator table's rows (analysis.eval_summary.Tally per hour of the trace's start and evaluator,
#: the evaluator's name as the cohort): rows n / errors nz; scored n / exact score sum total / non-finite
#: scores vals; verdicts n / derived verdicts nz / exact passed sum total
EVAL_DIM = "@evaluator"
EVAL_SIGNALS = ("eval_rows", "eval_score", "eval_passed")
#: above this many hours between the first and last trace start, the evaluator rows are read by one scan
#: instead of a seek per hour
EVAL_SEEK_HOURS = 100_000


#: the files whose code decides a refusal or PII verdict (the stored rows depend on their verdicts)
CHECKER_FILES: tuple[tuple[str, str], ...] = (("analysis", "refusals.py"), ("ingest", "redact.py"))


def key(db: sqlite_utils.Database) -> str:
    """What the stored rows depend on besides the data: a digest of this module's definitions and the
    text checkers' identity (a refusal verdict changes with their code or settings)."""
    from pathlib import Path

    from ..store import get_setting
    from ..store.samples import _PHRASES_SETTING

    # the checkers' code by its files and their settings as stored, without importing them: the key
    # figures of a current set then load no text checker (tests/test_app_cold_start.py). The files that
    # decide a verdict, as the feed's stored samples key them (store.feed_samples._checkers): not the
    # verdicts' storage (store/text_checks.py), whose change rebuilt every set (64 s at 10M spans)
    root = Path(__file__).resolve().parent.parent
    h = hashlib.blake2b(digest_size=16)
    for part in CHECKER_FILES:
        h.update(root.joinpath(*part).read_bytes())
    ident = json.dumps([VERSION, MATRIX_SIGNALS, GLOBAL_SIGNALS, HEALTH_SIGNALS, sorted(PERCENTILE_SIGNALS), DIMENSIONS,
                        EVAL_DIM, EVAL_SIGNALS, h.hexdigest(), get_setting(db, _PHRASES_SETTING)], default=str)
    return hashlib.blake2b(ident.encode(), digest_size=16).hexdigest()


# ---------------------------------------------------------------------------------------------
# Building rows from samples


def _frames(db: sqlite_utils.Database, lo: int | None, hi: int | None) -> dict[str, pd.DataFrame]:
    """The samples of every kept signal with lo <= hour <= hi (None: unbounded), as metrics reads them."""
    since = None if lo is None else lo * NS_PER_HOUR - 1
    until = None if hi is None else (hi + 1) * NS_PER_HOUR - 1
    query = _signals.SampleQuery({}, DIMENSIONS, since, until, explode=False)
    frames = dict(zip(MATRIX_SIGNALS, _signals.samples_many(db, [{"type": s} for s in MATRIX_SIGNALS], query)))
    timed = _signals.SampleQuery({}, (), since, until, values_with_time=True)
    frames.update(zip(GLOBAL_SIGNALS, _signals.samples_many(db, [{"type": s} for s in GLOBAL_SIGNALS], timed)))
    return frames


def _group_rows(signal: str, dim: str, labels: list[str], group_hour: np.ndarray, groups: np.ndarray,
                v: np.ndarray, t: np.ndarray | None, n_groups: int) -> list[_store.Row]:
    """One stored row per group: its hour, cohort label (labels[group]), counts, exact sum, values."""
    n = np.bincount(groups, minlength=n_groups)
    nz = np.bincount(groups, weights=(v != 0).astype(np.float64), minlength=n_groups).astype(np.int64)
    sums = _store.exact_sums(groups, v, n_groups)
    blobs: list[bytes | None] = [None] * n_groups
    if signal in PERCENTILE_SIGNALS or (signal in ORDERED_SIGNALS and dim == ""):
        order = np.lexsort((v, groups)) if signal in PERCENTILE_SIGNALS else np.argsort(groups, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(n)])
        sv = v[order]
        ascending = signal in PERCENTILE_SIGNALS
        blobs = [_store.pack_values(sv[bounds[g]:bounds[g + 1]], ascending=ascending) for g in range(n_groups)]
    t_min: list[int | None] = [None] * n_groups
    t_max: list[int | None] = [None] * n_groups
    if t is not None and len(t):
        lo = np.full(n_groups, np.iinfo(np.int64).max, dtype=np.int64)
        hi = np.full(n_groups, np.iinfo(np.int64).min, dtype=np.int64)
        np.minimum.at(lo, groups, t)
        np.maximum.at(hi, groups, t)
        t_min, t_max = lo.tolist(), hi.tolist()
    return [(int(group_hour[g]), dim, labels[g], signal, int(n[g]), int(nz[g]), _store.encode_sum(sums[g]),
             blobs[g], t_min[g], t_max[g]) for g in range(n_groups) if n[g]]


def _members(signal: str, dim: str, hour: np.ndarray, rows: np.ndarray, codes: np.ndarray, names: list[str]
             ) -> list[_store.Member]:
    """Per hour: the exploded samples of `dim` (frame row within the hour, cohort code into the hour's
    own names), in explode's order (metrics._cohort_rows). The frame is sorted by time, so an hour's
    rows are contiguous and start where its first sample is."""
    out: list[_store.Member] = []
    if not len(rows):
        return out
    h = hour[rows]
    cuts = np.concatenate([[0], np.flatnonzero(np.diff(h)) + 1, [len(h)]])
    for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
        first = int(np.searchsorted(hour, h[a]))
        uniq, local = np.unique(codes[a:b], return_inverse=True)
        out.append((int(h[a]), dim, signal, _store.pack_ints(rows[a:b] - first, "<i4"),
                    _store.pack_ints(local, "<i2" if len(uniq) < 32_767 else "<i4"),
                    json.dumps([names[int(c)] for c in uniq])))
    return out


def _rows(frames: dict[str, pd.DataFrame]) -> tuple[list[_store.Row], list[_store.Member]] | None:
    """The stored rows and members of these samples; None when a cohort value is not text (not kept:
    metrics reads the samples)."""
    from .metrics import _cohort_rows

    out: list[_store.Row] = []
    members: list[_store.Member] = []
    for signal, frame in frames.items():
        if frame.empty:
            continue
        t = frame["t"].to_numpy(np.int64)
        v = frame["v"].to_numpy(np.float64)
        hour = t // NS_PER_HOUR
        hours, inverse = np.unique(hour, return_inverse=True)
        out += _group_rows(signal, "", [ALL] * len(hours), hours, inverse.astype(np.int64), v,
                           t if signal == "trace_count" else None, len(hours))
        if signal not in MATRIX_SIGNALS:
            continue
        for name in DIMENSIONS:
            found = _cohort_rows(frame[name], cohorts.resolve(name, bare_mapped=True))
            if found is None:
                return None
            rows, codes, names = found
            pair = hour[rows] * len(names) + codes
            uniq, groups = np.unique(pair, return_inverse=True)
            out += _group_rows(signal, name, [names[int(c)] for c in uniq % len(names)], uniq // len(names),
                               groups.astype(np.int64), v[rows], None, len(uniq))
            if signal in ORDERED_SIGNALS:
                members += _members(signal, name, hour, rows, codes, names)
    return out, members


def _health_rows(db: sqlite_utils.Database, lo: int | None, hi: int | None) -> list[_store.Row]:
    from ..store.metrics import llm_span_field_counts_by_hour

    return [(int(r[0]), "", ALL, name, int(r[1 + j] or 0), 0, "0:0", None, None, None)
            for r in llm_span_field_counts_by_hour(db, lo, hi) for j, name in enumerate(HEALTH_SIGNALS)]


def _eval_tallies_by_hour(db: sqlite_utils.Database, lo: int | None, hi: int | None
                          ) -> dict[tuple[int, str], eval_summary.Tally]:
    from ..store.metrics import eval_score_groups_by_hour

    out: dict[tuple[int, str], eval_summary.Tally] = {}
    for hour, name, score, n, errors, passed_sum, verdicts, derived in eval_score_groups_by_hour(db, lo, hi):
        out.setdefault((int(hour), name), eval_summary.Tally()).add_group(score, n, errors, passed_sum, verdicts,
                                                                          derived)
    return out


def _eval_rows(db: sqlite_utils.Database, lo: int | None, hi: int | None) -> list[_store.Row]:
    """The evaluator table's stored rows of the hours lo..hi (see EVAL_SIGNALS)."""
    out: list[_store.Row] = []
    for (hour, name), t in _eval_tallies_by_hour(db, lo, hi).items():
        special = _store.pack_values(np.asarray(t.special, dtype=np.float64)) if t.special else None
        out += [(hour, EVAL_DIM, name, "eval_rows", t.rows, t.errors, "0:0", None, None, None),
                (hour, EVAL_DIM, name, "eval_score", t.scored, 0, _store.encode_sum(t.score_units), special, None, None),
                (hour, EVAL_DIM, name, "eval_passed", t.verdicts, t.derived, _store.encode_sum(t.passed_units), None,
                 None, None)]
    return out


def _pieces(db: sqlite_utils.Database, ranges: Sequence[tuple[int, int]] | None) -> list[tuple[int | None, int | None]]:
    """The hour ranges lo..hi (None: unbounded) covering `ranges` (None: every hour) in pieces of about
    feed_samples.PIECE_TRACES traces, as the feed's build reads. Every row is one hour's, so a piece's rows
    are the rows the whole read gives for its hours; and a build holds one piece's samples at a time, not
    every sample of the store (the whole set after an ingest read all of them at once: its memory grew
    with the store)."""
    from ..store.feed_samples import _pieces as piece_starts

    out: list[tuple[int | None, int | None]] = []
    for r in ([None] if ranges is None else ranges):
        lo, hi = (None, None) if r is None else r
        starts = [h for h in piece_starts(db.conn, r) if (lo is None or h > lo) and (hi is None or h <= hi)]
        edges: list[int | None] = [lo, *starts]
        out += [(a, (b - 1 if b is not None else hi)) for a, b in zip(edges, [*starts, None])]
    return out


def _build(db: sqlite_utils.Database, ranges: Sequence[tuple[int, int]] | None, set_key: str) -> bool:
    """Rebuild the rows of `ranges` (None: the whole set) inside the caller's transaction, piece by piece."""
    if ranges is None:
        _store.replace(db, set_key, [], [], None)
    for lo, hi in _pieces(db, ranges):
        built = _rows(_frames(db, lo, hi))
        if built is None:
            _store.drop(db)
            return False
        rows = built[0] + _health_rows(db, lo, hi) + _eval_rows(db, lo, hi)
        if ranges is None:
            _store.insert(db, rows, built[1])
        else:
            assert lo is not None and hi is not None  # pieces of bounded ranges are bounded
            _store.replace(db, set_key, rows, built[1], (lo, hi))
    return True


def on_clear(db: sqlite_utils.Database, ranges: list[tuple[int, int]]) -> None:
    """The feed is about to clear these dirty hours (inside its transaction): rebuild their rows first,
    when a current set is stored (else there is nothing to keep fresh: the next read builds it)."""
    if ranges and _store.stored_key(db) == key(db):
        _build(db, ranges, key(db))


def prepare(db: sqlite_utils.Database) -> bool:
    """Build the set when it is missing or stale, and fold the dirty hours in (through the feed's refresh
    when it keeps sets, which rebuilds these rows as it clears each mark). False when the file cannot be
    written now (reads then compute the dirty hours, or everything, from the samples)."""
    conn = db.conn
    if conn.in_transaction:
        return False
    set_key = key(db)
    try:
        if not _store.triggers_current(db):
            # writes since the triggers went missing left no mark: the feed's reinstall drops every stored
            # sample and these rows (store.feed_samples._reinstall); built again below
            from ..store.feed_samples import _reinstall

            if not _reinstall(db):
                return False
        if _store.stored_key(db) != set_key:
            with _store.write_transaction(db):
                ok = _build(db, None, set_key)
            if not ok:
                return False
        dirty = _store.dirty_ranges(db)
        if dirty:
            if _store.feed_sets(db):
                from .feed_ready import prepare as feed_prepare

                feed_prepare(db, existing_only=True)
            else:  # the feed keeps nothing: its next refresh reads whole, the marks are ours to clear
                with _store.write_transaction(db):
                    _build(db, dirty, set_key)
                    _store.clear_marks(db, dirty)
    except sqlite3.OperationalError:  # read-only or locked: the reads compute from samples
        if conn.in_transaction:
            conn.rollback()
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Figures from the rows


@dataclass
class _Cell:
    n: int = 0
    nz: int = 0
    total: int = 0
    values: list[np.ndarray] = field(default_factory=list)

    def add(self, n: int, nz: int, total: str, vals: bytes | None) -> None:
        self.n += n
        self.nz += nz
        self.total += _store.decode_sum(total)
        if vals is not None:
            self.values.append(_store.unpack_values(vals))

    def figure(self, agg: str) -> float:
        """`signals.figures` of these samples under `agg` (NaN without samples; count 0); means and sums
        as exact sums rounded once (for values kept in order, `_figures` sums them as pandas does)."""
        if agg == "count":
            return float(self.n)
        if not self.n:
            return float("nan")
        if agg == "sum":
            return _store.to_float(self.total)
        if agg == "mean":
            return _store.to_float(self.total) / self.n
        if agg == "rate":
            return self.nz / self.n
        if agg in _signals.PERCENTILES:
            return _percentile(np.concatenate(self.values), float(agg[1:]) / 100)
        raise ValueError(f"no stored figure for aggregation {agg!r}")


def _percentile(values: np.ndarray, q: float) -> float:
    """pandas' linear quantile (GroupBy.quantile): x[i] + (x[i+1] - x[i]) * frac at q * (n - 1)."""
    m = len(values)
    at = q * (m - 1)
    i = int(at)
    frac = at % 1
    if frac == 0 or i + 1 >= m:
        return float(np.partition(values, i)[i])
    part = np.partition(values, [i, i + 1])
    return float(part[i] + (part[i + 1] - part[i]) * frac)


class Stored:
    """The aggregates of one data version: per (dim, cohort, signal) over the whole range, and per hour
    for the whole traffic."""

    def __init__(self, rows: list[tuple[Any, ...]], members: list[tuple[Any, ...]]) -> None:
        #: (dim, signal) -> [(hour, frame rows within the hour, codes, names)] in hour order
        self.members: dict[tuple[str, str], list[tuple[int, bytes, bytes, str]]] = {}
        for hour, dim, signal, m_rows, m_codes, names in sorted(members, key=lambda m: m[0]):
            self.members.setdefault((dim, signal), []).append((hour, m_rows, m_codes, names))
        self.cells: dict[tuple[str, str, str], _Cell] = {}
        self.hours: dict[str, dict[int, _Cell]] = {}
        self.t_min: int | None = None
        self.t_max: int | None = None
        for hour, dim, cohort, signal, n, nz, total, vals, t_min, t_max in rows:
            self.cells.setdefault((dim, cohort, signal), _Cell()).add(n, nz, total, vals)
            if dim == "":
                self.hours.setdefault(signal, {}).setdefault(hour, _Cell()).add(n, nz, total, vals)
                if t_min is not None:
                    self.t_min = t_min if self.t_min is None else min(self.t_min, t_min)
                    self.t_max = t_max if self.t_max is None else max(self.t_max, t_max)
        self.cohorts: dict[str, list[str]] = {}
        for dim, cohort, signal in self.cells:
            if dim and signal == "trace_count":
                self.cohorts.setdefault(dim, []).append(cohort)

    def health_counts(self, db: sqlite_utils.Database) -> tuple[Any, ...]:
        """store.metrics.llm_span_field_counts(db): the hours' counts plus the spans without a start."""
        from ..store.metrics import llm_span_field_counts_by_hour

        counts = [sum(c.n for (d, _c, s), c in self.cells.items() if d == "" and s == name) for name in HEALTH_SIGNALS]
        for row in llm_span_field_counts_by_hour(db, None, None, no_start=True):
            counts = [a + int(b or 0) for a, b in zip(counts, row[1:])]
        return (0, *([None] * 6)) if not counts[0] else tuple(counts)

    def figures(self, signal: str, aggs: Sequence[str], dim: str | None) -> pd.DataFrame:
        """`signals.figures` of the signal's samples per cohort of dim (None: one row "(all)")."""
        if dim is None:
            cell = self.cells.get(("", ALL, signal))
            if cell is None:
                return pd.DataFrame({a: pd.Series(dtype=float) for a in aggs}, columns=list(aggs))
            return pd.DataFrame(_figures([cell], aggs, signal in ORDERED_SIGNALS), index=[ALL], columns=list(aggs))
        names = sorted(c for (d, c, s) in self.cells if d == dim and s == signal)
        cells = [self.cells[(dim, c, signal)] for c in names]
        data = _figures(cells, aggs, False)
        for agg in aggs:
            if signal in ORDERED_SIGNALS and agg in ("sum", "mean"):
                data[agg] = self._grouped(signal, dim, agg, names)
        return pd.DataFrame(data, index=pd.Index(names, name=dim), columns=list(aggs))

    def _grouped(self, signal: str, dim: str, agg: str, names: list[str]) -> list[float]:
        """metrics' grouped figure of each cohort in `names`: pandas' grouped sum over the exploded
        samples in the frame's order, cohorts coded by their sorted names (metrics._cohort_figures)."""
        hours = self.hours.get(signal, {})
        starts: dict[int, int] = {}
        parts = []
        at = 0
        for h in sorted(hours):
            starts[h] = at
            vals = np.concatenate(hours[h].values) if hours[h].values else np.empty(0)
            parts.append(vals)
            at += len(vals)
        number = {name: i for i, name in enumerate(names)}
        rows, codes = [], []
        for hour, m_rows, m_codes, m_names in self.members.get((dim, signal), []):
            lut = np.asarray([number.get(x, -1) for x in json.loads(m_names)], dtype=np.int64)
            rows.append(_store.unpack_ints(m_rows, "<i4") + starts[hour])
            local = _store.unpack_ints(m_codes, "<i2" if len(lut) < 32_767 else "<i4")
            codes.append(lut[local])
        if not rows or not parts:
            return [float("nan")] * len(names)
        v = np.concatenate(parts)[np.concatenate(rows)]
        got = _signals.figures(pd.DataFrame({"v": v}), [agg], pd.Series(np.concatenate(codes)))[agg]
        return [float(got.get(i, np.nan)) if self.cells[(dim, c, signal)].n else float("nan")
                for i, c in enumerate(names)]

    def by_bucket(self, signal: str, agg: str, freq: str) -> pd.Series:
        """The signal's figure per time bucket of `freq` (hour multiples), labelled by the bucket start."""
        hours = self.hours.get(signal, {})
        if not hours:
            return pd.Series(dtype=float)
        hs = sorted(hours)
        starts = pd.to_datetime(np.asarray(hs, dtype=np.int64) * NS_PER_HOUR, unit="ns", utc=True).floor(freq)
        merged: dict[Any, _Cell] = {}
        for h, b in zip(hs, starts):
            cell, into = hours[h], merged.setdefault(b, _Cell())
            into.n += cell.n
            into.nz += cell.nz
            into.total += cell.total
            into.values += cell.values
        index = pd.DatetimeIndex(list(merged), name="bucket")
        return pd.Series(_figures(list(merged.values()), [agg], signal in ORDERED_SIGNALS)[agg], index=index,
                         dtype=float)


def _figures(cells: list[_Cell], aggs: Sequence[str], ordered: bool) -> dict[str, list[float]]:
    """Each aggregation's figure per cell. Means and sums of ordered values: pandas' grouped sums over the
    cells' values in sample order, in one grouped pass (a cell's figure is the one its samples alone give:
    pandas sums each group's rows in row order)."""
    out: dict[str, list[float]] = {}
    for agg in aggs:
        if ordered and agg in ("sum", "mean") and cells:
            parts = [np.concatenate(c.values) if c.values else np.empty(0) for c in cells]
            keys = np.repeat(np.arange(len(cells)), [len(p) for p in parts])
            got = _signals.figures(pd.DataFrame({"v": np.concatenate(parts)}), [agg], pd.Series(keys))[agg]
            out[agg] = [float(got.get(i, np.nan)) if c.n else float("nan") for i, c in enumerate(cells)]
        else:
            out[agg] = [c.figure(agg) for c in cells]
    return out


def _raw(db: sqlite_utils.Database) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] | None:
    """The rows and members of the current data (dirty hours from their samples), or None when no
    current set is stored and none can be built here."""
    set_key = key(db)
    if _store.stored_key(db) != set_key:
        # built once when missing (the one write a read makes); dirty hours are NOT folded in here:
        # a read that commits moves the data version, and the app's read-ahead of the key figures
        # would never see its result kept (tests/test_app_read_ahead.py). The feed's refresh folds
        # them in (ingest, the receiver when idle, the landing page); until then they are read live.
        prepare(db)
        if _store.stored_key(db) != set_key:
            return None
    dirty = _store.dirty_ranges(db) or []
    rows = _store.read(db, [*MATRIX_SIGNALS, *GLOBAL_SIGNALS, *HEALTH_SIGNALS], ["", *DIMENSIONS])
    members = _store.read_members(db, sorted(ORDERED_SIGNALS), list(DIMENSIONS))
    if dirty:  # hours a write touched that are not folded in yet: from their samples
        def is_dirty(hour: int) -> bool:
            return any(lo <= hour <= hi for lo, hi in dirty)

        rows = [r for r in rows if not is_dirty(r[0])]
        members = [m for m in members if not is_dirty(m[0])]
        for lo, hi in dirty:
            live = _rows(_frames(db, lo, hi))
            if live is None:
                return None
            rows += live[0] + _health_rows(db, lo, hi)
            members += live[1]
    return rows, members


def stored(db: sqlite_utils.Database, hours: tuple[int, int] | None = None, *, clean_only: bool = False
           ) -> Stored | None:
    """The aggregates of the current data, of the hours lo <= hour < hi when given (the samples stamped
    in them: a trace's start for the matrix signals), kept on the connection per data version; None
    when no current set is stored and none can be built here. clean_only: None as well while some hour
    is dirty."""
    if clean_only and _store.dirty_ranges(db):
        # reading the dirty hours' samples checks answers for refusals, and remembering the verdicts
        # writes: the key figures (which read no refusal) then read their own samples, as before
        return None
    version = data_version(db)
    kept = getattr(db, "_td_cohort_hours", None)
    if kept is None or kept[0] != version:
        raw = _raw(db)
        if raw is None:
            return None
        kept = (data_version(db), raw, {})
        try:
            db._td_cohort_hours = kept  # type: ignore[attr-defined]
        except AttributeError:
            pass
    views: dict[Any, Stored] = kept[2]
    if hours not in views:
        rows, members = kept[1]
        if hours is not None:
            rows = [r for r in rows if hours[0] <= r[0] < hours[1]]
            members = [m for m in members if hours[0] <= m[0] < hours[1]]
        while len(views) >= 4:  # the whole range and a few windows (the Cohorts page compares two)
            views.pop(next(iter(views)))
        views[hours] = Stored(rows, members)
    return views[hours]


# ---------------------------------------------------------------------------------------------
# The evaluator table


def eval_tallies(db: sqlite_utils.Database, hours: tuple[int, int] | None = None
                 ) -> dict[str, eval_summary.Tally] | None:
    """Per evaluator, the Tally of its evaluations whose trace starts in the hours lo <= hour < hi (None:
    every evaluation), from the stored rows, the dirty hours counted again in SQL; None when no current
    set is stored and none can be built here, or (every evaluation) when some evaluation is in no hour
    (no trace, or one without a start: the caller counts the rows)."""
    from ..store.metrics import evaluation_count
    from ..store.query import time_bounds

    set_key = key(db)
    if _store.stored_key(db) != set_key:
        prepare(db)  # built once when missing, as the other figures' first read does (see _raw)
        if _store.stored_key(db) != set_key:
            return None
    first, last = time_bounds(db)
    out: dict[str, eval_summary.Tally] = {}
    if first is None or last is None:
        lo, hi = 0, -1
    else:
        lo, hi = first // NS_PER_HOUR, last // NS_PER_HOUR
    if hours is not None:
        lo, hi = max(lo, hours[0]), min(hi, hours[1] - 1)
    if lo <= hi:
        dirty = [(max(a, lo), min(b, hi)) for a, b in (_store.dirty_ranges(db) or []) if a <= hi and b >= lo]

        def is_dirty(hour: int) -> bool:
            return any(a <= hour <= b for a, b in dirty)

        if hi - lo <= EVAL_SEEK_HOURS:
            rows = _store.read_dim_hours(db, EVAL_DIM, EVAL_SIGNALS, lo, hi)
        else:
            rows = [(r[0], *r[2:8]) for r in _store.read(db, EVAL_SIGNALS, [EVAL_DIM]) if lo <= r[0] <= hi]
        for hour, name, signal, n, nz, total, vals in rows:
            if is_dirty(hour):
                continue
            t = out.setdefault(name, eval_summary.Tally())
            if signal == "eval_rows":
                t.rows += n
                t.errors += nz
            elif signal == "eval_score":
                t.scored += n
                t.score_units += _store.decode_sum(total)
                if vals is not None:
                    t.special += _store.unpack_values(vals).tolist()
            else:
                t.verdicts += n
                t.derived += nz
                t.passed_units += _store.decode_sum(total)
        for a, b in dirty:  # hours a write touched that are not folded in yet: counted from their rows
            for (_hour, name), t in _eval_tallies_by_hour(db, a, b).items():
                out.setdefault(name, eval_summary.Tally()).add(t)
    if hours is None and sum(t.rows for t in out.values()) != evaluation_count(db):
        return None
    return out
