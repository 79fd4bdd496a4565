"""The bundled sample week: a deterministic generator, its labelled incidents, and the demo database.

Light to import: the generator and the ingest path load only when called.
"""
from __future__ import annotations

from .demo import (
    SAMPLE_NOTE,
    app_path,
    build_demo_db,
    ensure_demo_db,
    sample_dir,
    sample_files,
    sample_ground_truth,
    sample_incidents,
    sample_note,
)

__all__ = [
    "SAMPLE_NOTE", "app_path", "build_demo_db", "ensure_demo_db", "generate", "sample_dir", "sample_files",
    "sample_ground_truth", "sample_incidents", "sample_note",
]


def generate(out_dir, **kwargs):  # type: ignore[no-untyped-def]
    """Write a sample week into out_dir (see tracedesk.sample.generator.generate)."""
    from .generator import generate as _generate

    return _generate(out_dir, **kwargs)
