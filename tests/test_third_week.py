"""The third, independently written week (tests/weeks/third_week.py): it ingests cleanly through the real
ingest path in the five instrumentation shapes it writes, it is deterministic, and every labelled incident
(and only those) is visible in the stored data, measured with plain SQL on the database."""
from __future__ import annotations

import hashlib
import sqlite3
import statistics
from typing import Any

import pytest

from tracedesk.ingest.redact import find_pii
from tracedesk.timeutil import parse_time

from weeks.built import incident_window, read_only
from weeks import third_week as w3
from weeks.third_fixtures import IngestedThirdWeek, third_week, third_week_db  # noqa: F401  (pytest fixtures)

HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS
HELPDESK = w3.HELPDESK_ROUTE


ns = parse_time  # the one time parser (ISO labels to ns)


@pytest.fixture(scope="module")
def db(third_week_db: IngestedThirdWeek):
    conn = read_only(third_week_db.db)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def labels(third_week_db: IngestedThirdWeek) -> dict[str, Any]:
    return third_week_db.week.labels()


window = incident_window


def col(db: sqlite3.Connection, sql: str, *params: Any) -> list[Any]:
    return [r[0] for r in db.execute(sql, params)]


def mean(values: list[float]) -> float:
    assert values, "no samples"
    return sum(values) / len(values)


def p95(values: list[float]) -> float:
    assert len(values) >= 2, "too few samples"
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def is_refusal(text: str | None) -> bool:
    return text in w3.REFUSALS


# ---------------------------------------------------------------------------------------------
# Ingest, counts, determinism

def test_every_file_ingests_with_nothing_rejected(third_week_db: IngestedThirdWeek, db: sqlite3.Connection) -> None:
    report, week = third_week_db.report, third_week_db.week
    assert report["rejected"] == [] and report["warnings"] == []
    assert report["files"] == len(week.files) == 21  # per day: OTLP traces, OTLP logs, Collector JSON Lines
    assert report["traces"] == week.traces == 4212
    assert report["spans"] == report["spans_inserted"] == week.spans == 28878
    assert report["evaluations"] == week.evaluations == 1680
    assert report["incomplete_traces"] == 0
    by_route = dict(db.execute("SELECT route, COUNT(*) FROM traces GROUP BY route").fetchall())
    assert by_route == week.traces_by_route
    assert by_route[HELPDESK] == 926  # the FastAPI http.route is the route: the service sets no app.route
    by_tenant = dict(db.execute("SELECT tenant, COUNT(*) FROM traces GROUP BY tenant").fetchall())
    assert by_tenant == week.traces_by_tenant


def test_each_service_is_read_in_its_own_convention(db: sqlite3.Connection) -> None:
    rows = dict(((svc, conv), n) for svc, conv, n in db.execute(
        "SELECT service, convention, COUNT(*) FROM spans GROUP BY service, convention"))
    assert set(rows) == {("policy-assistant", "openinference"), ("trip-concierge", "openinference"),
                         ("support-desk", "otel_genai"), ("support-desk", "unknown"),  # the FastAPI SERVER root
                         ("freight-ops-agent", "pydantic_ai"), ("ap-dispute-worker", "vercel_ai")}
    # the support desk's answers arrive as OTLP log records (gen_ai.choice) and are joined to their spans
    outs = col(db, "SELECT output_text FROM spans WHERE service = 'support-desk' AND kind = 'LLM'")
    assert outs and all(o for o in outs)
    # requested model and the snapshot that answered, as each convention spells them
    models = set(db.execute("SELECT service, model, response_model FROM spans WHERE kind = 'LLM'").fetchall())
    assert ("trip-concierge", "gpt-4o", w3.GPT4O_NEW) in models and ("support-desk", "gpt-4o", w3.GPT4O_OLD) in models
    assert ("freight-ops-agent", "o4-mini", "o4-mini-2025-04-16") in models
    assert col(db, "SELECT COUNT(*) FROM spans WHERE kind = 'LLM' AND cost_source != 'computed'") == [0]


def test_the_same_seed_writes_byte_identical_files(third_week, tmp_path) -> None:  # noqa: F811
    again = w3.write_week(tmp_path / "again")

    def digests(files):
        return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}

    assert digests(again.files) == digests(third_week.files)
    assert again.incidents.read_bytes() == third_week.incidents.read_bytes()


def test_seed_and_scale_change_the_week(tmp_path) -> None:
    other = w3.write_week(tmp_path / "other", seed=7, scale=0.1)
    assert 300 < other.traces < 500 and other.traces != 421
    with pytest.raises(ValueError, match="days must be 7"):
        w3.write_week(tmp_path / "short", days=3)


# ---------------------------------------------------------------------------------------------
# Labels

