"""relative_to.peers: each group judged against the other values of a group_by dimension, pooled, over the
same window at the same time ("this route's retriever p95 is twice the other routes'"), with exact values;
the bucket of a second group_by dimension; too few peer samples; hysteresis; validation; round trip; a
live check equals the backtest."""
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
from tracedesk.models import Span
from tracedesk.store import connect, write_batch

NS = 1_000_000_000
M = 60 * NS
H = 60 * M
T0 = 1_800_000_000 * NS  # on the 5-minute grid
R = {"type": "duration", "span_kind": "RETRIEVER"}
#: route a's retriever slows from here (10x), for 30 minutes
SLOW_FROM, SLOW_UNTIL = T0 + 2 * H, T0 + 2 * H + 30 * M
USUAL_MS = {"a": 100.0, "b": 200.0, "c": 300.0}


def _build(path: str) -> None:
    """Routes a, b, c on model m: one trace each a minute after every 5-minute step (T0 + k*5m + 60 s); a's retriever 100 ms (1,000 ms in [SLOW_FROM, SLOW_UNTIL)), b's 200, c's 300. Route a
    on model n too, every 5 minutes at + 120 s, 400 ms; route d on model n at + 120 s of every hour, 50 ms.
    Data runs 4 hours."""
    spans = []
    n = 0

    def trace(at: int, route: str, model: str, ms: float) -> None:
        nonlocal n
        n += 1
        tid = f"{n:032x}"
        spans.append(Span(trace_id=tid, span_id=f"{n:015x}1", name="agent", kind="AGENT", start_ns=at,
                          end_ns=at + 2 * NS, duration_ms=2000.0, route=route, model=model))
        spans.append(Span(trace_id=tid, span_id=f"{n:015x}2", parent_span_id=f"{n:015x}1", name="search",
                          kind="RETRIEVER", start_ns=at + NS // 100, end_ns=at + NS // 100 + int(ms * 1e6),
                          duration_ms=ms, route=route, model=model))

    for k in range(4 * 12):
        at = T0 + k * 5 * M
        for route, ms in USUAL_MS.items():
            slow = route == "a" and SLOW_FROM <= at + 60 * NS < SLOW_UNTIL
            trace(at + 60 * NS, route, "m", 1000.0 if slow else ms)
        trace(at + 120 * NS, "a", "n", 400.0)
        if k % 12 == 0:
            trace(at + 120 * NS, "d", "n", 50.0)
    db = connect(path)
    write_batch(db, spans)
    db.conn.close()


@pytest.fixture
def db(db_path):
    _build(db_path)
    return db_path


def _rule(group_by=("route",), **rel):
    relative = {"peers": "route", "factor": 2, **rel}
    return {"tracedesk_alert": 1, "name": "slow-retriever", "window": "10m", "step": "5m",
            "group_by": list(group_by), "min_samples": 1, "resolve_after": "15m",
            "condition": {"signal": R, "aggregation": "p95", "comparator": ">", "relative_to": relative}}


def _series(result, **group):
    g = next(g for g in result.groups if g.group == group)
    return g.conditions[0]


def _at(result, series, t):
    i = int(np.searchsorted(result.times, t))
    assert result.times[i] == t
    return series.values[i], series.thresholds[i], bool(series.firing[i])


def _p95(values):
    return float(np.percentile(np.asarray(values, dtype=float), 95))


def test_each_route_against_the_other_routes_pooled(db):
    result = backtest(db, parse_rule(_rule()), since_ns=T0 + H, until_ns=T0 + 4 * H)
    a, b = _series(result, route="a"), _series(result, route="b")
    # T0 + 1h: the window (T - 10m, T] holds each route's traces at -9m and -4m (a's model-n ones too)
    t = T0 + H
    assert _at(result, a, t) == (_p95([100, 100, 400, 400]), 2 * _p95([200, 200, 300, 300]), False)
    assert _at(result, b, t) == (200.0, 2 * _p95([100, 100, 400, 400, 300, 300]), False)
    # in the slowdown: a's p95 1,000 ms against twice the others' (300): fires; b's line moves up with a
    # (d's hourly trace at 2h02m is in this window: a peer of every route)
    t = SLOW_FROM + 10 * M
    assert _at(result, a, t) == (1000.0, 2 * _p95([200, 200, 300, 300, 50]), True)
    assert _at(result, b, t) == (200.0, 2 * _p95([1000, 400, 1000, 400, 300, 300, 50]), False)
    # route d's hourly trace: its peers are every other route's samples of the window
    d = _series(result, route="d")
    assert _at(result, d, T0 + 2 * H + 5 * M)[:2] == (50.0, 2 * _p95([100, 400, 1000, 400, 200, 200, 300, 300]))
    # a single page, for route a, at the first evaluation whose window holds a slow sample
    found = pages(parse_rule(_rule()), result)
    assert [(p.group, p.fired_ns) for p in found] == [({"route": "a"}, SLOW_FROM + 5 * M)]


