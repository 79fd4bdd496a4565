"""Score-only evaluations get a verdict from their evaluator's pass rule (built-in, default, or the user's)."""
from __future__ import annotations

import json
import sqlite3

import pytest

import tracedesk
from tracedesk.evals.thresholds import LOWER, PassRule, default_rule, validate_rule
from tracedesk.models import Evaluation, Span
from tracedesk.store import connect, write_batch
from tracedesk.analysis import metrics
from tracedesk.store.evals import evaluator_rules, save_pass_rule
from weeks.fixtures import second_week, second_week_db  # noqa: F401  (pytest fixtures)

T0 = 1_790_000_000 * 10**9


def _db(tmp_path, evaluations):
    db = connect(str(tmp_path / "t.db"))
    spans = [Span(trace_id=f"{i + 1:032x}", span_id=f"{i + 1:016x}", kind="LLM", start_ns=T0 + i, end_ns=T0 + i + 5)
             for i in range(len(evaluations))]
    evs = [Evaluation(trace_id=s.trace_id, span_id=s.span_id, **e) for s, e in zip(spans, evaluations)]
    write_batch(db, spans, evs)
    return db


def verdicts(db):
    return [(r[0], r[1], r[2]) for r in db.execute(
        "SELECT name, score, passed FROM evaluations ORDER BY trace_id")]


def test_rules_for_built_in_unknown_and_harm_names():
    assert default_rule("groundedness").origin == "built-in"
    assert default_rule("Groundedness") == default_rule("groundedness")
    assert default_rule("my_metric") == PassRule(0.5, "higher", "default")
    assert default_rule("hallucination") == PassRule(0.5, LOWER, "default")  # imported: the harm's score
    assert default_rule("hallucination", imported=False).origin == "built-in"  # tracedesk's judge: higher is better
    assert default_rule("toxicity").passes(0.2) and not default_rule("toxicity").passes(0.8)


def test_score_only_rows_get_a_verdict_and_given_verdicts_are_kept(tmp_path):
    threshold = default_rule("groundedness").threshold
    db = _db(tmp_path, [
        {"name": "my_metric", "score": 0.49}, {"name": "my_metric", "score": 0.5},
        {"name": "hallucination", "score": 0.8}, {"name": "groundedness", "score": threshold},
        {"name": "my_metric", "score": 0.1, "passed": True},  # the source's verdict wins
        {"name": "my_metric", "label": "good"},  # no score: nothing to derive
    ])
    assert verdicts(db) == [("my_metric", 0.49, 0), ("my_metric", 0.5, 1), ("hallucination", 0.8, 0),
                            ("groundedness", threshold, 1), ("my_metric", 0.1, 1), ("my_metric", None, None)]
    marks = [r[0] for r in db.execute("SELECT json_extract(metadata, '$.passed_from') FROM evaluations "
                                      "ORDER BY trace_id")]
    assert marks == ["threshold", "threshold", "threshold", "threshold", None, None]


def test_a_user_rule_re_derives_only_derived_verdicts(tmp_path):
    db = _db(tmp_path, [{"name": "my_metric", "score": 0.49}, {"name": "my_metric", "score": 0.7},
                        {"name": "my_metric", "score": 0.1, "passed": True}])
    assert save_pass_rule(db, "my_metric", 0.8, "higher") == 2
    assert [r[2] for r in verdicts(db)] == [0, 0, 1]
    assert save_pass_rule(db, "my_metric", 0.3, "lower") == 2
    assert [r[2] for r in verdicts(db)] == [0, 0, 1]
    # new rows follow the stored rule too
    write_batch(db, [Span(trace_id="f" * 32, span_id="f" * 16, kind="LLM", start_ns=T0, end_ns=T0 + 1)],
                [Evaluation(trace_id="f" * 32, span_id="f" * 16, name="my_metric", score=0.2)])
    assert db.execute("SELECT passed FROM evaluations WHERE trace_id = ?", ["f" * 32]).fetchone()[0] == 1
    (row,) = evaluator_rules(db, metrics.eval_tallies(db, derived=True))
    assert (row["evaluator"], row["rule"], row["origin"], row["evaluations"], row["derived_verdicts"]) == (
        "my_metric", "≤ 0.3", "user", 4, 3)


@pytest.mark.parametrize("threshold, direction, message", [
    ("x", "higher", "must be a number"), (float("nan"), "higher", "must be finite"),
    (0.5, "up", "must be one of higher, lower")])
def test_bad_rules_name_the_fix(threshold, direction, message):
    with pytest.raises(ValueError, match=message):
        validate_rule("my_metric", threshold, direction)


def test_score_only_week_has_pass_rates(second_week_db):
    """The second week (not written by this code) sends score-only groundedness and relevance: the pass
    rate and every evaluator's verdict exist, and the derived verdicts follow each evaluator's rule."""
    ws = tracedesk.open(second_week_db.db)
    assert ws.kpis()["eval_pass_rate"] is not None
    con = sqlite3.connect(second_week_db.db)
    unjudged = con.execute("SELECT COUNT(*) FROM evaluations WHERE score IS NOT NULL AND passed IS NULL "
                           "AND error IS NULL").fetchone()[0]
    assert unjudged == 0
    for name, score, passed, meta in con.execute(
            "SELECT name, score, passed, metadata FROM evaluations WHERE score IS NOT NULL LIMIT 500"):
        if json.loads(meta or "{}").get("passed_from") == "threshold":
            assert bool(passed) == default_rule(name).passes(score)


def test_the_workspace_handle_sets_rules_and_names_bad_ones(tmp_path):
    from tracedesk.errors import InputError

    _db(tmp_path, [{"name": "my_metric", "score": 0.6}])
    ws = tracedesk.open(str(tmp_path / "t.db"))
    assert ws.evals.set_pass_rule("my_metric", 0.7, "higher") == 1
    assert [(r["evaluator"], r["rule"], r["pass_rate"]) for r in ws.evals.pass_rules()] == [("my_metric", "≥ 0.7", 0.0)]
    with pytest.raises(InputError, match="one of higher, lower"):
        ws.evals.set_pass_rule("my_metric", 0.7, "sideways")
