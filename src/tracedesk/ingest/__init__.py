"""Ingest: trace files and OTLP payloads -> normalized spans and evaluations -> the store.

Public API:
- `parse_bytes(data, source, content_type=None) -> ParseResult` (no database; the live receiver uses it)
- `ingest_paths(db, paths, *, redact=False, redact_keep=(), progress=None) -> IngestReport`
- `ingest_bytes(db, data, source, content_type=None, redact=False) -> IngestReport`
"""
from __future__ import annotations

from .normalize import Normalizer
from .parse import parse_bytes
from .pipeline import BatchWriter, expand_paths, ingest_bytes, ingest_paths
from .result import IngestReport, LogMessage, ParseResult

__all__ = [
    "BatchWriter", "parse_bytes", "ingest_paths", "ingest_bytes", "expand_paths", "ParseResult", "IngestReport",
    "LogMessage", "Normalizer",
]
