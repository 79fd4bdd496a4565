"""The data's floor under the wider rule kinds the alert language expresses (a companion to oracle.py).

oracle.py bounds threshold rules on one signal's window aggregates (one threshold, or an AND of two: a
short window for speed confirmed by a longer one is one of those pairs). The language says more, and
each kind is a family of columns in one feature matrix per cohort, on one evaluation grid:

- **threshold**: oracle's features of every labelled signal (the multi-window rule is a same-signal pair).
- **joint**: an AND of two thresholds on *different* signals, each over its own window
  (`Condition.window`): the pair search across the signals' columns.
- **cohort**: the signal's aggregation minus, and over, the same aggregation over the same window in
  another cohort (`relative_to {"cohort": {dim: [every other value]}, "delta" | "factor"}`: the rest of
  the traffic at the same moment, which cancels what moves every cohort at once: a daily cycle).
- **adaptive**: `min_samples_share`: a window is judged only when it holds at least that share of the
  group's usual samples per window (its trailing day's count scaled to the window), as evaluate does.
- **trace**: per-trace conditions: the count, or share, of traces where one signal's per-trace value, or
  two signals' on the same trace, is beyond a line drawn from the cohort's history *before the incident*
  (its 90th / 99th percentile or its extreme in the bad direction; for a rate: any event on the trace).
  The lines are constants a rule could be written with before the incident, not fitted to it.

- **peers** (grouped only): each group against the pooled other groups of the rule's group_by at the same
  time (`relative_to {"peers": dim, "delta" | "factor"}`). Unlike the cohort kind's list, which a grouped
  rule fixes once (the incident's complement is a list fitted to the incident), every group gets its own
  complement.

The search is oracle.separate: a single column beyond every outside value, or a pair of columns no one
outside evaluation is at least as bad on. "Outside" is oracle's (evaluations whose 6-hour window does not
reach into the incident or another page-worthy incident of the cohort), plus, grouped, every evaluation of
the other groups (their features computed by the same rule document: the same lines and the same other
cohort). The floor is a lower bound for every rule of these kinds; a floor past the target says none of
them meets it on this data. Not covered: relative_to.new_cohort (judged by the suggester's own replay),
per-trace conditions relative to the group's usual trace, rules of three or more conditions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import sqlite_utils

from ..signals import SampleQuery, samples
from .definition import Condition, parse_duration
from .evaluate import (NS, SHARE_HISTORY_NS, _per_trace, aggregate_windows, evaluation_grid, window_bounds)
from .oracle import FEATURE_MIN_SAMPLES, FEATURE_WINDOWS, _features, separate

#: Kinds of rule the columns stand for, in the order they are reported.
KINDS: tuple[str, ...] = ("threshold", "joint", "cohort", "adaptive", "trace", "peers")
#: Shares of the usual samples per window a window must hold (min_samples_share).
SHARES: tuple[float, ...] = (0.25, 0.5, 1.0)
#: Per-trace conditions: windows the matching traces are counted over, and judged traces a window needs.
TRACE_WINDOWS: tuple[str, ...] = ("5m", "15m", "1h", "6h")
TRACE_MIN_SAMPLES: tuple[int, ...] = (1, 2, 3)
#: Lines a trace's value is judged against: these quantiles of the cohort's traces before the incident (in
#: the bad direction: 0.9 is the 10th percentile for a signal whose bad direction is down) and its extreme.
TRACE_QUANTILES: tuple[float, ...] = (0.9, 0.99, 1.0)
#: A line needs this many traces before the incident to be drawn from.
TRACE_HISTORY_MIN = 20


@dataclass(frozen=True)
class WideBound:
    """The earliest step under threshold rules alone and under every kind, with the columns reaching it."""

    threshold_step: int | None  # oracle's forms (per signal: one threshold or an AND of two of its columns)
    wide_step: int | None  # every kind
    features: tuple[str, ...]  # the column (one) or columns (two) that reach wide_step
    kinds: tuple[str, ...]  # their kinds ("joint" when two columns of different signals)
    steps: int  # incident evaluations examined
    outside: int  # evaluations judged as outside (every group's)
    columns: dict[str, int] = field(default_factory=dict)  # columns per kind

    @property
    def kind(self) -> str:
        """The rule kind that reaches the wide floor: 'threshold' when nothing wider is earlier."""
        if self.wide_step is None:
            return "none"
        if self.threshold_step is not None and self.threshold_step <= self.wide_step:
            return "threshold"
        wider = [k for k in self.kinds if k != "threshold"]
        return " + ".join(dict.fromkeys(wider)) if wider else "threshold"

    def describe(self) -> str:
        if self.wide_step is None:
            return f"none in {self.steps} steps"
        return f"{self.wide_step} ({' AND '.join(self.features)})"


def _label(sig: dict[str, Any]) -> str:
    params = ",".join(str(v) for k, v in sig.items() if k != "type")
    return f"{sig['type']}({params})" if params else sig["type"]


def _per_trace_aggregation(aggregation: str) -> str:
    """A trace's own value of the signal: a rate's event share, a percentile's maximum, else the aggregation."""
    if aggregation == "rate":
        return "rate"
    if aggregation in ("p50", "p90", "p95", "p99", "max"):
        return "max"
    return "min" if aggregation == "min" else "mean"


