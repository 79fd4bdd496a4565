"""Session fixtures for the second week: import them into a test module (not conftest.py, so feature
branches editing conftest.py do not collide):

    from weeks.fixtures import second_week, second_week_db  # noqa: F401  (pytest fixtures)

`second_week` writes the files once per session (~2 s); `second_week_db` ingests them once through
tracedesk's real ingest path (~3-4 s) into a database tests must only read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from .second_week import WeekFiles, write_week


@dataclass(frozen=True)
class IngestedWeek:
    db: str
    week: WeekFiles
    report: dict[str, Any]


#: A fixture imported into several test modules is a separate fixture in each (pytest caches a session
#: fixture per definition site), so without this cache the week was written and ingested once per importing
#: module (4 modules). This module is imported once per process, so the cache is per session.
_BUILT: dict[str, Any] = {}


@pytest.fixture(scope="session")
def second_week(tmp_path_factory: pytest.TempPathFactory) -> WeekFiles:
    key = f"week:{tmp_path_factory.getbasetemp()}"
    if key not in _BUILT:
        _BUILT[key] = write_week(tmp_path_factory.mktemp("second_week"))
    week: WeekFiles = _BUILT[key]
    return week


@pytest.fixture(scope="session")
def second_week_db(second_week: WeekFiles, tmp_path_factory: pytest.TempPathFactory) -> IngestedWeek:
    key = f"db:{tmp_path_factory.getbasetemp()}"
    if key not in _BUILT:
        from tracedesk.ingest import ingest_paths

        path = tmp_path_factory.mktemp("second_week_db") / "second_week.db"
        # The data files only: incidents.json is the answer key, not traffic.
        report = ingest_paths(str(path), [str(f) for f in second_week.files])
        _BUILT[key] = IngestedWeek(db=str(path), week=second_week, report=report.as_dict())
    ingested: IngestedWeek = _BUILT[key]
    return ingested
