"""explain: shift-share attribution with exact numbers on synthetic mix and rate shifts (real DB files)."""
from __future__ import annotations

import json

import pytest

from changes_synth import BASE_NS, HOUR, build
from tracedesk.analysis.explain import decompose, explain_signal
from tracedesk.cli import main
from tracedesk.store import connect

BASE = (BASE_NS, BASE_NS + 4 * HOUR)
CUR = (BASE_NS + 4 * HOUR, BASE_NS + 8 * HOUR)


def _by_route(result):
    return {s.cohort["route"]: s for s in result.by_dimension["route"]}


def test_mix_shift_is_all_mix_effect(db_path):
    # A costs 0.01 and B 0.03 throughout; B's share of traffic goes from 25% to 75%
    segs = {("A", "acme", "m1"): lambda h: 30 if h < 4 else 10, ("B", "acme", "m1"): lambda h: 10 if h < 4 else 30}
    build(db_path, 8, segs, lambda seg, h, k: 0.01 if seg[0] == "A" else 0.03)
    res = explain_signal(connect(db_path), "cost_per_trace", *CUR)
    assert res.baseline == pytest.approx(0.015) and res.current == pytest.approx(0.025)
    assert (res.n_baseline, res.n_current) == (160, 160)
    a, b = _by_route(res)["A"], _by_route(res)["B"]
    assert a.rate_effect == pytest.approx(0, abs=1e-12) and b.rate_effect == pytest.approx(0, abs=1e-12)
    # mix_s = (w1 - w0) * (mean_s - overall average): A -0.5 * (0.01 - 0.02), B +0.5 * (0.03 - 0.02)
    assert a.mix_effect == pytest.approx(0.005) and b.mix_effect == pytest.approx(0.005)
    assert (a.share_baseline, a.share_current) == (0.75, 0.25)
    assert a.contribution + b.contribution == pytest.approx(res.total)


def test_rate_shift_is_all_rate_effect_of_the_segment_that_got_worse(db_path):
    # equal shares; B's cost triples in the current window
    segs = {("A", "acme", "m1"): lambda h: 20, ("B", "globex", "m2"): lambda h: 20}
    build(db_path, 8, segs, lambda seg, h, k: 0.03 if (seg[0] == "B" and h >= 4) else 0.01)
    res = explain_signal(connect(db_path), "cost_per_trace", *CUR)
    assert res.total == pytest.approx(0.01)
    a, b = _by_route(res)["A"], _by_route(res)["B"]
    assert b.rate_effect == pytest.approx(0.5 * 0.02) and b.mix_effect == pytest.approx(0, abs=1e-12)
    assert a.rate_effect == pytest.approx(0, abs=1e-12) and a.mix_effect == pytest.approx(0, abs=1e-12)
    assert res.top(1)[0].cohort in ({"route": "B"}, {"tenant": "globex"}, {"model": "m2"})
    # every dimension's parts add up to the same total
    for segs_of_dim in res.by_dimension.values():
        assert sum(s.contribution for s in segs_of_dim) == pytest.approx(res.total)


def test_drill_down_finds_the_combination(db_path):
    # only (route B, tenant globex) gets worse; B/acme and A/* are unchanged
    segs = {("A", "acme", "m1"): lambda h: 10, ("A", "globex", "m1"): lambda h: 10,
            ("B", "acme", "m1"): lambda h: 10, ("B", "globex", "m1"): lambda h: 10}
    build(db_path, 8, segs, lambda seg, h, k: 0.05 if (seg[:2] == ("B", "globex") and h >= 4) else 0.01)
    res = explain_signal(connect(db_path), "cost_per_trace", *CUR)
    top = res.combinations[0]
    assert top.cohort == {"route": "B", "tenant": "globex"}
    assert top.rate_effect == pytest.approx(0.25 * 0.04) and top.contribution == pytest.approx(res.total)


def test_new_segment_is_pure_mix():
    import pandas as pd

    base = pd.DataFrame({"v": [1.0, 1.0], "route": ["a", "a"]})
    cur = pd.DataFrame({"v": [1.0, 3.0], "route": ["a", "new"]})
    segs = {s.cohort["route"]: s for s in decompose(base, cur, ["route"])}
    assert segs["new"].rate_effect == 0 and segs["new"].mean_baseline is None
    assert segs["new"].mix_effect == pytest.approx(0.5 * (3.0 - 1.5))
    assert segs["a"].mix_effect == pytest.approx(-0.5 * (1.0 - 1.5))
    assert sum(s.contribution for s in segs.values()) == pytest.approx(1.0)


