"""Explain a regression: which segments moved a signal between a baseline and a current window.

Shift-share decomposition of the change of a mean (a rate is the mean of 0/1 samples). With segment s
holding share w0_s / w1_s of the samples and mean m0_s / m1_s in the two windows, and bars for the
average of the two windows:

    M1 - M0 = sum_s [ w̄_s (m1_s - m0_s)  +  (w1_s - w0_s)(m̄_s - M̄) ]
                       rate effect          mix effect
              ("this segment got worse")   ("its share of traffic grew", weighted by how far the
                                            segment sits from the overall level)

The identity is exact (the mix terms' M̄ part sums to zero because shares sum to one), so the parts of
every dimension add up to the total change. A segment present in one window only is new or vanished
traffic: its mean counts as the same in both windows (no rate effect, all mix).

Ranking and drill-down follow the AIOps attribution literature: each segment's explanatory power is
its contribution over the total change (Adtributor); its surprise is the Jensen-Shannon divergence of
its traffic share between the windows (Adtributor's surprise, on shares); the most explanatory
segments (|power| >= DRILL_POWER, at most DRILL_SEGMENTS of them) are split by every other dimension
into combinations, decomposed over the whole population so the numbers compare (iDice / Squeeze prune
the same way: only drill where the parent explains enough). Percentile signals are explained through
their mean (a percentile has no additive decomposition); the result says so.

Deterministic: ties sort by dimension and value.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError, choices_hint
from ..timeutil import format_time

#: segments explaining at least this share of the change (by absolute value) are drilled into
DRILL_POWER = 0.2
DRILL_SEGMENTS = 3
NONE_LABEL = "(none)"


class ExplainError(InputError):
    """An explain request that cannot be answered (unknown signal, empty window); says what to change."""


@dataclass
class Segment:
    cohort: dict[str, str]
    n_baseline: int
    n_current: int
    share_baseline: float
    share_current: float
    mean_baseline: float | None  # None when the segment has no samples in that window
    mean_current: float | None
    rate_effect: float
    mix_effect: float
    surprise: float

    @property
    def contribution(self) -> float:
        return self.rate_effect + self.mix_effect

    def to_dict(self, total: float) -> dict[str, Any]:
        return {
            "cohort": dict(self.cohort), "n": {"baseline": self.n_baseline, "current": self.n_current},
            "share": {"baseline": self.share_baseline, "current": self.share_current},
            "mean": {"baseline": self.mean_baseline, "current": self.mean_current},
            "rate_effect": self.rate_effect, "mix_effect": self.mix_effect, "contribution": self.contribution,
            "explains": self.contribution / total if total else None, "surprise": self.surprise,
        }


@dataclass
class Explanation:
    signal: str
    aggregation: str
    baseline_window: tuple[int, int]
    current_window: tuple[int, int]
    baseline: float
    current: float
    n_baseline: int
    n_current: int
    by_dimension: dict[str, list[Segment]] = field(default_factory=dict)
    combinations: list[Segment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return self.current - self.baseline

    def top(self, k: int = 10) -> list[Segment]:
        """The single-dimension segments that explain most, over every dimension."""
        rows = [s for segs in self.by_dimension.values() for s in segs]
        return sorted(rows, key=_order)[:k]

    def to_dict(self, top: int = 10) -> dict[str, Any]:
        from .changes import _iso

        t = self.total
        return {
            "signal": self.signal, "aggregation": "mean",
            "baseline_window": {"start": _iso(self.baseline_window[0]), "end": _iso(self.baseline_window[1])},
            "current_window": {"start": _iso(self.current_window[0]), "end": _iso(self.current_window[1])},
            "baseline": self.baseline, "current": self.current, "change": t,
            "n": {"baseline": self.n_baseline, "current": self.n_current},
            "dimensions": {d: {"rate_effect": sum(s.rate_effect for s in segs),
                               "mix_effect": sum(s.mix_effect for s in segs),
                               "segments": [s.to_dict(t) for s in sorted(segs, key=_order)[:top]]}
                           for d, segs in self.by_dimension.items()},
            "top": [s.to_dict(t) for s in self.top(top)],
            "combinations": [s.to_dict(t) for s in self.combinations[:top]],
            "notes": list(self.notes),
        }

    def lines(self, top: int = 10) -> list[str]:
        out = [f"{self.signal}: {self.baseline:.6g} -> {self.current:.6g} (change {self.total:+.6g}; "
               f"n {self.n_baseline} -> {self.n_current})"]
        out.append(f"{'segment':<44} {'rate':>11} {'mix':>11} {'total':>11} {'explains':>9} {'share':>15}")
        for s in [*self.top(top), *self.combinations[:top]]:
            name = ", ".join(f"{k}={v}" for k, v in s.cohort.items())
            power = f"{s.contribution / self.total:.0%}" if self.total else "-"
            out.append(f"{name:<44.44} {s.rate_effect:>+11.4g} {s.mix_effect:>+11.4g} {s.contribution:>+11.4g} "
                       f"{power:>9} {s.share_baseline:>6.1%} -> {s.share_current:>6.1%}")
        out += [f"note: {n}" for n in self.notes]
        return out


def _order(s: Segment) -> tuple[float, str]:
    return -abs(s.contribution), repr(sorted(s.cohort.items()))


def _js(p: float, q: float) -> float:
    def term(a: float, b: float) -> float:
        return a * math.log(2 * a / (a + b)) if a > 0 else 0.0
    return 0.5 * (term(p, q) + term(q, p))


def _labels(frame: pd.DataFrame, dims: Sequence[str]) -> pd.Series:
    parts = [frame[d].astype(object).where(frame[d].notna(), NONE_LABEL).astype(str) for d in dims]
    out = parts[0]
    for p in parts[1:]:
        out = out + "\x1f" + p
    return out


def decompose(base: pd.DataFrame, cur: pd.DataFrame, dims: Sequence[str]) -> list[Segment]:
    """Shift-share of mean(v) from `base` to `cur` over the segments of `dims` (one dimension, or a
    combination); the segments' rate + mix effects sum exactly to mean(cur.v) - mean(base.v)."""
    n0, n1 = len(base), len(cur)
    m0_all = float(base["v"].mean()) if n0 else 0.0
    m1_all = float(cur["v"].mean()) if n1 else 0.0
    m_bar = (m0_all + m1_all) / 2
    g0 = base.groupby(_labels(base, dims).to_numpy(), sort=True)["v"].agg(["count", "mean"]) if n0 else None
    g1 = cur.groupby(_labels(cur, dims).to_numpy(), sort=True)["v"].agg(["count", "mean"]) if n1 else None
    keys = sorted(set(g0.index if g0 is not None else ()) | set(g1.index if g1 is not None else ()))
    out = []
    for key in keys:
        c0 = int(g0.loc[key, "count"]) if g0 is not None and key in g0.index else 0
        c1 = int(g1.loc[key, "count"]) if g1 is not None and key in g1.index else 0
        mean0 = float(g0.loc[key, "mean"]) if c0 and g0 is not None else None
        mean1 = float(g1.loc[key, "mean"]) if c1 and g1 is not None else None
        w0 = c0 / n0 if n0 else 0.0
        w1 = c1 / n1 if n1 else 0.0
        a = mean0 if mean0 is not None else mean1
        b = mean1 if mean1 is not None else mean0
        assert a is not None and b is not None
        rate = (w0 + w1) / 2 * (b - a)
        mix = (w1 - w0) * ((a + b) / 2 - m_bar)
        cohort = dict(zip(dims, str(key).split("\x1f")))
        out.append(Segment(cohort, c0, c1, w0, w1, mean0, mean1, rate, mix, _js(w0, w1)))
    return out


