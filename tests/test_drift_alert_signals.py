"""Drift statistics as alert signals: one joint rule over retrieval overlap AND groundedness."""
from __future__ import annotations

import numpy as np
import pytest

import tracedesk.drift.alert_signals  # noqa: F401  (registers the drift signals)
from tracedesk import store
from tracedesk.alerts import parse_rule
from tracedesk.alerts.evaluate import backtest, evaluate
from tracedesk.alerts.signals import SIGNALS, SampleQuery, samples
from tracedesk.drift.synthetic import write_synthetic

DAY = 86_400 * 10**9
T0 = 1_790_000_000 * 10**9
SHIFT_AT = T0 + 5 * DAY


@pytest.fixture(scope="module")
def shifted_db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("driftalert") / "a.db")
    write_synthetic(path, 2800, T0, T0 + 7 * DAY, shift_at_ns=SHIFT_AT, shift_cohort="billing",
                    shifts=("retrieval", "evaluator", "output"), seed=9)
    return path


def _rule(**extra):
    doc = {
        "tracedesk_alert": 1, "name": "rag-reindex-broke-grounding", "window": "6h", "step": "1h",
        "group_by": ["route"], "min_samples": 10,
        "condition": {"all": [
            {"signal": {"type": "retrieval_topk_overlap", "reference": "2d"}, "aggregation": "mean",
             "comparator": "<", "threshold": 0.5},
            {"signal": {"type": "eval_score", "evaluator": "groundedness"}, "aggregation": "mean",
             "comparator": "<", "threshold": 0.8},
        ]},
    }
    doc.update(extra)
    return parse_rule(doc)


def test_drift_signals_are_registered_with_specs():
    for name in ("retrieval_topk_overlap", "retrieval_new_docs", "output_length_shift"):
        assert name in SIGNALS
    assert SIGNALS["retrieval_topk_overlap"].spec.default_aggregation == "mean"


def test_joint_rule_fires_for_the_reindexed_cohort_only(shifted_db):
    result = backtest(shifted_db, _rule())
    assert result.episodes, "the joint rule should fire after the reindex"
    assert {e.group["route"] for e in result.episodes} == {"billing"}
    first = min(e.start_ns for e in result.episodes)
    # fires once the 6h window holds enough shifted samples, not before the shift
    assert SHIFT_AT <= first <= SHIFT_AT + 6 * 3600 * 10**9
    # a check 8h after the reindex fires for billing; two days later the rolling 2d baseline has
    # absorbed the new index, so the same check is quiet again
    events = evaluate(shifted_db, _rule(), at_ns=SHIFT_AT + 8 * 3600 * 10**9)
    assert {e["group"]["route"]: e["firing"] for e in events} == {"billing": True, "search": False}
    late = evaluate(shifted_db, _rule())
    assert {e["group"]["route"]: e["firing"] for e in late} == {"billing": False, "search": False}


def test_topk_overlap_samples_before_and_after(shifted_db):
    db = store.connect(shifted_db)
    q = SampleQuery(scope={}, group_by=("route",), since_ns=T0 + 4 * DAY, until_ns=T0 + 7 * DAY)
    frame = samples(db, {"type": "retrieval_topk_overlap", "reference": "2d"}, q)
    assert set(frame.columns) == {"t", "v", "route", "trace_id"}  # samples name their trace (tracedesk.signals)
    assert frame["v"].between(0, 1).all()
    after = frame[(frame["t"] >= SHIFT_AT)]
    before = frame[(frame["t"] < SHIFT_AT)]
    assert after.loc[after["route"] == "billing", "v"].max() == 0.0  # new index: no shared document
    assert before.loc[before["route"] == "billing", "v"].mean() > 0.6
    assert after.loc[after["route"] == "search", "v"].mean() > 0.6
    new = samples(db, {"type": "retrieval_new_docs", "reference": "2d"}, q)
    assert new.loc[(new["t"] >= SHIFT_AT) & (new["route"] == "billing"), "v"].mean() == 1.0
    assert set(np.unique(new["v"])) <= {0.0, 1.0}


