"""Richer conditions, by hand on tests/alerts_data.build_small: per-trace joint conditions, per-condition
windows (multi-window rules), thresholds relative to a baseline window or another cohort, traffic counts
whose empty window is 0, minimum samples that follow traffic; v1 documents keep their canonical form."""
from __future__ import annotations

import numpy as np
import pytest

from alerts_data import NS, T0, build_small
from tracedesk.alerts import AlertValidationError, parse_rule, rule_to_dict
from tracedesk.alerts.definition import TraceCondition
from tracedesk.alerts.evaluate import _min_samples, backtest, evaluate

G = {"type": "eval_score", "evaluator": "groundedness"}
R = {"type": "duration", "span_kind": "RETRIEVER"}
M = 60 * NS


@pytest.fixture
def db(db_path):
    build_small(db_path)
    return db_path


def _doc(condition, **kw):
    return {"tracedesk_alert": 1, "name": "t", "window": "5m", "step": "5m", "condition": condition, **kw}


def _c(signal, agg, cmp, thr, **kw):
    return {"signal": signal, "aggregation": agg, "comparator": cmp, "threshold": thr, **kw}


def _values(db, doc, at_min):
    return [(c["value"], c["count"], c["firing"]) for c in evaluate(db, parse_rule(doc), T0 + at_min * M)[0]["conditions"]]


def test_per_trace_joint_condition_counts_and_shares_traces(db):
    # (T0, T0+5m]: A g .9 retriever 100; B g .5 / 300; C g .7 / 500 -> B and C match; (T0+5m, +10m]: D .2 / 900
    inner = {"all": [_c(G, "mean", "<", 0.8), _c(R, "max", ">", 200)]}
    count = _doc({"traces": inner, "aggregation": "count", "comparator": ">=", "threshold": 2})
    assert _values(db, count, 5) == [(2.0, 3, True)]
    assert _values(db, count, 10) == [(1.0, 1, False)]
    share = _doc({"traces": inner, "aggregation": "rate", "comparator": ">", "threshold": 0.6})
    assert _values(db, share, 5) == [(pytest.approx(2 / 3, abs=1e-6), 3, True)]
    rule = parse_rule(share)
    assert isinstance(rule.leaves()[0], TraceCondition)
    assert rule.leaves()[0].label() == ("traces where (eval_score(groundedness) mean < 0.8 AND "
                                        "duration(RETRIEVER) max > 200) rate > 0.6")
    assert rule_to_dict(rule)["condition"] == share["condition"]
    # an any-group inside: A (g .9 < .95) matches too
    anyof = _doc({"traces": {"any": [_c(G, "mean", "<", 0.95), _c(R, "max", ">", 10_000)]}, "aggregation": "count",
                  "comparator": ">=", "threshold": 3})
    assert _values(db, anyof, 5) == [(3.0, 3, True)]


def test_a_per_trace_condition_groups_by_the_trace_cohort(db):
    doc = _doc({"traces": {"all": [_c(G, "mean", "<", 0.8), _c(R, "max", ">", 200)]}, "aggregation": "count",
                "comparator": ">=", "threshold": 1}, group_by=["route"])
    events = evaluate(db, parse_rule(doc), T0 + 5 * M)
    assert [(e["group"], e["conditions"][0]["value"]) for e in events] == [({"route": "billing"}, 1.0),
                                                                          ({"route": "search"}, 1.0)]


def test_per_condition_windows_make_a_multi_window_rule(db):
    # at T0+10m: the 5m window holds D only (g .2); the 10m window holds A B C D (mean .575)
    doc = _doc({"all": [_c(G, "mean", "<", 0.3), _c(G, "mean", "<", 0.6, window="10m")]}, window="5m")
    assert _values(db, doc, 10) == [(0.2, 1, True), (pytest.approx(0.575), 4, True)]
    rule = parse_rule(doc)
    assert [leaf.label() for leaf in rule.leaves()] == ["eval_score(groundedness) mean < 0.3",
                                                       "eval_score(groundedness) mean < 0.6 [10m]"]
    [episode] = backtest(db, rule, times=T0 + 5 * M * np.arange(4)).episodes
    assert (episode.start_ns - T0) // M == 10 and (episode.window_start_ns - T0) // M == 0  # the longest window


def test_threshold_relative_to_the_window_before(db):
    # at T0+10m: D .2 against the window before (T0, T0+5m] mean .7 x 0.5 = .35
    doc = _doc({"signal": G, "aggregation": "mean", "comparator": "<", "relative_to": {"factor": 0.5}})
    [(value, count, firing)] = _values(db, doc, 10)
    assert (value, count, firing) == (0.2, 1, True)
    [event] = evaluate(db, parse_rule(doc), T0 + 10 * M)
    assert event["conditions"][0]["threshold"] == pytest.approx(0.35)
    # at T0+5m the window before is empty: no baseline, never fires
    assert _values(db, doc, 5) == [(0.7, 3, False)]
    assert parse_rule(doc).leaves()[0].label() == "eval_score(groundedness) mean < baseline(window before) x0.5"


