"""Print the changes feed of every labelled week, and the rank of each incident and blip in it: the figures the
feed's acceptance tests check (tests/test_changes_feed.py, tests/test_changes_*_week.py), on one page.

    PYTHONPATH=src python tests/weeks/feed_ranks.py CACHE_DIR [--weeks sample,2,3,4,5,6] [--top 16]

Each week is written (its `write_week`) and ingested (`tracedesk.ingest.ingest_paths`) into CACHE_DIR once; a
later run reuses the databases (delete the folder to build again). A rank is 1-based, "-" when no finding matches:
an incident's is its first finding naming its cohort (or an equivalent one, or an alias) over an overlapping window;
a blip's "noise" ranks (weeks 3-6) are the findings overlapping its window on one of its signals that are not an
incident's hit, whatever cohort they name, as tests/test_changes_{third,fourth,fifth,sixth}_week.py count them. A
page-worthy incident's `start` is its hit's start minus the reference its week's start test checks against, in
minutes (the sample week's observable start, the second week's reference start, else `detectable_from`): within
+-15 passes.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # so `weeks` imports when run as a script

SAMPLE_LABELS = Path(__file__).resolve().parents[2] / "src/tracedesk/sample/data/incidents.json"


def _db(cache: Path, week: str) -> tuple[str, dict[str, Any]]:
    """(database path, labels) of one week, built into `cache` unless it is there."""
    from tracedesk.ingest import ingest_paths

    folder = cache / f"week_{week}"
    db = folder / "week.db"
    labels_file = folder / "labels.json"
    if not db.exists():
        folder.mkdir(parents=True, exist_ok=True)
        if week == "sample":
            from tracedesk.sample import build_demo_db

            build_demo_db(str(db))
            labels = json.loads(SAMPLE_LABELS.read_text())
        else:
            module = {"2": "second_week", "3": "third_week", "4": "fourth_week", "5": "fifth_week",
                      "6": "sixth_week"}[week]
            write_week = __import__(f"weeks.{module}", fromlist=["write_week"]).write_week
            built = write_week(folder / "files")
            ingest_paths(str(db), [str(f) for f in built.files])
            labels = built.labels()
        labels_file.write_text(json.dumps(labels))
    return str(db), json.loads(labels_file.read_text())


def _cohorts(week: str, incident: dict[str, Any]) -> list[dict[str, str]]:
    if week == "sample":
        return [incident["cohort"]]
    if week == "2":  # the tool dimension is tool_name; a new response model is the incident too
        out = [{("tool_name" if k == "tool" else k): v for k, v in incident["cohort"].items()}]
        if "response_model_during" in incident:
            out += [{"model": incident["response_model_during"]}, {"response_model": incident["response_model_during"]}]
        return out
    return [incident["cohort"], *incident.get("equivalent_cohorts", [])]


def _overlaps(f: Any, incident: dict[str, Any]) -> bool:
    from tracedesk.store.query import to_ns

    end = f.end_ns if f.end_ns is not None else float("inf")
    return bool(f.start_ns < to_ns(incident["end"]) and to_ns(incident["start"]) < end)


def _hit(week: str, feed: list[Any], incident: dict[str, Any]) -> int | None:
    wanted = _cohorts(week, incident)
    for rank, f in enumerate(feed):
        if week == "sample":
            if f.cohort == incident["cohort"] and _overlaps(f, incident):
                return rank
        elif any(f.cohort == c or c in f.aliases for c in wanted) and _overlaps(f, incident):
            return rank
    return None


def _signal_names(week: str, incident: dict[str, Any]) -> set[str]:
    if week == "3":
        from test_changes_third_week import _feed_name as third_name  # type: ignore[import-not-found]

        return {n for n in (third_name(s) for s in incident["signals"]) if n}
    from weeks.feed_match import feed_name

    return {n for n in (feed_name(s) for s in incident["signals"]) if n}


def _reference_ns(week: str, db: Any, incident: dict[str, Any]) -> int:
    """The time a page-worthy incident's start is checked against, by the week's own start test."""
    from tracedesk.store.query import to_ns

    if week == "sample":
        from test_changes_feed import _observable_start  # type: ignore[import-not-found]

        return int(_observable_start(db, incident))
    if week == "2":
        from test_changes_feed import _w2_reference_start

        return int(_w2_reference_start(db, incident))
    return int(to_ns(incident["detectable_from"]))


def report(week: str, cache: Path, top: int) -> None:
    from tracedesk.analysis.changes import find_changes
    from tracedesk.store import connect

    db, labels = _db(cache, week)
    t = time.process_time()
    conn = connect(db)
    feed = find_changes(conn)
    cpu = time.process_time() - t
    incidents = labels["incidents"]

    def page(i: dict[str, Any]) -> bool:
        return bool(i.get("should_page", i.get("page_worthy")))

    real = [i for i in incidents if page(i)]
    cut = max(5, len(real)) if week != "sample" else 5
    print(f"== week {week}: {len(feed)} findings ({cpu:.1f} s CPU), top {cut} checked")
    for rank, f in enumerate(feed[:top], 1):
        print(f"  #{rank:<2} {f.impact:9.5f} share {f.share:8.5f} d {f.d:5.2f}  {f.title()}")
    hits = {}
    for i in incidents:
        r = _hit(week, feed, i)
        hits[i["id"]] = r
    real_hits = {id(feed[r]) for i in real if (r := hits[i["id"]]) is not None}
    for i in incidents:
        r = hits[i["id"]]
        line = f"  {i['id']:7} {'page' if page(i) else 'blip'} rank {('-' if r is None else r + 1)!s:>3}"
        if page(i):
            if r is not None:
                line += f"  start {(feed[r].start_ns - _reference_ns(week, conn, i)) / 6e10:+8.1f} min ({feed[r].shape})"
            line += "" if r is not None and r < cut else "  (not in the top)"
        elif week in ("3", "4", "5", "6"):
            names = _signal_names(week, i)
            noisy = [n + 1 for n, f in enumerate(feed)
                     if id(f) not in real_hits and _overlaps(f, i) and names & set(f.signals)]
            line += f"  noise {noisy or '-'}"
        print(line)
    worst = max((r for i in real if (r := hits[i["id"]]) is not None), default=None)
    print(f"  worst real incident rank: {'-' if worst is None else worst + 1}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("cache", type=Path)
    ap.add_argument("--weeks", default="sample,2,3,4,5,6")
    ap.add_argument("--top", type=int, default=16)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    for week in args.weeks.split(","):
        report(week.strip(), args.cache, args.top)


if __name__ == "__main__":
    main()
