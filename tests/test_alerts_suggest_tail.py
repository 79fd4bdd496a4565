"""The suggester on a tail that moves while the body does not (fourth week W4-06: 4% of gpt-4.1 calls stall,
p50/p95 unchanged), and its answer when nothing moved (an explanation, not an exception), on small synthetic
data: two models, one LLM call each every 2 minutes for 48 hours, durations 1,000-1,990 ms; from hour 12 to
hour 20 every 35th call of model "m" (70 minutes apart, 7 of its 240 calls) stalls for 40 s."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tracedesk.alerts.evaluate import backtest
from tracedesk.alerts.states import pages
from tracedesk.alerts.suggest import _tail_mover, suggest_rule
from tracedesk.cli import main
from tracedesk.models import Span
from tracedesk.store import connect, write_batch

NS = 1_000_000_000
M = 60 * NS
H = 60 * M
T0 = 1_800_000_000 * NS - (1_800_000_000 * NS) % H  # on the hour


def _build(path: str, *, stalls: bool = True) -> str:
    spans = []
    n = 0
    for model in ("m", "n"):
        for k in range(48 * 30):  # every 2 minutes, at :30 s
            start = T0 + k * 2 * M + 30 * NS
            ms = 1000.0 + (k * 37 % 100) * 10  # 1,000 .. 1,990 ms, no trend
            if stalls and model == "m" and 12 * H <= start - T0 < 20 * H and k % 35 == 0:
                ms = 40_000.0
            n += 1
            spans.append(Span(span_id=f"{n:016x}", trace_id=f"{n:032x}", name="chat", kind="LLM", start_ns=start,
                              end_ns=start + int(ms * 1e6), duration_ms=ms, service="svc", model=model,
                              provider="openai", output_text="Here is the answer."))
    write_batch(connect(path), spans, [])
    return path


def test_tail_mover_needs_the_p99_beyond_every_baseline_sample_and_more_than_chance():
    base = 1000.0 + np.arange(200) * 5.0  # 1,000 .. 1,995
    body = 1000.0 + np.arange(97) * 10.0
    # 3 of 100 incident samples beyond the baseline's 1,995: p99 beyond it, chance (100/300)(99/299)(98/298) = 0.036
    inc = np.concatenate([body, [40_000.0] * 3])
    assert _tail_mover({"type": "duration", "span_kind": "LLM"}, inc, base) is None
    # the same 3 among 20 incident samples: (20/220)(19/219)(18/218) = 6.5e-4, still above the z = 4 level
    assert _tail_mover({"type": "duration", "span_kind": "LLM"}, np.concatenate([body[:17], [40_000.0] * 3]),
                       base) is None
    # 5 among 20: 3.8e-6 < 3.2e-5
    m = _tail_mover({"type": "duration", "span_kind": "LLM"}, np.concatenate([body[:15], [40_000.0] * 5]), base)
    assert m is not None and (m.aggregation, m.direction, m.tail_edge, m.effect) == ("p99", "up", 1995.0, 0.25)
    # a baseline of 99 samples says nothing of its 99th percentile
    assert _tail_mover({"type": "duration", "span_kind": "LLM"}, np.concatenate([body[:15], [40_000.0] * 5]),
                       base[:99]) is None
    # only the bad direction counts: durations that become shorter are not a tail mover
    assert _tail_mover({"type": "duration", "span_kind": "LLM"}, np.concatenate([body[:15], [1.0] * 5]), base) is None
    # a score's bad tail is its low end: judged on the window's lowest sample (the registry has no p1)
    scores = 0.8 + np.arange(200) * 0.001  # 0.800 .. 0.999
    low = _tail_mover({"type": "eval_score", "evaluator": "x"}, np.concatenate([scores[:15], [0.1] * 5]), scores)
    assert low is not None and (low.aggregation, low.direction, low.tail_edge) == ("min", "down", 0.8)
    assert low.label == "eval_score(x) min" and round(low.incident, 3) == 0.1


def test_a_stalling_tail_gets_a_p99_rule_held_across_its_gaps(tmp_path):
    db = _build(str(tmp_path / "w.db"))
    s = suggest_rule(db, T0 + 12 * H, T0 + 20 * H, {"model": "m"}, name="tail")
    assert s.rule is not None
    [leaf] = s.rule.leaves()
    # the median and p95 do not move (7 stalls in 240 calls): the tail does, and the rule is on the p99
    assert (leaf.signal, leaf.aggregation, leaf.comparator) == ({"type": "duration", "span_kind": "LLM"}, "p99", ">")
    assert 1990 < leaf.threshold < 40_000
    tail = next(m for m in s.movers if m.signal == leaf.signal)
    assert (tail.tail_edge, tail.samples, round(tail.baseline, 1)) == (1990.0, 240, 1986.1)  # baseline: its p99
    # the stalls come 70 minutes apart: the page is held until 2 h clear (the gap rounded up to hours), not
    # resolved and paged again between them
    assert s.rule.resolve_after == "2h" and s.rule.scope == {"model": ("m",)}
    found = pages(s.rule, backtest(db, s.rule))
    first, last = T0 + 385 * 2 * M + 30 * NS, T0 + 595 * 2 * M + 30 * NS  # 12:50:30 and 19:50:30
    step, w = 5 * M, s.rule.window_s * NS
    clear = -(-(last + w) // step) * step  # the first evaluation whose window no longer holds the last stall
    assert [(p.fired_ns, p.resolved_ns) for p in found] == [(T0 + 12 * H + 55 * M, clear + 2 * H)]
    assert (s.caught, s.false_pages, s.pages_in_incident, s.delay_min) == (True, 0, 1, 55.0)
    assert first < T0 + 12 * H + 55 * M


def test_nothing_moved_is_explained_not_raised(tmp_path, capsys):
    db = _build(str(tmp_path / "w.db"), stalls=False)
    s = suggest_rule(db, T0 + 12 * H, T0 + 20 * H, {"model": "m"}, name="quiet")
    assert s.rule is None and s.backtest is None and not s.caught and s.movers == []
    assert s.explanation.startswith("no signal moved against its baseline in this cohort during the incident "
                                    "(its own history outside the incident): ")
    assert "write the rule by hand in the builder" in s.explanation and s.warnings == [s.explanation]
    assert s.rule_summary() == f"(no rule: {s.explanation})"
    assert s.to_dict()["rule"] is None and s.to_dict()["explanation"] == s.explanation
    # the CLI says so and exits 1 (0: a rule; 2: invalid input), writing no rule file
    out = tmp_path / "rule.json"
    iso = lambda ns: f"{ns // NS}"  # noqa: E731  (Unix seconds)
    code = main(["alerts", "suggest", "--db", db, "--since", iso(T0 + 12 * H), "--until", iso(T0 + 20 * H),
                 "--cohort", "model=m", "--out", str(out)])
    assert code == 1 and not out.exists()
    assert capsys.readouterr().out.startswith("no rule proposed: no signal moved against its baseline")
    assert main(["alerts", "suggest", "--db", db, "--since", iso(T0 + 12 * H), "--until", iso(T0 + 20 * H),
                 "--cohort", "model=m", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["rule"] is None


@pytest.mark.parametrize("bad", [{"model": "nowhere"}])
def test_bad_input_still_raises(tmp_path, bad):
    db = _build(str(tmp_path / "w.db"), stalls=False)
    with pytest.raises(ValueError, match="matches no trace or span"):
        suggest_rule(db, T0 + 12 * H, T0 + 20 * H, bad)
