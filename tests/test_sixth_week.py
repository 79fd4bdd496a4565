"""The sixth labelled week (tests/weeks/sixth_week.py): every file loads through tracedesk's ingest, the one
deliberately cut collector line is reported and skipped, the output is deterministic (SHA-256 of every file), the
labels are well formed, usage is read per convention, and each incident is in the data (plain SQL, inside the window
against outside it). These tests measure the data, not the detectors (tests/test_changes_sixth_week.py and
tests/test_alerts_suggest_sixth_week.py do); where ingest stores a realistic shape differently from what it means, a
strict xfail says what was measured."""
from __future__ import annotations

from pathlib import Path

import pytest

from tracedesk.timeutil import parse_time
from weeks.built import assert_deterministic, digests, incident_window, read_only
from weeks.sixth_fixtures import IngestedSixthWeek, sixth_week, sixth_week_db  # noqa: F401  (pytest fixtures)
from weeks.sixth_week import QUIET_DAYS, Week, write_week

DAY_NS = 86400 * 10**9


#: SHA-256 of every file at the default seed and scale (a change to the generator changes the week: say so)
DIGESTS: dict[str, str] = {
    "kairos-otlp-2027-04-26.json.gz": "eafdad8a00ede4af22c0d4a0675c9386cd071844bc77b895bdb54ff5b17aae11",
    "kb-collector-2027-04-26.jsonl.gz": "c0fcc6bd5453ac2a114301f6c2d2cc90f3d2c56063fea8725877e749a41c988c",
    "returns-langfuse-2027-04-26.json": "7ed45ce62516a8a7941efc5432dfbbd43d4977cbb42df2c3249d884806e9bea8",
    "evals-2027-04-26.otlp.json.gz": "eaeb1b0967e47515e1cf2e5ed2e44ffe6c2d247b7d127306e051b1a26e36928a",
    "kairos-otlp-2027-04-27.json.gz": "4eb0b6f5c6204a4da29e84c76f1f8fd00f7750a229039d1d0f1551209ba51462",
    "kb-collector-2027-04-27.jsonl.gz": "14352ae3f9adcc28140849f9950ea614131be6e1910f9d0f5d1c306169b433fc",
    "returns-langfuse-2027-04-27.json": "4a366202ae458b829787cceff790b2b6ecd4d24d5b76a20d855a5f82cdfc44c8",
    "evals-2027-04-27.otlp.json.gz": "76a0dd030403aa505e52efe3ee9b69c032949ece89dc91ebd473a947c9219c4a",
    "kairos-otlp-2027-04-28.json.gz": "aa41e53017832b8295a6d39a90b9f7f9fef25a2faeb98198294f11ec2ca8c926",
    "kb-collector-2027-04-28.jsonl.gz": "780c61eb058abf2c93854f836562a152899c594ab04f1840b45f356401cb663c",
    "returns-langfuse-2027-04-28.json": "7f237ba265727a2073a69cbc918d004809f3bb78f0d8a511a2c0b6a2a8d9e818",
    "evals-2027-04-28.otlp.json.gz": "c4c390a23592fb081311c6318fcdf04eca40124cd831548f465b556c5bb22007",
    "kairos-otlp-2027-04-29.json.gz": "9720701f1daeb742c08c7755d0d87e5110ecf379613d8f582b16e7db6a58305f",
    "kb-collector-2027-04-29.jsonl.gz": "f7d4c45f784d3e2c3b9bdd7992d3703c2e99fb55e19ac961617f64acf648bc86",
    "returns-langfuse-2027-04-29.json": "9524d6d48fbb2ed07add42ada831054351d389f315099b4194aeba4b0817ba3f",
    "evals-2027-04-29.otlp.json.gz": "724444ab410529c0fe25a734f036cb14e792d71e572e9fe8a897d75c3f45eed4",
    "kairos-otlp-2027-04-30.json.gz": "0153326681b327824bbab66b9ca99857846f3c12e82812544b8349f8ccd74a5d",
    "kb-collector-2027-04-30.jsonl.gz": "8602bc69cfc3e948844c3e0705ca1b74da972ffa4e02cbb0e2a5f7797bdb4bd8",
    "returns-langfuse-2027-04-30.json": "0330a0773174cabac09da2c3c0b09dad829b95dcbd8805139eca71387db5e476",
    "evals-2027-04-30.otlp.json.gz": "bf25ed4813337222d537012397f4091a5e3024dbddae81c9f62740ef8e0e157f",
    "kairos-otlp-2027-05-01.json.gz": "a43a063a9a4c7a28ec6846aff092da744ca4c4788600149610094f9fcb7db4d9",
    "kb-collector-2027-05-01.jsonl.gz": "d3311ca8465adc2ad8d73e15b785e20d550802ee667c49d942b8889921d1b659",
    "returns-langfuse-2027-05-01.json": "23b90ce182bc8b74397f3b300362ea69f8f8175156cae4a92784d3fefc9b59c2",
    "evals-2027-05-01.otlp.json.gz": "842c25b1a3e05bdda2cbbbd0ae2bd632da6c97707d896495339361fc56c608cb",
    "kairos-otlp-2027-05-02.json.gz": "44e91fd830dd029a0d3a3009aa27641b5cc84ebf7a1c8c2a4084de072f45d5a4",
    "kb-collector-2027-05-02.jsonl.gz": "b30ddbc37da116280cd816950fc923bec984d8361b9015c2d78b41452648c1b5",
    "returns-langfuse-2027-05-02.json": "b71f8a5fd57379aa4813391b0811f4adf824fb271112bef9028cf499d7a56a21",
    "evals-2027-05-02.otlp.json.gz": "82f8bd8786ca22ad898fd9a5c68468d6bd367aff2f64cc064dfe426def726892",
    "incidents.json": "e1e206b233102a2ddd72dd41657db4bc653da5fed1476bbd7940cd05363591bb",
}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    assert_deterministic(write_week, tmp_path)