def test_threshold_relative_to_another_cohort(db):
    # at T0+5m: billing mean (.9 + .5) / 2 = .7; search (C) .7
    cond = {"signal": G, "aggregation": "mean", "comparator": "<=",
            "relative_to": {"cohort": {"route": "search"}, "delta": 0}}
    assert _values(db, _doc(cond, scope={"route": ["billing"]}), 5) == [(pytest.approx(0.7), 2, True)]
    cond["relative_to"]["delta"] = -0.15
    assert _values(db, _doc(cond, scope={"route": ["billing"]}), 5) == [(pytest.approx(0.7), 2, False)]
    rule = parse_rule(_doc(cond, scope={"route": ["billing"]}))
    assert rule_to_dict(rule)["condition"]["relative_to"] == {"cohort": {"route": ["search"]}, "delta": -0.15}
    # the same, grouped by tenant: billing/acme (A .9) and billing/beta (B .5) each against search/acme (C .7)
    # by the group-by dimensions the cohort does not pin (tenant): beta has no search traffic -> no baseline
    cond["relative_to"]["delta"] = 0
    events = evaluate(db, parse_rule(_doc(cond, scope={"route": ["billing"]}, group_by=["tenant"])), T0 + 5 * M)
    assert [(e["group"]["tenant"], e["conditions"][0]["threshold"], e["firing"]) for e in events] == [
        ("acme", 0.7, False), ("beta", None, False)]


def test_relative_conditions_are_validated():
    def errors(cond):
        with pytest.raises(AlertValidationError) as info:
            parse_rule(_doc(cond))
        return dict(info.value.errors)

    base = {"signal": G, "aggregation": "mean", "comparator": "<"}
    assert "give a factor" in errors(dict(base, relative_to={"window": "1h"}))["$.condition.relative_to"]
    assert "not a threshold" in errors(dict(base, threshold=1, relative_to={"factor": 2}))["$.condition.threshold"]
    assert "not both" in errors(dict(base, relative_to={"cohort": {"route": "a"}, "window": "1h", "factor": 1}))[
        "$.condition.relative_to"]
    assert "dims.NAME" in errors(dict(base, relative_to={"cohort": {"colour": "red"}, "factor": 1}))[
        "$.condition.relative_to.cohort.colour"]


def test_traffic_count_with_no_data_semantics(db):
    traffic = {"type": "spans_per_trace"}
    # (T0+10m, T0+15m] holds no trace: with min_samples 0 the count is 0 and "fewer than 1 trace" fires
    drop = _doc(_c(traffic, "count", "<", 1, min_samples=0))
    assert _values(db, drop, 15) == [(0.0, 0, True)]
    assert _values(db, drop, 5) == [(3.0, 3, False)]
    # the v1 meaning is unchanged: without it an empty window has no value and never fires
    assert _values(db, _doc(_c(traffic, "count", "<", 1)), 15) == [(None, 0, False)]
    with pytest.raises(AlertValidationError, match="0 only with the 'count' aggregation"):
        parse_rule(_doc(_c(traffic, "mean", "<", 1, min_samples=0)))


def test_minimum_samples_follow_traffic():
    rule = parse_rule(_doc(_c(G, "mean", "<", 1), min_samples=2, min_samples_share=0.5))
    day = 86_400 * NS
    t = np.sort(np.concatenate([np.arange(288) * 300 * NS, day + np.arange(10) * 300 * NS]))
    times = np.array([day, 2 * day], dtype=np.int64)
    # a day of one sample per 5 minutes: the usual 5m window holds 1 -> the floor (2) holds; the second
    # day's trailing 24 h hold 10 + 278 samples -> still ~1 per window -> 2
    assert list(_min_samples(rule, rule.leaves()[0], t, times, 300 * NS)) == [2, 2]
    busy = np.arange(24 * 288) * (300 * NS // 24)  # 24 samples per 5 minutes for a day
    assert list(_min_samples(rule, rule.leaves()[0], busy, np.array([day]), 300 * NS)) == [12]


def test_v1_documents_keep_their_canonical_form_and_state_fields_round_trip():
    v1 = _doc(_c(G, "mean", "<", 0.7))
    assert set(rule_to_dict(parse_rule(v1))) == {"tracedesk_alert", "name", "description", "owner", "severity",
                                                "runbook", "scope", "window", "step", "group_by", "min_samples",
                                                "condition"}
    full = dict(rule_to_dict(parse_rule(v1)), **{"for": "10m", "resolve_after": "30m", "renotify": "4h",
                                                 "no_data": "keep", "min_samples_share": 0.25})
    rule = parse_rule(full)
    assert (rule.for_, rule.resolve_after, rule.renotify, rule.no_data) == ("10m", "30m", "4h", "keep")
    assert rule_to_dict(rule) == full
    with pytest.raises(AlertValidationError, match="valid choices: ok, alert, keep"):
        parse_rule(dict(full, no_data="ignore"))
