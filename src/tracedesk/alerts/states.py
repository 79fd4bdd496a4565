"""On-call states: what a pager sees of a rule, per group, over a sequence of evaluations.

The evaluator says, at each evaluation time, whether the rule's condition holds (`trigger`), whether it
still holds under the resolve thresholds (`holding`, the hysteresis: a condition with a resolve_threshold
keeps an alert firing until its value crosses that), and whether the group had no data at all. This
module turns that into states and notifications, like Prometheus/Alertmanager do:

    ok --trigger--> pending --(held `for`)--> firing --(clear for `resolve_after`)--> ok
                       \\--(no trigger)--> ok            \\--every `renotify`--> renotify

- `for` = 0 (the default) goes straight from ok to firing; pending is then never seen.
- resolve: the first evaluation where the condition is clear starts the clear period; the alert resolves
  at the first evaluation at least `resolve_after` after it (0: at once). A trigger in between cancels it.
- no data (`no_data`): "ok" counts the evaluation as clear (the v1 behaviour), "alert" as holding
  (a no-data alert: the event says reason "no_data"), "keep" leaves state and timers as they were.
- each group has a dedupe key (rule x group): a renotify, a resolve and a PagerDuty incident share it.

Notifications are "firing", "renotify" and "resolved"; "pending" is a transition that is not paged.
Everything is in integer nanoseconds of the evaluation grid, so tests can assert exact times.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .definition import AlertRule, parse_duration

NS = 1_000_000_000
NOTIFY_KINDS = ("firing", "renotify", "resolved")


@dataclass(frozen=True)
class StateConfig:
    for_ns: int = 0
    resolve_after_ns: int = 0
    renotify_ns: int = 0  # 0: never
    no_data: str = "ok"

    @classmethod
    def of(cls, rule: AlertRule) -> "StateConfig":
        def ns(text: str | None) -> int:
            return parse_duration(text) * NS if text else 0

        return cls(ns(rule.for_), ns(rule.resolve_after), ns(rule.renotify), rule.no_data)


@dataclass(frozen=True)
class Transition:
    kind: str  # "pending" | "firing" | "renotify" | "resolved"
    at_ns: int
    group: dict[str, Any]
    dedupe_key: str
    since_ns: int  # when the current firing (or pending) period began
    reason: str = "condition"  # "condition" | "no_data"

    @property
    def notifies(self) -> bool:
        return self.kind in NOTIFY_KINDS


@dataclass
class GroupState:
    """Where one group stands after the last evaluation."""

    state: str = "ok"  # "ok" | "pending" | "firing"
    since_ns: int | None = None  # start of the pending / firing period
    clear_since_ns: int | None = None  # firing, but clear since then (waiting for resolve_after)
    last_notified_ns: int | None = None
    reason: str = "condition"
    transitions: list[Transition] = field(default_factory=list)


def dedupe_key(rule_name: str, group: dict[str, Any]) -> str:
    """Stable per rule x group: 'tracedesk/rag-regression/route=refunds' (PagerDuty allows 255 chars)."""
    label = ",".join(f"{k}={v}" for k, v in sorted(group.items())) or "all"
    return f"tracedesk/{rule_name}/{label}"[:255]


def run_states(config: StateConfig, times: np.ndarray, trigger: np.ndarray, holding: np.ndarray,
               no_data: np.ndarray, group: dict[str, Any], key: str,
               start: GroupState | None = None) -> GroupState:
    """Replay one group's evaluations through the state machine; returns the final state, with every
    transition in order. `holding` must be true wherever `trigger` is."""
    st = start or GroupState()
    for i in range(len(times)):
        t = int(times[i])
        reason = "condition"
        if no_data[i]:
            if config.no_data == "keep":
                continue
            fire = hold = config.no_data == "alert"
            reason = "no_data"
        else:
            fire, hold = bool(trigger[i]), bool(holding[i] or trigger[i])
        if st.state == "ok":
            if fire:
                st.since_ns, st.reason = t, reason
                if config.for_ns == 0:
                    _fire(st, t, group, key)
                else:
                    st.state = "pending"
                    st.transitions.append(Transition("pending", t, group, key, t, reason))
        elif st.state == "pending":
            if not fire:
                st.state, st.since_ns = "ok", None  # cancelled before it paged: nothing to resolve
            elif t - (st.since_ns or t) >= config.for_ns:
                _fire(st, t, group, key)
        else:  # firing
            if hold:
                st.clear_since_ns = None
                if config.renotify_ns and t - (st.last_notified_ns or t) >= config.renotify_ns:
                    st.last_notified_ns = t
                    st.transitions.append(Transition("renotify", t, group, key, st.since_ns or t, st.reason))
            else:
                if st.clear_since_ns is None:
                    st.clear_since_ns = t
                if t - st.clear_since_ns >= config.resolve_after_ns:
                    st.transitions.append(Transition("resolved", t, group, key, st.since_ns or t, st.reason))
                    st.state, st.since_ns, st.clear_since_ns, st.last_notified_ns = "ok", None, None, None
    return st


def page_runs(trigger: np.ndarray, holding: np.ndarray, no_data: np.ndarray | None = None, resolve_after: int = 0,
              times: np.ndarray | None = None, no_data_mode: str = "keep") -> list[tuple[int, int, int | None]]:
    """The pages run_states gives for `for` = 0 (renotify adds no page), vectorised for callers that replay
    many candidate rules (the suggester): (index of the firing evaluation, index of the last evaluation
    still holding before it resolved, index of the resolving evaluation or None while still firing).
    `times` defaults to the positions 0, 1, ... (then resolve_after is in evaluations); no_data_mode is
    the rule's no_data, "keep" or "ok". Equal to run_states by construction and by test
    (tests/test_alerts_states.py): a page starts at the first trigger while ok; while firing, a stretch of
    evaluations that do not hold resolves it at its first evaluation at least resolve_after after the
    stretch began, and an evaluation that holds (hysteresis) ends the stretch."""
    n = len(trigger)
    t = np.arange(n, dtype=np.int64) if times is None else np.asarray(times, dtype=np.int64)
    trig = np.asarray(trigger, dtype=bool)
    hold = np.asarray(holding, dtype=bool) | trig
    idx = np.arange(n)
    if no_data is not None:
        if no_data_mode == "keep":  # an evaluation without data changes nothing: leave it out
            idx = np.flatnonzero(~np.asarray(no_data, dtype=bool))
        elif no_data_mode == "ok":  # it counts as clear
            trig, hold = trig & ~no_data, hold & ~no_data
        else:
            raise ValueError(f"page_runs: no_data_mode must be keep or ok, not {no_data_mode!r}")
    trig, hold, t = trig[idx], hold[idx], t[idx]
    # stretches of evaluations that do not hold; those long enough resolve, at their first evaluation
    # resolve_after after their start
    edges = np.diff(np.concatenate(([0], (~hold).astype(np.int8), [0])))
    c_start, c_end = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    resolving = t[c_end] - t[c_start] >= resolve_after
    r_start = c_start[resolving]
    r_at = np.searchsorted(t, t[r_start] + resolve_after, side="left")
    fires = np.flatnonzero(trig)
    holds = np.flatnonzero(hold)
    out: list[tuple[int, int, int | None]] = []
    cursor = 0
    while True:
        k = int(np.searchsorted(fires, cursor, side="left"))
        if k == len(fires):
            return out
        first = int(fires[k])
        m = int(np.searchsorted(r_start, first, side="right"))  # the first resolving stretch after it
        if m == len(r_start):
            out.append((int(idx[first]), int(idx[holds[-1]]), None))
            return out
        out.append((int(idx[first]), int(idx[r_start[m] - 1]), int(idx[r_at[m]])))
        cursor = int(r_at[m]) + 1


def _fire(st: GroupState, t: int, group: dict[str, Any], key: str) -> None:
    st.state, st.last_notified_ns, st.clear_since_ns = "firing", t, None
    st.transitions.append(Transition("firing", t, group, key, st.since_ns or t, st.reason))


@dataclass(frozen=True)
class Page:
    """One firing period of one group, as the pager saw it: from its 'firing' to its 'resolved'
    (None while still firing at the end of the replay), with its renotifications."""

    group: dict[str, Any]
    dedupe_key: str
    fired_ns: int
    resolved_ns: int | None
    since_ns: int  # when its condition first held (the pending start)
    renotified: int
    reason: str


def pages(rule: AlertRule, result: Any) -> list[Page]:
    """Every firing period in a backtest result (evaluate.BacktestResult), in time order."""
    config = StateConfig.of(rule)
    out: list[Page] = []
    for g in result.groups:
        key = dedupe_key(rule.name, g.group)
        holding = g.holding if g.holding is not None else g.firing
        no_data = g.no_data if g.no_data is not None else np.zeros(len(result.times), dtype=bool)
        st = run_states(config, result.times, g.firing, holding, no_data, g.group, key)
        current: dict[str, Any] | None = None
        for tr in st.transitions:
            if tr.kind == "firing":
                current = {"fired": tr.at_ns, "since": tr.since_ns, "renotified": 0, "reason": tr.reason}
            elif tr.kind == "renotify" and current is not None:
                current["renotified"] += 1
            elif tr.kind == "resolved" and current is not None:
                out.append(Page(g.group, key, current["fired"], tr.at_ns, current["since"], current["renotified"],
                                current["reason"]))
                current = None
        if current is not None:
            out.append(Page(g.group, key, current["fired"], None, current["since"], current["renotified"],
                            current["reason"]))
    out.sort(key=lambda p: (p.fired_ns, p.dedupe_key))
    return out


def replay_lookback_ns(rule: AlertRule) -> int:
    """How much history `check` replays to know a group's state at one time without stored state: the
    longest of `for`, `resolve_after` and two renotify periods, and at least 6 hours of steps. A firing
    period that began before it is treated as beginning at the lookback's start."""
    config = StateConfig.of(rule)
    need = max(config.for_ns + config.resolve_after_ns, 2 * config.renotify_ns, 6 * 3600 * NS)
    return need + rule.step_s * NS


