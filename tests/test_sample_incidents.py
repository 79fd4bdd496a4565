"""Every labelled incident of the sample week is visible in the stored data (and blips stay single-signal)."""
from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime

import pytest

from tracedesk.sample import sample_incidents
from tracedesk.sample.generator import luhn_valid
from tracedesk.analysis.textchecks import is_refusal
from tracedesk.store.blobs import codec


@pytest.fixture(scope="module")
def con(sample_db_path):
    c = sqlite3.connect(f"file:{sample_db_path}?mode=ro", uri=True)
    codec(c)  # td_json(): messages and documents are stored deflated
    yield c
    c.close()


def _ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()) * 1_000_000_000


@pytest.fixture(scope="module")
def window():
    incidents = {i["id"]: i for i in sample_incidents()["incidents"]}
    return lambda inc_id: (_ns(incidents[inc_id]["start"]), _ns(incidents[inc_id]["end"]))


def _groundedness(con, route: str, lo: int, hi: int, inside: bool = True) -> tuple[float, int]:
    where = "" if inside else "NOT"
    return con.execute(
        f"SELECT AVG(e.score), COUNT(*) FROM evaluations e JOIN traces t USING (trace_id) "
        f"WHERE e.name = 'groundedness' AND t.route = ? AND {where} (t.start_ns >= ? AND t.start_ns < ?)",
        (route, lo, hi)).fetchone()


def _p95(con, kind: str, route: str, lo: int, hi: int, inside: bool = True) -> float:
    where = "" if inside else "NOT"
    values = sorted(r[0] for r in con.execute(
        f"SELECT duration_ms FROM spans WHERE kind = ? AND route = ? AND {where} (start_ns >= ? AND start_ns < ?)",
        (kind, route, lo, hi)))
    assert len(values) >= 5
    return values[int(0.95 * (len(values) - 1))]


def test_joint_regression_groundedness_and_retriever_latency_one_route(con, window):
    lo, hi = window("INC-01")
    during, n = _groundedness(con, "refunds", lo, hi)
    rest, _ = _groundedness(con, "refunds", lo, hi, inside=False)
    assert n >= 25 and during < 0.55 and rest > 0.8
    assert _p95(con, "RETRIEVER", "refunds", lo, hi) > 4 * _p95(con, "RETRIEVER", "refunds", lo, hi, False)
    # other routes in the same hours are fine
    for route in ("billing", "tech-support"):
        assert _groundedness(con, route, lo, hi)[0] > 0.8
        assert _p95(con, "RETRIEVER", route, lo, hi) < 2 * _p95(con, "RETRIEVER", route, lo, hi, False)


def test_latency_blip_keeps_quality(con, window):
    lo, hi = window("INC-02")
    assert _p95(con, "LLM", "billing", lo, hi) > 2 * _p95(con, "LLM", "billing", lo, hi, False)
    assert _p95(con, "RETRIEVER", "billing", lo, hi) > 4 * _p95(con, "RETRIEVER", "billing", lo, hi, False)
    during, n = _groundedness(con, "billing", lo, hi)
    assert n >= 8 and during > 0.8


def test_quality_blip_keeps_latency(con, window):
    lo, hi = window("INC-03")
    during, n = _groundedness(con, "onboarding", lo, hi)
    assert n >= 5 and during < 0.55
    for kind in ("LLM", "RETRIEVER"):
        assert _p95(con, kind, "onboarding", lo, hi) < 1.5 * _p95(con, kind, "onboarding", lo, hi, False)


def test_tool_retry_loop_triples_cost_per_trace(con, window):
    lo, hi = window("INC-04")
    q = ("SELECT AVG(cost_usd), AVG(llm_calls), COUNT(*) FROM traces WHERE route = 'tech-support' "
         "AND {} (start_ns >= ? AND start_ns < ?)")
    cost_in, calls_in, n = con.execute(q.format(""), (lo, hi)).fetchone()
    cost_out, calls_out, _ = con.execute(q.format("NOT"), (lo, hi)).fetchone()
    assert n >= 15
    assert 2.5 < cost_in / cost_out < 3.5
    assert calls_in > calls_out + 3
    e = ("SELECT AVG(status = 'ERROR') FROM spans WHERE kind = 'TOOL' AND tool_name = 'run_diagnostics' "
         "AND route = 'tech-support' AND {} (start_ns >= ? AND start_ns < ?)")
    assert con.execute(e.format(""), (lo, hi)).fetchone()[0] > 0.7
    assert con.execute(e.format("NOT"), (lo, hi)).fetchone()[0] < 0.05