@dataclass
class _Frames:
    """One group's samples of every signal (t, v, trace_id), of the other cohort (the cohort kind) and of
    the pooled other groups (the peers kind)."""

    own: list[pd.DataFrame]
    rest: list[pd.DataFrame | None]
    peers: list[pd.DataFrame | None] | None = None


def _lines(frame: pd.DataFrame, aggregation: str, up: bool, before_ns: int) -> list[tuple[str, float]]:
    """(label, line) a trace is judged against: from the cohort's traces before `before_ns` only."""
    per = _per_trace(frame, Condition({"type": "x"}, _per_trace_aggregation(aggregation), ">", 0), ())
    if aggregation == "rate":
        return [("any event", 0.0)]
    v = per["v"].to_numpy(np.float64)[per["t"].to_numpy(np.int64) < before_ns]
    v = v[np.isfinite(v)]
    if len(v) < TRACE_HISTORY_MIN:
        return []
    out = []
    for q in TRACE_QUANTILES:
        line = float(np.quantile(v, q if up else 1 - q))
        name = ("max" if up else "min") if q == 1.0 else f"q{q if up else 1 - q:g}"
        out.append((f"{'>' if up else '<'} {name} before ({line:.4g})", line))
    return out


def _trace_indicators(frames: list[pd.DataFrame], specs: Sequence[tuple[dict, str, str]],
                      lines: list[list[tuple[str, float]]]) -> list[tuple[str, pd.DataFrame]]:
    """(label, samples t / v = 1 when the trace matches) for each single signal's line and each AND of two."""
    per = []
    for frame, (sig, agg, direction), sig_lines in zip(frames, specs, lines):
        pt = _per_trace(frame, Condition(sig, _per_trace_aggregation(agg), ">", 0), ())
        per.append((pt, direction == "up", sig_lines, _label(sig)))
    out: list[tuple[str, pd.DataFrame]] = []

    def judge(v: np.ndarray, up: bool, line: float, rate: bool) -> np.ndarray:
        return (v > line) if up or rate else (v < line)

    for i, (pt, up, sig_lines, name) in enumerate(per):
        rate = specs[i][1] == "rate"
        for text, line in sig_lines:
            hit = judge(pt["v"].to_numpy(np.float64), up, line, rate)
            out.append((f"{name} {text}", pd.DataFrame({"t": pt["t"].to_numpy(np.int64), "v": hit.astype(float)})))
    for i in range(len(per)):
        for j in range(i + 1, len(per)):
            a, b = per[i], per[j]
            joined = a[0].merge(b[0], on="trace_id", how="inner", suffixes=("_a", "_b"))
            if len(joined) == 0:
                continue
            t = np.minimum(joined["t_a"].to_numpy(np.int64), joined["t_b"].to_numpy(np.int64))
            for ta, la in a[2]:
                ha = judge(joined["v_a"].to_numpy(np.float64), a[1], la, specs[i][1] == "rate")
                for tb, lb in b[2]:
                    hb = judge(joined["v_b"].to_numpy(np.float64), b[1], lb, specs[j][1] == "rate")
                    out.append((f"{a[3]} {ta} AND {b[3]} {tb}", pd.DataFrame({"t": t, "v": (ha & hb).astype(float)})))
    return [(label, f.sort_values("t", kind="stable").reset_index(drop=True)) for label, f in out]


