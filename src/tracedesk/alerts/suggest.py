"""Suggest an alert from an incident the user marked (a time range and an optional cohort).

1. **Baseline.** The cohort's own history outside the incident. A cohort that did not exist before the
   incident (a new prompt version, a new model name) has none: it is compared with the cohort it
   replaced (the value of the new dimension, the other dimensions kept, whose share of the traffic fell
   by at least half from the day before the new value's first trace to the day after: _reference_scope)
   or, when nothing was replaced (a new tenant is new traffic), with the rest of the traffic.
2. **Movers.** Every candidate signal is compared sample by sample (not window by window, so a sparse
   rate whose typical window holds one sample is scored on all its samples): the effect is
   |2·AUC − 1|, the probability that an incident sample is worse than a baseline one, rescaled to 0-1
   (a rate's AUC reduces to its difference of proportions). It needs no unit and no spread estimate.
   Traffic (trace_count) has no sample during an outage: it is scored on windows, each window's count over
   what the cohort's previous hour predicts, and proposed relative to that hour (_traffic_options).
   A signal whose body did not move but whose tail did (a few calls in a hundred stall) is a mover on its
   p99 when the tail is beyond every baseline sample and too large for chance (_tail_mover).
3. **Rules.** For the strongest movers, thresholds between the baseline's high end and the incident's
   typical value are tried at each window (5m to 1h) and minimum sample count (1, 2, 3): on the value
   itself, and on its difference from, or ratio to, the same aggregation over the hour or the day before
   the window (relative_to: what moves every hour of the cohort moves the baseline too). They are tried
   alone and as ANDs of two or three movers, and of one mover over two windows (a short window for speed
   confirmed by a longer one; each condition keeps its own window). Each candidate is replayed over the whole
   history on the step grid, through the on-call state machine (resolve after 1 h clear, or, for a rate whose
   events inside the incident come further apart, after its longest gap between them: _sparse_resolve):
   what counts is its pages. An AND fires only where each of its conditions does, so only conditions that
   page during the incident alone are combined (the fastest and the quietest of each mover: _best_rule).
4. **Choice.** Catches the incident, then fewest false pages (pages outside the incident), then one page
   for the incident (not a storm), then on time (within 2 steps), then robust (still no false page with
   every threshold moved 15% of its gap towards the baseline; a fragile rule on time is proposed with a
   warning naming the earliest robust one), then the shortest delay, then quiet elsewhere (no page in the
   other groups of the proposed group_by: the rule is scoped to the cohort, so those pages are a warning,
   not false pages; among rules on time a latency-only rule that would page on another route's latency
   blip loses to the joint one), then fewest pages within the incident, then the smallest rule (a redundant
   condition only adds delay), then the widest margin, then the shortest windows.
5. **Report.** The rule is backtested for real and its pages read through the on-call states
   (states.pages; the search replays candidates through the same machine, states.page_runs); its delay
   and its false pages *outside* the marked incident are reported, with warnings when it is late, noisy or judged on another cohort's history.
   It also proposes a group_by: the cohort's dimensions, so the same rule covers every route/model.
   When no rule can be proposed (nothing moved, or no threshold separates), the suggestion has no rule
   and says why (Suggestion.explanation): a marked incident gets an answer, not an exception.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import sqlite_utils

from ..store import connect
from ..store.connect import with_database
from .. import cohorts
from .definition import NEW_COHORT_WINDOW, SIGNAL_SPECS, AlertRule, Condition, Group, Relative, parse_duration
from .states import pages
from .evaluate import (NS, BacktestResult, SampleLoader, backtest, compare, data_range, evaluation_grid,
                       wilson_bound, window_bounds)


#: Windows and minimum sample counts the suggester tries (short = fast, long = steady).
WINDOWS: tuple[str, ...] = ("5m", "10m", "15m", "30m", "1h")
MIN_SAMPLES: tuple[int, ...] = (1, 2, 3)
#: Resolve after this long clear: pages of one incident separated by quiet spells are one page.
RESOLVE_AFTER = "1h"
#: A delay within this many steps of the incident start is on time (the detection target).
ON_TIME_STEPS = 2
#: Robustness check: each threshold moved this share of its baseline-to-incident gap towards the baseline.
LOOSEN = 0.15
#: A mover must separate incident and baseline samples at least this well (|2 AUC - 1|).
MIN_EFFECT = 0.3
#: The traffic signal (count of traces, 0 for an empty window): judged against the cohort's own traffic over
#: TRAFFIC_BASELINE just before the window, scaled to the window (relative_to.window/offset/factor).
TRAFFIC = "trace_count"
TRAFFIC_BASELINE = "1h"


@dataclass
class Mover:
    signal: dict[str, Any]
    aggregation: str
    direction: str  # "up" | "down"
    baseline: float  # median (mean for a rate) of the baseline samples
    incident: float  # median (mean for a rate) of the incident samples
    effect: float  # |2 AUC - 1|: 0 = indistinguishable, 1 = every incident sample worse than every baseline one
    label: str = ""
    samples: int = 0  # incident samples
    #: a tail mover (_tail_mover): the baseline's most extreme sample in the bad direction; the incident's
    #: samples beyond it are its tail events. None for a mover of the whole distribution
    tail_edge: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"signal": self.signal, "aggregation": self.aggregation, "direction": self.direction,
               "baseline": round(self.baseline, 6), "incident": round(self.incident, 6),
               "effect": round(self.effect, 3), "label": self.label, "samples": self.samples}
        if self.tail_edge is not None:
            out["tail_edge"] = round(self.tail_edge, 6)
        return out


@dataclass
class Suggestion:
    """A proposed rule with its backtest, or (rule None) the explanation of why none is proposed: the marked
    incident is the user's, so the suggester answers it rather than raising (bad input still raises)."""
    rule: AlertRule | None
    movers: list[Mover]
    backtest: BacktestResult | None
    caught: bool
    false_episodes: int  # firing episodes outside the incident (raw, before states)
    incident_start_ns: int
    incident_end_ns: int
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    delay_min: float | None = None  # first page in the incident - its start
    false_pages: int = 0  # pages (after the on-call states) outside the incident
    pages_in_incident: int = 0
    reference: dict[str, Any] | None = None  # the cohort the baseline came from, when not the marked one
    #: the rule's pages elsewhere: in the other groups of its group_by, and on a new cohort's reference
    reference_false_pages: int | None = None
    group_by: tuple[str, ...] = ()  # proposed: the same rule for every value of the cohort's dimensions
    warnings: list[str] = field(default_factory=list)
    #: why no rule is proposed (rule None): what was compared and how near it came
    explanation: str = ""
    #: pages outside the incident of the rule with every threshold moved LOOSEN of its gap towards the
    #: baseline: 0 for a rule whose quiet does not hang on where its thresholds sit
    fragile_pages: int = 0
    #: when the rule is fragile, the best one that is not (what the search saw: its conditions, window,
    #: delay in steps from the incident start and false pages), or None when every catching rule is fragile
    robust_alternative: dict[str, Any] | None = None

    def rule_summary(self) -> str:
        if self.rule is None:
            return f"(no rule: {self.explanation})"
        return " AND ".join(c.label() for c in self.rule.leaves()) + f" (window {self.rule.window})"

    def to_dict(self) -> dict[str, Any]:
        from .definition import rule_to_dict

        return {"rule": rule_to_dict(self.rule) if self.rule is not None else None, "explanation": self.explanation,
                "caught": self.caught, "false_episodes": self.false_episodes,
                "false_pages": self.false_pages, "pages_in_incident": self.pages_in_incident,
                "delay_min": self.delay_min, "reference": self.reference,
                "reference_false_pages": self.reference_false_pages, "group_by": list(self.group_by),
                "warnings": self.warnings, "movers": [m.to_dict() for m in self.movers],
                "episodes": [e.to_dict() for e in self.backtest.episodes] if self.backtest is not None else [],
                "summary": self.backtest.summary() if self.backtest is not None else [],
                "alternatives": self.alternatives, "fragile_pages": self.fragile_pages,
                "robust_alternative": self.robust_alternative}


