"""Session fixtures for the third week (tests/weeks/third_week.py): import them into a test module

    from weeks.third_fixtures import third_week, third_week_db  # noqa: F401  (pytest fixtures)

`third_week` writes the files once per session (~2-3 s); `third_week_db` ingests them once through
tracedesk's real ingest path (`tracedesk.ingest.ingest_paths`, what `tracedesk ingest` runs) into a database
tests must only read. The data files only: incidents.json is the answer key, not traffic.

Built once per session whichever modules import them (weeks/built.py says why).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from .built import ingested, once
from .third_week import Week, write_week


@dataclass(frozen=True)
class IngestedThirdWeek:
    db: str
    week: Week
    report: dict[str, Any]


@pytest.fixture(scope="session")
def third_week(tmp_path_factory: pytest.TempPathFactory) -> Week:
    return once(tmp_path_factory, "third_week", lambda: write_week(tmp_path_factory.mktemp("third_week")))


@pytest.fixture(scope="session")
def third_week_db(third_week: Week, tmp_path_factory: pytest.TempPathFactory) -> IngestedThirdWeek:
    def make() -> IngestedThirdWeek:
        db, report = ingested(tmp_path_factory, "third_week", third_week.files)
        return IngestedThirdWeek(db=db, week=third_week, report=report)
    return once(tmp_path_factory, "third_week_db", make)