def _matrix(group: _Frames, specs: Sequence[tuple[dict, str, str]], times: np.ndarray,
            lines: list[list[tuple[str, float]]]) -> tuple[list[str], list[str], list[int], np.ndarray]:
    """(names, kinds, signal index per column (-1: a per-trace AND of two signals), matrix oriented larger =
    worse, NaN where not judged) of one group."""
    names: list[str] = []
    kinds: list[str] = []
    owner: list[int] = []
    cols: list[np.ndarray] = []

    def add(name: str, kind: str, who: int, col: np.ndarray) -> None:
        names.append(name)
        kinds.append(kind)
        owner.append(who)
        cols.append(col)

    for s, ((sig, agg, direction), frame, rest) in enumerate(zip(specs, group.own, group.rest)):
        up = direction == "up"
        sign = 1.0 if up else -1.0
        t = frame["t"].to_numpy(np.int64)
        v = frame["v"].to_numpy(np.float64)
        fnames, fx = _features(t, v, times, agg, up, FEATURE_WINDOWS, FEATURE_MIN_SAMPLES)
        for k, fname in enumerate(fnames):
            add(f"{_label(sig)}: {fname}", "threshold", s, fx[:, k])
        if agg == "count":
            continue
        day_lo, day_hi = window_bounds(t, times, SHARE_HISTORY_NS)
        for win in FEATURE_WINDOWS:
            w = parse_duration(win) * NS
            lo, hi = window_bounds(t, times, w)
            value = aggregate_windows(v, lo, hi, agg)
            count = hi - lo
            # min_samples_share: at least share x the trailing day's count scaled to the window (floor 1)
            expected = (day_hi - day_lo) * (w / SHARE_HISTORY_NS)
            for share in SHARES:
                minimum = np.maximum(1, np.ceil(share * expected))
                add(f"{_label(sig)}: {agg} [{win}, min_samples_share {share:g}]", "adaptive", s,
                    sign * np.where(count >= minimum, value, np.nan))
            peers = group.peers[s] if group.peers is not None else None
            for kind, what, other in (("cohort", "other cohort", rest), ("peers", "peers", peers)):
                if other is None:
                    continue
                rt, rv = other["t"].to_numpy(np.int64), other["v"].to_numpy(np.float64)
                rlo, rhi = window_bounds(rt, times, w)
                base_all = aggregate_windows(rv, rlo, rhi, agg)
                for ms in FEATURE_MIN_SAMPLES:
                    plain = np.where(count >= ms, value, np.nan)
                    base = np.where(rhi - rlo >= ms, base_all, np.nan)
                    add(f"{_label(sig)}: {agg} - {what} [{win}, min {ms}]", kind, s, sign * (plain - base))
                    with np.errstate(invalid="ignore", divide="ignore"):
                        add(f"{_label(sig)}: {agg} / {what} [{win}, min {ms}]", kind, s,
                            sign * np.where(base > 0, plain / base, np.nan))
    for label, ind in _trace_indicators(group.own, specs, lines):
        t = ind["t"].to_numpy(np.int64)
        v = ind["v"].to_numpy(np.float64)
        for win in TRACE_WINDOWS:
            lo, hi = window_bounds(t, times, parse_duration(win) * NS)
            judged = hi - lo
            matched = aggregate_windows(v, lo, hi, "sum")
            matched = np.where(judged > 0, matched, 0.0)
            matched_share = aggregate_windows(v, lo, hi, "mean")
            for ms in TRACE_MIN_SAMPLES:
                add(f"traces where {label}: count [{win}, min {ms}]", "trace", -1,
                    np.where(judged >= ms, matched, np.nan))
                add(f"traces where {label}: rate [{win}, min {ms}]", "trace", -1,
                    np.where(judged >= ms, matched_share, np.nan))
    x = np.column_stack(cols) if cols else np.zeros((len(times), 0))
    return names, kinds, owner, x


