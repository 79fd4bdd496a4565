"""KPIs, time series, cohort matrix, ranking, window comparison and monitoring health — exact values on
the synthetic week (24 traces; refunds traces on prompt v2 are the incident)."""
from __future__ import annotations

import pytest

import tracedesk
import workbench_synth as synth
from tracedesk.models import Evaluation, Span
from tracedesk.store.query import Filters
from tracedesk.store import write_batch

INCIDENT = [13, 16, 19, 22]


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    path = tmp_path_factory.mktemp("wbm") / "m.db"
    synth.build(str(path))
    return tracedesk.open(str(path))


def test_kpis_exact(ws):
    k = ws.kpis()
    assert (k["traces"], k["spans"], k["llm_calls"]) == (24, 192, 48)
    assert k["error_rate"] == pytest.approx(4 / 24) and k["span_error_rate"] == pytest.approx(4 / 192)
    # 20 traces of 1100 ms, 4 of 1900 ms; linear interpolation
    assert (k["latency_p50_ms"], k["latency_p95_ms"], k["latency_p99_ms"]) == (1100.0, 1900.0, 1900.0)
    # TTFT: 24 x 50 ms (plan) and 100..123 ms (answer)
    assert k["ttft_p50_ms"] == 75.0 and k["ttft_p95_ms"] == pytest.approx(120.65)
    assert (k["input_tokens"], k["output_tokens"], k["total_tokens"]) == (26400, 5280, 31680)
    assert k["cost_usd"] == pytest.approx(0.264) and k["cost_per_trace"] == pytest.approx(0.011)
    assert k["evaluations"] == 24 and k["eval_pass_rate"] == pytest.approx(20 / 24)
    assert k["eval_mean_score"] == pytest.approx((20 * 0.9 + 4 * 0.2) / 24)


def test_kpis_follow_filters(ws):
    k = ws.kpis(Filters(dims={"route": ["refunds"], "prompt_version": ["v2"]}))
    assert (k["traces"], k["error_rate"], k["eval_pass_rate"], k["latency_p50_ms"]) == (4, 1.0, 0.0, 1900.0)
    assert ws.kpis(Filters(dims={"route": ["nowhere"]}))["traces"] == 0
    assert ws.kpis(Filters(dims={"route": ["nowhere"]}))["latency_p50_ms"] is None


def test_unknown_cost_is_not_zero(tmp_path):
    ws = tracedesk.open(str(tmp_path / "c.db"), create=True)
    write_batch(ws.db, [Span(trace_id="a" * 32, span_id="1" * 16, kind="LLM", start_ns=0, end_ns=10**6),
                        Span(trace_id="b" * 32, span_id="2" * 16, kind="LLM", cost_usd=0.5, start_ns=0, end_ns=10**6)])
    k = ws.kpis()
    assert (k["cost_usd"], k["cost_per_trace"], k["traces_with_cost"]) == (0.5, 0.5, 1)


def test_timeseries_buckets(ws):
    ts = ws.timeseries()  # 23 hours of data -> 15-minute buckets, empty ones left out
    assert len(ts) == 24 and ts["traces"].sum() == 24
    by_hour = ts.set_index(ts["bucket"].dt.hour)
    assert by_hour.loc[13, "error_rate"] == 1.0 and by_hour.loc[12, "error_rate"] == 0.0
    assert by_hour.loc[13, "eval_pass_rate"] == 0.0 and by_hour.loc[13, "latency_p95_ms"] == 1900.0
    daily = ws.timeseries(freq="1D")
    assert list(daily["traces"]) == [24] and daily["cost_usd"].iloc[0] == pytest.approx(0.264)


