"""Alert definition v1: schema, friendly validation errors with JSON paths, exact round-trip."""
from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracedesk.alerts import (AGGREGATIONS, COMPARATORS, AlertValidationError, dumps_bundle, dumps_rule,
                              loads, parse_document, parse_rule, rule_to_dict, schema)
from tracedesk.alerts.definition import SIGNAL_SPECS, parse_duration

GOOD = {
    "tracedesk_alert": 1,
    "name": "refunds-grounding-regression",
    "description": "Grounding and retrieval broke together",
    "owner": "team-rag",
    "severity": "critical",
    "runbook": "Check the vector index replicas.",
    "scope": {"route": ["refunds"], "dims.region": ["eu", "us"]},
    "window": "15m",
    "step": "5m",
    "group_by": ["tenant"],
    "min_samples": 5,
    "condition": {"all": [
        {"signal": {"type": "eval_score", "evaluator": "groundedness"}, "aggregation": "mean",
         "comparator": "<", "threshold": 0.75},
        {"any": [
            {"signal": {"type": "duration", "span_kind": "RETRIEVER"}, "aggregation": "p95",
             "comparator": ">", "threshold": 800, "min_samples": 3},
            {"signal": {"type": "error_rate"}, "aggregation": "rate", "comparator": ">=", "threshold": 0.1},
        ]},
    ]},
}


def _errors(doc):
    with pytest.raises(AlertValidationError) as info:
        parse_rule(doc)
    return dict(info.value.errors)


def test_valid_document_parses_and_round_trips_exactly():
    rule = parse_rule(GOOD)
    assert rule_to_dict(rule) == GOOD
    text = dumps_rule(rule)
    assert dumps_rule(parse_rule(json.loads(text))) == text
    assert [leaf.label() for leaf in rule.leaves()] == [
        "eval_score(groundedness) mean < 0.75", "duration(RETRIEVER) p95 > 800", "error_rate rate >= 0.1"]
    assert rule.window_s == 900 and rule.step_s == 300
    jsonschema.validate(GOOD, schema())  # the published schema accepts it too


def test_defaults_are_filled_and_the_canonical_form_is_stable():
    doc = {"tracedesk_alert": 1, "name": "x",
           "condition": {"signal": {"type": "ttft"}, "aggregation": "p99", "comparator": ">", "threshold": 2000}}
    rule = parse_rule(doc)
    canonical = rule_to_dict(rule)
    assert canonical["window"] == "15m" and canonical["step"] == "5m" and canonical["min_samples"] == 1
    assert canonical["severity"] == "medium" and canonical["scope"] == {} and canonical["group_by"] == []
    assert rule_to_dict(parse_rule(canonical)) == canonical


@pytest.mark.parametrize("mutate, path, fragment", [
    (lambda d: d.pop("tracedesk_alert"), "$.tracedesk_alert", "is required"),
    (lambda d: d.update(tracedesk_alert=2), "$.tracedesk_alert", "valid choices: 1"),
    (lambda d: d.pop("name"), "$.name", "is required"),
    (lambda d: d.update(name="bad name!"), "$.name", "letters, digits"),
    (lambda d: d.update(severity="urgent"), "$.severity", "valid choices: critical, high, medium, low, info"),
    (lambda d: d.update(window="15 minutes"), "$.window", "e.g. '15m'"),
    (lambda d: d.update(step="0m"), "$.step", "unit s/m/h/d"),
    (lambda d: d.update(min_samples=0), "$.min_samples", ">= 1"),
    (lambda d: d.update(colour="red"), "$.colour", "valid fields"),
    (lambda d: d.update(scope={"region": ["eu"]}), "$.scope.region", "dims.NAME"),
    (lambda d: d.update(scope={"route": "refunds"}), "$.scope.route", "list of values"),
    (lambda d: d.update(group_by=["colour"]), "$.group_by[0]", "valid choices: route, tenant"),
    (lambda d: d.pop("condition"), "$.condition", "is required"),
    (lambda d: d["condition"]["all"][0].update(aggregation="avg"), "$.condition.all[0].aggregation",
     "valid choices: mean, min, max, sum, count, rate, p50, p90, p95, p99"),
    (lambda d: d["condition"]["all"][0].update(comparator="=<"), "$.condition.all[0].comparator",
     "valid choices: <, <=, >, >=, ==, !="),
    (lambda d: d["condition"]["all"][0].update(threshold="high"), "$.condition.all[0].threshold",
     "finite number"),
    (lambda d: d["condition"]["all"][0]["signal"].update(type="latency"), "$.condition.all[0].signal.type",
     "valid choices: cost_per_trace, duration"),
    (lambda d: d["condition"]["all"][0]["signal"].pop("evaluator"), "$.condition.all[0].signal.evaluator",
     "is required for signal 'eval_score'"),
    (lambda d: d["condition"]["all"][1]["any"][0]["signal"].update(span_kind="DB"),
     "$.condition.all[1].any[0].signal.span_kind", "valid choices: LLM, CHAIN, RETRIEVER"),
    (lambda d: d["condition"]["all"][1]["any"][1]["signal"].update(colour="x"),
     "$.condition.all[1].any[1].signal.colour", "valid parameters: span_kind"),
    (lambda d: d["condition"]["all"][1].update(any=[]), "$.condition.all[1].any", "non-empty list"),
    (lambda d: d["condition"].update(any=[]), "$.condition", "exactly one key"),
])
def test_invalid_documents_name_the_json_path_and_valid_choices(mutate, path, fragment):
    doc = json.loads(json.dumps(GOOD))
    mutate(doc)
    errors = _errors(doc)
    assert path in errors, errors
    assert fragment in errors[path]


