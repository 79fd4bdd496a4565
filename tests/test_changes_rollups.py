"""Provider cohorts in the changes feed (analysis.rollups): a model maps to the one provider its LLM calls name, a
trace belongs to the providers of the models it lists, and the feed scans each provider alone. A provider-wide
error wave in hours when only that provider's traffic runs is named by the provider (the fourth week's W4-01 was
named "all traffic", then folded into a tenant)."""
from __future__ import annotations

import pandas as pd

from changes_synth import BASE_NS, HOUR, MS
from tracedesk.analysis.changes import find_changes
from tracedesk.analysis.rollups import model_providers, providers_column
from tracedesk.models import Span
from tracedesk.store import connect, write_batch


def test_each_model_maps_to_the_one_provider_its_calls_name():
    calls = pd.DataFrame({
        "model": ["a1", "a1", "a2", "g", "g", "x", "a1,g", None, "e"],
        "provider": ["P", "P", "P", "Q", "R", "P", "P", "P", None],
    })
    # g's calls name two providers: mapped to neither; a list cell and a missing value say nothing
    assert model_providers([calls]) == {"a1": "P", "a2": "P", "x": "P"}
    assert model_providers([calls.assign(provider=None)]) == {}


def test_a_sample_belongs_to_the_providers_of_the_models_it_lists():
    models = pd.Series(pd.Categorical(["a1", "a1,g1", "g1,a2", None, "z", "g1"]))
    col = providers_column(models, {"a1": "P", "a2": "P", "g1": "Q"})
    assert [None if pd.isna(x) else x for x in col] == ["P", "P,Q", "P,Q", None, None, "Q"]
    assert list(col.categories) == ["P", "P,Q", "Q"]


def _week(path: str, wave: tuple[int, int]) -> None:
    """Three days: routes A and B call provider P's models a1 and a2 (10 traces an hour each, every hour), route C
    provider Q's g1 (10 an hour, 06:00-18:00 only). Every 100th trace of a route fails; in hours wave[0]..wave[1]
    (02:00-04:00, C idle) every LLM call to P fails (a 429 wave), and its trace with it."""
    spans: list[Span] = []
    serial = {}
    for h in range(72):
        for route, model, provider in (("A", "a1", "P"), ("B", "a2", "P"), ("C", "g1", "Q")):
            if route == "C" and not 6 <= h % 24 < 18:
                continue
            for k in range(10):
                i = serial[route] = serial.get(route, -1) + 1
                n = len(spans)
                tid = f"{n + 1:032x}"
                start = BASE_NS + h * HOUR + k * HOUR // 10 + ord(route) * MS
                failed = i % 100 == 7 or (provider == "P" and wave[0] <= h < wave[1])
                status = "ERROR" if failed else "OK"
                common = dict(trace_id=tid, route=route, tenant="t", prompt_version="v1")
                spans.append(Span(span_id=f"{2 * n + 1:016x}", parent_span_id=None, name="request", kind="CHAIN",
                                  start_ns=start, end_ns=start + 1000 * MS, duration_ms=1000.0, status=status,
                                  **common))
                spans.append(Span(span_id=f"{2 * n + 2:016x}", parent_span_id=f"{2 * n + 1:016x}", name="answer",
                                  kind="LLM", start_ns=start + MS, end_ns=start + 999 * MS, duration_ms=998.0,
                                  status=status, model=model, provider=provider, input_tokens=100, output_tokens=10,
                                  cost_usd=0.01, output_text="ok", **common))
    write_batch(connect(path), spans)


def test_a_provider_wide_error_wave_when_only_its_traffic_runs_is_named_by_the_provider(tmp_path):
    db = str(tmp_path / "wave.db")
    _week(db, (50, 52))
    findings = [f for f in find_changes(connect(db)) if "error_rate" in f.signals]
    assert [f.cohort for f in findings] == [{"provider": "P"}]
    (f,) = findings
    # the 40 P traces of 02:00-04:00 on day 3 all failed; outside, 1 in 100 of P's 1,400 (C's are not P's)
    assert (f.n_current, f.current, f.n_baseline, f.baseline) == (40, 1.0, 1400, 14 / 1400)
    # it starts between the last P trace before the wave (route B, 01:54) and the first in it (route A, 02:00), and
    # ends between the last in it (B, 03:54) and the next (A, 04:00)
    minute = 60_000 * MS
    a, b = ord("A") * MS, ord("B") * MS
    assert f.start_ns == BASE_NS + 50 * HOUR + a  # a step is dated at its first changed sample
    assert f.end_ns == (BASE_NS + 51 * HOUR + 54 * minute + b + BASE_NS + 52 * HOUR + a) // 2


def test_the_sparkline_of_a_provider_finding_reads_its_traces_by_their_models(tmp_path):
    from tracedesk.analysis.changes import finding_series

    db = str(tmp_path / "wave.db")
    _week(db, (50, 52))
    (f,) = [f for f in find_changes(connect(db)) if "error_rate" in f.signals]
    series = finding_series(connect(db), f)
    # as long again before and after the finding (02:00:00 -> 03:57:00, dated at its first changed sample):
    # 00:03-05:54, 5 h 51 min of P's traces, one every 3 minutes (C's start at 06:00)
    n = series.groupby("group")["n"].sum().to_dict()
    assert n == {"cohort": 117}


def test_every_sparkline_is_the_same_from_the_stored_copy_without_reading_rows(tmp_path, monkeypatch):
    """A card's sparkline reads its signal from the feed's stored copy (the rows the feed scanned; a stall rate's
    calls against the p99s of the range the feed scanned): the very series the row read draws, provider roll-up
    included, and no sample row is read for it."""
    import tracedesk.signals
    from tracedesk.analysis import changes

    db = str(tmp_path / "wave.db")
    _week(db, (50, 52))
    conn = connect(db)
    findings = find_changes(conn)
    assert findings
    with monkeypatch.context() as m:
        m.setattr(changes, "_stored_series", lambda *_a, **_k: None)
        from_rows = [changes.finding_series(conn, f) for f in findings]

    def no_rows(*_args, **_kwargs):
        raise AssertionError("read the sample rows")
    monkeypatch.setattr(tracedesk.signals, "samples", no_rows)
    for f, want in zip(findings, from_rows):
        got = changes.finding_series(connect(db), f)
        assert len(got) and got.equals(want), (f.signals, f.cohort)
