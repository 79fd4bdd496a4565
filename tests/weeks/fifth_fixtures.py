"""Session fixtures for the fifth week (tests/weeks/fifth_week.py): import them into a test module

    from weeks.fifth_fixtures import fifth_week, fifth_week_db  # noqa: F401  (pytest fixtures)

`fifth_week` writes the files once per session (~3 s CPU); `fifth_week_db` ingests them once through
`tracedesk.ingest.ingest_paths` (weeks/built.py's `ingested`), into a database tests must only read. The data
files only: incidents.json is the answer key, not traffic.

Built once per session whichever modules import them (weeks/built.py says why).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from .built import ingested, once
from .fifth_week import Week, write_week


@dataclass(frozen=True)
class IngestedFifthWeek:
    db: str
    week: Week
    report: dict[str, Any]


@pytest.fixture(scope="session")
def fifth_week(tmp_path_factory: pytest.TempPathFactory) -> Week:
    return once(tmp_path_factory, "fifth_week", lambda: write_week(tmp_path_factory.mktemp("fifth_week")))


@pytest.fixture(scope="session")
def fifth_week_db(fifth_week: Week, tmp_path_factory: pytest.TempPathFactory) -> IngestedFifthWeek:
    def make() -> IngestedFifthWeek:
        db, report = ingested(tmp_path_factory, "fifth_week", fifth_week.files)
        return IngestedFifthWeek(db=db, week=fifth_week, report=report)
    return once(tmp_path_factory, "fifth_week_db", make)