def test_every_problem_is_reported_at_once():
    doc = json.loads(json.dumps(GOOD))
    doc["severity"] = "x"
    doc["condition"]["all"][0]["aggregation"] = "avg"
    assert set(_errors(doc)) == {"$.severity", "$.condition.all[0].aggregation"}


def test_bundles_lists_and_json_errors():
    second = dict(GOOD, name="second")
    text = dumps_bundle([parse_rule(GOOD), parse_rule(second)])
    assert [r.name for r in loads(text)] == ["refunds-grounding-regression", "second"]
    assert dumps_bundle(loads(text)) == text
    assert [r.name for r in parse_document([GOOD, second])] == ["refunds-grounding-regression", "second"]
    with pytest.raises(AlertValidationError) as info:
        parse_document({"tracedesk_alerts": 1, "alerts": [GOOD, dict(GOOD, severity="x")]})
    assert info.value.errors == [("$.alerts[1].severity",
                                  "unknown severity 'x'; valid choices: critical, high, medium, low, info")]
    with pytest.raises(AlertValidationError) as info:
        parse_document([GOOD, GOOD])
    assert "named 'refunds-grounding-regression'" in str(info.value)
    with pytest.raises(AlertValidationError) as info:
        loads("{not json")
    assert info.value.errors[0][0] == "$" and "line 1 column 2" in info.value.errors[0][1]


def test_schema_lists_registered_types_and_rejects_what_the_parser_rejects():
    doc = schema()
    assert doc["$defs"]["signal"]["properties"]["type"]["enum"] == sorted(SIGNAL_SPECS)
    assert doc["$defs"]["condition"]["properties"]["aggregation"]["enum"] == list(AGGREGATIONS)
    assert doc["$defs"]["condition"]["properties"]["comparator"]["enum"] == list(COMPARATORS)
    bad = json.loads(json.dumps(GOOD))
    bad["window"] = "15 minutes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, doc)


def test_durations():
    assert [parse_duration(x) for x in ("30s", "5m", "1h", "2d")] == [30, 300, 3600, 172800]
    with pytest.raises(ValueError, match="e.g. '15m'"):
        parse_duration("5 min")


_leaf = st.builds(
    lambda sig, agg, cmp, thr, ms: {"signal": sig, "aggregation": agg, "comparator": cmp, "threshold": thr,
                                    **({"min_samples": ms} if ms else {})},
    st.sampled_from([{"type": "eval_score", "evaluator": "groundedness"}, {"type": "duration", "span_kind": "LLM"},
                     {"type": "duration"}, {"type": "refusal_rate", "source": "evaluation"}, {"type": "ttft"},
                     {"type": "eval_fail_rate", "evaluator": "pii"}]),
    st.sampled_from(AGGREGATIONS), st.sampled_from(COMPARATORS),
    st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False)),
    st.one_of(st.none(), st.integers(1, 50)),
)
_node = st.recursive(_leaf, lambda inner: st.builds(lambda op, items: {op: items}, st.sampled_from(["all", "any"]),
                                                    st.lists(inner, min_size=1, max_size=3)), max_leaves=6)
_doc = st.builds(
    lambda name, sev, win, grp, ms, node, scope, text: {
        "tracedesk_alert": 1, "name": name, "description": text, "owner": text, "severity": sev, "runbook": text,
        "scope": scope, "window": win, "step": "5m", "group_by": grp, "min_samples": ms, "condition": node},
    st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True), st.sampled_from(["critical", "low", "info"]),
    st.sampled_from(["5m", "15m", "1h", "2h"]), st.sampled_from([[], ["route"], ["tenant", "dims.region"]]),
    st.integers(1, 100), _node,
    st.dictionaries(st.sampled_from(["route", "tenant", "model", "dims.team"]),
                    st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3), max_size=3),
    st.text(max_size=30),
)


@settings(max_examples=150, deadline=None)
@given(_doc)
def test_round_trip_property(doc):
    rule = parse_rule(doc)
    assert rule_to_dict(rule) == doc
    assert parse_rule(json.loads(dumps_rule(rule))) == rule


def test_the_documented_alert_example_is_a_valid_rule():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "alerts.md").read_text()
    block = doc.split("```json")[1].split("```")[0]
    rule = parse_rule(json.loads(block))
    assert rule.name == "rag-regression" and rule.group_by == ("route",) and len(rule.leaves()) == 2