def candidate_signals(db: sqlite_utils.Database) -> list[tuple[dict[str, Any], str]]:
    """(signal, aggregation) pairs worth trying on this database, each with its registry aggregation."""
    from ..signals import get
    from ..store.query import distinct_values, evaluator_names

    out: list[dict[str, Any]] = []
    for name in evaluator_names(db, scored=True):
        if name != "user_feedback":
            # its scores, and how many traces it scores: a judge that stops leaves no low score to see
            out += [{"type": "eval_score", "evaluator": name}, {"type": "eval_coverage", "evaluator": name}]
    kinds = sorted(distinct_values(db, "kind"))
    for kind in kinds:
        out.append({"type": "duration", "span_kind": kind})
    out.append({"type": "trace_duration"})
    if "RETRIEVER" in kinds:
        # how well the top document matched: an index that drifts from its queries (a re-embedding half
        # done, stale documents) shows here before a judge scores the answers
        out.append({"type": "retrieval_score"})
    if "TOOL" in kinds:
        out.append({"type": "error_rate", "span_kind": "TOOL"})
    out.append({"type": "error_rate"})
    if "LLM" in kinds:
        out += [{"type": t} for t in ("ttft", "input_tokens", "output_tokens", "refusal_rate_answer")]
    out += [{"type": t} for t in ("cost_per_trace", "tool_calls_per_trace", "llm_calls_per_trace", "spans_per_trace")]
    if "user_feedback" in evaluator_names(db):
        out.append({"type": "thumbs_down_rate"})
    # PII in answers is a text check on root outputs (no evaluator run needed); traffic (trace_count) has
    # no sample during an outage, so it is scored on window counts against the cohort's own recent baseline
    # (_traffic_mover) and proposed as a relative traffic-drop rule (_traffic_options)
    out += [{"type": "pii_rate"}, {"type": TRAFFIC}]
    return [(sig, get(sig["type"]).aggregation) for sig in out if sig["type"] in SIGNAL_SPECS]


def _nice(x: float) -> float:
    """Round a threshold to 2 significant digits (people read and edit these)."""
    if x == 0 or not math.isfinite(x):
        return 0.0
    digits = 1 - int(math.floor(math.log10(abs(x))))
    return float(round(x, digits))


def _auc(incident: np.ndarray, baseline: np.ndarray) -> float:
    """P(incident sample > baseline sample) + P(tie) / 2, from ranks (Mann-Whitney U)."""
    import pandas as pd

    ranks = pd.Series(np.concatenate([incident, baseline])).rank(method="average").to_numpy()
    n1, n2 = len(incident), len(baseline)
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    return float(u / (n1 * n2))


