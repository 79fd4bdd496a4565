"""Session fixtures for the sixth week (tests/weeks/sixth_week.py): import them into a test module

    from weeks.sixth_fixtures import sixth_week, sixth_week_db  # noqa: F401  (pytest fixtures)

`sixth_week` writes the files once per session (~3 s CPU); `sixth_week_db` ingests them once through
`tracedesk.ingest.ingest_paths` (weeks/built.py's `ingested`), into a database tests must only read. The data
files only: incidents.json is the answer key, not traffic.

Built once per session whichever modules import them (weeks/built.py says why).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from .built import ingested, once
from .sixth_week import Week, write_week


@dataclass(frozen=True)
class IngestedSixthWeek:
    db: str
    week: Week
    report: dict[str, Any]


@pytest.fixture(scope="session")
def sixth_week(tmp_path_factory: pytest.TempPathFactory) -> Week:
    return once(tmp_path_factory, "sixth_week", lambda: write_week(tmp_path_factory.mktemp("sixth_week")))


@pytest.fixture(scope="session")
def sixth_week_db(sixth_week: Week, tmp_path_factory: pytest.TempPathFactory) -> IngestedSixthWeek:
    def make() -> IngestedSixthWeek:
        db, report = ingested(tmp_path_factory, "sixth_week", sixth_week.files)
        return IngestedSixthWeek(db=db, week=sixth_week, report=report)
    return once(tmp_path_factory, "sixth_week_db", make)