def test_cohort_matrix_by_route(ws):
    m = ws.cohort_matrix("route")
    assert list(m.index) == ["(all)", "billing", "refunds", "search"]
    r = m.loc["refunds"]
    assert r["traces"] == 8
    assert r["quality"] == pytest.approx(0.55) and r["pass_rate"] == 0.5
    assert (r["error_rate"], r["refusal_rate"], r["latency_p50_ms"], r["latency_p95_ms"]) == (0.5, 0.5, 1500.0, 1900.0)
    assert r["cost_per_trace"] == pytest.approx(0.011)
    b = m.loc["billing"]
    assert (b["quality"], b["pass_rate"], b["error_rate"], b["refusal_rate"]) == (pytest.approx(0.9), 1.0, 0.0, 0.0)
    assert m.loc["(all)", "refusal_rate"] == pytest.approx(4 / 24)


def test_cohort_matrix_by_trace_membership_and_evaluator(ws):
    m = ws.cohort_matrix("model")
    assert list(m.index) == ["(all)", "gpt-4o", "gpt-4o-mini"] and list(m["traces"]) == [24, 24, 24]
    only = ws.cohort_matrix("prompt_version", evaluator="groundedness")
    assert only.loc["v1", "quality"] == pytest.approx(0.9) and only.loc["v2", "quality"] == pytest.approx(2 / 3)
    assert ws.cohort_matrix("route", evaluator="no_such_evaluator")["quality"].isna().all()


def test_refusal_from_an_evaluation_only(tmp_path):
    ws = tracedesk.open(str(tmp_path / "r.db"), create=True)
    spans = [Span(trace_id=t * 32, span_id="1" * 16, kind="LLM", route="x", output_text="Sure, here it is.",
                  start_ns=0, end_ns=1) for t in "ab"]
    write_batch(ws.db, spans, [Evaluation(trace_id="a" * 32, span_id="1" * 16, name="refusal", score=0.0,
                                          passed=False, label="refused")])
    assert ws.cohort_matrix("route").loc["x", "refusal_rate"] == 0.5


def test_ranking_and_worst_cohorts(ws):
    ranked = ws.ranked_cohorts("route")
    assert list(ranked["cohort"]) == ["billing", "search", "refunds"]
    refunds = ranked.set_index("cohort").loc["refunds"]
    assert refunds["direction"] == "worse" and refunds["worst_metric"] == "latency_p50_ms"
    assert refunds["distance"] == pytest.approx(1500 / 1100 - 1)
    assert list(ws.ranked_cohorts("route", side="worse")["cohort"]) == ["refunds"]
    worst = ws.worst_cohorts(top=3)
    assert list(zip(worst["dimension"], worst["cohort"])) == [("route", "refunds"), ("prompt_version", "v2")]
    assert worst["distance"].iloc[1] == pytest.approx(1 / 6)


def test_compare_windows(ws):
    a = (synth.BASE_NS, synth.BASE_NS + 12 * synth.HOUR)
    b = (synth.BASE_NS + 12 * synth.HOUR, synth.BASE_NS + 24 * synth.HOUR)
    cmp = ws.compare_windows("route", a, b)
    r = cmp.loc["refunds"]
    assert (r["traces_a"], r["traces_b"]) == (4, 4)
    assert r["error_rate_delta"] == 1.0 and r["quality_delta"] == pytest.approx(-0.7)
    assert r["latency_p95_ms_delta"] == 800.0
    assert cmp.loc["billing", "quality_delta"] == pytest.approx(0.0)


