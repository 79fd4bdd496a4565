"""The investigation notebook runs top to bottom on the sample week and finds the incident's cohort."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "investigate_joint_incident.ipynb"


def _text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_notebook_runs_top_to_bottom(sample_db_path, tmp_path, monkeypatch):
    db = tmp_path / "nb.db"
    shutil.copy(sample_db_path, db)  # the notebook only reads, but never share the session's sample file
    monkeypatch.setenv("TRACEDESK_DB", str(db))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    text = _text(nb)
    incident = next(i for i in json.loads((REPO / "sample_data" / "incidents.json").read_text())["incidents"]
                    if i["type"] == "joint_regression")
    (dim, value), = incident["cohort"].items()
    assert f"suspect: {dim} = {value}" in text
    assert "traces in the cohort score below 0.5" in text
    # every code cell ran, in order, without an error output
    runs = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert runs == list(range(1, len(runs) + 1))
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
