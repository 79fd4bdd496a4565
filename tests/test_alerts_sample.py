"""On the bundled sample week: the suggester catches the labelled joint incident (INC-01) on time with no
false episode in its cohort's history, and the hand-written joint rule (grouped by route) pages once where
its parts page often."""
from __future__ import annotations

import pytest

from tracedesk.alerts import parse_rule
from tracedesk.alerts.definition import Relative
from tracedesk.alerts.evaluate import backtest, parse_time
from tracedesk.alerts.suggest import suggest_rule


@pytest.fixture(scope="module")
def incidents():
    from tracedesk.sample.demo import sample_incidents

    return {i["id"]: i for i in sample_incidents()["incidents"]}


def _overlaps(episode, incident):
    return episode.window_start_ns < parse_time(incident["end"]) and episode.end_ns > parse_time(incident["start"])


def test_suggester_catches_the_joint_incident_on_time_and_nothing_else(sample_db_path, incidents):
    inc = incidents["INC-01"]
    assert inc["type"] == "joint_regression" and inc["should_page"]
    s = suggest_rule(sample_db_path, parse_time(inc["start"]), parse_time(inc["end"]), inc["cohort"])
    # the two signals the incident is labelled with are the two strongest movers, in the right direction
    top = {(m.signal["type"], m.signal.get("evaluator") or m.signal.get("span_kind"), m.direction)
           for m in s.movers[:2]}
    assert top == {("duration", "RETRIEVER", "up"), ("eval_score", "groundedness", "down")}
    # on time first, then quiet elsewhere: refunds' retriever p95 alone pages at the first step, and so does
    # its AND with groundedness against the day before (each condition over its own window), which pages on no
    # other route (the retriever alone would have paged twice there: what the proposed group_by would add)
    assert [(c.signal, c.aggregation, c.comparator, c.threshold, c.window) for c in s.rule.leaves()] == [
        ({"type": "duration", "span_kind": "RETRIEVER"}, "p95", ">", 1300.0, "10m"),
        ({"type": "eval_score", "evaluator": "groundedness"}, "mean", "<", 0.0, None)]
    assert s.rule.leaves()[1].relative_to == Relative(window="1d", offset="5m", delta=-0.39)
    assert s.rule.scope == {"route": ("refunds",)} and s.rule.window == "5m"
    assert (s.caught, s.false_episodes, s.false_pages, s.pages_in_incident, s.delay_min) == (True, 0, 0, 1, 5.0)
    assert s.backtest.episodes and all(_overlaps(e, inc) for e in s.backtest.episodes)
    assert s.group_by == ("route",) and s.reference_false_pages == 0 and s.fragile_pages == 0
    assert s.warnings == []

def test_joint_rule_skips_the_single_signal_blips(sample_db_path, incidents):
    c = lambda sig, agg, cmp, thr: {"signal": sig, "aggregation": agg, "comparator": cmp, "threshold": thr}  # noqa: E731
    rule = parse_rule({
        "tracedesk_alert": 1, "name": "rag-regression", "window": "1h", "step": "5m", "group_by": ["route"],
        "min_samples": 3, "condition": {"all": [
            c({"type": "eval_score", "evaluator": "groundedness"}, "mean", "<", 0.6),
            c({"type": "duration", "span_kind": "RETRIEVER"}, "p95", ">", 1000)]}})
    result = backtest(sample_db_path, rule)
    assert [(e.group["route"], _overlaps(e, incidents["INC-01"])) for e in result.episodes] == [("refunds", True)]
    # each condition alone pages on other routes / other days, where no incident should page
    pages = [i for i in incidents.values() if i["should_page"]]
    for cid, eps in result.condition_episodes.items():
        noise = [e for e in eps if not any(_overlaps(e, i) and e.group["route"] == i["cohort"].get("route")
                                          for i in pages)]
        assert len(noise) >= 3, cid
