"""The generated reference pages in docs/ match what the code renders now."""
from __future__ import annotations

from pathlib import Path

import pytest

from tracedesk import docgen

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("name", sorted(docgen.PAGES))
def test_checked_in_page_is_current(name):
    path = DOCS / name
    assert path.is_file(), f"docs/{name} is missing: run `python -m tracedesk.docgen`"
    assert path.read_text() == docgen.PAGES[name](), f"docs/{name} is stale: run `python -m tracedesk.docgen`"


def test_cli_reference_names_every_command():
    text = docgen.cli_reference()
    for command in ("tracedesk ingest", "tracedesk stats", "tracedesk serve", "tracedesk alerts check",
                    "tracedesk eval run", "tracedesk drift", "tracedesk demo"):
        assert f"`{command}`" in text


def test_evaluator_list_has_every_builtin():
    from tracedesk.evals.registry import builtin

    text = docgen.evaluator_list()
    assert all(f"| `{ev.name}` |" in text for ev in builtin())
