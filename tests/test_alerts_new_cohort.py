"""relative_to.new_cohort: a group whose value of a group_by dimension is new is judged against the traffic
before it appeared (the other values pooled, or the value it replaced), with exact timestamps; the
relative hysteresis (resolve_delta); validation; round trip; a live check equals the backtest."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracedesk.alerts import AlertValidationError, parse_rule, rule_to_dict
from tracedesk.alerts.definition import dumps_rule
from tracedesk.alerts.evaluate import backtest, evaluate
from tracedesk.alerts.states import pages
from tracedesk.cli import main
from tracedesk.models import Evaluation, Span
from tracedesk.store import connect, write_batch

NS = 1_000_000_000
M = 60 * NS
H = 60 * M
T0 = 1_800_000_000 * NS  # on the 5-minute grid
G = {"type": "eval_score", "evaluator": "groundedness"}
#: v2 appears at T0 + 26 h + 60 s (so a day of history lies before it)
NEW_AT = T0 + 26 * H + 60 * NS


def _build(path: str) -> None:
    """prompt_version v1 (groundedness 0.9) every 30 min at :00/:30 until T0 + 26 h, then stops (v2
    replaces it); w1 (0.6) every 30 min at :15/:45 throughout; v2 (0.5) every 30 min from NEW_AT; x1 (0.1)
    from T0 + 3 h (new too early: no day of history before it). Data runs to T0 + 52 h."""
    spans, evals = [], []
    n = 0

    def trace(at: int, version: str, score: float) -> None:
        nonlocal n
        n += 1
        tid, sid = f"{n:032x}", f"{n:016x}"
        spans.append(Span(trace_id=tid, span_id=sid, name="answer", kind="LLM", start_ns=at, end_ns=at + NS,
                          duration_ms=1000.0, route="kyc", prompt_version=version, model="m"))
        evals.append(Evaluation(trace_id=tid, span_id=sid, name="groundedness", score=score, passed=score >= 0.7))

    for k in range(52 * 2):
        at = T0 + k * 30 * M
        if at < T0 + 26 * H:
            trace(at, "v1", 0.9)
        trace(at + 15 * M, "w1", 0.6)
        if at >= T0 + 3 * H:
            trace(at + 10 * NS, "x1", 0.1)
        if at >= T0 + 26 * H:
            trace(at + 60 * NS, "v2", 0.5)
    db = connect(path)
    write_batch(db, spans, evals)
    db.conn.close()


@pytest.fixture
def db(db_path):
    _build(db_path)
    return db_path


def _rule(versus=None, **rel):
    relative = {"new_cohort": "prompt_version", "delta": -0.1, **rel}
    if versus:
        relative["versus"] = versus
    return {"tracedesk_alert": 1, "name": "new", "window": "1d", "step": "5m", "group_by": ["prompt_version"],
            "min_samples": 1, "resolve_after": "1h", "no_data": "keep",
            "condition": {"signal": G, "aggregation": "mean", "comparator": "<", "relative_to": relative}}


def _series(result, version):
    g = next(g for g in result.groups if g.group == {"prompt_version": version})
    return g.conditions[0]


def _at(result, series, t):
    i = int(np.searchsorted(result.times, t))
    assert result.times[i] == t
    return series.values[i], series.thresholds[i], bool(series.firing[i])


def test_new_group_against_the_rest_with_exact_timestamps(db):
    rule = parse_rule(_rule())
    result = backtest(db, rule, since_ns=T0 + 20 * H, until_ns=T0 + 52 * H)
    v2 = _series(result, "v2")
    # before its first sample: no value, no baseline
    assert np.isnan(_at(result, v2, T0 + 26 * H)[1])
    # first evaluation after it: the rest = every other value's samples in (NEW_AT - 1d, NEW_AT]
    before_v1 = sum(1 for k in range(52) if NEW_AT - 24 * H < T0 + k * 30 * M <= NEW_AT)
    before_w1 = sum(1 for k in range(104) if NEW_AT - 24 * H < T0 + k * 30 * M + 15 * M <= NEW_AT)
    before_x1 = sum(1 for k in range(6, 104) if NEW_AT - 24 * H < T0 + k * 30 * M + 10 * NS <= NEW_AT)
    rest = (before_v1 * 0.9 + before_w1 * 0.6 + before_x1 * 0.1) / (before_v1 + before_w1 + before_x1)
    value, threshold, firing = _at(result, v2, T0 + 26 * H + 5 * M)
    assert (value, firing) == (0.5, False) and threshold == pytest.approx(rest - 0.1)
    # judged for one window (1 d) after its first sample: T0 + 50 h still (NEW_AT > T - 1d), not at +5 min
    assert not np.isnan(_at(result, v2, T0 + 50 * H)[1])
    assert np.isnan(_at(result, v2, T0 + 50 * H + 5 * M)[1])
    # groups that are not new are never judged: v1 and w1 existed from the start, x1 appeared without a day
    # of history before it
    for version in ("v1", "w1", "x1"):
        assert np.isnan(_series(result, version).thresholds).all()


def test_versus_replaced_switches_when_the_replaced_share_is_expected_to_hold_three_samples(db):
    rule = parse_rule(_rule("replaced"))
    result = backtest(db, rule, since_ns=T0 + 20 * H, until_ns=T0 + 52 * H)
    v2 = _series(result, "v2")
    rest = _series(backtest(db, parse_rule(_rule()), since_ns=T0 + 20 * H, until_ns=T0 + 52 * H), "v2")
    # in [NEW_AT, T] (v2 at :01/:31, w1 at :15/:45, x1 at :00:10/:30:10, v1 silent): at T0+27h30m v2 4
    # (26:01, 26:31, 27:01, 27:31 is later: 3), w1 3 (26:15, 26:45, 27:15), x1 3 = 9 samples; v1's old share
    # 47/142 expects 2.98 of them: fewer than 3 missing -> still the rest. At +27h35m v2's 27:31 makes 10:
    # 3.31 missing -> replaced by v1 (its baseline 0.9; w1 and x1 are missing none or one)
    assert _at(result, v2, T0 + 27 * H + 30 * M)[1] == pytest.approx(_at(result, rest, T0 + 27 * H + 30 * M)[1])
    assert _at(result, v2, T0 + 27 * H + 35 * M)[1] == pytest.approx(0.8)
    assert _at(result, v2, T0 + 40 * H)[1] == pytest.approx(0.8)
    # v2 (0.5) is above the rest's line (x1's 0.1 pulls the pooled mean down) and below the replaced
    # value's: one page, when the replaced value is known; against the rest alone, none
    found = pages(rule, result)
    assert [(p.group, p.fired_ns) for p in found] == [({"prompt_version": "v2"}, T0 + 27 * H + 35 * M)]
    assert pages(parse_rule(_rule()), backtest(db, parse_rule(_rule()), since_ns=T0 + 20 * H)) == []


def test_relative_hysteresis_holds_until_the_baseline(db_path):
    """resolve_delta: fires below baseline - 0.1, held while below baseline + resolve_delta."""
    _build(db_path)
    doc = _rule(resolve_delta=0.0)
    doc["condition"]["relative_to"]["delta"] = -0.3  # rest ~0.56: fires below ~0.26 -> never on v2 (0.5)
    result = backtest(db_path, parse_rule(doc), since_ns=T0 + 20 * H, until_ns=T0 + 52 * H)
    v2 = _series(result, "v2")
    assert not v2.firing.any()
    g = next(g for g in result.groups if g.group == {"prompt_version": "v2"})
    # holding (the hysteresis line) is true wherever the group is judged: 0.5 < baseline + 0
    judged = ~np.isnan(v2.thresholds) & ~np.isnan(v2.values)
    assert (g.conditions[0].holding == judged).all()


def test_a_live_check_gives_the_backtest_result(db, tmp_path, capsys):
    rule = parse_rule(_rule("replaced"))
    full = backtest(db, rule)
    v2 = _series(full, "v2")
    for t in (T0 + 26 * H + 5 * M, T0 + 27 * H + 30 * M, T0 + 27 * H + 35 * M, T0 + 50 * H + 5 * M):
        live = next(e for e in evaluate(db, rule, t) if e["group"] == {"prompt_version": "v2"})
        value, threshold, firing = _at(full, v2, t)
        c = live["conditions"][0]
        assert c["firing"] == firing
        assert (c["threshold"] is None and np.isnan(threshold)) or c["threshold"] == pytest.approx(threshold, abs=1e-6)
    rules = tmp_path / "r.json"
    rules.write_text(dumps_rule(rule))
    assert main(["alerts", "check", "--db", db, str(rules), "--at", str(T0 + 27 * H + 35 * M)]) == 1
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [e["group"] for e in events] == [{"prompt_version": "v2"}]
    assert events[0]["conditions"][0]["threshold"] == pytest.approx(0.8)


def _errors(doc):
    with pytest.raises(AlertValidationError) as exc:
        parse_rule(doc)
    return dict(exc.value.errors)


def test_new_cohort_is_validated_with_clear_errors():
    assert "the rule groups by prompt_version" in _errors(
        _rule(new_cohort="route"))["$.condition.relative_to.new_cohort"]
    no_group = dict(_rule(), group_by=[])
    assert "no group_by" in _errors(no_group)["$.condition.relative_to.new_cohort"]
    assert "valid choices: rest, replaced" in _errors(_rule("nearest"))["$.condition.relative_to.versus"]
    assert "not an offset or a cohort" in _errors(_rule(offset="1d"))["$.condition.relative_to"]
    only_versus = _rule()
    only_versus["condition"]["relative_to"] = {"versus": "rest", "delta": -0.1}
    assert "add \"new_cohort\"" in _errors(only_versus)["$.condition.relative_to.versus"]
    both = _rule(resolve_delta=0)
    both["condition"]["resolve_threshold"] = 0.5
    assert "not both" in _errors(both)["$.condition.resolve_threshold"]
    inner = _rule()
    inner["condition"] = {"traces": inner["condition"], "aggregation": "count", "comparator": ">=", "threshold": 1}
    inner["condition"]["traces"]["relative_to"]["window"] = "1d"
    assert "per-trace" in _errors(inner)["$.condition.traces.relative_to.new_cohort"]


@settings(max_examples=100, deadline=None)
@given(group_by=st.sampled_from([["prompt_version"], ["tenant", "prompt_version"], ["model", "route"]]),
       versus=st.sampled_from([None, "rest", "replaced"]), window=st.sampled_from([None, "1h", "1d", "7d"]),
       delta=st.one_of(st.none(), st.floats(-1, 1, allow_nan=False)),
       factor=st.one_of(st.none(), st.floats(0, 5, allow_nan=False)),
       resolve=st.one_of(st.none(), st.tuples(st.one_of(st.none(), st.floats(0, 5, allow_nan=False)),
                                               st.floats(-1, 1, allow_nan=False))),
       pick=st.integers(0, 1))
def test_round_trip_property(group_by, versus, window, delta, factor, resolve, pick):
    rel: dict = {"new_cohort": group_by[pick % len(group_by)]}
    if versus:
        rel["versus"] = versus
    if window:
        rel["window"] = window
    if factor is not None:
        rel["factor"] = factor
    if delta is not None or factor is None:
        rel["delta"] = delta if delta is not None else 0.0
    if resolve is not None:
        if resolve[0] is not None:
            rel["resolve_factor"] = resolve[0]
        rel["resolve_delta"] = resolve[1]
    doc = {"tracedesk_alert": 1, "name": "r", "description": "", "owner": "", "severity": "high", "runbook": "",
           "scope": {}, "window": "15m", "step": "5m", "group_by": group_by, "min_samples": 1,
           "condition": {"signal": G, "aggregation": "mean", "comparator": "<", "relative_to": rel}}
    rule = parse_rule(doc)
    out = rule_to_dict(rule)
    assert out["condition"]["relative_to"] == {k: rel[k] for k in ("new_cohort", "versus", "window", "factor", "delta",
                                                                   "resolve_factor", "resolve_delta") if k in rel}
    assert parse_rule(json.loads(dumps_rule(rule))) == rule


def test_a_new_cohort_rule_opens_in_the_builder_unchanged(db):
    """What the Alerts page does with "Open in builder": widget values from builder_session, the condition
    rebuilt from them, then apply_extra: the relative threshold the widgets cannot show is kept."""
    from tracedesk.alerts.builder import apply_extra, build_rule, builder_session, signal_choices

    doc = _rule("replaced", resolve_delta=0.0)
    doc["condition"]["window"] = "1d"
    doc["window"] = "1h"
    rule = parse_rule(doc)
    choices = signal_choices(db)
    session = builder_session(rule, choices)
    pick = next(c for c in choices if c.label == session["sig0"])
    widgets = [{"signal": pick.signal, "aggregation": session[f"agg0{pick.label}"],
                "comparator": session[f"cmp0{pick.label}"], "threshold": session[f"thr0{pick.label}"],
                "relative_to": None}]
    conditions, scope, states = apply_extra(widgets, {}, session["_alerts_builder_extra"])
    rebuilt = build_rule(name=session["b_name"], conditions=conditions, window=session["b_window"],
                         step=session["b_step"], scope=scope, group_by=session["b_group_by"],
                         min_samples=session["b_min_samples"], severity=session["b_severity"], states=states)
    assert rule_to_dict(rebuilt) == rule_to_dict(rule)
    # another signal picked in that row: the opened relative threshold no longer applies
    other = next(c for c in choices if c.signal != pick.signal and c.relative_to is None)
    changed = [dict(widgets[0], signal=other.signal)]
    assert apply_extra(changed, {}, session["_alerts_builder_extra"])[0][0]["relative_to"] is None
