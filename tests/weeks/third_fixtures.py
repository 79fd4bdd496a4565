"""Session fixtures for the third week (tests/weeks/third_week.py): import them into a test module

    from weeks.third_fixtures import third_week, third_week_db  # noqa: F401  (pytest fixtures)

`third_week` writes the files once per session (~2-3 s); `third_week_db` ingests them once through
tracedesk's real ingest path (`tracedesk.ingest.ingest_paths`, what `tracedesk ingest` runs) into a database
tests must only read. The data files only: incidents.json is the answer key, not traffic.

A fixture imported into several test modules is a separate fixture in each (pytest caches a session fixture
per definition site), so without the cache below the week was written and ingested once per importing module
(3 times, ~25 s each on the loaded 2-core machine). This module is imported once, so its cache is per session.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from .third_week import Week, write_week


@dataclass(frozen=True)
class IngestedThirdWeek:
    db: str
    week: Week
    report: dict[str, Any]


_BUILT: dict[str, Any] = {}  # key -> Week / IngestedThirdWeek, for this pytest process


@pytest.fixture(scope="session")
def third_week(tmp_path_factory: pytest.TempPathFactory) -> Week:
    key = f"week:{tmp_path_factory.getbasetemp()}"
    if key not in _BUILT:
        _BUILT[key] = write_week(tmp_path_factory.mktemp("third_week"))
    week: Week = _BUILT[key]
    return week


@pytest.fixture(scope="session")
def third_week_db(third_week: Week, tmp_path_factory: pytest.TempPathFactory) -> IngestedThirdWeek:
    key = f"db:{tmp_path_factory.getbasetemp()}"
    if key not in _BUILT:
        from tracedesk.ingest import ingest_paths

        path = tmp_path_factory.mktemp("third_week_db") / "third_week.db"
        report = ingest_paths(str(path), [str(f) for f in third_week.files])
        _BUILT[key] = IngestedThirdWeek(db=str(path), week=third_week, report=report.as_dict())
    ingested: IngestedThirdWeek = _BUILT[key]
    return ingested