def test_with_a_second_dimension_peers_share_its_value(db):
    """group_by [route, model]: a x n is compared with the other routes of model n (d alone), a x m with b
    and c of model m."""
    result = backtest(db, parse_rule(_rule(group_by=("route", "model"))), since_ns=T0 + H, until_ns=T0 + 4 * H)
    am, an = _series(result, route="a", model="m"), _series(result, route="a", model="n")
    t = SLOW_FROM + 10 * M
    assert _at(result, am, t) == (1000.0, 2 * _p95([200, 200, 300, 300]), True)
    # a x n's peers are d x n, whose one trace an hour (2h02m) is in the windows ending 2h05m and 2h10m only
    assert _at(result, an, T0 + 2 * H + 5 * M) == (400.0, 100.0, True)
    value, threshold, firing = _at(result, an, T0 + 2 * H + 15 * M)
    assert (value, np.isnan(threshold), firing) == (400.0, True, False)
    dn = _series(result, route="d", model="n")
    assert _at(result, dn, T0 + 2 * H + 5 * M) == (50.0, 800.0, False)


def test_a_window_with_fewer_peer_samples_than_min_samples_is_not_judged(db):
    doc = _rule(group_by=("route", "model"))
    doc["condition"]["min_samples"] = 2
    result = backtest(db, parse_rule(doc), since_ns=T0 + H, until_ns=T0 + 4 * H)
    an = _series(result, route="a", model="n")
    # d x n holds one sample in the window: below min_samples 2, so no baseline
    assert np.isnan(an.thresholds).all() and not an.firing.any()
    assert not np.isnan(_series(result, route="a", model="m").thresholds).any()


def test_hysteresis_against_the_peers(db):
    """resolve_factor: fires above 2x the peers, held while above 1.5x: a at 1,000 against 300 keeps both."""
    rule = parse_rule(_rule(factor=4, resolve_factor=1.5))
    result = backtest(db, rule, since_ns=T0 + H, until_ns=T0 + 4 * H)
    a = _series(result, route="a")
    assert not a.firing.any()  # 1,000 < 4 x 300
    held = a.holding[(result.times > SLOW_FROM) & (result.times <= SLOW_UNTIL)]
    assert held.all()
    assert _at(result, a, SLOW_FROM + 10 * M)[1] == 4 * 300.0


def test_a_live_check_gives_the_backtest_result(db, tmp_path, capsys):
    rule = parse_rule(_rule())
    full = backtest(db, rule)
    a = _series(full, route="a")
    for t in (T0 + H, SLOW_FROM + 5 * M, SLOW_FROM + 10 * M, SLOW_UNTIL + 15 * M):
        live = next(e for e in evaluate(db, rule, t) if e["group"] == {"route": "a"})
        _value, threshold, firing = _at(full, a, t)
        c = live["conditions"][0]
        assert c["firing"] == firing and c["threshold"] == pytest.approx(threshold)
    rules = tmp_path / "r.json"
    rules.write_text(dumps_rule(rule))
    assert main(["alerts", "check", "--db", db, str(rules), "--at", str(SLOW_FROM + 10 * M)]) == 1
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [e["group"] for e in events] == [{"route": "a"}]
    assert events[0]["conditions"][0]["threshold"] == 600.0


def test_the_label_names_the_peers():
    cond = parse_rule(_rule()).condition
    assert cond.relative_to.label() == "baseline(other route values) x2"


def _errors(doc):
    with pytest.raises(AlertValidationError) as exc:
        parse_rule(doc)
    return dict(exc.value.errors)


def test_peers_is_validated_with_clear_errors():
    assert "the rule groups by route" in _errors(_rule(peers="tenant"))["$.condition.relative_to.peers"]
    assert "no group_by" in _errors(_rule(group_by=()))["$.condition.relative_to.peers"]
    assert "takes no window / offset" in _errors(_rule(window="1h", offset="1d"))["$.condition.relative_to"]
    assert "takes no cohort" in _errors(_rule(cohort={"route": "b"}))["$.condition.relative_to"]
    both = _rule(group_by=("route", "prompt_version"), new_cohort="prompt_version")
    assert "takes no new_cohort" in _errors(both)["$.condition.relative_to"]
    inner = _rule()
    inner["condition"] = {"traces": inner["condition"], "aggregation": "count", "comparator": ">=", "threshold": 1}
    inner["condition"]["traces"]["relative_to"]["window"] = "1d"
    errors = _errors(inner)
    assert "per-trace" in errors["$.condition.traces.relative_to.peers"]


@settings(max_examples=100, deadline=None)
@given(group_by=st.sampled_from([["route"], ["tenant", "route"], ["model", "route", "tenant"]]),
       pick=st.integers(0, 2), delta=st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
       factor=st.one_of(st.none(), st.floats(0, 50, allow_nan=False)),
       resolve=st.one_of(st.none(), st.floats(0, 50, allow_nan=False)))
def test_round_trip_property(group_by, pick, delta, factor, resolve):
    rel: dict = {"peers": group_by[pick % len(group_by)]}
    if factor is not None:
        rel["factor"] = factor
    if delta is not None or factor is None:
        rel["delta"] = delta if delta is not None else 0.0
    if resolve is not None:
        rel["resolve_factor"] = resolve
    doc = _rule(group_by=tuple(group_by))
    doc["condition"]["relative_to"] = rel
    rule = parse_rule(doc)
    assert rule.condition.relative_to.peers == rel["peers"]
    assert rule_to_dict(parse_rule(rule_to_dict(rule))) == rule_to_dict(rule)
    assert dumps_rule(parse_rule(json.loads(dumps_rule(rule)))) == dumps_rule(rule)
