"""On-call states: every transition with exact timestamps, then the same machine over a real backtest
and `check`'s replay, and the webhook payload shapes."""
from __future__ import annotations

import numpy as np

from alerts_data import NS, T0, build_small
from tracedesk.alerts import parse_rule
from tracedesk.alerts.evaluate import backtest
from tracedesk.alerts.states import StateConfig, check_states, dedupe_key, pages, run_states
from tracedesk.alerts.webhook import format_payload, pagerduty_payload, slack_payload

M = 60 * NS
TIMES = T0 + 5 * M * np.arange(12, dtype=np.int64)  # 12 evaluations, 5 minutes apart


def _run(config, trigger, holding=None, no_data=None):
    trigger = np.array(trigger, dtype=bool)
    holding = trigger if holding is None else np.array(holding, dtype=bool)
    no_data = np.zeros(len(trigger), dtype=bool) if no_data is None else np.array(no_data, dtype=bool)
    st = run_states(config, TIMES[:len(trigger)], trigger, holding, no_data, {"route": "a"}, "k")
    return st, [(tr.kind, (tr.at_ns - T0) // M, (tr.since_ns - T0) // M, tr.reason) for tr in st.transitions]


def test_without_state_fields_it_pages_while_the_condition_holds():
    st, tr = _run(StateConfig(), [0, 1, 1, 0, 1, 0])
    assert tr == [("firing", 5, 5, "condition"), ("resolved", 15, 5, "condition"),
                  ("firing", 20, 20, "condition"), ("resolved", 25, 20, "condition")]
    assert st.state == "ok"


def test_pending_then_firing_after_for_then_resolved():
    # for 10m: pending at 5, still pending at 10, firing at 15 (held 10 minutes), resolved at 30
    st, tr = _run(StateConfig(for_ns=10 * M), [0, 1, 1, 1, 1, 1, 0, 0])
    assert tr == [("pending", 5, 5, "condition"), ("firing", 15, 5, "condition"), ("resolved", 30, 5, "condition")]


def test_pending_that_clears_before_for_never_pages():
    st, tr = _run(StateConfig(for_ns=10 * M), [1, 1, 0, 1, 0])
    assert tr == [("pending", 0, 0, "condition"), ("pending", 15, 15, "condition")]
    assert st.state == "ok"


def test_resolve_after_merges_a_flapping_episode_into_one_page():
    # clear at 10 and 15, back at 20: no resolve (needs 15m clear); clear from 25: resolved at 40
    st, tr = _run(StateConfig(resolve_after_ns=15 * M), [1, 1, 0, 0, 1, 0, 0, 0, 0, 0])
    assert tr == [("firing", 0, 0, "condition"), ("resolved", 40, 0, "condition")]


def test_hysteresis_keeps_firing_until_the_resolve_threshold_is_crossed():
    # trigger (value > 0.2) at 0 only; holding (value > 0.1) until 15
    st, tr = _run(StateConfig(), [1, 0, 0, 0, 0], holding=[1, 1, 1, 1, 0])
    assert tr == [("firing", 0, 0, "condition"), ("resolved", 20, 0, "condition")]


def test_renotify_repeats_the_page_while_firing():
    st, tr = _run(StateConfig(renotify_ns=15 * M), [1] * 8 + [0])
    assert tr == [("firing", 0, 0, "condition"), ("renotify", 15, 0, "condition"), ("renotify", 30, 0, "condition"),
                  ("resolved", 40, 0, "condition")]


def test_no_data_ok_alert_keep():
    trigger = [1, 0, 0, 0, 0]
    no_data = [0, 1, 1, 0, 0]
    # ok: no data counts as clear -> resolved at the first empty evaluation
    _, tr = _run(StateConfig(no_data="ok"), trigger, no_data=no_data)
    assert tr == [("firing", 0, 0, "condition"), ("resolved", 5, 0, "condition")]
    # keep: state frozen through the gap, resolved when data says clear
    _, tr = _run(StateConfig(no_data="keep"), trigger, no_data=no_data)
    assert tr == [("firing", 0, 0, "condition"), ("resolved", 15, 0, "condition")]
    # alert: no data is an alert of its own (from a quiet state)
    _, tr = _run(StateConfig(no_data="alert"), [0, 0, 0, 0, 0], no_data=no_data)
    assert tr == [("firing", 5, 5, "no_data"), ("resolved", 15, 5, "no_data")]


def test_dedupe_key_is_per_rule_and_group():
    assert dedupe_key("rag", {"route": "refunds", "tenant": "acme"}) == "tracedesk/rag/route=refunds,tenant=acme"
    assert dedupe_key("rag", {}) == "tracedesk/rag/all"


def test_pages_over_a_backtest_and_check_replay(db_path):
    build_small(db_path)  # groundedness per 5-minute window: (T0,+5m] .9 .5 .7 -> mean .7; (+5m,+10m] D .2
    doc = {"tracedesk_alert": 1, "name": "g", "window": "5m", "step": "5m", "renotify": "5m",
           "condition": {"signal": {"type": "eval_score", "evaluator": "groundedness"}, "aggregation": "mean",
                         "comparator": "<", "threshold": 0.75}}
    rule = parse_rule(doc)
    result = backtest(db_path, rule, times=T0 + 5 * M * np.arange(4, dtype=np.int64))
    [page] = pages(rule, result)
    assert (page.fired_ns - T0) // M == 5 and (page.resolved_ns - T0) // M == 15 and page.renotified == 1
    # check at T0+5m: first firing -> notification "firing"; at T0+10m a renotify; at T0+15m resolved
    got = [(e["state"], e["notification"]) for at in (5, 10, 15) for e in check_states(db_path, rule, T0 + at * M)]
    assert got == [("firing", "firing"), ("firing", "renotify"), ("ok", "resolved")]
    [event] = check_states(db_path, rule, T0 + 5 * M)
    assert event["dedupe_key"] == "tracedesk/g/all" and event["since"] == "2027-01-15T08:05:00Z"
    assert event["scope"] == {}


def test_payload_shapes():
    event = {"alert": "rag", "severity": "critical", "at": "2027-01-15T08:05:00Z", "scope": {"route": ["refunds"]},
             "group": {"tenant": "acme"}, "firing": True, "notification": "firing", "dedupe_key": "tracedesk/rag/tenant=acme",
             "since": "2027-01-15T08:00:00Z", "runbook": "check the index", "owner": "rag-team", "window": "15m",
             "reason": "condition",
             "conditions": [{"label": "eval_score(groundedness) mean < 0.6", "value": 0.41, "firing": True}]}
    assert format_payload(event, "json") is event
    slack = slack_payload(event)
    assert slack["text"] == ("[FIRING] rag route=refunds, tenant=acme: eval_score(groundedness) mean < 0.6 (0.41)")
    assert slack["blocks"][0] == {"type": "section", "text": {"type": "mrkdwn", "text": slack["text"]}}
    pd = pagerduty_payload(event, "R0UTING")
    assert (pd["routing_key"], pd["event_action"], pd["dedup_key"]) == ("R0UTING", "trigger", "tracedesk/rag/tenant=acme")
    assert pd["payload"]["severity"] == "critical" and pd["payload"]["source"] == "tracedesk"
    assert pd["payload"]["custom_details"]["scope"] == {"route": ["refunds"]}
    resolved = pagerduty_payload(dict(event, notification="resolved"), "R0UTING")
    assert resolved == {"routing_key": "R0UTING", "event_action": "resolve", "dedup_key": "tracedesk/rag/tenant=acme"}
    assert slack_payload(dict(event, notification="resolved"))["text"] == "[RESOLVED] rag route=refunds, tenant=acme"


def test_a_resolve_longer_than_the_gap_between_sparse_events_holds_one_page():
    # a sparse signal: one firing evaluation at 0 and one at 150 min (a PII trace 2.5 h after the first); with
    # resolve_after 3h the clear spell between them (5..145) resolves nothing, and the page resolves at the first
    # evaluation 3 h after the second clear spell began (155 + 180 = 335); with resolve_after 1h it pages twice
    times = T0 + 5 * M * np.arange(80, dtype=np.int64)
    trigger = np.zeros(80, dtype=bool)
    trigger[[0, 30]] = True
    for resolve, expected in ((180, [("firing", 0), ("resolved", 335)]),
                              (60, [("firing", 0), ("resolved", 65), ("firing", 150), ("resolved", 215)])):
        st = run_states(StateConfig(resolve_after_ns=resolve * M), times, trigger, trigger,
                        np.zeros(80, dtype=bool), {"tenant": "a"}, "k")
        assert [(tr.kind, (tr.at_ns - T0) // M) for tr in st.transitions] == expected


# ---------------------------------------------------------------------------------------------
# page_runs: the same machine vectorised (what the suggester replays its candidate rules through)

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tracedesk.alerts.states import page_runs  # noqa: E402


def _machine_pages(trigger, holding, no_data, resolve_steps, mode):
    config = StateConfig(resolve_after_ns=resolve_steps * 5 * M, no_data=mode)
    times = T0 + 5 * M * np.arange(len(trigger), dtype=np.int64)
    s = run_states(config, times, trigger, holding | trigger, no_data, {}, "k")
    index = {int(t): i for i, t in enumerate(times)}
    out, fired = [], None
    for tr in s.transitions:
        if tr.kind == "firing":
            fired = index[tr.at_ns]
        elif tr.kind == "resolved":
            out.append((fired, index[tr.at_ns]))
            fired = None
    return out + ([(fired, None)] if fired is not None else [])


def test_page_runs_holds_through_no_data_and_hysteresis():
    # fires at 1; 2 holds only (hysteresis), 3-4 have no data (kept), 5 holds again, 6-8 clear: with resolve
    # after 2 evaluations the page resolves at 8; a trigger at 9 pages again, still firing at the end
    trigger = np.array([0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0], dtype=bool)
    holding = np.array([0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 0], dtype=bool)
    no_data = np.array([0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    assert page_runs(trigger, holding, no_data, 2) == [(1, 5, 8), (9, 9, None)]
    # the firing evaluations alone (no hysteresis), no data counted as clear: clear from 2, resolved at 4
    assert page_runs(trigger, trigger, no_data, 2, no_data_mode="ok") == [(1, 1, 4), (9, 9, None)]
    assert _machine_pages(trigger, holding, no_data, 2, "keep") == [(1, 8), (9, None)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), max_size=40),
       st.integers(min_value=0, max_value=6), st.sampled_from(["keep", "ok"]))
def test_page_runs_equals_the_state_machine(rows, resolve_steps, mode):
    trigger = np.array([r[0] for r in rows], dtype=bool)
    holding = np.array([r[1] for r in rows], dtype=bool)
    no_data = np.array([r[2] for r in rows], dtype=bool)
    trigger &= ~no_data  # an evaluation without data has no trigger (backtest: NaN never fires)
    holding &= ~no_data
    got = [(a, r) for a, _b, r in page_runs(trigger, holding, no_data, resolve_steps, no_data_mode=mode)]
    assert got == _machine_pages(trigger, holding, no_data, resolve_steps, mode)
