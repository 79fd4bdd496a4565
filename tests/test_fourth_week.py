"""The fourth labelled week (tests/weeks/fourth_week.py): every file loads through `tracedesk ingest`, the output
is deterministic, the labels are well formed, and each labelled incident is in the stored data (plain SQL over
the ingested database, inside the window against outside it), while the quiet days carry none of them.

These tests measure the data, not tracedesk's detectors: the feed's and the suggester's acceptance on this week
are tests/test_changes_fourth_week.py and tests/test_alerts_suggest_weeks.py."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from weeks.built import assert_deterministic, digests, incident_window, read_only
from weeks.fourth_fixtures import IngestedFourthWeek, fourth_week, fourth_week_db  # noqa: F401  (fixtures)
from weeks.fourth_week import QUIET_DAYS, Week, write_week

from tracedesk.timeutil import parse_time


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    assert_deterministic(write_week, tmp_path)


def test_the_week_is_seven_days() -> None:
    with pytest.raises(ValueError, match="days must be 7"):
        write_week("/nonexistent-never-written", days=5)


def test_every_record_loads_through_tracedesk_ingest(fourth_week_db: IngestedFourthWeek) -> None:
    week, report = fourth_week_db.week, fourth_week_db.report
    assert report["rejected"] == []
    assert report["files"] == len(week.files) == 49
    assert report["spans"] == report["spans_inserted"] == week.spans
    assert report["traces"] == week.traces
    assert report["evaluations"] == week.evaluations
    # every convention the week is written in is read as that convention (the FastAPI root and the Pinecone
    # query span carry no LLM convention: `unknown`, as tracedesk documents)
    assert set(report["by_convention"]) == {"google_adk", "otel_genai", "openllmetry", "openinference",
                                            "langfuse", "unknown"}
    conn = read_only(fourth_week_db.db)
    by_route = dict(conn.execute("SELECT route, COUNT(*) FROM traces GROUP BY route").fetchall())
    assert by_route == week.traces_by_route
    by_tenant = dict(conn.execute("SELECT tenant, COUNT(*) FROM traces GROUP BY tenant").fetchall())
    assert by_tenant == week.traces_by_tenant


def test_labels_are_well_formed(fourth_week: Week) -> None:
    labels = fourth_week.labels()
    assert labels["quiet_days"] == QUIET_DAYS
    incidents = labels["incidents"]
    real = [i for i in incidents if i["should_page"]]
    noise = [i for i in incidents if not i["should_page"]]
    assert [i["id"] for i in real] == [f"W4-0{k}" for k in range(1, 9)]
    assert [i["id"] for i in noise] == [f"W4-N{k}" for k in range(1, 6)]
    week_a, week_b = parse_time(labels["start"]), parse_time(labels["end"])
    for inc in incidents:
        a, b = parse_time(inc["start"]), parse_time(inc["end"])
        assert week_a <= a < b <= week_b, inc["id"]
        assert inc["page_worthy"] == inc["should_page"]
        assert inc["cohort"] and inc["signals"], inc["id"]
        seen = parse_time(inc["detectable_from"])
        assert a <= seen < b, inc["id"]
        for day in QUIET_DAYS:       # quiet days hold no incident and no blip
            d0 = parse_time(day + "T00:00:00Z")
            assert b <= d0 or a >= d0 + 86_400 * 10**9, (inc["id"], day)


def _q(conn: sqlite3.Connection, sql: str, *args: Any) -> Any:
    return conn.execute(sql, args).fetchone()


def _window(db: IngestedFourthWeek, inc_id: str) -> tuple[int, int]:
    a, b, _ = incident_window(db.week.labels(), inc_id)
    return a, b


def _pct(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), as tracedesk's signals document."""
    v = sorted(values)
    k = (len(v) - 1) * p
    f = int(k)
    return v[f] + (v[min(f + 1, len(v) - 1)] - v[f]) * (k - f)


