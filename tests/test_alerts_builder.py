"""The page's library side: builder choices and rules from widget values, and the backtest chart."""
from __future__ import annotations

import pytest

from alerts_data import build_week
from tracedesk.alerts import AlertValidationError, rule_to_dict
from tracedesk.alerts.builder import build_rule, default_choice, dimension_values, form_values, signal_choices
from tracedesk.charts.alerts import backtest_chart, episodes_frame, summary_frame
from tracedesk.alerts.evaluate import backtest


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("b") / "week.db")
    build_week(path, hours=72)
    return path


def test_choices_come_from_the_data_and_default_to_the_rag_pair(week):
    choices = signal_choices(week)
    labels = [c.label for c in choices]
    assert labels[:4] == ["groundedness score", "CHAIN duration (ms)", "LLM duration (ms)", "RETRIEVER duration (ms)"]
    assert [labels[default_choice(choices, i)] for i in range(3)] == [
        "groundedness score", "RETRIEVER duration (ms)", "error rate (traces)"]
    assert dimension_values(week, "route") == ["billing", "refunds"]
    with pytest.raises(ValueError, match="valid choices: route, tenant"):
        dimension_values(week, "colour")


def test_build_rule_from_widget_values_and_back(week):
    choices = {c.label: c for c in signal_choices(week)}
    g, r = choices["groundedness score"], choices["RETRIEVER duration (ms)"]
    conditions = [{"signal": g.signal, "aggregation": "mean", "comparator": "<", "threshold": 0.65},
                  {"signal": r.signal, "aggregation": "p95", "comparator": ">", "threshold": 1000.0}]
    rule = build_rule(name="ui-rule", conditions=conditions, scope={"route": ["refunds"], "tenant": []},
                      min_samples=3, severity="high")
    doc = rule_to_dict(rule)
    assert doc["scope"] == {"route": ["refunds"]} and doc["condition"]["all"][1]["threshold"] == 1000.0
    values = form_values(rule)
    assert values["combine"] == "all" and values["conditions"] == conditions
    single = build_rule(name="one", conditions=conditions[:1])
    assert form_values(single)["conditions"] == conditions[:1]
    with pytest.raises(AlertValidationError) as info:
        build_rule(name="x", conditions=conditions, window="7m7")
    assert [p for p, _ in info.value.errors] == ["$.window"]

    result = backtest(week, rule)
    assert list(summary_frame(result)["episodes"]) == [1, 2, 2]
    assert list(episodes_frame(result)["evaluations"]) == [result.episodes[0].evaluations]
    spec = backtest_chart(result).to_dict()
    assert len(spec["vconcat"]) == 2  # one panel per condition
    assert [p["title"] for p in spec["vconcat"]] == ["eval_score(groundedness) mean < 0.65",
                                                      "duration(RETRIEVER) p95 > 1000"]


def test_topk_overlap_defaults_to_half_of_the_day_before(week):
    import tracedesk.drift.alert_signals  # noqa: F401  (registers the drift signals)

    [choice] = [c for c in signal_choices(week) if c.signal == {"type": "retrieval_topk_overlap"}]
    assert (choice.comparator, choice.threshold, choice.relative_to) == (
        "<", 0.5, {"window": "1d", "offset": "1d", "factor": 0.5})
    rule = build_rule(name="overlap", conditions=[{"signal": choice.signal, "aggregation": "mean",
                                                   "comparator": "<", "threshold": 0.5,
                                                   "relative_to": choice.relative_to}])
    assert rule_to_dict(rule)["condition"] == {"signal": {"type": "retrieval_topk_overlap"}, "aggregation": "mean",
                                               "comparator": "<",
                                               "relative_to": {"window": "1d", "offset": "1d", "factor": 0.5}}
    assert form_values(rule)["conditions"][0]["relative_to"] == {"window": "1d", "offset": "1d", "factor": 0.5}


def test_a_condition_row_against_the_other_groups(week):
    """The builder's 'Against' picker: a fixed number, or the other values of a group_by dimension (peers); a
    signal that compares with its own past (retrieval top-k overlap) keeps that and is offered nothing else."""
    from tracedesk.alerts.builder import (against_choices, against_label, builder_condition, start_threshold,
                                          threshold_label)
    from tracedesk.alerts.builder import SignalChoice

    by_label = {c.label: c for c in signal_choices(week)}
    retr = by_label["RETRIEVER duration (ms)"]
    assert against_choices(retr, ["route", "tenant"]) == ["", "route", "tenant"]
    assert [against_label(d) for d in ("", "route")] == ["a fixed number", "x the other route values"]
    assert (threshold_label(retr, ""), threshold_label(retr, "route")) == ("Threshold", "Factor of the other route values")
    assert (start_threshold(retr, ">", "route"), start_threshold(retr, "<", "route")) == (2.0, 0.5)
    assert start_threshold(retr, ">", "") == retr.threshold
    cond = builder_condition(retr, "p95", ">", 3.0, "route")
    assert cond["relative_to"] == {"peers": "route", "factor": 3.0}
    rule = build_rule(name="vs-peers", conditions=[cond], group_by=["route"], window="1h")
    assert rule_to_dict(rule)["condition"]["relative_to"] == {"peers": "route", "factor": 3.0}
    assert builder_condition(retr, "p95", ">", 900.0)["relative_to"] is None
    overlap = SignalChoice("top-k overlap", {"type": "retrieval_topk_overlap"}, "mean", "<", 0.5,
                           {"window": "1d", "offset": "1d", "factor": 0.5})
    assert against_choices(overlap, ["route"]) == [""]
    assert builder_condition(overlap, "mean", "<", 0.4)["relative_to"] == {"window": "1d", "offset": "1d", "factor": 0.4}
