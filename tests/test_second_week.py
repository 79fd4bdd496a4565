"""The second, independently written week (tests/weeks/second_week.py): it ingests cleanly through the real
ingest path, its counts are exact for the default seed, and every labelled incident (and only those) is
visible in the stored data, measured with plain SQL on the database."""
from __future__ import annotations

import hashlib
import json
import sqlite3
import statistics
from typing import Any

import pytest

from tracedesk.timeutil import parse_time

from weeks.built import incident_window, read_only
from weeks import second_week as w2
from weeks.fixtures import IngestedWeek, second_week, second_week_db  # noqa: F401  (pytest fixtures)

HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS


ns = parse_time  # the one time parser (ISO labels to ns)


@pytest.fixture(scope="module")
def db(second_week_db: IngestedWeek):
    conn = read_only(second_week_db.db)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def labels(second_week_db: IngestedWeek) -> dict[str, Any]:
    return second_week_db.week.labels()


incident = incident_window


def mean(values: list[float]) -> float:
    assert values, "no samples"
    return sum(values) / len(values)


def p95(values: list[float]) -> float:
    assert len(values) >= 2, "too few samples"
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def col(db: sqlite3.Connection, sql: str, *params: Any) -> list[Any]:
    return [r[0] for r in db.execute(sql, params)]


def scores(db: sqlite3.Connection, name: str, where: str, *params: Any) -> list[float]:
    """Scores of evaluator `name` joined to their trace (t) and span (s); `where` filters on both."""
    return col(db, "SELECT e.score FROM evaluations e JOIN traces t ON t.trace_id = e.trace_id "
                   "JOIN spans s ON s.trace_id = e.trace_id AND s.span_id = e.span_id "
                   f"WHERE e.name = ? AND ({where})", name, *params)


# ---------------------------------------------------------------------------------------------
# Ingest and exact counts

def test_every_file_ingests_with_nothing_rejected(second_week_db: IngestedWeek) -> None:
    report, week = second_week_db.report, second_week_db.week
    assert report["rejected"] == []
    assert report["warnings"] == []
    assert report["files"] == len(week.files) == 28  # 4 files a day: OTLP traces, OTLP logs, Collector JSONL, flat
    assert report["traces"] == week.traces
    assert report["spans"] == report["spans_inserted"] == week.spans
    assert report["evaluations"] == week.evaluations
    assert report["incomplete_traces"] == 0


def test_counts_are_exact_for_the_default_seed(second_week_db: IngestedWeek, db: sqlite3.Connection) -> None:
    week = second_week_db.week
    assert (week.seed, week.days, week.scale) == (w2.DEFAULT_SEED, 7, 1.0)
    assert (week.traces, week.spans, week.evaluations) == (4254, 33691, 5718)
    assert week.traces_by_route == {"claims": 1226, "onboarding": 719, "kyc": 653, "search": 1197,
                                    "escalations": 459}
    assert week.traces_by_day == {"2027-03-08": 703, "2027-03-09": 727, "2027-03-10": 731, "2027-03-11": 750,
                                  "2027-03-12": 718, "2027-03-13": 334, "2027-03-14": 291}
    assert db.execute("SELECT COUNT(*) FROM traces").fetchone()[0] == 4254
    assert db.execute("SELECT COUNT(*) FROM spans").fetchone()[0] == 33691
    assert db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] == 5718
    assert dict(db.execute("SELECT route, COUNT(*) FROM traces GROUP BY route")) == week.traces_by_route
    assert dict(db.execute("SELECT route, COUNT(*) FROM spans GROUP BY route")) == week.spans_by_route
    assert week.evaluations_by_name == {"groundedness": 2811, "answer_relevance": 1321, "hallucination": 600,
                                        "user_feedback": 525, "field_extraction": 461}
    assert dict(db.execute("SELECT name, COUNT(*) FROM evaluations GROUP BY name")) == week.evaluations_by_name
    # Four instrumentation families (plus the HTTP server root, which carries no GenAI convention).
    conventions = dict(db.execute("SELECT convention, COUNT(*) FROM spans GROUP BY convention"))
    assert {"otel_genai", "openllmetry", "openinference", "flat"} <= set(conventions)
    assert conventions["flat"] == week.spans_by_route["escalations"]
    assert conventions["openinference"] == week.spans_by_route["search"]


