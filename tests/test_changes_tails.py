"""The feed's tail signal (analysis.tails): an LLM call stalls when slower than twice the p99 of its kind (model and
route) over the range; the feed scans the share of stalled calls as a rate, which finds a stall wave the mean of
log durations cannot see (the fourth week's W4-06: 4% of one model's calls 30-75 s, p50 and p95 unchanged)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracedesk.analysis import tails
from tracedesk.analysis.changes import FeedSignal, detect, feed_signals

HOUR = 3_600 * 10**9
T0 = 1_781_481_600 * 10**9  # 2026-06-15T00:00:00Z


def test_thresholds_are_twice_each_kinds_p99_by_linear_interpolation():
    # kind 0: 0..199 (p99 at position 197.01 -> 197.01); kind 1: 100 values of 10 (p99 10); kind 2: too few
    values = np.concatenate([np.arange(200, dtype=float)[::-1], np.full(100, 10.0), np.ones(99)])
    kind = np.concatenate([np.zeros(200, dtype=np.int64), np.ones(100, dtype=np.int64), np.full(99, 2)])
    limit = tails.thresholds(values, kind)
    assert limit[0] == pytest.approx(2 * 197.01, rel=1e-12)
    assert limit[0] == pytest.approx(2 * np.percentile(np.arange(200.0), 99), rel=1e-12)
    assert (limit[:200] == limit[0]).all()
    assert (limit[200:300] == 20.0).all()
    assert np.isnan(limit[300:]).all()  # 99 calls: under MIN_REFERENCE, no reference


def _routes(stalled: tuple[int, ...]) -> pd.DataFrame:
    n = 150
    return pd.DataFrame({
        "t": np.arange(2 * n + 5, dtype=np.int64),
        # route a: 1 s calls, those in `stalled` at 30 s; route b: 20 s calls (against its own p99: none stall);
        # route c: 5 calls, no reference
        "v": [30_000.0 if i in stalled else 1_000.0 for i in range(n)] + [20_000.0] * n + [99_000.0] * 5,
        "model": ["m"] * (2 * n + 5),
        "route": ["a"] * n + ["b"] * n + ["c"] * 5,
    })


def test_stalls_are_one_per_call_past_its_kinds_threshold_and_calls_without_a_reference_are_dropped():
    out = tails.stalls(_routes((70,)))
    assert len(out) == 300  # route c's five calls: no reference, no samples
    assert out["v"].tolist() == [1.0 if i == 70 else 0.0 for i in range(150)] + [0.0] * 150
    assert out["t"].tolist() == list(range(300))


def test_stalls_over_one_percent_of_their_kinds_calls_move_its_p99_into_them():
    # the documented limit: 3 of 150 calls (2%) put the p99 (position 147.51 of 150) among the stalls
    assert tails.stalls(_routes((3, 70, 140)))["v"].sum() == 0.0


def test_kinds_code_model_and_route_together_and_a_missing_value_is_a_kind():
    frame = pd.DataFrame({"model": ["m", "m", "n", None, "m"], "route": ["a", "b", "a", "a", "a"]})
    k = tails.kinds(frame)
    assert k[0] == k[4] and len({k[0], k[1], k[2], k[3]}) == 4


def _calls(stall_from: int, stall_to: int) -> pd.DataFrame:
    """A week of LLM calls: model x (route r, 20 an hour, log-normal around 6.7 s) and model y (route s, 40 an
    hour around 1.3 s). From hour stall_from to stall_to every 25th call of x (4%) takes 30-75 s."""
    rng = np.random.default_rng(7)
    rows = []
    for h in range(168):
        for model, route, per_hour, median in (("x", "r", 20, 6_700.0), ("y", "s", 40, 1_300.0)):
            for k in range(per_hour):
                v = float(median * np.exp(0.15 * rng.standard_normal()))
                if model == "x" and stall_from <= h < stall_to and k % 25 == 3:
                    v = float(rng.uniform(30_000, 75_000))
                rows.append((T0 + h * HOUR + k * HOUR // per_hour, v, model, route))
    return pd.DataFrame(rows, columns=["t", "v", "model", "route"])


def _feed(frame: pd.DataFrame):
    sigs = [s for s in feed_signals([]) if s.name in ("llm_latency", "llm_stall_rate")]
    return detect({"llm_latency": frame, "llm_stall_rate": frame}, sigs, ["route", "model"], T0, T0 + 168 * HOUR)


def test_a_stall_wave_of_four_percent_is_found_on_its_model_by_the_tail_signal_only():
    findings = _feed(_calls(100, 110))
    # the mean of log durations (llm_latency) moves by ~0.1 of its sd: no finding of its own
    assert [f.signals for f in findings] == [["llm_stall_rate"]]
    (f,) = findings
    assert {"model": "x"} in [f.cohort, *f.aliases] and {"route": "r"} in [f.cohort, *f.aliases]
    # ten stalls (call 3, at minute 9, of each hour 100-109) in the 185 calls of 100:00-109:15 (15-minute buckets),
    # none of the 3,175 calls outside; it ends between the window's last call (109:12) and the next (109:15)
    assert (f.n_current, f.n_baseline, f.current, f.baseline) == (185, 3175, 10 / 185, 0.0)
    assert (f.start_ns, f.end_ns) == (T0 + 100 * HOUR, T0 + 109 * HOUR + 13 * HOUR // 60 + HOUR // 120)


def test_no_stall_no_finding_and_the_cohorts_without_a_stall_are_not_scanned():
    assert _feed(_calls(0, 0)) == []


def test_the_stall_signal_reads_no_rows_of_its_own():
    from tracedesk.analysis.changes import wanted_reads

    sigs = feed_signals([])
    stall = next(s for s in sigs if s.name == "llm_stall_rate")
    assert stall.stalls_of == "llm_latency" and stall.aggregation == "rate"
    names = [n for n, _sig, _g in wanted_reads(sigs, ["route", "model"])]
    assert "llm_latency" in names and "llm_stall_rate" not in names


def test_a_stall_signal_without_its_source_is_skipped():
    sig = FeedSignal("s", {"type": "duration", "span_kind": "LLM"}, "s", "rate", "", "up", stalls_of="nope")
    assert detect({}, [sig], ["route"], T0, T0 + HOUR) == []


def test_a_stall_findings_sparkline_from_the_stored_copy_is_the_row_reads(tmp_path, monkeypatch):
    """The landing page's card of a stall finding draws the share of calls past twice their kind's p99, judged
    against the range the feed scanned: from the feed's stored copy, the very series the rows give (which read
    every LLM call of the range again: 1-1.4 s per card at 1M spans), and no sample row is read for it."""
    import tracedesk.signals
    from tracedesk.analysis import changes
    from tracedesk.models import Span
    from tracedesk.store import connect, write_batch

    frame = _calls(100, 110)
    spans = []
    for n, (t, v, model, route) in enumerate(frame.itertuples(index=False)):
        tid = f"{n + 1:032x}"
        common = dict(trace_id=tid, route=route, tenant="t", prompt_version="v1")
        spans += [Span(span_id=f"{2 * n + 1:016x}", name="request", kind="CHAIN", start_ns=int(t), end_ns=int(t + v * 1e6) + 1,
                       duration_ms=v + 1, **common),
                  Span(span_id=f"{2 * n + 2:016x}", parent_span_id=f"{2 * n + 1:016x}", name="answer", kind="LLM",
                       start_ns=int(t), end_ns=int(t + v * 1e6), duration_ms=v, model=model, output_text="ok", **common)]
    path = str(tmp_path / "stalls.db")
    write_batch(connect(path), spans)
    conn = connect(path)
    stall = [f for f in changes.find_changes(conn) if f.signals == ["llm_stall_rate"]]
    assert len(stall) == 1
    with monkeypatch.context() as m:
        m.setattr(changes, "_stored_series", lambda *_a, **_k: None)
        want = changes.finding_series(conn, stall[0])

    def no_rows(*_args, **_kwargs):
        raise AssertionError("read the sample rows")
    monkeypatch.setattr(tracedesk.signals, "samples", no_rows)
    got = changes.finding_series(connect(path), stall[0])
    assert got.equals(want)
    assert got.loc[got["group"] == "cohort", "value"].max() > 0  # the stalls are drawn
