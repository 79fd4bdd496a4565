"""One error base class: the library's user-facing errors derive from TracedeskError (keeping their old
names and builtin bases), and the CLI and the app show their message instead of a traceback."""
from __future__ import annotations

import json
import sqlite3

import pytest
from streamlit.testing.v1 import AppTest

from tracedesk.cli import main
from tracedesk.errors import TracedeskError


@pytest.mark.parametrize("module, name, builtin", [
    ("tracedesk.store.query", "FilterError", ValueError),
    ("tracedesk.drift.windows", "DriftError", ValueError),
    ("tracedesk.drift", "DriftError", ValueError),
    ("tracedesk.alerts.definition", "AlertValidationError", ValueError),
    ("tracedesk.alerts", "AlertValidationError", ValueError),
    ("tracedesk.alerts.webhook", "WebhookError", RuntimeError),
    ("tracedesk.ingest.otlp", "RecordError", ValueError),
    ("tracedesk.ingest.wire", "WireError", ValueError),
    ("tracedesk.evals.registry", "UnknownEvaluator", ValueError),
    ("tracedesk.evals.custom", "CustomJudgeError", ValueError),
    ("tracedesk.evals.judge", "JudgeCallError", Exception),
    ("tracedesk.receiver.discovery", "ReceiverStartError", RuntimeError),
    ("tracedesk.receiver.writer", "WriterClosed", RuntimeError),
    ("tracedesk.receiver.adapter", "MalformedBody", ValueError),
    ("tracedesk.cli", "UsageError", Exception),
    ("tracedesk.timeutil", "TimeParseError", ValueError),
    ("tracedesk.errors", "NotATracedeskDatabase", ValueError),
])
def test_errors_share_one_base_and_keep_their_names(module, name, builtin):
    import importlib

    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, TracedeskError) and issubclass(cls, builtin)


def test_the_cli_prints_a_library_error_without_a_traceback(tmp_path, capsys):
    foreign = tmp_path / "shop.db"
    raw = sqlite3.connect(foreign)
    raw.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    raw.commit()
    raw.close()
    rule = tmp_path / "r.json"
    rule.write_text(json.dumps({"tracedesk_alert": 1, "name": "r", "condition": {
        "signal": {"type": "duration"}, "aggregation": "p95", "comparator": ">", "threshold": 1}}))
    assert main(["alerts", "check", "--db", str(foreign), str(rule)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tracedesk alerts: ") and "was not created by tracedesk" in err
    assert "Traceback" not in err
    raw = sqlite3.connect(foreign)
    assert [r[0] for r in raw.execute("SELECT name FROM sqlite_master")] == ["orders"]  # left untouched
    raw.close()


def test_the_cli_exit_codes_separate_bad_input_from_failed_runs():
    from tracedesk.cli import EXIT_FAILURE, EXIT_USAGE, UsageError, exit_code_for
    from tracedesk.errors import ReceiverError
    from tracedesk.store.query import FilterError

    assert exit_code_for(UsageError("x")) == exit_code_for(FilterError("x")) == EXIT_USAGE == 2
    assert exit_code_for(ReceiverError("port taken")) == EXIT_FAILURE == 3


def _page_with_errors() -> None:
    import streamlit as st

    from tracedesk.alerts.definition import AlertValidationError
    from tracedesk.app import ui
    from tracedesk.errors import TracedeskError
    from tracedesk.store.query import Filters

    with ui.error_boundary():
        Filters.from_query_params({"start": "yesterday"})
        st.write("not reached")
    with ui.error_boundary():
        raise AlertValidationError([("$.name", "must match ^[A-Za-z0-9]"), ("$.window", "is not a duration")])
    st.write("after the boundaries")
    with ui.error_boundary(stop=True):
        raise TracedeskError("stopped here")
    st.write("never shown")


def test_the_app_boundary_shows_messages_and_stops_only_when_asked():
    at = AppTest.from_function(_page_with_errors, default_timeout=60).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors[0].startswith("Filter start='yesterday': expected an ISO time")
    from tracedesk.app.ui import md, md_code

    # each problem on its own line; the message is data (it may quote the document), so it is made inert
    assert errors[1:] == [f"{md_code('$.name')}: {md('must match ^[A-Za-z0-9]')}",
                          f"{md_code('$.window')}: is not a duration", "stopped here"]
    assert errors[1].startswith("`$.name`: must match ^")
    texts = [m.value for m in at.markdown]
    assert "after the boundaries" in texts and "not reached" not in texts and "never shown" not in texts


def test_choices_hint_names_the_closest_valid_name_first():
    from tracedesk.errors import choices_hint

    assert choices_hint("groundednes", ["answer_relevancy", "groundedness", "pii_rate"]) == (
        "did you mean 'groundedness'? valid choices: answer_relevancy, groundedness, pii_rate")
    assert choices_hint("colour", ["route", "tenant"]) == "valid choices: route, tenant"
    assert choices_hint("x", [f"n{i}" for i in range(5)], limit=2) == "valid choices: n0, n1, ... (3 more)"


def test_explain_unknown_signal_suggests_the_one_meant(tmp_path, capsys):
    from tracedesk.cli import main
    from tracedesk.store import connect

    db = tmp_path / "t.db"
    connect(str(db)).close()
    code = main(["explain", "--db", str(db), "--signal", "trace_latncy", "--since", "2026-11-18", "--until",
                 "2026-11-19"])
    assert code == 2
    assert "unknown signal 'trace_latncy'; did you mean 'trace_latency'? valid choices: " in capsys.readouterr().err