def wide_floor(db: sqlite_utils.Database, specs: Sequence[tuple[dict[str, Any], str, str]],
               scope: dict[str, tuple[str, ...]], start_ns: int, end_ns: int, *, from_ns: int | None = None,
               also_incidents: Iterable[tuple[int, int]] = (), step: str = "5m",
               other_groups: Iterable[dict[str, tuple[str, ...]]] = (),
               other_cohort: dict[str, tuple[str, ...]] | None = None, max_steps: int | None = None,
               peers: bool = False) -> WideBound:
    """The earliest step (from the first evaluation at or after `from_ns`, default the start) at which a rule
    of any kind above, on the labelled signals `specs` ((signal, aggregation, "up" | "down")) in `scope`,
    pages on the incident with no outside evaluation firing; and the same under threshold rules alone.
    `other_cohort`: the cohort the cohort kind compares with (replacing these scope dimensions; None: no
    cohort columns). `other_groups`: grouped, as oracle.earliest_separation. `max_steps`: examine the
    incident's evaluations up to this step only (a floor later than that reads as none). `peers` (grouped):
    also each group against the pooled other groups at the same time (relative_to.peers)."""
    specs = list(specs)

    def read(where: dict[str, tuple[str, ...]]) -> list[pd.DataFrame]:
        q = SampleQuery(scope=where, group_by=(), since_ns=0, until_ns=2**62)
        return [samples(db, sig, q) for sig, _agg, _d in specs]

    rest = read({**scope, **other_cohort}) if other_cohort else [None] * len(specs)
    own = _Frames(read(scope), list(rest))
    groups = [_Frames(read(g), list(rest)) for g in other_groups]
    if peers and groups:
        everyone = [own, *groups]
        for i, g in enumerate(everyone):
            g.peers = [_pooled([h.own[s] for j, h in enumerate(everyone) if j != i]) for s in range(len(specs))]
    firsts = [int(f["t"].iloc[0]) for g in [own, *groups] for f in g.own if len(f)]
    lasts = [int(f["t"].iloc[-1]) for g in [own, *groups] for f in g.own if len(f)]
    step_ns = parse_duration(step) * NS
    first_eval = -(-(from_ns if from_ns is not None else start_ns) // step_ns) * step_ns
    if not firsts or not any(len(f) for f in own.own):
        return WideBound(None, None, (), (), 0, 0)
    times = evaluation_grid(min(firsts), max(max(lasts), end_ns), parse_duration(step))
    lines = [_lines(f, agg, d == "up", start_ns) for f, (_s, agg, d) in zip(own.own, specs)]
    names, kinds, owner, x = _matrix(own, specs, times, lines)
    longest = max(parse_duration(w) for w in (*FEATURE_WINDOWS, *TRACE_WINDOWS)) * NS
    inside = (times >= first_eval) & (times - longest < end_ns)
    if max_steps is not None:
        inside &= times <= first_eval + max_steps * step_ns
    touched = (times > start_ns) & (times - longest < end_ns)
    for a, b in also_incidents:
        touched |= (times > a) & (times - longest < b)
    outside = ~touched
    parts = [x[outside]]
    for g in groups:
        gnames, _k, _o, gx = _matrix(g, specs, times, lines)
        # a group without a signal's samples has fewer trace columns: align by name (missing: never judged)
        where = {n: i for i, n in enumerate(gnames)}
        aligned = np.full((int(outside.sum()), len(names)), np.nan)
        for i, n in enumerate(names):
            if n in where:
                aligned[:, i] = gx[outside, where[n]]
        parts.append(aligned)
    out_x = np.vstack(parts)
    idx = np.flatnonzero(inside)
    steps = ((times[idx] - first_eval) // step_ns).astype(int)
    x_in = x[idx]
    # threshold rules alone: per signal, its threshold columns (one, or an AND of two of them)
    threshold_step: int | None = None
    for s in range(len(specs)):
        cols = [i for i, (k, o) in enumerate(zip(kinds, owner)) if k == "threshold" and o == s]
        if not cols:
            continue
        single, _f, pair, _p = separate(x_in[:, cols], steps, out_x[:, cols], [names[i] for i in cols])
        found = [v for v in (single, pair) if v is not None]
        if found and (threshold_step is None or min(found) < threshold_step):
            threshold_step = min(found)
    single, single_f, pair, pair_f = separate(x_in, steps, out_x, names)
    wide: int | None = None
    features: tuple[str, ...] = ()
    if single is not None:
        wide, features = single, (single_f or "",)
    if pair is not None and (wide is None or pair < wide):
        wide, features = pair, tuple(pair_f or ())
    pos = {n: i for i, n in enumerate(names)}
    used = [pos[f] for f in features]
    kind_of = [kinds[i] for i in used]
    if len(used) == 2 and kind_of == ["threshold", "threshold"] and owner[used[0]] != owner[used[1]]:
        kind_of = ["joint", "joint"]
    columns = {k: sum(1 for kk in kinds if kk == k) for k in KINDS if k != "joint" and (k != "peers" or peers)}
    return WideBound(threshold_step, wide, features, tuple(kind_of), len(idx), int(len(out_x)), columns)


def _pooled(frames: list[pd.DataFrame]) -> pd.DataFrame | None:
    frames = [f for f in frames if len(f)]
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True).sort_values("t", kind="stable").reset_index(drop=True)


def rest_of(values: Iterable[str], mine: Sequence[str]) -> tuple[str, ...]:
    """Every other value of a dimension: the cohort a `relative_to.cohort` names for 'the rest of the traffic'."""
    return tuple(v for v in values if v not in mine)


__all__ = ["WideBound", "wide_floor", "rest_of", "KINDS"]