def test_default_week_file_digests(sixth_week: Week) -> None:
    assert digests([*sixth_week.files, sixth_week.incidents]) == DIGESTS


def test_the_week_is_seven_days() -> None:
    with pytest.raises(ValueError, match="days must be 7"):
        write_week("/nonexistent-never-written", days=5)


def test_volume(sixth_week: Week) -> None:
    assert (sixth_week.traces, sixth_week.spans, sixth_week.evaluations, len(sixth_week.files)) == \
        (5430, 24992, 1208, 28)
    assert sixth_week.traces_by_route == {"customs_docs": 619, "dispatch_crew": 495, "kb_answers": 1188,
                                          "returns_desk": 513, "shipment_tracking": 1554, "support_chat": 1061}
    # Thursday is Showa Day (the Japanese tenants at ~20%); the weekend is APAC's (Sunday evening UTC is Monday
    # morning in Auckland and Sydney)
    assert sixth_week.traces_by_day == {"2027-04-26": 1058, "2027-04-27": 979, "2027-04-28": 1048,
                                        "2027-04-29": 848, "2027-04-30": 984, "2027-05-01": 187, "2027-05-02": 326}


def test_every_record_loads_and_only_the_cut_line_is_rejected(sixth_week_db: IngestedSixthWeek) -> None:
    week, report = sixth_week_db.week, sixth_week_db.report
    assert week.rejected_lines == [("kb-collector-2027-05-01.jsonl.gz", 3)]
    assert len(report["rejected"]) == 1
    assert "kb-collector-2027-05-01.jsonl.gz:3: truncated or invalid JSON" in report["rejected"][0]
    assert report["files"] == len(week.files) == 28
    assert report["spans"] == report["spans_inserted"] == week.spans
    assert report["traces"] == week.traces
    assert report["evaluations"] == week.evaluations
    assert report["incomplete_traces"] == 0
    # the ADK invocation root carries only the app's baggage: `unknown`
    assert report["by_convention"] == {"google_adk": 3101, "langfuse": 2050, "openinference": 8467,
                                       "otel_genai": 619, "pydantic_ai": 6956, "unknown": 619, "vercel_ai": 3180}
    conn = read_only(sixth_week_db.db)
    assert dict(conn.execute("SELECT route, COUNT(*) FROM traces GROUP BY route").fetchall()) == week.traces_by_route
    assert dict(conn.execute("SELECT tenant, COUNT(*) FROM traces GROUP BY tenant").fetchall()) == week.traces_by_tenant


