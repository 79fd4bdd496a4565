"""Traffic that moved by an hour is no traffic drop (issue 15): a nightly batch on a local clock runs an hour later
(or earlier) in UTC after a daylight-saving change, with its usual size. Written as traces into a database in
tmp_path and read by the feed (find_changes), beside a batch that did not run one night and one that moved and
ran at half its size, which are drops."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tracedesk.analysis import traffic as T
from tracedesk.analysis.changes import find_changes
from tracedesk.models import Span
from tracedesk.store import connect, write_batch

HOUR = 3_600 * 10**9
DAY = 24 * HOUR
MS = 10**6
MONDAY = 1_781_481_600 * 10**9  # 2026-06-15T00:00:00Z, a Monday
DAYS = 5  # Monday to Friday: one kind of day
BATCH = 200  # the nightly batch's traces
#: the batch's cohort as the feed names it: tenant=ops sends all of route=nightly, so the pair holds the drop
NIGHTLY = {"route": "nightly", "tenant": "ops"}


def _write(path: Path, batch_hour: list[int | None], batch_size: list[int]) -> Any:
    """Monday-Friday: route=chat (tenants acme and globex, 20 traces an hour each from 08:00 to 18:00 UTC) and
    route=nightly (tenant ops), batch_size[day] traces spread over the hour batch_hour[day] (None: no batch)."""
    times: list[tuple[int, str, str]] = []
    for day in range(DAYS):
        for h in range(8, 18):
            for tenant in ("acme", "globex"):
                times += [(MONDAY + day * DAY + h * HOUR + k * HOUR // 20 + MS, "chat", tenant) for k in range(20)]
        hour, size = batch_hour[day], batch_size[day]
        if hour is not None:
            times += [(MONDAY + day * DAY + hour * HOUR + k * HOUR // size + MS, "nightly", "ops") for k in range(size)]
    spans = [Span(span_id=f"{i + 1:016x}", parent_span_id=None, name="request", kind="CHAIN", start_ns=t,
                  end_ns=t + 1000 * MS, duration_ms=1000.0, status="OK", trace_id=f"{i + 1:032x}", route=route,
                  tenant=tenant) for i, (t, route, tenant) in enumerate(sorted(times))]
    db = connect(str(path))
    write_batch(db, spans)
    return db


def _drops(db: Any) -> list[tuple[dict[str, str], int, int | None]]:
    """(cohort, start, end) of the feed's trace_count findings."""
    return [(f.cohort, f.start_ns, f.end_ns) for f in find_changes(db) if "trace_count" in f.signals]


def test_a_batch_an_hour_later_after_the_clock_change_is_no_drop(tmp_path):
    # 06:00 UTC Monday-Wednesday, 07:00 from Thursday (a zone leaving daylight time)
    db = _write(tmp_path / "later.db", [6, 6, 6, 7, 7], [BATCH] * DAYS)
    assert _drops(db) == []


def test_a_batch_an_hour_earlier_after_the_clock_change_is_no_drop(tmp_path):
    # 07:00 UTC Monday-Wednesday, 06:00 from Thursday (a zone entering daylight time)
    db = _write(tmp_path / "earlier.db", [7, 7, 7, 6, 6], [BATCH] * DAYS)
    assert _drops(db) == []


def test_a_half_hour_zone_batch_an_hour_later_is_no_drop_either(tmp_path):
    # a job at 02:00 local in a UTC-3:30 zone: 05:30 UTC, then 06:30; traces over 05:30-06:30 (here: two hours'
    # halves, the batch's 200 traces from 05:30 to 06:30 UTC, then from 06:30 to 07:30)
    times = []
    db_path = tmp_path / "half.db"
    for day in range(DAYS):
        start = MONDAY + day * DAY + (5 if day < 3 else 6) * HOUR + HOUR // 2
        times += [(start + k * HOUR // BATCH + MS, "nightly", "ops") for k in range(BATCH)]
        for h in range(8, 18):
            for tenant in ("acme", "globex"):
                times += [(MONDAY + day * DAY + h * HOUR + k * HOUR // 20 + MS, "chat", tenant) for k in range(20)]
    spans = [Span(span_id=f"{i + 1:016x}", parent_span_id=None, name="request", kind="CHAIN", start_ns=t,
                  end_ns=t + 1000 * MS, duration_ms=1000.0, status="OK", trace_id=f"{i + 1:032x}", route=route,
                  tenant=tenant) for i, (t, route, tenant) in enumerate(sorted(times))]
    db = connect(str(db_path))
    write_batch(db, spans)
    assert _drops(db) == []


def test_a_batch_that_did_not_run_one_night_is_still_a_drop(tmp_path):
    # no batch on Wednesday: a stop from Tuesday's last batch trace to Thursday's first
    db = _write(tmp_path / "gone.db", [6, 6, None, 6, 6], [BATCH] * DAYS)
    last_tuesday = MONDAY + DAY + 6 * HOUR + (BATCH - 1) * HOUR // BATCH + MS
    first_thursday = MONDAY + 3 * DAY + 6 * HOUR + MS
    assert _drops(db) == [(NIGHTLY, last_tuesday, first_thursday)]


def test_a_batch_that_moved_and_halved_is_still_a_drop(tmp_path):
    # an hour later from Thursday, and 100 traces instead of 200: half of them are gone, not moved
    db = _write(tmp_path / "halved.db", [6, 6, 6, 7, 7], [BATCH, BATCH, BATCH, BATCH // 2, BATCH // 2])
    last_wednesday = MONDAY + 2 * DAY + 6 * HOUR + (BATCH - 1) * HOUR // BATCH + MS
    first_thursday = MONDAY + 3 * DAY + 7 * HOUR + MS
    assert _drops(db) == [(NIGHTLY, last_wednesday, first_thursday)]


def test_a_flat_cohort_that_stops_for_an_hour_is_a_drop_whatever_its_neighbouring_hours_hold():
    # 30 traces an hour around the clock; acme sends none on Wednesday 10:00-11:00: read an hour later or earlier,
    # the hour before it still held traffic on the other days, so nothing moved
    frame_rows = []
    for h in range(DAYS * 24):
        for tenant, count in (("acme", 30), ("globex", 30)):
            if tenant == "acme" and h == 2 * 24 + 10:
                continue
            frame_rows += [(MONDAY + h * HOUR + k * HOUR // count + 1, tenant) for k in range(count)]
    import pandas as pd

    frame = pd.DataFrame(frame_rows, columns=["t", "tenant"])
    ts = T.TrafficScan.run(frame, ["tenant"], MONDAY, HOUR, DAYS * 24, T.Limits())
    assert [(d.cohort, d.a, d.e) for d in ts.drops if d.p <= 0.05] == [({"tenant": "acme"}, 58, 59)]
