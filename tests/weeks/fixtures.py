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

from .built import ingested, once
from .second_week import WeekFiles, write_week


@dataclass(frozen=True)
class IngestedWeek:
    db: str
    week: WeekFiles
    report: dict[str, Any]


@pytest.fixture(scope="session")
def second_week(tmp_path_factory: pytest.TempPathFactory) -> WeekFiles:
    return once(tmp_path_factory, "second_week", lambda: write_week(tmp_path_factory.mktemp("second_week")))


@pytest.fixture(scope="session")
def second_week_db(second_week: WeekFiles, tmp_path_factory: pytest.TempPathFactory) -> IngestedWeek:
    def make() -> IngestedWeek:
        db, report = ingested(tmp_path_factory, "second_week", second_week.files)
        return IngestedWeek(db=db, week=second_week, report=report)
    return once(tmp_path_factory, "second_week_db", make)
