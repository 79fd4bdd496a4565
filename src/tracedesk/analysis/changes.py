"""The changes feed: which signal moved, in which cohort, since when.

For every feed signal and every cohort (all traffic, each value of each dimension, and pairs of values
with enough traffic) the samples are bucketed on one time grid and each series is compared with its
own baseline: a scan over candidate intervals [a, e) (geometric lengths, plus "from a to the end" for
ongoing changes) scores the inside mean against the series' samples outside the interval (before AND
after it, so an incident that resolved and one still running are both found; a difference that holds
over the whole range has no outside to differ from, so "this cohort is always more expensive" is never
a change). The score is a two-sample z statistic with the variance of inside and outside pooled
(under the null both are one population; pooling keeps a 0-variance baseline, e.g. a PII rate of 0,
finite). A cohort that only exists inside the interval (a new model, a new prompt version) has no
outside of its own: its baseline is all traffic outside the interval.

Significance: each series' best interval gets a one-sided p (in the signal's bad direction) multiplied
by the number of intervals tried in that series (Bonferroni: the best of many windows is not one
test), then Benjamini-Hochberg across every series of every signal (q). Up to `ROUNDS` changes per
series (the buckets of an accepted change are removed before the next scan). A signal that fails both
ways (calls per trace: a retry loop up, a skipped tool down; FeedSignal.bad == "either") is scanned up,
then down on the same grid: two one-sided tests, each with its p in the BH family, the changes found
going up removed before the scan going down; a rise and a fall are pruned, dated and merged apart.

Which cohort: a change seen in a cohort C is kept only if it is specific to C within each parent P
(C minus one dimension): the rest of P over the same window must have data and must not show the
change itself; and C is dropped when a child (C plus one dimension value) passes that test, i.e. the
change is concentrated there. So a route-wide regression is reported on the route (not on every
route x model pair), and a regression of one tenant on one prompt version is reported on the pair. But
the parent is kept (and the child dropped) when the parent without that child still shows the change over
the parent's window, against the parent's baseline, and no other child holds a change of its own (a new
model's refusals rising on two routes, one too weakly for a finding of its own, are the model's).

Traffic (trace_count: a route's or tenant's trace count against the same hours of comparable days) is not
a mean over samples: analysis.traffic scans it, its p-values join the same BH family.

When: a step starts at its window's first sample, or earlier at the cohort's samples just before the window
that already belong to the change (analysis.lookback: beyond the baseline's ALPHA tail and more likely under the
window's samples, read back up to the first normal one: a sparse route's first looping trace sits among normal
ones in the bucket before the window, or alone before a lull); a finding whose series a ramp explains better (a
penalised fit, analysis.ramps; a duration's in milliseconds, where a build-up is straight) starts at its first sample
at or after where the fitted line has moved MIN_D baseline sd (`shape`, `onset`).

Composition: a change that the cohort's mix of parts explains (each part of another dimension at its own
baseline level, weighted by its share inside the window, moves the mean as far: _mix_explains) is no finding:
nothing in the cohort got worse, one of its parts got busier.

Findings of several signals on the same cohort with overlapping windows are one incident (`signals`
lists them, strongest first). Rank: impact = min(d, D_CAP)^2 x share (change_impact), where d is the change in
pooled standard deviations (at its lower confidence bound) and share the cohort's fraction of the range's traces
inside the window: a loss per touched trace quadratic in the size of the change, times how much traffic it
touched. A rate's change touches its excess bad events (excess_share: the rate's excess over its baseline per
trace of the cohort, at most one), each a broken trace (rate_impact: D_CAP^2 x that share).

Constants (MIN_N, Z thresholds, D_CAP, lengths) were chosen by reasoning, then checked on the
bundled sample week (src/tracedesk/sample, labels in sample/data/incidents.json); the second,
independently generated week (tests/weeks/second_week.py) is used for verification only, with the same
constants. Durations are compared on log scale (a 10x slowdown of a few spans is one shift, not an
outlier) and displayed as their p95; their tail, which that mean cannot see, is the share of LLM calls slower
than twice the p99 of their kind (llm_stall_rate, analysis.tails), a rate like the others.

Provider cohorts are roll-ups of the models (analysis.rollups), scanned alone (no pairs): the cohorts wholly
inside a provider stand in for its pairs when the cohort of a change is decided.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import lookback, ramps, tails

if TYPE_CHECKING:
    from ..store.query import Filters

NS_PER_MIN = 60 * 10**9
#: bucket widths (minutes) the feed may use; the smallest giving <= MAX_BUCKETS buckets over the range
BUCKET_MINUTES: tuple[int, ...] = (1, 2, 5, 10, 15, 30, 60, 120, 240, 360, 720, 1440)
MAX_BUCKETS = 1000
#: fewest samples inside a window, and in a baseline, for a comparison to count
MIN_N = 10
MIN_BASELINE_N = 20
#: a cohort (or pair) needs this many samples over the range to get its own series
MIN_SERIES_N = 30
MIN_PAIR_N = 60
#: at most this many values per dimension become series (the most frequent)
MAX_VALUES = 40
#: one-sided z at which the rest of a parent "shows the change too" (and the share of C's effect it
#: must reach), used to decide which cohort a change belongs to
SIBLING_Z = 3.0
SIBLING_D_SHARE = 0.3
#: |d| above this counts the same for ranking (a 4-sd and a 40-sd shift are both "broken")
D_CAP = 3.0
#: changes smaller than this many pooled sd are not reported, however significant: a slow shift of a
#: fraction of a standard deviation over days is drift (the Drift page), not an incident
MIN_D = 1.0
ROUNDS = 3
#: windows on nested cohorts overlapping this much (share of the shorter one) are one incident
NESTED_OVERLAP = 0.6
#: windows of two unrelated cohorts matching this closely are one incident
CONCURRENT_IOU = 0.8
#: a cohort counts as new in a window when outside it it had under this share of its inside rate
NEW_RATE = 0.1
#: an ongoing change may cover at most this share of its series' samples (a closed one: half)
ONGOING_SHARE = 0.8
ALPHA = 0.05


# ---------------------------------------------------------------------------------------------
# What the feed scans (one adapter over the signal registry)


@dataclass(frozen=True)
class FeedSignal:
    """One series family of the feed: a registered signal with its parameters."""

    name: str  # shown in findings, e.g. "groundedness" or "duration[RETRIEVER]"
    signal: dict[str, Any]  # the registry's signal document: {"type": ..., params}
    label: str
    aggregation: str  # mean | rate | p95 (how baseline/current are shown)
    unit: str
    bad: str  # "up", "down", or "either" (both ways are failures: see `signs`)
    log: bool = False  # compare log1p(v): durations, costs, counts with long tails
    #: span-level dimensions only this signal's own spans carry (the model that answered an LLM call,
    #: the tool a TOOL span called); other signals would read them as lists from every span of a trace
    own: tuple[str, ...] = ()
    #: dimensions read (with the other signals of its rows: one pass) but not split by (see input tokens)
    unsplit: tuple[str, ...] = ()
    #: the feed signal whose samples (durations) this one reads, each turned into 1 when the call stalled
    #: (slower than twice the p99 of its kind over the range: analysis.tails), else 0; it reads no rows itself
    stalls_of: str | None = None

    @property
    def signs(self) -> tuple[float, ...]:
        """The directions scanned, +1 for up: one, or both for "either" (calls per trace: a rise is a
        retry loop, a fall a skipped tool or an agent that stops early). Each direction is its own
        scan of the same grid, with its own p in the BH family (two one-sided tests of one series)."""
        return {"up": (1.0,), "down": (-1.0,), "either": (1.0, -1.0)}[self.bad]


def _direction(sign: float) -> str:
    return "up" if sign > 0 else "down"


@dataclass
class Finding:
    signals: list[str]
    cohort: dict[str, str]
    start_ns: int
    end_ns: int | None  # None: still going at the end of the range
    baseline: float
    current: float
    effect: float  # current - baseline, in the signal's unit
    relative: float | None  # effect / |baseline|
    d: float  # effect in pooled standard deviations (on the compared scale)
    z: float
    p: float
    q: float
    n_baseline: int
    n_current: int
    share: float
    impact: float
    unit: str = ""
    aggregation: str = "mean"
    direction: str = "up"
    label: str = ""
    details: list[dict[str, Any]] = field(default_factory=list)  # one per signal, strongest first
    traces_before: list[str] = field(default_factory=list)
    traces_after: list[str] = field(default_factory=list)
    aliases: list[dict[str, str]] = field(default_factory=list)  # cohorts that are the same traffic
    window_start_ns: int | None = None  # the range the feed scanned
    window_end_ns: int | None = None
    #: "ramp" when a line from the baseline explains the series better than a step (analysis.ramps): then
    #: start is where it has moved MIN_D baseline sd, and onset where it left the baseline
    shape: str = "step"
    onset_ns: int | None = None

    @property
    def n(self) -> dict[str, int]:
        return {"baseline": self.n_baseline, "current": self.n_current}

    def title(self) -> str:
        # one arrow per signal: merged signals move different ways (groundedness down, latency up)
        ways = {d.get("signal"): d.get("direction", self.direction) for d in self.details}
        moved = " & ".join(f"{s} {'↑' if ways.get(s, self.direction) == 'up' else '↓'}" for s in self.signals)
        cohort = ", ".join(f"{k}={v}" for k, v in self.cohort.items()) or "all traffic"
        return f"{moved} on {cohort} since {_iso(self.start_ns)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "signals": list(self.signals), "cohort": dict(self.cohort), "start": _iso(self.start_ns),
            "end": _iso(self.end_ns) if self.end_ns is not None else None,
            "start_ns": self.start_ns, "end_ns": self.end_ns,
            "baseline": _round(self.baseline), "current": _round(self.current), "effect": _round(self.effect),
            "relative": None if self.relative is None else _round(self.relative), "d": _round(self.d),
            "direction": self.direction, "unit": self.unit, "aggregation": self.aggregation,
            "q": float(f"{self.q:.3g}"), "p": float(f"{self.p:.3g}"), "n": self.n, "share": _round(self.share),
            "impact": _round(self.impact), "title": self.title(), "traces_before": list(self.traces_before),
            "traces_after": list(self.traces_after), "aliases": [dict(a) for a in self.aliases],
            "details": self.details, "shape": self.shape, "onset": _iso(self.onset_ns),
        }


def _round(x: float) -> float:
    return float(f"{x:.6g}") if math.isfinite(x) else x


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# Series


def bucket_width_ns(since_ns: int, until_ns: int) -> int:
    """The finest width in BUCKET_MINUTES giving at most MAX_BUCKETS buckets (a week: 15 min)."""
    span = max(until_ns - since_ns, 1)
    for minutes in BUCKET_MINUTES:
        if span / (minutes * NS_PER_MIN) <= MAX_BUCKETS:
            return minutes * NS_PER_MIN
    return BUCKET_MINUTES[-1] * NS_PER_MIN


def _lengths(n_buckets: int) -> list[int]:
    out, x = [], 1.0
    while int(x) <= n_buckets:
        if int(x) not in out:
            out.append(int(x))
        x *= 1.4
    return out


@dataclass
class _Grid:
    """All series of one signal on one bucket grid: rows = cohorts, columns = buckets."""

    keys: list[tuple[tuple[str, str], ...]]  # () is all traffic; sorted (dim, value) pairs
    n: np.ndarray  # (K, B) sample counts
    s: np.ndarray  # sums of the compared value
    q: np.ndarray  # sums of squares
    index: dict[tuple[tuple[str, str], ...], int]
    parents: np.ndarray  # (K, 2) baseline rows of a new cohort: a parent restricted to "any value", or -1
    cohorts: int  # rows [0, cohorts) are cohorts; the rest are "any value" baselines
    first: np.ndarray  # (K,) first and one-past-last bucket holding samples of each row
    last: np.ndarray


#: per-dimension codes of the frames one detect() reads (frames are identified by id() while it runs)
_CODES: dict[tuple[int, str], tuple[np.ndarray, list[Any]]] = {}
_CACHING = [False]


def _factor(frame: pd.DataFrame, dim: str) -> tuple[np.ndarray, list[Any]]:
    """Codes of a dimension column into its distinct cells (-1: missing), so that string tests run
    once per distinct cell (a store holds few) instead of once per sample."""
    key = (id(frame), dim)
    hit = _CODES.get(key)
    if hit is None:
        col = frame[dim]
        if isinstance(col.dtype, pd.CategoricalDtype):  # coded by the store (store.feed)
            hit = (np.asarray(col.cat.codes, dtype=np.int64), list(col.cat.categories))
        else:
            from ..store.feed import code_cells

            raw = col.astype(object)
            codes, uniques = code_cells(list(raw.where(raw.notna(), None)))
            hit = (codes, list(uniques))
        if _CACHING[0]:
            _CODES[key] = hit
    return hit


def _lut_mask(codes: np.ndarray, cells: list[Any], test: Any) -> np.ndarray:
    """test(cell) for every sample: evaluated per distinct cell; a missing cell is tested as None
    (code -1 picks the last entry)."""
    lut = np.array([bool(test(c)) for c in cells] + [bool(test(None))], dtype=bool)
    return lut[codes]


def _text(cell: Any) -> str:
    return "" if cell is None else str(cell)


def _members(codes: np.ndarray, cells: list[Any], weight: np.ndarray) -> tuple[list[str], dict[str, np.ndarray]]:
    """Values of a dimension with enough samples (`weight`: samples per row), and a row mask for each.
    Trace rows hold comma lists of models/agents: a sample belongs to each listed value's cohort."""
    per_cell = (np.bincount(codes[codes >= 0], weights=weight[codes >= 0], minlength=len(cells))
                if len(cells) else np.zeros(0))
    texts = [str(c) for c in cells]
    is_list = any("," in t for t in texts if t != "")
    counts: dict[str, int] = {}
    for t, c in zip(texts, per_cell):
        if t == "" or not c:
            continue
        for piece in (t.split(",") if is_list else [t]):
            counts[piece] = counts.get(piece, 0) + int(round(c))
    values = [v for v, c in counts.items() if c >= MIN_SERIES_N]
    values = sorted(values, key=lambda v: (-counts[v], v))[:MAX_VALUES]
    masks: dict[str, np.ndarray] = {}
    for v in values:
        if is_list:
            masks[v] = _lut_mask(codes, cells, lambda c, v=v: ("," + v + ",") in ("," + _text(c) + ","))
        else:  # exact value (a cell that is not a string never equals one)
            masks[v] = _lut_mask(codes, cells, lambda c, v=v: c is not None and c == v)
    return values, masks


