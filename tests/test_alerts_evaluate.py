"""Evaluation and backtest: grouping, min samples, all/any nesting, episodes, single-condition noise."""
from __future__ import annotations

import numpy as np
import pytest

from alerts_data import H, NS, T0, WEEK_START, build_small, build_week
from tracedesk.alerts import parse_rule
from tracedesk.alerts.evaluate import backtest, combine, compare, evaluate, evaluation_grid
from tracedesk.alerts.storage import delete_rule, get_rule, list_rules, save_rule

G = {"type": "eval_score", "evaluator": "groundedness"}
R = {"type": "duration", "span_kind": "RETRIEVER"}


def _rule(condition, **kw):
    doc = {"tracedesk_alert": 1, "name": kw.pop("name", "t"), "window": "5m", "step": "5m",
           "condition": condition, **kw}
    return parse_rule(doc)


def _c(signal, agg, cmp, thr, **kw):
    return {"signal": signal, "aggregation": agg, "comparator": cmp, "threshold": thr, **kw}


@pytest.fixture
def small(db_path):
    return build_small(db_path)


def test_group_by_evaluates_each_group(small):
    rule = _rule(_c(G, "mean", "<", 0.8), group_by=["tenant"])
    events = evaluate(small, rule, at_ns=T0 + 300 * NS)
    got = {e["group"]["tenant"]: (e["conditions"][0]["value"], e["firing"]) for e in events}
    assert got == {"acme": (0.8, False), "beta": (0.5, True)}  # acme: A .9, C .7
    rule = _rule(_c(G, "mean", "<", 0.8), group_by=["route", "dims.region"])
    events = evaluate(small, rule, at_ns=T0 + 300 * NS)
    got = {tuple(e["group"].values()): e["conditions"][0]["value"] for e in events}
    assert got == {("billing", "eu"): 0.9, ("billing", "us"): 0.5, ("search", "eu"): 0.7}


def test_min_samples_blocks_thin_windows(small):
    assert evaluate(small, _rule(_c(G, "mean", "<", 0.8), min_samples=3), at_ns=T0 + 300 * NS)[0]["firing"]
    [event] = evaluate(small, _rule(_c(G, "mean", "<", 0.8), min_samples=4), at_ns=T0 + 300 * NS)
    assert event["firing"] is False
    assert event["conditions"][0]["value"] is None and event["conditions"][0]["count"] == 3
    # a condition's own min_samples overrides the rule's
    [event] = evaluate(small, _rule(_c(G, "mean", "<", 0.8, min_samples=2), min_samples=4), at_ns=T0 + 300 * NS)
    assert event["firing"] is True


def test_nested_all_any(small):
    at = T0 + 300 * NS
    low_g = _c(G, "mean", "<", 0.75)  # 0.7: true
    slow = _c(R, "p95", ">", 1000)  # 480: false
    errors = _c({"type": "error_rate"}, "rate", ">", 0.3)  # 1/3: true
    assert evaluate(small, _rule({"all": [low_g, slow]}), at_ns=at)[0]["firing"] is False
    assert evaluate(small, _rule({"any": [low_g, slow]}), at_ns=at)[0]["firing"] is True
    assert evaluate(small, _rule({"all": [low_g, {"any": [slow, errors]}]}), at_ns=at)[0]["firing"] is True
    assert evaluate(small, _rule({"all": [errors, {"all": [low_g, slow]}]}), at_ns=at)[0]["firing"] is False
    event = evaluate(small, _rule({"all": [low_g, {"any": [slow, errors]}]}), at_ns=at)[0]
    assert [(c["id"], c["firing"]) for c in event["conditions"]] == [("c0", True), ("c1", False), ("c2", True)]


def test_combine_and_compare_primitives():
    a, b, c = np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool), np.array([0, 0, 0, 1], bool)
    rule = _rule({"any": [{"all": [_c(G, "mean", "<", 1), _c(G, "mean", "<", 1)]}, _c(G, "mean", "<", 1)]})
    assert combine(rule.condition, [a, b, c]).tolist() == [True, False, False, True]
    values = np.array([1.0, np.nan, 3.0])
    assert compare(values, "!=", 2.0).tolist() == [True, False, True]  # no data never fires
    assert compare(values, "==", 3.0).tolist() == [False, False, True]
    assert compare(values, "<=", 1.0).tolist() == [True, False, False]
    assert compare(values, ">=", 3.0).tolist() == [False, False, True]


def test_grid_is_aligned_to_the_step():
    grid = evaluation_grid(T0 + 1, T0 + 600 * NS, 300)
    assert (grid - T0).tolist() == [300 * NS, 600 * NS]
    assert evaluation_grid(T0, T0 + 600 * NS - 1, 300).tolist() == [T0, T0 + 300 * NS, T0 + 600 * NS]