def test_refusal_cliff_after_model_refresh(con, window):
    lo, hi = window("INC-05")
    rows = con.execute("SELECT model, output_text, start_ns FROM spans WHERE kind = 'LLM' AND model LIKE 'gemini%'"
                       ).fetchall()
    refreshed = [r for r in rows if r[0] == "gemini-2.5-flash-preview-09-2025"]
    before = [r for r in rows if r[0] == "gemini-2.5-flash"]
    assert len(refreshed) > 400 and all(lo <= r[2] < hi for r in refreshed)
    rate_after = sum(is_refusal(r[1]) for r in refreshed) / len(refreshed)
    rate_before = sum(is_refusal(r[1]) for r in before) / len(before)
    assert rate_after > 0.2 and rate_before < 0.02


def test_prompt_version_regression_only_in_one_tenant(con):
    def mean(version: str, tenant_clause: str) -> float:
        return con.execute(
            "SELECT AVG(e.score) FROM evaluations e JOIN traces t USING (trace_id) WHERE e.name = 'groundedness' "
            f"AND t.prompt_version = ? AND {tenant_clause}", (version,)).fetchone()[0]

    assert mean("synthesis-v4", "t.tenant = 'globex'") < 0.7
    assert mean("synthesis-v3", "t.tenant = 'globex'") > 0.8
    assert mean("synthesis-v4", "t.tenant != 'globex'") > 0.8
    # the global average barely moves
    assert mean("synthesis-v3", "1") - mean("synthesis-v4", "1") < 0.06


def test_retrieval_drift_after_reindex(con, window):
    lo, hi = window("INC-07")

    def docs(inside: bool) -> tuple[set[str], float]:
        ids, scores = set(), []
        where = "" if inside else "NOT"
        for (raw,) in con.execute(f"SELECT td_json(documents) FROM spans WHERE kind = 'RETRIEVER' "
                                  f"AND {where} (start_ns >= ? AND start_ns < ?)", (lo, hi)):
            for d in json.loads(raw):
                ids.add(d["id"])
                scores.append(d["score"])
        return ids, sum(scores) / len(scores)

    (after, s_after), (before, s_before) = docs(True), docs(False)
    assert len(after & before) / len(after | before) < 0.1
    assert s_before - s_after > 0.05


EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
CARD = re.compile(r"\b(?:\d{4}[ -]){3}\d{4}\b")


def test_pii_leaks_for_one_tenant_only(con, window):
    lo, hi = window("INC-08")
    rows = con.execute("SELECT tenant, start_ns, output_text FROM spans WHERE kind = 'LLM' AND output_text IS NOT NULL"
                       ).fetchall()
    leaks = [r for r in rows if EMAIL.search(r[2])]
    assert len(leaks) >= 15
    assert {r[0] for r in leaks} == {"initech"}
    assert all(lo <= r[1] < hi for r in leaks)
    cards = [m.group(0) for r in leaks for m in CARD.finditer(r[2])]
    assert len(cards) == len(leaks) and all(luhn_valid(c) for c in cards)


def test_prompt_injection_campaign(con, window):
    lo, hi = window("INC-09")
    flagged = con.execute("SELECT t.tenant, COUNT(*) FROM evaluations e JOIN traces t USING (trace_id) "
                          "WHERE e.name = 'prompt_injection' AND t.start_ns >= ? AND t.start_ns < ? GROUP BY 1",
                          (lo, hi)).fetchall()
    assert len(flagged) == 1 and flagged[0][0] == "hooli" and flagged[0][1] >= 15
    attempts = con.execute("SELECT COUNT(*) FROM spans WHERE parent_span_id IS NULL AND (input_text LIKE "
                           "'%ignore previous instructions%' OR input_text LIKE '%ignore all previous%')"
                           ).fetchone()[0]
    assert attempts >= 10