def _group_key(frame: pd.DataFrame, dims: Sequence[str], b: np.ndarray) -> np.ndarray | None:
    """Each sample's group (bucket, cell of every dimension) as one integer; None when there are too many
    combinations for one integer key (then one group per sample)."""
    key = b.astype(np.int64)
    radix = float(b.max() + 1) if len(b) else 1.0
    for d in dims:
        codes, cells = _factor(frame, d)
        size = len(cells) + 1
        radix *= size
        if radix >= 2.0 ** 62:
            return None
        key = key * size + (codes + 1)
    return key


def _grouped(frame: pd.DataFrame, dims: Sequence[str], b: np.ndarray, key: np.ndarray | None
             ) -> tuple[np.ndarray | None, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Samples grouped by their key (_group_key): each sample's group (None: one group per sample), each
    group's bucket and codes per dimension, and its sample count. Every cohort's bucket sums are sums of
    groups, and there are several times fewer groups than samples (a bucket holds many samples of one cohort)."""
    if key is None:
        return None, b, {d: _factor(frame, d)[0] for d in dims}, np.ones(len(b))
    _u, first, inv = np.unique(key, return_index=True, return_inverse=True)
    inv = inv.ravel()
    return inv, b[first], {d: _factor(frame, d)[0][first] for d in dims}, np.bincount(inv).astype(np.float64)


def pair_masks(singles: dict[str, dict[str, np.ndarray]], size: Callable[[np.ndarray], float], min_n: float
               ) -> list[tuple[tuple[tuple[str, str], ...], np.ndarray]]:
    """Every pair of values of two different dimensions ((d1, v1), (d2, v2)), key sorted, with the mask of the
    rows holding both, where `size(mask)` (rows, or the samples they stand for) reaches min_n; from the
    per-dimension masks `singles` ({dim: {value: mask}}). Dimensions and values in `singles`' order."""
    out = []
    names = list(singles)
    for i, d1 in enumerate(names):
        for d2 in names[i + 1:]:
            for v1, m1 in singles[d1].items():
                for v2, m2 in singles[d2].items():
                    m = m1 & m2
                    if size(m) >= min_n:
                        out.append((tuple(sorted(((d1, v1), (d2, v2)))), m))
    return out


@dataclass
class _Layout:
    """A grid's rows and how each is summed from the groups of samples, which depend on the samples' buckets and
    cohort cells only, not on their values: the signals read from the same rows (a family of store.feed, e.g.
    every trace-summary signal) share one, and each sums only its own values through it."""

    match: tuple[Any, ...]  # dimensions, buckets, pairs, single dimensions, sample count
    key: np.ndarray | None  # the group key of each sample (None: one group per sample, not shared)
    cells: list[list[Any]]  # each dimension's distinct cells, in code order
    inv: np.ndarray | None  # each sample's group (None: one group per sample)
    gb: np.ndarray  # each group's bucket
    keys: list[tuple[tuple[str, str], ...]]
    index: dict[tuple[tuple[str, str], ...], int]
    parents: np.ndarray
    cohorts: int
    #: rows summed by one bincount: (rows, each group's row among them x buckets + its bucket: the bincount's key)
    families: list[tuple[list[int], np.ndarray]]
    alone: list[tuple[int, np.ndarray | None, np.ndarray]]  # (row, its groups or None for all, their buckets)
    n: np.ndarray  # (K, B) sample counts
    first: np.ndarray
    last: np.ndarray

    def sums(self, w: np.ndarray) -> np.ndarray:
        """(K, B) sums of a per-group weight: one bincount per family, one per row left alone. np.bincount adds
        the weights in index order, so each row's sums are the same additions in the same order as a bincount
        over the row's own groups: the same numbers."""
        k, nb = self.n.shape
        out = np.zeros((k, nb))
        for rows, cell in self.families:
            size = len(rows)
            out[rows] = np.bincount(cell, weights=w, minlength=(size + 1) * nb)[:size * nb].reshape(size, nb)
        for row, idx, bb in self.alone:
            out[row] = np.bincount(bb, weights=w if idx is None else w[idx], minlength=nb)
        return out


#: the layouts of the frames one detect() reads (most recent last; a few: each holds its samples' groups)
_LAYOUTS: list[_Layout] = []
_KEPT_LAYOUTS = 4


def _layout(frame: pd.DataFrame, dims: Sequence[str], b: np.ndarray, n_buckets: int, pairs: bool,
            single: Sequence[str]) -> _Layout:
    """The layout of these samples' grid: a kept one when the samples have the same groups (key and cells
    equal: the same rows of one family read for another signal), else built."""
    match = (tuple(dims), n_buckets, pairs, tuple(single), len(b))
    key = _group_key(frame, dims, b)
    cells = [_factor(frame, d)[1] for d in dims]
    if key is not None:
        for kept in reversed(_LAYOUTS):
            if kept.match == match and kept.key is not None and np.array_equal(kept.key, key) and kept.cells == cells:
                return kept
    inv, gb, gcodes, gn = _grouped(frame, dims, b, key)
    made = _made_layout(frame, dims, gb, gcodes, gn, n_buckets, pairs, single)
    made.match, made.key, made.cells, made.inv = match, key, cells, inv
    if _CACHING[0] and key is not None:
        _LAYOUTS.append(made)
        del _LAYOUTS[:-_KEPT_LAYOUTS]
    return made


def _made_layout(frame: pd.DataFrame, dims: Sequence[str], gb: np.ndarray, gcodes: dict[str, np.ndarray],
                 gn: np.ndarray, n_buckets: int, pairs: bool, single: Sequence[str]) -> _Layout:
    """The rows (all traffic, each dimension value and pairs, none of a dimension in `single`; then the "any
    value" baselines) and their summing plan, from the groups' buckets, codes and counts."""
    everyone = np.ones(len(gb), dtype=bool)
    keys: list[tuple[tuple[str, str], ...]] = [()]
    masks: list[np.ndarray] = [everyone]
    singles: dict[str, dict[str, np.ndarray]] = {}
    for dim in dims:
        _values, by_value = _members(gcodes[dim], _factor(frame, dim)[1], gn)
        if by_value:
            singles[dim] = by_value
            for v, m in by_value.items():
                keys.append(((dim, v),))
                masks.append(m)
    if pairs:
        paired = {d: by_value for d, by_value in singles.items() if d not in single}
        for pair_key, m in pair_masks(paired, lambda m: float(gn[m].sum()), MIN_PAIR_N):
            keys.append(pair_key)
            masks.append(m)
    cohorts = len(keys)
    # "any value of d" rows (not cohorts themselves): the baseline of a cohort that is new in a window,
    # e.g. {tenant: globex, prompt_version: *} for the first traces of globex on a new prompt version
    anyof = {dim: _lut_mask(gcodes[dim], _factor(frame, dim)[1], lambda c: _text(c) != "") for dim in singles}
    known = set(keys)
    position = {key: i for i, key in enumerate(keys)}
    for key, m in list(zip(keys[:cohorts], masks[:cohorts])):
        for dim, value in key:
            rest = tuple(kv for kv in key if kv[0] != dim)
            any_key = tuple(sorted((*rest, (dim, "*"))))
            if any_key not in known:
                base = masks[position[rest]] if rest in position and position[rest] < cohorts else everyone
                keys.append(any_key)
                known.add(any_key)
                position[any_key] = len(keys) - 1
                masks.append(base & anyof[dim])
    k = len(keys)
    index = {key: i for i, key in enumerate(keys)}
    done, labels = _family_rows(frame, singles, gcodes, index, k, pairs)
    families = [(rows, label * n_buckets + gb) for rows, label in labels]  # keyed once for every sum
    alone: list[tuple[int, np.ndarray | None, np.ndarray]] = []
    for row, m in enumerate(masks):
        if done[row]:
            continue
        idx = None if row == 0 else np.flatnonzero(m)
        alone.append((row, idx, gb if idx is None else gb[idx]))
    parents = np.full((k, 2), -1, dtype=np.int64)
    for row, key in enumerate(keys[:cohorts]):
        for j, (dim, _value) in enumerate(key[:2]):
            rest = tuple(kv for kv in key if kv[0] != dim)
            parents[row, j] = index.get(tuple(sorted((*rest, (dim, "*")))), -1)
    layout = _Layout((), None, [], None, gb, keys, index, parents, cohorts, families, alone,
                     np.zeros((k, n_buckets)), np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64))
    layout.n = layout.sums(gn)
    seen = layout.n > 0
    layout.first = np.where(seen.any(axis=1), seen.argmax(axis=1), 0)
    layout.last = np.where(seen.any(axis=1), n_buckets - seen[:, ::-1].argmax(axis=1), 0)
    return layout


