"""`tracedesk alerts`: schema, check (exit codes, JSON lines, webhook to a local server), backtest."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alerts_data import NS, T0, build_small
from tracedesk.alerts.webhook import WebhookError, post_json
from tracedesk.cli import main

LOW_G = {"signal": {"type": "eval_score", "evaluator": "groundedness"}, "aggregation": "mean",
         "comparator": "<", "threshold": 0.75}


def _write(tmp_path, name, doc):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def _doc(name, condition, **kw):
    return {"tracedesk_alert": 1, "name": name, "window": "5m", "step": "5m", "severity": "high",
            "condition": condition, **kw}


@pytest.fixture
def db(db_path):
    build_small(db_path)
    return db_path


class _Hook:
    """A local webhook receiver: answers `fail_first` requests with 500, then 200."""

    def __init__(self, fail_first=0):
        self.bodies, self.fail_first, self.requests = [], fail_first, 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                hook.requests += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.requests <= hook.fail_first:
                    self.send_response(500)
                else:
                    hook.bodies.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_schema_prints_the_json_schema(capsys):
    assert main(["alerts", "schema"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["title"].startswith("tracedesk joint-condition alert")
    assert "eval_score" in doc["$defs"]["signal"]["properties"]["type"]["enum"]


def test_check_fires_exit_1_and_prints_json_lines(tmp_path, db, capsys):
    rules = _write(tmp_path, "r.json", _doc("low-grounding", LOW_G, group_by=["tenant"]))
    at = str(T0 + 300 * NS)
    assert main(["alerts", "check", "--db", db, rules, "--at", at]) == 1
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(e["alert"], e["group"], e["conditions"][0]["value"]) for e in lines] == [
        ("low-grounding", {"tenant": "beta"}, 0.5)]
    assert lines[0]["at"] == "2027-01-15T08:05:00Z" and lines[0]["severity"] == "high"
    # ISO time works too; --all prints the quiet groups as well
    assert main(["alerts", "check", "--db", db, rules, "--at", "2027-01-15T08:05:00Z", "--all"]) == 1
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(e["group"]["tenant"], e["firing"]) for e in lines] == [("acme", False), ("beta", True)]


def test_check_quiet_exit_0(tmp_path, db, capsys):
    rules = _write(tmp_path, "r.json", _doc("fine", dict(LOW_G, threshold=0.1)))
    assert main(["alerts", "check", "--db", db, rules, "--at", str(T0 + 300 * NS)]) == 0
    assert capsys.readouterr().out == ""


def test_check_invalid_rules_exit_2_with_path(tmp_path, db, capsys):
    bad = _write(tmp_path, "bad.json", _doc("bad", dict(LOW_G, aggregation="avg")))
    assert main(["alerts", "check", "--db", db, bad]) == 2
    err = capsys.readouterr().err
    assert "bad.json: $.condition.aggregation: unknown aggregation 'avg'; valid choices: mean, min" in err
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert main(["alerts", "check", "--db", db, str(broken)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["alerts", "check", "--db", db, str(tmp_path / "missing.json")]) == 2
    assert "cannot read rules file" in capsys.readouterr().err
    good = _write(tmp_path, "g.json", _doc("g", LOW_G))
    assert main(["alerts", "check", "--db", str(tmp_path / "nope.db"), good]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["alerts", "check", "--db", db, good, "--at", "yesterday"]) == 2
    assert "ISO 8601" in capsys.readouterr().err
    assert main(["alerts", "validate", good, bad]) == 2
    assert main(["alerts", "validate", good]) == 0
    assert capsys.readouterr().out == "ok: g (1 conditions)\n"


def test_check_posts_firing_events_to_the_webhook_with_retry(tmp_path, db, capsys):
    hook = _Hook(fail_first=1)
    try:
        bundle = {"tracedesk_alerts": 1, "alerts": [_doc("low-grounding", LOW_G, group_by=["tenant"]),
                                                    _doc("quiet", dict(LOW_G, threshold=0.1))]}
        rules = _write(tmp_path, "bundle.json", bundle)
        code = main(["alerts", "check", "--db", db, rules, "--at", str(T0 + 300 * NS), "--webhook", hook.url])
        assert code == 1
        assert hook.requests == 2  # one 500, then accepted
        assert [(b["alert"], b["group"], b["firing"]) for b in hook.bodies] == [
            ("low-grounding", {"tenant": "beta"}, True)]
        printed = json.loads(capsys.readouterr().out)
        assert printed == hook.bodies[0]
    finally:
        hook.close()


def test_webhook_gives_up_with_a_clear_error():
    hook = _Hook(fail_first=10)
    slept = []
    try:
        with pytest.raises(WebhookError, match="failed after 3 attempts: HTTP 500"):
            post_json(hook.url, {"x": 1}, retries=2, backoff_s=0.1, sleep=slept.append)
        assert slept == [0.1, 0.2] and hook.requests == 3
    finally:
        hook.close()
    with pytest.raises(WebhookError, match="must start with http"):
        post_json("ftp://x", {})


def test_backtest_prints_episodes(tmp_path, db, capsys):
    rules = _write(tmp_path, "r.json", _doc("dip", LOW_G, step="1m"))
    code = main(["alerts", "backtest", "--db", db, rules, "--since", str(T0), "--until", str(T0 + 720 * NS),
                 "--conditions"])
    assert code == 0
    out = capsys.readouterr()
    lines = [json.loads(x) for x in out.out.splitlines()]
    assert [(e["condition"], e["start"], e["end"], e["evaluations"]) for e in lines] == [
        ("all", "2027-01-15T08:02:00Z", "2027-01-15T08:11:00Z", 10),
        ("c0", "2027-01-15T08:02:00Z", "2027-01-15T08:11:00Z", 10)]
    assert "dip: 13 evaluations, episodes all: 1, c0: 1" in out.err
