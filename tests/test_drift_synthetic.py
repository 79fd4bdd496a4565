"""Drift on synthetic traffic with known shifts (one family at a time) and with no shift at all."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracedesk import store
from tracedesk.drift import DriftError, drift_report
from tracedesk.drift.synthetic import SHIFTS, write_synthetic
from tracedesk.models import Evaluation, Span

DAY = 86_400 * 10**9
T0 = 1_790_000_000 * 10**9  # 2026-09-21T14:13:20Z
SHIFT_AT = T0 + 6 * DAY

EXPECTED = {
    "input": ("input", {"input_length", "input_tokens", "input_topic_mix"}),
    "output": ("output", {"output_length", "output_tokens", "finish_reason"}),
    "refusal": ("output", {"refusal_rate"}),
    "evaluator": ("evaluator", {"eval:groundedness"}),
    "retrieval": ("retrieval", {"retrieval_topk_overlap", "retrieval_new_docs", "retrieval_score",
                                "retriever_latency"}),
}


@pytest.fixture(scope="module")
def shifted_dbs(tmp_path_factory):
    paths = {}
    for shift in SHIFTS:
        path = str(tmp_path_factory.mktemp("drift") / f"{shift}.db")
        write_synthetic(path, 1400, T0, T0 + 7 * DAY, shift_at_ns=SHIFT_AT, shift_cohort="billing",
                        shifts=(shift,), seed=11)
        paths[shift] = path
    return paths


@pytest.mark.parametrize("shift", SHIFTS)
def test_known_shift_is_found_in_its_cohort_and_family_only(shifted_dbs, shift):
    report = drift_report(shifted_dbs[shift], since="1d", dimension="route")
    family, signals = EXPECTED[shift]
    drifted = {(r.signal, r.cohort) for r in report.drifted}
    assert {(s, "billing") for s in signals} <= drifted
    # nothing drifts in the untouched cohort, nor in other families of the shifted one
    assert all(r.cohort == "billing" and r.family == family for r in report.drifted), drifted
    top = report.ranked()[0]
    assert (top.family, top.cohort, top.drifted) == (family, "billing", True)
    for r in report.drifted:
        # every flagged signal says when it started: within 6 hours (~25 samples) of the real shift
        assert r.change_point_ns is not None and abs(r.change_point_ns - SHIFT_AT) < 6 * 3600 * 10**9, r.signal
        assert r.q_value <= 0.05 and r.magnitude >= 0.05
        assert r.reference_n >= 30 and r.current_n >= 30
        assert len(r.examples["current"]) == 3 and len(r.examples["reference"]) == 3


def test_refusal_shift_values_and_examples(shifted_dbs):
    db = store.connect(shifted_dbs["refusal"])
    report = drift_report(db, since="1d", dimension="route")
    r = report.get("refusal_rate", "billing")
    assert r.reference_value == pytest.approx(0.02, abs=0.015)
    assert r.current_value == pytest.approx(0.40, abs=0.08)
    assert r.effect == pytest.approx(r.current_value - r.reference_value)
    assert r.effect_size_name == "cohen_h" and r.effect_size > 0.8
    assert r.message.startswith("drifted: refusal_rate")
    # current examples are refusing traces from the current window; reference ones are not
    for tid in r.examples["current"]:
        text, start = db.execute("SELECT output_text, start_ns FROM spans WHERE trace_id = ? AND kind = 'LLM'",
                                 [tid]).fetchone()
        assert text.startswith("I'm sorry") and start >= report.current.start_ns
    for tid in r.examples["reference"]:
        text, start = db.execute("SELECT output_text, start_ns FROM spans WHERE trace_id = ? AND kind = 'LLM'",
                                 [tid]).fetchone()
        assert not text.startswith("I'm sorry") and start < report.current.start_ns
    # the time series covers every sample, bucket by bucket, labelled by window
    assert sum(p["n"] for p in r.series) == r.reference_n + r.current_n
    assert {p["window"] for p in r.series} == {"reference", "current"}
    assert max(p["value"] for p in r.series if p["window"] == "current") > 0.25


def test_retrieval_reindex_overlap_and_new_documents(shifted_dbs):
    report = drift_report(shifted_dbs["retrieval"], since="1d", dimension="route")
    overlap = report.get("retrieval_topk_overlap", "billing")
    assert overlap.current_value == 0.0  # the rebuilt index shares no id with the old one
    assert overlap.reference_value > 0.5  # two random halves of the old traffic overlap well
    assert overlap.details["top_k"] == 10 and len(overlap.details["appeared"]) == 10
    new = report.get("retrieval_new_docs", "billing")
    assert new.current_value == 1.0 and new.details["new_documents"] > 0
    calm = report.get("retrieval_topk_overlap", "search")
    assert not calm.drifted and calm.current_value > 0.5


def test_evaluator_drift_reports_rolling_mean_shift(shifted_dbs):
    report = drift_report(shifted_dbs["evaluator"], since="1d", dimension="route")
    r = report.get("eval:groundedness", "billing")
    assert r.reference_value == pytest.approx(0.85, abs=0.02)
    assert r.current_value == pytest.approx(0.65, abs=0.03)
    assert r.effect_size_name == "cohen_d" and r.effect_size < -1.0
    assert report.get("eval:groundedness", "search").drifted is False


def test_false_alarm_rate_on_identical_distributions(tmp_path):
    """No shift anywhere: report how often a (signal, cohort) pair is flagged; it must be rare."""
    pairs = flagged = raw_hits = tested = 0
    for seed in (1, 2):
        path = str(tmp_path / f"calm{seed}.db")
        write_synthetic(path, 2400, T0, T0 + 7 * DAY, cohorts=tuple(f"c{i}" for i in range(6)), seed=seed)
        report = drift_report(path, since="1d", dimension="route", min_samples=20)
        pairs += len(report.results)
        flagged += len(report.drifted)
        ps = [r.p_value for r in report.results if r.p_value is not None]
        tested += len(ps)
        raw_hits += sum(p < 0.05 for p in ps)
    print(f"false alarms on identical distributions: {flagged}/{pairs} pairs flagged after FDR control; "
          f"raw p<0.05 in {raw_hits}/{tested} tests")
    assert pairs >= 150
    assert flagged / pairs <= 0.01
    assert raw_hits / tested <= 0.10


def test_insufficient_samples_are_said_not_hidden(db_path):
    cohorts = ("big",) * 40 + ("tiny",)
    write_synthetic(db_path, 1400, T0, T0 + 7 * DAY, cohorts=cohorts, seed=5)
    report = drift_report(db_path, since="1d", dimension="route")
    tiny = [r for r in report.results if r.cohort == "tiny"]
    assert tiny and all(r.insufficient for r in tiny)
    r = report.get("refusal_rate", "tiny")
    assert r.p_value is None and r.magnitude is None and r.drifted is False
    assert r.message == (f"insufficient samples: reference has {r.reference_n}, current has {r.current_n}; "
                         "need at least 30 in each window")
    assert r.current_n < 30
    assert r in report.insufficient and r not in report.ranked()
    assert report.ranked(include_insufficient=True)[-1].insufficient
    row = report.to_frame().query("cohort == 'tiny' and signal == 'refusal_rate'").iloc[0]
    assert bool(row["insufficient"]) and row["message"].startswith("insufficient samples")


def test_windows_defaults_explicit_and_errors(db_path):
    write_synthetic(db_path, 300, T0, T0 + 7 * DAY, seed=3)
    db = store.connect(db_path)
    newest = db.execute("SELECT MAX(start_ns) FROM spans").fetchone()[0]
    oldest = db.execute("SELECT MIN(start_ns) FROM spans").fetchone()[0]
    report = drift_report(db, families=["output"])
    assert report.current.end_ns == newest + 1 and report.current.start_ns == newest + 1 - DAY
    assert report.reference.end_ns == report.current.start_ns
    assert report.reference.start_ns == max(oldest, report.current.start_ns - 6 * DAY)
    assert report.families == ("output",) and {r.family for r in report.results} == {"output"}

    explicit = drift_report(db, since="2026-09-27T00:00:00Z", until="2026-09-28T00:00:00Z",
                            reference_since="2026-09-22", reference_until="2026-09-25", families=["evaluator"])
    assert explicit.current.start_ns == 1_790_467_200 * 10**9
    assert explicit.reference.to_dict()["start"] == "2026-09-22T00:00:00Z"
    assert explicit.reference.to_dict()["end"] == "2026-09-25T00:00:00Z"

    with pytest.raises(DriftError, match="overlaps the current window"):
        drift_report(db, since="2d", reference_since="3d", reference_until="1d")
    with pytest.raises(DriftError, match="is not a time"):
        drift_report(db, since="yesterday")
    with pytest.raises(DriftError, match="Unknown dimension 'colour'; valid choices: route, tenant"):
        drift_report(db, dimension="colour")
    with pytest.raises(DriftError, match="Unknown drift family vibes; choose from input, output"):
        drift_report(db, families=["vibes"])
    with pytest.raises(DriftError, match="Unknown drift option"):
        drift_report(db, min_sample=3)
    with pytest.raises(DriftError, match="holds no spans"):
        drift_report(str(db_path) + ".empty.db")
    # the default baseline when every span is inside the current window: said with the oldest span's time
    # (it printed the clipped window backwards, "2026-09-23 .. 2026-09-22")
    with pytest.raises(DriftError) as caught:
        drift_report(db, since=oldest - DAY, until=newest + 1)
    assert str(caught.value).startswith("There is no data before the current window (")
    assert f"the oldest span is at {pd.Timestamp(oldest, unit='ns', tz='UTC').strftime('%Y-%m-%dT%H:%M:%S')}" in str(caught.value)
    with pytest.raises(DriftError, match="its start must be before its end"):
        drift_report(db, since="1d", reference_since="3d", reference_until="4d")


def test_mapped_dims_key_and_trace_level_fallback(db_path):
    """A cohort read from `dims` JSON, and from the trace when the span itself lacks the value."""
    rng = np.random.default_rng(0)
    spans, evals = [], []
    for i in range(240):
        t = T0 + int(i * 7 * DAY / 240)
        region = "eu" if i % 2 else "us"
        tid, root, llm = f"{i:032x}", f"{i:012x}0001", f"{i:012x}0002"
        late = t >= T0 + 6 * DAY
        spans += [Span(trace_id=tid, span_id=root, kind="AGENT", start_ns=t, end_ns=t + 10**9,
                       dims={"region": region}, route="r"),
                  Span(trace_id=tid, span_id=llm, parent_span_id=root, kind="LLM", start_ns=t + 1, end_ns=t + 10**8,
                       input_text="hello there", output_text="fine answer here")]
        score = float(rng.normal(0.5 if (late and region == "eu") else 0.9, 0.05))
        evals.append(Evaluation(trace_id=tid, span_id=llm, name="answer_relevancy", score=score, source="judge"))
    store.write_batch(store.connect(db_path), spans, evals)
    report = drift_report(db_path, since="1d", dimension="region", families=["evaluator"], min_samples=10)
    eu, us = report.get("eval:answer_relevancy", "eu"), report.get("eval:answer_relevancy", "us")
    assert eu.drifted and eu.cohort_label == "region=eu" and not us.drifted
    eu_times = [T0 + int(i * 7 * DAY / 240) for i in range(1, 240, 2)]
    assert eu.reference_n == sum(report.reference.start_ns <= t < report.reference.end_ns for t in eu_times)
    assert eu.current_n == sum(report.current.start_ns <= t < report.current.end_ns for t in eu_times) == 18


def test_slow_evaluator_slide_is_caught_with_a_rolling_mean(tmp_path):
    """Groundedness sliding 0.85 -> 0.77 over the week in billing, with no step anywhere."""
    path = str(tmp_path / "slide.db")
    write_synthetic(path, 4000, T0, T0 + 7 * DAY, shift_cohort="billing", slide=0.08, seed=21)
    report = drift_report(path, since="1d", dimension="route", families=["evaluator"])
    billing, search = report.get("eval:groundedness", "billing"), report.get("eval:groundedness", "search")
    assert billing.drifted and not search.drifted
    assert billing.effect == pytest.approx(-0.08 * 3.5 / 7, abs=0.015)  # last day vs the six before
    assert billing.change_point_p <= 0.05 and billing.change_point_ns is not None
    assert search.change_point_ns is None and search.change_point_p > 0.05
    rolling = [p["rolling"] for p in billing.series]
    assert rolling[-1] < rolling[5] - 0.04  # the rolling mean shows the slide


def test_chart_and_tables_for_a_flagged_pair(shifted_dbs):
    from tracedesk.charts.drift import describe_stats, ranked_table, series_chart

    report = drift_report(shifted_dbs["refusal"], since="1d", dimension="route")
    r = report.get("refusal_rate", "billing")
    spec = series_chart(report, r).to_dict()
    assert spec["title"] == "refusal_rate · route=billing"
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["layer"]]
    assert marks == ["circle", "line", "rule"]  # per-bucket values, rolling mean, change point
    table = ranked_table(report)
    assert list(table.columns) == ["rank", "signal", "family", "cohort", "reference", "current", "magnitude",
                                   "q_value", "n (ref/cur)", "verdict", "since"]
    row = table[(table["signal"] == "refusal_rate") & (table["cohort"] == "route=billing")].iloc[0]
    assert row["verdict"] == "drift" and row["since"] == r.change_point
    assert describe_stats(r).startswith(f"n reference {r.reference_n:,} · current {r.current_n:,} · cohen_h ")