def check_states(db: Any, rule: AlertRule, at_ns: int) -> list[dict[str, Any]]:
    """See check_states_and_result (this drops the replayed backtest)."""
    return check_states_and_result(db, rule, at_ns)[0]


def check_states_and_result(db: Any, rule: AlertRule, at_ns: int) -> tuple[list[dict[str, Any]], Any]:
    """Evaluate the rule at `at_ns` with its on-call state: one event per group, as `evaluate` gives,
    plus "state" (ok | pending | firing), "notification" (firing | renotify | resolved | None: what to
    send now), "dedupe_key", "since" and "scope". The state comes from replaying the evaluations on the
    step grid that ends at `at_ns` (see replay_lookback_ns), so a cron job needs no state file."""
    from .evaluate import _iso, backtest, event_for_group

    step = rule.step_s * NS
    n = max(1, replay_lookback_ns(rule) // step)
    times = at_ns - step * np.arange(n, -1, -1, dtype=np.int64)
    result = backtest(db, rule, times=times)
    config = StateConfig.of(rule)
    events = []
    for g in result.groups:
        key = dedupe_key(rule.name, g.group)
        holding = g.holding if g.holding is not None else g.firing
        no_data = g.no_data if g.no_data is not None else np.zeros(len(times), dtype=bool)
        st = run_states(config, times, g.firing, holding, no_data, g.group, key)
        now = [tr for tr in st.transitions if tr.at_ns == at_ns and tr.notifies]
        event = event_for_group(rule, g, len(times) - 1, at_ns)
        event.update({
            "state": st.state,
            "notification": now[-1].kind if now else None,
            "reason": now[-1].reason if now else (st.reason if st.state != "ok" else None),
            "dedupe_key": key,
            "since": _iso(st.since_ns) if st.since_ns is not None else (_iso(now[-1].since_ns) if now else None),
        })
        events.append(event)
    return events, result
