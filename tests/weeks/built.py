"""Each labelled week written and ingested once per pytest process, whichever modules import its fixtures.

A fixture imported into several test modules is a separate fixture in each (pytest caches a session fixture
per definition site), so without this cache a week was written and ingested once per importing module
(~25 s each on the loaded 2-core machine). This module is imported once per process; keys include the
session's base temp folder, so a new session builds again."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from os import PathLike
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
_BUILT: dict[str, Any] = {}


def once(tmp_path_factory: pytest.TempPathFactory, key: str, make: Callable[[], T]) -> T:
    """`make()` the first time this session asks for `key`, the same object after."""
    full = f"{key}:{tmp_path_factory.getbasetemp()}"
    if full not in _BUILT:
        _BUILT[full] = make()
    value: T = _BUILT[full]
    return value


def ingested(tmp_path_factory: pytest.TempPathFactory, name: str,
             files: Sequence["str | PathLike[str]"]) -> tuple[str, dict[str, Any]]:
    """(database path, ingest report) of `files` loaded through tracedesk's real ingest path into a new file.
    The data files only: a week's incidents.json is the answer key, not traffic."""
    from tracedesk.ingest import ingest_paths

    path = tmp_path_factory.mktemp(f"{name}_db") / f"{name}.db"
    report = ingest_paths(str(path), [str(f) for f in files])
    return str(path), report.as_dict()


def read_only(path: "str | PathLike[str]") -> Any:
    """A read-only sqlite3 connection to an ingested week, with td_json()/td_str() installed (attributes are
    stored deflated: tracedesk.store.blobs), for the weeks' plain-SQL checks."""
    import sqlite3

    from tracedesk.store.blobs import codec

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    codec(conn)
    return conn


def incident_window(labels: dict[str, Any], inc_id: str) -> tuple[int, int, dict[str, Any]]:
    """(start ns, end ns, the label) of one labelled incident."""
    from tracedesk.timeutil import parse_time

    inc = next(i for i in labels["incidents"] if i["id"] == inc_id)
    return parse_time(inc["start"]), parse_time(inc["end"]), inc


def digests(files: "Sequence[str | PathLike[str]]") -> dict[str, str]:
    """SHA-256 of each file, by file name: the weeks' byte-identical-output checks."""
    import hashlib
    from pathlib import Path

    return {Path(f).name: hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files}


def assert_deterministic(write_week: Callable[..., Any], tmp_path: "PathLike[str]") -> None:
    """A week generator gives byte-identical files and labels for one seed, and other files for another."""
    from pathlib import Path

    root = Path(tmp_path)
    a = write_week(root / "a", seed=7, scale=0.05)
    b = write_week(root / "b", seed=7, scale=0.05)
    c = write_week(root / "c", seed=8, scale=0.05)
    assert digests(a.files) == digests(b.files)
    assert a.incidents.read_bytes() == b.incidents.read_bytes()
    assert digests(a.files) != digests(c.files)
