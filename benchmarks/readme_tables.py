"""The one way a benchmark rewrites its table in the README: the text between its two markers.

Each benchmark owns a pair of HTML-comment markers (`<!-- NAME-table:start (benchmarks/NAME.py) -->` and
`<!-- NAME-table:end -->`); what lies between them is this run's output and nothing else, so the README's
figures are always the last run's. Benchmarks run as scripts (`python benchmarks/x.py`), which puts this
folder on sys.path: `from readme_tables import replace_between`.
"""
from __future__ import annotations

from pathlib import Path


def replace_between(path: str | Path, start: str, end: str, body: str) -> bool:
    """Put `body` between the markers `start` and `end` of the file at `path` (a missing trailing newline
    is added); False, and nothing written, when the file or either marker is missing."""
    readme = Path(path)
    text = readme.read_text() if readme.exists() else ""
    a = text.find(start)
    b = text.find(end, a + len(start)) if a >= 0 else -1
    if a < 0 or b < 0:
        return False
    body = body if body.endswith("\n") else body + "\n"
    readme.write_text(text[:a + len(start)] + "\n" + body + text[b:])
    return True
