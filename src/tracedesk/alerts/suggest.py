"""Suggest a joint alert from an incident the user marked (a time range and a cohort).

1. Every candidate signal present in the cohort is replayed over history in one backtest (one query
   per signal), with its usual aggregation (mean score, p95 duration, rate of errors...).
2. Each is scored by how far its incident windows sit from its baseline windows, in robust units
   (median difference / scaled MAD of the baseline): the signals that "moved most".
3. For the strongest movers, a few thresholds between the baseline's high end and the incident's
   typical value are tried, alone and in pairs/triples; the rule kept is the one that catches the
   incident with the fewest episodes elsewhere (then: more incident coverage, more margin, fewer
   conditions, stronger signals).
4. The proposal is backtested for real and returned with the ranking.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlite_utils

from ..store import connect
from .. import cohorts
from .definition import SIGNAL_SPECS, AlertRule, Condition, Group, parse_duration
from .evaluate import NS, BacktestResult, backtest, compare, data_range, evaluation_grid



@dataclass
class Mover:
    signal: dict[str, Any]
    aggregation: str
    direction: str  # "up" | "down"
    baseline: float  # median over baseline windows
    incident: float  # median over incident windows
    effect: float  # |median difference| / robust baseline spread
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"signal": self.signal, "aggregation": self.aggregation, "direction": self.direction,
                "baseline": round(self.baseline, 6), "incident": round(self.incident, 6),
                "effect": round(self.effect, 3), "label": self.label}


@dataclass
class Suggestion:
    rule: AlertRule
    movers: list[Mover]
    backtest: BacktestResult
    caught: bool
    false_episodes: int
    incident_start_ns: int
    incident_end_ns: int
    alternatives: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from .definition import rule_to_dict

        return {"rule": rule_to_dict(self.rule), "caught": self.caught, "false_episodes": self.false_episodes,
                "movers": [m.to_dict() for m in self.movers],
                "episodes": [e.to_dict() for e in self.backtest.episodes],
                "summary": self.backtest.summary()}


def candidate_signals(db: sqlite_utils.Database) -> list[tuple[dict[str, Any], str]]:
    """(signal, aggregation) pairs worth trying on this database, each with its registry aggregation."""
    from ..signals import get
    from ..store.query import distinct_values, evaluator_names

    out: list[dict[str, Any]] = []
    for name in evaluator_names(db, scored=True):
        if name != "user_feedback":
            out.append({"type": "eval_score", "evaluator": name})
    kinds = sorted(distinct_values(db, "kind"))
    for kind in kinds:
        out.append({"type": "duration", "span_kind": kind})
    out.append({"type": "trace_duration"})
    if "TOOL" in kinds:
        out.append({"type": "error_rate", "span_kind": "TOOL"})
    out.append({"type": "error_rate"})
    if "LLM" in kinds:
        out += [{"type": t} for t in ("ttft", "input_tokens", "output_tokens", "refusal_rate_answer")]
    out += [{"type": t} for t in ("cost_per_trace", "tool_calls_per_trace", "llm_calls_per_trace", "spans_per_trace")]
    if "user_feedback" in evaluator_names(db):
        out.append({"type": "thumbs_down_rate"})
    return [(sig, get(sig["type"]).aggregation) for sig in out if sig["type"] in SIGNAL_SPECS]


#: A signal whose typical window holds fewer samples than this is not proposed as a condition.
MIN_USUAL_SAMPLES = 3

#: Windows the suggester may pick, shortest first (short = fast to detect, long = steadier values).
AUTO_WINDOWS: tuple[str, ...] = ("15m", "30m", "1h", "2h", "6h")


def pick_window(db: sqlite_utils.Database, scope: dict[str, tuple[str, ...]], span: tuple[int, int],
                min_traces: int = 5) -> str:
    """The shortest window whose typical (median) window holds at least `min_traces` traces of the cohort."""
    from ..signals import SampleQuery, samples

    t = samples(db, {"type": "spans_per_trace"}, SampleQuery(scope, ()))["t"].to_numpy(np.int64)
    for window in AUTO_WINDOWS:
        w = parse_duration(window) * NS
        grid = np.arange(span[0] + w, span[1] + 1, w, dtype=np.int64)
        if len(grid) == 0:
            break
        counts = np.searchsorted(t, grid, side="right") - np.searchsorted(t, grid - w, side="right")
        if np.median(counts) >= min_traces:
            return window
    return AUTO_WINDOWS[-1]


def _nice(x: float) -> float:
    """Round a threshold to 2 significant digits (people read and edit these)."""
    if x == 0 or not math.isfinite(x):
        return 0.0
    digits = 1 - int(math.floor(math.log10(abs(x))))
    return float(round(x, digits))


def _episode_mask(firing: np.ndarray) -> list[tuple[int, int]]:
    f = np.concatenate(([0], firing.astype(np.int8), [0]))
    d = np.diff(f)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1))


def _score(firing: np.ndarray, incident: np.ndarray, overlap: np.ndarray) -> tuple[bool, int, float]:
    """(caught, false episodes, share of incident windows firing) for a firing mask."""
    caught = bool((firing & incident).any())
    false = sum(1 for a, b in _episode_mask(firing) if not overlap[a:b + 1].any())
    coverage = float((firing & incident).sum() / max(1, incident.sum()))
    return caught, false, coverage


def suggest_rule(db: "str | sqlite_utils.Database", start_ns: int, end_ns: int,
                 cohort: dict[str, Any] | None = None, *, window: str = "auto", step: str = "5m",
                 since_ns: int | None = None, until_ns: int | None = None, name: str = "suggested-alert",
                 max_conditions: int = 3, top: int = 6) -> Suggestion:
    """Propose a joint rule that fires during [start_ns, end_ns) in `cohort` and rarely elsewhere."""
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
    if window == "auto":
        window = pick_window(db, scope, span)
    probe = AlertRule(name=name, condition=Condition({"type": "spans_per_trace"}, "count", ">", 0),
                      window=window, step=step, scope=scope)
    w = probe.window_s * NS
    times = evaluation_grid(since_ns if since_ns is not None else span[0] + w,
                            until_ns if until_ns is not None else span[1], probe.step_s)
    # Windows mostly inside the incident count as "incident"; windows touching it are not baseline.
    incident = (times - w // 2 >= start_ns) & (times - w // 2 < end_ns)
    overlap = (times > start_ns) & (times - w < end_ns)
    if not incident.any():
        # A short incident (< half a window): take the windows that touch it.
        incident = overlap.copy()
    baseline = ~overlap

    candidates = candidate_signals(db)
    leaves = [Condition(sig, agg, ">", 0) for sig, agg in candidates]
    replay = backtest(db, AlertRule(name=name, condition=Group("any", tuple(leaves)), window=window,
                                    step=step, scope=scope), times=times)
    if not replay.groups:
        raise ValueError("no data in this cohort; widen the cohort or the time range")
    series = replay.groups[0].conditions

    movers: list[tuple[Mover, np.ndarray, int]] = []
    for leaf, s in zip(leaves, series):
        # Each condition needs a sample size near its usual one: thin windows are noise.
        usual = float(np.median(s.counts[baseline])) if baseline.any() else 0.0
        if usual < MIN_USUAL_SAMPLES:
            continue  # too sparse in this cohort to alert on (one or two samples decide a window)
        min_samples = max(2, int(math.floor(0.3 * usual)))
        values = np.where(s.counts >= min_samples, s.values, np.nan)
        inc_v, base_v = values[incident], values[baseline]
        inc_v, base_v = inc_v[~np.isnan(inc_v)], base_v[~np.isnan(base_v)]
        if len(inc_v) < 1 or len(base_v) < 5:
            continue
        b_med, i_med = float(np.median(base_v)), float(np.median(inc_v))
        mad = float(np.median(np.abs(base_v - b_med))) * 1.4826
        # MAD is 0 for a mostly-zero rate: fall back to the standard deviation, then to a floor.
        spread = max(mad, float(np.std(base_v)), 0.05 * abs(b_med), 1e-6)
        effect = abs(i_med - b_med) / spread
        if effect < 1.0:
            continue
        direction = "up" if i_med > b_med else "down"
        movers.append((Mover(leaf.signal, leaf.aggregation, direction, b_med, i_med, effect,
                             Condition(leaf.signal, leaf.aggregation, ">" if direction == "up" else "<", 0)
                             .label().rsplit(" ", 2)[0]), values, min_samples))
    movers.sort(key=lambda m: -m[0].effect)
    if not movers:
        raise ValueError("no signal moved against its baseline in this cohort during the incident")
    top_movers = movers[:top]

    # Thresholds per mover: between the baseline's high end and the incident's typical value.
    options: list[list[tuple[Condition, np.ndarray, float]]] = []
    for mover, values, min_samples in top_movers:
        inc_v = values[incident & ~np.isnan(values)]
        base_v = values[baseline & ~np.isnan(values)]
        up = mover.direction == "up"
        sign = 1 if up else -1
        b_hi = float(np.quantile(base_v * sign, 0.95)) * sign
        b_mid = float(np.median(base_v))
        i_mid = float(np.median(inc_v))
        i_lo = float(np.quantile(inc_v * sign, 0.25)) * sign
        raw = {b_hi + f * (i_mid - b_hi) for f in (0.25, 0.5, 0.75)} | {(b_mid + i_mid) / 2, (b_hi + i_lo) / 2}
        cond_opts = []
        for thr in sorted({_nice(t) for t in raw}):
            cond = Condition(mover.signal, mover.aggregation, ">" if up else "<", thr, min_samples)
            firing = compare(values, cond.comparator, thr)
            # margin: how far the threshold sits from both sides, in units of the gap
            gap = abs(i_mid - b_mid) or 1.0
            margin = min(abs(thr - b_hi), abs(i_mid - thr)) / gap
            cond_opts.append((cond, firing, margin))
        options.append(cond_opts)

    best: tuple | None = None
    tried: list[dict[str, Any]] = []
    for size in range(1, min(max_conditions, len(options)) + 1):
        for combo in itertools.combinations(range(len(options)), size):
            for choice in itertools.product(*(options[i] for i in combo)):
                firing = np.logical_and.reduce([c[1] for c in choice])
                caught, false, coverage = _score(firing, incident, overlap)
                margin = min(c[2] for c in choice)
                strength = sum(top_movers[i][0].effect for i in combo)
                # Prefer: caught, no noise, a joint rule (>= 2 conditions when as clean: the point of joint
                # alerts), covering the incident, fewer conditions, the strongest movers, safe margins.
                key = (caught, -false, size >= 2, round(coverage, 1), -size, round(strength, 1), round(margin, 2))
                if best is None or key > best[0]:
                    best = (key, [c[0] for c in choice])
                if size == 1:
                    tried.append({"condition": choice[0][0].label(), "caught": caught, "false_episodes": false,
                                  "coverage": round(coverage, 3)})
    assert best is not None
    conditions = best[1]
    node = conditions[0] if len(conditions) == 1 else Group("all", tuple(conditions))
    scope_desc = ", ".join(f"{k}={'|'.join(v)}" for k, v in scope.items()) or "all traffic"
    rule = AlertRule(
        name=name, condition=node, window=window, step=step, scope=scope, severity="high",
        description=f"Suggested from the incident {_iso(start_ns)} to {_iso(end_ns)} on {scope_desc}: "
                    + "; ".join(f"{m.label} {m.direction} ({m.baseline:.3g} -> {m.incident:.3g})"
                                for m, _v, _c in top_movers
                                if any(c.signal == m.signal for c in conditions)),
        runbook="Open the Cohorts page on this scope for the firing window; compare with the hour before.",
    )
    result = backtest(db, rule, times=times)
    caught = any(e.start_ns > start_ns and e.window_start_ns < end_ns for e in result.episodes) or any(
        bool((g.firing & incident).any()) for g in result.groups)
    false = sum(1 for e in result.episodes if not (e.end_ns > start_ns and e.window_start_ns < end_ns))
    return Suggestion(rule, [m for m, _v, _c in movers], result, caught, false, start_ns, end_ns, tried)


def _iso(ns: int) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(ns / NS, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def suggest_from_text(db: "str | sqlite_utils.Database", start: str, end: str, cohort: dict[str, Any],
                      **kw: Any) -> Suggestion:
    """suggest_rule with ISO times (as typed on the page)."""
    from .evaluate import parse_time

    return suggest_rule(db, parse_time(start), parse_time(end), cohort, **kw)