def test_usage_is_read_per_convention(sixth_week_db: IngestedSixthWeek) -> None:
    """Per route: LLM spans, mean stored input tokens (cache included), mean cache reads, mean cache writes. Pydantic
    AI's gen_ai.usage.details.cache_read_tokens, the AI SDK v6's ai.usage.inputTokenDetails.*, OpenInference's
    prompt_details.cache_read and Langfuse's disjoint usage_details (input + cache_read_input_tokens) are all read."""
    conn = read_only(sixth_week_db.db)
    rows = conn.execute(
        "SELECT route, COUNT(*), ROUND(AVG(input_tokens)), ROUND(AVG(cached_tokens)), ROUND(AVG(cache_write_tokens)) "
        "FROM spans WHERE kind = 'LLM' AND input_tokens IS NOT NULL GROUP BY route").fetchall()
    assert rows == [("customs_docs", 1860, 3385.0, None, None),  # ADK call_llm: gen_ai.usage.* (no cache figures)
                    ("dispatch_crew", 1610, 1665.0, None, None), ("kb_answers", 1187, 3477.0, 1060.0, None),
                    ("returns_desk", 1022, 5479.0, 763.0, None), ("shipment_tracking", 3478, 1823.0, 578.0, None),
                    ("support_chat", 1535, 6283.0, 4140.0, 1060.0)]