def build_grid(frame: pd.DataFrame, dims: Sequence[str], t0: int, width: int, n_buckets: int,
               pairs: bool = True, single: Sequence[str] = ()) -> _Grid:
    """Bucket sums of `frame` (columns t, y, *dims) for all traffic, each dimension value and pairs (none
    of a dimension in `single`)."""
    b = ((frame["t"].to_numpy(np.int64) - t0) // width).clip(0, n_buckets - 1)
    layout = _layout(frame, dims, b, n_buckets, pairs, single)
    y = frame["y"].to_numpy(np.float64)
    if layout.inv is None:  # one group per sample
        gs, gq = y, y * y
    else:
        gs = np.bincount(layout.inv, weights=y, minlength=len(layout.gb))
        gq = np.bincount(layout.inv, weights=y * y, minlength=len(layout.gb))
    return _Grid(layout.keys, layout.n, layout.sums(gs), layout.sums(gq), layout.index, layout.parents,
                 layout.cohorts, layout.first, layout.last)


def _family_rows(frame: pd.DataFrame, singles: dict[str, dict[str, np.ndarray]],
                 gcodes: dict[str, np.ndarray], index: dict[tuple[tuple[str, str], ...], int], k: int,
                 pairs: bool) -> tuple[np.ndarray, list[tuple[list[int], np.ndarray]]]:
    """The rows whose groups are disjoint within a family (the values of one dimension whose cells are single
    values, and the value pairs of two such dimensions), summed by one bincount per family instead of one per
    row: each group gets the family's row it belongs to as a label (len(rows): none). Returns which of the k
    rows a family sums, and the families (rows, label of each group)."""
    done = np.zeros(k, dtype=bool)
    families: list[tuple[list[int], np.ndarray]] = []

    def fill(rows: list[int], label: np.ndarray) -> None:
        families.append((rows, label))
        done[rows] = True

    exact: dict[str, tuple[np.ndarray, list[str]]] = {}  # dim -> (value position of each code, values)
    for dim, by_value in singles.items():
        cells = _factor(frame, dim)[1]
        if any("," in str(c) for c in cells if str(c) != ""):  # membership lists: a group in several rows
            continue
        values = list(by_value)
        lut = np.full(len(cells) + 1, len(values), dtype=np.int64)  # code -1 (missing) picks the last entry
        for ci, c in enumerate(cells):  # the test _members' masks use (each cell is one value, or none)
            hits = [j for j, v in enumerate(values) if c is not None and c == v]
            if len(hits) > 1:
                break
            if hits:
                lut[ci] = hits[0]
        else:
            exact[dim] = (lut[gcodes[dim]], values)
            fill([index[((dim, v),)] for v in values], exact[dim][0])
    if not pairs:
        return done, families
    names = [d for d in singles if d in exact]
    for i, d1 in enumerate(names):
        for d2 in names[i + 1:]:
            (l1, v1s), (l2, v2s) = exact[d1], exact[d2]
            local = np.full((len(v1s) + 1) * (len(v2s) + 1), -1, dtype=np.int64)
            rows: list[int] = []
            for j1, v1 in enumerate(v1s):
                for j2, v2 in enumerate(v2s):
                    row = index.get(tuple(sorted(((d1, v1), (d2, v2)))), -1)
                    if row >= 0:
                        local[j1 * (len(v2s) + 1) + j2] = len(rows)
                        rows.append(row)
            if rows:
                local[local < 0] = len(rows)
                fill(rows, local[l1 * (len(v2s) + 1) + l2])
    return done, families


def _new_cohort(n_in: np.ndarray, n_out: np.ndarray, length: np.ndarray, n_buckets: int) -> np.ndarray:
    """A cohort that (nearly) did not exist outside the window: its rate of samples per bucket outside
    is under NEW_RATE of its rate inside. Only such a cohort borrows a parent's baseline."""
    outside = np.maximum(n_buckets - length, 1)
    # ...and the outside is long enough that, at its inside rate, it would have shown a baseline
    meaningful = n_in * outside >= MIN_BASELINE_N * np.maximum(length, 1)
    return (n_out * length < NEW_RATE * n_in * outside) & meaningful


def _minority(n_in: np.ndarray, n_out: np.ndarray, ongoing: np.ndarray) -> np.ndarray:
    """A change is the exception, not the rule: inside a closed window at most as many samples as in
    its baseline (else "the rest was unusually good" reads as "everything else got worse"); a change
    still going at the end may hold up to ONGOING_SHARE of the series (a rollout that stays)."""
    limit = np.where(ongoing, ONGOING_SHARE / (1 - ONGOING_SHARE), 1.0)
    return n_in <= limit * n_out


#: Hasselblad & Hedges: a log odds ratio times sqrt(3)/pi is on the scale of Cohen's d
LOGIT_TO_D = math.sqrt(3.0) / math.pi


def _rate_d(n_in: np.ndarray, s_in: np.ndarray, n_out: np.ndarray, s_out: np.ndarray, sign: float) -> np.ndarray:
    """The effect of a rate change as a log odds ratio on the d scale (smoothed by half a sample).

    A pooled-sd difference calls a refusal rate going from 0.8% to 10% "0.6 sd"; as odds it is 12x,
    the same size as a score dropping by 1.4 sd, which is how an analyst reads it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p_in = (s_in + 0.5) / (n_in + 1.0)
        p_out = (s_out + 0.5) / (n_out + 1.0)
        return sign * (np.log(p_in / (1 - p_in)) - np.log(p_out / (1 - p_out))) * LOGIT_TO_D


def _stats(n_in: np.ndarray, s_in: np.ndarray, q_in: np.ndarray, n_out: np.ndarray, s_out: np.ndarray, q_out: np.ndarray, sign: float,
           totals: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None, binary_rows: np.ndarray | None = None,
           at_least: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pooled two-sample z and d (arrays), in the bad direction (sign +1: up is bad). For 0/1 samples
    (sum of squares == sum) d is the rate's log odds ratio (see _rate_d).

    `totals` (count, sum, sum of squares of each row: rows x 1) says that the outside is the row's total
    minus the inside, as in the scan: the pooled mean and variance are then the row's, computed once per row
    instead of once per window. `binary_rows` (rows x 1, bool): rows whose every sample is 0 or 1, so that
    each of their windows is (sum of squares == sum inside and outside), without comparing every window.
    `at_least` (with `totals`, > 0): instead of d, whether d >= at_least (bool), which for rates needs no logarithm."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if totals is not None:
            return _stats_of_rows(n_in, s_in, q_in, n_out, s_out, q_out, sign, totals, binary_rows, at_least)
        if np.ndim(n_in) + np.ndim(s_in) + np.ndim(n_out) == 0 or np.shape(s_in) != np.shape(n_in):
            m_in = s_in / n_in
            m_out = s_out / n_out
            n_all = n_in + n_out
            m_all = (s_in + s_out) / n_all
            var = np.maximum((q_in + q_out) / n_all - m_all * m_all, 0.0)
            # a floor so that a constant series (var 0) with one odd value does not score infinity
            var = np.maximum(var, 1e-12 + 1e-6 * m_all * m_all)
            sd = np.sqrt(var)
            diff = sign * (m_in - m_out)
            z = diff / (sd * np.sqrt(1.0 / n_in + 1.0 / n_out))
            d = diff / sd
        else:  # the same operations in the same order, on fewer temporary arrays (the scan's hot loop)
            shape = np.broadcast_shapes(np.shape(n_in), np.shape(n_out), np.shape(s_in), np.shape(s_out),
                                        np.shape(q_in), np.shape(q_out))
            full = np.empty(shape)
            n_all = np.add(n_in, n_out, out=np.empty(shape))
            m_all = np.add(s_in, s_out, out=np.empty(shape))
            m_all /= n_all
            var = np.add(q_in, q_out, out=full)
            var /= n_all
            floor = np.multiply(m_all, m_all, out=n_all)  # n_all is not needed any more
            var -= floor
            np.maximum(var, 0.0, out=var)
            np.multiply(1e-6, m_all, out=floor)
            floor *= m_all
            floor += 1e-12
            np.maximum(var, floor, out=var)
            sd = np.sqrt(var, out=var)
            diff = np.divide(s_in, n_in, out=m_all)
            diff -= s_out / n_out
            diff *= sign
            scale = np.divide(1.0, n_in, out=floor)
            scale += 1.0 / n_out
            np.sqrt(scale, out=scale)
            scale *= sd
            z = np.divide(diff, scale, out=scale)
            d = np.divide(diff, sd, out=diff)
        binary = np.broadcast_to((q_in == s_in) & (q_out == s_out), np.shape(d))
        if binary.any():
            d = np.where(binary, _rate_d(n_in, s_in, n_out, s_out, sign), d)
    return z, d


def _stats_of_rows(n_in: np.ndarray, s_in: np.ndarray, q_in: np.ndarray, n_out: np.ndarray, s_out: np.ndarray,
                   q_out: np.ndarray, sign: float, totals: tuple[np.ndarray, np.ndarray, np.ndarray],
                   binary_rows: np.ndarray | None, at_least: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """_stats of windows whose outside is their row's total minus the inside (see _stats' `totals`): the
    pooled mean, variance and its floor are per row; per window only the difference and its scale."""
    n_all, s_all, q_all = totals
    m_all = s_all / n_all
    var = np.maximum(q_all / n_all - m_all * m_all, 0.0)
    var = np.maximum(var, 1e-12 + 1e-6 * m_all * m_all)
    sd = np.sqrt(var)
    shape = np.broadcast_shapes(np.shape(n_in), np.shape(n_out), np.shape(s_in), np.shape(s_out))
    diff = np.divide(s_in, n_in, out=np.empty(shape))
    diff -= s_out / n_out
    if sign != 1.0:
        diff *= sign
    scale = np.divide(1.0, n_in, out=np.empty(shape))
    scale += 1.0 / n_out
    np.sqrt(scale, out=scale)
    scale *= sd
    z = np.divide(diff, scale, out=scale)
    if binary_rows is not None and bool(binary_rows.all()):
        if at_least is not None and at_least > 0:
            return z, _rate_d_at_least(n_in, s_in, n_out, s_out, sign, at_least)
        return z, _rate_d(n_in, s_in, n_out, s_out, sign)
    d = np.divide(diff, sd, out=diff)
    binary = (q_in == s_in) & (q_out == s_out)
    if binary.any():
        d = np.where(binary, _rate_d(n_in, s_in, n_out, s_out, sign), d)
    return z, (d >= at_least if at_least is not None else d)


def _rate_d_at_least(n_in: np.ndarray, s_in: np.ndarray, n_out: np.ndarray, s_out: np.ndarray, sign: float,
                     at_least: float) -> np.ndarray:
    """_rate_d(...) >= at_least (> 0), without its four logarithms per window (a third of the scan of a
    rate): the log odds ratio in the bad direction is at least at_least / LOGIT_TO_D when the odds ratio is at
    least its exponential; both odds are positive (counts smoothed by half a sample), so compare products."""
    with np.errstate(invalid="ignore"):
        # odds ratio = (odds inside) / (odds outside) = num / den
        num = (s_in + 0.5) * (n_out - s_out + 0.5)
        den = (n_in - s_in + 0.5) * (s_out + 0.5)
        bound = math.exp(at_least / LOGIT_TO_D)
        return num >= bound * den if sign > 0 else den >= bound * num


def _cums(n: np.ndarray, s: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, ...]:
    pad = np.zeros((n.shape[0], 1))
    return tuple(np.concatenate([pad, np.cumsum(x, axis=1)], axis=1) for x in (n, s, q))


def _run(idx: np.ndarray) -> slice | None:
    """idx as a slice when it is a run of consecutive integers, of integers a fixed step apart, or one
    repeated value (a column)."""
    if idx.size == 0:
        return None
    lo, hi = int(idx[0]), int(idx[-1])
    if hi - lo == idx.size - 1 and (idx.size < 3 or int(idx[1]) == lo + 1) and bool((np.diff(idx) == 1).all()):
        return slice(lo, hi + 1)
    if lo == hi and bool((idx == lo).all()):
        return slice(lo, lo + 1)
    step = int(idx[1]) - lo if idx.size > 1 else 0
    if step > 1 and hi - lo == step * (idx.size - 1) and bool((np.diff(idx) == step).all()):
        return slice(lo, hi + 1, step)  # a strided run of starts (_scan's long windows): still a view
    return None


def _evaluate(cums: tuple[np.ndarray, ...], pcums: tuple[np.ndarray, ...], parents: np.ndarray, rows: np.ndarray, a: np.ndarray, e: np.ndarray, sign: float,
              min_d: float = MIN_D, span: tuple[np.ndarray, np.ndarray] | None = None,
              allow_new: bool = True, with_sums: bool = False,
              memo: dict[Any, Any] | None = None, need_d: bool = True) -> tuple[Any, ...]:
    """z, d, n_in and tested (whether the window counts as a test: Bonferroni) of windows [a, e) of some rows
    (arrays rows x intervals); with_sums: z, d, n_in, n_out, borrowed, s_in, s_out. need_d=False: d is None
    (only whether it reaches min_d is computed: the scan, which keeps z alone).

    `cums` are the cumulative sums being scanned (earlier changes removed), `pcums` the original ones.
    Baseline: the row's own samples outside the window; for a cohort new in the window (judged on the
    original counts), the outside of the parent, restricted to traffic that has a value for the new
    dimension, that makes the change smallest (a new prompt version on one tenant is compared with that
    tenant's traffic on the old versions; a new model with all LLM calls)."""
    nb = cums[0].shape[1] - 1
    # windows shared by every row (1-D a, e) or one set per row (2-D, rows x windows)
    a = a if a.ndim == 2 else a[None, :]
    e = e if e.ndim == 2 else e[None, :]
    length = e - a

    # a run of consecutive columns (the scan's starts and ends) is a view: the same values, no gather
    runs = {id(x): (None if x.shape[0] != 1 else _run(x[0])) for x in (a, e)}

    def at(c: np.ndarray, idx: np.ndarray) -> np.ndarray:
        if idx.shape[0] != 1:  # each row its own columns: np.take_along_axis's gather, without its checks
            if idx.shape[1] == 1:  # one window per row (the boundary search)
                return c[np.arange(len(c)), idx[:, 0]][:, None]
            return c[np.arange(len(c))[:, None], idx]
        run = runs[id(idx)]
        return c[:, run] if run is not None else c[:, idx[0]]
    memo = {} if memo is None else memo  # the rows' slices, kept by a caller evaluating the same rows again

    def rows_of(c: np.ndarray) -> np.ndarray:
        key = (id(c), 0)
        if key not in memo:
            memo[key] = c[rows]
        return memo[key]

    cn, cs, cq = (rows_of(x) for x in cums)
    n_in = at(cn, e) - at(cn, a)
    s_in = at(cs, e) - at(cs, a)
    q_in = at(cq, e) - at(cq, a)
    totals = (cn[:, -1:], cs[:, -1:], cq[:, -1:])
    n_out, s_out, q_out = totals[0] - n_in, totals[1] - s_in, totals[2] - q_in
    if ("binary",) not in memo:  # rows whose every sample is 0 or 1 (a rate): every window of them is
        memo["binary",] = (cs == cq).all(axis=1, keepdims=True)
    if span is None:
        span = (np.zeros(cums[0].shape[0], dtype=np.int64), np.full(cums[0].shape[0], nb, dtype=np.int64))
    own = n_out >= MIN_BASELINE_N
    # the outside is the row's total minus the inside: pooled moments per row (see _stats)
    mask_only = not need_d and not with_sums and min_d > 0
    # mask_only: d is the bool "d >= min_d" (see _stats' at_least)
    z, d = _stats(n_in, s_in, q_in, n_out, s_out, q_out, sign, totals=totals, binary_rows=memo["binary",],
                  at_least=min_d if mask_only else None)
    ok = own & _minority(n_in, n_out, e >= nb)
    new: np.ndarray | None = None
    if allow_new and not bool(own.all()):  # (a row with its own baseline in every window is never new)
        if cums is pcums:  # the first round scans the original sums: the same counts
            o_in = n_in
        else:
            pn = rows_of(pcums[0])
            o_in = at(pn, e) - at(pn, a)
        # new = it (nearly) did not exist BEFORE the window, for long enough to tell (a cohort that only
        # stopped, e.g. a prompt version replaced by the next, is not new: it is compared with itself)
        o_before = at(rows_of(pcums[0]), a)
        before_len = a.astype(np.float64)
        # (and the window starts after the first NEW_RATE of the range: a cohort quiet in the first hours
        # of the range is diurnal traffic, not a new value, the same rule the start estimate uses)
        new = ~own & (o_before * length < NEW_RATE * o_in * before_len) & (before_len >= NEW_RATE * nb) \
            & (o_in * before_len >= MIN_BASELINE_N * np.maximum(length, 1))
        if not new.any():
            new = None
    if new is not None:
        z_b = np.full(z.shape, np.inf)
        d_b = np.zeros(z.shape)
        nb_out = np.zeros(z.shape)
        sb_out = np.zeros(z.shape)
        for j in range(parents.shape[1]):
            pr = parents[rows, j]
            has = pr >= 0
            if not has.any():
                continue
            # the parent outside the cohort's whole lifetime: a fixed baseline, so that moving the
            # window's start does not buy a bigger baseline (the same for every window: kept in memo)
            if ("parent", j) not in memo:
                p_rows = np.where(has, pr, 0)
                fa, fe = span[0][rows][:, None], span[1][rows][:, None]
                p_n, p_s, p_q = (c[p_rows][:, -1:] - (np.take_along_axis(c[p_rows], fe, 1)
                                                      - np.take_along_axis(c[p_rows], fa, 1)) for c in pcums)
                p_in = pcums[0][p_rows][:, -1:] - p_n
                p_ok = has[:, None] & (p_n >= MIN_BASELINE_N) & ~_new_cohort(p_in, p_n, fe - fa, nb)
                memo["parent", j] = (p_n, p_s, p_q, p_ok)
            p_n, p_s, p_q, p_ok = memo["parent", j]
            zj, dj = _stats(n_in, s_in, q_in, p_n, p_s, p_q, sign)
            take = p_ok & (zj < z_b)
            z_b = np.where(take, zj, z_b)
            d_b = np.where(take, dj, d_b)
            nb_out = np.where(take, p_n, nb_out)
            sb_out = np.where(take, p_s, sb_out)
        new &= np.isfinite(z_b)
        z = np.where(ok, z, np.where(new, z_b, -np.inf))
        if mask_only:
            d = np.where(ok, d, new & (d_b >= min_d))
        else:
            d = np.where(ok, d, np.where(new, d_b, 0.0))
    else:  # no window borrows a baseline: the same values without the borrowed ones' arrays
        z = np.where(ok, z, -np.inf)
        d = (d & ok) if mask_only else np.where(ok, d, 0.0)
    enough = n_in >= MIN_N
    tested = enough & np.isfinite(z)  # every window compared counts for Bonferroni
    z = np.where(enough & (d if mask_only else d >= min_d), z, -np.inf)
    if mask_only:
        return z, None, n_in, tested
    if not with_sums:
        return z, d, n_in, tested
    if new is not None:
        return z, d, n_in, np.where(ok, n_out, nb_out), new & ~ok, s_in, np.where(ok, s_out, sb_out)
    return (z, d, n_in, np.where(ok, n_out, 0.0), np.zeros(z.shape, dtype=bool), s_in,
            np.where(ok, s_out, 0.0))


#: a scanned window of k buckets starts every max(1, k // STRIDE_SHARE) buckets (see _scan)
STRIDE_SHARE = 10


def _stride(k: int) -> int:
    return max(1, k // STRIDE_SHARE)


@dataclass
class _Scan:
    row: int
    a: int
    e: int  # exclusive bucket end
    z: float
    d: float
    tries: int
    p: float
    n_in: int = 0
    n_out: int = 0
    borrowed: bool = False
    s_in: float = 0.0  # sums of the compared value inside the window and in its baseline
    s_out: float = 0.0


def _since_starts(nb: int) -> tuple[np.ndarray, np.ndarray]:
    """The starts of the scan's "since a, still going" windows (1..nb-1, ascending), each a tenth of its
    window's length after the previous one (_stride: every start for the short windows at the end), and how
    many starts each stands for (from the one after the previous start to itself: nb - 1 in all)."""
    out = []
    a = nb - 1
    while a >= 1:
        out.append(a)
        a -= _stride(nb - a)
    starts = np.array(out[::-1], dtype=np.int64)
    return starts, np.diff(starts, prepend=0)


def _scan(cums: tuple[np.ndarray, ...], pcums: tuple[np.ndarray, ...], parents: np.ndarray, rows: np.ndarray, nb: int, sign: float,
          span: tuple[np.ndarray, np.ndarray] | None = None, allow_new: bool = True) -> list[_Scan]:
    """Best window of each row: all starts x geometric lengths, and every "since a, still going"."""
    best = np.full(len(rows), -np.inf)
    best_a = np.zeros(len(rows), dtype=np.int64)
    best_e = np.zeros(len(rows), dtype=np.int64)
    tries = np.zeros(len(rows))
    # a long window's start moves by a tenth of its length (z changes little between neighbours; _refine then
    # finds the exact boundaries), its tests counted as if every start had been tried (each stands for
    # `stride` windows): 34% of the windows of a week, the same Bonferroni count. A "since a" window's start
    # moves by a tenth of its own length the same way (_since_starts)
    since, since_stride = _since_starts(nb)
    candidates = [*[(np.arange(0, nb - k + 1, _stride(k)), k) for k in _lengths(nb)], (since, 0)]
    memo: dict[Any, Any] = {}
    counts = cums[0][rows]
    for starts, k in candidates:
        if not len(starts):  # one bucket of data: no "since a, still going" window after its start
            continue
        ends = starts + k if k else np.full(len(starts), nb)
        # only rows with some window of MIN_N samples: in the others every window scores -inf and is
        # not a test (so leaving them out changes nothing, and sparse cohorts cost nothing at short lengths)
        # (starts and ends are runs of columns: views, not gathers)
        s0, s1 = int(starts[0]), int(starts[-1]) + 1
        # (every start of this length counts, strided or not: the near search below may find it)
        inside = counts[:, s0 + k:s1 + k] - counts[:, s0:s1] if k else counts[:, nb:nb + 1] - counts[:, 1:nb]
        busy = np.flatnonzero(inside.max(axis=1) >= MIN_N)
        if not len(busy):
            continue
        sub, sub_memo = (rows, memo) if len(busy) == len(rows) else (rows[busy], {})
        z, _d, _n, tested = _evaluate(cums, pcums, parents, sub, starts, ends, sign, span=span,
                                      allow_new=allow_new, memo=sub_memo, need_d=False)
        stride = _stride(k) if k else int(since_stride.max())
        tries[busy] += tested.sum(axis=1) * stride if k else (tested * since_stride[None, :]).sum(axis=1)
        idx = np.argmax(z, axis=1)
        zz = z[np.arange(len(busy)), idx]
        row_a, row_e = starts[idx], ends[idx]
        if stride > 1:  # every start between the best one's strided neighbours, at this length: what the
            # scan of every start would have kept, unless a start far from this one scores higher
            if k:
                near = np.clip(row_a[:, None] + np.arange(1 - stride, stride)[None, :], 0, nb - k)
            else:  # the starts between the best one's neighbours among the since-starts
                lo = np.where(idx > 0, starts[np.maximum(idx - 1, 0)] + 1, 1)
                hi = np.where(idx + 1 < len(starts), starts[np.minimum(idx + 1, len(starts) - 1)] - 1, nb - 1)
                near = np.minimum(lo[:, None] + np.arange(int((hi - lo).max()) + 1)[None, :], hi[:, None])
            near_e = near + k if k else np.full(near.shape[1], nb)
            z_near = _evaluate(cums, pcums, parents, sub, near, near_e, sign, span=span, allow_new=allow_new,
                               memo=sub_memo, need_d=False)[0]
            j = np.argmax(z_near, axis=1)
            z_j = z_near[np.arange(len(busy)), j]
            closer = z_j > zz
            zz = np.where(closer, z_j, zz)
            row_a = np.where(closer, near[np.arange(len(busy)), j], row_a)
            row_e = row_a + k if k else np.full(len(busy), nb)
        better = zz > best[busy]
        best[busy] = np.where(better, zz, best[busy])
        best_a[busy] = np.where(better, row_a, best_a[busy])
        best_e[busy] = np.where(better, row_e, best_e[busy])
    return [_Scan(int(r), int(best_a[i]), int(best_e[i]), float(best[i]), 0.0, int(tries[i]), 1.0)
            for i, r in enumerate(rows)]


def _refine(cums: tuple[np.ndarray, ...], pcums: tuple[np.ndarray, ...], parents: np.ndarray, scans: list[_Scan],
            nb: int, sign: float, span: tuple[np.ndarray, np.ndarray] | None = None,
            allow_new: bool = True) -> list[_Scan]:
    """Exact boundaries: alternate the best start for the end, and the best end for the start (up to
    4 times, until the end stops improving). All scans at once, each row with its own windows; a row
    is independent of the others, so each gets what refining it alone would give."""
    if not scans:
        return []
    rows = np.array([sc.row for sc in scans], dtype=np.int64)
    a = np.array([sc.a for sc in scans], dtype=np.int64)
    e = np.array([sc.e for sc in scans], dtype=np.int64)
    best = np.array([sc.z for sc in scans], dtype=np.float64)
    active = np.ones(len(scans), dtype=bool)
    memo: dict[Any, Any] = {}
    pick = np.arange(len(scans))
    starts = np.arange(nb)  # every row's candidate starts and ends: shared columns (views), one bound per row
    ends = np.arange(1, nb + 1)
    for _ in range(4):
        # starts 0..e-1 of each row (past e never wins: -inf)
        z = _evaluate(cums, pcums, parents, rows, starts, e[:, None], sign,
                      span=span, allow_new=allow_new, memo=memo, need_d=False)[0]
        z = np.where(starts[None, :] < e[:, None], z, -np.inf)
        i = np.argmax(z, axis=1)
        zi = z[pick, i]
        better = active & (zi > best + 1e-12)
        a = np.where(better, i, a)
        best = np.where(better, zi, best)
        # ends a+1..nb of each row
        z = _evaluate(cums, pcums, parents, rows, a[:, None], ends, sign,
                      span=span, allow_new=allow_new, memo=memo, need_d=False)[0]
        z = np.where(ends[None, :] > a[:, None], z, -np.inf)
        i = np.argmax(z, axis=1)
        zi = z[pick, i]
        better = active & (zi > best + 1e-12)
        e = np.where(better, ends[i], e)
        best = np.where(better, zi, best)
        active &= better
        if not active.any():
            break
    z, d, n_in, n_out, borrowed, s_in, s_out = (
        x[:, 0] for x in _evaluate(cums, pcums, parents, rows, a[:, None], e[:, None], sign, span=span,
                                   allow_new=allow_new, with_sums=True, memo=memo))
    return [_Scan(sc.row, int(a[j]), int(e[j]), float(z[j]), float(d[j]), sc.tries, sc.p, int(n_in[j]),
                  int(n_out[j]), bool(borrowed[j]), float(s_in[j]), float(s_out[j])) for j, sc in enumerate(scans)]


def _p_one_sided(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0)) if math.isfinite(z) else 1.0


def _t_to_z(t: float, dof: float) -> float:
    """A normal deviate with (about) the tail of Student's t with `dof` degrees of freedom: a mean of
    a dozen skewed scores is not normal yet (conservative for large t)."""
    if dof <= 0 or not math.isfinite(t):
        return t
    return t * (1 - 1 / (4 * dof)) / math.sqrt(1 + t * t / (2 * dof))


def _binomial_p(sc: "_Scan", sign: float) -> float:
    """P(at least k of n bad samples) (or at most, when down is bad) at the baseline's rate, with a
    Laplace-smoothed rate so that a baseline of 0 events does not make every event a certainty."""
    n, k = int(round(sc.n_in)), int(round(sc.s_in))
    p0 = (sc.s_out + 1.0) / (sc.n_out + 2.0)
    if sign < 0:
        k, p0 = n - k, 1.0 - p0
    if k <= 0:
        return 1.0
    lp, lq = math.log(p0), math.log1p(-p0)
    lg = _lgammas(n + 1)
    base = float(lg[n + 1])
    # the terms of every i in k..n at once: the same IEEE operations in the same order as one at a time
    i = np.arange(k, n + 1)
    terms = base - lg[i + 1] - lg[n - i + 1] + i * lp + (n - i) * lq
    top = float(terms.max())
    return min(1.0, math.exp(top) * sum(map(math.exp, (terms - top).tolist())))


_LGAMMA: list[np.ndarray] = [np.zeros(0)]


def _lgammas(n: int) -> np.ndarray:
    """math.lgamma(j) for j = 0..n (kept: the feed asks ~700 binomial tails of up to ~1e5 samples)."""
    if len(_LGAMMA[0]) <= n:
        size = max(n + 1, 2 * len(_LGAMMA[0]))
        _LGAMMA[0] = np.array([math.lgamma(j) if j > 0 else math.inf for j in range(size)], dtype=np.float64)
    return _LGAMMA[0]


def benjamini_hochberg(p: Sequence[float]) -> list[float]:
    arr = np.asarray(p, dtype=float)
    m = arr.size
    if m == 0:
        return []
    order = np.argsort(arr, kind="stable")
    ranked = arr[order] * m / np.arange(1, m + 1)
    qs = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(qs, 1.0)
    return out.tolist()


# ---------------------------------------------------------------------------------------------
# The feed over frames


@dataclass
class _Raw:
    """One accepted change in one series before cohort pruning and signal merging."""

    sig: FeedSignal
    grid: _Grid
    scan: _Scan
    n_in: int
    n_out: int
    share: float
    q: float = 1.0
    test: int = 0  # index of its p among all tested
    sign: float = 1.0  # the direction scanned: +1 up, -1 down
    #: the row's bucket sums (n, s, q) as scanned when it was accepted, for dating its shape (analysis.ramps)
    series: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def _parents(key: tuple[tuple[str, str], ...]) -> list[tuple[tuple[str, str], ...]]:
    return [tuple(kv for kv in key if kv != drop) for drop in key]


def _specific(grid: _Grid, sc: _Scan, parent: int, sign: float) -> bool:
    """Whether the change of a cohort over its window is absent from the rest of `parent`.

    The rest must have data in the window (else the cohort IS its parent there, and the parent is the
    simpler name) and must not move by SIBLING_Z / SIBLING_D_SHARE of the cohort's own change, measured
    against the same kind of baseline the cohort had: its own outside, or, when the cohort was new, the
    baselines it borrowed (the other tenants on a new model are new too)."""
    moves = _rest_moves(grid, sc, parent, sc.row, sign)
    return moves is not None and not moves


def _all_traffic_there(grid: _Grid, c: _Raw, r: _Raw) -> bool:
    """Whether c's cohort is all the traffic of r's window (the rest has under MIN_N samples there) but not
    of the range (the rest has a baseline's worth outside it: it runs at other hours)."""
    a, e, row = r.scan.a, r.scan.e, c.scan.row
    rest_in = float(grid.n[0, a:e].sum() - grid.n[row, a:e].sum())
    rest_out = float(grid.n[0].sum() - grid.n[row].sum()) - rest_in
    return rest_in < MIN_N and rest_out >= MIN_BASELINE_N


def _rest_moves(grid: _Grid, sc: _Scan, whole: int, part: int, sign: float) -> bool | None:
    """Whether row `whole` without row `part` moves over sc's window by SIBLING_Z / SIBLING_D_SHARE of sc's
    change, against sc's kind of baseline (the rest's own outside, or the baselines sc's row borrowed when
    it was new); None when the rest has under MIN_N samples in the window."""
    a, e, row = sc.a, sc.e, sc.row
    rest = [x[whole] - x[part] for x in (grid.n, grid.s, grid.q)]
    inside = [float(x[a:e].sum()) for x in rest]
    if inside[0] < MIN_N:
        return None
    # the rest's baseline is its traffic BEFORE the window when there is enough of it: after the
    # window it may still be changing (a ramp that outlasts the cohort's window)
    before = [float(x[:a].sum()) for x in rest]
    own_out = before if before[0] >= MIN_BASELINE_N else [float(x.sum()) - i for x, i in zip(rest, inside)]
    bases = []
    if not sc.borrowed and own_out[0] >= MIN_BASELINE_N:
        bases.append(own_out)
    else:
        fa, fe = grid.first[row], grid.last[row]
        for p in grid.parents[row]:
            if p >= 0:
                bases.append([float(x[p].sum() - x[p, fa:fe].sum()) for x in (grid.n, grid.s, grid.q)])
    for base in bases:
        if base[0] < MIN_BASELINE_N:
            continue
        z, d = _stats(np.array(inside[0]), np.array(inside[1]), np.array(inside[2]), np.array(base[0]),
                      np.array(base[1]), np.array(base[2]), sign)
        if float(z) >= SIBLING_Z and float(d) >= SIBLING_D_SHARE * sc.d:
            return True
    return False


def detect(frames: dict[str, pd.DataFrame], signals: Sequence[FeedSignal], dims: Sequence[str],
           since_ns: int, until_ns: int, *, pairs: bool = True, alpha: float = ALPHA) -> list[Finding]:
    """Findings from sample frames (name -> columns t, v, *dims), ranked by impact.

    Pure: no database. Example trace ids are added by `find_changes`."""
    _MASKS.clear()
    _CODES.clear()
    _LAYOUTS.clear()
    _CACHING[0] = True
    try:
        return _detect(frames, signals, dims, since_ns, until_ns, pairs=pairs, alpha=alpha)
    finally:
        _MASKS.clear()
        _CODES.clear()
        _LAYOUTS.clear()
        _CACHING[0] = False


def _detect(frames: dict[str, pd.DataFrame], signals: Sequence[FeedSignal], dims: Sequence[str],
            since_ns: int, until_ns: int, *, pairs: bool, alpha: float) -> list[Finding]:
    if until_ns <= since_ns:
        return []
    width = bucket_width_ns(since_ns, until_ns)
    t0 = since_ns - since_ns % width
    nb = max(1, int(-(-(until_ns - t0) // width)))
    raws: list[_Raw] = []
    pvals: list[float] = []
    traffic: list[tuple[FeedSignal, Any, int]] = []  # (signal, analysis.traffic.TrafficScan, index of its first p)
    used: dict[str, pd.DataFrame] = {}
    for sig in signals:
        frame = frames.get(sig.name)
        if frame is None or frame.empty:
            continue
        frame = frame[(frame["t"] >= since_ns) & (frame["t"] < until_ns) & np.isfinite(frame["v"])]
        if sig.stalls_of:  # durations -> stalled or not, against the p99s of this range (analysis.tails)
            frame = tails.stalls(frame)
        if len(frame) < MIN_N + MIN_BASELINE_N:
            continue
        if sig.aggregation == "count":  # traffic: counts against comparable days (analysis.traffic), not a mean
            scanned_traffic = _traffic_scan(frame, dims, t0, width, nb, pairs)
            traffic.append((sig, scanned_traffic, len(pvals)))
            pvals += [x.p for x in scanned_traffic.drops]
            continue
        present = [d for d in dims if d in frame.columns]
        y = frame["v"].to_numpy(np.float64)
        if sig.log:
            y = np.log1p(np.maximum(y, 0.0))
        frame = frame.assign(y=y)
        used[sig.name] = frame
        grid = build_grid(frame, present, t0, width, nb, pairs=pairs, single=SINGLE_DIMENSIONS)
        total = grid.n[0].sum()
        pcums = _cums(grid.n, grid.s, grid.q)
        n, s, q = grid.n.copy(), grid.s.copy(), grid.q.copy()
        removed = False
        first_rows = np.arange(grid.cohorts)
        if sig.stalls_of:  # most cohorts hold no stall at all: no window of theirs scores above 0, so they are
            # not scanned, and each (with samples enough for a window and its baseline) is one test of p = 1
            stalled = grid.s[:grid.cohorts].sum(axis=1) > 0
            idle = ~stalled & (grid.n[:grid.cohorts].sum(axis=1) >= MIN_N + MIN_BASELINE_N)
            pvals += [1.0] * int(idle.sum())
            first_rows = np.flatnonzero(stalled)
        # a two-sided signal scans up, then down: the changes found going up are removed from the
        # baselines of the scan going down too (a retry loop inflates the outside of a later fall)
        for sign in sig.signs:
            rows = first_rows
            for _round_i in range(ROUNDS):
                if len(rows) == 0:
                    break
                cums = _cums(n, s, q) if removed else pcums  # nothing removed yet: the original sums
                keep = []
                scanned = []
                for sc in _scan(cums, pcums, grid.parents, rows, nb, sign, span=(grid.first, grid.last),
                                allow_new=_round_i == 0):  # a cohort is new once
                    if not math.isfinite(sc.z):
                        continue
                    pvals.append(min(1.0, _p_one_sided(sc.z) * max(sc.tries, 1)))
                    if pvals[-1] > alpha:
                        continue
                    scanned.append((sc, len(pvals) - 1))
                refined = _refine(cums, pcums, grid.parents, [sc for sc, _i in scanned], nb, sign,
                                  span=(grid.first, grid.last), allow_new=_round_i == 0)
                for sc, (_scanned, test) in zip(refined, scanned):
                    if not math.isfinite(sc.z) or sc.d < MIN_D:
                        continue
                    # the refined window scores at least the scanned one; its p stands in the BH family.
                    # Rates (0/1 samples) get an exact binomial tail: one refusal in ten calls against a
                    # 0.3% base rate is a 3% event, not the 5e-6 the normal approximation says
                    p_one = _binomial_p(sc, sign) if sig.aggregation == "rate" else _p_one_sided(_t_to_z(sc.z, sc.n_in - 1))
                    sc.p = pvals[test] = min(1.0, p_one * max(sc.tries, 1))
                    if sc.p > alpha:
                        continue
                    raws.append(_Raw(sig, grid, sc, sc.n_in, sc.n_out, sc.n_in / total if total else 0.0, test=test,
                                     sign=sign, series=(n[sc.row].copy(), s[sc.row].copy(), q[sc.row].copy())))
                    # remove the change so the next round finds another one (and baselines exclude it)
                    n[sc.row, sc.a:sc.e] = 0
                    s[sc.row, sc.a:sc.e] = 0
                    q[sc.row, sc.a:sc.e] = 0
                    removed = True
                    keep.append(sc.row)
                rows = np.array(keep, dtype=np.int64)
    if not raws and not any(ts.drops for _s, ts, _i in traffic):
        return []
    qs = benjamini_hochberg(pvals)
    for r in raws:
        r.q = qs[r.test]
    raws = [r for r in raws if r.q <= alpha]
    raws = _prune_cohorts(raws, used)
    raws = [r for r in raws if not _mix_explains(r, used[r.sig.name], dims, t0, width)]
    traffic_frame = _traffic_frame(frames, signals)
    findings = [_finding(r, used[r.sig.name], t0, width, nb, traffic_frame, dims) for r in raws]
    for sig, ts, first in traffic:
        significant = [(x, qs[first + i]) for i, x in enumerate(ts.drops) if qs[first + i] <= alpha]
        findings += ts.findings(significant, sig.name, sig.label, D_CAP)
    for f in findings:
        f.window_start_ns, f.window_end_ns = since_ns, until_ns
    findings = _merge_aliases(findings, dims)
    findings = _merge_signals(findings)
    findings = _merge_nested(findings)
    findings = _merge_concurrent(findings, dims)
    findings = _merge_contained(findings, traffic_frame)
    findings.sort(key=lambda f: (-f.impact, f.start_ns, sorted(f.cohort.items())))
    for f in findings:
        f.window_start_ns, f.window_end_ns = since_ns, until_ns
    return findings


def _traffic_scan(frame: pd.DataFrame, dims: Sequence[str], t0: int, width: int, nb: int, pairs: bool) -> Any:
    """analysis.traffic's scan of the trace_count frame, with this module's constants (one meaning each)."""
    from .traffic import Limits, TrafficScan

    return TrafficScan.run(frame, dims, t0, width, nb, Limits(), pairs)


def _overlap(a1: int, e1: int, a2: int, e2: int) -> bool:
    return a1 < e2 and a2 < e1


def _mix_explains(r: _Raw, frame: pd.DataFrame, dims: Sequence[str], t0: int, width: int) -> bool:
    """Whether the change is the cohort's composition moving, not its traffic getting worse: split by some other
    dimension, each part keeping its own baseline level (its mean outside the window) but weighted by its share
    inside, the cohort's window mean would move almost as far. What is left when the composition is held fixed
    (the rate part of explain's shift-share, sum_v w_in(v) (m_in(v) - m_out(v)), as a share of the change, times
    d) must still reach MIN_D for the change to be one. A route whose latency rises at the hours one tenant's long
    meetings fill, a tenant whose input tokens grow while its engineers' code reviews (14k tokens a call) outnumber
    its helpdesk calls (3k): every part of it is as it always was.

    Conservative: a part with under MIN_BASELINE_N samples outside the window (a new prompt version, a new model)
    is held at the cohort's own baseline, so all of its move counts as the cohort's. A new cohort (borrowed
    baseline) is never explained so."""
    sc = r.scan
    if sc.borrowed:
        return False
    cohort = dict(r.grid.keys[sc.row])
    lo, hi = t0 + sc.a * width, t0 + sc.e * width
    rows = np.flatnonzero(_cohort_mask(frame, cohort))
    t = frame["t"].to_numpy(np.int64)[rows]
    y = frame["y"].to_numpy(np.float64)[rows]
    inside = (t >= lo) & (t < hi)
    n_in, n_out = int(inside.sum()), int((~inside).sum())
    if n_in == 0 or n_out == 0:
        return False
    m_in, m_out = float(y[inside].mean()), float(y[~inside].mean())
    moved = r.sign * (m_in - m_out)
    if moved <= 0:
        return False
    for dim in dims:
        if dim in cohort or dim not in frame.columns:
            continue
        codes = _factor(frame, dim)[0][rows] + 1  # 0: no value (its own part)
        size = int(codes.max()) + 1
        c_in = np.bincount(codes[inside], minlength=size)
        c_out = np.bincount(codes[~inside], minlength=size)
        s_out = np.bincount(codes[~inside], weights=y[~inside], minlength=size)
        level = np.where(c_out >= MIN_BASELINE_N, s_out / np.maximum(c_out, 1), m_out)
        m_mix = float((c_in * level).sum()) / n_in
        left = r.sign * (m_in - m_mix)
        if sc.d * left / moved < MIN_D:
            return True
    return False


def _prune_cohorts(raws: list[_Raw], frames: dict[str, pd.DataFrame] | None = None) -> list[_Raw]:
    """The raws named at their own cohort (see the module docstring). `frames` (signal -> the frame scanned) tell
    which cohorts lie wholly inside a cohort of a dimension scanned alone (SINGLE_DIMENSIONS: a provider)."""
    by_signal: dict[tuple[str, float], list[_Raw]] = {}
    for r in raws:  # a rise and a fall of one signal are pruned apart: each against its own direction
        by_signal.setdefault((r.sig.name, r.sign), []).append(r)
    kept: list[_Raw] = []
    for group in by_signal.values():
        grid = group[0].grid
        sign = group[0].sign
        frame = None if frames is None else frames.get(group[0].sig.name)
        nested: dict[tuple[int, int], bool] = {}

        def inside(c: _Raw, r: _Raw) -> bool:
            """c's cohort lies wholly inside r's, a value of a dimension scanned alone: a provider has no pairs, so
            the cohorts (values and pairs) all of whose samples are the provider's are its children (a retry loop
            on a route of a provider's is the route's; a leak on one tenant of a route that is all of a provider's
            traffic is that pair's, as it would be under the route)."""
            rk, ck = grid.keys[r.scan.row], grid.keys[c.scan.row]
            if frame is None or len(rk) != 1 or rk[0][0] not in SINGLE_DIMENSIONS or not ck \
                    or any(d in SINGLE_DIMENSIONS for d, _v in ck) \
                    or not _overlap(r.scan.a, r.scan.e, c.scan.a, c.scan.e):
                return False
            key = (c.scan.row, r.scan.row)
            if key not in nested:
                mc, mr = _cohort_mask(frame, dict(ck)), _cohort_mask(frame, dict(rk))
                nested[key] = bool(mc.any()) and not bool((mc & ~mr).any())
            return nested[key]

        def child(c: _Raw, r: _Raw) -> bool:
            return _child_of(grid, c, r) or inside(c, r)

        specific = []
        for r in group:
            key = grid.keys[r.scan.row]
            ok = all(_specific(grid, r.scan, grid.index[p], sign) for p in _parents(key) if p in grid.index)
            if ok:
                specific.append(r)
        # a parent whose change is not its one child's alone (the parent without that child, over the parent's
        # window and against the parent's baseline, still moves: a new model's refusals on two routes, one
        # of them too weak to be a finding of its own) is named at the parent: the child is part of it. Not
        # when another child (other traffic) holds a change of its own too: the rest's move may be that
        # child's (two incidents at once on two routes are two findings, not one on all traffic)
        def one_child(c: _Raw, r: _Raw) -> bool:
            others = [o for o in specific if o is not c and child(o, r)
                      and not np.array_equal(grid.n[o.scan.row], grid.n[c.scan.row])]
            return not others and bool(_rest_moves(grid, r.scan, r.scan.row, c.scan.row, sign))

        within = {id(c): [r for r in specific if child(c, r) and one_child(c, r)] for c in specific}
        for r in specific:
            if within[id(r)]:
                continue
            # dropped when, within this cohort, the change sits in one child (that child may itself
            # be reported under its other parent: a tenant spike that is one route's spike is the route's)
            concentrated_in_child = any(
                child(c, r) and _specific(grid, c.scan, r.scan.row, sign)
                and r not in within.get(id(c), [])
                for c in group if c is not r)
            if concentrated_in_child:
                continue
            # a change on all traffic that no cohort holds, in a window where one provider IS all the traffic (the
            # rest runs at other hours: other time zones, other services), is named by that provider, which was
            # found changed against its own baseline: "all traffic" names nothing to act on, and its baseline is
            # mostly the rest's (a provider's 429 wave on a Sunday evening when only its models' traffic ran,
            # W4-01). Only a provider: its change is spread over its models by nature (none holds it), while a
            # prompt version or a model is all the traffic of any window it alone served (a succession, not other
            # hours: W5-04's stale retriever on route=benefits_qa is not prompt bqa-v8's, the version of its days)
            alone = [c for c in group if len(grid.keys[c.scan.row]) == 1 and grid.keys[c.scan.row][0][0]
                     in SINGLE_DIMENSIONS and _child_of(grid, c, r) and _all_traffic_there(grid, c, r)] \
                if r.scan.row == 0 else []
            kept += [c for c in alone if not any(c is k for k in kept)] or ([] if alone else [r])
    return kept


def _child_of(grid: _Grid, c: _Raw, r: _Raw) -> bool:
    """c's cohort is r's plus one dimension value, over an overlapping window."""
    kvs, c_key = set(grid.keys[r.scan.row]), set(grid.keys[c.scan.row])
    return len(c_key) == len(kvs) + 1 and kvs < c_key and _overlap(r.scan.a, r.scan.e, c.scan.a, c.scan.e)


def _aggregate(values: np.ndarray, aggregation: str) -> float:
    if values.size == 0:
        return math.nan
    if aggregation.startswith("p") and aggregation[1:].isdigit():
        return float(np.percentile(values, int(aggregation[1:])))
    return float(values.mean())


#: masks of (frame, cohort) computed while one feed runs: a finding reads its cohort, its parents and
#: the traffic frame, and string matching 1M rows each time dominated the feed (cleared per detect())
_MASKS: dict[tuple[int, tuple[tuple[str, str], ...]], np.ndarray] = {}


def _cohort_mask(frame: pd.DataFrame, cohort: dict[str, str]) -> np.ndarray:
    if not _CACHING[0]:  # outside detect() a frame's id may be reused by the next one: nothing kept
        return _compute_mask(frame, cohort)
    key = (id(frame), tuple(sorted(cohort.items())))
    if key not in _MASKS:
        _MASKS[key] = _compute_mask(frame, cohort)
    return _MASKS[key]


def _compute_mask(frame: pd.DataFrame, cohort: dict[str, str]) -> np.ndarray:
    if len(cohort) > 1:  # a pair: the AND of its single-value masks (each cached)
        mask = np.ones(len(frame), dtype=bool)
        for dim, value in cohort.items():
            mask = mask & _compute_mask(frame, {dim: value})
        return mask
    mask = np.ones(len(frame), dtype=bool)
    for dim, value in cohort.items():
        codes, cells = _factor(frame, dim)
        if value == "*":  # any value
            mask &= _lut_mask(codes, cells, lambda c: _text(c) != "")
        else:
            mask &= _lut_mask(codes, cells, lambda c, v=value: ("," + v + ",") in ("," + _text(c) + ","))
    return mask


#: the signal whose samples are the traffic (one per trace) for "how much traffic a change touched"
TRAFFIC_SIGNAL = "trace_latency"


def _traffic_frame(frames: dict[str, pd.DataFrame], signals: Sequence[FeedSignal]) -> pd.DataFrame | None:
    frame = frames.get(TRAFFIC_SIGNAL)
    return frame if frame is not None and len(frame) else None


def _new_values(frame: pd.DataFrame, mask: np.ndarray, inside: np.ndarray, before: np.ndarray,
                dims: Sequence[str], cohort: dict[str, str]) -> list[dict[str, str]]:
    """The cohort narrowed by a value that is ALL of its traffic inside the window and none of it
    before (a prompt version rolled out to one route at 100%, too few traces for the pair to be a
    series of its own): the same traffic, so an alias of the finding."""
    out = []
    for dim in dims:
        if dim in cohort or dim not in frame.columns:
            continue
        codes, cells = _factor(frame, dim)
        sel = codes[mask & inside]
        if not sel.size or sel[0] < 0 or not bool((sel == sel[0]).all()):
            continue
        value = cells[int(sel[0])]
        if not isinstance(value, str) or "," in value or bool((codes[mask & before] == sel[0]).any()):
            continue
        out.append(dict(sorted({**cohort, dim: value}.items())))
    return out


def _whole_values(frame: pd.DataFrame, dims: Sequence[str]) -> list[dict[str, str]]:
    """The values that hold every sample of a signal (a judge that only runs on one route): a change "on all
    traffic" of that signal is a change on them, so they are its aliases (the analyst reads where it is)."""
    out = []
    for dim in dims:
        if dim not in frame.columns or not len(frame):
            continue
        codes, cells = _factor(frame, dim)
        if codes[0] < 0 or not bool((codes == codes[0]).all()):
            continue
        value = cells[int(codes[0])]
        if isinstance(value, str) and value and "," not in value:
            out.append({dim: value})
    return out


def _finding(r: _Raw, frame: pd.DataFrame, t0: int, width: int, nb: int,
             traffic: pd.DataFrame | None = None, dims: Sequence[str] = ()) -> Finding:
    grid, sc, sig = r.grid, r.scan, r.sig
    cohort = dict(grid.keys[sc.row])
    lo, hi = t0 + sc.a * width, t0 + sc.e * width
    mask = _cohort_mask(frame, cohort)
    t = frame["t"].to_numpy(np.int64)
    v = frame["v"].to_numpy(np.float64)
    inside = (t >= lo) & (t < hi)
    cur = _aggregate(v[mask & inside], sig.aggregation)
    if sc.borrowed:  # a new cohort: shown against the parent it was compared with (the closer one)
        parents = [dict(grid.keys[p]) for p in grid.parents[sc.row] if p >= 0] or [{}]
        life = (t >= t0 + grid.first[sc.row] * width) & (t < t0 + grid.last[sc.row] * width)
        bases = [_aggregate(v[_cohort_mask(frame, p) & ~life], sig.aggregation) for p in parents]
        base = min(bases, key=lambda b: abs(b - cur) if math.isfinite(b) else math.inf)
    else:
        base = _aggregate(v[mask & ~inside], sig.aggregation)
    # the change point: the first sample that carries the change, the first evidence of it. Not halfway from the
    # cohort's last sample before: where a sparse cohort sent nothing for an hour, that midpoint is a time no
    # sample supports, half an hour before the first changed one (W4-07: a tenant's last summary on the old
    # prompt version at 00:25, its first on the new one at 01:33, the version live from 01:27)
    tc = t[mask]
    first_in = tc[(tc >= lo) & (tc < hi)].min()
    if sc.borrowed:
        # a new cohort starts when its newest value first appeared (a prompt version rolled out at
        # 12:00 reaches a small tenant's first trace later)
        # (a value is new when it did not exist in the first NEW_RATE of the range)
        firsts = [int(t[m].min()) for m in (_cohort_mask(frame, {d: val}) for d, val in cohort.items())
                  if m.any() and t[m].min() > t0 + NEW_RATE * nb * width]
        if firsts and min(firsts) < first_in:
            first_in = min(firsts)
    start = int(first_in)
    shape, onset = "step", None
    if not sc.borrowed:  # (a new cohort has no past of its own to ramp from)
        dating = _dating(r, frame, mask, t0, width)
        if dating is not None and dating.shape == "ramp":
            # dated like a step, at a sample: the first of the cohort's at or after the fitted line's crossing
            # (the crossing itself falls between samples, a time no sample supports)
            crossing = t0 + dating.start * width
            later = tc[tc >= crossing]
            shape, start = "ramp", int(later.min()) if later.size else int(crossing)
            onset = int(t0 + dating.best.onset * width)
        else:  # a step: the samples just before the window that already belong to it (analysis.lookback)
            start = _looked_back(r, frame, mask, inside, lo, start)
    end: int | None = None
    if sc.e < nb:
        last_in = tc[(tc >= lo) & (tc < hi)].max()
        after = tc[tc >= hi]
        end = int((last_in + after.min()) // 2) if after.size and after.min() < hi + width else int(hi)
    effect = cur - base
    rel = effect / abs(base) if base and math.isfinite(base) else None
    direction = _direction(r.sign)
    detail = {"signal": sig.name, "label": sig.label, "baseline": _round(base), "current": _round(cur),
              "effect": _round(effect), "d": _round(sc.d), "q": float(f"{r.q:.3g}"), "unit": sig.unit,
              "aggregation": sig.aggregation, "direction": direction, "start": _iso(start),
              "end": _iso(end), "n": {"baseline": r.n_out, "current": r.n_in}, "shape": shape,
              "onset": _iso(onset)}
    share = r.share
    # the cohort's traces in the window and the range's traces; a signal's own samples when there is no traffic
    # frame (each sample a trace), or its cohort is not a trace's (a response model: its samples, at most a trace each)
    traces_in, n_traces = float(r.n_in), float(r.n_in) / r.share if r.share else 1.0
    if traffic is not None:
        n_traces = float(len(traffic))
    if traffic is not None and all(k in traffic.columns and traffic[k].notna().any() for k in cohort):
        tt = traffic["t"].to_numpy(np.int64)
        touched = _cohort_mask(traffic, cohort) & (tt >= lo) & (tt < hi)
        share = float(touched.sum()) / len(traffic)
        traces_in = float(touched.sum())
    if sig.aggregation == "rate" and math.isfinite(effect):
        # a rate's change touches its excess bad events, not every trace of its cohort (rate_impact)
        share = excess_share(r.sign * effect, r.n_in, traces_in, n_traces)
        impact = rate_impact(share)
    else:
        impact = change_impact(sc.d, r.n_in, r.n_out, share)
    aliases = _new_values(frame, mask, inside, t < lo, dims, cohort) if cohort else _whole_values(frame, dims)
    return Finding([sig.name], cohort, start, end, base, cur, effect, rel, sc.d, sc.z, sc.p, r.q, r.n_out,
                   r.n_in, share, impact, sig.unit, sig.aggregation, direction, sig.label, [detail],
                   aliases=aliases, shape=shape, onset_ns=onset)


def _dating(r: _Raw, frame: pd.DataFrame, mask: np.ndarray, t0: int, width: int) -> ramps.Dating | None:
    """Step and ramp fits of the change's series (analysis.ramps): a signal compared on log scale is fitted in
    its own unit (what builds up is straight there), its crossing measured on the log scale the feed compares.
    The row's buckets removed before this change was scanned (an earlier round's change) stay removed."""
    if r.series is None:
        return None
    n, s, q = r.series
    binary = bool(np.array_equal(s, q))
    if not r.sig.log or binary:
        return ramps.date(n, s, q, r.scan.e, r.sign, min_d=MIN_D, min_n=MIN_N, binary=binary)
    t = frame["t"].to_numpy(np.int64)[mask]
    v = np.maximum(frame["v"].to_numpy(np.float64)[mask], 0.0)
    b = (t - t0) // width
    kept = (b >= 0) & (b < len(n))
    b, v = b[kept], v[kept]
    b, v = b[n[b] > 0], v[n[b] > 0]
    raw_n = np.bincount(b, minlength=len(n)).astype(np.float64)
    if not np.array_equal(raw_n, n):  # not the samples scanned: fit the scanned ones as they were
        return ramps.date(n, s, q, r.scan.e, r.sign, min_d=MIN_D, min_n=MIN_N)
    raw_s, raw_q = np.bincount(b, v, len(n)), np.bincount(b, v * v, len(n))
    return ramps.date(raw_n, raw_s, raw_q, r.scan.e, r.sign, min_d=MIN_D, min_n=MIN_N, log_scale=(s, q))


def change_impact(d: float, n_in: float, n_out: float, share: float, d_cap: float = D_CAP) -> float:
    """How much a change matters, for the feed's rank: its loss per touched trace times the share of the range's
    traffic it touched (`share`).

    The loss of a trace is quadratic in how far the change moved it, min(d, d_cap)^2: the excess of the
    squared standardised deviation from the baseline's mean that a shift of d sd adds to each sample (E[(x -
    mu0)^2 / sd^2] = 1 + d^2), Taguchi's quality loss. A tool failing 70% of its calls (d ~ 3) then weighs nine
    times a +1 sd drift of input tokens per touched trace, not three times, so a 21-minute outage outranks a
    day-long mild mix shift that touched twice its traces (the fourth week's W4-02), while a change
    touching more traffic at the same severity still ranks higher. d is taken at its lower confidence bound (3
    standard errors: a 1.5-sd jump seen on 10 samples ranks below a 3-sd jump seen on 30), and capped (a 4-sd and
    a 40-sd shift are both "broken")."""
    d_low = d - 3.0 * math.sqrt(1.0 / max(n_in, 1) + 1.0 / max(n_out, 1))
    return min(max(d_low, 0.0), d_cap) ** 2 * share


def excess_share(excess: float, n_in: float, traces_in: float, n_traces: float) -> float:
    """The share of the range's traces a rate's change touched: its excess bad events, the rate's excess over its
    baseline (`excess`, in the bad direction) times the cohort's samples in the window (`n_in`), out of the range's
    traces (`n_traces`), at most the cohort's traces in the window (`traces_in`: a trace is touched once).

    A stall rate 0.0005 -> 0.059 over 400 LLM calls is 24 excess stalls: 24 traces touched, not the model's ~150
    traces in the window; refusals of a snapshot that answers twice per trace count its answers, not its traces. A
    signal sampled on some traces (thumbs-down on the ~12% with feedback) counts the bad events it saw."""
    return min(max(excess, 0.0) * n_in, traces_in) / max(n_traces, 1.0)


def rate_impact(share: float, d_cap: float = D_CAP) -> float:
    """The rank of a rate's change (refusals, errors, leaks, stalls, thumbs-down): each excess bad event is a
    broken trace, so its loss is that of a capped shift, d_cap^2, times the share of traces the events touched
    (excess_share). A rate 0.0005 -> 0.059 on a model touches 5.9% of that model's calls, not all of them (as
    change_impact with the cohort's share said: every trace of the model counted as moved by d); and how far the
    rate moved is counted once, in the number of excess events, not again as a log odds ratio per event."""
    return d_cap ** 2 * share


def _looked_back(r: _Raw, frame: pd.DataFrame, mask: np.ndarray, inside: np.ndarray, lo: int,
                 start: int) -> int:
    """A step's start moved back to the earliest of the cohort's samples just before its window that belong
    to the new regime (analysis.lookback: beyond the baseline's ALPHA tail and more likely under the window's
    samples), dated like the window's own start: at that sample, the first evidence. `start` unchanged when the
    sample just before the window is a normal one."""
    t = frame["t"].to_numpy(np.int64)
    y = frame["y"].to_numpy(np.float64)
    early = mask & (t < lo)
    if not early.any():
        return start
    order = np.argsort(t[early], kind="stable")
    before_t, before_y = t[early][order], y[early][order]
    binary = r.series is not None and bool(np.array_equal(r.series[1], r.series[2]))
    k = lookback.regime_samples(before_y, y[mask & ~inside], y[mask & inside], r.sign, binary=binary, alpha=ALPHA)
    if not k:
        return start
    return int(before_t[-k])


def _merge_aliases(findings: list[Finding], dims: Sequence[str]) -> list[Finding]:
    """Cohorts that are the same traffic (one prompt per route, a model only one route uses) give the
    same change with the same numbers: one finding, named by the first dimension in `dims` order, the
    others listed as `aliases`."""
    order = {d: i for i, d in enumerate(dims)}

    def rank(f: Finding) -> tuple[int, int]:
        return len(f.cohort), min((order.get(d, len(order)) for d in f.cohort), default=-1)

    groups: dict[tuple[Any, ...], list[Finding]] = {}
    for f in findings:
        key = (f.signals[0], f.start_ns, f.end_ns, f.n_current, f.n_baseline, _round(f.current), _round(f.baseline))
        groups.setdefault(key, []).append(f)
    out = []
    for group in groups.values():
        group.sort(key=rank)
        head = group[0]
        for other in group[1:]:
            if other.cohort not in head.aliases:
                head.aliases.append(other.cohort)
        out.append(head)
    return out


def _merge_signals(findings: list[Finding]) -> list[Finding]:
    """One incident seen through several signals: same cohort, overlapping windows -> one finding.

    The finding keeps the timing and numbers of its most significant signal (highest z: the sharpest
    view of the start) and the impact of its largest; `signals` lists them by significance."""
    findings = sorted(findings, key=lambda f: -f.z)
    merged: list[Finding] = []
    for f in findings:
        for m in merged:
            # the same signal moving the other way on the same cohort (a rise, then a fall below the
            # baseline) is not one change in two pieces: kept apart
            if m.cohort == f.cohort and _overlaps(m, f) and not _opposed(m, f):
                if f.signals[0] in m.signals:  # one change found in two pieces (a ramp): one window
                    # a piece dated as a ramp was fitted on the whole series (the other piece still in it);
                    # a step piece found after it is the ramp's residue, dated by what the first left
                    if (f.shape == m.shape and f.start_ns < m.start_ns) or (f.shape == "ramp" != m.shape):
                        m.start_ns, m.shape, m.onset_ns = f.start_ns, f.shape, f.onset_ns
                    m.end_ns = None if m.end_ns is None or f.end_ns is None else max(m.end_ns, f.end_ns)
                _absorb(m, f)
                break
        else:
            merged.append(f)
    return merged


def _opposed(a: Finding, b: Finding) -> bool:
    """b's strongest signal is in a, moving the other way (a two-sided signal: calls per trace)."""
    return any(d["signal"] == b.signals[0] and d["direction"] != b.direction for d in a.details)


def _overlaps(a: Finding, b: Finding) -> bool:
    a_end = a.end_ns if a.end_ns is not None else math.inf
    b_end = b.end_ns if b.end_ns is not None else math.inf
    return a.start_ns < b_end and b.start_ns < a_end


def _overlap_share(a: Finding, b: Finding) -> float:
    """The shorter window's share that lies inside the other one."""
    end = max(a.window_end_ns or 0, b.window_end_ns or 0, a.start_ns, b.start_ns) or 0
    a_end = a.end_ns if a.end_ns is not None else max(end, a.start_ns + 1)
    b_end = b.end_ns if b.end_ns is not None else max(end, b.start_ns + 1)
    inter = min(a_end, b_end) - max(a.start_ns, b.start_ns)
    shorter = min(a_end - a.start_ns, b_end - b.start_ns)
    return max(inter, 0) / shorter if shorter > 0 else 0.0


def _absorb(into: Finding, other: Finding) -> None:
    for sig, detail in zip(other.signals, other.details):
        if sig not in into.signals:
            into.signals.append(sig)
            into.details.append(detail)
    for alias in other.aliases:
        if alias not in into.aliases and alias != into.cohort:
            into.aliases.append(alias)
    into.impact = max(into.impact, other.impact)
    into.share = max(into.share, other.share)


def _merge_nested(findings: list[Finding]) -> list[Finding]:
    """A change seen on a cohort and, over (most of) the same window, on a broader one (a signal whose
    samples cannot tell the cohort apart: a judge that only runs on one route, a check that only sees a
    downstream span) is one incident: it is kept on the narrower cohort whose window matches best.

    Not when the broader change started before the narrower one (by more than a bucket, the resolution of
    both starts): the narrower cohort did not show its change yet, so the broader one is another incident
    (a context that grows on a route for hours before one model on that route starts refusing)."""
    findings = sorted(findings, key=lambda f: (-len(f.cohort), -f.z))
    out: list[Finding] = []
    for f in findings:
        width = bucket_width_ns(f.window_start_ns or 0, f.window_end_ns or 0)
        candidates = [m for m in out if set(f.cohort.items()) < set(m.cohort.items())
                      and _overlap_share(m, f) >= NESTED_OVERLAP and f.start_ns >= m.start_ns - width]
        if candidates:
            _absorb(max(candidates, key=lambda m: (_iou(m, f), m.z)), f)
        else:
            out.append(f)
    return out


def _merge_concurrent(findings: list[Finding], dims: Sequence[str]) -> list[Finding]:
    """Two cohorts of different dimensions changing over the same window (start and end within minutes:
    intersection over union >= CONCURRENT_IOU) are one incident seen twice, e.g. a failing tool and
    the one route that calls it. Kept under the first dimension in `dims` order; the other cohort is
    listed in `aliases`."""
    order = {d: i for i, d in enumerate(dims)}
    # first, the same signal moving on two cohorts with one window mostly inside the other (a requested
    # model on one route and the snapshot that answered it): one incident, under the larger impact
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda f: -f.impact):
        host = next((m for m in kept if _may_share_traffic(m.cohort, f.cohort) and m.signals[0] == f.signals[0]
                     and m.direction == f.direction and _overlap_share(m, f) >= NESTED_OVERLAP), None)
        _keep_or_alias(kept, f, host)
    findings = kept

    def rank(f: Finding) -> tuple[int, int, float]:
        return min((order.get(d, len(order)) for d in f.cohort), default=-1), len(f.cohort), -f.z

    out: list[Finding] = []
    for f in sorted(findings, key=rank):
        same = [m for m in out if _may_share_traffic(m.cohort, f.cohort) and _iou(m, f) >= CONCURRENT_IOU]
        _keep_or_alias(out, f, same[0] if same else None)
    return out


def _keep_or_alias(kept: list[Finding], f: Finding, host: Finding | None) -> None:
    """f joins `kept` as a finding of its own (no host), or is folded into host with its cohort as an alias."""
    if host is None:
        kept.append(f)
        return
    if f.cohort not in host.aliases:
        host.aliases.append(dict(f.cohort))
    _absorb(host, f)


def _merge_contained(findings: list[Finding], traffic: pd.DataFrame | None) -> list[Finding]:
    """A change on a cohort whose traffic, over its window, mostly is another finding's cohort (measured on the
    traces, not read from the dimensions' names), inside that finding's window and not starting before it, is
    that incident seen through another signal of the same requests: route=order_status, answered only by
    Anthropic's models, slows down (its calls retried) while Anthropic answers 429s. Kept under the finding of
    larger impact, the other cohort listed in its aliases. Not under all traffic (which holds every cohort: a
    later incident on one route is not the all-traffic one), and a cohort the traces do not carry (a tool, a
    response model: span-level dimensions) is left alone."""
    if traffic is None or len(findings) < 2:
        return findings
    t = traffic["t"].to_numpy(np.int64)
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda f: -f.impact):
        if any(d not in traffic.columns for d in f.cohort):
            kept.append(f)
            continue
        width = bucket_width_ns(f.window_start_ns or 0, f.window_end_ns or 0)
        end = f.end_ns if f.end_ns is not None else (f.window_end_ns or int(t.max()) + 1)
        mine = _cohort_mask(traffic, f.cohort) & (t >= f.start_ns) & (t < end)
        count = int(mine.sum())
        host = None if count == 0 else next(
            (m for m in kept if m.cohort and m.cohort != f.cohort and _may_share_traffic(m.cohort, f.cohort)
             and all(d in traffic.columns for d in m.cohort) and f.start_ns >= m.start_ns - width
             and _overlap_share(m, f) >= NESTED_OVERLAP
             and int((mine & _cohort_mask(traffic, m.cohort)).sum()) >= NESTED_OVERLAP * count), None)
        _keep_or_alias(kept, f, host)
    return kept


def _may_share_traffic(a: dict[str, str], b: dict[str, str]) -> bool:
    """Whether two different cohorts can be views of the same traffic: not when they give one dimension two
    values of a trace-level dimension (tenant=koala-post and tenant=siam-express are different customers,
    route=returns_desk and route=dispatch_crew different requests: two incidents at once, however their
    windows overlap). Values of a span-level one (model, tool_name) can meet in one trace: a router's model
    and the agent's are one request."""
    from .. import cohorts

    def disjoint(d: str) -> bool:
        try:
            return a[d] != b[d] and not cohorts.resolve(d, derived=False).membership
        except cohorts.CohortError:
            return False  # a roll-up the registry does not name (provider): assume it may share
    return a != b and not any(disjoint(d) for d in a.keys() & b.keys())


def _iou(a: Finding, b: Finding) -> float:
    end = max(a.window_end_ns or 0, b.window_end_ns or 0, a.start_ns, b.start_ns)
    a_end = a.end_ns if a.end_ns is not None else max(end, a.start_ns + 1)
    b_end = b.end_ns if b.end_ns is not None else max(end, b.start_ns + 1)
    inter = min(a_end, b_end) - max(a.start_ns, b.start_ns)
    union = max(a_end, b_end) - min(a.start_ns, b.start_ns)
    return max(inter, 0) / union if union > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# Reading the store (the one adapter over the signal registry: switch it here)

#: cohort dimensions the feed splits by (mapped `dims.*` keys found in the data are added)
DEFAULT_DIMENSIONS: tuple[str, ...] = ("route", "tenant", "prompt_version", "model")
#: dimensions read only by the signals whose spans carry them (FeedSignal.own); the others get `provider` as
#: a roll-up of their models (analysis.rollups: no sub-query over each trace's spans)
OWN_DIMENSIONS: tuple[str, ...] = ("response_model", "tool_name", "provider")
#: dimensions scanned alone, never in pairs (a provider's pairs are its models' pairs)
SINGLE_DIMENSIONS: tuple[str, ...] = ("provider",)
_SPAN_KINDS_TIMED = ("LLM", "RETRIEVER", "TOOL")
_OWN = {"LLM": ("response_model", "provider"), "TOOL": ("tool_name",)}


def feed_signals(evaluators: Sequence[str]) -> list[FeedSignal]:
    """The signals the feed scans, from the registry, with the evaluators present in the store."""
    judges = [name for name in evaluators if name not in ("user_feedback",)]
    out = [FeedSignal(name, {"type": "eval_score", "evaluator": name}, f"{name} score", "mean", "score", "down")
           for name in judges]
    # how many traces each judge scored: a judge that stops (an expired key) leaves no low score to see
    out += [FeedSignal(f"{name}_coverage", {"type": "eval_coverage", "evaluator": name},
                       f"traces scored by {name}", "rate", "", "down") for name in judges]
    if "user_feedback" in evaluators:
        out.append(FeedSignal("thumbs_down_rate", {"type": "thumbs_down_rate"}, "thumbs-down rate", "rate", "", "up"))
    out += [
        FeedSignal("refusal_rate", {"type": "refusal_rate_answer"}, "refusal rate", "rate", "", "up",
                   own=_OWN["LLM"]),
        FeedSignal("pii_rate", {"type": "pii_rate"}, "PII in answers", "rate", "", "up"),
        *(FeedSignal(f"{kind.lower()}_latency", {"type": "duration", "span_kind": kind}, f"{kind} span p95",
                     "p95", "ms", "up", log=True, own=_OWN.get(kind, ())) for kind in _SPAN_KINDS_TIMED),
        # the tail of LLM latency, which the mean of log durations cannot see (analysis.tails)
        FeedSignal("llm_stall_rate", {"type": "duration", "span_kind": "LLM"}, "LLM calls slower than 2x the p99 "
                   "of their model and route", "rate", "", "up", own=_OWN["LLM"], stalls_of="llm_latency"),
        FeedSignal("trace_latency", {"type": "trace_duration"}, "trace duration p95", "p95", "ms", "up", log=True),
        FeedSignal("ttft", {"type": "ttft"}, "time to first token p95", "p95", "ms", "up", log=True,
                   own=_OWN["LLM"]),
        FeedSignal("cost_per_trace", {"type": "cost_per_trace"}, "cost per trace", "mean", "USD", "up"),
        # per LLM call: a context that grows (more history, more documents) without more calls. Not split by
        # the model a call asked for: a route's calls to different models carry different prompts (a router's
        # short one, the agent's growing one), so the growth would be named on (model, route) and pull the
        # route's trace signals (cost, calls per trace) onto that pair
        FeedSignal("input_tokens", {"type": "input_tokens"}, "input tokens per LLM call", "mean", "tokens", "up",
                   own=_OWN["LLM"], unsplit=("model", "response_model", "provider")),
        # per LLM answer: answers cut short (a proxy's stream cap, a max_tokens change) or running long. Not
        # split by model, as input tokens: a route's router and agent models answer at different lengths
        FeedSignal("output_length", {"type": "output_length"}, "answer length", "mean", "chars", "either", log=True,
                   own=_OWN["LLM"], unsplit=("model", "response_model", "provider")),
        FeedSignal("error_rate", {"type": "error_rate"}, "traces with an error", "rate", "", "up"),
        FeedSignal("tool_error_rate", {"type": "error_rate", "span_kind": "TOOL"}, "tool error rate", "rate", "",
                   "up", own=("tool_name",)),
        # calls per trace fail both ways: up is a retry loop, down a skipped tool or an early stop
        FeedSignal("tool_calls_per_trace", {"type": "tool_calls_per_trace"}, "tool calls per trace", "mean",
                   "calls", "either"),
        FeedSignal("llm_calls_per_trace", {"type": "llm_calls_per_trace"}, "LLM calls per trace", "mean",
                   "calls", "either"),
        # traffic: a cohort's trace count against the same hours of comparable days (analysis.traffic)
        FeedSignal("trace_count", {"type": "trace_count"}, "traces", "count", "traces", "down"),
    ]
    return out


def load_samples(db: Any, sig: FeedSignal, dims: Sequence[str], since_ns: int | None,
                 until_ns: int | None, *, reference: tuple[int | None, int | None] = (None, None)) -> pd.DataFrame:
    """Samples of one feed signal: columns t, v and one per dimension (mapped keys without 'dims.'). A stall
    signal's are its durations turned into stalls against the p99s of the `reference` range [since, until)
    (default: the whole store, as the landing page's feed; analysis.tails). `provider`, for a signal that does not
    read it, is rolled up from its models as the feed does (analysis.rollups), mapped by the LLM calls of the range."""
    from ..signals import SampleQuery, samples
    from .rollups import ROLLUP, SOURCE, model_providers, providers_column

    group_by = _group_by(sig, dims)
    rollup = ROLLUP in dims and ROLLUP not in group_by and ROLLUP not in sig.unsplit and SOURCE not in sig.unsplit
    extra = [SOURCE] if rollup else []
    lo, hi = since_ns, until_ns
    if sig.stalls_of:
        from .tails import KIND_DIMENSIONS

        extra += list(KIND_DIMENSIONS)
        lo, hi = reference
    group_by = (*group_by, *dict.fromkeys(d for d in extra if d not in group_by))
    since = None if lo is None else lo - 1  # the registry's bounds are (since, until]
    until = None if hi is None else hi - 1
    # explode=False: membership lists stay lists (a trace of two models is one sample in two cohorts,
    # not two samples); build_grid reads them as membership
    frame = samples(db, sig.signal, SampleQuery({}, group_by, since, until, explode=False))
    frame = frame.rename(columns={d: d[5:] for d in group_by if d.startswith("dims.")})
    for d in dims:
        if d not in group_by:
            frame[d] = None
    if sig.stalls_of:
        from .tails import stalls

        frame = stalls(frame)
        t = frame["t"]
        keep = np.ones(len(frame), dtype=bool)
        if since_ns is not None:
            keep &= (t >= since_ns).to_numpy()
        if until_ns is not None:
            keep &= (t < until_ns).to_numpy()
        frame = frame[keep].reset_index(drop=True)
    if rollup:
        calls = samples(db, {"type": "duration", "span_kind": "LLM"},
                        SampleQuery({}, (SOURCE, ROLLUP), since, until, explode=False))
        frame[ROLLUP] = providers_column(frame[SOURCE], model_providers([calls]))
    return frame


def wanted_reads(signals: Sequence[FeedSignal], dims: Sequence[str]) -> list[tuple[str, dict[str, Any], tuple[str, ...]]]:
    """(name, signal document, group_by) of the signals that read rows (store.feed, store.feed_samples): not
    the stall signals, which read their source signal's samples."""
    return [(s.name, s.signal, _group_by(s, dims)) for s in signals if not s.stalls_of]


def _group_by(sig: FeedSignal, dims: Sequence[str]) -> tuple[str, ...]:
    return tuple(d for d in dims if d not in OWN_DIMENSIONS or d in sig.own)


def _named(frame: pd.DataFrame, group_by: Sequence[str], dims: Sequence[str],
           unsplit: Sequence[str] = ()) -> pd.DataFrame:
    frame = frame.rename(columns={d: d[5:] for d in group_by if d.startswith("dims.")})
    for d in dims:
        if d not in group_by or d in unsplit:
            # no value on any row, as a categorical: coded at once (an object column of None is coded
            # one cell at a time, ~1M times per signal)
            frame[d] = pd.Categorical.from_codes(np.full(len(frame), -1, dtype=np.int8), pd.Index([], dtype=object))
    return frame


def load_all(db: Any, signals: Sequence[FeedSignal], dims: Sequence[str], since_ns: int | None,
             until_ns: int | None, *, stored: bool = False,
             progress: Callable[[int, int, str], None] | None = None) -> dict[str, pd.DataFrame]:
    """`load_samples` of every signal, the built-in ones read together (store.feed: signals sharing
    their rows are read in one query, and kept on the connection per data version).

    stored=True: the built-in signals' samples come from the copy the database keeps for the feed
    (store.feed_samples), brought up to date first if some write made part of it stale; the same rows.
    `progress(done, total, what)` hears of each step of that update (the first after an ingest reads
    every row)."""
    from ..store.feed import signal_frames

    since = None if since_ns is None else since_ns - 1  # the registry's bounds are (since, until]
    until = None if until_ns is None else until_ns - 1
    wanted = wanted_reads(signals, dims)
    read = None
    if stored:
        from ..store.feed_samples import stored_frames, wanted_keys

        # the database keeps the feed's whole set: a read of some of its signals names all of them, so the
        # others stay stored (store.feed_samples keeps only the sets it is told of)
        kept = feed_wanted(db)
        if wanted_keys(wanted) <= wanted_keys(kept):
            read = stored_frames(db, wanted, since, until, progress, kept=kept)
    if read is None:
        read = signal_frames(db, wanted, since, until)
    out = {}
    for sig in signals:
        if sig.stalls_of:
            continue
        frame = read.get(sig.name)
        if frame is None:
            frame = load_samples(db, sig, dims, since_ns, until_ns)
            frame = frame.assign(**{d: None for d in sig.unsplit if d in frame.columns})
            out[sig.name] = frame
        else:
            out[sig.name] = _named(frame, _group_by(sig, dims), dims, sig.unsplit)
    _roll_up(out, signals, dims)
    for sig in signals:  # the same samples as their source (detect turns them into stalls over its range)
        if sig.stalls_of and sig.stalls_of in out:
            out[sig.name] = out[sig.stalls_of]
    return out


def _roll_up(frames: dict[str, pd.DataFrame], signals: Sequence[FeedSignal], dims: Sequence[str]) -> None:
    """The provider of the samples that do not read it (traces, evaluations), from their models (analysis.rollups),
    in place; when both dimensions are scanned."""
    from .rollups import ROLLUP, SOURCE, model_providers, providers_column

    names = [d[5:] if d.startswith("dims.") else d for d in dims]
    if ROLLUP not in names or SOURCE not in names:
        return
    reads = [s for s in signals if s.name in frames]
    readers = [frames[s.name] for s in reads if ROLLUP in _group_by(s, dims) and ROLLUP not in s.unsplit]
    mapping = model_providers(readers)
    for s in reads:
        if ROLLUP in _group_by(s, dims) or ROLLUP in s.unsplit or SOURCE in s.unsplit:
            continue
        frame = frames[s.name]
        if SOURCE in frame.columns:
            frames[s.name] = frame.assign(**{ROLLUP: providers_column(frame[SOURCE], mapping)})


def cohort_filters(cohort: dict[str, str], start_ns: int | None, end_ns: int | None) -> Any:
    """The trace Filters selecting a cohort and window (for example traces and the Traces page link)."""
    from ..store.query import Filters

    dims = {k: [v] for k, v in cohort.items() if k not in ("model", "agent_name")}
    return Filters(start_ns=start_ns, end_ns=end_ns, dims=dims,
                   models=[cohort["model"]] if "model" in cohort else [],
                   agents=[cohort["agent_name"]] if "agent_name" in cohort else [])


def feed_dimensions(db: Any) -> list[str]:
    """The dimensions the feed splits by when none are asked for: those its stored samples serve."""
    from ..store import query as q

    return [*DEFAULT_DIMENSIONS, *OWN_DIMENSIONS, *(f"dims.{d}" for d in q.extra_dimensions(db))]


def feed_wanted(db: Any) -> list[tuple[str, dict[str, Any], tuple[str, ...]]]:
    """(name, signal document, group_by) of every signal the landing page's feed reads (its default
    dimensions): the samples the database keeps for it (store.feed_samples). Kept on the connection per
    data version (the evaluators' names and the mapped dimensions are read from the store: 80 ms at 10M
    spans, and the landing page's cards and an alert suggestion ask dozens of times); read-only."""
    from ..store import query as q
    from ..store.feed import frames_cache

    cache = frames_cache(db)
    kept = cache.get(("feed_wanted",))
    if kept is None:
        kept = cache[("feed_wanted",)] = wanted_reads(feed_signals(q.evaluator_names(db)), feed_dimensions(db))
    return kept  # type: ignore[no-any-return]


def find_changes(db: Any, since_ns: int | None = None, until_ns: int | None = None, *,
                 dimensions: Sequence[str] | None = None, top: int | None = None, pairs: bool = True,
                 examples: int = 3, stored: bool = True,
                 progress: Callable[[int, int, str], None] | None = None) -> list[Finding]:
    """The changes feed over a store: findings ranked by impact (see the module docstring).

    stored=False reads every sample from the span, trace and evaluation rows (the from-scratch
    computation the stored samples must equal). `progress(done, total, what)` is called before each
    step of bringing the stored samples up to date, when they are stale (after an ingest: every row is
    read once, seconds at 1M spans), and once with done == total when that is over; never when they
    are current."""
    from ..store import query as q

    lo, hi = q.time_bounds(db)
    if lo is None or hi is None:
        return []
    since = lo if since_ns is None else int(since_ns)
    until = hi + 1 if until_ns is None else int(until_ns)
    if dimensions is None:
        dims = feed_dimensions(db)
    else:
        from ..cohorts import sample_spellings

        dims = sample_spellings(dimensions, q.extra_dimensions(db))
    signals = feed_signals(q.evaluator_names(db))
    # the stored samples serve the default dimensions (the landing page); a feed over other dimensions
    # reads raw rows and leaves them alone (the stored set is refreshed as a whole: store.feed_samples)
    frames = load_all(db, signals, dims, since, until, stored=stored and dimensions is None, progress=progress)
    names = [d[5:] if d.startswith("dims.") else d for d in dims]
    findings = detect(frames, signals, names, since, until, pairs=pairs)
    if top is not None:
        findings = findings[:top]
    for f in findings[:top or 20]:
        if examples:
            width = (f.end_ns or until) - f.start_ns
            before = q.traces(db, cohort_filters(f.cohort, f.start_ns - max(width, 3_600 * 10**9), f.start_ns),
                              limit=examples, columns=("trace_id", "start_ns"))
            after = q.traces(db, cohort_filters(f.cohort, f.start_ns, f.end_ns or until), limit=examples,
                             descending=False, columns=("trace_id", "start_ns"))
            f.traces_before = before["trace_id"].tolist() if len(before) else []
            f.traces_after = after["trace_id"].tolist() if len(after) else []
    return findings


# ---------------------------------------------------------------------------------------------
# Series for the landing page (sparklines, quality over time)


def _bucketed(frame: pd.DataFrame, width: int, aggregation: str) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=["bucket", "value", "n"])
    b = frame["t"] - frame["t"] % width
    g = frame.groupby(b)["v"]
    value = (g.quantile(int(aggregation[1:]) / 100) if aggregation.startswith("p")
             else g.size().astype(float) if aggregation == "count" else g.mean())
    out = pd.DataFrame({"value": value, "n": g.size()})
    if aggregation == "count":  # a bucket without traces counts 0 (a stop is the gap)
        out = out.reindex(range(int(out.index.min()), int(out.index.max()) + 1, width), fill_value=0)
    out = out.reset_index(names="ts")
    out["bucket"] = pd.to_datetime(out["ts"], unit="ns", utc=True)
    return out[["bucket", "value", "n"]]


def finding_series(db: Any, finding: Finding, *, points: int = 48) -> pd.DataFrame:
    """The finding's strongest signal for its cohort and for the rest of the traffic, around its window
    (as long again before and after): columns bucket, value, n, group ("cohort" | "rest")."""
    from ..store import query as q

    catalogue = {s.name: s for s in feed_signals(q.evaluator_names(db))}
    sig = catalogue.get(finding.signals[0])
    if sig is None:
        return pd.DataFrame(columns=["bucket", "value", "n", "group"])
    end = finding.end_ns if finding.end_ns is not None else (finding.window_end_ns or finding.start_ns + 1)
    length = max(end - finding.start_ns, 3_600 * 10**9)
    lo = max(finding.start_ns - length, finding.window_start_ns or 0)
    hi = end + length if finding.end_ns is not None else end
    width = max(NS_PER_MIN, (hi - lo) // points)
    dims = [d for d in finding.cohort]
    frame = _stored_series(db, catalogue, sig, finding, lo, hi)
    if frame is None:
        # (a call stalled against the p99s of the range the feed scanned, as in the finding)
        frame = load_samples(db, sig, dims, lo, hi, reference=(finding.window_start_ns, finding.window_end_ns))
    mask = _compute_mask(frame, finding.cohort) if dims else np.ones(len(frame), dtype=bool)
    parts = []
    for group, m in (("cohort", mask), ("rest", ~mask)):
        part = _bucketed(frame[m], width, sig.aggregation)
        part["group"] = group
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _stored_series(db: Any, catalogue: dict[str, FeedSignal], sig: FeedSignal, finding: Finding, lo: int,
                   hi: int) -> pd.DataFrame | None:
    """The samples of `sig` in [lo, hi) with the feed's dimensions, from its stored copy (the rows the feed
    scanned; a stall signal's durations judged against the p99s of the range the feed scanned, as in detect);
    None when the finding's cohort is not over the feed's default dimensions (a feed run over others).

    Why: each card's sparkline read its signal's rows again (a stall signal every LLM call of the range, for
    its p99s: 1-1.4 s per card at 1M spans, ~3.6 s for the landing page's first five cards)."""
    dims = feed_dimensions(db)
    names = {d[5:] if d.startswith("dims.") else d for d in dims}
    if not set(finding.cohort) <= names:
        return None
    ref_lo = finding.window_start_ns if finding.window_start_ns is not None else lo
    ref_hi = finding.window_end_ns if finding.window_end_ns is not None else hi
    source = catalogue.get(sig.stalls_of) if sig.stalls_of else None
    if sig.stalls_of and source is None:
        return None
    reads = [sig] if source is None else [source, sig]
    from .rollups import ROLLUP

    if ROLLUP in finding.cohort and ROLLUP not in _group_by(sig, dims):
        # the provider of samples that do not read it comes from their models, mapped by the LLM calls
        # (analysis.rollups): every call is one of the LLM latency's samples
        reads.append(catalogue["llm_latency"])
    frames = load_all(db, reads, dims, min(lo, ref_lo), max(hi, ref_hi), stored=True)
    frame = frames.get(sig.name)
    if frame is None:
        return None
    if sig.stalls_of:
        from . import tails

        frame = tails.stalls(frame[(frame["t"] >= ref_lo) & (frame["t"] < ref_hi) & np.isfinite(frame["v"])])
    return frame[(frame["t"] >= lo) & (frame["t"] < hi)].reset_index(drop=True)


#: the quality and agent signals the landing page charts over time (beside the trace KPIs)
OVER_TIME: tuple[str, ...] = ("refusal_rate", "tool_calls_per_trace")


def signals_over_time(db: Any, filters: "Filters | None" = None, *, points: int = 96) -> pd.DataFrame:
    """Mean score per evaluator, refusal rate and tool calls per trace, per time bucket (the trace-level
    figures, cost per trace among them, are Workspace.timeseries): columns bucket, signal, value, n.
    Every field of `filters` applies, as on the other over-time charts: the samples are those of the
    traces the filters select."""
    from ..signals import SampleQuery, samples
    from ..store import query as q

    lo, hi = q.time_bounds(db)
    if lo is None or hi is None:
        return pd.DataFrame(columns=["bucket", "signal", "value", "n"])
    f = filters or q.Filters()
    since = lo if f.start_ns is None else f.start_ns
    until = hi + 1 if f.end_ns is None else f.end_ns
    width = bucket_width_ns(since, until)
    width = max(width, (until - since) // points)
    evaluators = q.evaluator_names(db)
    wanted = [s for s in feed_signals(evaluators)
              if s.name in OVER_TIME or (s.signal.get("type") == "eval_score")]
    # Unfiltered, they are the feed's samples (stored by the database, and the ones the landing page's feed
    # reads: 10M spans, 25 -> 1 s CPU); filters (a time range too: traces that start in it) read the traces
    # they select. Unbounded when the filters are: time_bounds are trace starts, and an LLM call starts after
    # its trace does.
    frames = load_all(db, wanted, feed_dimensions(db), None, None, stored=True) if f.is_empty() else {}
    parts = []
    for sig in wanted:
        frame = frames.get(sig.name)
        if frame is None:  # the registry's bounds are (since, until]; the filters' are [start, end)
            frame = samples(db, sig.signal, SampleQuery(
                {}, (), None if f.start_ns is None else f.start_ns - 1, None if f.end_ns is None else f.end_ns - 1,
                filters=None if f.is_empty() else f))
        part = _bucketed(frame, width, "mean")
        part["signal"] = sig.label if sig.signal.get("type") != "eval_score" else f"{sig.name} (mean score)"
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["bucket", "signal", "value", "n"])
    return pd.concat(parts, ignore_index=True)[["bucket", "signal", "value", "n"]]