def test_output_length_shift_is_relative_to_the_cohort_baseline(shifted_db):
    db = store.connect(shifted_db)
    q = SampleQuery(scope={"route": ("billing",)}, group_by=(), since_ns=T0 + 4 * DAY, until_ns=T0 + 7 * DAY)
    frame = samples(db, {"type": "output_length_shift", "reference": "3d"}, q)
    before = frame.loc[frame["t"] < SHIFT_AT, "v"].mean()
    after = frame.loc[frame["t"] >= SHIFT_AT, "v"].mean()
    assert abs(before) < 0.1  # same traffic as the baseline: no shift
    assert after > 0.5  # answers about twice as long after the shift


def test_bad_parameter_is_a_validation_error():
    from tracedesk.alerts import AlertValidationError

    with pytest.raises(AlertValidationError, match="reference"):
        parse_rule({"tracedesk_alert": 1, "name": "x", "condition": {
            "signal": {"type": "retrieval_topk_overlap", "reference": "5w"}, "aggregation": "mean",
            "comparator": "<", "threshold": 0.5}})


def test_headless_check_of_a_rule_using_a_drift_signal(shifted_db, tmp_path, capsys):
    """`tracedesk alerts check` loads the drift signals itself (the alerts registry's provider hook)."""
    import json

    from tracedesk.alerts import dumps_rule
    from tracedesk.cli import main
    from tracedesk.drift.windows import iso

    rules = tmp_path / "rule.json"
    rules.write_text(dumps_rule(_rule()))
    at = iso(SHIFT_AT + 8 * 3600 * 10**9)
    assert main(["alerts", "check", str(rules), "--db", shifted_db, "--at", at]) == 1
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [e["group"] for e in events if e["firing"]] == [{"route": "billing"}]
    # a fresh process, where nothing imported tracedesk.drift beforehand, knows the drift signals too
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "tracedesk", "alerts", "validate", str(rules)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_builder_proposes_the_bad_direction_for_drift_signals():
    from tracedesk.alerts.builder import signal_choices
    from tracedesk.store import connect

    proposed = {c.signal["type"]: (c.aggregation, c.comparator, c.threshold)
                for c in signal_choices(connect(":memory:")) if "drift" in c.label}
    assert proposed == {"retrieval_topk_overlap": ("mean", "<", 0.5),
                        "retrieval_new_docs": ("rate", ">", 0.3),
                        "output_length_shift": ("mean", "<", -0.3)}


def test_reference_is_never_shorter_than_asked(shifted_db):
    # A backtest from the first span (not on the clock grid): the rolling reference would hold minutes of
    # history and make every document new. The first 2 days of data are the reference instead, so before
    # the reindex no route fires on new documents.
    rule = parse_rule({"tracedesk_alert": 1, "name": "new-docs", "window": "6h", "step": "1h", "group_by": ["route"],
                       "min_samples": 10, "condition": {"signal": {"type": "retrieval_new_docs", "reference": "2d"},
                                                        "aggregation": "rate", "comparator": ">", "threshold": 0.5}})
    result = backtest(shifted_db, rule)
    before = [e for e in result.episodes if e.start_ns < SHIFT_AT]
    assert before == []
    assert {e.group["route"] for e in result.episodes} == {"billing"}


def test_history_shorter_than_the_reference_is_reported(shifted_db):
    from tracedesk.drift.alert_signals import ReferenceTooShortWarning

    query = SampleQuery(scope={}, group_by=("route",), since_ns=T0, until_ns=T0 + DAY)
    with pytest.warns(ReferenceTooShortWarning, match="holds only 16[78].[0-9] h of history"):
        samples(store.connect(shifted_db), {"type": "retrieval_new_docs", "reference": "14d"}, query)