def test_labels_are_well_formed(sixth_week: Week) -> None:
    labels = sixth_week.labels()
    incidents = labels["incidents"]
    assert len({i["id"] for i in incidents}) == len(incidents) == 11
    assert [i["id"] for i in incidents if i["page_worthy"]] == [f"W6-0{k}" for k in range(1, 8)]
    for inc in incidents:
        assert {"id", "type", "start", "detectable_from", "end", "cohort", "equivalent_cohorts", "signals",
                "page_worthy", "should_page", "description"} <= set(inc)
        assert inc["page_worthy"] == inc["should_page"]
        assert all({"signal", "kind", "direction", "aggregation", "registry"} <= set(s) for s in inc["signals"])
        start, detectable, end = parse_time(inc["start"]), parse_time(inc["detectable_from"]), parse_time(inc["end"])
        assert start <= detectable < end, inc["id"]
        assert (start // 10**9) % 3600 != 0, f"{inc['id']} starts on a round hour"
    assert labels["quiet_days"] == QUIET_DAYS == ["2027-04-26", "2027-04-27"]
    assert labels["holiday"]["date"] == "2027-04-29"
    for day in labels["quiet_days"]:
        d0 = parse_time(day + "T00:00:00Z")
        assert all(parse_time(i["end"]) <= d0 or parse_time(i["start"]) >= d0 + DAY_NS for i in incidents), day


def _inside_outside(conn, sql: str, start: int, end: int, *args: object) -> tuple[object, object]:
    inside = conn.execute(sql.format(cond="BETWEEN ? AND ?"), (*args, start, end)).fetchone()[0]
    outside = conn.execute(sql.format(cond="NOT BETWEEN ? AND ?"), (*args, start, end)).fetchone()[0]
    return inside, outside


def test_incidents_are_in_the_data(sixth_week_db: IngestedSixthWeek) -> None:
    conn = read_only(sixth_week_db.db)
    labels = sixth_week_db.week.labels()
    # W6-01: koala-post's kb groundedness
    s, e, _ = incident_window(labels, "W6-01")
    g = ("SELECT ROUND(AVG(v.score), 2) FROM evaluations v JOIN traces t USING (trace_id) WHERE v.name = 'groundedness' "
         "AND t.tenant = ? AND t.start_ns {cond}")
    assert _inside_outside(conn, g, s, e, "koala-post") == (0.47, 0.86)
    # W6-02: no groundedness score for kb answers in the window
    s, e, _ = incident_window(labels, "W6-02")
    n = ("SELECT COUNT(*) FROM evaluations v JOIN traces t USING (trace_id) WHERE v.name = 'groundedness' "
         "AND t.route = ? AND t.end_ns {cond}")
    assert _inside_outside(conn, n, s, e, "kb_answers")[0] == 0
    # W6-03: support_chat answer length collapses
    s, e, _ = incident_window(labels, "W6-03")
    ln = ("SELECT ROUND(AVG(LENGTH(output_text))) FROM spans WHERE route = ? AND name = 'ai.streamText.doStream' "
          "AND output_text != '' AND start_ns {cond}")
    assert _inside_outside(conn, ln, s, e, "support_chat") == (283.0, 955.0)
    # W6-04: returns_desk input tokens per call
    s, e, _ = incident_window(labels, "W6-04")
    it = "SELECT ROUND(AVG(input_tokens)) FROM spans WHERE route = ? AND kind = 'LLM' AND start_ns {cond}"
    assert _inside_outside(conn, it, s, e, "returns_desk") == (13249.0, 3565.0)
    # W6-05: LLM calls per dispatch_crew trace
    s, e, _ = incident_window(labels, "W6-05")
    lc = "SELECT ROUND(AVG(llm_calls), 1) FROM traces WHERE route = ? AND start_ns {cond}"
    inside, outside = _inside_outside(conn, lc, s, e, "dispatch_crew")
    assert inside > 4 * outside  # type: ignore[operator]
    # W6-06: the tenant exists only from the label's start
    s, e, _ = incident_window(labels, "W6-06")
    assert conn.execute("SELECT COUNT(*) FROM traces WHERE tenant = 'siam-express' AND start_ns < ?", (s,)).fetchone() == (0,)
    # W6-07: anthropic TTFT p50-ish (mean) and errors
    s, e, _ = incident_window(labels, "W6-07")
    tt = "SELECT AVG(ttft_ms) FROM spans WHERE provider = ? AND ttft_ms IS NOT NULL AND start_ns {cond}"
    inside, outside = _inside_outside(conn, tt, s, e, "anthropic")
    assert inside > 3 * outside  # type: ignore[operator]


def test_quiet_days_carry_no_incident_marker(sixth_week_db: IngestedSixthWeek) -> None:
    conn = read_only(sixth_week_db.db)
    d0 = parse_time(QUIET_DAYS[0] + "T00:00:00Z")
    d1 = d0 + 2 * DAY_NS
    q = "SELECT COUNT(*) FROM spans WHERE start_ns BETWEEN ? AND ? AND "
    assert conn.execute(q + "tenant = 'siam-express'", (d0, d1)).fetchone() == (0,)
    assert conn.execute(q + "model = 'text-embedding-3-large'", (d0, d1)).fetchone() == (0,)
    assert conn.execute(q + "finish_reason = 'unknown'", (d0, d1)).fetchone() == (0,)
    assert conn.execute(q + "status = 'ERROR' AND provider = 'anthropic'", (d0, d1)).fetchone() == (0,)


def test_adk_call_llm_is_an_llm_call(sixth_week_db: IngestedSixthWeek) -> None:
    conn = read_only(sixth_week_db.db)
    assert conn.execute("SELECT kind, provider, COUNT(*) FROM spans WHERE name = 'call_llm' GROUP BY 1, 2").fetchall() \
        == [("LLM", "gcp.vertex_ai", 1860)]  # the price table's provider for bare gemini-2.5-flash (litellm's)


def test_langfuse_generation_provider(sixth_week_db: IngestedSixthWeek) -> None:
    conn = read_only(sixth_week_db.db)
    assert conn.execute("SELECT provider, COUNT(*) FROM spans WHERE route = 'returns_desk' AND kind = 'LLM' "
                        "GROUP BY 1").fetchall() == [("anthropic", 1025)]
