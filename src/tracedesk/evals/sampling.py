"""Which spans to judge when judging all of them costs too much.

A uniform 1% sample misses the rare expensive failures, so the failure-biased sampler fills its
budget in priority order from the places failures live, then keeps a uniform baseline share so
scores can still be compared with the population:

  1. error      spans with status ERROR (a trace-level unit: its trace had an error)
  2. low_score  spans (traces) whose existing scores include one below `low_score` (worst first)
  3. feedback   units in traces a user marked thumbs_down or escalated ("user_feedback")
  4. long       units in traces at or above the p95 trace duration (longest first)
  5. expensive  units in traces at or above the p95 trace cost (costliest first)
  6. outlier    spans above the p99 duration or tokens of their kind (needs 20+ spans of the kind)
  7. baseline   a uniform draw from everything not yet picked (at least `baseline_share`)

Everything random comes from `random.Random(seed)`: the same seed and data give the same sample.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .data import Unit
from ..errors import EvalError

STRATEGIES: tuple[str, ...] = ("failure-biased", "uniform", "all")
POOLS: tuple[str, ...] = ("error", "low_score", "feedback", "long", "expensive", "outlier", "baseline")


@dataclass
class Sample:
    units: list[Unit]
    #: (trace_id, span_id) -> the pool that picked it
    reasons: dict[tuple[str, str], str]
    population: int
    strategy: str
    seed: int
    composition: dict[str, int] = field(default_factory=dict)
    #: candidates drawn but not kept because no chosen evaluator could judge them (inputs missing)
    unjudgeable: int = 0
    #: input name -> how many of those candidates lacked it ("output": 8, "context": 4)
    lacking: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.composition.items() if v)
        text = f"{len(self.units)} of {self.population} ({self.strategy}, seed {self.seed}): {parts or 'empty'}"
        if self.unjudgeable:
            why = ", ".join(f"{n} lacked {name}" for name, n in sorted(self.lacking.items(), key=lambda kv: -kv[1]))
            text += f"; {self.unjudgeable} candidates passed over because no evaluator could judge them ({why})"
        return text


def _quantile(values: Sequence[float], q: float) -> float | None:
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    idx = min(len(vals) - 1, max(0, int(round(q * (len(vals) - 1)))))
    return vals[idx]


def _above(cut: float | None, median: float | None) -> float | None:
    """The tail cut, nudged just above the median when they tie (None when there is no data)."""
    if cut is None or median is None:
        return None
    return cut if cut > median else median * (1 + 1e-9) + 1e-12


def _key(u: Unit) -> tuple[str, str]:
    return (u.trace_id, u.span_id)


def _finish(picked: list[tuple[Unit, str]], population: int, strategy: str, seed: int) -> Sample:
    comp = {p: 0 for p in POOLS}
    for _, reason in picked:
        comp[reason] = comp.get(reason, 0) + 1
    return Sample([u for u, _ in picked], {_key(u): r for u, r in picked}, population, strategy, seed, comp)


def uniform(units: Sequence[Unit], budget: int | None, *, seed: int = 0) -> Sample:
    rng = random.Random(seed)
    chosen = list(units) if budget is None or budget >= len(units) else rng.sample(list(units), budget)
    return _finish([(u, "baseline") for u in chosen], len(units), "uniform", seed)


def failure_biased(
    units: Sequence[Unit],
    budget: int | None,
    *,
    seed: int = 0,
    baseline_share: float = 0.2,
    low_score: float = 0.5,
    tail: float = 0.95,
    outlier_q: float = 0.99,
) -> Sample:
    rng = random.Random(seed)
    order = list(units)
    rng.shuffle(order)  # ties inside a pool break by this seeded order
    n = len(order) if budget is None else max(0, min(budget, len(order)))
    baseline_n = round(n * baseline_share) if n < len(order) else 0
    failure_n = n - baseline_n

    traces = {u.trace_id: u for u in order}.values()
    # A tail cut must also sit above the median: where most traces tie (all 1 s), the p95 is that tie
    # value and "long" would otherwise mean "everything".
    durations = [t.trace_duration_ms for t in traces if t.trace_duration_ms]
    costs = [t.trace_cost_usd for t in traces if t.trace_cost_usd]
    long_cut = _above(_quantile(durations, tail), _quantile(durations, 0.5))
    cost_cut = _above(_quantile(costs, tail), _quantile(costs, 0.5))
    by_kind: dict[str, list[Unit]] = {}
    for u in order:
        by_kind.setdefault(u.kind, []).append(u)
    cuts: dict[str, tuple[float | None, float | None]] = {}
    for kind, group in by_kind.items():
        if len(group) >= 20:
            cuts[kind] = (_quantile([g.duration_ms for g in group if g.duration_ms], outlier_q),
                          _quantile([g.tokens for g in group if g.tokens], outlier_q))

    def outlier_ratio(u: Unit) -> float:
        dcut, tcut = cuts.get(u.kind, (None, None))
        r = 0.0
        if dcut and u.duration_ms and u.duration_ms > dcut:
            r = max(r, u.duration_ms / dcut)
        if tcut and u.tokens and u.tokens > tcut:
            r = max(r, u.tokens / tcut)
        return r

    pools: list[tuple[str, Callable[[Unit], bool], Callable[[Unit], float] | None]] = [
        ("error", lambda u: u.status == "ERROR" or (u.is_root and u.trace_errors > 0), None),
        ("low_score", lambda u: u.min_score is not None and u.min_score < low_score, lambda u: u.min_score or 0.0),
        ("feedback", lambda u: u.bad_feedback, None),
        ("long", lambda u: long_cut is not None and (u.trace_duration_ms or 0) >= long_cut,
         lambda u: -(u.trace_duration_ms or 0)),
        ("expensive", lambda u: cost_cut is not None and (u.trace_cost_usd or 0) >= cost_cut,
         lambda u: -(u.trace_cost_usd or 0)),
        ("outlier", lambda u: outlier_ratio(u) > 0, lambda u: -outlier_ratio(u)),
    ]
    picked: list[tuple[Unit, str]] = []
    taken: set[tuple[str, str]] = set()
    for name, member, rank in pools:
        if len(picked) >= failure_n:
            break
        pool = [u for u in order if _key(u) not in taken and member(u)]
        if rank is not None:
            pool.sort(key=rank)  # stable: ties keep the seeded order
        for u in pool[: failure_n - len(picked)]:
            picked.append((u, name))
            taken.add(_key(u))
    rest = [u for u in order if _key(u) not in taken]
    for u in rest[: n - len(picked)]:  # `order` is already a seeded shuffle: a uniform draw
        picked.append((u, "baseline"))
    return _finish(picked, len(order), "failure-biased", seed)


def sample(units: Sequence[Unit], strategy: str, budget: int | None, *, seed: int = 0, **kwargs: float) -> Sample:
    if strategy == "failure-biased":
        return failure_biased(units, budget, seed=seed, **kwargs)
    if strategy == "uniform":
        return uniform(units, budget, seed=seed)
    if strategy == "all":
        return _finish([(u, "baseline") for u in units], len(units), "all", seed)
    raise EvalError(f"Unknown sampling strategy {strategy!r}. Valid: {', '.join(STRATEGIES)}")
