"""Session fixtures for the fourth week (tests/weeks/fourth_week.py): import them into a test module

    from weeks.fourth_fixtures import fourth_week, fourth_week_db  # noqa: F401  (pytest fixtures)

`fourth_week` writes the files once per session (~4 s CPU); `fourth_week_db` ingests them once the way a user
does, through the `tracedesk ingest FILE... --db DB --json` command (the console script's entry point,
`tracedesk.cli.main`, run in-process), into a database tests must only read. The data files only:
incidents.json is the answer key, not traffic.

Built once per session whichever modules import them (weeks/built.py says why).
"""
from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from typing import Any

import pytest

from .built import once
from .fourth_week import Week, write_week


@dataclass(frozen=True)
class IngestedFourthWeek:
    db: str
    week: Week
    report: dict[str, Any]


@pytest.fixture(scope="session")
def fourth_week(tmp_path_factory: pytest.TempPathFactory) -> Week:
    return once(tmp_path_factory, "fourth_week", lambda: write_week(tmp_path_factory.mktemp("fourth_week")))


@pytest.fixture(scope="session")
def fourth_week_db(fourth_week: Week, tmp_path_factory: pytest.TempPathFactory) -> IngestedFourthWeek:
    def make() -> IngestedFourthWeek:
        from tracedesk.cli import main

        db = str(tmp_path_factory.mktemp("fourth_week_db") / "fourth_week.db")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["ingest", *[str(f) for f in fourth_week.files], "--db", db, "--json", "--quiet"])
        assert code == 0, f"tracedesk ingest exited {code}: {out.getvalue()[-2000:]}"
        return IngestedFourthWeek(db=db, week=fourth_week, report=json.loads(out.getvalue()))
    return once(tmp_path_factory, "fourth_week_db", make)
