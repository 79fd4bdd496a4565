"""Acceptance of the suggester (issue 16) on the fourth labelled week (tests/weeks/fourth_week.py, written from the
spec and real SDK captures before its author read the suggester): given only each page-worthy incident's time
range and cohort, the proposed rule pages within 2 five-minute steps, once, with no false page elsewhere in the
week. The same check as on the other weeks (`_check` of tests/test_alerts_suggest_weeks.py), counted, as on the
third week, from each label's detectable_from (its first trace carrying the incident). Known misses are strict
xfails carrying what was measured for the suggester's rule; no constant is tuned."""
from __future__ import annotations

import pytest

from test_alerts_suggest_weeks import _check
from tracedesk.alerts.evaluate import backtest, parse_time
from tracedesk.alerts.states import pages
from tracedesk.alerts.suggest import suggest_rule
from weeks.fourth_fixtures import IngestedFourthWeek, fourth_week, fourth_week_db  # noqa: F401  (pytest fixtures)

FOURTH_WEEK_MISSES = {
    "W4-07": "tenant=kiwi-legal, summarization 0.86 -> 0.51: the suggested eval_score(summarization) mean < 0.67 (15m) "
             "first pages at 03:35, 25 steps after detectable_from (01:27:10): the tenant's version-15 summaries are "
             "judged 30-40 minutes apart (01:33, 02:06, 02:46, 03:24, 03:34), and the first 15-minute window holding "
             "two of them closes at 03:35. One judged summary is not enough: summarization < 0.59 or < 0.63 (5m) pages "
             "at 01:35 (1 step) but once more outside the incident. Not the data's floor: alerts.oracle_wide "
             "(scoped, from detectable_from) separates at step 0 with a per-trace condition (the share of traces whose "
             "output_length is below the tenant's 10th percentile before the incident, 1h, >= 3 judged), a kind and a "
             "signal the suggester does not propose (its LLM-span output_tokens and output_length do not move: "
             "|2 AUC - 1| 0.11 and 0.13, the map steps' outputs are unchanged)",
}


@pytest.mark.parametrize("incident_id", [f"W4-0{k}" for k in range(1, 9)])
def test_fourth_week(fourth_week_db: IngestedFourthWeek, incident_id, request):
    if incident_id in FOURTH_WEEK_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=FOURTH_WEEK_MISSES[incident_id]))
    incidents = fourth_week_db.week.labels()["incidents"]
    incident = next(i for i in incidents if i["id"] == incident_id)
    _check(fourth_week_db.db, incident, incidents, from_ns=parse_time(incident["detectable_from"]))


def test_w4_06_a_stalling_tail_gets_a_p99_rule(fourth_week_db: IngestedFourthWeek):
    """W4-06: 4% of gpt-4.1 calls stall for 30-75 s; the median and p95 do not move, so no mover of the whole
    distribution exists (the suggester used to raise). The tail does: 10 of the incident's 277 LLM calls are
    beyond the slowest of the 1,851 before and after it (11.3 s), and its p99 is 50.5 s against 10.5 s. The
    stalls come up to 1 h 42 min apart (23:02 -> 00:44), so the page is held until 2 h clear."""
    incidents = fourth_week_db.week.labels()["incidents"]
    inc = next(i for i in incidents if i["id"] == "W4-06")
    s = suggest_rule(fourth_week_db.db, parse_time(inc["start"]), parse_time(inc["end"]), inc["cohort"], name="tail")
    assert s.rule is not None
    [leaf] = s.rule.leaves()
    assert (leaf.signal, leaf.aggregation, leaf.comparator) == ({"type": "duration", "span_kind": "LLM"}, "p99", ">")
    tail = next(m for m in s.movers if m.signal == leaf.signal)
    assert (tail.samples, round(tail.tail_edge), round(tail.baseline), round(tail.incident)) == (277, 11292, 10491, 50546)
    assert s.rule.resolve_after == "2h" and s.rule.scope == {"model": ("gpt-4.1",)}
    found = pages(s.rule, backtest(fourth_week_db.db, s.rule))
    # the first stall starts at 23:02:34: paged by the 23:05 evaluation, resolved 2 h after its window no longer
    # holds the last one (04:49:40)
    assert [(p.fired_ns, p.resolved_ns) for p in found] == [(parse_time("2027-09-21T23:05:00Z"),
                                                             parse_time("2027-09-22T07:50:00Z"))]


def test_w4_08_a_new_tenant_replaced_nobody(fourth_week_db: IngestedFourthWeek):
    """W4-08: lumen-retail is a new tenant (its first trace 03:19:45): no tenant's share of the traffic fell by
    half in the day either side of it (the most, indus-soft, 20%; harbor-home, whose share fell 38% over the
    incident's length against the two days before it, had its Sunday sale in those days), so it is compared with
    the rest of the traffic and the rule says so (versus rest). Its pages are the backtest's: one."""
    incidents = fourth_week_db.week.labels()["incidents"]
    inc = next(i for i in incidents if i["id"] == "W4-08")
    s = suggest_rule(fourth_week_db.db, parse_time(inc["start"]), parse_time(inc["end"]), inc["cohort"], name="new")
    assert s.reference == {"scope": {}, "why": "tenant: the rest of the traffic (no value's share fell by 50% or more "
                                               "when it appeared; most: tenant=indus-soft, 20%)"}
    assert s.rule is not None and s.rule.group_by == ("tenant",)
    assert [c.relative_to.versus for c in s.rule.leaves() if c.relative_to is not None] == ["rest"]
    found = [p for p in pages(s.rule, backtest(fourth_week_db.db, s.rule)) if p.group == {"tenant": "lumen-retail"}]
    assert s.pages_in_incident == len(found) == 1
