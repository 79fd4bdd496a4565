"""Evaluations back out as OTLP/JSON: one `gen_ai.evaluation.result` event per score.

OTel GenAI (semconv v1.38+) defines the evaluation result as an *event* parented to the evaluated
span; SDKs emit events as log records with `eventName` and the span's trace/span ids set (as
pydantic-evals does), so the export is an OTLP/JSON logs document (`resourceLogs`), which any OTLP
collector or tool that reads `/v1/logs` can import. Attributes follow the convention:
`gen_ai.evaluation.name`, `.score.value`, `.score.label`, `.explanation`, plus the pydantic-evals
extensions `.evaluator.version` / `.evaluator.source`; rows without a score carry `error.type` and
severity WARN. tracedesk extras live under `tracedesk.evaluation.*`.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlite_utils

from ..ingest.otlp_json import attributes
from ..store import evals as store_evals

EVENT_NAME = "gen_ai.evaluation.result"
_COLUMNS = store_evals.EXPORT_COLUMNS


def _attrs(pairs: Iterable[tuple[str, Any]]) -> list[dict[str, Any]]:
    return attributes(dict(pairs))


def rows(db: sqlite_utils.Database, names: Iterable[str] | None = None,
         sources: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Stored evaluations of these evaluators / sources, oldest first (read by `store.evals`)."""
    return store_evals.evaluation_records(db, names, sources)


def log_record(row: dict[str, Any]) -> dict[str, Any]:
    score = row["score"]
    error = row["error"]
    record: dict[str, Any] = {
        "timeUnixNano": str(row["created_ns"] or 0),
        "observedTimeUnixNano": str(row["created_ns"] or 0),
        "eventName": EVENT_NAME,
        "severityNumber": 13 if error else 9,
        "severityText": "WARN" if error else "INFO",
        "traceId": row["trace_id"],
        "body": {},
        "attributes": _attrs([
            ("gen_ai.evaluation.name", row["name"]),
            ("gen_ai.evaluation.score.value", None if score is None else float(score)),
            ("gen_ai.evaluation.score.label", row["label"]),
            ("gen_ai.evaluation.explanation", row["reason"]),
            ("gen_ai.evaluation.evaluator.version", row["evaluator_version"]),
            ("gen_ai.evaluation.evaluator.source", row["source"]),
            ("error.type", "evaluation_error" if error else None),
            ("tracedesk.evaluation.error", error),
            ("tracedesk.evaluation.passed", None if row["passed"] is None else bool(row["passed"])),
            ("tracedesk.evaluation.judge_model", row["judge_model"]),
            ("tracedesk.evaluation.judge_cost_usd", row["judge_cost_usd"]),
            ("tracedesk.evaluation.judge_latency_ms", row["judge_latency_ms"]),
        ]),
    }
    if row["span_id"]:
        record["spanId"] = row["span_id"]
    return record


def to_otlp_json(db: sqlite_utils.Database, names: Iterable[str] | None = None,
                 sources: Iterable[str] | None = None) -> dict[str, Any]:
    """An OTLP/JSON ExportLogsServiceRequest holding every selected evaluation."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("tracedesk")
    except PackageNotFoundError:
        ver = "unknown"
    return {"resourceLogs": [{
        "resource": {"attributes": _attrs([("service.name", "tracedesk")])},
        "scopeLogs": [{"scope": {"name": "tracedesk.evals", "version": ver},
                       "logRecords": [log_record(r) for r in rows(db, names, sources)]}],
    }]}


def write(db: sqlite_utils.Database, path: str, names: Iterable[str] | None = None,
          sources: Iterable[str] | None = None) -> int:
    """Write the export to `path`; returns the number of evaluation events written."""
    doc = to_otlp_json(db, names, sources)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, ensure_ascii=False)
    return len(doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"])