def test_w4_01_anthropic_rate_limit_wave(fourth_week_db: IngestedFourthWeek) -> None:
    conn = read_only(fourth_week_db.db)
    a, b = _window(fourth_week_db, "W4-01")
    n_in, err_in, n_out, err_out = _q(conn, """
        SELECT SUM(start_ns >= ?1 AND start_ns < ?2), SUM(status = 'ERROR' AND start_ns >= ?1 AND start_ns < ?2),
               SUM(start_ns < ?1 OR start_ns >= ?2), SUM(status = 'ERROR' AND (start_ns < ?1 OR start_ns >= ?2))
        FROM spans WHERE kind = 'LLM' AND provider = 'anthropic'""", a, b)
    assert n_in >= 50 and err_in / n_in > 0.35
    assert err_out / n_out < 0.005
    # the failed calls never answered: no response model, no usage
    assert _q(conn, """SELECT COUNT(*) FROM spans WHERE kind = 'LLM' AND status = 'ERROR' AND start_ns >= ? AND
                       start_ns < ? AND (response_model IS NOT NULL OR input_tokens IS NOT NULL)""", a, b)[0] == 0


def test_w4_02_reset_password_error_burst(fourth_week_db: IngestedFourthWeek) -> None:
    conn = read_only(fourth_week_db.db)
    a, b = _window(fourth_week_db, "W4-02")
    n_in, err_in, n_all, err_all = _q(conn, """
        SELECT SUM(start_ns >= ?1 AND start_ns < ?2), SUM(status = 'ERROR' AND start_ns >= ?1 AND start_ns < ?2),
               COUNT(*), SUM(status = 'ERROR') FROM spans WHERE tool_name = 'reset_password'""", a, b)
    assert n_in >= 8 and err_in / n_in > 0.6
    assert (err_all - err_in) / (n_all - n_in) < 0.02


def test_w4_03_handoff_loop_for_one_tenant(fourth_week_db: IngestedFourthWeek) -> None:
    conn = read_only(fourth_week_db.db)
    a, b = _window(fourth_week_db, "W4-03")
    sql = """SELECT COUNT(*), AVG(llm_calls), AVG(cost_usd), AVG(error_count > 0) FROM traces
             WHERE route = 'it_helpdesk' AND tenant {} 'sakura-bank' AND {}"""
    n, calls_in, cost_in, err_in = _q(conn, sql.format("=", "start_ns >= ? AND start_ns < ?"), a, b)
    _, calls_out, cost_out, err_out = _q(conn, sql.format("=", "(start_ns < ? OR start_ns >= ?)"), a, b)
    _, calls_others, _, _ = _q(conn, sql.format("!=", "start_ns >= ? AND start_ns < ?"), a, b)
    assert n >= 30
    assert calls_in > 3 * calls_out and calls_in > 3 * calls_others
    assert cost_in > 3 * cost_out and err_in > 5 * err_out
    # the loop is visible as handoff edges back to Triage, only in the window
    back_in, back_all = _q(conn, """SELECT SUM(start_ns >= ? AND start_ns < ?), COUNT(*) FROM spans
                                   WHERE handoff_from = 'Accounts' AND handoff_to = 'Triage'""", a, b)
    assert back_in == back_all and back_in > 100


def test_w4_04_empty_retrieval(fourth_week_db: IngestedFourthWeek) -> None:
    conn = read_only(fourth_week_db.db)
    a, b = _window(fourth_week_db, "W4-04")
    sql = """SELECT AVG(e.score), COUNT(*) FROM evaluations e JOIN traces t USING (trace_id)
             WHERE e.name = 'faithfulness' AND {}"""
    f_in, n_in = _q(conn, sql.format("t.start_ns >= ? AND t.start_ns < ?"), a, b)
    f_out, _ = _q(conn, sql.format("(t.start_ns < ? OR t.start_ns >= ?) AND t.tenant != 'lumen-retail'"), a, b)
    assert n_in >= 15 and f_in < 0.25 and f_out > 0.8
    len_in, len_out = _q(conn, """SELECT AVG(CASE WHEN start_ns >= ?1 AND start_ns < ?2 THEN LENGTH(output_text) END),
                                         AVG(CASE WHEN start_ns < ?1 OR start_ns >= ?2 THEN LENGTH(output_text) END)
                                  FROM spans WHERE kind = 'LLM' AND route = 'product_qa'""", a, b)
    assert len_in < 0.3 * len_out