def test_labels_share_the_schema_the_acceptance_tests_read(labels: dict[str, Any]) -> None:
    incidents = labels["incidents"]
    assert len({i["id"] for i in incidents}) == len(incidents) == 12
    assert [i["id"] for i in incidents if i["page_worthy"]] == [f"W3-0{k}" for k in range(1, 8)]
    for inc in incidents:
        assert {"id", "type", "start", "detectable_from", "end", "cohort", "signals", "page_worthy", "should_page",
                "description"} <= set(inc)
        assert inc["page_worthy"] == inc["should_page"]
        assert all({"signal", "kind", "direction", "aggregation", "registry"} <= set(s) for s in inc["signals"])
        start, detectable, end = ns(inc["start"]), ns(inc["detectable_from"]), ns(inc["end"])
        assert start <= detectable < end
        assert (start // 10**9) % 3600 != 0, f"{inc['id']} starts on a round hour"
    assert labels["quiet_days"] == ["2027-06-14", "2027-06-15"]
    for day in labels["quiet_days"]:
        d0 = ns(day + "T00:00:00Z")
        assert all(ns(i["end"]) <= d0 or ns(i["start"]) >= d0 + DAY_NS for i in incidents), day


# ---------------------------------------------------------------------------------------------
# Each incident is in the stored data

def test_w3_01_one_tenant_loses_grounding_while_its_retriever_slows(db: sqlite3.Connection, labels) -> None:
    start, end, inc = window(labels, "W3-01")
    g = ("SELECT e.score FROM evaluations e JOIN traces t ON t.trace_id = e.trace_id WHERE e.name = 'groundedness' "
         "AND t.tenant = ? AND {op} (t.start_ns >= ? AND t.start_ns < ?)")
    assert mean(col(db, g.format(op=""), "kestrel-air", start, end)) < 0.55
    assert mean(col(db, g.format(op="NOT"), "kestrel-air", start, end)) > 0.83
    assert mean(col(db, g.format(op=""), "marlow-partners", start, end)) > 0.8  # the other EU tenant is fine
    r = ("SELECT duration_ms FROM spans WHERE kind = 'RETRIEVER' AND tenant = 'kestrel-air' "
         "AND {op} (start_ns >= ? AND start_ns < ?)")
    assert p95(col(db, r.format(op=""), start, end)) > 8 * p95(col(db, r.format(op="NOT"), start, end))
    first = db.execute("SELECT MIN(start_ns) FROM traces WHERE tenant = 'kestrel-air' AND route = 'policy_qa' "
                       "AND start_ns >= ?", (start,)).fetchone()[0]
    assert abs(first - ns(inc["detectable_from"])) < 10**9  # its first trace in the window dates it


def test_w3_02_support_desk_context_grows_linearly_then_drops(db: sqlite3.Connection, labels) -> None:
    start, end, inc = window(labels, "W3-02")
    top = ns(inc["ramp_end"])
    # the LLM spans carry no route (only the FastAPI root has http.route): join their trace
    sql = ("SELECT AVG(s.input_tokens) FROM spans s JOIN traces t ON t.trace_id = s.trace_id WHERE s.kind = 'LLM' "
           "AND t.route = ? AND s.start_ns >= ? AND s.start_ns < ?")
    before = db.execute(sql, (HELPDESK, start - DAY_NS, start)).fetchone()[0]
    quarters = [db.execute(sql, (HELPDESK, start + k * (top - start) // 4, start + (k + 1) * (top - start) // 4))
                .fetchone()[0] for k in range(4)]
    assert quarters == sorted(quarters) and quarters[0] < 1.35 * before < quarters[1]
    assert db.execute(sql, (HELPDESK, top, end)).fetchone()[0] > 2.2 * before
    assert db.execute(sql, (HELPDESK, end, end + DAY_NS)).fetchone()[0] < 1.1 * before  # the fix


def test_w3_03_alias_refresh_raises_refusals_on_both_routes_that_call_gpt4o(db: sqlite3.Connection, labels) -> None:
    start, end, inc = window(labels, "W3-03")
    answers = ("SELECT s.output_text FROM spans s JOIN traces t ON t.trace_id = s.trace_id WHERE s.kind = 'LLM' "
               "AND s.model = 'gpt-4o' AND t.route = ? AND s.output_text NOT LIKE '%({%' "
               "AND {op} (s.start_ns >= ? AND s.start_ns < ?)")
    for route in ("trip_planner", HELPDESK):
        inside = [is_refusal(o) for o in col(db, answers.replace("{op}", ""), route, start, end)]
        outside = [is_refusal(o) for o in col(db, answers.replace("{op}", "NOT"), route, start, end)]
        assert len(inside) > 150 and 0.03 < mean(inside) < 0.08, route
        assert mean(outside) < 0.02, route  # trip_planner: W3-N5's probing user is outside it
    snapshots = col(db, "SELECT DISTINCT response_model FROM spans WHERE model = 'gpt-4o' AND start_ns >= ? "
                        "AND start_ns < ?", start, end)
    assert snapshots == [w3.GPT4O_NEW]
    # gemini on policy_qa keeps its base rate through the same window
    gem = [is_refusal(o) for o in col(db, "SELECT output_text FROM spans WHERE model = 'gemini-2.5-pro' AND "
                                          "start_ns >= ? AND start_ns < ?", start, end)]
    assert mean(gem) < 0.02


def test_w3_04_tool_retry_loop_triples_cost_on_shipment_ops(db: sqlite3.Connection, labels) -> None:
    start, end, _ = window(labels, "W3-04")
    sql = ("SELECT AVG(cost_usd), AVG(tool_calls), AVG(llm_calls), COUNT(*) FROM traces WHERE route = 'shipment_ops' "
           "AND {op} (start_ns >= ? AND start_ns < ?)")
    cost_in, tools_in, llm_in, n_in = db.execute(sql.format(op=""), (start, end)).fetchone()
    cost_out, tools_out, llm_out, _ = db.execute(sql.format(op="NOT"), (start, end)).fetchone()
    assert n_in == 22 and tools_out == pytest.approx(2.0, abs=0.02) and llm_out == pytest.approx(3.0, abs=0.02)
    assert tools_in > 5 and cost_in > 2.4 * cost_out
    # the retries are not errors: pydantic-ai turns the rejection into a retry prompt
    assert col(db, "SELECT COUNT(*) FROM spans WHERE route = 'shipment_ops' AND status = 'ERROR' AND start_ns >= ? "
                   "AND start_ns < ?", start, end) == [0]


def test_w3_05_new_prompt_version_is_worse_from_its_first_trace(db: sqlite3.Connection, labels) -> None:
    start, end, inc = window(labels, "W3-05")
    new, old = inc["cohort"]["prompt_version"], inc["replaces"]
    judged = ("SELECT e.score FROM evaluations e JOIN traces t ON t.trace_id = e.trace_id "
              "WHERE e.name = 'booking_correctness' AND t.prompt_version = ?")
    assert mean(col(db, judged, new)) < 0.7 < 0.88 < mean(col(db, judged, old))
    first = db.execute("SELECT MIN(start_ns), MAX(start_ns) FROM traces WHERE prompt_version = ?", (new,)).fetchone()
    assert start <= first[0] and abs(first[0] - ns(inc["detectable_from"])) < 10**9 and first[1] < end
    assert col(db, "SELECT COUNT(*) FROM traces WHERE route = 'trip_planner' AND prompt_version = ? AND start_ns >= ? "
                   "AND start_ns < ?", old, start, end) == [0]  # 100% at once, no canary


def test_w3_06_one_tenant_sends_nothing_for_1h45(db: sqlite3.Connection, labels) -> None:
    start, end, inc = window(labels, "W3-06")
    count = "SELECT COUNT(*) FROM traces WHERE tenant = 'bluefin-logistics' AND start_ns >= ? AND start_ns < ?"
    assert db.execute(count, (start, end)).fetchone()[0] == 0
    usual = [db.execute(count, (start - k * DAY_NS, end - k * DAY_NS)).fetchone()[0] for k in (1, 2, 3, 4)]
    assert min(usual) >= 20 and inc["expected_traces"] > 25


def test_w3_07_pii_in_one_tenants_dispute_drafts(db: sqlite3.Connection, labels) -> None:
    start, end, inc = window(labels, "W3-07")
    sql = ("SELECT s.start_ns, s.output_text, t.tenant FROM spans s JOIN traces t ON t.trace_id = s.trace_id "
           "WHERE s.parent_span_id IS NULL AND s.output_text IS NOT NULL")
    leaks = [(t, tenant) for t, text, tenant in db.execute(sql) if find_pii(text)]
    inside = [t for t, tenant in leaks if start <= t < end and tenant == "orchid-health"]
    assert len(inside) == inc["affected_traces"] == 17
    assert abs(min(inside) - ns(inc["detectable_from"])) < 10**9
    assert len(leaks) - len(inside) <= 3  # the base rate: a generic AP address in a few drafts all week


def test_noise_blips_are_there_but_small(db: sqlite3.Connection, labels) -> None:
    start, end, _ = window(labels, "W3-N1")
    r = "SELECT duration_ms FROM spans WHERE kind = 'RETRIEVER' AND {op} (start_ns >= ? AND start_ns < ?)"
    inside = col(db, r.format(op=""), start, end)
    assert 2 <= len(inside) <= 8 and statistics.median(inside) > 3 * statistics.median(col(db, r.format(op="NOT"), start, end))
    start, end, _ = window(labels, "W3-N2")
    count = "SELECT COUNT(*) FROM traces WHERE start_ns >= ? AND start_ns < ?"
    usual = mean([db.execute(count, (start - k * DAY_NS, end - k * DAY_NS)).fetchone()[0] for k in (1, 2, 3, 4)])
    assert db.execute(count, (start, end)).fetchone()[0] < 0.75 * usual
    start, end, _ = window(labels, "W3-N3")
    assert col(db, "SELECT COUNT(*) FROM spans WHERE tool_name = 'hold_fare' AND status = 'ERROR' AND start_ns >= ? "
                   "AND start_ns < ?", start, end) == [2]
    start, end, inc = window(labels, "W3-N4")
    assert inc["affected_traces"] == 4
    start, end, inc = window(labels, "W3-N5")
    outs = col(db, "SELECT s.output_text FROM spans s JOIN traces t ON t.trace_id = s.trace_id WHERE s.kind = 'LLM' "
                   "AND t.user_id = 'tamarind-u13' AND s.start_ns >= ? AND s.start_ns < ?", start, end)
    assert sum(map(is_refusal, outs)) == inc["affected_traces"] == 4


def test_quiet_days_have_no_injected_change(db: sqlite3.Connection, labels) -> None:
    d0, d1 = (ns(d + "T00:00:00Z") for d in labels["quiet_days"])
    checks = {
        "cost": "SELECT AVG(cost_usd) FROM traces WHERE route = ? AND start_ns >= ? AND start_ns < ?",
        "tool_calls": "SELECT AVG(tool_calls) FROM traces WHERE route = ? AND start_ns >= ? AND start_ns < ?",
        "retriever_p50": "SELECT AVG(duration_ms) FROM spans WHERE kind = 'RETRIEVER' AND route = ? AND start_ns >= ? "
                         "AND start_ns < ?",
    }
    for route in w3.ROUTE_MIX["kestrel-air"]:
        route = HELPDESK if route == "helpdesk" else route
        for name, sql in checks.items():
            a = db.execute(sql, (route, d0, d0 + DAY_NS)).fetchone()[0]
            b = db.execute(sql, (route, d1, d1 + DAY_NS)).fetchone()[0]
            if a is None and b is None:
                continue  # only policy_qa retrieves
            assert abs(a - b) <= 0.12 * max(a, b), (route, name, a, b)
    span = (d0, d1 + DAY_NS)
    for marker in (w3.GPT4O_NEW, w3.PROMPTS["trip_planner_new"], "EXPRESS_SAVER", "te-handbook-2019-archive"):
        assert col(db, "SELECT COUNT(*) FROM spans WHERE td_json(attributes) LIKE ? AND start_ns BETWEEN ? AND ?",
                   f"%{marker}%", *span) == [0], marker
    outs = col(db, "SELECT output_text FROM spans WHERE kind = 'LLM' AND start_ns BETWEEN ? AND ?", *span)
    assert 0.0 < sum(map(is_refusal, outs)) / len(outs) < 0.01


def test_refusals_are_worded_many_ways_and_apologies_are_not_refusals(db: sqlite3.Connection) -> None:
    outs = col(db, "SELECT output_text FROM spans WHERE kind = 'LLM' AND output_text IS NOT NULL")
    assert len({o for o in outs if is_refusal(o)}) >= 10
    benign = [o for o in outs if any(o.startswith(b) for b in w3.BENIGN_OPENERS)]
    assert len(benign) > 40 and not any(map(is_refusal, benign))


def test_worst_cohorts_list_the_same_traffic_once(third_week_db: IngestedThirdWeek):
    """On the third week every shipment_ops trace is the only traffic of o4-mini, freight-ops-7 and
    shipment_agent: the Overview's "furthest from the global figure" listed those 715 traces four times.
    Now one row, named by the first browse dimension, the others as its same traffic."""
    import tracedesk

    worst = tracedesk.open(str(third_week_db.db)).worst_cohorts(top=6)
    rows = [(r["dimension"], r["cohort"], r["traces"], r["same_traffic"]) for r in worst.to_dict("records")]
    assert rows[0] == ("route", "shipment_ops", 715,
                       ["model=o4-mini", "prompt_version=freight-ops-7", "agent_name=shipment_agent"])
    assert ("route", "trip_planner", 961, ["agent_name=Booking Agent", "agent_name=Triage Agent"]) in rows
    shown = [f"{d}={c}" for d, c, _n, same in rows] + [s for *_x, same in rows for s in same]
    assert len(shown) == len(set(shown))
