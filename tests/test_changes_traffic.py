"""Traffic drops (analysis/traffic.py) on synthetic counts: exact expected counts, p-values and bounds, the
weekend rule, and quiet traffic that must give nothing."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tracedesk.analysis import traffic as T

HOUR = 3_600 * 10**9
DAY = 24 * HOUR
MONDAY = 1_781_481_600 * 10**9  # 2026-06-15T00:00:00Z, a Monday
assert (MONDAY // DAY + 3) % 7 == 0


def _series(days: int, per_hour: dict[str, int], stop: tuple[str, int, int] | None = None) -> pd.DataFrame:
    """Traces spread evenly over each hour: per_hour[tenant] of them, every hour of `days` days from MONDAY;
    `stop` = (tenant, first hour, hours): that tenant sends nothing from that hour on for that long."""
    rows = []
    for h in range(days * 24):
        for tenant, count in per_hour.items():
            if stop and tenant == stop[0] and stop[1] <= h < stop[1] + stop[2]:
                continue
            for k in range(count):
                rows.append((MONDAY + h * HOUR + (k * HOUR) // count + 1, tenant))
    return pd.DataFrame(rows, columns=["t", "tenant"])


def _scan(frame: pd.DataFrame, days: int, width: int = HOUR) -> tuple[list[T.Drop], T.TrafficScan]:
    nb = days * DAY // width
    ts = T.TrafficScan.run(frame, ["tenant"], MONDAY, width, nb, T.Limits())
    return ts.drops, ts


def test_binomial_lower_tail_is_exact():
    assert T.binomial_lower_tail(0, 10, 0.5) == pytest.approx(0.5 ** 10, rel=1e-12)
    assert T.binomial_lower_tail(1, 4, 0.25) == pytest.approx(0.75 ** 4 + 4 * 0.25 * 0.75 ** 3, rel=1e-12)
    assert T.binomial_lower_tail(4, 4, 0.3) == 1.0


def test_day_kinds_mark_saturday_and_sunday():
    assert T.day_kinds(MONDAY, DAY, 7).tolist() == [0, 0, 0, 0, 0, 1, 1]


def test_a_tenant_that_stops_for_three_hours_is_one_drop_with_exact_counts_and_bounds():
    # Mon-Fri, two tenants at 10 and 30 traces an hour; acme sends nothing Wednesday 10:00-13:00
    frame = _series(5, {"acme": 10, "globex": 30}, stop=("acme", 2 * 24 + 10, 3))
    drops, ts = _scan(frame, 5)
    significant = [d for d in drops if d.p <= 0.05]
    assert [d.cohort for d in significant] == [{"tenant": "acme"}]
    d = significant[0]
    assert (d.a, d.e) == (2 * 24 + 10, 2 * 24 + 13)
    # the same three hours of the four other weekdays: 4 x 3 x 10 acme traces, 4 x 3 x 30 others
    assert (d.observed, d.rest, d.ref_cohort, d.ref_rest) == (0, 90, 120, 360)
    assert d.expected == pytest.approx(30.0)
    # C | C + C' ~ Binomial(120, 90 / 450): P(C = 0) = 0.8^120, times the windows tried
    assert d.p == pytest.approx(min(1.0, 0.8 ** 120 * d.tries), rel=1e-9)
    assert d.d == pytest.approx(-T.Limits().logit_to_d * (math.log(0.5 / 90.5) - math.log(120.5 / 360.5)))
    (finding,) = ts.findings([(d, 0.001)], "trace_count", "traces", 3.0)
    acme = np.sort(frame.loc[frame["tenant"] == "acme", "t"].to_numpy())
    last_before = acme[acme < MONDAY + (2 * 24 + 10) * HOUR].max()
    first_after = acme[acme >= MONDAY + (2 * 24 + 13) * HOUR].min()
    assert (finding.start_ns, finding.end_ns) == (last_before, first_after)
    assert (finding.baseline, finding.current, finding.effect) == (pytest.approx(30.0), 0.0, pytest.approx(-30.0))
    assert finding.share == pytest.approx(30.0 / len(frame))
    assert finding.cohort == {"tenant": "acme"} and finding.aggregation == "count" and finding.direction == "down"


def test_steady_traffic_and_a_traffic_drop_every_cohort_shares_give_nothing():
    # every tenant loses 90% of its traffic on Wednesday afternoon (a global dip): the shares do not move
    rows = _series(5, {"acme": 10, "globex": 30})
    hour = (rows["t"] - MONDAY) // HOUR
    dip = (hour >= 2 * 24 + 12) & (hour < 2 * 24 + 18) & (((rows["t"] - MONDAY) // 10**9) % 10 != 0)
    drops, _ts = _scan(rows[~dip].reset_index(drop=True), 5)
    assert [d for d in drops if d.p <= 0.05] == []


def test_a_cohort_quiet_at_its_own_night_is_not_a_drop():
    # acme sends 20 traces an hour 08:00-18:00 UTC and 1 otherwise, every day: its share falls every evening,
    # as it did the days before, so no window is a drop
    rows = []
    for h in range(5 * 24):
        acme = 20 if 8 <= h % 24 < 18 else 1
        for tenant, count in (("acme", acme), ("globex", 30)):
            rows += [(MONDAY + h * HOUR + (k * HOUR) // count + 1, tenant) for k in range(count)]
    drops, _ts = _scan(pd.DataFrame(rows, columns=["t", "tenant"]), 5)
    assert [d for d in drops if d.p <= 0.05] == []


def test_a_weekend_is_compared_with_the_weekend_only():
    # acme works weekdays only (20 an hour), globex every day: acme's Saturday and Sunday are not drops,
    # and a weekday stop is still found against the other weekdays (not against the weekend's zeros)
    rows = []
    for h in range(7 * 24):
        weekend = h // 24 >= 5
        stopped = 24 + 9 <= h < 24 + 12  # Tuesday 09:00-12:00
        for tenant, count in (("acme", 0 if weekend or stopped else 20), ("globex", 30)):
            rows += [(MONDAY + h * HOUR + (k * HOUR) // count + 1, tenant) for k in range(count)]
    drops, _ts = _scan(pd.DataFrame(rows, columns=["t", "tenant"]), 7)
    significant = [d for d in drops if d.p <= 0.05]
    assert [(d.cohort, d.a, d.e) for d in significant] == [({"tenant": "acme"}, 24 + 9, 24 + 12)]
    # its reference: the same hours of the other four weekdays only
    assert (significant[0].ref_cohort, significant[0].ref_rest) == (4 * 3 * 20, 4 * 3 * 30)


def test_no_comparable_day_means_no_test():
    frame = _series(1, {"acme": 10, "globex": 30}, stop=("acme", 10, 3))
    drops, _ts = _scan(frame, 1)
    assert drops == []


def test_bounds_of_a_stop_and_of_a_partial_drop():
    times = np.array([10, 20, 30, 100, 110, 120])
    assert T.bounds(times, 35, 95, ongoing=False) == (30, 100)
    assert T.bounds(times, 35, 130, ongoing=True) == (30, 100)
    assert T.bounds(np.array([10, 20, 30]), 35, 95, ongoing=True) == (30, None)
    # traces all through the window: a partial drop, dated by the window
    assert T.bounds(np.array([10, 40, 50, 60, 70, 80, 90]), 35, 95, ongoing=False) == (35, 95)


def test_a_route_that_falls_only_by_a_stopped_tenants_traffic_is_named_by_the_tenant():
    # acme sends on two routes; it stops on both Wednesday 10:00-14:00. Route "a" is mostly acme's, so it
    # falls too: the drop is named once, by the tenant, the route's part of it being acme's traffic
    rows = []
    for h in range(5 * 24):
        stopped = 2 * 24 + 10 <= h < 2 * 24 + 14
        for route, tenant, count in (("a", "acme", 0 if stopped else 20), ("b", "acme", 0 if stopped else 10),
                                     ("a", "globex", 1), ("b", "globex", 30), ("c", "initech", 30)):
            rows += [(MONDAY + h * HOUR + (k * HOUR) // count + 1, route, tenant) for k in range(count)]
    frame = pd.DataFrame(rows, columns=["t", "route", "tenant"])
    ts = T.TrafficScan.run(frame, ["route", "tenant"], MONDAY, HOUR, 5 * 24, T.Limits())
    significant = [(d, d.p) for d in ts.drops if d.p <= 0.05]
    assert {tuple(sorted(d.cohort.items())) for d, _p in significant} >= {
        (("tenant", "acme"),), (("route", "a"),), (("route", "a"), ("tenant", "acme"))}
    findings = ts.findings(significant, "trace_count", "traces", 3.0)
    assert [f.cohort for f in findings] == [{"tenant": "acme"}]


def _week(acme: "dict[int, int]") -> pd.DataFrame:
    """Mon-Sun, acme 10 traces an hour (acme[h] in hour h instead), globex 30."""
    rows = []
    for h in range(7 * 24):
        for tenant, count in (("acme", acme.get(h, 10)), ("globex", 30)):
            rows += [(MONDAY + h * HOUR + (k * HOUR) // count + 1, tenant) for k in range(count)]
    return pd.DataFrame(rows, columns=["t", "tenant"])


SAT, SUN = 5 * 24, 6 * 24


def test_a_burst_on_the_only_comparable_day_does_not_make_a_weekend_drop():
    # Sunday 14:00-16:00 acme sends 100 an hour (a burst): against Sunday alone, Saturday's ordinary 14:00-16:00
    # looks like a fall to a fifth; the weekdays' same hours (acme's usual quarter) do not agree. And globex's
    # share falls on Sunday (the rest grew), but its own count does not: no drop at all
    drops, _ts = _scan(_week({SUN + 14: 100, SUN + 15: 100}), 7)
    assert [d for d in drops if d.p <= 0.05] == []


def test_a_weekend_stop_is_found_against_the_weekend_and_confirmed_by_the_weekdays():
    drops, _ts = _scan(_week({SAT + 14: 0, SAT + 15: 0}), 7)
    (d,) = [d for d in drops if d.p <= 0.05]
    assert (d.cohort, d.a, d.e) == ({"tenant": "acme"}, SAT + 14, SAT + 16)
    # its reference is Sunday's same two hours only: 20 acme traces, 60 others
    assert (d.observed, d.rest, d.ref_cohort, d.ref_rest) == (0, 60, 20, 60)
    assert d.p == pytest.approx(min(1.0, 0.5 ** 20 * d.tries), rel=1e-9)


def test_a_tenant_onboarded_mid_week_is_not_down_before_it_existed():
    # Mon-Fri; lumen starts sending on Wednesday 00:00 and then sends steadily. Before its first trace it did not
    # exist: its absence on Monday and Tuesday is not a drop against Wednesday-Friday (the fourth labelled week's
    # new tenant was the feed's first finding, "trace_count down" over the days before it came)
    frame = _series(5, {"acme": 10, "globex": 30, "lumen": 8})
    frame = frame[(frame["tenant"] != "lumen") | (frame["t"] >= MONDAY + 2 * DAY)]
    drops, _ts = _scan(frame, 5)
    assert [d.cohort for d in drops if d.p <= 0.05] == []
    # the same tenant stopping on Thursday 10:00-13:00, after it existed, is still a drop
    frame = frame[(frame["tenant"] != "lumen") | (frame["t"] < MONDAY + 3 * DAY + 10 * HOUR)
                  | (frame["t"] >= MONDAY + 3 * DAY + 13 * HOUR)]
    drops, _ts = _scan(frame, 5)
    d = [d for d in drops if d.p <= 0.05]
    assert [x.cohort for x in d] == [{"tenant": "lumen"}]
    # its reference is the same hours of Wednesday and Friday only: the days it existed
    assert (d[0].a, d[0].e, d[0].observed, d[0].ref_cohort) == (3 * 24 + 10, 3 * 24 + 13, 0, 48)


THURSDAY = MONDAY + 3 * DAY


def test_a_cohort_day_runs_from_the_middle_of_its_night_and_one_without_a_night_keeps_the_utc_day():
    # a Wellington office (UTC+12) busy 08:00-18:00 local (20:00-06:00 UTC) every day, and a tenant busy around
    # the clock. The office's quiet half-days start 06:00, 07:00 or 08:00 UTC (14 empty hours): the middle one,
    # 07:00-19:00, puts the middle of its night at 13:00 UTC (01:00 local), so its Saturday is Fri 13:00 - Sun 13:00
    counts = np.zeros((2, 7 * 24))
    for h in range(7 * 24):
        counts[0, h] = 20 if h % 24 >= 20 or h % 24 < 6 else 0
        counts[1, h] = 30
    kinds = T.cohort_day_kinds(counts, MONDAY, HOUR)
    assert np.flatnonzero(kinds[0]).tolist() == list(range(4 * 24 + 13, 6 * 24 + 13))
    assert kinds[1].tolist() == T.day_kinds(MONDAY, HOUR, 7 * 24).tolist()
    # a 3-hour stop on one day is no night: its quietest half-day holds 9/10 of a flat half's share
    counts[1, 2 * 24 + 10:2 * 24 + 13] = 0
    assert T.cohort_day_kinds(counts[1:], MONDAY, HOUR)[0].tolist() == T.day_kinds(MONDAY, HOUR, 7 * 24).tolist()


def test_a_tenant_whose_local_weekend_starts_on_the_utc_friday_is_not_a_drop():
    # Thursday-Friday UTC. kiwi (UTC+12) sends 20 traces an hour 08:00-18:00 on its weekdays and 2 an hour on its
    # weekend; globex 30 an hour around the clock. From Fri 20:00 UTC (Sat 08:00 in Wellington) kiwi sends 2 an
    # hour where it sent 20 on Thursday's same UTC hours (its Friday morning). Against the UTC day that read as a
    # drop to a tenth (8 traces where 80 were expected); on kiwi's own days Fri 20:00 UTC is its Saturday, and the
    # range holds no other Saturday or Sunday of kiwi's: no comparable day, no test
    rows = []
    for h in range(2 * 24):
        local = h + 12
        weekday = (3 + local // 24) % 7  # Thursday = 3
        busy = 8 <= local % 24 < 18
        kiwi = (2 if weekday >= 5 else 20) if busy else 0
        for tenant, count in (("kiwi", kiwi), ("globex", 30)):
            rows += [(THURSDAY + h * HOUR + (k * HOUR) // count + 1, tenant) for k in range(count)]
    frame = pd.DataFrame(rows, columns=["t", "tenant"])
    ts = T.TrafficScan.run(frame, ["tenant"], THURSDAY, HOUR, 2 * 24, T.Limits())
    assert [d for d in ts.drops if d.p <= 0.05] == []


def test_a_share_that_falls_because_the_rests_monday_begins_is_not_a_drop():
    # Fri-Mon UTC. sao (UTC-3) sends 10 traces an hour 10:00-24:00 local every day, 4 an hour on Sunday 13:00-02:00
    # local (Sun 16:00 - Mon 05:00 UTC); tokyo (UTC+9) sends 100 an hour 08:00-18:00 local on its weekdays, 2 an
    # hour otherwise. On sao's own days Sun 16:00 - Mon 00:00 UTC is its Sunday, Sat 16:00 - Sun 00:00 its Saturday:
    # comparable for sao, and its share fell from 80 traces against 16 others to 32 against 114 (570 expected),
    # because tokyo's Monday morning began. For tokyo (the rest) the window is its Monday, the reference its
    # Sunday: not the same kind of day, so no test. (sao's own count fell to 0.4 of its Saturday's, less than the
    # fall to 1/6 MIN_D asks.) On sao's days alone (and on UTC days) that read as a drop, p 6e-45
    rows = []
    for h in range(4 * 24):
        sao_local, tok_local = h - 3, h + 9
        busy = 10 <= sao_local % 24 < 24
        sao = (4 if 2 * 24 + 16 <= h < 3 * 24 + 5 else 10) if busy else 0
        tok = 100 if (4 + tok_local // 24) % 7 < 5 and 8 <= tok_local % 24 < 18 else 2
        for tenant, count in (("sao", sao), ("tokyo", tok)):
            rows += [(MONDAY + 4 * DAY + h * HOUR + (k * HOUR) // count + 1, tenant) for k in range(count)]
    frame = pd.DataFrame(rows, columns=["t", "tenant"])
    ts = T.TrafficScan.run(frame, ["tenant"], MONDAY + 4 * DAY, HOUR, 4 * 24, T.Limits())
    assert [d for d in ts.drops if d.p <= 0.05] == []
