"""Acceptance on labelled weeks: the suggester, given only an incident's time range and cohort, proposes a
rule that pages on it within 2 steps, once, with no false page elsewhere in the week: on the sample week
(including a model name that did not exist before the incident) and on the second, independently written
week (tests/weeks), which the suggester was not tuned on."""
from __future__ import annotations

import json

import pytest

from tracedesk.alerts.evaluate import backtest, parse_time
from tracedesk.alerts.states import pages
from tracedesk.alerts.suggest import suggest_rule
from weeks.fixtures import IngestedWeek, second_week, second_week_db  # noqa: F401  (pytest fixtures)
from weeks.third_fixtures import IngestedThirdWeek, third_week, third_week_db  # noqa: F401  (pytest fixtures)

STEP_MIN = 5


def _check(db, incident, incidents, from_ns=None):
    """from_ns: count the 2 steps from there instead of the label's start (the third week's detectable_from,
    its first trace that carries the incident)."""
    start, end = parse_time(incident["start"]), parse_time(incident["end"])
    # the second week's labels call the tool dimension "tool"; the rule language says tool_name
    cohort = {{"tool": "tool_name"}.get(k, k): v for k, v in incident["cohort"].items()}
    s = suggest_rule(db, start, end, cohort, name=f"suggested-{incident['id']}")
    # "within 2 steps of its start", counted from the first evaluation at or after the start: an incident
    # starting at 10:19 is first seen by the 10:20 evaluation (on the 5-minute grid), so 10:30 is 2 steps
    step = STEP_MIN * 60 * 10**9
    first_eval = -(-(from_ns or start) // step) * step
    assert s.caught and s.delay_min is not None, s.warnings
    assert start + s.delay_min * 60e9 - first_eval <= 2 * step, (s.rule_summary(), s.delay_min)
    assert s.false_pages == 0 and s.pages_in_incident == 1, s.warnings
    # the same figures from the rule itself, through the on-call state machine, over the whole week
    found = pages(s.rule, backtest(db, s.rule))
    other = [i for i in incidents if i["should_page"] and i["cohort"] == incident["cohort"] and i is not incident]
    inside = [p for p in found if p.fired_ns - s.rule.window_s * 10**9 < end and (p.resolved_ns or end) > start]
    assert len(inside) == 1 and len(found) == 1 + sum(
        1 for p in found if p not in inside and any(parse_time(o["start"]) <= p.fired_ns < parse_time(o["end"])
                                                    for o in other))
    return s


@pytest.fixture(scope="module")
def sample_incidents():
    from tracedesk.sample.demo import sample_incidents as load

    return load()["incidents"]


def test_sample_week_new_model_name(sample_db_path, sample_incidents):
    inc = next(i for i in sample_incidents if i["id"] == "INC-05")
    assert inc["cohort"] == {"model": "gemini-2.5-flash-preview-09-2025"} and inc["should_page"]
    s = _check(sample_db_path, inc, sample_incidents)
    # the model name did not exist before: the baseline is the model it replaced
    assert s.reference == {"scope": {"model": ["gemini-2.5-flash"]},
                           "why": "model=gemini-2.5-flash (the value it replaced: its share of the traffic fell 100% "
                                  "in the 1d after the new value's first trace)"}
    assert [c.signal["type"] for c in s.rule.leaves()] == ["refusal_rate_answer"]  # refusals per LLM answer


def test_sample_week_joint_regression(sample_db_path, sample_incidents):
    _check(sample_db_path, next(i for i in sample_incidents if i["id"] == "INC-01"), sample_incidents)


def test_sample_week_tool_retry_loop(sample_db_path, sample_incidents):
    _check(sample_db_path, next(i for i in sample_incidents if i["id"] == "INC-04"), sample_incidents)


@pytest.mark.parametrize("incident_id", ["W2-02", "W2-04", "W2-06"])
def test_second_week(second_week_db: IngestedWeek, incident_id):
    incidents = json.loads(second_week_db.week.incidents.read_text())["incidents"]
    _check(second_week_db.db, next(i for i in incidents if i["id"] == incident_id), incidents)


def test_second_week_new_prompt_version_against_the_one_it_replaced(second_week_db: IngestedWeek):
    """W2-05: a prompt version that did not exist before the incident; the suggester judges it as a new
    cohort (relative_to.new_cohort) against the version it replaced, grouped by the prompt version."""
    incidents = json.loads(second_week_db.week.incidents.read_text())["incidents"]
    s = _check(second_week_db.db, next(i for i in incidents if i["id"] == "W2-05"), incidents)
    rel = [c.relative_to for c in s.rule.leaves() if c.relative_to is not None]
    assert [(r.new_cohort, r.versus) for r in rel] == [("prompt_version", "replaced")]
    assert s.rule.group_by == ("prompt_version",) and s.rule.scope == {}
    assert s.delay_min == 1.5  # the 12:15 evaluation, 90 s after the incident's (and the version's) first trace
    # replaced on the evidence of a day either side of its first trace: kyc-v3.1's share fell 83% (over the hour
    # after it, search-v12's fell most, 35%: a daily cycle, not a replacement)
    assert s.reference == {"scope": {"prompt_version": ["kyc-v3.1"]},
                           "why": "prompt_version=kyc-v3.1 (the value it replaced: its share of the traffic fell 83% "
                                  "in the 1d after the new value's first trace)"}


# ---------------------------------------------------------------------------------------------
# The third week (tests/weeks/third_week.py, written from the spec only, after the suggester): the same check,
# counted from each label's detectable_from (its first trace carrying the incident; W3-01's tenant sent no
# policy_qa trace for 19 minutes after its shard failed over). Known misses carry what benchmarks/alerts.py
# measured for the suggester's rule.

THIRD_WEEK_MISSES = {
    "W3-02": "a 30-hour linear ramp: the suggested cost_per_trace mean > 0.013 (5m) first pages 733 min after the "
             "start, near the top of the ramp. The data's floor (benchmarks/alerts.py, alerts.oracle): no threshold "
             "on input_tokens, cost_per_trace or tokens_per_trace (windows 5m-6h, plain or against the previous hour "
             "or day), nor an AND of two, pages before step 11 without paging outside the incident; nor any wider kind "
             "(alerts.oracle_wide: an AND across signals, against the rest of the traffic, min_samples_share, per-trace "
             "conditions): its floor is step 11 too",
    "W3-03": "refusals 0.7% -> ~5% of gpt-4o answers over 40 hours: the suggested rule is now (session 8, a tail "
             "mover: some of gpt-4o's traces cost more than any outside the incident) cost_per_trace p99 > 0.02 (10m), "
             "one page, 0 false pages, 6 steps after the first evaluation at or after detectable_from, before the "
             "first refusal (step 9); before session 8 refusal_rate_answer > 0.012 at 99.9% confidence paged 933 min "
             "after the start and once outside the incident. The data's floor: one threshold on the "
             "refusal rate (any window, against the previous hour or day, at 99% confidence) first separates at step "
             "76, an AND of two at step 21; the wider kinds (alerts.oracle_wide) at step 9, gpt-4o's refusals per "
             "trace over 5 minutes minus the other models' (relative_to.cohort): the step of the first refusal",
}


@pytest.mark.parametrize("incident_id", [f"W3-0{k}" for k in range(1, 8)])
def test_third_week(third_week_db: IngestedThirdWeek, incident_id, request):
    if incident_id in THIRD_WEEK_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=THIRD_WEEK_MISSES[incident_id]))
    incidents = third_week_db.week.labels()["incidents"]
    incident = next(i for i in incidents if i["id"] == incident_id)
    _check(third_week_db.db, incident, incidents, from_ns=parse_time(incident["detectable_from"]))