def test_monitoring_health(ws, tmp_path):
    h = ws.health()
    assert (h["traces"], h["trace_coverage"], h["llm_spans"], h["span_completeness"], h["prompt_version_share"]) == (
        24, 1.0, 48, 1.0, 1.0)
    bad = tracedesk.open(str(tmp_path / "h.db"), create=True)
    t = "c" * 32
    write_batch(bad.db, [
        Span(trace_id=t, span_id="1" * 16, kind="LLM", model="m", input_tokens=1, status="OK", start_ns=0,
             end_ns=10**6, duration_ms=1.0, prompt_version="v1"),
        Span(trace_id=t, span_id="2" * 16, parent_span_id="1" * 16, kind="LLM", status="UNSET", start_ns=0,
             end_ns=10**6, duration_ms=1.0),  # no model, no tokens (UNSET is a status)
        Span(trace_id=t, span_id="5" * 16, parent_span_id="1" * 16, kind="EMBEDDING", model="e", start_ns=0,
             end_ns=10**6, duration_ms=1.0),  # an embedding call: not an LLM span
        Span(trace_id=t, span_id="3" * 16, parent_span_id="1" * 16, kind="UNKNOWN", model="m", input_tokens=1,
             status="OK", start_ns=0, end_ns=10**6, duration_ms=1.0),  # an LLM call not typed as one
        Span(trace_id="d" * 32, span_id="4" * 16, parent_span_id="9" * 16, start_ns=0, end_ns=1),  # orphan
    ])
    h = bad.health()
    assert (h["traces"], h["trace_coverage"], h["llm_spans"]) == (2, 0.5, 3)
    assert h["span_completeness"] == pytest.approx(1 / 3)
    assert h["llm_span_fields"] == {"model": pytest.approx(2 / 3), "tokens": pytest.approx(2 / 3), "duration": 1.0,
                                    "status": 1.0, "kind": pytest.approx(2 / 3)}
    assert h["prompt_version_share"] == 0.5


def test_refusal_prefilter_keeps_every_refusal(tmp_path):
    """The SQL pre-filter must be a superset of textchecks.is_refusal: compare with the exact check on
    every output, across leading punctuation, whitespace, markup, quotes and emoji."""
    from tracedesk.analysis.metrics import refused_trace_ids
    from tracedesk.analysis.textchecks import is_refusal

    prefixes = ["", " ", "\n\n", "**", "> ", "\"", "“", "— ", "🙂 ", "¡", "...", "\t- ", "<p>", "#", "«", "1. ", "\x00", "\x00 \x01"]
    bodies = ["I'm sorry, but I can't help with that.", "Sorry, I can't do that.", "I cannot assist with this.",
              "Unfortunately, I am unable to share it.", "As an AI, I cannot browse.", "I must decline.",
              "I’m not able to answer that.", "i won't provide that", "Sure! Here it is.", "Your refund is on its way.",
              "Answer: I'm sorry, but I can't", "Sorry to hear that — here's the fix.", "Under the policy, yes."]
    texts = [p + b for p in prefixes for b in bodies]
    ws = tracedesk.open(str(tmp_path / "ref.db"), create=True)
    write_batch(ws.db, [Span(trace_id=f"{i + 1:032x}", span_id=f"{i + 1:016x}", kind="LLM", output_text=t,
                             start_ns=i, end_ns=i + 1) for i, t in enumerate(texts)])
    expected = {f"{i + 1:032x}" for i, t in enumerate(texts) if is_refusal(t)}
    assert len(expected) > len(prefixes) * 4  # the check itself flags most refusal bodies
    assert refused_trace_ids(ws.db) == expected
    # a span added later is checked too (the cache extends to new rows)
    write_batch(ws.db, [Span(trace_id="f" * 32, span_id="f" * 16, kind="LLM", output_text="I'm sorry, but no.",
                             start_ns=0, end_ns=1)])
    assert refused_trace_ids(ws.db) == expected | {"f" * 32}


@pytest.mark.parametrize("dimension", ["route", "tenant", "prompt_version"])
def test_sql_grouped_matrix_equals_the_frame_path(ws, dimension):
    """cohort_matrix groups in SQL; worst_cohorts groups one fetched frame: the figures must agree."""
    import pandas as pd

    from tracedesk.analysis.metrics import matrix_from_frame, trace_frame

    for f in (None, Filters(dims={"tenant": ["acme"]}), Filters(dims={"route": ["nowhere"]})):
        pd.testing.assert_frame_equal(ws.cohort_matrix(dimension, f),
                                      matrix_from_frame(trace_frame(ws.db, f, dimensions=(dimension,)), dimension),
                                      check_dtype=False, check_index_type=False)