def test_backtest_merges_consecutive_windows_into_episodes(small):
    # Evaluations are stamped with their trace's start: A (.9 @60s) B (.5 @120s) C (.7 @240s) D (.2 @400s).
    # 5m windows every minute: the mean stays below .75 from the window ending at 2m (A, B: B sits on the
    # closed right edge) to the one ending at 11m (D alone): one episode.
    rule = _rule(_c(G, "mean", "<", 0.75), step="1m", name="dip")
    result = backtest(small, rule, since_ns=T0, until_ns=T0 + 720 * NS)
    [episode] = result.episodes
    assert ((episode.start_ns - T0) // NS, (episode.end_ns - T0) // NS, episode.evaluations) == (120, 660, 10)
    assert episode.window_start_ns == episode.start_ns - 300 * NS
    assert episode.values["c0"] == {"label": "eval_score(groundedness) mean < 0.75", "value": 0.7, "count": 2,
                                    "min": 0.2, "max": 0.7}
    assert episode.to_dict()["start"] == "2027-01-15T08:02:00Z"
    frame = result.frame()
    assert len(frame) == len(result.times) == 13 and int(frame["joint"].sum()) == 10
    # mean < .5 holds from 7m (B has left at (120s, 420s]: C, D .45) to 11m (D alone)
    split = backtest(small, _rule(_c(G, "mean", "<", 0.5), step="1m"), since_ns=T0, until_ns=T0 + 720 * NS)
    assert [((e.start_ns - T0) // NS, (e.end_ns - T0) // NS) for e in split.episodes] == [(420, 660)]
    gap = backtest(small, _rule(_c(G, "max", "<", 0.8), step="1m"), since_ns=T0, until_ns=T0 + 720 * NS)
    # max < .8 once A (.9 @60s) leaves the window (ending 6m: (60s, 360s]) until the data ends
    assert [((e.start_ns - T0) // NS, (e.end_ns - T0) // NS) for e in gap.episodes] == [(360, 660)]


def test_backtest_groups_and_single_condition_noise(db_path):
    db = build_week(db_path, hours=72)
    rule = parse_rule({
        "tracedesk_alert": 1, "name": "joint", "window": "15m", "step": "5m", "group_by": ["route"],
        "min_samples": 3,
        "condition": {"all": [_c(G, "mean", "<", 0.65), _c(R, "p95", ">", 1000)]},
    })
    result = backtest(db, rule)
    # joint: the refunds incident (50-53h) and the same story on billing (40-42h); blips do not fire it
    got = [(e.group["route"], round((e.start_ns - WEEK_START) / H, 2)) for e in result.episodes]
    assert [g for g, _ in got] == ["billing", "refunds"]
    assert 40 < got[0][1] < 40.5 and 50 < got[1][1] < 50.5
    # each condition alone also pages on its blip: groundedness on QUAL-BLIP, retriever on LAT-BLIP
    alone = {cid: sorted((e.group["route"], int((e.start_ns - WEEK_START) / H)) for e in eps)
             for cid, eps in result.condition_episodes.items()}
    assert alone == {"c0": [("billing", 40), ("refunds", 50), ("refunds", 62)],
                     "c1": [("billing", 40), ("refunds", 27), ("refunds", 50)]}
    summary = {r["condition"]: r["episodes"] for r in result.summary()}
    assert summary == {"all": 2, "c0": 3, "c1": 3}
    # scope instead of group-by keeps only refunds
    scoped = parse_rule(dict(rule_to_doc(rule), group_by=[], scope={"route": ["refunds"]}))
    assert [(e.group, int((e.start_ns - WEEK_START) / H)) for e in backtest(db, scoped).episodes] == [({}, 50)]


def rule_to_doc(rule):
    from tracedesk.alerts import rule_to_dict
    return rule_to_dict(rule)


def test_empty_database_and_latest_window(db_path):
    rule = _rule(_c(G, "mean", "<", 0.75))
    from tracedesk.store import connect
    db = connect(db_path)
    assert backtest(db, rule).episodes == []
    [event] = evaluate(db, rule)
    assert event["firing"] is False and event["conditions"][0]["count"] == 0
    small = build_small(db_path)
    # default time: the latest span (D's CHAIN steps at T0+400.05s) -> window (100.05s, 400.05s]: B, C, D
    [event] = evaluate(small, rule)
    assert event["at_ns"] == T0 + 400 * NS + 50_000_000
    assert event["conditions"][0]["value"] == pytest.approx(1.4 / 3, abs=1e-6) and event["firing"] is True


def test_saved_rules_round_trip(db_path):
    rule = _rule(_c(G, "mean", "<", 0.75), name="one", group_by=["route"])
    save_rule(db_path, rule)
    save_rule(db_path, _rule(_c(G, "mean", "<", 0.5), name="two"))
    save_rule(db_path, _rule(_c(G, "mean", "<", 0.6), name="two"))  # replace by name
    assert [r.name for r in list_rules(db_path)] == ["one", "two"]
    assert get_rule(db_path, "one") == rule
    assert get_rule(db_path, "two").leaves()[0].threshold == 0.6
    assert delete_rule(db_path, "one") is True and delete_rule(db_path, "one") is False
    assert [r.name for r in list_rules(db_path)] == ["two"]
