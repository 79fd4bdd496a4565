"""One time/duration grammar (tracedesk.timeutil) and the features that read times through it."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracedesk import timeutil
from tracedesk.errors import InputError, TracedeskError
from tracedesk.timeutil import (NS_PER_S, TimeParseError, format_duration, format_time, halves_by_day,
                                parse_duration, parse_time)

MIN_NS = timeutil.parse_time("0001-01-01T00:00Z")
MAX_NS = timeutil.parse_time("9999-12-31T23:59:59.999999999Z")
T = 1_763_640_000 * NS_PER_S  # 2025-11-20T12:00:00Z


@given(st.integers(MIN_NS, MAX_NS))
def test_format_then_parse_is_exact_to_the_nanosecond(ns):
    assert parse_time(format_time(ns)) == ns
    assert parse_time(format_time(ns, timespec="seconds")) == ns


@given(st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59)))
def test_minute_level_iso_strings_round_trip(when):
    text = when.strftime("%Y-%m-%dT%H:%M") + "Z"
    text = f"{when.year:04d}" + text[text.index("-"):]
    assert format_time(parse_time(text)) == text
    assert parse_time(text[:-1]) == parse_time(text)  # no zone means UTC


@given(st.integers(0, 10**21))
def test_durations_round_trip(ns):
    assert parse_duration(format_duration(ns)) == ns


@pytest.mark.parametrize("text, expected", [
    ("2025-11-20", T - 12 * 3600 * NS_PER_S),
    ("2025-11-20T12:00", T),
    ("2025-11-20 12:00:00", T),
    ("2025-11-20T12:00:00Z", T),
    ("2025-11-20T14:00:00+02:00", T),
    ("2025-11-20T07:00-0500", T),
    ("2025-11-20T12:00:00.000000001Z", T + 1),
    ("2025-11-20T12:00:00,5Z", T + NS_PER_S // 2),
    ("1763640000", T),  # Unix seconds
    ("1763640000000", T),  # milliseconds
    ("1763640000000000", T),  # microseconds
    ("1763640000000000007", T + 7),  # nanoseconds
    ("1763640000.25", T + NS_PER_S // 4),
])
def test_time_forms(text, expected):
    assert parse_time(text) == expected


def test_relative_times_count_from_the_anchor():
    assert parse_time("now", now_ns=T) == T
    assert parse_time("-6h", now_ns=T) == T - 6 * 3600 * NS_PER_S
    assert parse_time("now-30m", now_ns=T) == T - 1800 * NS_PER_S
    assert parse_time("now+1d", now_ns=T) == T + 86400 * NS_PER_S
    assert parse_time("24h", now_ns=T) == T - 86400 * NS_PER_S  # a bare duration counts back


def test_python_values():
    assert parse_time(dt.datetime(2025, 11, 20, 12)) == T  # naive = UTC
    assert parse_time(dt.datetime(2025, 11, 20, 13, tzinfo=dt.timezone(dt.timedelta(hours=1)))) == T
    assert parse_time(dt.date(2025, 11, 20)) == T - 12 * 3600 * NS_PER_S
    assert parse_time(pd.Timestamp(T + 3)) == T + 3  # pandas keeps the nanoseconds
    assert parse_time(pd.Timestamp(T + 3, tz="UTC")) == T + 3
    assert parse_time(T) == T
    assert parse_time(1763640000.5) == T + NS_PER_S // 2


def test_durations():
    assert [parse_duration(x) // NS_PER_S for x in ("30s", "5m", "4h", "7d", "1w", "1.5h")] == [
        30, 300, 14400, 604800, 604800, 5400]
    assert parse_duration("250ms") == 250_000_000
    assert format_duration(90 * NS_PER_S) == "90s"
    assert format_duration(3600 * NS_PER_S) == "1h"


@pytest.mark.parametrize("text", ["yesterday", "2025-13-01", "2025-11-20T25:00", "now 6h", "", "12:00", "5 parsecs"])
def test_bad_times_name_the_accepted_forms(text):
    with pytest.raises(TimeParseError) as info:
        parse_time(text, name="since")
    message = str(info.value)
    assert message.startswith(f"since={text!r}")
    assert "ISO 8601" in message and "Unix seconds" in message and "-6h" in message
    assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)
    assert isinstance(info.value, TracedeskError)


@pytest.mark.parametrize("text", ["5 min", "m", "1.5ns", "-5m", "5"])
def test_bad_durations_name_the_accepted_forms(text):
    with pytest.raises(TimeParseError, match=r"e\.g\. '15m'"):
        parse_duration(text)


def test_filters_links_keep_the_nanosecond():
    from tracedesk.store.query import Filters

    f = Filters(start_ns=T + 123, end_ns=T + 3600 * NS_PER_S)
    params = f.to_query_params()
    assert params["start"] == "2025-11-20T12:00:00.000000123Z"
    assert params["end"] == "2025-11-20T13:00:00Z"
    assert Filters.from_query_params(params) == f
    assert Filters.from_query_params({"start": "-6h"}).start_ns is not None


def test_features_share_the_grammar():
    from tracedesk.alerts.definition import parse_duration as alert_duration
    from tracedesk.alerts.evaluate import parse_time as alert_time
    from tracedesk.drift.windows import DriftError
    from tracedesk.drift.windows import parse_duration as drift_duration
    from tracedesk.drift.windows import parse_time as drift_time
    from tracedesk.store.query import to_ns

    for text in ("2025-11-20T12:00", "1763640000", "2025-11-20T12:00:00.5Z"):
        assert alert_time(text) == drift_time(text, anchor_ns=0, name="since") == to_ns(text) == parse_time(text)
    assert drift_time("7d", anchor_ns=T, name="since") == parse_time("-7d", now_ns=T)
    assert drift_time(None, anchor_ns=T, name="since") is None
    assert drift_duration("90m") == parse_duration("90m") and drift_duration("recent") is None
    assert alert_duration("15m") == 900
    with pytest.raises(DriftError, match="since='last tuesday' is not a time"):
        drift_time("last tuesday", anchor_ns=T, name="since")


def test_alert_definition_imports_without_pandas():
    code = ("import sys, tracedesk.alerts.definition, tracedesk.timeutil, tracedesk.errors; "
            "bad = [m for m in ('pandas', 'numpy', 'jsonschema', 'sqlite_utils') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_alert_schema_is_compiled_once():
    from tracedesk.alerts import definition

    first = definition.validator()
    doc = {"tracedesk_alert": 1, "name": "x", "window": "15m",
           "condition": {"signal": {"type": "duration"}, "aggregation": "p95", "comparator": ">", "threshold": 1}}
    definition.parse_rule(doc)
    definition.parse_rule(doc)
    assert definition.validator() is first


@pytest.mark.parametrize("lo, hi, expected", [
    # a week of traces, the first at 00:00:05 on Monday, the last late on Sunday: Mon-Thu against Fri-Sun
    ("2026-11-16T00:00:05Z", "2026-11-22T23:59:00Z",
     ((dt.date(2026, 11, 16), dt.date(2026, 11, 19)), (dt.date(2026, 11, 20), dt.date(2026, 11, 22)))),
    # two days: one against the other; one day: itself (the page still has two windows to show)
    ("2026-11-16T10:00:00Z", "2026-11-17T01:00:00Z",
     ((dt.date(2026, 11, 16), dt.date(2026, 11, 16)), (dt.date(2026, 11, 17), dt.date(2026, 11, 17)))),
    ("2026-11-16T10:00:00Z", "2026-11-16T11:00:00Z",
     ((dt.date(2026, 11, 16), dt.date(2026, 11, 16)), (dt.date(2026, 11, 16), dt.date(2026, 11, 16)))),
])
def test_the_cohorts_pages_default_windows_are_halves_of_the_utc_days(lo, hi, expected) -> None:
    assert halves_by_day(parse_time(lo), parse_time(hi)) == expected
