"""`tracedesk alerts check` exit codes (0 quiet, 1 fired, 2 invalid input, 3 runtime failure), warnings for
names the data does not hold, databases it did not create, rule size limits, states and payload formats;
`tracedesk alerts suggest`."""
from __future__ import annotations

import json
import os
import sqlite3

import pytest

from alerts_data import NS, T0, H, WEEK_START, build_small, build_week
from test_alerts_cli import LOW_G, _Hook, _doc, _write
from tracedesk.alerts import AlertValidationError, parse_rule
from tracedesk.alerts.definition import MAX_CONDITIONS, MAX_DEPTH
from tracedesk.cli import main


@pytest.fixture
def db(db_path):
    build_small(db_path)
    return db_path


AT = str(T0 + 300 * NS)


def test_exit_3_when_the_webhook_fails_after_its_retries(tmp_path, db, capsys):
    hook = _Hook(fail_first=100)
    try:
        rules = _write(tmp_path, "r.json", _doc("low", LOW_G, group_by=["tenant"]))
        code = main(["alerts", "check", "--db", db, rules, "--at", AT, "--webhook", hook.url, "--retries", "1"])
    finally:
        hook.close()
    out = capsys.readouterr()
    assert code == 3 and hook.requests == 2
    assert "failed after 2 attempts: HTTP 500" in out.err and "1 notification(s) not delivered" in out.err
    assert [json.loads(x)["group"] for x in out.out.splitlines()] == [{"tenant": "beta"}]  # still printed


def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path, capsys):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    rules = _write(tmp_path, "r.json", _doc("g", LOW_G))
    assert main(["alerts", "check", "--db", str(other), rules]) == 2
    assert "is not a tracedesk database" in capsys.readouterr().err
    assert other.read_bytes() == before
    tables = {r[0] for r in sqlite3.connect(other).execute("SELECT name FROM sqlite_master")}
    assert tables == {"notes"}  # no _migrations, no spans: never migrated
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a database at all" * 10)
    assert main(["alerts", "check", "--db", str(text), rules]) == 2
    assert "is not a tracedesk database" in capsys.readouterr().err


def test_exit_3_when_the_database_cannot_be_read(tmp_path, db, capsys):
    rules = _write(tmp_path, "r.json", _doc("g", LOW_G))
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file, then break them
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(db, "r+b") as fh:  # keep the header page (it is a tracedesk file), overwrite the rest
        fh.seek(page_size)
        fh.write(b"\xff" * (os.path.getsize(db) - page_size))
    code = main(["alerts", "check", "--db", db, rules, "--at", AT])
    assert code == 3, capsys.readouterr().err
    assert "database" in capsys.readouterr().err


def test_warnings_name_what_the_data_does_not_hold(tmp_path, db, capsys):
    doc = _doc("typos", {"all": [dict(LOW_G, signal={"type": "eval_score", "evaluator": "groundednes"}),
                                 {"signal": {"type": "duration", "span_kind": "EMBEDDING"}, "aggregation": "p95",
                                  "comparator": ">", "threshold": 1}]},
               scope={"route": ["biling"]})
    assert main(["alerts", "check", "--db", db, _write(tmp_path, "t.json", doc), "--at", AT]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "tracedesk alerts check: warning: typos: evaluator 'groundednes' has no evaluations in this database "
        "(did you mean 'groundedness'?); the condition can never fire",
        "tracedesk alerts check: warning: typos: scope route='biling' matches no trace or span in this database "
        "(did you mean 'billing'?)",
        "tracedesk alerts check: warning: typos: condition c0 (eval_score(groundednes) mean < 0.75) has no samples "
        "in the evaluated range",
        "tracedesk alerts check: warning: typos: condition c1 (duration(EMBEDDING) p95 > 1) has no samples "
        "in the evaluated range",
    ]


def test_states_in_check_for_then_fire(tmp_path, db, capsys):
    # for 5m: at T0+5m the low-groundedness window is pending; at T0+10m (D alone, .2) it fires
    rules = _write(tmp_path, "r.json", _doc("slow", LOW_G, **{"for": "5m"}))
    assert main(["alerts", "check", "--db", db, rules, "--at", AT]) == 0
    assert capsys.readouterr().out == ""  # pending is neither firing nor a notification: nothing printed
    assert main(["alerts", "check", "--db", db, rules, "--at", str(T0 + 600 * NS), "--all"]) == 1
    [event] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (event["state"], event["notification"], event["since"]) == ("firing", "firing", "2027-01-15T08:05:00Z")
    assert event["dedupe_key"] == "tracedesk/slow/all" and event["scope"] == {}