def test_one_day_through_the_cli(second_week, tmp_path, capsys) -> None:  # noqa: F811
    from tracedesk.cli import main

    db = str(tmp_path / "monday.db")
    day = str(second_week.out_dir / "*2027-03-08*")  # a quoted glob, as a user would pass it
    assert main(["ingest", day, "--db", db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rejected"] == [] and report["files"] == 4
    assert report["traces"] == second_week.traces_by_day["2027-03-08"] == 703


def test_the_same_seed_writes_byte_identical_files(second_week, tmp_path) -> None:  # noqa: F811
    again = w2.write_week(tmp_path / "again")

    def digests(files):
        return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}

    assert digests(again.files) == digests(second_week.files)
    assert again.incidents.read_bytes() == second_week.incidents.read_bytes()


def test_days_scale_and_seed_change_the_week(tmp_path) -> None:
    one = w2.write_week(tmp_path / "one", days=1, scale=0.5)
    other = w2.write_week(tmp_path / "other", seed=7, days=1, scale=0.5)
    assert (one.traces, one.spans, len(one.files)) == (314, 2492, 4)
    assert other.traces != one.traces
    assert one.labels()["quiet_days"] == ["2027-03-08"]
    assert one.labels()["incidents"] == []  # nothing starts on Monday
    short = w2.write_week(tmp_path / "short", days=3, scale=0.05).labels()
    assert [(i["id"], i["end"]) for i in short["incidents"]] == [
        ("W2-01", "2027-03-11T00:00:00Z"), ("W2-02", "2027-03-10T16:52:00Z"), ("W2-N1", "2027-03-10T15:32:00Z")]
    long = w2.write_week(tmp_path / "long", days=9, scale=0.05).labels()
    assert long["end"] == "2027-03-17T00:00:00Z"
    assert next(i for i in long["incidents"] if i["id"] == "W2-05")["end"] == long["end"]  # still rolled out
    with pytest.raises(ValueError, match="days must be at least 1"):
        w2.write_week(tmp_path / "none", days=0)


# ---------------------------------------------------------------------------------------------
# Labels

def test_labels_share_the_sample_schema(labels: dict[str, Any]) -> None:
    incidents = labels["incidents"]
    assert len({i["id"] for i in incidents}) == len(incidents) == 9
    assert sum(i["should_page"] for i in incidents) == 6
    for inc in incidents:
        assert {"id", "type", "start", "end", "cohort", "signals", "should_page", "description"} <= set(inc)
        assert isinstance(inc["cohort"], dict) and inc["signals"]
        assert all({"signal", "kind", "direction"} <= set(s) for s in inc["signals"])
        start, end = ns(inc["start"]), ns(inc["end"])
        assert start < end
        assert (start // 10**9) % 3600 != 0, f"{inc['id']} starts on a round hour"
    assert labels["quiet_days"] == ["2027-03-08", "2027-03-09"]
    for day in labels["quiet_days"]:
        d0 = ns(day + "T00:00:00Z")
        assert all(ns(i["end"]) <= d0 or ns(i["start"]) >= d0 + DAY_NS for i in incidents), day


# ---------------------------------------------------------------------------------------------
# Each incident is visible in the stored data

def test_w2_01_northwind_groundedness_slides_gradually(db: sqlite3.Connection, labels) -> None:
    start, end, _ = incident(labels, "W2-01")
    # Search has its own incident (W2-04) inside this window: leave it out.
    where = "t.tenant = ? AND t.route != 'search' AND t.start_ns >= ? AND t.start_ns < ?"
    before = mean(scores(db, "groundedness", where, "northwind", start - 2 * DAY_NS, start))
    first = mean(scores(db, "groundedness", where, "northwind", start, start + 6 * HOUR_NS))
    middle = mean(scores(db, "groundedness", where, "northwind", start + 18 * HOUR_NS, start + 24 * HOUR_NS))
    last = mean(scores(db, "groundedness", where, "northwind", end - 4 * HOUR_NS, end))
    after = mean(scores(db, "groundedness", where, "northwind", end, end + 2 * DAY_NS))
    others = mean(scores(db, "groundedness", "t.tenant != ? AND t.route != 'search' AND t.start_ns >= ? "
                         "AND t.start_ns < ?", "northwind", end - 4 * HOUR_NS, end))
    assert before > 0.8 and after > 0.8 and others > 0.8
    assert before > first > middle > last  # a slide, not a step
    assert before - last > 0.25
    assert first > before - 0.1
    _, _, inc = incident(labels, "W2-01")
    assert (inc["detectable_from"], inc["ramp_end"]) == ("2027-03-10T15:15:24Z", "2027-03-11T12:26:00Z")


def test_w2_02_claims_tool_retry_loop(db: sqlite3.Connection, labels) -> None:
    start, end, inc = incident(labels, "W2-02")
    assert inc["cohort"] == {"route": "claims"}

    def per_trace(column: str, inside: bool) -> float:
        op = "" if inside else "NOT"
        return mean(col(db, f"SELECT {column} FROM traces WHERE route = 'claims' AND {op} "
                            "(start_ns >= ? AND start_ns < ?)", start, end))

    assert per_trace("tool_calls", True) > 2 * per_trace("tool_calls", False)
    assert per_trace("llm_calls", True) > 2 * per_trace("llm_calls", False)
    assert per_trace("cost_usd", True) > 2 * per_trace("cost_usd", False)
    # The loop is silent: the tool answers 'partial', never an error.
    partial = "s.tool_name = 'policy_lookup' AND s.tool_result LIKE '%partial%'"
    assert db.execute(f"SELECT COUNT(*) FROM spans s WHERE {partial} AND NOT (s.start_ns >= ? AND s.start_ns < ?)",
                      (start, end + HOUR_NS)).fetchone()[0] == 0
    assert db.execute(f"SELECT COUNT(*) FROM spans s WHERE {partial}").fetchone()[0] > 100
    errors = col(db, "SELECT status = 'ERROR' FROM spans WHERE tool_name = 'policy_lookup' "
                     "AND start_ns >= ? AND start_ns < ?", start, end + HOUR_NS)
    assert mean(errors) < 0.02
    # Other routes carry on as usual: onboarding's two tool calls per trace (its handoff span is a routing
    # step, not a tool call) inside the window, as in the rest of the week.
    def onboarding_tools(inside: bool) -> float:
        op = "" if inside else "NOT"
        return mean(col(db, f"SELECT tool_calls FROM traces WHERE route = 'onboarding' AND {op} "
                            "(start_ns >= ? AND start_ns < ?)", start, end))

    assert onboarding_tools(True) == pytest.approx(onboarding_tools(False), abs=0.15)
    assert onboarding_tools(True) == pytest.approx(2.0, abs=0.15)


def claude_answers(db: sqlite3.Connection) -> list[tuple[int, str | None, str | None]]:
    """(start, response model, output) of each final claude-sonnet-4-5 answer, by the *requested* model."""
    return db.execute(
        "SELECT start_ns, json_extract(td_json(attributes), '$.\"gen_ai.response.model\"'), output_text FROM spans "
        "WHERE kind = 'LLM' AND json_extract(td_json(attributes), '$.\"gen_ai.request.model\"') = 'claude-sonnet-4-5' "
        "AND status != 'ERROR' AND COALESCE(finish_reason, '') NOT IN ('tool_calls', 'tool_use')").fetchall()


def test_w2_03_snapshot_refresh_raises_refusals_for_one_requested_model(db: sqlite3.Connection, labels) -> None:
    start, end, inc = incident(labels, "W2-03")
    rows = claude_answers(db)
    inside = [r for r in rows if start <= r[0] < end]
    outside = [r for r in rows if not start <= r[0] < end]

    def rate(rs):
        return sum(r[2] in w2.REFUSAL_PHRASES for r in rs) / len(rs)

    assert len(inside) > 200
    assert rate(inside) > 0.06
    assert rate(outside) < 0.02
    assert {r[1] for r in inside} == {inc["response_model_during"]}
    assert {r[1] for r in outside} == {inc["response_model_before"]}
    # Other models keep their low base rate in the same window.
    others = col(db, "SELECT output_text FROM spans WHERE kind = 'LLM' AND start_ns >= ? AND start_ns < ? AND "
                     "json_extract(td_json(attributes), '$.\"gen_ai.request.model\"') IS NOT 'claude-sonnet-4-5' "
                     "AND output_text IS NOT NULL", start, end)
    assert sum(o in w2.REFUSAL_PHRASES for o in others) / len(others) < 0.02


def test_w2_04_search_retriever_slow_and_answers_ungrounded(db: sqlite3.Connection, labels) -> None:
    start, end, _ = incident(labels, "W2-04")
    sql = ("SELECT duration_ms FROM spans WHERE kind = 'RETRIEVER' AND route = ? AND "
           "{op} (start_ns >= ? AND start_ns < ?)")
    inside = col(db, sql.format(op=""), "search", start, end)
    outside = col(db, sql.format(op="NOT"), "search", start, end)
    assert len(inside) > 40
    assert p95(inside) > 5 * p95(outside)
    where = "t.route = 'search' AND {op} (t.start_ns >= ? AND t.start_ns < ?)"
    g_in = mean(scores(db, "groundedness", where.format(op=""), start, end))
    g_out = mean(scores(db, "groundedness", where.format(op="NOT"), start, end))
    assert g_out - g_in > 0.25
    # The other retrievers of the same hours are fine (claims-kb, case history).
    other = col(db, sql.format(op=""), "claims", start, end)
    assert p95(other) < 300


def test_w2_05_new_kyc_prompt_version_is_worse_than_the_one_it_replaced(db: sqlite3.Connection, labels) -> None:
    start, end, inc = incident(labels, "W2-05")
    new, old = inc["cohort"]["prompt_version"], inc["replaces"]["prompt_version"]
    first = db.execute("SELECT MIN(start_ns) FROM traces WHERE prompt_version = ?", (new,)).fetchone()[0]
    assert start == first // 10**9 * 10**9  # a cohort that did not exist before its first trace
    assert ns(inc["deployed_at"]) <= start < ns(inc["rollout"][1]["at"])
    start = ns(inc["deployed_at"])
    full = ns(inc["rollout"][1]["at"])
    assert db.execute("SELECT COUNT(*) FROM traces WHERE prompt_version = ? AND start_ns >= ?",
                      (old, full)).fetchone()[0] == 0
    canary = col(db, "SELECT prompt_version = ? FROM traces WHERE route = 'kyc' AND start_ns >= ? AND start_ns < ?",
                 new, start, full)
    assert 0 < mean(canary) < 0.5  # a partial canary: both versions serve kyc in those hours
    rel_new = mean(scores(db, "answer_relevance", "s.prompt_version = ?", new))
    rel_old = mean(scores(db, "answer_relevance", "s.prompt_version = ?", old))
    assert rel_old - rel_new > 0.15
    down = "SELECT AVG(e.label = 'thumbs_down') FROM evaluations e JOIN traces t ON t.trace_id = e.trace_id " \
           "WHERE e.name = 'user_feedback' AND t.prompt_version = ?"
    assert db.execute(down, (new,)).fetchone()[0] > db.execute(down, (old,)).fetchone()[0] + 0.1
    tokens = "SELECT AVG(input_tokens) FROM spans WHERE kind = 'LLM' AND name = 'gemini.generate_content' " \
             "AND prompt_version = ?"
    assert db.execute(tokens, (new,)).fetchone()[0] < 0.85 * db.execute(tokens, (old,)).fetchone()[0]


def test_w2_06_customer_profile_errors_spike_on_every_route(db: sqlite3.Connection, labels) -> None:
    start, end, inc = incident(labels, "W2-06")
    sql = ("SELECT status = 'ERROR' FROM spans WHERE kind = 'TOOL' AND tool_name = ? AND "
           "{op} (start_ns >= ? AND start_ns < ?)")
    inside = col(db, sql.format(op=""), inc["cohort"]["tool"], start, end)
    outside = col(db, sql.format(op="NOT"), inc["cohort"]["tool"], start - 60 * 10**9, end + 60 * 10**9)
    assert len(inside) > 15
    assert mean(inside) > 0.25
    assert mean(outside) < 0.03
    routes = set(col(db, "SELECT DISTINCT route FROM spans WHERE tool_name = ? AND status = 'ERROR' "
                         "AND start_ns >= ? AND start_ns < ?", inc["cohort"]["tool"], start, end))
    assert routes == {"claims", "onboarding", "kyc", "escalations"}
    # Other tools in the same window are fine.
    others = col(db, "SELECT status = 'ERROR' FROM spans WHERE kind = 'TOOL' AND tool_name != ? "
                     "AND start_ns >= ? AND start_ns < ?", inc["cohort"]["tool"], start, end)
    assert mean(others) < 0.05


def test_noise_blips_are_there_but_small(db: sqlite3.Connection, labels) -> None:
    # W2-N1: 20 minutes of slow LLM calls on search; grounding unchanged.
    start, end, _ = incident(labels, "W2-N1")
    sql = ("SELECT duration_ms FROM spans WHERE kind = 'LLM' AND route = 'search' AND "
           "{op} (start_ns >= ? AND start_ns < ?)")
    inside = col(db, sql.format(op=""), start, end)
    assert len(inside) >= 3
    assert statistics.median(inside) > 2 * statistics.median(col(db, sql.format(op="NOT"), start, end))
    assert start + 20 * 60 * 10**9 == end
    # W2-N2: traffic in the 40 dip minutes vs the same minutes Monday to Thursday.
    start, end, _ = incident(labels, "W2-N2")
    count = "SELECT COUNT(*) FROM traces WHERE start_ns >= ? AND start_ns < ?"
    dip = db.execute(count, (start, end)).fetchone()[0]
    usual = mean([db.execute(count, (start - k * DAY_NS, end - k * DAY_NS)).fetchone()[0] for k in (1, 2, 3, 4)])
    assert 0.5 * usual < dip < 0.85 * usual
    # W2-N3: contoso's final answers read ~2.5x the tokens for 30 minutes.
    start, end, _ = incident(labels, "W2-N3")
    inside = col(db, "SELECT t.cost_usd FROM traces t WHERE t.tenant = 'contoso' AND t.start_ns >= ? "
                     "AND t.start_ns < ?", start, end)
    usual_cost = col(db, "SELECT t.cost_usd FROM traces t WHERE t.tenant = 'contoso' AND t.start_ns >= ? "
                         "AND t.start_ns < ?", start - DAY_NS, end - DAY_NS + 6 * HOUR_NS)
    assert len(inside) >= 4
    assert mean(inside) > 1.5 * mean(usual_cost)


# ---------------------------------------------------------------------------------------------
# Quiet days and base rates

QUIET_CHECKS = {
    "groundedness": "SELECT AVG(e.score) FROM evaluations e JOIN traces t ON t.trace_id = e.trace_id "
                    "WHERE e.name = 'groundedness' AND t.route = ? AND t.start_ns >= ? AND t.start_ns < ?",
    "tool_calls": "SELECT AVG(tool_calls) FROM traces WHERE route = ? AND start_ns >= ? AND start_ns < ?",
    "cost": "SELECT AVG(cost_usd) FROM traces WHERE route = ? AND start_ns >= ? AND start_ns < ?",
    "tool_errors": "SELECT AVG(status = 'ERROR') FROM spans WHERE kind = 'TOOL' AND route = ? "
                   "AND start_ns >= ? AND start_ns < ?",
}


def test_quiet_days_have_no_injected_change(db: sqlite3.Connection, labels) -> None:
    d0, d1 = (ns(d + "T00:00:00Z") for d in labels["quiet_days"])
    for route in ("claims", "onboarding", "kyc", "search", "escalations"):
        for name, sql in QUIET_CHECKS.items():
            a = db.execute(sql, (route, d0, d0 + DAY_NS)).fetchone()[0]
            b = db.execute(sql, (route, d1, d1 + DAY_NS)).fetchone()[0]
            if a is None and b is None:
                continue  # e.g. kyc has no groundedness judge
            tolerance = {"groundedness": 0.05, "tool_calls": 0.25, "cost": 0.2 * max(a, b), "tool_errors": 0.03}
            assert abs(a - b) <= tolerance[name], (route, name, a, b)
    span = (d0, d1 + DAY_NS)
    markers = {
        "new prompt version": "SELECT COUNT(*) FROM spans WHERE prompt_version = 'kyc-v3.2' "
                              "AND start_ns BETWEEN ? AND ?",
        "refreshed snapshot": "SELECT COUNT(*) FROM spans WHERE td_json(attributes) LIKE '%claude-sonnet-4-5-20260219%' "
                              "AND start_ns BETWEEN ? AND ?",
        "partial tool results": "SELECT COUNT(*) FROM spans WHERE tool_result LIKE '%partial%' "
                                "AND start_ns BETWEEN ? AND ?",
        "archived documents": "SELECT COUNT(*) FROM spans WHERE retrieved_doc_ids LIKE '%archive-%' "
                              "AND start_ns BETWEEN ? AND ?",
    }
    for what, sql in markers.items():
        assert db.execute(sql, span).fetchone()[0] == 0, what
    # Refusals stay at their low base rate (~1% for claude, ~0.4% for the rest) on quiet days.
    outs = col(db, "SELECT output_text FROM spans WHERE kind = 'LLM' AND output_text IS NOT NULL "
                   "AND start_ns BETWEEN ? AND ?", *span)
    assert 0.0 < sum(o in w2.REFUSAL_PHRASES for o in outs) / len(outs) < 0.015


def test_traffic_is_diurnal_with_a_weekend_dip(second_week) -> None:  # noqa: F811
    by_day = list(second_week.traces_by_day.values())
    assert min(by_day[:5]) > 2 * max(by_day[5:])


def test_refusals_use_many_phrasings_and_apologies_are_not_refusals(db: sqlite3.Connection) -> None:
    outs = col(db, "SELECT output_text FROM spans WHERE kind = 'LLM' AND output_text IS NOT NULL")
    used = {o for o in outs if o in w2.REFUSAL_PHRASES}
    assert len(used) >= 8
    assert any("\u2019" in o for o in used)  # curly apostrophes, as models write them
    benign = [o for o in outs if o.startswith(w2.BENIGN_OPENERS)]
    assert len(benign) > 50 and not set(benign) & set(w2.REFUSAL_PHRASES)


def test_evaluations_mix_score_only_and_labelled(db: sqlite3.Connection) -> None:
    rows = dict((name, (n, labelled)) for name, n, labelled in db.execute(
        "SELECT name, COUNT(*), COUNT(label) FROM evaluations GROUP BY name"))
    assert rows["groundedness"][1] == 0 and rows["groundedness"][0] > 2000  # score only: no pass flag, no label
    assert rows["answer_relevance"][1] == 0
    for name in ("user_feedback", "hallucination", "field_extraction"):
        assert rows[name][1] == rows[name][0]  # every one labelled
    assert set(col(db, "SELECT DISTINCT label FROM evaluations WHERE name = 'user_feedback'")) == {
        "thumbs_up", "thumbs_down"}


def test_planner_hands_off_to_specialists(db: sqlite3.Connection, second_week) -> None:  # noqa: F811
    agents = set(col(db, "SELECT DISTINCT agent_name FROM spans WHERE kind = 'AGENT'"))
    assert {"claims_planner", "coverage_specialist", "payout_specialist", "fraud_screener", "intake_planner",
            "kyc_specialist", "account_setup_specialist", "escalation_triage", "resolution_writer"} <= agents
    # Each planner's handoff is a visible span just before the specialist starts.
    routes = second_week.traces_by_route
    assert db.execute("SELECT COUNT(*) FROM spans WHERE name LIKE 'execute_tool transfer_to_%'").fetchone()[0] \
        == routes["claims"] == 1226
    assert db.execute("SELECT COUNT(*) FROM spans WHERE name LIKE 'intake_planner \u2192 %.handoff'").fetchone()[0] \
        == routes["onboarding"] + routes["kyc"] == 1372