def test_w4_05_cache_misses_raise_cost(fourth_week_db: IngestedFourthWeek) -> None:
    conn = read_only(fourth_week_db.db)
    a, b = _window(fourth_week_db, "W4-05")
    inside = "start_ns >= ?1 AND start_ns < ?2"
    cost_in, cost_out = _q(conn, f"""SELECT AVG(CASE WHEN {inside} THEN cost_usd END),
                                            AVG(CASE WHEN NOT ({inside}) THEN cost_usd END)
                                     FROM traces WHERE route = 'code_review'""", a, b)
    assert cost_in > 2.2 * cost_out
    cached_in, cached_out, tok_in, tok_out, ttft_in, ttft_out = _q(conn, f"""
        SELECT SUM(CASE WHEN {inside} THEN cached_tokens END) * 1.0 / SUM(CASE WHEN {inside} THEN input_tokens END),
               SUM(CASE WHEN NOT ({inside}) THEN cached_tokens END) * 1.0
                 / SUM(CASE WHEN NOT ({inside}) THEN input_tokens END),
               AVG(CASE WHEN {inside} THEN input_tokens END), AVG(CASE WHEN NOT ({inside}) THEN input_tokens END),
               AVG(CASE WHEN {inside} THEN ttft_ms END), AVG(CASE WHEN NOT ({inside}) THEN ttft_ms END)
        FROM spans WHERE kind = 'LLM' AND service = 'review-bot' AND status != 'ERROR'""", a, b)
    assert cached_in == 0 and cached_out > 0.7
    assert 0.8 < tok_in / tok_out < 1.25           # the same prompts: only the cache changed
    assert ttft_in > 1.6 * ttft_out


def test_w4_06_only_the_tail_of_one_model(fourth_week_db: IngestedFourthWeek) -> None:
    conn = read_only(fourth_week_db.db)
    a, b = _window(fourth_week_db, "W4-06")

    def durations(where: str, model_cond: str = "model = 'gpt-4.1'") -> list[float]:
        return [r[0] for r in conn.execute(
            f"SELECT duration_ms FROM spans WHERE kind = 'LLM' AND {model_cond} AND {where}", (a, b))]

    inside, outside = durations("start_ns >= ? AND start_ns < ?"), durations("(start_ns < ? OR start_ns >= ?)")
    assert len(inside) >= 200
    assert _pct(inside, 0.99) > 2.5 * _pct(outside, 0.99)
    assert _pct(inside, 0.95) < 1.3 * _pct(outside, 0.95)
    assert _pct(inside, 0.5) < 1.2 * _pct(outside, 0.5)
    other = durations("start_ns >= ? AND start_ns < ?", "model = 'anthropic/claude-sonnet-4-5'")
    other_out = durations("(start_ns < ? OR start_ns >= ?)", "model = 'anthropic/claude-sonnet-4-5'")
    assert _pct(other, 0.99) < 1.5 * _pct(other_out, 0.99)


def test_w4_07_new_prompt_version_hurts_one_tenant(fourth_week_db: IngestedFourthWeek) -> None:
    conn = read_only(fourth_week_db.db)
    a, b = _window(fourth_week_db, "W4-07")
    rows = conn.execute("""
        SELECT t.tenant, AVG(CASE WHEN t.start_ns >= ?1 AND t.start_ns < ?2 THEN e.score END),
               AVG(CASE WHEN t.start_ns < ?1 THEN e.score END)
        FROM evaluations e JOIN traces t USING (trace_id) WHERE e.name = 'summarization' GROUP BY 1""", (a, b))
    scores = {tenant: (during, before) for tenant, during, before in rows}
    assert scores["kiwi-legal"][0] < 0.6 and scores["kiwi-legal"][1] > 0.8
    for tenant in ("indus-soft", "mercado-azul", "sakura-bank"):
        assert abs(scores[tenant][0] - scores[tenant][1]) < 0.05, tenant
    versions = dict(conn.execute("""SELECT prompt_version, MIN(start_ns) FROM traces
                                     WHERE route = 'meeting_summary' GROUP BY 1"""))
    assert set(versions) == {"14", "15"} and versions["15"] >= parse_time("2027-09-22T00:31:00Z")
    len_in, len_out = _q(conn, """
        SELECT AVG(CASE WHEN s.start_ns >= ?1 THEN LENGTH(s.output_text) END),
               AVG(CASE WHEN s.start_ns < ?1 THEN LENGTH(s.output_text) END)
        FROM spans s JOIN traces t USING (trace_id)
        WHERE s.kind = 'LLM' AND s.prompt_version IS NOT NULL AND t.tenant = 'kiwi-legal'""", a)
    assert len_in < 0.4 * len_out


