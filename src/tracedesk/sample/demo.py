"""The demo database: the packaged sample week ingested into a fresh SQLite file.

The sample files ship inside the package (tracedesk/sample/data), found through importlib.resources,
so `tracedesk demo` and the app's first launch work after a plain, non-editable `pip install`.
"""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

SAMPLE_NOTE = (
    "You are looking at **sample data**: a generated week of multi-agent support traffic "
    "(planner → research → synthesis → critic) with labelled incidents to find. "
    "To load your own traces: `tracedesk ingest FILES --db my.db`, then start the app on them with "
    "`tracedesk app --db my.db` (or set `TRACEDESK_DB=my.db` for the app and every command)."
)


def sample_note() -> str:
    """The banner text shown when the app runs on the bundled sample."""
    return SAMPLE_NOTE


def sample_dir() -> Path:
    """The folder holding the packaged sample files (a real directory for wheel and editable installs)."""
    return Path(str(resources.files("tracedesk.sample").joinpath("data")))


def sample_files() -> list[Path]:
    """The packaged OTLP/JSON trace files, one per day, in time order."""
    files = sorted(sample_dir().glob("traces-*.json.gz"))
    if not files:
        raise FileNotFoundError(
            f"No sample trace files in {sample_dir()}: the package was installed without its data. "
            "Reinstall tracedesk, or run `tracedesk sample generate OUT` and ingest OUT."
        )
    return files


def app_path() -> Path:
    """The Streamlit entry to run: the app ships inside the package (tracedesk/app/), so an installed
    wheel and a checkout run the same file."""
    entry = Path(str(resources.files("tracedesk").joinpath("app").joinpath("entry").joinpath("streamlit_app.py")))
    if not entry.is_file():
        raise FileNotFoundError(
            f"The tracedesk app files were not found ({entry} is missing): reinstall tracedesk."
        )
    return entry


def sample_ground_truth() -> dict[str, Any]:
    return json.loads((sample_dir() / "ground_truth.json").read_text())


def sample_incidents() -> dict[str, Any]:
    return json.loads((sample_dir() / "incidents.json").read_text())


def build_demo_db(path: str | os.PathLike[str]) -> None:
    """Create a database at `path` holding the bundled sample week (replaces nothing: path must not exist).

    The file is built under a unique temporary name beside the target and published at the end with an
    atomic link, so a half-built demo is never seen, and two app sessions starting at once cannot clobber
    each other (the second one simply finds the first one's file).
    """
    import tempfile

    from ..ingest import ingest_paths
    from ..store import finish_bulk, open_bulk, set_setting

    target = Path(path).expanduser()
    if target.exists():
        raise FileExistsError(f"{target} already exists; build_demo_db only creates new databases.")
    parent = target.resolve().parent
    if not parent.is_dir():
        raise FileNotFoundError(f"Cannot create {str(target)!r}: folder {str(parent)!r} does not exist.")
    files = [str(p) for p in sample_files()]
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".building", dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        db = open_bulk(tmp)  # a private file until it is published: no journal, no fsyncs while loading
        try:
            ingest_paths(db, files)
            set_setting(db, "sample", {"sample": True, "note": SAMPLE_NOTE})
        finally:
            finish_bulk(db)
        _publish(tmp, target)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            if leftover.exists():
                leftover.unlink()


def _publish(tmp: Path, target: Path) -> None:
    """Make `tmp` visible as `target` unless someone else published one first."""
    try:
        os.link(tmp, target)  # atomic, and fails instead of overwriting
    except FileExistsError:
        pass
    except OSError:  # file systems without hard links
        if not target.exists():
            os.replace(tmp, target)


def ensure_demo_db(path: str | os.PathLike[str]) -> bool:
    """Build the demo database at `path` if no file is there. True if it was created now."""
    if Path(path).exists():
        return False
    build_demo_db(path)
    return True


def is_sample_db(db: Any) -> bool:
    """Whether a database was built from the bundled sample (the app shows `sample_note()` then)."""
    from ..store import get_setting

    return bool((get_setting(db, "sample") or {}).get("sample"))