def test_third_week_pii_leak_pages_once_on_its_first_trace(third_week_db: IngestedThirdWeek):
    """W3-07: the tenant's first leaking trace is 16:31:22 and the next 19:02:06. The suggester scopes the rule
    to the tenant (under group_by tenant another tenant's single PII trace would page: said in a warning) and,
    the incident's PII traces coming up to 2 h 31 min apart, resolves only after 3 h clear (_sparse_resolve),
    so the 16:35 page holds across the gap instead of resolving and paging again at 19:05."""
    incidents = third_week_db.week.labels()["incidents"]
    inc = next(i for i in incidents if i["id"] == "W3-07")
    s = suggest_rule(third_week_db.db, parse_time(inc["start"]), parse_time(inc["end"]), inc["cohort"], name="pii")
    assert s.rule.scope == {"tenant": ("orchid-health",)} and s.rule.group_by == ()
    assert [c.signal for c in s.rule.leaves()] == [{"type": "pii_rate"}]
    assert s.rule.resolve_after == "3h"
    assert "resolved only after 3h clear" in s.rule.description
    assert s.warnings == ["with group_by tenant (or on the reference cohort) the rule would have paged 1 time(s) "
                          "elsewhere"]
    found = pages(s.rule, backtest(third_week_db.db, s.rule))
    assert [(p.fired_ns, p.resolved_ns) for p in found] == [(parse_time("2027-06-18T16:35:00Z"),
                                                             parse_time("2027-06-19T04:05:00Z"))]