def test_w4_08_new_tenant_with_bad_quality(fourth_week_db: IngestedFourthWeek) -> None:
    conn = read_only(fourth_week_db.db)
    a, _ = _window(fourth_week_db, "W4-08")
    assert _q(conn, "SELECT MIN(start_ns) >= ? FROM traces WHERE tenant = 'lumen-retail'", a)[0] == 1
    rows = dict(conn.execute("""SELECT t.tenant, AVG(e.score) FROM evaluations e JOIN traces t USING (trace_id)
                                WHERE e.name = 'faithfulness' AND t.start_ns >= ? GROUP BY 1""", (a,)))
    assert rows["lumen-retail"] < 0.55
    assert min(v for k, v in rows.items() if k != "lumen-retail") > 0.8


def test_noise_blips_are_small_and_one_signal(fourth_week_db: IngestedFourthWeek) -> None:
    conn = read_only(fourth_week_db.db)
    a, b = _window(fourth_week_db, "W4-N1")
    assert _q(conn, """SELECT COUNT(*), SUM(error_count) FROM traces WHERE user_id = 'koi--u07'
                        AND start_ns >= ? AND start_ns < ?""", a, b) == (14, 0)
    a, b = _window(fourth_week_db, "W4-N2")
    assert _q(conn, """SELECT SUM(status = 'ERROR') FROM spans WHERE kind = 'LLM' AND start_ns >= ?
                        AND start_ns < ?""", a, b)[0] == 3
    a, b = _window(fourth_week_db, "W4-N3")
    n3, n3_scores = _q(conn, """SELECT COUNT(*), (SELECT MIN(score) FROM evaluations e WHERE e.trace_id IN
                                (SELECT trace_id FROM traces WHERE session_id = 'merc-u03-board'))
                                FROM traces WHERE session_id = 'merc-u03-board'""")
    assert n3 == 3 and (n3_scores is None or n3_scores > 0.6)
    a, b = _window(fourth_week_db, "W4-N4")
    slow, errors = _q(conn, """SELECT AVG(duration_ms), SUM(status = 'ERROR') FROM spans
                               WHERE tool_name = 'lookup_asset' AND start_ns >= ? AND start_ns < ?""", a, b)
    usual = _q(conn, "SELECT AVG(duration_ms) FROM spans WHERE tool_name = 'lookup_asset' AND start_ns < ?", a)[0]
    assert slow > 5 * usual and errors == 0
    a, b = _window(fourth_week_db, "W4-N5")
    low = _q(conn, """SELECT COUNT(*) FROM evaluations e JOIN traces t USING (trace_id) WHERE e.name = 'summarization'
                      AND e.score < 0.4 AND t.start_ns >= ? AND t.start_ns < ?""", a, b)[0]
    assert low == 3


@pytest.mark.parametrize("day", QUIET_DAYS)
def test_quiet_days_carry_no_incident_marker(fourth_week_db: IngestedFourthWeek, day: str) -> None:
    conn = read_only(fourth_week_db.db)
    a = parse_time(day + "T00:00:00Z")
    b = a + 86_400 * 10**9
    assert _q(conn, """SELECT COUNT(*) FROM spans WHERE start_ns >= ? AND start_ns < ? AND status = 'ERROR' AND
                        (status_message LIKE '%429%' OR status_message LIKE '%DirectoryTimeout%'
                         OR status_message LIKE '%LlmCallsLimit%')""", a, b)[0] == 0
    assert _q(conn, """SELECT COUNT(*) FROM traces WHERE start_ns >= ? AND start_ns < ? AND
                        (tenant = 'lumen-retail' OR prompt_version = '15')""", a, b)[0] == 0
    assert _q(conn, """SELECT COUNT(*) FROM spans WHERE start_ns >= ? AND start_ns < ?
                        AND handoff_from = 'Accounts' AND handoff_to = 'Triage'""", a, b)[0] == 0
    assert _q(conn, """SELECT COUNT(*) FROM spans WHERE start_ns >= ? AND start_ns < ? AND service = 'review-bot'
                        AND kind = 'LLM' AND cached_tokens = 0 AND status != 'ERROR'""", a, b)[0] <= 3
    assert _q(conn, """SELECT MAX(duration_ms) FROM spans WHERE start_ns >= ? AND start_ns < ? AND kind = 'LLM'
                        AND model = 'gpt-4.1'""", a, b)[0] < 25_000
