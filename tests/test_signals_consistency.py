"""Issue 11's acceptance test: on the sample week, every registered signal (with representative
parameters) for every cohort dimension gives the same value per cohort through (a) the Cohorts matrix
and the workspace API, (b) the alert evaluator over the whole range as one window, (c) drift's loaders.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import tracedesk
from tracedesk import cohorts, signals
from tracedesk.alerts import parse_rule
from tracedesk.alerts.evaluate import backtest
from tracedesk.analysis.metrics import MATRIX_COLUMNS
from tracedesk.drift import load
from tracedesk.drift.windows import Window

DAY_S = 86_400
NS = 10**9
WINDOW_DAYS = 60  # wider than the sample week: one window holds every sample


def _cases() -> list[tuple[dict, str]]:
    """(signal with representative params, aggregation): every registered signal, its default
    aggregation, plus the aggregations the matrix uses."""
    signals.load_providers()
    out: list[tuple[dict, str]] = []
    for name, s in sorted(signals.SIGNALS.items()):
        out.append(({"type": name, **s.examples}, s.aggregation))
        if s.examples and not any(p.required for p in s.params):
            out.append(({"type": name}, s.aggregation))  # without the optional parameter too
    out += [({"type": sig}, agg) for sig, agg in MATRIX_COLUMNS.values()]
    out += [({"type": "quality", "evaluator": "groundedness"}, "mean"),
            ({"type": "eval_pass_rate", "evaluator": "groundedness"}, "mean"),
            ({"type": "error_rate", "span_kind": "LLM"}, "rate")]
    unique = {repr((sorted(sig.items()), agg)): (sig, agg) for sig, agg in out}
    return list(unique.values())


CASES = _cases()
#: every built-in dimension (the sample week maps no extra dims keys); model_family is drift's and the
#: notebook's (alert rules cannot group by a derived dimension), checked between those two
DIMENSIONS = cohorts.names()


@pytest.fixture(scope="module")
def ws(sample_db_path):
    """The sample week. Every consumer reads samples through the registry's one reader; the same read
    (same signal, same query) is served once per module so the test stays fast. A consumer building a
    different query misses the memo and reads the store, so disagreements still show."""
    from tracedesk.alerts import evaluate

    memo: dict[str, pd.DataFrame] = {}
    real = signals.samples

    def samples(db, signal, query):
        key = repr((id(db), sorted(signal.items()), query))
        if key not in memo:
            memo[key] = real(db, signal, query)
        return memo[key].copy()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(signals, "samples", samples)
        mp.setattr(evaluate, "samples", samples)
        yield tracedesk.open(sample_db_path)


@pytest.fixture(scope="module")
def bounds(ws):
    lo, hi = ws.db.execute("SELECT MIN(start_ns), MAX(start_ns) FROM spans").fetchone()
    until = int(hi)
    since = until - WINDOW_DAYS * DAY_S * NS
    assert since < lo
    return since, until


def _same(a: float, b: float) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def _assert_equal(what: str, left: dict, right: dict) -> None:
    keys = set(left) | set(right)
    bad = {k: (left.get(k, float("nan")), right.get(k, float("nan"))) for k in keys
           if not _same(left.get(k, float("nan")), right.get(k, float("nan")))}
    assert not bad, f"{what}: {sorted(bad.items(), key=str)[:5]}"


def _key(value: object) -> str:
    return cohorts.NO_VALUE if value is None else str(value)


def _workspace(ws, signal, agg, dim, bounds) -> dict:
    series = ws.signal(signal["type"], dim, aggregation=agg, since=bounds[0], until=bounds[1],
                       **{k: v for k, v in signal.items() if k != "type"})
    return {_key(k): float(v) for k, v in series.items()}


def _alerts(ws, dim, bounds, scope: list[str] | None) -> dict[tuple[str, str], dict]:
    """One rule per dimension, one condition per case (any): a single backtest window (since, until]."""
    # a threshold nothing reaches: the values are what is compared, episodes would only cost time
    leaves = [{"signal": sig, "aggregation": agg, "comparator": ">", "threshold": 1e300} for sig, agg in CASES]
    rule = parse_rule({"tracedesk_alert": 1, "name": "consistency", "window": f"{WINDOW_DAYS}d", "step": "5m",
                       "group_by": [dim], "scope": {dim: scope} if scope else {}, "condition": {"any": leaves}})
    result = backtest(ws.db, rule, times=np.array([bounds[1]], dtype=np.int64))
    out: dict[tuple[str, str], dict] = {}
    for g in result.groups:
        for (sig, agg), c in zip(CASES, g.conditions):
            value = float(c.values[0])
            if c.counts[0] == 0 and not signals.get(sig["type"]).zero_when_empty:
                continue  # the group has no samples of this signal: no cohort
            out.setdefault((repr(sorted(sig.items())), agg), {})[_key(g.group[dim])] = value
    return out


def _drift(ws, signal, agg, dim, bounds) -> dict:
    mid = (bounds[0] + bounds[1]) // 2
    frame = load.load_signal(ws.db, signal, dim, Window(bounds[0] + 1, mid), Window(mid, bounds[1] + 1))
    figures = signals.figures(frame.rename(columns={"value": "v"}), [agg], frame["cohort"].astype(str))
    return {str(k): float(v) for k, v in figures[agg].items()}


#: More cohorts than this (sessions, users): the alert rule is scoped to the most frequent ones, so the
#: evaluator's per-group work stays small; its scope is then checked too.
MAX_GROUPS = 150


@pytest.mark.parametrize("dim", DIMENSIONS)
def test_workspace_alerts_and_drift_agree_for_every_signal(ws, bounds, dim):
    scope = ws.values(dim, limit=MAX_GROUPS // 3) if len(ws.values(dim, limit=MAX_GROUPS + 1)) > MAX_GROUPS else None
    alerts = _alerts(ws, dim, bounds, scope)
    for signal, agg in CASES:
        name = f"{signal} {agg} by {dim}"
        api = _workspace(ws, signal, agg, dim, bounds)
        scoped = api if scope is None else {k: v for k, v in api.items() if k in scope}
        if signals.get(signal["type"]).zero_when_empty and not cohorts.resolve(dim).membership:
            assert sum(api.values()) == sum(ws.signal("trace_count").values), name
        _assert_equal(f"{name}: workspace vs alert", scoped, alerts.get((repr(sorted(signal.items())), agg), {}))
        _assert_equal(f"{name}: workspace vs drift", api, _drift(ws, signal, agg, dim, bounds))


def test_model_family_agrees_between_the_workspace_and_drift(ws, bounds):
    for signal, agg in CASES:
        api = _workspace(ws, signal, agg, "model_family", bounds)
        _assert_equal(f"{signal} by model_family", api, _drift(ws, signal, agg, "model_family", bounds))
    assert set(_workspace(ws, {"type": "ttft"}, "p95", "model_family", bounds)) <= {
        cohorts.model_family(m) for m in ws.values("model")}


@pytest.mark.parametrize("dim", DIMENSIONS)
def test_the_cohorts_matrix_is_the_registry(ws, bounds, dim):
    matrix = ws.cohort_matrix(dim).drop(index="(all)", errors="ignore")
    for col, (sig, agg) in MATRIX_COLUMNS.items():
        api = _workspace(ws, {"type": sig}, agg, dim, bounds)
        cells = {k: float(v) for k, v in matrix[col].items() if not pd.isna(v)}
        _assert_equal(f"matrix {col} by {dim}", {k: v for k, v in api.items() if not math.isnan(v)}, cells)
    whole = ws.cohort_matrix(dim).loc["(all)"] if len(matrix) else None
    if whole is not None:
        assert whole["traces"] == ws.count_traces()
        assert _same(whole["refusal_rate"], ws.signal("refusal_rate_trace").iloc[0])


def test_kpis_and_timeseries_are_the_registry(ws):
    k = ws.kpis()
    assert k["traces"] == ws.signal("trace_count").iloc[0] == ws.count_traces()
    assert _same(k["latency_p95_ms"], ws.signal("trace_duration", aggregation="p95").iloc[0])
    assert _same(k["ttft_p50_ms"], ws.signal("ttft", aggregation="p50").iloc[0])
    assert _same(k["eval_pass_rate"], ws.signal("eval_pass_rate").iloc[0])
    assert _same(k["error_rate"], ws.signal("error_rate").iloc[0])
    ts = ws.timeseries(freq="1D")
    assert ts["traces"].sum() == k["traces"] and _same(ts["cost_usd"].sum(), k["cost_usd"])


DRIFT_FAMILY = [  # drift's own loaders' columns and the registered signal each one is
    ("llm", "input_length", {"type": "input_length"}),
    ("llm", "output_length", {"type": "output_length"}),
    ("llm", "input_tokens", {"type": "input_tokens"}),
    ("llm", "output_tokens", {"type": "output_tokens"}),
    ("llm", "refusal", {"type": "refusal_rate_answer"}),
    ("retrieval", "latency_ms", {"type": "duration", "span_kind": "RETRIEVER"}),
    ("retrieval", "doc_score", {"type": "retrieval_score"}),
]


@pytest.mark.parametrize("dim", [None, "route", "model", "agent_name", "model_family", "environment"])
def test_drifts_family_loaders_read_the_registered_signals(ws, bounds, dim):
    mid = (bounds[0] + bounds[1]) // 2
    ref, cur = Window(bounds[0] + 1, mid), Window(mid, bounds[1] + 1)
    frames = {
        "llm": load.load_llm(ws.db, dim, ref, cur, load.window_strides(ws.db, "LLM", ref, cur, 0)),
        "retrieval": load.load_retrieval(ws.db, dim, ref, cur, load.window_strides(ws.db, "RETRIEVER", ref, cur, 0)),
    }
    for family, column, signal in DRIFT_FAMILY:
        frame = frames[family].dropna(subset=[column])
        drift = {str(k): float(g[column].mean()) for k, g in frame.groupby("cohort")}
        api = _workspace(ws, signal, "mean", dim, bounds) if dim else {
            load.ALL: float(ws.signal(signal["type"], aggregation="mean",
                                      **{k: v for k, v in signal.items() if k != "type"}).iloc[0])}
        _assert_equal(f"drift {column} by {dim}", api, drift)
    evals = load.load_evaluations(ws.db, dim, ref, cur)
    for name, g in evals.groupby("name"):
        drift = {str(k): float(x["score"].mean()) for k, x in g.groupby("cohort")}
        api = (_workspace(ws, {"type": "eval_score", "evaluator": name}, "mean", dim, bounds) if dim else
               {load.ALL: float(ws.signal("eval_score", evaluator=name).iloc[0])})
        _assert_equal(f"drift evaluation {name} by {dim}", api, drift)


@pytest.mark.parametrize("dim", ["route", "model", "agent_name", "service"])
def test_the_evaluations_page_by_cohort_is_the_eval_score_signal(ws, bounds, dim):
    for name in ("groundedness", "answer_relevancy"):
        table = ws.evals.by_cohort(name, dim)
        page = {str(k): float(v) for k, v in zip(table[dim], table["mean"])}
        _assert_equal(f"evaluations page {name} by {dim}", _workspace(ws, {"type": "eval_score", "evaluator": name},
                                                                      "mean", dim, bounds), page)
        passed = {str(k): float(v) for k, v in zip(table[dim], table["pass_rate"])}
        _assert_equal(f"evaluations page {name} pass rate by {dim}",
                      _workspace(ws, {"type": "eval_pass_rate", "evaluator": name}, "mean", dim, bounds), passed)