def explain_frames(signal: str, aggregation: str, base: pd.DataFrame, cur: pd.DataFrame, dims: Sequence[str],
                   baseline_window: tuple[int, int], current_window: tuple[int, int]) -> Explanation:
    """The decomposition over each dimension, then over pairs inside the most explanatory segments."""
    base = base[np.isfinite(base["v"])]
    cur = cur[np.isfinite(cur["v"])]
    # a dimension splits the traffic only if it takes two values or more (else it is the total again)
    dims = [d for d in dims if d in base.columns and d in cur.columns
            and len(set(_labels(base, [d])) | set(_labels(cur, [d]))) >= 2]
    res = Explanation(signal, aggregation, baseline_window, current_window,
                      float(base["v"].mean()) if len(base) else math.nan,
                      float(cur["v"].mean()) if len(cur) else math.nan, len(base), len(cur))
    if aggregation.startswith("p"):
        res.notes.append(f"{signal} is shown as its {aggregation} elsewhere; a percentile has no additive "
                         "decomposition, so this explains the change of its mean")
    if aggregation == "count":  # trace_count: every sample is 1, its mean never moves
        res.notes.append(f"{signal} counts traces (each sample is 1): there is no mean to attribute; the "
                         "feed's traffic finding names the cohort whose share fell (see the segments' shares)")
    for d in dims:
        res.by_dimension[d] = decompose(base, cur, [d])
    total = res.total
    if not total or not math.isfinite(total):
        return res
    leaders = [s for s in res.top(len(dims) * 50) if abs(s.contribution / total) >= DRILL_POWER][:DRILL_SEGMENTS]
    seen: set[tuple[tuple[str, str], ...]] = set()
    for lead in leaders:
        (d1, v1), = lead.cohort.items()
        for d2 in dims:
            if d2 == d1:
                continue
            pair = sorted([d1, d2])
            for s in decompose(base, cur, pair):
                key = tuple(sorted(s.cohort.items()))
                same_as_lead = (s.n_baseline, s.n_current) == (lead.n_baseline, lead.n_current)
                if s.cohort[d1] == v1 and key not in seen and not same_as_lead \
                        and abs(s.contribution / total) >= DRILL_POWER / 2:
                    seen.add(key)
                    res.combinations.append(s)
    res.combinations.sort(key=_order)
    return res


