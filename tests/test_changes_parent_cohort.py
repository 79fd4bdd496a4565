"""Which cohort a change is named by (analysis.changes._prune_cohorts), on synthetic answers with exact rates:
a new model whose refusals rise on two routes is the model's finding, not its stronger route's, when the
model without that route still shows the rise; when the other route is unchanged the route's pair is named."""
from __future__ import annotations

import pandas as pd
import pytest

from tracedesk.analysis.changes import FeedSignal, detect

HOUR = 3_600 * 10**9
T0 = 1_781_481_600 * 10**9  # 2026-06-15T00:00:00Z
REFUSALS = FeedSignal("refusal_rate", {"type": "refusal_rate_answer"}, "refusal rate", "rate", "", "up",
                      own=("response_model",))


def _answers(b_every: int) -> pd.DataFrame:
    """A week of LLM answers: routes A and B (10 an hour each) move from m-old to m-new at hour 72, route C
    (40 an hour) stays on m-old. m-old refuses every 100th answer; m-new every 10th on A, every `b_every`-th
    on B (each (route, model)'s answers counted from 0, so answer 0 is a refusal)."""
    rows, serial = [], {}
    for h in range(168):
        for route, per_hour in (("A", 10), ("B", 10), ("C", 40)):
            model = "m-new" if route != "C" and h >= 72 else "m-old"
            every = {"A": 10, "B": b_every}[route] if model == "m-new" else 100
            for k in range(per_hour):
                i = serial[(route, model)] = serial.get((route, model), -1) + 1
                rows.append((T0 + h * HOUR + k * HOUR // per_hour, float(i % every == 0), route, model))
    return pd.DataFrame(rows, columns=["t", "v", "route", "response_model"])


def _feed(b_every: int):
    return detect({"refusal_rate": _answers(b_every)}, [REFUSALS], ["route", "response_model"], T0, T0 + 168 * HOUR)


def test_a_new_model_whose_refusals_rise_on_both_routes_is_named_at_the_model():
    # B: 1% -> 2.5%, too weak against A's own old answers (720) to stop the pair with A being "specific",
    # but the model without A still rises against the model's baseline (all 4,320 old answers before it)
    (finding,) = _feed(40)
    assert finding.cohort == {"response_model": "m-new"}
    # the baseline it borrowed: every answer before m-new's first (hours 0-71): 8 + 8 + 29 refusals of 4,320
    assert finding.baseline == pytest.approx(45 / 4320, rel=1e-12)
    assert finding.n_baseline == 4320


def test_a_rise_on_one_route_of_a_new_model_is_named_at_that_pair():
    # B stays at 1% on m-new: the rise is A's alone, so the pair is named (as before)
    (finding,) = _feed(100)
    assert finding.cohort == {"response_model": "m-new", "route": "A"}
    # its baseline: route A's old answers (hours 0-71), every 100th refused: 8 of 720
    assert finding.baseline == pytest.approx(8 / 720, rel=1e-12)
    assert finding.n_baseline == 720


def test_a_change_on_all_traffic_of_a_judge_that_runs_on_one_route_lists_that_route():
    """A judge that only scores route=product_qa: its samples all carry that route, so a change "on all
    traffic" of that judge is the route's change, and the finding says so in its aliases (the fourth labelled
    week's faithfulness drop was named "all traffic" and nothing else)."""
    from tracedesk.analysis.changes import _whole_values

    frame = pd.DataFrame({"t": [1, 2, 3], "v": [0.9, 0.2, 0.1], "route": ["product_qa"] * 3,
                          "tenant": ["a", "b", "a"], "model": ["m1,m2", "m1,m2", "m1,m2"], "prompt_version": [None] * 3})
    assert _whole_values(frame, ["route", "tenant", "model", "prompt_version"]) == [{"route": "product_qa"}]
