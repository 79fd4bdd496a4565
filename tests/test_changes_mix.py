"""A change that the cohort's composition explains is no finding (changes._mix_explains): split by another
dimension, each part held at its own baseline level and weighted by its share inside the window, the window's mean
moves as far, so nothing in the cohort got worse. Exact values on small synthetic frames."""
from __future__ import annotations

import pandas as pd

from changes_synth import BASE_NS, HOUR
from tracedesk.analysis.changes import detect, feed_signals

MIN = 60 * 10**9


def _frame(slow_tenant_slower: bool) -> pd.DataFrame:
    """72 h of cost per trace on two routes. Route R: tenant fast (20 traces an hour, alternately 1 and 3) and
    tenant slow (4 an hour, 9 and 11; in hours 40-44, its long meetings, 40 an hour). Route S: tenant other, 20 an
    hour, 1 and 3. `slow_tenant_slower`: in hours 40-44 slow's traces cost 19 and 21 instead, without the burst."""
    rows = []
    for h in range(72):
        burst = 40 <= h < 44
        slow_n = 40 if burst and not slow_tenant_slower else 4
        slow_add = 10.0 if burst and slow_tenant_slower else 0.0
        for route, tenant, count, low in (("R", "fast", 20, 1.0), ("R", "slow", slow_n, 9.0 + slow_add),
                                          ("S", "other", 20, 1.0)):
            for k in range(count):
                rows.append((BASE_NS + h * HOUR + (k * HOUR) // count + (7 if tenant == "slow" else 0) * MIN // 10,
                             low + 2 * (k % 2), route, tenant))
    rows.sort()
    return pd.DataFrame({"t": [r[0] for r in rows], "v": [r[1] for r in rows],
                         "route": pd.Series([r[2] for r in rows], dtype=object),
                         "tenant": pd.Series([r[3] for r in rows], dtype=object)})


def _feed(frame: pd.DataFrame):
    sig = [s for s in feed_signals([]) if s.name == "cost_per_trace"]
    return detect({"cost_per_trace": frame}, sig, ["route", "tenant"], BASE_NS, BASE_NS + 72 * HOUR)


def test_a_route_whose_mean_rises_only_because_a_costly_tenant_is_busier_is_no_finding():
    # route R's mean goes from (20 x 2 + 4 x 10) / 24 = 3.33 to (20 x 2 + 40 x 10) / 60 = 7.33 in hours 40-44, 1.14
    # of its sd, every tenant's own traces as always: held at its baseline level with the window's shares, the
    # route's mean would be 7.33 too. Before session 8: "cost_per_trace up on route=R" (3.33 -> 7.33, 240 traces)
    assert _feed(_frame(False)) == []


def test_a_tenant_that_really_got_worse_is_still_found():
    # the same hours, slow's traces cost 20 instead of 10 at its usual 4 an hour: its own change, found on it
    findings = _feed(_frame(True))
    assert [(f.cohort, f.baseline, f.current, f.n_current) for f in findings] == [
        ({"tenant": "slow"}, 10.0, 20.0, 16)]