def explain_signal(db: Any, signal: str, since_ns: int, until_ns: int, *, baseline_since: int | None = None,
                   baseline_until: int | None = None, dimensions: Sequence[str] | None = None) -> Explanation:
    """Explain one feed signal's change from the baseline window (default: the same length right before)
    to [since, until)."""
    from ..store import query as q
    from .changes import DEFAULT_DIMENSIONS, feed_signals, load_samples

    catalogue = {s.name: s for s in feed_signals(q.evaluator_names(db))}
    if signal not in catalogue:
        raise ExplainError(f"unknown signal {signal!r}; {choices_hint(signal, sorted(catalogue))}")
    if until_ns <= since_ns:
        raise ExplainError("the current window is empty: --until must be after --since")
    b_until = since_ns if baseline_until is None else baseline_until
    b_since = b_until - (until_ns - since_ns) if baseline_since is None else baseline_since
    if b_until <= b_since:
        raise ExplainError("the baseline window is empty: --baseline-until must be after --baseline-since")
    if dimensions:
        from ..cohorts import sample_spellings
        from ..store.query import extra_dimensions

        dims = sample_spellings(dimensions, extra_dimensions(db))
    else:
        dims = [*DEFAULT_DIMENSIONS, "agent_name"]
    sig = catalogue[signal]
    lo, hi = min(b_since, since_ns), max(b_until, until_ns)
    frame = load_samples(db, sig, dims, lo, hi)
    t = frame["t"]
    base = frame[(t >= b_since) & (t < b_until)]
    cur = frame[(t >= since_ns) & (t < until_ns)]
    for window, rows, fix in (("baseline", base, "pass --baseline-since/--baseline-until around data"),
                              ("current", cur, "pass --since/--until around data")):
        if not len(rows):  # a change from (or to) nothing has no segments to attribute it to
            raise ExplainError(f"the {window} window ({format_time(b_since if window == 'baseline' else since_ns)} .. "
                               f"{format_time(b_until if window == 'baseline' else until_ns)}) holds no {signal} "
                               f"samples, so there is no change to explain; {fix}")
    names = [d[5:] if d.startswith("dims.") else d for d in dims]
    return explain_frames(signal, sig.aggregation, base, cur, names, (b_since, b_until), (since_ns, until_ns))


def explain_finding(db: Any, finding: Any, dimensions: Sequence[str] | None = None) -> Explanation:
    """Explain a feed finding's strongest signal: its window against the same length before it."""
    end = finding.end_ns if finding.end_ns is not None else (finding.window_end_ns or finding.start_ns + 1)
    return explain_signal(db, finding.signals[0], finding.start_ns, end, dimensions=dimensions)