def _runs(firing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.concatenate(([0], firing.astype(np.int8), [0]))
    d = np.diff(f)
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1


def _pages(firing: np.ndarray, gap_steps: int, has_data: np.ndarray | None = None,
           holding: np.ndarray | None = None) -> list[tuple[int, int]]:
    """(first, last) evaluation index of each page, as the on-call state machine gives them for the rules
    the suggester proposes (for = 0, resolve_after = gap_steps steps, no_data "keep": evaluations without
    data change nothing; `holding`: the hysteresis that keeps a page firing): states.page_runs, the one
    definition the real backtest's pages (states.pages) also follow."""
    from .states import page_runs

    no_data = None if has_data is None else ~(has_data | firing)
    runs = page_runs(firing, firing if holding is None else holding, no_data, gap_steps)
    return [(a, b) for a, b, _r in runs]


class _Option(NamedTuple):
    """One candidate condition, replayed: its trigger, its pages elsewhere (rows laid end to end), its margin
    to the baseline and the incident, its trigger with the threshold loosened (robustness), where it has data,
    and where it holds under its hysteresis (None: where it triggers)."""
    cond: Condition
    firing: np.ndarray
    strip: np.ndarray
    margin: float
    loose: np.ndarray
    has_data: np.ndarray
    holding: np.ndarray | None = None


@dataclass
class _Score:
    caught: bool
    false_pages: int
    delay_steps: float
    pages_in: int
    coverage: float
    flaps: int  # firing runs within the incident (one page may hide several: it reads as flapping)

    def key(self) -> tuple:
        # any delay within ON_TIME_STEPS is on time: among those, the steadier rule wins
        late = max(self.delay_steps, ON_TIME_STEPS) if self.caught else math.inf
        return (self.caught, -self.false_pages, -late, -self.pages_in, -self.flaps, round(self.coverage, 1))


def _score(firing: np.ndarray, times: np.ndarray, start_ns: int, end_ns: int, w: int, step: int,
           gap_steps: int, has_data: np.ndarray | None = None, holding: np.ndarray | None = None) -> _Score:
    """A candidate's pages against the marked incident: caught (a page overlaps it), false pages
    (pages that do not), delay in steps from the incident start to the first overlapping page."""
    found = _pages(firing, gap_steps, has_data, holding)
    delay, false, inside = math.inf, 0, 0
    for a, b in found:
        if times[a] - w < end_ns and times[b] + gap_steps * step >= start_ns:
            inside += 1
            delay = min(delay, max(0, times[a] - start_ns) / step)
        else:
            false += 1
    window = (times > start_ns) & (times - w < end_ns)
    coverage = float((firing & window).sum() / max(1, window.sum()))
    flaps = len(_runs(firing & window)[0])
    return _Score(inside > 0, false, delay, inside, coverage, flaps)


#: Confidences a sparse rate is tried at (see _confident_options).
CONFIDENCES: tuple[float, ...] = (0.99, 0.999)


def _typical_bound_gap(mover: Mover, series: Any, confidence: float, up: bool) -> float:
    """The distance between the Wilson bounds of the baseline's and the incident's rate in a window holding
    the series' typical (median) number of samples; 0 when no window holds any."""
    counts = np.asarray(series.counts, dtype=np.float64)
    counts = counts[counts > 0]
    if len(counts) == 0:
        return 0.0
    n = np.full(2, float(np.median(counts)))
    rates = np.array([mover.baseline, mover.incident], dtype=np.float64)
    bounds = wilson_bound(rates, n, confidence, upper=not up)
    return float(abs(bounds[1] - bounds[0]))


def _confident_options(mover: Mover, series: Any, ref: Any, others: list[Any], before: np.ndarray,
                       sep: np.ndarray) -> list[_Option]:
    """Options for a rate judged at a confidence: the Wilson bound of each window's k of n must be beyond
    a threshold between the baseline's and the incident's rate (computed on all their samples). A sparse
    rate's typical window holds no event at all (a 1% -> 6% refusal rate on 20 answers an hour), so no
    threshold on window values separates it; the bound weighs every window by its evidence instead."""
    up = mover.direction == "up"
    sign = 1 if up else -1
    comparator = ">" if up else "<"
    gap = abs(mover.incident - mover.baseline)
    if gap == 0:
        return []
    out = []
    for confidence in CONFIDENCES:
        def judged(s: Any) -> np.ndarray:
            return wilson_bound(s.values, s.counts, confidence, upper=not up)

        mine = judged(series)
        # the fragility probe moves the threshold in the space the condition judges: bounds, not raw rates.
        # A typical window's bounds of the baseline's and the incident's rate lie much closer together than
        # the rates themselves (a 5-minute window of 10 traces: 0.55 -> a 99.9% lower bound of 0.18), so
        # 15% of the raw gap would move the threshold past ordinary windows' bounds and call every
        # confident rule fragile
        bound_gap = _typical_bound_gap(mover, series, confidence, up) or gap
        rows_base = [judged(o) for o in others]
        ref_j = judged(ref) if ref is not None else None
        for f in (0.25, 0.5):
            thr = _nice(mover.baseline + f * (mover.incident - mover.baseline))
            if (thr - mover.baseline) * sign <= 0:
                continue
            # held (hysteresis) while the plain rate stays beyond the baseline's: a sparse rate's windows
            # fall back to 0 between events, which is no evidence of recovery
            cond = Condition(mover.signal, mover.aggregation, comparator, thr, 1, confidence=confidence,
                             resolve_threshold=_nice(mover.baseline))
            rows = [compare(o, comparator, thr) for o in rows_base]
            if ref_j is not None:
                rows.append(compare(ref_j, comparator, thr) & before)
            strip = np.concatenate([x for r in rows for x in (r, sep)]) if rows else np.zeros(0, bool)
            margin = min(abs(thr - mover.baseline), abs(mover.incident - thr)) / gap
            loose = compare(mine, comparator, thr - sign * LOOSEN * bound_gap)
            out.append(_Option(cond, compare(mine, comparator, thr), strip, margin, loose, ~np.isnan(series.values),
                               compare(series.values, comparator, float(cond.resolve_threshold or 0.0))))
    return out


def _new_cohort_options(db: sqlite_utils.Database, loader: SampleLoader, mover: Mover, dim: str,
                        scope: dict[str, tuple[str, ...]], group_by: tuple[str, ...], times: np.ndarray,
                        sep: np.ndarray, step: str, versus: str = "replaced") -> list[_Option]:
    """Options for a new cohort judged against the value it replaced, or against the rest when the
    suggester found no value it replaced (`versus`; relative_to.new_cohort, over its first day): its mean
    beyond that baseline by a quarter or half of the baseline-to-incident gap, held until it is back at
    that baseline. Replayed with the proposed group_by, so every other new value of the dimension in the
    history (another rollout) counts as elsewhere."""
    up = mover.direction == "up"
    gap = abs(mover.incident - mover.baseline)
    if gap == 0:
        return []
    out = []
    mine = tuple(scope[d][0] if len(scope[d]) == 1 else None for d in group_by)
    for f in (0.25, 0.5):
        delta = _nice(f * gap) * (1 if up else -1)
        rel = Relative(new_cohort=dim, versus=versus, delta=delta, resolve_delta=0.0)
        cond = Condition(mover.signal, mover.aggregation, ">" if up else "<", 0.0, 1, NEW_COHORT_WINDOW, rel)
        replayed = _replay_probe(db, loader, cond, NEW_COHORT_WINDOW, 1, scope, group_by, mine, times, sep, step)
        if replayed is None:
            continue
        c, strip = replayed
        margin = min(f, 1 - f)
        loose = compare(c.values, cond.comparator, c.thresholds - (1 if up else -1) * LOOSEN * gap) \
            if c.thresholds is not None else c.firing
        out.append(_Option(cond, c.firing, strip, margin, loose, ~np.isnan(c.values), c.holding))
    return out


def _replay_probe(db: sqlite_utils.Database, loader: SampleLoader, cond: Condition, window: str, min_samples: int,
                  scope: dict[str, tuple[str, ...]], group_by: tuple[str, ...], mine: tuple[str | None, ...],
                  times: np.ndarray, sep: np.ndarray, step: str) -> tuple[Any, np.ndarray] | None:
    """A candidate condition backtested with the proposed group_by: (the incident's own group's condition
    result, the firing of every other group laid end to end with `sep` between them — the 'elsewhere'
    its false pages are counted on), or None when the incident's group never appears."""
    probe = AlertRule(name="probe", condition=cond, window=window, step=step, min_samples=min_samples,
                      scope={k: v for k, v in scope.items() if k not in group_by}, group_by=group_by)
    groups = backtest(db, probe, times=times, loader=loader, episodes=False).groups
    own = [g for g in groups if tuple(g.group.get(d) for d in group_by) == mine]
    if not own:
        return None
    rows = [g.conditions[0].firing for g in groups if g is not own[0]]
    strip = np.concatenate([x for r in rows for x in (r, sep)]) if rows else np.zeros(0, bool)
    return own[0].conditions[0], strip


def _sparse_resolve(loader: SampleLoader, mover: Mover, scope: dict[str, tuple[str, ...]], start_ns: int,
                    end_ns: int) -> str:
    """How long a rule on this mover must stay clear before it resolves: RESOLVE_AFTER, or, for a rate (or
    a tail mover: its events are its samples beyond the baseline's edge, a stalled call) whose events inside
    the marked incident come further apart than that (a PII leak: one leaking trace, the next 2.5 hours
    later), the longest gap between them rounded up to whole hours, so the incident's
    own quiet spells do not resolve its page and page again at the next event. Derived from the incident's
    inter-arrival times, not a constant: a dense rate keeps RESOLVE_AFTER."""
    if mover.tail_edge is None and (mover.aggregation != "rate" or mover.direction != "up"):
        return RESOLVE_AFTER
    frame = loader.load(mover.signal, scope, ())
    t = frame["t"].to_numpy(np.int64)
    v = frame["v"].to_numpy(np.float64)
    # a rate's events are its non-zero samples; a tail mover's, its samples beyond the baseline's edge
    hit = (v != 0) if mover.tail_edge is None else ((v - mover.tail_edge) * (1 if mover.direction == "up" else -1) > 0)
    events = np.sort(t[(t >= start_ns) & (t < end_ns) & hit])
    if len(events) < 2:
        return RESOLVE_AFTER
    longest = int(np.max(np.diff(events)))
    if longest <= parse_duration(RESOLVE_AFTER) * NS:
        return RESOLVE_AFTER
    return f"{-(-longest // (3600 * NS))}h"


def _is_new(loader: SampleLoader, scope: dict[str, tuple[str, ...]], start_ns: int) -> bool:
    t = loader.load({"type": "spans_per_trace"}, scope, ())["t"].to_numpy(np.int64)
    return int((t < start_ns).sum()) < 5


#: The evidence a new value replaced an old one: the old value's share of the dimension's traffic (the other
#: dimensions kept) fell by at least this much from the day before the new value's first trace to the day
#: after it. Half: a value that kept more than half its share was at most joined, not replaced.
REPLACED_MIN_FALL = 0.5


def _reference_scope(db: sqlite_utils.Database, loader: SampleLoader, scope: dict[str, tuple[str, ...]],
                     start_ns: int, end_ns: int) -> tuple[dict[str, tuple[str, ...]], str]:
    """The cohort a new one replaced: per dimension whose value is new, the value of that dimension (the
    other dimensions kept: the same route, the same tenant) whose share of that traffic fell most between
    the NEW_COHORT_WINDOW before the new value's first trace and the NEW_COHORT_WINDOW after it (or until the
    incident's end), when it fell by at least REPLACED_MIN_FALL; else the rest of the traffic.

    Why this evidence: a replaced value loses the traffic the new one takes (a model name swapped: its share
    falls to 0), while a new tenant or route is new traffic that takes nobody's. Shares, not rates, and over
    whole days around the new value's start, not the marked incident's length around its start: a daily cycle
    moves every value's rate, and across time zones even its share within a day; a week's earlier events (a
    tenant's Sunday sale) move both over a window that reaches back to them. The same notion of share as the
    rule's own `versus: replaced` (evaluate.new_cohort_baselines: the new value's traffic counts in the total)."""
    from .builder import dimension_values

    out = dict(scope)
    notes = []
    w = parse_duration(NEW_COHORT_WINDOW) * NS
    for dim, values in scope.items():
        others = {k: v for k, v in scope.items() if k != dim}
        if not _is_new(loader, {dim: values}, start_ns):
            continue  # this dimension's value existed: the baseline keeps it (e.g. the same tenant)
        if dim not in cohorts.names():
            out.pop(dim)
            notes.append(f"{dim}: the rest of the traffic")
            continue
        mine = loader.load({"type": "spans_per_trace"}, {**others, dim: values}, ())["t"].to_numpy(np.int64)
        mine = mine[mine >= start_ns] if (mine >= start_ns).any() else mine
        t0 = int(mine.min()) if len(mine) else start_ns
        after_end = min(t0 + w, max(end_ns, t0 + 1))
        counts: dict[str, tuple[int, int]] = {}
        for value in dimension_values(db, dim):
            if value in values:
                continue
            t = loader.load({"type": "spans_per_trace"}, {**others, dim: (value,)}, ())["t"].to_numpy(np.int64)
            counts[value] = (int(((t > t0 - w) & (t <= t0)).sum()), int(((t > t0) & (t <= after_end)).sum()))
        new_after = int(((mine >= t0) & (mine <= after_end)).sum())
        total_before = sum(b for b, _a in counts.values())
        total_after = sum(a for _b, a in counts.values()) + new_after
        best, fall = None, 0.0
        for value, (before, after) in counts.items():
            if before == 0 or total_after == 0:
                continue
            f = 1 - (after / total_after) / (before / total_before)
            if f > fall:
                best, fall = value, f
        if best is not None and fall >= REPLACED_MIN_FALL:
            out[dim] = (best,)
            notes.append(f"{dim}={best} (the value it replaced: its share of the traffic fell {fall:.0%} in the "
                         f"{NEW_COHORT_WINDOW} after the new value's first trace)")
        else:
            out.pop(dim)
            notes.append(f"{dim}: the rest of the traffic (no value's share fell by {REPLACED_MIN_FALL:.0%} or more "
                         f"when it appeared" + (f"; most: {dim}={best}, {fall:.0%}" if best is not None else "")
                         + ")")
    return out, "; ".join(notes)


def _movers(loader: SampleLoader, candidates: list[tuple[dict[str, Any], str]], scope: dict, ref_scope: dict,
            new: bool, start_ns: int, end_ns: int, guard_ns: int,
            scored: list[tuple[str, float]] | None = None) -> list[Mover]:
    """The signals that moved, strongest first; `scored` collects (label, effect) of those compared that did
    not move enough (what the explanation of an empty suggestion names)."""
    out = []
    for sig, agg in candidates:
        if sig["type"] == TRAFFIC:
            if not new:  # a new cohort's traffic rises from nothing: no drop to judge
                traffic = _traffic_mover(loader, sig, agg, scope, start_ns, end_ns, guard_ns)
                out.extend([traffic] if traffic is not None else [])
            continue
        frame = loader.load(sig, scope, ())
        t, v = frame["t"].to_numpy(np.int64), frame["v"].to_numpy(np.float64)
        inc = v[(t >= start_ns) & (t < end_ns)]
        if new:
            ref = loader.load(sig, ref_scope, ())
            rt, rv = ref["t"].to_numpy(np.int64), ref["v"].to_numpy(np.float64)
            base = rv[rt < start_ns]
        else:
            base = v[(t < start_ns - guard_ns) | (t >= end_ns + guard_ns)]
        if agg == "rate":
            inc, base = (inc != 0).astype(float), (base != 0).astype(float)
        if len(inc) < 3 or len(base) < 10:
            continue
        auc = _auc(inc, base)
        effect = abs(2 * auc - 1)
        if np.isin(inc, (0.0, 1.0)).all() and np.isin(base, (0.0, 1.0)).all():
            # a 0/1 signal (a rate): a rare event that becomes common (0.1% -> 5%) hardly moves the AUC,
            # so score its relative change when the difference is clear (z >= 4 under one pooled rate)
            p_i, p_b = float(inc.mean()), float(base.mean())
            pool = (inc.sum() + base.sum()) / (len(inc) + len(base))
            z = abs(p_i - p_b) / math.sqrt(max(pool * (1 - pool), 1e-12) * (1 / len(inc) + 1 / len(base)))
            if z >= 4:
                # relative to the rarer side (a pass score 1.0 -> 0.81 is a failure share 0 -> 0.19)
                effect = max(effect, abs(p_i - p_b) / max(min(p_i, p_b, 1 - p_i, 1 - p_b) + abs(p_i - p_b), 1e-12))
        label = Condition(sig, agg, ">", 0).label().rsplit(" ", 2)[0]
        if effect < MIN_EFFECT:
            # the body did not move; its tail may have (a few calls in a hundred stall): judged on its own
            tail = _tail_mover(sig, inc, base) if agg != "rate" else None
            if tail is not None:
                out.append(tail)
            elif scored is not None:
                scored.append((label, effect))
            continue
        centre = np.mean if agg == "rate" else np.median
        direction = "up" if auc > 0.5 else "down"
        out.append(Mover(sig, agg, direction, float(centre(base)), float(centre(inc)), effect, label, len(inc)))
    # movers of the whole distribution first, then tail movers (their effect is the share of the incident's
    # samples in the tail, not comparable); ties in effect (both perfectly separated) go to the larger
    # relative change
    out.sort(key=lambda m: (m.tail_edge is not None, -round(m.effect, 2),
                            -abs(m.incident - m.baseline) / (abs(m.baseline) + 1e-9)))
    return out


#: The window aggregation a tail mover is proposed with, per bad direction: the p99 for a signal whose bad
#: direction is up (latency), the window's lowest sample for one whose bad direction is down (a score: the
#: registry has no low percentile); and the share of samples in the tail.
TAIL_AGGREGATION = {"up": "p99", "down": "min"}
TAIL_SHARE = 0.01
#: How unlikely the incident's tail must be by chance: the one-sided normal tail at z = 4, the level the
#: rate test above asks (z >= 4), so a tail mover needs the same evidence as a rate mover.
TAIL_P = 0.5 * math.erfc(4 / math.sqrt(2))


def _tail_mover(sig: dict[str, Any], inc: np.ndarray, base: np.ndarray) -> Mover | None:
    """A signal whose tail moved while its body did not (4% of LLM calls stall for 30-75 s; the median and p95
    do not move, so |2 AUC - 1| stays near 0): a mover on its tail in the bad direction (its p99 for a
    latency, its lowest samples for a score: TAIL_AGGREGATION) when

    - the baseline holds at least 1/TAIL_SHARE samples (fewer say nothing of its 99th percentile),
    - the incident's 99th percentile (1st, bad direction down) is beyond the baseline's most extreme sample
      in the bad direction, and
    - the incident's samples beyond that edge are too many for chance: were incident and baseline samples
      exchangeable, the m most extreme samples of all would all be incident ones with probability
      C(n_inc, m) / C(n_inc + n_base, m); it must be below TAIL_P (m >= 3, as a mover needs 3 samples).

    Its effect is the share of the incident's samples beyond the edge (|2 AUC - 1| of that 0/1 indicator,
    whose baseline share is 0 by construction); its baseline and incident values are those percentiles."""
    from ..signals import get

    if len(base) < 1 / TAIL_SHARE or np.isin(inc, (0.0, 1.0)).all():
        return None
    up = get(sig["type"]).bad == "up"
    sign = 1.0 if up else -1.0
    edge = float(np.max(base * sign)) * sign
    p_inc = float(np.quantile(inc, 1 - TAIL_SHARE if up else TAIL_SHARE))
    beyond = int(((inc - edge) * sign > 0).sum())
    if (p_inc - edge) * sign <= 0 or beyond < 3:
        return None
    n, total = len(inc), len(inc) + len(base)
    chance = math.prod((n - j) / (total - j) for j in range(beyond))
    if chance >= TAIL_P:
        return None
    p_base = float(np.quantile(base, 1 - TAIL_SHARE if up else TAIL_SHARE))
    direction = "up" if up else "down"
    aggregation = TAIL_AGGREGATION[direction]
    label = Condition(sig, aggregation, ">", 0).label().rsplit(" ", 2)[0]
    return Mover(sig, aggregation, direction, p_base, p_inc, beyond / n, label, n, tail_edge=edge)


def _traffic_ratio(t: np.ndarray, times: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Per evaluation: the window's trace count over the count expected from the TRAFFIC_BASELINE before it
    (scaled to the window), and that expected count (nan where the baseline holds no trace)."""
    bw = parse_duration(TRAFFIC_BASELINE) * NS
    lo, hi = window_bounds(t, times, w)
    blo, bhi = window_bounds(t, times - w, bw)
    expected = (bhi - blo) * (w / bw)
    expected = np.where(bhi > blo, expected, np.nan)
    return (hi - lo) / expected, expected


def _traffic_mover(loader: SampleLoader, sig: dict[str, Any], agg: str, scope: dict, start_ns: int, end_ns: int,
                   guard_ns: int) -> Mover | None:
    """A traffic drop, scored on the 5-minute grid of 15-minute windows (an outage leaves no sample to score
    sample by sample): |2 AUC - 1| of the incident's count-to-expected ratios against the rest's. Only a
    drop counts: more traffic is load, not an outage."""
    t = np.sort(loader.load(sig, scope, ())["t"].to_numpy(np.int64))
    if len(t) == 0:
        return None
    step, w = 300 * NS, 900 * NS
    times = np.arange(int(t[0]) + parse_duration(TRAFFIC_BASELINE) * NS + w, int(t[-1]) + step, step, dtype=np.int64)
    ratio, _ = _traffic_ratio(t, times, w)
    ok = ~np.isnan(ratio)
    inc = ratio[ok & (times - w >= start_ns) & (times <= end_ns)]
    base = ratio[ok & ((times < start_ns - guard_ns) | (times - w >= end_ns + guard_ns))]
    if len(inc) < 3 or len(base) < 10:
        return None
    auc = _auc(inc, base)
    if auc >= 0.5 or abs(2 * auc - 1) < MIN_EFFECT:
        return None
    label = Condition(sig, agg, "<", 0).label().rsplit(" ", 2)[0] + " vs its last " + TRAFFIC_BASELINE
    return Mover(sig, agg, "down", float(np.median(base)), float(np.median(inc)), abs(2 * auc - 1), label, len(inc))


def _traffic_options(db: sqlite_utils.Database, loader: SampleLoader, mover: Mover, scope: dict[str, tuple[str, ...]],
                     group_by: tuple[str, ...], times: np.ndarray, sep: np.ndarray, step: str, win: str,
                     start_ns: int, end_ns: int) -> list[_Option]:
    """Traffic-drop options: the window's trace count below a share of what the cohort's last TRAFFIC_BASELINE
    predicts for it (relative_to: window TRAFFIC_BASELINE, offset the window, factor share x window/baseline),
    judged only when that baseline held at least `floor` traces (min_samples: a quiet night's two traces
    predict nothing). Shares and floors come from the incident: the share a quarter / half of the way from
    the incident's ratio to the baseline's, the floor half / three quarters / all of the baseline traces the
    incident's first windows had (all: an outage at the busiest hour is judged only against hours as busy,
    whose ordinary gaps are shorter than a quiet hour's). Replayed with the proposed group_by, so every other group counts as elsewhere."""
    w = parse_duration(win) * NS
    bw = parse_duration(TRAFFIC_BASELINE) * NS
    t = np.sort(loader.load(mover.signal, scope, ())["t"].to_numpy(np.int64))
    ratio, expected = _traffic_ratio(t, times, w)
    early = (times > start_ns) & (times - w < end_ns) & ~np.isnan(expected)
    if not early.any():
        return []
    first = expected[early][: ON_TIME_STEPS + 1] * (bw / w)  # baseline traces behind the first windows
    out = []
    mine = tuple(scope[d][0] if len(scope[d]) == 1 else None for d in group_by)
    gap = abs(mover.baseline - mover.incident)
    for f in (0.25, 0.5):
        share = mover.incident + f * (mover.baseline - mover.incident)
        factor = _nice(share * w / bw)
        if factor <= 0:
            continue
        for floor in sorted({max(1, int(math.floor(q * float(np.max(first))))) for q in (0.5, 0.75, 1.0)}):
            rel = Relative(window=TRAFFIC_BASELINE, offset=win, factor=factor)
            cond = Condition(mover.signal, mover.aggregation, "<", 0.0, floor, None, rel)
            replayed = _replay_probe(db, loader, cond, win, floor, scope, group_by, mine, times, sep, step)
            if replayed is None:
                continue
            c, strip = replayed
            margin = min(f, 1 - f)
            loose = compare(c.values, "<", c.thresholds * (1 + LOOSEN * gap / max(share, 1e-9))) \
                if c.thresholds is not None else c.firing
            out.append(_Option(cond, c.firing, strip, margin, loose, np.ones(len(times), dtype=bool), c.holding))
    return out


#: Baselines a threshold relative to the cohort's own recent past is tried against: the same aggregation over
#: the hour, or the day, just before the window (relative_to {"window": L, "offset": <the rule's window>}),
#: as the window's value minus it (delta) or over it (factor). What moves every hour of a cohort at once
#: (its daily cycle, a judge that scores a varying share) moves the baseline too, so a smaller change stands
#: out earlier than against a fixed line.
PREVIOUS: tuple[str, ...] = ("1h", "1d")
#: Aggregations whose window value can be compared with the same aggregation over a baseline window.
RELATIVE_AGGREGATIONS: tuple[str, ...] = ("mean", "rate", "sum")


def _relative_leaves(movers: list[Mover], win: str) -> list[tuple[int, str, int, Condition]]:
    """(mover index, baseline length, minimum samples, probe condition) for every mover a relative threshold
    applies to: the probe's threshold is its baseline itself (delta 0), so one replay gives the window's value
    and its baseline at every evaluation, from which every delta or factor is judged."""
    out = []
    for k, m in enumerate(movers):
        if m.signal["type"] == TRAFFIC or m.tail_edge is not None or m.aggregation not in RELATIVE_AGGREGATIONS:
            continue
        for length in PREVIOUS:
            for ms in MIN_SAMPLES:
                out.append((k, length, ms, Condition(m.signal, m.aggregation, ">", 0.0, ms, None,
                                                     Relative(window=length, offset=win, delta=0.0))))
    return out


def _relative_options(mover: Mover, length: str, ms: int, win: str, own: Any, others: list[Any], overlap: np.ndarray,
                      incident: np.ndarray, sep: np.ndarray) -> list[_Option]:
    """Options for one mover against its own recent baseline (PREVIOUS), from a probe's series (`own`: the
    cohort's; `others`: the other groups' of the proposed group_by): the window's value beyond its baseline by
    a delta, or by a factor, placed as the plain thresholds are (between the baseline's high end and the
    incident's typical value of that difference or ratio, outside / inside the incident)."""
    up = mover.direction == "up"
    sign = 1.0 if up else -1.0
    comparator = ">" if up else "<"
    values, base = own.values, own.thresholds
    out: list[_Option] = []
    with np.errstate(invalid="ignore", divide="ignore"):
        forms = (("delta", values - base), ("factor", np.where(base > 0, values / base, np.nan)))
    for form, rel in forms:
        base_v = rel[~overlap & ~np.isnan(rel)]
        inc_v = rel[incident & ~np.isnan(rel)]
        if len(inc_v) == 0 or len(base_v) < 5:
            continue
        b_max = float(np.max(base_v * sign)) * sign
        b_hi = float(np.quantile(base_v * sign, 0.99)) * sign
        i_mid = float(np.median(inc_v))
        if (i_mid - b_hi) * sign <= 0:
            continue  # the incident's typical window is not beyond the baseline's high end
        gap = abs(i_mid - float(np.median(base_v))) or 1.0
        raw = {b_hi + f * (i_mid - b_hi) for f in (0.25, 0.5)} | {b_max + 0.25 * (i_mid - b_max)}
        for thr in sorted({_nice(x) for x in raw}):
            if form == "factor" and thr <= 0:
                continue

            def judge(series: Any, at: float) -> np.ndarray:
                # exactly as the backtest judges it: the value against baseline x factor, or baseline + delta
                # (a factor against an empty baseline's 0 fires on any value above 0, as the rule would)
                line = series.thresholds * at if form == "factor" else series.thresholds + at
                return compare(series.values, comparator, line)

            rel_to = (Relative(window=length, offset=win, factor=thr) if form == "factor"
                      else Relative(window=length, offset=win, delta=thr))
            cond = Condition(mover.signal, mover.aggregation, comparator, 0.0, ms, None, rel_to)
            rows = [judge(o, thr) for o in others]
            strip = np.concatenate([x for r in rows for x in (r, sep)]) if rows else np.zeros(0, bool)
            margin = min(abs(thr - b_hi), abs(i_mid - thr)) / gap
            loose = judge(own, thr - sign * LOOSEN * gap)
            out.append(_Option(cond, judge(own, thr), strip, margin, loose, ~np.isnan(values)))
    return out


#: Options of one mover combined across windows: the PER_MOVER // 2 fastest to page during the incident on
#: their own and the PER_MOVER // 2 quietest (false pages alone), see _best_rule
PER_MOVER = 12
#: ... and of each mover at one window, combined with the other movers' at that window (half of them for
#: ANDs of three)
PER_WINDOW = 8


def _holding(o: _Option) -> np.ndarray:
    return o.firing if o.holding is None else o.holding | o.firing


def _best_rule(pooled: list[tuple[int, str, _Option]], overlaps: dict[str, np.ndarray], times: np.ndarray,
               start_ns: int, end_ns: int, step_ns: int, resolve_steps: list[int], max_conditions: int,
               n_elsewhere: int, tried: list[dict[str, Any]]) -> tuple[tuple | None, tuple | None]:
    """The best rule over every window's options (`pooled`: mover, window, option), alone and as ANDs:
    of different movers, and of one mover over two windows (a short window for speed confirmed by a longer
    one); each condition keeps its own window, the rule's window is the shortest. Returns the best and the best
    of those still quiet with their thresholds moved LOOSEN towards the baseline (robust), each as (rank,
    conditions, window, score, pages elsewhere, the mover whose resolve spell is longest, the loosened
    rule's pages outside the incident), or None.

    An AND fires only where each of its conditions fires, so an option that pages on nothing of the incident
    alone can be in no rule that does: only those that do are combined. Within one window, the PER_WINDOW
    fastest and quietest of each mover (half as many for ANDs of three); across windows, the PER_MOVER
    fastest and quietest of each (bounds on the search: ~20k candidates at most, a few seconds)."""
    gap_all = max(resolve_steps)
    wins = {win: parse_duration(win) * NS for _k, win, _o in pooled}
    kept: dict[int, list[tuple[float, int, str, _Option]]] = {}
    for k, win, o in pooled:
        alone = _score(o.firing, times, start_ns, end_ns, wins[win], step_ns, gap_all, o.has_data, _holding(o))
        if alone.caught:
            kept.setdefault(k, []).append((alone.delay_steps, alone.false_pages, win, o))
    # the fastest (an AND is never faster than its slowest condition) and the quietest (nor noisier than its
    # quietest one): a fast noisy condition confirmed by a slower quiet one, of the same mover or another
    def fastest_and_quietest(v: list[tuple[float, int, str, _Option]], n: int) -> list[tuple[str, _Option]]:
        fast = sorted(range(len(v)), key=lambda i: (v[i][0], v[i][1]))[:n]
        quiet = sorted(range(len(v)), key=lambda i: (v[i][1], v[i][0]))[:n]
        return [(v[i][2], v[i][3]) for i in sorted(set(fast) | set(quiet))]

    singles: dict[int, list[tuple[str, _Option]]] = {k: [(win, o) for *_x, win, o in v] for k, v in kept.items()}
    by_window: dict[tuple[int, str], list[tuple[str, _Option]]] = {}
    triples: dict[tuple[int, str], list[tuple[str, _Option]]] = {}
    for k, v in kept.items():
        for win in {x[2] for x in v}:
            here = [x for x in v if x[2] == win]
            by_window[k, win] = fastest_and_quietest(here, PER_WINDOW)
            triples[k, win] = fastest_and_quietest(here, PER_WINDOW // 2)
    by_mover = {k: fastest_and_quietest(v, PER_MOVER // 2) for k, v in kept.items()}
    movers = sorted(by_mover)
    windows = sorted({win for _k, win in by_window}, key=lambda x: wins[x])

    def combos() -> Any:
        for k in movers:
            yield from (((k, x),) for x in singles[k])
        if max_conditions < 2:
            return
        seen: set[tuple[int, int]] = set()
        for win in windows:
            for i, a in enumerate(movers):
                for b in movers[i + 1:]:
                    for x in by_window.get((a, win), []):
                        for y in by_window.get((b, win), []):
                            seen.add((id(x[1]), id(y[1])))
                            yield ((a, x), (b, y))
        for i, a in enumerate(movers):
            for j, x in enumerate(by_mover[a]):  # one mover over two windows
                yield from (((a, x), (a, y)) for y in by_mover[a][j + 1:] if y[0] != x[0])
            for b in movers[i + 1:]:
                yield from (((a, x), (b, y)) for x in by_mover[a] for y in by_mover[b]
                            if (id(x[1]), id(y[1])) not in seen)
        if max_conditions < 3:
            return
        for win in windows:
            for group in itertools.combinations(movers[:4], 3):
                yield from (tuple(zip(group, choice)) for choice in
                            itertools.product(*(triples.get((k, win), []) for k in group)))

    best: dict[bool, tuple] = {}  # False: the best rule; True: the best whose quiet survives LOOSEN
    for combo in combos():
        choice = [o for _k, (_w, o) in combo]
        win_of = [w for _k, (w, _o) in combo]
        rule_win = min(win_of, key=lambda x: wins[x])
        longest = max(win_of, key=lambda x: wins[x])
        size = len(combo)
        slowest = max((k for k, _x in combo), key=lambda k: resolve_steps[k])
        gap_steps = resolve_steps[slowest]
        firing = np.logical_and.reduce([c.firing for c in choice])
        has_data = np.logical_or.reduce([c.has_data for c in choice])
        # held as the backtest holds it: every condition holding (its hysteresis, or its trigger)
        holding = np.logical_and.reduce([_holding(c) for c in choice])
        score = _score(firing, times, start_ns, end_ns, wins[rule_win], step_ns, gap_steps, has_data, holding)
        if not score.caught:
            continue
        strips = [c.strip for c in choice]
        if len({len(x) for x in strips}) == 1:
            other_false = len(_pages(np.logical_and.reduce(strips), gap_steps))
        else:  # a new-cohort option's rows are its own replay's groups: bound by the quietest
            other_false = min(len(_pages(x, gap_steps)) for x in strips)
        margin = min(c.margin for c in choice)
        fragile = len(_pages(np.logical_and.reduce([c.loose for c in choice]) & ~overlaps[longest], gap_steps,
                             has_data))
        sk = score.key()
        # noise elsewhere, per other group: none, at most one page per two groups, more
        per_group = other_false / max(1, n_elsewhere)
        noise = 0 if other_false == 0 else 1 if per_group <= 0.5 else 2
        # on time before quiet elsewhere: the rule is scoped to the cohort, so pages in the other
        # groups are what the proposed group_by would add (a warning), not the rule's false pages.
        # A latency-only rule on time (INC-01: retriever p95 on refunds, step 1, 0 false) beats a
        # joint one two steps later that is also quiet on other routes; among rules on time, the
        # quieter elsewhere still wins
        on_time = score.delay_steps <= ON_TIME_STEPS
        # (sk[2]: minus the delay, any delay within ON_TIME_STEPS counted as on time: among rules on time the
        # quieter elsewhere wins; among late ones the earlier, for the same reason: those pages are a warning)
        rank = (score.caught, -score.false_pages, -min(score.pages_in, 2), on_time, -min(fragile, 1),
                sk[2], -noise, *sk[3:], -size, round(margin, 2), -wins[longest], -wins[rule_win])
        for robust in ((False, True) if fragile == 0 else (False,)):
            if robust not in best or rank > best[robust][0]:
                conditions = [c.cond if w == rule_win or getattr(c.cond, "window", None) is not None
                              else dataclasses.replace(c.cond, window=w) for c, w in zip(choice, win_of)]
                best[robust] = (rank, conditions, rule_win, score, other_false, slowest, fragile)
        if size == 1:
            tried.append({"condition": choice[0].cond.label(), "window": rule_win, "caught": score.caught,
                          "false_pages": score.false_pages, "false_pages_elsewhere": other_false,
                          "delay_steps": float(score.delay_steps)})
    return best.get(False), best.get(True)


@with_database  # a path is opened for the call and closed after it
def suggest_rule(db: "str | sqlite_utils.Database", start_ns: int, end_ns: int,
                 cohort: dict[str, Any] | None = None, *, window: str = "auto", step: str = "5m",
                 since_ns: int | None = None, until_ns: int | None = None, name: str = "suggested-alert",
                 max_conditions: int = 3, top: int = 5) -> Suggestion:
    """Propose a rule that pages during [start_ns, end_ns) in `cohort` and stays quiet elsewhere."""
    db = connect(db) if not isinstance(db, sqlite_utils.Database) else db
    if end_ns <= start_ns:
        raise ValueError("the incident must end after it starts")
    scope = {k: tuple(v) if isinstance(v, (list, tuple)) else (str(v),) for k, v in (cohort or {}).items()}
    for key in scope:
        try:
            cohorts.resolve(key, derived=False)
        except cohorts.CohortError:
            raise ValueError(f"unknown cohort dimension {key!r}; valid choices: {', '.join(cohorts.names())} "
                             f"or dims.NAME") from None
    span = data_range(db)
    if span is None:
        raise ValueError("the database holds no spans; ingest traces first")
    step_ns = parse_duration(step) * NS
    windows = WINDOWS if window == "auto" else (window,)
    longest = max(parse_duration(w) for w in windows) * NS
    loader = SampleLoader(db, span[0] - longest - step_ns, span[1] + step_ns)
    traffic = loader.load({"type": "spans_per_trace"}, scope, ())
    if len(traffic) == 0:
        from .lint import missing_values

        unknown = missing_values(db, "cohort", scope)
        raise ValueError("; ".join(unknown) if unknown else
                         "no data in this cohort; widen the cohort or the time range")
    new = bool(scope) and _is_new(loader, scope, start_ns)
    ref_scope, ref_note = (_reference_scope(db, loader, scope, start_ns, end_ns) if new else (scope, ""))
    # the dimension whose value is new (a prompt version, a model): also tried as relative_to.new_cohort
    new_dim = next((d for d in scope if d in cohorts.names() and _is_new(loader, {d: scope[d]}, start_ns)),
                   None) if new else None
    candidates = candidate_signals(db)
    scored: list[tuple[str, float]] = []
    movers = _movers(loader, candidates, scope, ref_scope, new, start_ns, end_ns, longest, scored)
    reference = {"scope": {k: list(v) for k, v in ref_scope.items()}, "why": ref_note} if new else None
    if not movers:
        closest = sorted(scored, key=lambda x: -x[1])[:3]
        return _no_rule(start_ns, end_ns, [], reference, general_by=tuple(scope), explanation=(
            f"no signal moved against its baseline in this cohort during the incident"
            + (f" (compared with {ref_note})" if new else " (its own history outside the incident)")
            + f": {len(scored)} signals were compared sample by sample; none separates incident from baseline "
            f"samples (|2 AUC - 1| >= {MIN_EFFECT:g}) nor has its p99 beyond every baseline sample with a tail too "
            f"large for chance"
            + (". Closest: " + ", ".join(f"{label} {e:.2f}" for label, e in closest) if closest else "")
            + ". Check the time range and cohort (the signal may have moved in a wider cohort), or write the rule "
              "by hand in the builder."))
    top_movers = movers[:top]
    gap_steps = int(parse_duration(RESOLVE_AFTER) * NS // step_ns)
    # per mover, the clear spell that resolves its pages: RESOLVE_AFTER, or longer for a sparse event
    resolves = [_sparse_resolve(loader, m, scope, start_ns, end_ns) for m in top_movers]
    resolve_steps = [int(parse_duration(r) * NS // step_ns) for r in resolves]
    general_by = tuple(scope)  # the proposed group_by: the same rule for every value of these
    since = since_ns if since_ns is not None else span[0] + parse_duration(windows[0]) * NS
    times = evaluation_grid(since, until_ns if until_ns is not None else span[1], parse_duration(step))

    tried: list[dict[str, Any]] = []
    pooled: list[tuple[int, str, _Option]] = []  # (mover, window, option) of every window
    overlaps: dict[str, np.ndarray] = {}
    n_elsewhere_max = 0
    for win in windows:
        w = parse_duration(win) * NS
        leaves = tuple(Condition(m.signal, m.aggregation, ">", 0, 1) for m in top_movers)
        probe = AlertRule(name=name, condition=Group("any", leaves), window=win, step=step, scope=scope,
                          min_samples=1)
        series = backtest(db, probe, times=times, loader=loader, episodes=False).groups
        if not series:
            continue
        # Elsewhere: the same signals in the other groups of the cohort's dimensions (the rule generalised
        # with group_by), and for a new cohort the reference cohort's history. Every page there is false.
        elsewhere: list[list[Any]] = []
        if scope:
            general = AlertRule(name=name, condition=Group("any", leaves), window=win, step=step, min_samples=1,
                                scope={k: v for k, v in scope.items() if k not in general_by},
                                group_by=general_by)
            mine = tuple(scope[d][0] if len(scope[d]) == 1 else None for d in general_by)
            elsewhere = [g.conditions for g in backtest(db, general, times=times, loader=loader, episodes=False).groups
                         if tuple(g.group.get(d) for d in general_by) != mine]
        if new:
            ref_probe = AlertRule(name=name, condition=Group("any", leaves), window=win, step=step, scope=ref_scope,
                                  min_samples=1)
            groups = backtest(db, ref_probe, times=times, loader=loader, episodes=False).groups
            ref_series = groups[0].conditions if groups else None
        else:
            ref_series = None
        conds = series[0].conditions
        # the movers against their own recent past (PREVIOUS): one replay of every probe, in the cohort and,
        # for the pages elsewhere, in the other groups of the proposed group_by (a new cohort has no past)
        rel_leaves = _relative_leaves(top_movers, win) if not new else []
        rel_own: list[Any] = []
        rel_elsewhere: list[list[Any]] = []
        if rel_leaves:
            rel_probe = AlertRule(name=name, condition=Group("any", tuple(c for *_x, c in rel_leaves)), window=win,
                                  step=step, scope=scope, min_samples=1)
            got = backtest(db, rel_probe, times=times, loader=loader, episodes=False).groups
            rel_own = got[0].conditions if got else []
            if scope and rel_own:
                rel_general = AlertRule(name=name, condition=rel_probe.condition, window=win, step=step,
                                        min_samples=1, scope={k: v for k, v in scope.items() if k not in general_by},
                                        group_by=general_by)
                mine_r = tuple(scope[d][0] if len(scope[d]) == 1 else None for d in general_by)
                rel_elsewhere = [g.conditions for g in backtest(db, rel_general, times=times, loader=loader, episodes=False).groups
                                 if tuple(g.group.get(d) for d in general_by) != mine_r]
        overlap = (times > start_ns - w) & (times - w < end_ns + w)
        incident = (times - w // 2 >= start_ns) & (times - w // 2 < end_ns)
        if not incident.any():
            incident = (times > start_ns) & (times - w < end_ns)
        before = times < start_ns
        n_elsewhere = len(elsewhere) + (1 if ref_series else 0)
        sep = np.zeros(max(resolve_steps) + 1, dtype=bool)  # rows laid end to end never merge into one page
        options: list[list[_Option]] = []
        for k, mover in enumerate(top_movers):
            cond_opts = []
            up = mover.direction == "up"
            sign = 1 if up else -1
            if mover.signal["type"] == TRAFFIC:
                options.append(_traffic_options(db, loader, mover, scope, general_by, times, sep, step, win,
                                                start_ns, end_ns))
                continue
            for ms in MIN_SAMPLES:
                values = np.where(conds[k].counts >= ms, conds[k].values, np.nan)
                rv = np.where(ref_series[k].counts >= ms, ref_series[k].values, np.nan) if ref_series else None
                base_v = rv[before & ~np.isnan(rv)] if rv is not None else values[~overlap & ~np.isnan(values)]
                inc_v = values[incident & ~np.isnan(values)]
                if len(inc_v) == 0 or len(base_v) < 5:
                    continue
                b_max = float(np.max(base_v * sign)) * sign
                b_hi = float(np.quantile(base_v * sign, 0.99)) * sign
                # a tail mover's typical incident window holds no tail event: its target is the incident's p99
                i_mid = mover.incident if mover.tail_edge is not None else float(np.median(inc_v))
                if (i_mid - b_hi) * sign <= 0:
                    continue  # the incident's typical window is not beyond the baseline's high end
                other_v = [np.where(o[k].counts >= ms, o[k].values, np.nan) for o in elsewhere]
                raw = {b_hi + f * (i_mid - b_hi) for f in (0.25, 0.5)} | {b_max + 0.25 * (i_mid - b_max)}
                for thr in sorted({_nice(x) for x in raw}):
                    cond = Condition(mover.signal, mover.aggregation, ">" if up else "<", thr, ms)
                    gap = abs(i_mid - float(np.median(base_v))) or 1.0
                    margin = min(abs(thr - b_hi), abs(i_mid - thr)) / gap
                    # elsewhere, as one row-separated strip (one page count for all rows)
                    rows = [compare(ov, cond.comparator, thr) for ov in other_v]
                    if rv is not None:
                        rows.append(compare(rv, cond.comparator, thr) & before)
                    strip = np.concatenate([x for r in rows for x in (r, sep)]) if rows else np.zeros(0, bool)
                    # the same condition loosened by LOOSEN of the gap towards the baseline: a rule whose
                    # quiet depends on a threshold placed within a hair of ordinary values is fragile
                    loose = compare(values, cond.comparator, thr - sign * LOOSEN * gap)
                    cond_opts.append(_Option(cond, compare(values, cond.comparator, thr), strip, margin, loose,
                                      ~np.isnan(values)))
            if mover.aggregation == "rate":
                cond_opts.extend(_confident_options(mover, conds[k], ref_series[k] if ref_series else None,
                                                    [o[k] for o in elsewhere], before, sep))
            for j, (owner, length, ms, _probe) in enumerate(rel_leaves):
                if owner == k and rel_own:
                    cond_opts.extend(_relative_options(mover, length, ms, win, rel_own[j], [o[j] for o in rel_elsewhere],
                                                       overlap, incident, sep))
            if new_dim is not None and win == windows[0] and mover.aggregation != "rate":
                # against the value it replaced when the suggester found one (_reference_scope), else the rest
                versus = "replaced" if ref_scope.get(new_dim) not in (None, scope[new_dim]) else "rest"
                cond_opts.extend(_new_cohort_options(db, loader, mover, new_dim, scope, general_by, times, sep,
                                                     step, versus))
            options.append(cond_opts)
        for k, cond_opts in enumerate(options):
            pooled.extend((k, win, o) for o in cond_opts)
        overlaps[win] = overlap
        n_elsewhere_max = max(n_elsewhere_max, n_elsewhere)

    best, robust = _best_rule(pooled, overlaps, times, start_ns, end_ns, step_ns, resolve_steps, max_conditions,
                              n_elsewhere_max, tried)
    if best is None:
        return _no_rule(start_ns, end_ns, movers, reference, general_by=general_by, explanation=(
            f"no threshold separates the incident from its baseline in this cohort: {len(top_movers)} signal(s) "
            f"moved ({', '.join(f'{m.label} {m.direction}' for m in top_movers)}), but no rule on them over "
            f"{', '.join(windows)} windows pages during the incident (the incident's windows look like ordinary "
            f"ones, or hold too few samples). Try a longer time range, or write the rule by hand in the builder."))
    _key, conditions, win, score, other_false, slowest, fragile = best
    resolve_after = resolves[slowest]
    node = conditions[0] if len(conditions) == 1 else Group("all", tuple(conditions))
    scope_desc = ", ".join(f"{k}={'|'.join(v)}" for k, v in scope.items()) or "all traffic"
    # a new-cohort condition judges each group of its dimension against its peers: the rule groups by the
    # cohort's dimensions instead of pinning them
    grouped = any(c.relative_to is not None and c.relative_to.new_cohort is not None for c in conditions)
    rule_scope = {k: v for k, v in scope.items() if k not in general_by} if grouped else scope
    rule = AlertRule(
        name=name, condition=node, window=win, step=step, scope=rule_scope, severity="high",
        group_by=general_by if grouped else (),
        description=f"Suggested from the incident {_iso(start_ns)} to {_iso(end_ns)} on {scope_desc}: "
                    + "; ".join(f"{m.label} {m.direction} ({m.baseline:.3g} -> {m.incident:.3g})"
                                for m in top_movers if any(c.signal == m.signal for c in conditions))
                    + (f"; resolved only after {resolve_after} clear: the incident's events came up to that far apart"
                       if resolve_after != RESOLVE_AFTER else ""),
        runbook="Open the Cohorts page on this scope for the firing window; compare with the hour before.",
        resolve_after=resolve_after, no_data="keep",
    )
    result = backtest(db, rule, times=times)
    w = rule.window_s * NS
    caught = any(e.start_ns > start_ns and e.window_start_ns < end_ns for e in result.episodes) or any(
        bool((g.firing & (times > start_ns) & (times - w < end_ns)).any()) for g in result.groups)
    false = sum(1 for e in result.episodes if not (e.end_ns > start_ns and e.window_start_ns < end_ns))
    # what is reported is what the pager would have done: the backtest's pages through the on-call states
    # (states.pages), in the cohort's group; a page overlaps the incident when it fired before the incident's
    # end (its window reaching into it) and had not resolved by its start
    cohort_group = {d: scope[d][0] for d in rule.group_by if len(scope[d]) == 1}
    found = [p for p in pages(rule, result) if not rule.group_by or p.group == cohort_group]
    inside = [p for p in found if p.fired_ns - w < end_ns
              and (p.resolved_ns if p.resolved_ns is not None else math.inf) > start_ns]
    delay = max(0, min(p.fired_ns for p in inside) - start_ns) / 60 / NS if inside else None
    s = Suggestion(rule, movers, result, caught, false, start_ns, end_ns, tried, delay_min=delay,
                   false_pages=len(found) - len(inside), pages_in_incident=len(inside),
                   reference=reference, reference_false_pages=other_false, group_by=general_by,
                   fragile_pages=fragile)
    if fragile and robust is not None:
        r_conditions, r_win, r_score = robust[1], robust[2], robust[3]
        s.robust_alternative = {"rule": " AND ".join(c.label() for c in r_conditions) + f" (window {r_win})",
                                "window": r_win, "delay_steps": float(r_score.delay_steps),
                                "false_pages": r_score.false_pages}
    s.warnings = _warnings(s, step_ns, new, times, start_ns, end_ns)
    return s


def _no_rule(start_ns: int, end_ns: int, movers: list[Mover], reference: dict[str, Any] | None, *,
             general_by: tuple[str, ...], explanation: str) -> Suggestion:
    """The answer when no rule is proposed: the explanation, also as the one warning (what the page shows)."""
    return Suggestion(None, movers, None, False, 0, start_ns, end_ns, reference=reference, group_by=general_by,
                      warnings=[explanation], explanation=explanation)


def _warnings(s: Suggestion, step_ns: int, new: bool, times: np.ndarray, start_ns: int, end_ns: int) -> list[str]:
    out = []
    if not s.caught:
        out.append("the proposed rule does not page during the marked incident")
    elif s.delay_min is not None and s.delay_min > ON_TIME_STEPS * step_ns / 60 / NS:
        out.append(f"the rule pages {s.delay_min:.0f} min after the incident start ({s.delay_min * 60 * NS / step_ns:.0f} "
                   f"steps): the cohort's traffic or the signals' movement gives no earlier evidence")
    if s.false_pages:
        out.append(f"the rule would have paged {s.false_pages} time(s) outside the marked incident")
    if s.fragile_pages:
        text = (f"the rule's quiet hangs on where its thresholds sit: moved {LOOSEN:.0%} of the way towards the "
                f"baseline they page {s.fragile_pages} time(s) outside the incident")
        alt = s.robust_alternative
        if alt is not None:
            text += (f"; the earliest rule that stays quiet so is {alt['rule']}, paging {alt['delay_steps']:.0f} "
                     f"step(s) after the incident start")
        out.append(text)
    if s.pages_in_incident > 1:
        out.append(f"the rule pages {s.pages_in_incident} times during the incident (it clears between pages)")
    outside = ((times < start_ns) | (times >= end_ns)).sum()
    if new and s.reference is not None:
        out.append(f"the cohort did not exist before the incident; its baseline is {s.reference['why']}")
    if s.reference_false_pages:
        out.append(f"with group_by {', '.join(s.group_by)} (or on the reference cohort) the rule would have paged "
                   f"{s.reference_false_pages} time(s) elsewhere")
    if outside * step_ns < 86_400 * NS:
        out.append(f"only {outside * step_ns / 3.6e12:.1f} h of history outside the incident to judge false pages on")
    return out


def _iso(ns: int) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(ns / NS, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def suggest_from_text(db: "str | sqlite_utils.Database", start: str, end: str, cohort: dict[str, Any],
                      **kw: Any) -> Suggestion:
    """suggest_rule with ISO times (as typed on the page)."""
    from .evaluate import parse_time

    return suggest_rule(db, parse_time(start), parse_time(end), cohort, **kw)