def test_pagerduty_and_slack_formats_reach_the_webhook(tmp_path, db, capsys, monkeypatch):
    rules = _write(tmp_path, "r.json", _doc("low", LOW_G, group_by=["tenant"], scope={"route": ["billing"]}))
    assert main(["alerts", "check", "--db", db, rules, "--at", AT, "--webhook", "http://127.0.0.1:9/x",
                 "--webhook-format", "pagerduty"]) == 2
    assert "needs --routing-key" in capsys.readouterr().err
    hook = _Hook()
    try:
        monkeypatch.setenv("TRACEDESK_PAGERDUTY_ROUTING_KEY", "R1")
        assert main(["alerts", "check", "--db", db, rules, "--at", AT, "--webhook", hook.url,
                     "--webhook-format", "pagerduty"]) == 1
        assert main(["alerts", "check", "--db", db, rules, "--at", AT, "--webhook", hook.url,
                     "--webhook-format", "slack"]) == 1
    finally:
        hook.close()
    pd, slack = hook.bodies
    assert (pd["routing_key"], pd["event_action"], pd["dedup_key"]) == ("R1", "trigger", "tracedesk/low/tenant=beta")
    assert pd["payload"]["custom_details"]["scope"] == {"route": ["billing"]}
    assert slack["text"].startswith("[FIRING] low route=billing, tenant=beta: eval_score(groundedness) mean < 0.75 (0.5)")


def _chain(depth):
    node = dict(LOW_G)
    for _ in range(depth):
        node = {"all": [node]}
    return node


def test_rule_size_limits_are_clear_errors(tmp_path, capsys):
    huge = _doc("huge", {"any": [dict(LOW_G, threshold=i / 10_000) for i in range(10_000)]})
    with pytest.raises(AlertValidationError) as info:
        parse_rule(huge)
    assert info.value.errors == [("$.condition", f"has more than {MAX_CONDITIONS} conditions; the limit is "
                                                 f"{MAX_CONDITIONS} per rule: split it into several rules")]
    with pytest.raises(AlertValidationError) as info:
        parse_rule(_doc("deep", _chain(10_000)))  # deeper than Python's recursion limit: still a clear error
    [(path, message)] = info.value.errors
    assert message == f"nests groups {MAX_DEPTH + 1} deep; the limit is {MAX_DEPTH}: flatten the all/any groups"
    assert parse_rule(_doc("ok", {"any": [dict(LOW_G, threshold=i / 100) for i in range(MAX_CONDITIONS)]}))
    assert parse_rule(_doc("ok", _chain(MAX_DEPTH - 1)))
    assert main(["alerts", "validate", _write(tmp_path, "h.json", huge)]) == 2
    assert "split it into several rules" in capsys.readouterr().err


def test_step_longer_than_a_window_is_refused():
    with pytest.raises(AlertValidationError) as info:
        parse_rule(_doc("x", LOW_G, window="5m", step="10m"))
    assert info.value.errors[0][0] == "$.step" and "use a step <= window" in info.value.errors[0][1]
    with pytest.raises(AlertValidationError) as info:
        parse_rule(_doc("x", dict(LOW_G, window="1m"), window="5m", step="5m"))
    assert info.value.errors[0][0] == "$.condition.window"


def test_suggest_cli(tmp_path, capsys):
    path = str(tmp_path / "week.db")
    build_week(path, hours=72)
    import datetime as dt

    iso = lambda ns: dt.datetime.fromtimestamp(ns / NS, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    out_file = tmp_path / "rule.json"
    code = main(["alerts", "suggest", "--db", path, "--since", iso(WEEK_START + 50 * H), "--until",
                 iso(WEEK_START + 53 * H), "--cohort", "route=refunds", "--json", "--out", str(out_file)])
    assert code == 0
    s = json.loads(capsys.readouterr().out)
    assert s["caught"] and s["false_pages"] == 0 and s["pages_in_incident"] == 1 and s["group_by"] == ["route"]
    assert s["delay_min"] <= 10  # within 2 steps of the incident start
    rule = parse_rule(json.loads(out_file.read_text()))
    assert rule.scope == {"route": ("refunds",)} and rule.resolve_after == "1h" and rule.no_data == "keep"
    assert main(["alerts", "suggest", "--db", path, "--since", "x", "--until", "y"]) == 2
    assert main(["alerts", "suggest", "--db", path, "--since", iso(WEEK_START), "--until", iso(WEEK_START + H),
                 "--cohort", "route"]) == 2
    assert "write DIM=VALUE" in capsys.readouterr().err
