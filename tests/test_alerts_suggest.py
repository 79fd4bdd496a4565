"""Suggest a joint alert from a marked incident."""
from __future__ import annotations

import pytest

from alerts_data import H, WEEK_START, build_week
from tracedesk.alerts import dumps_rule, parse_rule, rule_to_dict
from tracedesk.alerts.evaluate import backtest
from tracedesk.alerts.suggest import suggest_rule


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("week") / "week.db")
    build_week(path, hours=72)
    return path


def test_suggests_the_joint_rule_that_removes_the_blips(week):
    s = suggest_rule(week, WEEK_START + 50 * H, WEEK_START + 53 * H, {"route": "refunds"}, name="refunds-joint")
    # the two signals that moved, strongest first
    assert [(m.label, m.direction) for m in s.movers[:1]] == [("duration(RETRIEVER) p95", "up")]
    assert ("eval_score(groundedness) mean", "down") in [(m.label, m.direction) for m in s.movers]
    leaves = s.rule.leaves()
    assert {(c.signal["type"], c.comparator) for c in leaves} == {("duration", ">"), ("eval_score", "<")}
    assert s.rule.scope == {"route": ("refunds",)}
    # it catches the incident and nothing else in the 3 days (the LAT-BLIP and QUAL-BLIP are not paged)
    assert s.caught and s.false_episodes == 0
    [episode] = s.backtest.episodes
    assert 50 * H < episode.start_ns - WEEK_START < 50.5 * H
    # each of its conditions alone would have paged on a blip: the joint rule removes that noise
    alone = {r["condition"]: r["episodes"] for r in s.backtest.summary()}
    assert alone["all"] == 1 and all(v == 2 for k, v in alone.items() if k != "all")
    # the suggestion is a normal, valid, exportable document that backtests the same way
    again = parse_rule(rule_to_dict(s.rule))
    assert dumps_rule(again) == dumps_rule(s.rule)
    assert [e.start_ns for e in backtest(week, again).episodes] == [episode.start_ns]
    assert s.to_dict()["false_episodes"] == 0


def test_bad_incidents_are_explained(week, db_path):
    with pytest.raises(ValueError, match="must end after it starts"):
        suggest_rule(week, WEEK_START + 2 * H, WEEK_START + H, {"route": "refunds"})
    # a value no trace has is named, with the stored values (it said 'no data in this cohort')
    with pytest.raises(ValueError, match=r"^cohort route='nowhere' matches no trace or span in this database; "
                                         r"stored: billing, refunds$"):
        suggest_rule(week, WEEK_START + 50 * H, WEEK_START + 53 * H, {"route": "nowhere"})
    with pytest.raises(ValueError, match=r"\(did you mean 'refunds'\?\)"):
        suggest_rule(week, WEEK_START + 50 * H, WEEK_START + 53 * H, {"route": "refund"})
    with pytest.raises(ValueError, match="unknown cohort dimension 'colour'; valid choices: route, tenant"):
        suggest_rule(week, WEEK_START + 50 * H, WEEK_START + 53 * H, {"colour": "red"})
    from tracedesk.store import connect
    connect(db_path)
    with pytest.raises(ValueError, match="ingest traces first"):
        suggest_rule(db_path, WEEK_START, WEEK_START + H, {})


def test_a_confident_rule_is_probed_for_fragility_in_bound_space():
    """The fragility probe of a rate judged at a confidence moves its threshold by a share of the gap between
    the Wilson bounds of the baseline's and the incident's rate in a typical window (the median count of the
    windows holding samples: 10 here), not of the raw rates: 2% -> 55% in windows of 10 is 0.000 -> 0.177 at
    99.9%. A series with no samples has no typical window."""
    import numpy as np
    from types import SimpleNamespace

    from tracedesk.alerts.suggest import _typical_bound_gap

    mover = SimpleNamespace(baseline=0.02, incident=0.55)
    series = SimpleNamespace(counts=np.array([0, 10, 9, 10, 12, 0]))
    assert round(_typical_bound_gap(mover, series, 0.999, up=True), 4) == 0.1766  # type: ignore[arg-type]
    assert _typical_bound_gap(mover, SimpleNamespace(counts=np.array([0, 0])), 0.999, up=True) == 0.0  # type: ignore[arg-type]