def test_cli_explain_json_and_errors(db_path, capsys):
    segs = {("A", "acme", "m1"): lambda h: 20, ("B", "globex", "m2"): lambda h: 20}
    build(db_path, 8, segs, lambda seg, h, k: 0.03 if (seg[0] == "B" and h >= 4) else 0.01)
    assert main(["explain", "--db", db_path, "--signal", "cost_per_trace", "--since", "2025-11-24T04:00Z",
                 "--until", "2025-11-24T08:00Z", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["change"] == pytest.approx(0.01)
    assert out["baseline_window"] == {"start": "2025-11-24T00:00:00Z", "end": "2025-11-24T04:00:00Z"}
    route = out["dimensions"]["route"]
    assert route["rate_effect"] == pytest.approx(0.01) and route["mix_effect"] == pytest.approx(0, abs=1e-12)
    assert main(["explain", "--db", db_path, "--signal", "nope", "--since", "2025-11-24T04:00Z",
                 "--until", "2025-11-24T08:00Z"]) == 2
    assert "unknown signal 'nope'" in capsys.readouterr().err



def test_a_window_without_samples_is_said_not_shown_as_nan(db_path, capsys):
    """The first hours of the data have no baseline before them (it printed 'nan -> 0.02, change +nan')."""
    segs = {("A", "acme", "m1"): lambda h: 20}
    build(db_path, 8, segs, lambda seg, h, k: 0.01)
    assert main(["explain", "--db", db_path, "--signal", "cost_per_trace", "--since", "2025-11-24T00:00Z",
                 "--until", "2025-11-24T04:00Z"]) == 2
    assert capsys.readouterr().err == (
        "tracedesk explain: the baseline window (2025-11-23T20:00Z .. 2025-11-24T00:00Z) holds no cost_per_trace "
        "samples, so there is no change to explain; pass --baseline-since/--baseline-until around data\n")
    with pytest.raises(Exception, match="the current window .* holds no cost_per_trace samples"):
        explain_signal(connect(db_path), "cost_per_trace", BASE_NS + 9 * HOUR, BASE_NS + 10 * HOUR,
                       baseline_since=BASE_NS, baseline_until=BASE_NS + 4 * HOUR)

def test_cli_changes_json(db_path, capsys):
    segs = {("billing", "acme", "m1"): lambda h: 8, ("refunds", "acme", "m1"): lambda h: 8,
            ("search", "globex", "m1"): lambda h: 8}

    def cost(seg, h, k):
        jitter = 1.0 + 0.2 * (((h * 7919 + k * 104729 + len(seg[0]) * 31) % 41) - 20) / 20
        return (0.03 if seg[0] == "refunds" and 40 <= h < 43 else 0.01) * jitter

    build(db_path, 72, segs, cost)
    assert main(["changes", "--db", db_path, "--json", "--top", "3"]) == 0
    findings = json.loads(capsys.readouterr().out)["findings"]
    top = findings[0]
    assert top["cohort"] == {"route": "refunds"} and "cost_per_trace" in top["signals"]
    from tracedesk.timeutil import parse_time

    assert abs(parse_time(top["start"]) - (BASE_NS + 40 * HOUR)) <= 15 * 60 * 10**9
    assert abs(parse_time(top["end"]) - (BASE_NS + 43 * HOUR)) <= 15 * 60 * 10**9
    assert top["n"]["current"] == 24 and top["q"] < 0.05
    assert set(top) >= {"signals", "cohort", "start", "end", "baseline", "current", "effect", "q", "n",
                        "traces_before", "traces_after"}
    assert main(["changes", "--db", db_path, "--since", "2025-11-26", "--until", "2025-11-25"]) == 2
    assert main(["changes", "--db", db_path + ".missing"]) == 2


def test_an_unknown_dimension_is_an_error_naming_the_choices(db_path, capsys):
    """`--dimension rout` became a mapped dimension no trace carries, so the feed silently covered all
    traffic only and explain printed nothing per segment; it is now refused with the valid names."""
    segs = {("A", "acme", "m1"): lambda h: 20, ("B", "globex", "m2"): lambda h: 20}
    build(db_path, 8, segs, lambda seg, h, k: 0.03 if (seg[0] == "B" and h >= 4) else 0.01)
    window = ["--since", "2025-11-24T04:00Z", "--until", "2025-11-24T08:00Z"]
    assert main(["changes", "--db", db_path, "--dimension", "rout"]) == 2
    assert capsys.readouterr().err.startswith(
        "tracedesk changes: Unknown dimension 'rout'; choose one of: route, tenant, model, provider, "
        "prompt_version, environment, agent_name, service, session_id, user_id, tool_name, response_model, "
        "model_family.")
    assert main(["explain", "--db", db_path, "--signal", "cost_per_trace", *window, "--dimension", "rout"]) == 2
    assert "Unknown dimension 'rout'" in capsys.readouterr().err
    assert main(["explain", "--db", db_path, "--signal", "cost_per_trace", *window, "--dimension", " tenant",
                 "--json"]) == 0
    assert list(json.loads(capsys.readouterr().out)["dimensions"]) == ["tenant"]
