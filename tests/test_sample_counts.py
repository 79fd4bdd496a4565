"""Ingesting the bundled sample gives exactly the counts in its ground truth."""
from __future__ import annotations

import sqlite3

import pytest

from tracedesk.sample import sample_ground_truth
from tracedesk.store.blobs import codec


@pytest.fixture(scope="module")
def con(sample_db_path):
    c = sqlite3.connect(f"file:{sample_db_path}?mode=ro", uri=True)
    codec(c)  # td_json(): messages and documents are stored deflated
    yield c
    c.close()


@pytest.fixture(scope="module")
def truth():
    return sample_ground_truth()


def test_traces_and_spans(con, truth):
    assert con.execute("SELECT COUNT(*) FROM traces").fetchone()[0] == truth["traces"] == 3605
    assert con.execute("SELECT COUNT(*) FROM spans").fetchone()[0] == truth["spans"] == 66307
    assert con.execute("SELECT COUNT(*) FROM traces WHERE complete = 1").fetchone()[0] == truth["traces"]
    assert con.execute("SELECT COUNT(*) FROM spans WHERE status = 'ERROR'").fetchone()[0] == truth["error_spans"]


def test_spans_per_kind_and_service(con, truth):
    assert dict(con.execute("SELECT kind, COUNT(*) FROM spans GROUP BY kind")) == truth["spans_by_kind"]
    assert dict(con.execute("SELECT service, COUNT(*) FROM spans GROUP BY service")) == truth["spans_by_service"]
    assert dict(con.execute("SELECT convention, COUNT(*) FROM spans GROUP BY convention")) == {
        "openinference": truth["spans_by_service"]["support-gateway"],
        "otel_genai": truth["spans_by_service"]["research-svc"] + truth["spans_by_service"]["critic-svc"],
        "traceai": truth["spans_by_service"]["synthesis-svc"],
    }


def test_tokens_per_model_count_each_llm_call_once(con, truth):
    rows = con.execute(
        "SELECT model, COUNT(*), SUM(input_tokens), COALESCE(SUM(output_tokens), 0), "
        "COALESCE(SUM(cached_tokens), 0), COALESCE(SUM(reasoning_tokens), 0) "
        "FROM spans WHERE usage_counted AND model IS NOT NULL GROUP BY model").fetchall()
    got = {m: {"calls": n, "input_tokens": i, "output_tokens": o, "cached_tokens": c, "reasoning_tokens": r,
               "total_tokens": i + o} for m, n, i, o, c, r in rows}
    assert got == truth["tokens_by_model"]
    # The synthesis agent span repeats its LLM child's usage; it must not count.
    assert con.execute("SELECT COUNT(*) FROM spans WHERE usage_counted AND input_tokens IS NOT NULL "
                       "AND model IS NULL").fetchone()[0] == 0
    chat_total = sum(m["total_tokens"] for name, m in truth["tokens_by_model"].items() if "embedding" not in name)
    assert con.execute("SELECT SUM(input_tokens) + SUM(output_tokens) FROM traces").fetchone()[0] == chat_total + \
        truth["tokens_by_model"]["text-embedding-3-small"]["input_tokens"]
    assert con.execute("SELECT COUNT(*) FROM spans WHERE kind IN ('LLM', 'EMBEDDING') AND cost_usd IS NULL"
                       ).fetchone()[0] == 0


def test_evaluations_and_feedback(con, truth):
    assert dict(con.execute("SELECT name, COUNT(*) FROM evaluations GROUP BY name")) == truth["evaluations"]
    assert dict(con.execute("SELECT label, COUNT(*) FROM evaluations WHERE name = 'user_feedback' "
                            "GROUP BY label")) == truth["user_feedback"]
    assert con.execute("SELECT DISTINCT source FROM evaluations WHERE name = 'user_feedback'").fetchall() == [
        ("human",)]
    # groundedness sits on the synthesis LLM spans, user feedback on the root spans
    assert con.execute("SELECT DISTINCT s.kind, s.service FROM evaluations e JOIN spans s USING (trace_id, span_id) "
                       "WHERE e.name = 'groundedness'").fetchall() == [("LLM", "synthesis-svc")]
    assert con.execute("SELECT DISTINCT s.kind, s.parent_span_id IS NULL FROM evaluations e "
                       "JOIN spans s USING (trace_id, span_id) WHERE e.name = 'user_feedback'").fetchall() == [
        ("CHAIN", 1)]


def test_cohorts_sessions_users(con, truth):
    assert dict(con.execute("SELECT route, COUNT(*) FROM traces GROUP BY route")) == truth["traces_by_route"]
    assert dict(con.execute("SELECT tenant, COUNT(*) FROM traces GROUP BY tenant")) == truth["traces_by_tenant"]
    assert dict(con.execute("SELECT prompt_version, COUNT(*) FROM traces WHERE prompt_version IS NOT NULL "
                            "GROUP BY prompt_version")) == truth["traces_by_prompt_version"]
    # route and tenant travel as baggage: every span carries them
    assert con.execute("SELECT COUNT(*) FROM spans WHERE route IS NULL OR tenant IS NULL").fetchone()[0] == 0
    assert con.execute("SELECT COUNT(DISTINCT session_id), COUNT(DISTINCT user_id) FROM traces").fetchone() == (
        truth["sessions"], truth["users"])
    assert con.execute("SELECT DISTINCT environment FROM traces").fetchall() == [("production",)]


def test_agents_handoffs_and_streaming(con, truth):
    agents = dict(con.execute("SELECT agent_name, COUNT(*) FROM spans WHERE kind = 'AGENT' GROUP BY agent_name"))
    assert set(agents) == {"planner", "research_agent", "synthesis_agent", "critic_agent"}
    assert con.execute("SELECT COUNT(*) FROM spans WHERE name LIKE 'handoff to %'").fetchone()[0] == truth["handoffs"]
    assert con.execute("SELECT COUNT(*) FROM spans WHERE ttft_ms IS NOT NULL").fetchone()[0] == \
        truth["llm_spans_with_ttft"]
    assert con.execute("SELECT COUNT(*) FROM spans WHERE kind = 'RETRIEVER' AND json_array_length(td_json(documents)) = 4"
                       ).fetchone()[0] == truth["spans_by_kind"]["RETRIEVER"]
    assert con.execute("SELECT COUNT(*) FROM spans WHERE kind = 'TOOL' AND tool_name IS NOT NULL "
                       "AND tool_arguments IS NOT NULL").fetchone()[0] == \
        truth["spans_by_kind"]["TOOL"]
